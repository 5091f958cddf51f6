// Host helpers shared by the CUDA op implementations.
#pragma once
#include "normrt/config.h"
#if NORMRT_WITH_CUDA
#include "normrt/device.h"

namespace normrt::cuda {

// Number of SMs of `device` (queried once per device).
int sm_count(int device);

}  // namespace normrt::cuda
#endif
