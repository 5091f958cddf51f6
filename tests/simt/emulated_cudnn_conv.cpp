// cuDNN's convolutions for the emulated device: the part of cuDNN's legacy convolution API that src/conv_cudnn.cpp
// calls (tensor descriptors with sizes and strides, filter descriptors in NCHW or NHWC layout, convolution
// descriptors with groups and a math type, the workspace queries, the heuristics (cudnnGet*Algorithm_v7),
// cudnnFind*AlgorithmEx and the three directions),
// computed by the double-precision reference convolution (tests/conv_reference.h) and queued on the handle's stream
// like the kernels, so that the cuDNN backend's own host code — descriptors over contiguous and channels-last
// memory, the algorithm search and its cache, workspaces, accumulation through beta — runs in CI.
//
// The model follows cuDNN's documented semantics: result = alpha * op(inputs) + beta * result (the result is not
// read when beta is 0), tensors addressed through their descriptors' strides, a filter's NHWC layout (output
// channel, spatial positions, input channel), every output rounded once. It checks what cuDNN checks: ranks, types
// and shapes that agree with the convolution, an algorithm that applies, a workspace at least as large as the
// algorithm asks for. The algorithm table is this stand-in's own: the fastest listed are nondeterministic, some
// want workspace, and tensor-op variants come first unless the math type is CUDNN_FMA_MATH, so that normrt's choice
// among them runs. Where real cuDNN declines a layout is its own; this stand-in declines two NHWC problems, so that
// normrt's fallback runs: grouped ones (every algorithm reports CUDNN_STATUS_NOT_SUPPORTED) and dilated ones (the
// search and every call return it). Two liberties cuDNN may take are taken always, so that normrt's modes show:
// float32 data under a math type other than CUDNN_FMA_MATH is computed as TF32 (operands rounded to 10 mantissa
// bits), and a nondeterministic algorithm's results differ in their last bit every other run. A search writes NaN
// into the scratch output it is given (real cuDNN writes its trial results there), so that a search into a buffer
// that holds data shows. Test-only.
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include "conv_reference.h"
#include "emulated_cudnn.h"
#include "tf32.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

struct cudnnFilterStruct {
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  cudnnTensorFormat_t format = CUDNN_TENSOR_NCHW;
  int rank = 0;
  int dims[CUDNN_DIM_MAX] = {};  // (output channels, input channels per group, spatial...) whatever the layout
};

struct cudnnConvolutionStruct {
  int spatial = 0;
  int pad[3] = {}, stride[3] = {}, dilation[3] = {};
  cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  cudnnDataType_t compute = CUDNN_DATA_FLOAT;
  int groups = 1;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};

namespace {

using normrt::ops::detail::ConvGeometry;

enum class Direction { Forward, BackwardData, BackwardFilter };

// A convolution the descriptors agree on, as the reference's geometry.
struct Problem {
  ConvGeometry g;
  cudnnTensorStruct x, y;
  cudnnFilterStruct w;
  bool tf32 = false;  // float32 data under a math type that allows tensor cores

  bool nhwc() const { return w.format == CUDNN_TENSOR_NHWC; }
  bool grouped_nhwc() const { return nhwc() && g.groups > 1; }
  bool dilated_nhwc() const {
    return nhwc() && (g.dilation[0] > 1 || g.dilation[1] > 1 || g.dilation[2] > 1);
  }
};

cudnnStatus_t problem_of(cudnnTensorDescriptor_t x, cudnnFilterDescriptor_t w, cudnnConvolutionDescriptor_t conv,
                         cudnnTensorDescriptor_t y, Problem& p) {
  if (x == nullptr || w == nullptr || conv == nullptr || y == nullptr) return CUDNN_STATUS_BAD_PARAM;
  const int rank = conv->spatial + 2;
  if ((rank != 4 && rank != 5) || x->rank != rank || w->rank != rank || y->rank != rank)
    return CUDNN_STATUS_BAD_PARAM;
  if (x->type != w->type || y->type != w->type) return CUDNN_STATUS_BAD_PARAM;
  if (!emu_cudnn::supported_type(x->type) || conv->compute != CUDNN_DATA_FLOAT ||
      conv->mode != CUDNN_CROSS_CORRELATION)
    return CUDNN_STATUS_NOT_SUPPORTED;
  const int groups = conv->groups;
  if (x->dims[0] != y->dims[0] || x->dims[1] != w->dims[1] * groups || y->dims[1] != w->dims[0] ||
      w->dims[0] % groups != 0)
    return CUDNN_STATUS_BAD_PARAM;
  ConvGeometry& g = p.g;
  g.spatial = conv->spatial;
  g.n = x->dims[0];
  g.c = x->dims[1];
  g.o = w->dims[0];
  g.groups = groups;
  for (int s = 0; s < conv->spatial; ++s) {
    const int d = 3 - conv->spatial + s;  // the geometry's leading spatial dimensions stay 1
    g.in[d] = x->dims[2 + s];
    g.kernel[d] = w->dims[2 + s];
    g.stride[d] = conv->stride[s];
    g.pad_before[d] = g.pad_after[d] = conv->pad[s];
    g.dilation[d] = conv->dilation[s];
    g.out[d] = (g.in[d] + 2 * g.pad_before[d] - g.dilation[d] * (g.kernel[d] - 1) - 1) / g.stride[d] + 1;
    if (g.out[d] < 1 || g.out[d] != y->dims[2 + s]) return CUDNN_STATUS_BAD_PARAM;
  }
  p.x = *x;
  p.y = *y;
  p.w = *w;
  p.tf32 = x->type == CUDNN_DATA_FLOAT && conv->math != CUDNN_FMA_MATH;
  return CUDNN_STATUS_SUCCESS;
}

// Memory offset of the element at logical (row-major over the sizes) index i of a described tensor.
int64_t tensor_offset(const cudnnTensorStruct& d, int64_t i) {
  int64_t offset = 0;
  for (int k = d.rank - 1; k >= 0; --k) {
    offset += i % d.dims[k] * d.strides[k];
    i /= d.dims[k];
  }
  return offset;
}

// Memory offset of logical filter element i, (o, c, spatial...): NHWC lays it out as (o, spatial..., c).
int64_t filter_offset(const cudnnFilterStruct& f, int64_t i) {
  if (f.format == CUDNN_TENSOR_NCHW) return i;
  std::array<int64_t, CUDNN_DIM_MAX> index{};
  for (int k = f.rank - 1; k >= 0; --k) {
    index[k] = i % f.dims[k];
    i /= f.dims[k];
  }
  int64_t offset = index[0];
  for (int k = 2; k < f.rank; ++k) offset = offset * f.dims[k] + index[k];
  return offset * f.dims[1] + index[1];
}

int64_t tensor_size(const cudnnTensorStruct& d) {
  int64_t n = 1;
  for (int k = 0; k < d.rank; ++k) n *= d.dims[k];
  return n;
}

int64_t filter_size(const cudnnFilterStruct& f) {
  int64_t n = 1;
  for (int k = 0; k < f.rank; ++k) n *= f.dims[k];
  return n;
}

// The operands in logical order, as the convolution reads them (TF32 where the problem computes so).
std::vector<float> tensor_values(const Problem& p, const cudnnTensorStruct& d, const void* data) {
  std::vector<float> out(static_cast<std::size_t>(tensor_size(d)));
  for (std::size_t i = 0; i < out.size(); ++i) {
    const float v = static_cast<float>(emu_cudnn::read(d.type, data, tensor_offset(d, static_cast<int64_t>(i))));
    out[i] = p.tf32 ? emu::to_tf32(v) : v;
  }
  return out;
}

std::vector<float> filter_values(const Problem& p, const void* data) {
  std::vector<float> out(static_cast<std::size_t>(filter_size(p.w)));
  for (std::size_t i = 0; i < out.size(); ++i) {
    const float v = static_cast<float>(emu_cudnn::read(p.w.type, data, filter_offset(p.w, static_cast<int64_t>(i))));
    out[i] = p.tf32 ? emu::to_tf32(v) : v;
  }
  return out;
}

// out = alpha * result + beta * out, element by element at each offset; out is not read when beta is 0.
template <typename Offset>
void blend(const std::vector<double>& result, cudnnDataType_t type, void* out, float alpha, float beta,
           Offset offset_of) {
  for (std::size_t i = 0; i < result.size(); ++i) {
    const int64_t at = offset_of(static_cast<int64_t>(i));
    const double old = beta != 0.0f ? static_cast<double>(beta) * emu_cudnn::read(type, out, at) : 0.0;
    emu_cudnn::write(type, out, at, static_cast<double>(alpha) * result[i] + old);
  }
}

// This stand-in's algorithms per direction, fastest first; the others are not supported.
struct Algorithm {
  int id;
  bool deterministic;
  std::size_t workspace;  // bytes
};

std::vector<Algorithm> algorithms(Direction direction) {
  switch (direction) {
    case Direction::Forward:
      return {{CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, true, 4096},
              {CUDNN_CONVOLUTION_FWD_ALGO_GEMM, true, 1 << 16},
              {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, true, 0}};
    case Direction::BackwardData:
      return {{CUDNN_CONVOLUTION_BWD_DATA_ALGO_0, false, 0}, {CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, true, 2048}};
    case Direction::BackwardFilter:
      return {{CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3, false, 8192},
              {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0, false, 0},
              {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, true, 1024}};
  }
  return {};
}

const Algorithm* find_algorithm(Direction direction, int id) {
  static const std::array<std::vector<Algorithm>, 3> tables = {
      algorithms(Direction::Forward), algorithms(Direction::BackwardData), algorithms(Direction::BackwardFilter)};
  for (const Algorithm& a : tables[static_cast<int>(direction)])
    if (a.id == id) return &a;
  return nullptr;
}

// The descriptors of a call, as the forward convolution's input, filter and output whatever the direction.
struct Described {
  cudnnTensorDescriptor_t x;
  cudnnFilterDescriptor_t w;
  cudnnConvolutionDescriptor_t conv;
  cudnnTensorDescriptor_t y;
};

// The workspace algorithm `id` of the direction asks for, once the descriptors are checked.
cudnnStatus_t workspace_size(Direction direction, const Described& d, int id, size_t* bytes) {
  Problem p;
  const cudnnStatus_t checked = problem_of(d.x, d.w, d.conv, d.y, p);
  if (checked != CUDNN_STATUS_SUCCESS) return checked;
  if (p.grouped_nhwc() || p.dilated_nhwc()) return CUDNN_STATUS_NOT_SUPPORTED;
  const Algorithm* a = find_algorithm(direction, id);
  if (a == nullptr) return CUDNN_STATUS_NOT_SUPPORTED;
  *bytes = a->workspace;
  return CUDNN_STATUS_SUCCESS;
}

std::array<std::atomic<uint64_t>, 3> g_nondeterministic_runs{};  // per direction

// The reference convolution of the direction over the descriptors' memory, blended into the output. A
// nondeterministic algorithm's every other run of its direction is scaled by 1 + 2^-22, which moves the last bit
// of most results.
void compute(Direction direction, const Problem& p, bool deterministic, const void* a, const void* b, void* out,
             float alpha, float beta) {
  if (!deterministic && g_nondeterministic_runs[static_cast<int>(direction)]++ % 2 == 1)
    alpha *= 1.0f + std::ldexp(1.0f, -22);
  switch (direction) {
    case Direction::Forward: {
      const auto y = normrt::testing::reference_conv_forward(p.g, tensor_values(p, p.x, a).data(),
                                                             filter_values(p, b).data());
      blend(y, p.y.type, out, alpha, beta, [&](int64_t i) { return tensor_offset(p.y, i); });
      return;
    }
    case Direction::BackwardData: {  // a: the filter, b: dy
      const auto dx = normrt::testing::reference_conv_backward_data(p.g, tensor_values(p, p.y, b).data(),
                                                                    filter_values(p, a).data());
      blend(dx, p.x.type, out, alpha, beta, [&](int64_t i) { return tensor_offset(p.x, i); });
      return;
    }
    case Direction::BackwardFilter: {  // a: x, b: dy
      const auto dw = normrt::testing::reference_conv_backward_filter(p.g, tensor_values(p, p.x, a).data(),
                                                                      tensor_values(p, p.y, b).data());
      blend(dw, p.w.type, out, alpha, beta, [&](int64_t i) { return filter_offset(p.w, i); });
      return;
    }
  }
}

// Runs one direction: the problem, the algorithm and its workspace checked on the host, the work queued.
cudnnStatus_t run(cudnnHandle_t handle, Direction direction, const Described& d, int algorithm, const void* workspace,
                  size_t workspace_bytes, const void* alpha, const void* beta, const void* a, const void* b,
                  void* out) {
  Problem p;
  const cudnnStatus_t checked = problem_of(d.x, d.w, d.conv, d.y, p);
  if (checked != CUDNN_STATUS_SUCCESS) return checked;
  if (p.grouped_nhwc() || p.dilated_nhwc()) return CUDNN_STATUS_NOT_SUPPORTED;
  const Algorithm* chosen = find_algorithm(direction, algorithm);
  if (chosen == nullptr) return CUDNN_STATUS_NOT_SUPPORTED;
  if (workspace_bytes < chosen->workspace || (chosen->workspace > 0 && workspace == nullptr))
    return CUDNN_STATUS_BAD_PARAM;
  if (alpha == nullptr || beta == nullptr || a == nullptr || b == nullptr || out == nullptr)
    return CUDNN_STATUS_BAD_PARAM;
  const float scale = *static_cast<const float*>(alpha), keep = *static_cast<const float*>(beta);
  const bool deterministic = chosen->deterministic;
  return emu_cudnn::enqueue(handle, [=] { compute(direction, p, deterministic, a, b, out, scale, keep); });
}

// The table as perf results (tensor-op variants first where the math type allows them); with a workspace size (a
// search), the ones wanting more than it failed.
template <typename Perf, typename Algo>
int ranked(Direction direction, const Problem& p, cudnnMathType_t math, int requested, Perf* results,
           std::optional<size_t> workspace_bytes) {
  std::vector<cudnnMathType_t> variants;
  if (math != CUDNN_FMA_MATH) variants.push_back(CUDNN_TENSOR_OP_MATH);
  variants.push_back(CUDNN_FMA_MATH);
  int count = 0;
  for (const cudnnMathType_t variant : variants)
    for (const Algorithm& a : algorithms(direction)) {
      if (count == requested) break;
      Perf& r = results[count];
      r = Perf{};
      r.algo = static_cast<Algo>(a.id);
      r.status = p.grouped_nhwc()                                      ? CUDNN_STATUS_NOT_SUPPORTED
                 : !workspace_bytes || a.workspace <= *workspace_bytes ? CUDNN_STATUS_SUCCESS
                                                                       : CUDNN_STATUS_ALLOC_FAILED;
      r.time = workspace_bytes ? 0.1f * static_cast<float>(count + 1) : -1.0f;  // the heuristics time nothing
      r.memory = a.workspace;
      r.determinism = a.deterministic ? CUDNN_DETERMINISTIC : CUDNN_NON_DETERMINISTIC;
      r.mathType = variant;
      ++count;
    }
  return count;
}

// cudnnGet*Algorithm_v7: the table, ranked without running anything.
template <typename Perf, typename Algo>
cudnnStatus_t heuristics(Direction direction, const Described& d, int requested, int* returned, Perf* results) {
  Problem p;
  const cudnnStatus_t checked = problem_of(d.x, d.w, d.conv, d.y, p);
  if (checked != CUDNN_STATUS_SUCCESS) return checked;
  if (p.dilated_nhwc()) return CUDNN_STATUS_NOT_SUPPORTED;
  if (requested < 1 || returned == nullptr || results == nullptr) return CUDNN_STATUS_BAD_PARAM;
  *returned = ranked<Perf, Algo>(direction, p, d.conv->math, requested, results, std::nullopt);
  return CUDNN_STATUS_SUCCESS;
}

// cudnnFind*AlgorithmEx: the table, the ones wanting more workspace than given failed; NaN written over the scratch
// output.
template <typename Perf, typename Algo>
cudnnStatus_t find(cudnnHandle_t handle, Direction direction, const Described& d, int requested, int* returned,
                   Perf* results, size_t workspace_bytes, void* scratch) {
  Problem p;
  const cudnnStatus_t checked = problem_of(d.x, d.w, d.conv, d.y, p);
  if (checked != CUDNN_STATUS_SUCCESS) return checked;
  if (p.dilated_nhwc()) return CUDNN_STATUS_NOT_SUPPORTED;
  const bool scratch_is_filter = direction == Direction::BackwardFilter;
  if (requested < 1 || returned == nullptr || results == nullptr || scratch == nullptr) return CUDNN_STATUS_BAD_PARAM;
  *returned = ranked<Perf, Algo>(direction, p, d.conv->math, requested, results, workspace_bytes);
  return emu_cudnn::enqueue(handle, [=] {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    if (scratch_is_filter) {
      for (int64_t i = 0; i < filter_size(p.w); ++i) emu_cudnn::write(p.w.type, scratch, filter_offset(p.w, i), nan);
      return;
    }
    const cudnnTensorStruct& d = direction == Direction::Forward ? p.y : p.x;
    for (int64_t i = 0; i < tensor_size(d); ++i) emu_cudnn::write(d.type, scratch, tensor_offset(d, i), nan);
  });
}

}  // namespace

extern "C" {

cudnnStatus_t cudnnSetTensorNdDescriptor(cudnnTensorDescriptor_t desc, cudnnDataType_t type, int rank,
                                         const int dims[], const int strides[]) {
  if (desc == nullptr || rank < 3 || rank > CUDNN_DIM_MAX) return CUDNN_STATUS_BAD_PARAM;
  cudnnTensorStruct d;
  d.type = type;
  d.rank = rank;
  for (int k = 0; k < rank; ++k) {
    if (dims[k] <= 0 || strides[k] <= 0) return CUDNN_STATUS_BAD_PARAM;
    d.dims[k] = dims[k];
    d.strides[k] = strides[k];
  }
  *desc = d;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t* desc) { return emu_cudnn::create(desc); }

cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t desc) { return emu_cudnn::destroy(desc); }

cudnnStatus_t cudnnSetFilterNdDescriptor(cudnnFilterDescriptor_t desc, cudnnDataType_t type,
                                         cudnnTensorFormat_t format, int rank, const int dims[]) {
  if (desc == nullptr || rank < 3 || rank > CUDNN_DIM_MAX) return CUDNN_STATUS_BAD_PARAM;
  if (format != CUDNN_TENSOR_NCHW && format != CUDNN_TENSOR_NHWC) return CUDNN_STATUS_NOT_SUPPORTED;
  cudnnFilterStruct f;
  f.type = type;
  f.format = format;
  f.rank = rank;
  for (int k = 0; k < rank; ++k) {
    if (dims[k] <= 0) return CUDNN_STATUS_BAD_PARAM;
    f.dims[k] = dims[k];
  }
  *desc = f;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t* desc) { return emu_cudnn::create(desc); }

cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t desc) { return emu_cudnn::destroy(desc); }

cudnnStatus_t cudnnSetConvolutionNdDescriptor(cudnnConvolutionDescriptor_t desc, int spatial, const int pad[],
                                              const int stride[], const int dilation[], cudnnConvolutionMode_t mode,
                                              cudnnDataType_t compute) {
  if (desc == nullptr || spatial < 1 || spatial > 3) return CUDNN_STATUS_BAD_PARAM;
  desc->spatial = spatial;
  for (int s = 0; s < spatial; ++s) {
    if (pad[s] < 0 || stride[s] < 1 || dilation[s] < 1) return CUDNN_STATUS_BAD_PARAM;
    desc->pad[s] = pad[s];
    desc->stride[s] = stride[s];
    desc->dilation[s] = dilation[s];
  }
  desc->mode = mode;
  desc->compute = compute;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetConvolutionGroupCount(cudnnConvolutionDescriptor_t desc, int groups) {
  if (desc == nullptr || groups < 1) return CUDNN_STATUS_BAD_PARAM;
  desc->groups = groups;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t desc, cudnnMathType_t math) {
  if (desc == nullptr) return CUDNN_STATUS_BAD_PARAM;
  desc->math = math;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(cudnnHandle_t, const cudnnTensorDescriptor_t x,
                                                      const cudnnFilterDescriptor_t w,
                                                      const cudnnConvolutionDescriptor_t conv,
                                                      const cudnnTensorDescriptor_t y, cudnnConvolutionFwdAlgo_t algo,
                                                      size_t* bytes) {
  return workspace_size(Direction::Forward, {x, w, conv, y}, algo, bytes);
}

cudnnStatus_t cudnnGetConvolutionBackwardDataWorkspaceSize(cudnnHandle_t, const cudnnFilterDescriptor_t w,
                                                           const cudnnTensorDescriptor_t dy,
                                                           const cudnnConvolutionDescriptor_t conv,
                                                           const cudnnTensorDescriptor_t dx,
                                                           cudnnConvolutionBwdDataAlgo_t algo, size_t* bytes) {
  return workspace_size(Direction::BackwardData, {dx, w, conv, dy}, algo, bytes);
}

cudnnStatus_t cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnnHandle_t, const cudnnTensorDescriptor_t x,
                                                             const cudnnTensorDescriptor_t dy,
                                                             const cudnnConvolutionDescriptor_t conv,
                                                             const cudnnFilterDescriptor_t dw,
                                                             cudnnConvolutionBwdFilterAlgo_t algo, size_t* bytes) {
  return workspace_size(Direction::BackwardFilter, {x, dw, conv, dy}, algo, bytes);
}

cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t, const cudnnTensorDescriptor_t x_desc,
                                                     const cudnnFilterDescriptor_t w_desc,
                                                     const cudnnConvolutionDescriptor_t conv,
                                                     const cudnnTensorDescriptor_t y_desc, const int requested,
                                                     int* returned, cudnnConvolutionFwdAlgoPerf_t* results) {
  return heuristics<cudnnConvolutionFwdAlgoPerf_t, cudnnConvolutionFwdAlgo_t>(
      Direction::Forward, {x_desc, w_desc, conv, y_desc}, requested, returned, results);
}

cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnnHandle_t, const cudnnFilterDescriptor_t w_desc,
                                                          const cudnnTensorDescriptor_t dy_desc,
                                                          const cudnnConvolutionDescriptor_t conv,
                                                          const cudnnTensorDescriptor_t dx_desc, const int requested,
                                                          int* returned, cudnnConvolutionBwdDataAlgoPerf_t* results) {
  return heuristics<cudnnConvolutionBwdDataAlgoPerf_t, cudnnConvolutionBwdDataAlgo_t>(
      Direction::BackwardData, {dx_desc, w_desc, conv, dy_desc}, requested, returned, results);
}

cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnnHandle_t, const cudnnTensorDescriptor_t x_desc,
                                                            const cudnnTensorDescriptor_t dy_desc,
                                                            const cudnnConvolutionDescriptor_t conv,
                                                            const cudnnFilterDescriptor_t dw_desc, const int requested,
                                                            int* returned,
                                                            cudnnConvolutionBwdFilterAlgoPerf_t* results) {
  return heuristics<cudnnConvolutionBwdFilterAlgoPerf_t, cudnnConvolutionBwdFilterAlgo_t>(
      Direction::BackwardFilter, {x_desc, dw_desc, conv, dy_desc}, requested, returned, results);
}

cudnnStatus_t cudnnFindConvolutionForwardAlgorithmEx(cudnnHandle_t handle, const cudnnTensorDescriptor_t x_desc,
                                                     const void*, const cudnnFilterDescriptor_t w_desc, const void*,
                                                     const cudnnConvolutionDescriptor_t conv,
                                                     const cudnnTensorDescriptor_t y_desc, void* y, const int requested,
                                                     int* returned, cudnnConvolutionFwdAlgoPerf_t* results, void*,
                                                     size_t workspace_bytes) {
  return find<cudnnConvolutionFwdAlgoPerf_t, cudnnConvolutionFwdAlgo_t>(
      handle, Direction::Forward, {x_desc, w_desc, conv, y_desc}, requested, returned, results, workspace_bytes, y);
}

cudnnStatus_t cudnnFindConvolutionBackwardDataAlgorithmEx(cudnnHandle_t handle, const cudnnFilterDescriptor_t w_desc,
                                                          const void*, const cudnnTensorDescriptor_t dy_desc,
                                                          const void*, const cudnnConvolutionDescriptor_t conv,
                                                          const cudnnTensorDescriptor_t dx_desc, void* dx,
                                                          const int requested, int* returned,
                                                          cudnnConvolutionBwdDataAlgoPerf_t* results, void*,
                                                          size_t workspace_bytes) {
  return find<cudnnConvolutionBwdDataAlgoPerf_t, cudnnConvolutionBwdDataAlgo_t>(
      handle, Direction::BackwardData, {dx_desc, w_desc, conv, dy_desc}, requested, returned, results, workspace_bytes,
      dx);
}

cudnnStatus_t cudnnFindConvolutionBackwardFilterAlgorithmEx(
    cudnnHandle_t handle, const cudnnTensorDescriptor_t x_desc, const void*, const cudnnTensorDescriptor_t dy_desc,
    const void*, const cudnnConvolutionDescriptor_t conv, const cudnnFilterDescriptor_t dw_desc, void* dw,
    const int requested, int* returned, cudnnConvolutionBwdFilterAlgoPerf_t* results, void*, size_t workspace_bytes) {
  return find<cudnnConvolutionBwdFilterAlgoPerf_t, cudnnConvolutionBwdFilterAlgo_t>(
      handle, Direction::BackwardFilter, {x_desc, dw_desc, conv, dy_desc}, requested, returned, results,
      workspace_bytes, dw);
}

cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t handle, const void* alpha, const cudnnTensorDescriptor_t x_desc,
                                      const void* x, const cudnnFilterDescriptor_t w_desc, const void* w,
                                      const cudnnConvolutionDescriptor_t conv, cudnnConvolutionFwdAlgo_t algo,
                                      void* workspace, size_t workspace_bytes, const void* beta,
                                      const cudnnTensorDescriptor_t y_desc, void* y) {
  return run(handle, Direction::Forward, {x_desc, w_desc, conv, y_desc}, algo, workspace, workspace_bytes, alpha, beta,
             x, w, y);
}

cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t handle, const void* alpha,
                                           const cudnnFilterDescriptor_t w_desc, const void* w,
                                           const cudnnTensorDescriptor_t dy_desc, const void* dy,
                                           const cudnnConvolutionDescriptor_t conv, cudnnConvolutionBwdDataAlgo_t algo,
                                           void* workspace, size_t workspace_bytes, const void* beta,
                                           const cudnnTensorDescriptor_t dx_desc, void* dx) {
  return run(handle, Direction::BackwardData, {dx_desc, w_desc, conv, dy_desc}, algo, workspace, workspace_bytes, alpha,
             beta, w, dy, dx);
}

cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t handle, const void* alpha,
                                             const cudnnTensorDescriptor_t x_desc, const void* x,
                                             const cudnnTensorDescriptor_t dy_desc, const void* dy,
                                             const cudnnConvolutionDescriptor_t conv,
                                             cudnnConvolutionBwdFilterAlgo_t algo, void* workspace,
                                             size_t workspace_bytes, const void* beta,
                                             const cudnnFilterDescriptor_t dw_desc, void* dw) {
  return run(handle, Direction::BackwardFilter, {x_desc, dw_desc, conv, dy_desc}, algo, workspace, workspace_bytes,
             alpha, beta, x, dy, dw);
}

}  // extern "C"
