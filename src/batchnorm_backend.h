// The per-device BatchNorm backends behind normrt::ops. Arguments arrive validated; these only compute.
#pragma once
#include "batchnorm_params.h"

namespace normrt::bn {

void cpu_forward_training(const ForwardTrainingParams& p);
void cpu_forward_inference(const ForwardInferenceParams& p);
void cpu_backward(const BackwardParams& p);

}  // namespace normrt::bn
