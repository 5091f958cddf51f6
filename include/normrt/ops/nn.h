// Functional forms of the network layers and losses, on CPU and CUDA tensors. float32, or float16/bfloat16 operands of
// one dtype: computed in float32 (a GEMM accumulates in float32) and each output rounded once to that dtype; the
// losses return float32 loss and gradient (the gradient of logits.float(): a module boundary converts it, see
// nn::Context), and gradient accumulators keep their own dtype. Operands of two floating dtypes are refused. Shape
// errors name both shapes; every argument is checked before anything is computed.
#pragma once
#include <cstdint>
#include <optional>

#include "normrt/ops/activation.h"
#include "normrt/tensor.h"

namespace normrt::ops {

// Softmax / log-softmax over dim 1 of a 2-D (N, C) tensor.
Tensor softmax(const Tensor& input, bool log = false);
Tensor softmax_backward(const Tensor& grad_output, const Tensor& output, bool log = false);
// Over any dimension `dim` (negative counts from the end) of any input, as torch.softmax(x, dim).
Tensor softmax(const Tensor& input, int64_t dim, bool log);
Tensor softmax_backward(const Tensor& grad_output, const Tensor& output, int64_t dim, bool log);

// y = x W^T + b for x (*, in) (any leading dimensions, as PyTorch), W (out, in), b (out) or undefined. CUDA: cuBLAS,
// exact FP32 unless set_allow_tf32(true); CPU: OpenBLAS sgemm.
Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias);
// Returns dX (undefined when need_input_grad is false: its GEMM is skipped); adds dW (and db when grad_bias is
// non-null) into *grad_weight / *grad_bias, creating them if undefined.
Tensor linear_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight, Tensor* grad_weight,
                       Tensor* grad_bias, bool need_input_grad = true);
// Like torch.backends.cuda.matmul.allow_tf32 (default false).
void set_allow_tf32(bool allow);
bool allow_tf32();

// Inverted dropout with the mask of Philox block stream (seed, offset): identical on every device. The backward
// is the same call on the gradient.
Tensor dropout(const Tensor& input, double p, uint64_t seed, uint64_t offset);
// The same with the offset read on the device from `device_offset` (one int64 on the input's CUDA device), so that a
// CUDA graph that captured the call replays it at the offset of the moment.
Tensor dropout(const Tensor& input, double p, uint64_t seed, uint64_t offset, const Tensor& device_offset);
// CPU: the same forward, also returning the mask as the factor each element was multiplied by (1 / (1 - p) or 0), and
// the backward from that mask (the same bits as regenerating it, without the Philox work).
struct DropoutResult {
  Tensor output, mask;
};
DropoutResult dropout_with_mask(const Tensor& input, double p, uint64_t seed, uint64_t offset);
Tensor dropout_backward(const Tensor& grad_output, const Tensor& mask);

// None (PyTorch's reduction='none'): the loss of each element (each sample of a class loss, each position of a
// spatial one, each element of an elementwise one), and as the gradient each element's own, which is also the
// gradient of their sum: scale a sample's gradient by its weight for a weighted loss (focal losses, hard-example
// mining).
enum class Reduction { Mean, Sum, None };

struct LossResult {
  Tensor loss;        // 0-dim (or unreduced), on the input's device: read it (item()) only when needed
  Tensor grad_input;  // d loss / d input
};

// Cross-entropy of logits (N, C) against class indices `targets` (int64, N), or against class probabilities
// (float32, (N, C), as PyTorch accepts since 1.10), with optional label smoothing. As torch.nn.functional's, rows
// whose class-index target is -100 (ignore_index) add nothing and the mean is over the other rows (all ignored: NaN
// loss, zero gradient).
// Targets on the CPU are checked ("Target 12 is out of bounds.") and copied to the logits' device; targets already on a
// GPU are not checked (a bad one gives a NaN loss and gradient row). As PyTorch's, a target of the input's shape holds
// class probabilities and any other class indices, and label smoothing above 1 is refused while at or below 0 it is
// none. Bad arguments are refused in PyTorch 1.13's words and order (F.cross_entropy's, F.nll_loss's).
LossResult cross_entropy(const Tensor& logits, const Tensor& targets, Reduction reduction = Reduction::Mean,
                         double label_smoothing = 0.0);
// With options: ignore_index another class index than -100, or none (std::nullopt: every target must be a class;
// class probabilities take a negative one as none). With weight, PyTorch's per-class rescaling: a row counts
// w[target] times, and the mean divides by the counted rows' sum of w[target] (class probabilities: each class's
// term times w_c, the mean over the rows); computed as log_softmax then nll_loss, and combined with label smoothing
// as PyTorch combines them (the smoothing term weighted and averaged like the rest).
struct CrossEntropyOptions {
  Reduction reduction = Reduction::Mean;
  double label_smoothing = 0.0;
  std::optional<int64_t> ignore_index = -100;
  Tensor weight;  // undefined, or (C) floating, on the input's device
};
LossResult cross_entropy(const Tensor& logits, const Tensor& targets, const CrossEntropyOptions& options);
// Negative log-likelihood of log-probabilities (N, C) against int64 class indices (N), with ignore_index and the
// class weight as above. CPU targets are range-checked; a bad target already on a GPU gives a NaN loss.
LossResult nll_loss(const Tensor& log_probs, const Tensor& targets, Reduction reduction = Reduction::Mean,
                    int64_t ignore_index = -100, const Tensor& weight = Tensor());
// (x - t)^2 elementwise, in PyTorch's float arithmetic: one of the elementwise losses of ops/pointwise_loss.h.
LossResult mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
// torch.nn.functional.binary_cross_entropy_with_logits: logits and float targets of one shape, computed stably.
LossResult binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                            Reduction reduction = Reduction::Mean);

// Number of rows whose first maximal logit is at the target (int64, 0-dim, on the logits' device).
Tensor count_correct(const Tensor& logits, const Tensor& targets);

// a += alpha * b elementwise (same shape and device).
void add_scaled_(Tensor& a, const Tensor& b, double alpha);

}  // namespace normrt::ops
