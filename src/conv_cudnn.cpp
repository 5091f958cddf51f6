// cuDNN convolution backend: forward, backward-data and backward-filter through cuDNN's convolution API (legacy,
// deprecated in cuDNN 9 but shipped, and what PyTorch's cuDNN v7 path calls), on contiguous (NCHW) or channels-last
// (NHWC, NDHWC) activations. Channels-last activations take the filter in NHWC layout too, as PyTorch hands it
// (its weights follow the input's memory format), the layout cuDNN's tensor-core kernels read.
//
// The algorithm for each problem is chosen once and cached under the full problem: geometry, device, direction, math
// mode, determinism and how it was chosen. By default from cuDNN's heuristics (cudnnGet*Algorithm_v7, as PyTorch's
// cudnn.benchmark = False): a function of the problem and the card, so every process makes the same choice and a run
// repeats bit for bit. set_conv_benchmark(true) times every algorithm on the real buffers instead
// (cudnnFind*AlgorithmEx): the fastest, but timing noise can pick another algorithm in another process, and two
// deterministic algorithms need not sum in the same order (seen on an H200: two processes of one configuration
// training to different losses). Workspaces (search and run) come from the stream-ordered pool as tensors, so a
// warm step allocates nothing from the driver. Exact FP32 unless set_conv_allow_tf32(true) (CUDNN_FMA_MATH, as
// PyTorch with allow_tf32 off); only algorithms cuDNN reports deterministic are chosen unless
// set_conv_deterministic(false).
// Asymmetric ("same" with an even kernel) padding is resolved by the caller (src/conv.cpp).
#include <cudnn.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <tuple>
#include <vector>

#include "conv_backend.h"
#include "cudnn_handle.h"
#include "memory_layout.h"
#include "normrt/cuda.h"
#include "normrt/cuda_check.h"
#include "normrt/tensor.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace normrt::ops {

namespace {

std::atomic<int64_t> g_choices{0}, g_searches{0};

enum class Direction { Forward, BackwardData, BackwardFilter };

// RAII wrappers for the three descriptor kinds.
template <typename T, cudnnStatus_t (*Create)(T*), cudnnStatus_t (*Destroy)(T)>
class Descriptor {
 public:
  Descriptor() { NORMRT_CUDNN_CHECK(Create(&desc_)); }
  ~Descriptor() { NORMRT_CUDNN_CHECK_LOG(Destroy(desc_)); }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  T get() const { return desc_; }

 private:
  T desc_{};
};
using TensorDesc = Descriptor<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor, cudnnDestroyTensorDescriptor>;
using FilterDesc = Descriptor<cudnnFilterDescriptor_t, cudnnCreateFilterDescriptor, cudnnDestroyFilterDescriptor>;
using ConvDesc =
    Descriptor<cudnnConvolutionDescriptor_t, cudnnCreateConvolutionDescriptor, cudnnDestroyConvolutionDescriptor>;

// cuDNN convolves 4-d or 5-d tensors: a 1-d convolution runs as 2-d with height 1 (the geometry's leading
// dimensions are already 1).
int cudnn_rank(const detail::ConvGeometry& g) { return g.spatial == 3 ? 5 : 4; }

cudnnDataType_t data_type(DType dtype) {
  switch (dtype) {
    case DType::Float16: return CUDNN_DATA_HALF;
    case DType::BFloat16: return CUDNN_DATA_BFLOAT16;
    case DType::Float32: return CUDNN_DATA_FLOAT;
    default: break;
  }
  NORMRT_THROW("cuDNN convolution: unsupported dtype ", dtype_name(dtype));
}

// Sizes (N, C, spatial...) with the strides of dense memory in that order or, channels-last, in (N, spatial..., C).
void set_tensor(const TensorDesc& desc, cudnnDataType_t type, int64_t n, int64_t c, const detail::ConvGeometry& g,
                const std::array<int64_t, 3>& spatial, bool channels_last) {
  const int rank = cudnn_rank(g);
  std::vector<int> dims = {static_cast<int>(n), static_cast<int>(c)};
  for (int d = 5 - rank; d < 3; ++d) dims.push_back(static_cast<int>(spatial[d]));
  const MemoryFormat format = channels_last ? normrt::detail::channels_last_format(rank) : MemoryFormat::Contiguous;
  const auto dense = normrt::detail::dense_strides(Shape(dims.begin(), dims.end()),
                                                   normrt::detail::memory_order(rank, format));
  const std::vector<int> strides(dense.begin(), dense.begin() + rank);
  NORMRT_CUDNN_CHECK(cudnnSetTensorNdDescriptor(desc.get(), type, rank, dims.data(), strides.data()));
}

struct Descriptors {
  TensorDesc x, y;
  FilterDesc w;
  ConvDesc conv;
  // Data of `dtype`, accumulated in float32 (the convolution's compute type) whatever the dtype.
  Descriptors(const detail::ConvGeometry& g, DType dtype, cudnnMathType_t math, bool channels_last) {
    const int rank = cudnn_rank(g);
    const cudnnDataType_t type = data_type(dtype);
    set_tensor(x, type, g.n, g.c, g, g.in, channels_last);
    set_tensor(y, type, g.n, g.o, g, g.out, channels_last);
    std::vector<int> filter = {static_cast<int>(g.o), static_cast<int>(g.c_per_group())};
    std::vector<int> pad, stride, dilation;
    for (int d = 5 - rank; d < 3; ++d) {
      filter.push_back(static_cast<int>(g.kernel[d]));
      pad.push_back(static_cast<int>(g.pad_before[d]));
      stride.push_back(static_cast<int>(g.stride[d]));
      dilation.push_back(static_cast<int>(g.dilation[d]));
    }
    NORMRT_CUDNN_CHECK(cudnnSetFilterNdDescriptor(w.get(), type, channels_last ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW,
                                                  rank, filter.data()));
    NORMRT_CUDNN_CHECK(cudnnSetConvolutionNdDescriptor(conv.get(), rank - 2, pad.data(), stride.data(),
                                                       dilation.data(), CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    NORMRT_CUDNN_CHECK(cudnnSetConvolutionGroupCount(conv.get(), static_cast<int>(g.groups)));
    NORMRT_CUDNN_CHECK(cudnnSetConvolutionMathType(conv.get(), math));
  }
};

// What identifies a problem to cuDNN: every field of the geometry, plus the device, direction, modes, dtype and
// layout.
using Extent = std::array<int64_t, 3>;
using ProblemKey = std::tuple<int, int, bool, bool, bool, int, int64_t, int64_t, int64_t, int64_t, Extent, Extent,
                              Extent, Extent, Extent, int, bool>;

ProblemKey key_of(const detail::ConvGeometry& g, DType dtype, bool channels_last, int device, Direction direction,
                  bool tf32, bool deterministic, bool benchmark) {
  return {device, static_cast<int>(direction), tf32, deterministic, benchmark, g.spatial, g.n, g.c, g.o, g.groups,
          g.in, g.kernel, g.stride, g.pad_before, g.dilation, static_cast<int>(dtype), channels_last};
}

struct Choice {
  int algorithm = 0;  // a cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t
  cudnnMathType_t math = CUDNN_FMA_MATH;
  std::size_t workspace = 0;
};

// The problem's descriptors and its cached algorithm (none: cuDNN has no usable one for it). Entries live for the
// process (as PyTorch's benchmark cache).
struct Plan {
  std::unique_ptr<Descriptors> descriptors;
  std::optional<Choice> choice;
};

std::mutex g_plans_mutex;
std::map<ProblemKey, std::unique_ptr<Plan>> g_plans;

Tensor workspace_tensor(std::size_t bytes, const Device& device) {
  return empty({static_cast<int64_t>((bytes + sizeof(float) - 1) / sizeof(float))}, device);
}

// The usable results in cuDNN's order (fastest first for a search, best first for the heuristics): succeeded,
// within the math mode (tensor-core math: 16-bit data, or float32 with TF32 allowed), deterministic when asked for.
template <typename Perf>
std::vector<Choice> usable(const std::vector<Perf>& results, int count, bool tensor_ops, bool deterministic) {
  std::vector<Choice> out;
  for (int i = 0; i < count; ++i) {
    const Perf& r = results[i];
    if (r.status != CUDNN_STATUS_SUCCESS) continue;
    if (deterministic && r.determinism != CUDNN_DETERMINISTIC) continue;
    if (!tensor_ops && r.mathType == CUDNN_TENSOR_OP_MATH) continue;
    out.push_back(Choice{static_cast<int>(r.algo), r.mathType, r.memory});
  }
  return out;
}

std::optional<Choice> first(const std::vector<Choice>& choices) {
  if (choices.empty()) return std::nullopt;
  return choices.front();
}

// The workspace algorithm `algorithm` of the direction asks for; none where it does not apply to the problem.
std::optional<std::size_t> workspace_of(cudnnHandle_t handle, const Descriptors& d, Direction direction,
                                        int algorithm) {
  std::size_t bytes = 0;
  cudnnStatus_t status;
  if (direction == Direction::Forward)
    status = cudnnGetConvolutionForwardWorkspaceSize(handle, d.x.get(), d.w.get(), d.conv.get(), d.y.get(),
                                                     static_cast<cudnnConvolutionFwdAlgo_t>(algorithm), &bytes);
  else if (direction == Direction::BackwardData)
    status =
        cudnnGetConvolutionBackwardDataWorkspaceSize(handle, d.w.get(), d.y.get(), d.conv.get(), d.x.get(),
                                                     static_cast<cudnnConvolutionBwdDataAlgo_t>(algorithm), &bytes);
  else
    status =
        cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, d.x.get(), d.y.get(), d.conv.get(), d.w.get(),
                                                       static_cast<cudnnConvolutionBwdFilterAlgo_t>(algorithm), &bytes);
  if (status != CUDNN_STATUS_SUCCESS) return std::nullopt;
  return bytes;
}

constexpr std::size_t kWorkspaceLimit = std::size_t{1} << 30;  // algorithms wanting more are not tried

// The largest workspace any algorithm of the direction asks for (algorithms that do not apply are skipped).
std::size_t search_workspace(cudnnHandle_t handle, const Descriptors& d, Direction direction) {
  std::size_t largest = 0;
  const int count = direction == Direction::Forward        ? static_cast<int>(CUDNN_CONVOLUTION_FWD_ALGO_COUNT)
                    : direction == Direction::BackwardData ? static_cast<int>(CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT)
                                                           : static_cast<int>(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT);
  for (int a = 0; a < count; ++a) largest = std::max(largest, workspace_of(handle, d, direction, a).value_or(0));
  return std::min(largest, kWorkspaceLimit);
}

// cuDNN's heuristics for a new problem: the first usable algorithm in their order whose workspace (asked of cuDNN
// again: the heuristics' own figure is an estimate) is within the limit, or none.
std::optional<Choice> heuristic(cudnnHandle_t handle, const Descriptors& d, Direction direction, bool tensor_ops,
                                bool deterministic) {
  constexpr int kMax = 2 * CUDNN_CONVOLUTION_FWD_ALGO_COUNT;  // every algorithm in both math modes, any direction
  int count = 0;
  std::vector<Choice> choices;
  auto ranked = [&](auto& results, cudnnStatus_t status) {
    if (status == CUDNN_STATUS_NOT_SUPPORTED) return;
    NORMRT_CUDNN_CHECK(status);
    choices = usable(results, count, tensor_ops, deterministic);
  };
  if (direction == Direction::Forward) {
    std::vector<cudnnConvolutionFwdAlgoPerf_t> results(kMax);
    ranked(results, cudnnGetConvolutionForwardAlgorithm_v7(handle, d.x.get(), d.w.get(), d.conv.get(), d.y.get(), kMax,
                                                           &count, results.data()));
  } else if (direction == Direction::BackwardData) {
    std::vector<cudnnConvolutionBwdDataAlgoPerf_t> results(kMax);
    ranked(results, cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, d.w.get(), d.y.get(), d.conv.get(), d.x.get(),
                                                                kMax, &count, results.data()));
  } else {
    std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> results(kMax);
    ranked(results, cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle, d.x.get(), d.y.get(), d.conv.get(), d.w.get(),
                                                                  kMax, &count, results.data()));
  }
  for (Choice c : choices) {
    const std::optional<std::size_t> bytes = workspace_of(handle, d, direction, c.algorithm);
    if (!bytes || *bytes > kWorkspaceLimit) continue;
    c.workspace = *bytes;
    return c;
  }
  return std::nullopt;
}

// Runs cuDNN's search for a new problem: the fastest usable algorithm, or none (a problem cuDNN does not support, as
// a layout it has no kernels for, is not an error). The search writes into a scratch output, never the caller's (a
// backward-filter that accumulates must not see the trial results).
std::optional<Choice> search(cudnnHandle_t handle, const Descriptors& d, const detail::ConvGeometry& g, DType dtype,
                             Direction direction, const void* a, const void* b, const Device& device, bool tensor_ops,
                             bool deterministic) {
  const TensorOptions options = TensorOptions(device).dtype(dtype);
  ++g_searches;
  const std::size_t ws_bytes = search_workspace(handle, d, direction);
  Tensor ws = workspace_tensor(ws_bytes, device);
  constexpr int kMax = 16;
  int count = 0;
  if (direction == Direction::Forward) {
    Tensor y = empty({g.n * g.o * g.out_size()}, options);
    std::vector<cudnnConvolutionFwdAlgoPerf_t> results(kMax);
    const cudnnStatus_t forward_search = cudnnFindConvolutionForwardAlgorithmEx(
        handle, d.x.get(), a, d.w.get(), b, d.conv.get(), d.y.get(), y.raw_data(), kMax, &count, results.data(),
        ws.raw_data(), ws_bytes);
    if (forward_search == CUDNN_STATUS_NOT_SUPPORTED) return std::nullopt;
    NORMRT_CUDNN_CHECK(forward_search);
    return first(usable(results, count, tensor_ops, deterministic));
  }
  if (direction == Direction::BackwardData) {
    Tensor dx = empty({g.n * g.c * g.in_size()}, options);
    std::vector<cudnnConvolutionBwdDataAlgoPerf_t> results(kMax);
    const cudnnStatus_t backward_data_search = cudnnFindConvolutionBackwardDataAlgorithmEx(
        handle, d.w.get(), a, d.y.get(), b, d.conv.get(), d.x.get(), dx.raw_data(), kMax, &count, results.data(),
        ws.raw_data(), ws_bytes);
    if (backward_data_search == CUDNN_STATUS_NOT_SUPPORTED) return std::nullopt;
    NORMRT_CUDNN_CHECK(backward_data_search);
    return first(usable(results, count, tensor_ops, deterministic));
  }
  Tensor dw = empty({g.o * g.patch_size()}, options);
  std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> results(kMax);
  const cudnnStatus_t backward_filter_search = cudnnFindConvolutionBackwardFilterAlgorithmEx(
      handle, d.x.get(), a, d.y.get(), b, d.conv.get(), d.w.get(), dw.raw_data(), kMax, &count, results.data(),
      ws.raw_data(), ws_bytes);
  if (backward_filter_search == CUDNN_STATUS_NOT_SUPPORTED) return std::nullopt;
  NORMRT_CUDNN_CHECK(backward_filter_search);
  return first(usable(results, count, tensor_ops, deterministic));
}

// The plan for a problem, chosen on first sight. `a`, `b` are the direction's two inputs (for a search).
const Plan& plan_for(cudnnHandle_t handle, const detail::ConvGeometry& g, DType dtype, bool channels_last,
                     Direction direction, const void* a, const void* b, const Device& device) {
  const bool tf32 = conv_allow_tf32(), deterministic = conv_deterministic(), benchmark = conv_benchmark();
  const bool tensor_ops = tf32 || dtype != DType::Float32;
  const ProblemKey key = key_of(g, dtype, channels_last, device.index(), direction, tf32, deterministic, benchmark);
  std::lock_guard<std::mutex> lock(g_plans_mutex);
  auto& plan = g_plans[key];
  if (!plan) {
    auto fresh = std::make_unique<Plan>();
    fresh->descriptors =
        std::make_unique<Descriptors>(g, dtype, tensor_ops ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH, channels_last);
    ++g_choices;
    fresh->choice =
        benchmark ? search(handle, *fresh->descriptors, g, dtype, direction, a, b, device, tensor_ops, deterministic)
                  : heuristic(handle, *fresh->descriptors, direction, tensor_ops, deterministic);
    if (fresh->choice)
      NORMRT_CUDNN_CHECK(cudnnSetConvolutionMathType(fresh->descriptors->conv.get(), fresh->choice->math));
    plan = std::move(fresh);
  }
  return *plan;
}

const float kOne = 1.0f, kZero = 0.0f;

}  // namespace

int64_t conv_algorithm_choices() { return g_choices; }
int64_t conv_algorithm_searches() { return g_searches; }

namespace detail {

bool cudnn_conv_forward(const ConvGeometry& g, DType dtype, bool channels_last, const void* x, const void* w, void* y,
                        const Device& device) {
  const int index = device.index();
  const cudnnHandle_t handle = cudnn::handle_for(index, cuda::current_stream(index));
  const Plan& plan = plan_for(handle, g, dtype, channels_last, Direction::Forward, x, w, device);
  if (!plan.choice) return false;
  const Descriptors& d = *plan.descriptors;
  const Choice& c = *plan.choice;
  Tensor ws = workspace_tensor(c.workspace, device);
  NORMRT_CUDNN_CHECK(cudnnConvolutionForward(handle, &kOne, d.x.get(), x, d.w.get(), w, d.conv.get(),
                                             static_cast<cudnnConvolutionFwdAlgo_t>(c.algorithm), ws.raw_data(),
                                             c.workspace, &kZero, d.y.get(), y));
  return true;
}

bool cudnn_conv_backward_data(const ConvGeometry& g, DType dtype, bool channels_last, const void* dy, const void* w,
                              void* dx, const Device& device) {
  const int index = device.index();
  const cudnnHandle_t handle = cudnn::handle_for(index, cuda::current_stream(index));
  const Plan& plan = plan_for(handle, g, dtype, channels_last, Direction::BackwardData, w, dy, device);
  if (!plan.choice) return false;
  const Descriptors& d = *plan.descriptors;
  const Choice& c = *plan.choice;
  Tensor ws = workspace_tensor(c.workspace, device);
  NORMRT_CUDNN_CHECK(cudnnConvolutionBackwardData(handle, &kOne, d.w.get(), w, d.y.get(), dy, d.conv.get(),
                                                  static_cast<cudnnConvolutionBwdDataAlgo_t>(c.algorithm),
                                                  ws.raw_data(), c.workspace, &kZero, d.x.get(), dx));
  return true;
}

bool cudnn_conv_backward_filter(const ConvGeometry& g, DType dtype, bool channels_last, const void* x, const void* dy,
                                void* dw, bool accumulate, const Device& device) {
  const int index = device.index();
  const cudnnHandle_t handle = cudnn::handle_for(index, cuda::current_stream(index));
  const Plan& plan = plan_for(handle, g, dtype, channels_last, Direction::BackwardFilter, x, dy, device);
  if (!plan.choice) return false;
  const Descriptors& d = *plan.descriptors;
  const Choice& c = *plan.choice;
  Tensor ws = workspace_tensor(c.workspace, device);
  NORMRT_CUDNN_CHECK(cudnnConvolutionBackwardFilter(handle, &kOne, d.x.get(), x, d.y.get(), dy, d.conv.get(),
                                                    static_cast<cudnnConvolutionBwdFilterAlgo_t>(c.algorithm),
                                                    ws.raw_data(), c.workspace, accumulate ? &kOne : &kZero,
                                                    d.w.get(), dw));
  return true;
}

}  // namespace detail
}  // namespace normrt::ops
