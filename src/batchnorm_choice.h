// Choosing the BatchNorm implementation for a call: one function, so that Auto's rule and every cuDNN fallback
// live in one place. Pure (no device calls): tested on the CPU.
#pragma once
#include <string>

#include "batchnorm_params.h"
#include "normrt/device.h"
#include "normrt/tensor.h"
#include "normrt/ops/batchnorm.h"

namespace normrt::bn {

enum class Pass { ForwardTraining, ForwardInference, BackwardTraining, BackwardInference };

// What a call asks of cuDNN beyond its geometry (g is the input's (N, C, spatial) whatever its memory format).
struct CudnnRequest {
  bool channels_last = false;
  DType dtype = DType::Float32;
  bool relu = false, residual = false;  // the fused epilogue, or the backward of one
  bool forward_fused = false;           // backward: the forward ran the epilogue inside cuDNN (its reserve is given)
};

// How cuDNN runs a call it takes (normrt's names for cuDNN's settings; batchnorm_cudnn.cpp maps them).
struct CudnnPlan {
  bool channels_last = false;  // NHWC descriptors over the input's memory as it is
  bool persistent = false;     // CUDNN_BATCHNORM_SPATIAL_PERSISTENT: training on channels-last input, as PyTorch
  bool float32_copies = true;  // x, y, dy, dx as float32 copies; else in the input's dtype
  bool fused = false;          // BN_ACTIVATION (ReLU), or BN_ADD_ACTIVATION (residual + ReLU), inside cuDNN's call
};

struct BackendChoice {
  Backend backend;     // Native or CuDNN
  std::string reason;  // why a CuDNN request runs natively; empty otherwise
  CudnnPlan plan;      // when CuDNN
};

BackendChoice choose_backend(Backend requested, const Device& device, const Geometry& g, Pass pass, bool affine,
                             bool cumulative_average, double eps, const CudnnRequest& request = {});

}  // namespace normrt::bn
