// Choosing the BatchNorm implementation for a call: one function, so that Auto's rule and every cuDNN fallback
// live in one place. Pure (no device calls): tested on the CPU.
#pragma once
#include <string>

#include "batchnorm_params.h"
#include "normrt/device.h"
#include "normrt/ops/batchnorm.h"

namespace normrt::bn {

enum class Pass { ForwardTraining, ForwardInference, BackwardTraining, BackwardInference };

struct BackendChoice {
  Backend backend;     // Native or CuDNN
  std::string reason;  // why a CuDNN request runs natively; empty otherwise
};

BackendChoice choose_backend(Backend requested, const Device& device, const Geometry& g, Pass pass, bool affine,
                             bool cumulative_average, double eps);

}  // namespace normrt::bn
