// Functional batch normalization over every dimension but dim 1 (channels) of a tensor of rank >= 2, with
// PyTorch's semantics. Tensors must share one device; the op dispatches to that device's backend.
// Dtypes: input float32, float16 or bfloat16; weight, bias and running statistics all of the input's dtype or, for a
// 16-bit input, all float32 (PyTorch's mixed-type rule). Statistics are accumulated in float32 or wider whatever the
// dtype; save_mean/save_invstd are always float32; outputs and gradients take the dtype of what they belong to.
// Memory formats: contiguous, or channels-last for 4-d/5-d input; outputs keep the input's format.
// Every argument is checked before anything is computed or changed: a throwing call leaves the running
// statistics and the counter as they were.
#pragma once
#include <optional>
#include <string>

#include "normrt/tensor.h"

namespace normrt {

// Which implementation runs BatchNorm on CUDA tensors; CPU tensors always use the CPU backend.
// Auto picks per call (the rule lives in one place, src/batchnorm_choice.cpp; today it is Native everywhere,
// see there). CuDNN falls back to Native for cases cuDNN cannot do, logging the reason (NORMRT_LOG=debug).
enum class Backend { Auto, Native, CuDNN };
const char* backend_name(Backend backend);
// "auto", "native" or "cudnn".
Backend parse_backend(const std::string& name);
// The backend used when none is named: set_default_backend(), else $NORMRT_BN_BACKEND, else Auto.
Backend default_backend();
// nullopt returns to $NORMRT_BN_BACKEND.
void set_default_backend(std::optional<Backend> backend);

}  // namespace normrt

namespace normrt::dist {
class ProcessGroup;
}

namespace normrt::ops {

// What a fused BatchNorm does after normalising: y = relu(bn(x) + residual), each part optional (ResNet's block end:
// BatchNorm, the shortcut added, ReLU). The output is written once.
struct BatchNormEpilogue {
  Tensor residual;  // undefined: nothing added; else the input's shape, dtype and device (any memory format)
  bool relu = false;
};

// The backward of a fused forward. relu_output: that forward's output when it applied the ReLU (the gradient passes
// where it is not <= 0, as torch's threshold_backward; no mask is stored); residual: the forward added one, so return
// its gradient.
// cudnn_reserve and bias: a forward through cuDNN that fused its ReLU returned a reserve space
// (BatchNormForwardResult::cudnn_reserve); cuDNN's backward of it takes that and the forward's bias.
struct BatchNormBackwardEpilogue {
  Tensor relu_output;
  bool residual = false;
  Tensor cudnn_reserve, bias;
  // BatchNormForwardResult::save_mean_low of the forward, where it returned one.
  Tensor mean_low;
};

struct BatchNormForwardResult {
  Tensor output;
  Tensor save_mean;    // (C): the mean used to normalise
  Tensor save_invstd;  // (C): 1 / sqrt(var + eps) used to normalise
  // Defined only when cuDNN ran the ReLU (or residual add and ReLU) inside its training forward: its record of the
  // activation (opaque bytes), for the backward (BatchNormBackwardEpilogue::cudnn_reserve).
  Tensor cudnn_reserve;
  // Defined for a training forward on the CPU or through the custom CUDA kernels (not cuDNN): (C) float32, the batch
  // mean minus save_mean (what rounding the mean, double on the CPU, float pivot + shifted mean on the device, to
  // float left). The forward centres on both; the backward, given it (BatchNormBackwardEpilogue::mean_low), does too,
  // so a mean far from zero costs the outputs and gradients no more than float rounding. PyTorch has no such output.
  Tensor save_mean_low;
};

// Training mode: normalises with the batch statistics (biased variance). When running_mean/running_var are
// defined they are updated in place, running = (1 - f) * running + f * batch (unbiased variance), with
// f = momentum, or f = 1 / num_batches_tracked for momentum = nullopt; num_batches_tracked (int64, one element,
// may be undefined when momentum is set) is incremented first, also for an empty batch, as in PyTorch.
BatchNormForwardResult batch_norm_forward_training(const Tensor& input, const Tensor& weight, const Tensor& bias,
                                                   const Tensor& running_mean, const Tensor& running_var,
                                                   const Tensor& num_batches_tracked,
                                                   std::optional<double> momentum, double eps,
                                                   std::optional<Backend> backend = std::nullopt,
                                                   const BatchNormEpilogue& epilogue = {});

// Inference mode: normalises with the running statistics.
BatchNormForwardResult batch_norm_forward_inference(const Tensor& input, const Tensor& weight, const Tensor& bias,
                                                    const Tensor& running_mean, const Tensor& running_var,
                                                    double eps, std::optional<Backend> backend = std::nullopt,
                                                    const BatchNormEpilogue& epilogue = {});

struct BatchNormBackwardResult {
  Tensor grad_input;
  Tensor grad_weight;  // undefined when weight is undefined (affine=False)
  Tensor grad_bias;
  Tensor grad_residual;  // defined for a fused backward with BatchNormBackwardEpilogue::residual
};

// Gradients for a forward that produced save_mean/save_invstd. training=true differentiates through the batch
// statistics; training=false treats them as constants (the inference forward). eps is the forward's.
BatchNormBackwardResult batch_norm_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight,
                                            const Tensor& save_mean, const Tensor& save_invstd, bool training,
                                            double eps, std::optional<Backend> backend = std::nullopt,
                                            const BatchNormBackwardEpilogue& epilogue = {});

// SyncBatchNorm, training mode: every rank of `group` calls with its share of the global batch (shares may differ in
// size, empty ones included) and normalises with the global batch's statistics. Each rank's per-channel count, mean
// and sum of squared deviations travel by one all_gather and are merged in a fixed order, so every rank computes the
// same bits; the running statistics (updated on every rank alike) get the global unbiased variance. One rank gives
// batch_norm_forward_training's bits (on the CPU for float32 input; on CUDA for any). Input float32, float16 or
// bfloat16 in any memory format; weight, bias and running statistics float32; every operand on the input's device.
//  * CPU: states in float64 merged in rank order (Chan); 16-bit and channels-last input computed in float32, the
//    output rounded once to the input's dtype and format.
//  * CUDA: the custom kernels' stages on the device's current stream, float32 states (each shifted by a channel's
//    first local element, so data far from zero merge exactly as the single-device kernels reduce), merged on the
//    device; 16-bit and channels-last input as the kernels take it. The host waits for the group only where this
//    rank's share has at most one value per channel (to refuse a group-wide count of one before anything changes).
BatchNormForwardResult sync_batch_norm_forward(const Tensor& input, const Tensor& weight, const Tensor& bias,
                                               const Tensor& running_mean, const Tensor& running_var,
                                               const Tensor& num_batches_tracked, std::optional<double> momentum,
                                               double eps, dist::ProcessGroup& group,
                                               const BatchNormEpilogue& epilogue = {});

// Its backward: the per-channel sums of dy and dy * (x - mean) of every rank added (CPU: float64 all_gather, rank
// order; CUDA: float32 all_reduce of the sums and the count, on the device), so grad_input is the global batch's;
// grad_weight and grad_bias are this rank's share (data-parallel training sums or averages them with the other
// gradients). One rank gives batch_norm_backward's bits.
BatchNormBackwardResult sync_batch_norm_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight,
                                                 const Tensor& save_mean, const Tensor& save_invstd,
                                                 dist::ProcessGroup& group,
                                                 const BatchNormBackwardEpilogue& epilogue = {});

}  // namespace normrt::ops
