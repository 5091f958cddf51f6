// Launch parameters shared by the CPU backend and the CUDA launchers. The input is viewed as (N, C, S): batch,
// channels, and the product of the spatial sizes (1 for (N, C) input; channels-last input is (N * spatial, C, 1)).
// Pointers may be null where noted. T is the element type of the per-element tensors (x, y, dy, dx, residual):
// float, Half or BFloat16 for the CUDA kernels and the CPU backend, float32 and float16 for cuDNN (the ...Params
// aliases are float's).
// Per-channel tensors are float32 whatever T is.
#pragma once
#include <cstdint>

#include "hd.h"
#include "normrt/half.h"

namespace normrt::bn {

struct Geometry {
  int64_t N = 0, C = 0, S = 0;
  NORMRT_HD int64_t per_channel() const { return N * S; }
  NORMRT_HD int64_t numel() const { return N * C * S; }
};

template <typename T>
struct ForwardTrainingParamsOf {
  using Element = T;
  Geometry geometry;
  const T* x = nullptr;
  const float* weight = nullptr;  // null when affine=False
  const float* bias = nullptr;
  T* y = nullptr;
  float* save_mean = nullptr;
  float* save_invstd = nullptr;
  // Where not null (CPU and the custom CUDA kernels): what rounding the mean to save_mean left, for the backward's
  // compensated centering (bn_math.cuh).
  float* save_mean_low = nullptr;
  float* running_mean = nullptr;  // null when track_running_stats=False
  float* running_var = nullptr;
  int64_t* num_batches_tracked = nullptr;
  double eps = 1e-5;
  double momentum = 0.1;
  bool cumulative_average = false;  // momentum=None
  // The fused epilogue, y = relu(normalised + residual), applied where y is written (after cuDNN, a pass of its own:
  // cuda_epilogue in batchnorm_backend.h).
  const T* residual = nullptr;  // null: nothing added
  bool relu = false;
};

template <typename T>
struct ForwardInferenceParamsOf {
  using Element = T;
  Geometry geometry;
  const T* x = nullptr;
  const float* weight = nullptr;
  const float* bias = nullptr;
  const float* running_mean = nullptr;
  const float* running_var = nullptr;
  T* y = nullptr;
  float* save_mean = nullptr;  // copies of the statistics used, for the eval-mode backward
  float* save_invstd = nullptr;
  double eps = 1e-5;
  // The fused epilogue, y = relu(normalised + residual), applied where y is written (after cuDNN, a pass of its own:
  // cuda_epilogue in batchnorm_backend.h).
  const T* residual = nullptr;  // null: nothing added
  bool relu = false;
};

template <typename T>
struct BackwardParamsOf {
  using Element = T;
  Geometry geometry;
  const T* dy = nullptr;
  const T* x = nullptr;
  const float* weight = nullptr;  // null when affine=False
  const float* mean = nullptr;    // save_mean of the forward
  const float* invstd = nullptr;  // save_invstd of the forward
  const float* mean_low = nullptr;  // training: the forward's save_mean_low where it kept one (not cuDNN's)
  T* dx = nullptr;                // each output may be null when not wanted
  float* dweight = nullptr;
  float* dbias = nullptr;
  // The backward of a fused forward (CUDA kernels; the CPU backend without grad_residual; cuDNN takes dy already
  // masked): dy passes where relu_output (that forward's y) is not <= 0, and the passed dy is written to grad_residual
  // where the pass writes dx.
  const T* relu_output = nullptr;
  T* grad_residual = nullptr;
  const float* bias = nullptr;  // the forward's bias, for cuDNN's fused backward (which recomputes the ReLU's input)
  bool training = true;  // false: the statistics were constants (eval mode), dx = dy * invstd * weight
};

using ForwardTrainingParams = ForwardTrainingParamsOf<float>;
using ForwardInferenceParams = ForwardInferenceParamsOf<float>;
using BackwardParams = BackwardParamsOf<float>;

}  // namespace normrt::bn
