// NVTX ranges around module passes and ops, so that Nsight Systems shows "Linear forward", "batch_norm_backward", ...
// on the timeline. NVTX 3 is header-only and costs a branch when no tool is attached; builds without CUDA get a
// no-op.
#pragma once
#include <string>

#include "normrt/config.h"

#if NORMRT_WITH_CUDA
#include <nvtx3/nvToolsExt.h>
#endif

namespace normrt::detail {

class NvtxRange {
 public:
#if NORMRT_WITH_CUDA
  explicit NvtxRange(const char* name) { nvtxRangePushA(name); }
  explicit NvtxRange(const std::string& name) { nvtxRangePushA(name.c_str()); }
  ~NvtxRange() { nvtxRangePop(); }
#else
  explicit NvtxRange(const char*) {}
  explicit NvtxRange(const std::string&) {}
#endif
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};

}  // namespace normrt::detail
