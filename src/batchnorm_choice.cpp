#include "batchnorm_choice.h"

#include <cstdlib>
#include <limits>
#include <mutex>
#include <optional>

#include "normrt/config.h"
#include "normrt/error.h"
#if NORMRT_WITH_CUDA
#include <cudnn.h>
#endif

namespace normrt {

const char* backend_name(Backend backend) {
  switch (backend) {
    case Backend::Auto: return "auto";
    case Backend::Native: return "native";
    case Backend::CuDNN: return "cudnn";
  }
  return "?";
}

Backend parse_backend(const std::string& name) {
  if (name == "auto") return Backend::Auto;
  if (name == "native") return Backend::Native;
  if (name == "cudnn") return Backend::CuDNN;
  NORMRT_THROW("BatchNorm backend must be 'native', 'cudnn' or 'auto', got '", name, "'");
}

namespace {
std::mutex default_mutex;
std::optional<Backend> default_override;
}  // namespace

Backend default_backend() {
  std::lock_guard<std::mutex> lock(default_mutex);
  if (default_override) return *default_override;
  const char* env = std::getenv("NORMRT_BN_BACKEND");
  if (env == nullptr || *env == '\0') return Backend::Auto;
  try {
    return parse_backend(env);
  } catch (const Error&) {
    NORMRT_THROW("NORMRT_BN_BACKEND must be 'native', 'cudnn' or 'auto', got '", env, "'");
  }
}

void set_default_backend(std::optional<Backend> backend) {
  std::lock_guard<std::mutex> lock(default_mutex);
  default_override = backend;
}

}  // namespace normrt

namespace normrt::bn {

namespace {
#if NORMRT_WITH_CUDA
constexpr double kCudnnMinEpsilon = CUDNN_BN_MIN_EPSILON;
#else
constexpr double kCudnnMinEpsilon = 0.0;
#endif
constexpr int64_t kIntMax = std::numeric_limits<int>::max();
#if NORMRT_WITH_CUDA
// PyTorch sends training to cuDNN only up to this batch size (cuDNN's spatial kernels failed beyond it, PR #32763).
constexpr int64_t kCudnnTrainingMaxN = 880801;

// cuDNN's legacy batch norm takes float32 and float16 elements with float32 statistics; bfloat16 goes as float32
// copies, as does anything with an epilogue cuDNN does not apply itself (the separate epilogue pass is float32).
CudnnPlan plan_for(const CudnnRequest& r, Pass pass) {
  CudnnPlan plan;
  const bool training = pass == Pass::ForwardTraining || pass == Pass::BackwardTraining;
  plan.channels_last = r.channels_last;
  plan.persistent = r.channels_last && training;
  const bool elements_as_they_are = r.dtype != DType::BFloat16;
  // The ReLU (after an optional residual) inside cuDNN's call: NHWC persistent kernels, forward and backward alike;
  // the backward only after a forward that fused it (it needs that forward's reserve space).
  const bool can_fuse = r.relu && plan.persistent && elements_as_they_are;
  plan.fused = can_fuse && (pass == Pass::ForwardTraining || r.forward_fused);
  const bool epilogue_pass = (r.relu || (r.residual && pass != Pass::BackwardTraining)) && !plan.fused;
  plan.float32_copies = !elements_as_they_are || epilogue_pass;
  return plan;
}
#endif

BackendChoice native(std::string reason) { return {Backend::Native, std::move(reason), {}}; }
}  // namespace

BackendChoice choose_backend(Backend requested, const Device& device, const Geometry& g, Pass pass, bool affine,
                             bool cumulative_average, double eps, const CudnnRequest& request) {
  if (device.is_cpu()) return native("");
  // Auto: the custom kernels everywhere. cuDNN's NCHW batch norm is reported ~2x slower than its NHWC path on
  // H100 (it converts layouts) and PyTorch measured it 19x slower on (N, C) input; no run of bench_batchnorm has
  // shown cuDNN ahead on any shape yet. When one does, name those shapes here.
  if (requested != Backend::CuDNN) return native("");
#if !NORMRT_WITH_CUDA
  return native("normrt was built without cuDNN");
#else
  if (g.S == 1 && !request.channels_last)
    return native(
        "(N, C) input: cuDNN's spatial mode is far slower on it (PyTorch measured 6.3 ms vs 0.34 ms) and PyTorch "
        "keeps it native");
  if (pass == Pass::BackwardInference) return native("cuDNN has no eval-mode backward");
  if (!affine) return native("affine=False: cuDNN needs scale and bias tensors");
  if (pass == Pass::ForwardTraining && cumulative_average)
    return native(
        "momentum=None: cuDNN takes the averaging factor on the host, but num_batches_tracked lives on the device");
  if (pass == Pass::ForwardInference && g.N > 65535)
    return native("eval with N > 65535: cuDNN returns CUDNN_STATUS_NOT_SUPPORTED");
  if ((pass == Pass::ForwardTraining || pass == Pass::BackwardTraining) && g.N > kCudnnTrainingMaxN)
    return native("training with N > 880801: PyTorch's limit for cuDNN's batch norm");
  if (eps < kCudnnMinEpsilon) return native("eps below CUDNN_BN_MIN_EPSILON");
  if (g.per_channel() == 0 || g.C == 0) return native("empty input");
  if (g.numel() >= kIntMax || g.N > kIntMax || g.C > kIntMax || g.S > kIntMax)
    return native("2^31 or more elements: beyond cuDNN's 32-bit tensor descriptors");
  return {Backend::CuDNN, "", plan_for(request, pass)};
#endif
}

}  // namespace normrt::bn
