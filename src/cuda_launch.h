// Internal host helpers shared by the CUDA implementations.
#pragma once
#include "normrt/config.h"
#if NORMRT_WITH_CUDA
#include "normrt/device.h"

namespace normrt::cuda {

// Number of SMs of `device` (queried once per device).
int sm_count(int device);

// DeviceGuard for destructors and deleters: makes `device` current for its scope, logging rather than throwing
// when CUDA refuses.
class QuietDeviceGuard {
 public:
  explicit QuietDeviceGuard(int device) noexcept;
  ~QuietDeviceGuard();
  QuietDeviceGuard(const QuietDeviceGuard&) = delete;
  QuietDeviceGuard& operator=(const QuietDeviceGuard&) = delete;

 private:
  int previous_ = 0;
  bool switched_ = false;
};

}  // namespace normrt::cuda
#endif
