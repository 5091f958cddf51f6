// normrt::ops elementwise losses: argument checks (PyTorch's wording), the CPU loop and dispatch to
// kernels/pointwise_loss.cu; both run pointwise_loss_math.cuh per element. The reduction is deterministic: on the CPU
// fused into the loop (double lanes per fixed block), on a GPU CUB's fixed-order sum of the stored losses.
#include "normrt/ops/pointwise_loss.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include "cpu_threads.h"
#include "line_lanes.h"
#include "cuda_launch.h"
#include "normrt/cuda.h"
#include "normrt/error.h"
#include "normrt/ops/elementwise.h"
#include "normrt/ops/tensor_ops.h"
#include "nvtx.h"
#include "op_util.h"
#include "pointwise_loss_math.cuh"
#include "wide_vectors.h"
#if NORMRT_WITH_CUDA
#include "pointwise_loss.cuh"
#include "reduce.cuh"
#endif

namespace normrt::ops {

namespace {

using lossmath::PointwiseLoss;
using lossmath::PointwiseLossParams;

// The binary cross-entropy's weight broadcast with the target, as F.binary_cross_entropy's _infer_size(target, weight)
// (PyTorch's words where they do not broadcast): the shape it weighs, or none.
std::optional<Shape> weighted_shape(const Tensor& weight, const Tensor& target) {
  if (!weight.defined()) return std::nullopt;
  util::check_float(weight, "weight");
  util::check_same_device(target, weight);
  return broadcast_shape(target.sizes(), weight.sizes());
}

// The weight as a tensor of the input's shape (an exact copy of each broadcast value), or undefined. PyTorch multiplies
// the losses by the broadcast weight in place, so a weight that broadcasts beyond them is refused in its words (after
// the input's values are checked, as there).
Tensor weight_like(const Tensor& weight, const std::optional<Shape>& shape, const Tensor& input) {
  if (!weight.defined()) return weight;
  NORMRT_CHECK(*shape == input.sizes(), "output with shape ", shape_str(input.sizes()),
               " doesn't match the broadcast shape ", shape_str(*shape));
  return mul(ones(input.sizes(), input.device()), weight);
}

// A target of another shape refused where PyTorch refuses it: binary cross-entropy in its own words; the other losses
// broadcast their operands before anything else (kl_div with the target as the first), refusing shapes that do not
// broadcast in infer_size's words. normrt takes no target of another shape (ops/pointwise_loss.h): run() refuses those
// that do broadcast, in its own words, after the parameters are checked.
void check_broadcast(PointwiseLoss kind, const Tensor& input, const Tensor& target) {
  if (!input.defined() || !target.defined() || input.sizes() == target.sizes()) return;
  NORMRT_CHECK(kind != PointwiseLoss::BinaryCrossEntropy, "Using a target size (", util::torch_size_str(target.sizes()),
               ") that is different to the input size (", util::torch_size_str(input.sizes()),
               ") is deprecated. Please ensure they have the same size.");
  const bool kl = kind == PointwiseLoss::KLDivergence || kind == PointwiseLoss::KLDivergenceLogTarget;
  kl ? broadcast_shape(target.sizes(), input.sizes()) : broadcast_shape(input.sizes(), target.sizes());
}

void check_probabilities(const Tensor& input) {
  if (!input.device().is_cpu()) return;
  const float* x = input.data<float>();
  const int64_t n = input.numel();
  bool inside = true;
  for (int64_t i = 0; i < n; ++i) inside &= x[i] >= 0.0f && x[i] <= 1.0f;  // NaN is outside
  NORMRT_CHECK(inside, "all elements of input should be between 0 and 1");
}

NORMRT_WIDE_VECTORS_BEGIN
// Each element's loss and gradient over [begin, end): the loss into `losses` (offset by begin), the gradient into
// grad. One branch-free, vectorised loop per kind and weighting.
template <PointwiseLoss K, bool kWeighted>
void element_block(const PointwiseLossParams& p, const float* x, const float* t, const float* w, float* losses,
                   float* grad, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) {
    const float wi = kWeighted ? w[i] : 1.0f;
    losses[i - begin] = lossmath::pointwise_loss_of<K>(p, x[i], t[i], wi);
    grad[i] = lossmath::pointwise_loss_grad_of<K>(p, x[i], t[i], wi);
  }
}

// The losses (into `losses` when not null) and gradients of n elements, and the sum of the losses: in fixed blocks
// of kBlock elements, each summed in line_sum's eight double lanes, the block sums added in order, so the sum does
// not depend on the thread count.
template <PointwiseLoss K>
double cpu_losses_of(const PointwiseLossParams& p, const float* x, const float* t, const float* w, float* losses,
                     float* grad, int64_t n) {
  constexpr int64_t kBlock = 4096;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> block_sums(static_cast<std::size_t>(blocks));
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(n))
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t begin = b * kBlock, end = std::min(n, begin + kBlock), length = end - begin;
    float scratch[kBlock];
    float* out = losses != nullptr ? losses + begin : scratch;
    if (w != nullptr) {
      element_block<K, true>(p, x, t, w, out, grad, begin, end);
    } else {
      element_block<K, false>(p, x, t, w, out, grad, begin, end);
    }
    cpu::LaneSums lanes = {};
    int64_t i = 0;
    for (; i + cpu::kLanes <= length; i += cpu::kLanes) cpu::add_lanes(lanes, out + i);
    double sum = cpu::lanes_total(lanes);
    for (; i < length; ++i) sum += out[i];
    block_sums[static_cast<std::size_t>(b)] = sum;
  }
  double total = 0;
  for (double sum : block_sums) total += sum;
  return total;
}
NORMRT_WIDE_VECTORS_END

double cpu_losses(const PointwiseLossParams& p, const float* x, const float* t, const float* w, float* losses,
                  float* grad, int64_t n) {
  switch (p.kind) {
    case PointwiseLoss::SquaredError: return cpu_losses_of<PointwiseLoss::SquaredError>(p, x, t, w, losses, grad, n);
    case PointwiseLoss::L1: return cpu_losses_of<PointwiseLoss::L1>(p, x, t, w, losses, grad, n);
    case PointwiseLoss::SmoothL1: return cpu_losses_of<PointwiseLoss::SmoothL1>(p, x, t, w, losses, grad, n);
    case PointwiseLoss::Huber: return cpu_losses_of<PointwiseLoss::Huber>(p, x, t, w, losses, grad, n);
    case PointwiseLoss::BinaryCrossEntropy:
      return cpu_losses_of<PointwiseLoss::BinaryCrossEntropy>(p, x, t, w, losses, grad, n);
    case PointwiseLoss::KLDivergence: return cpu_losses_of<PointwiseLoss::KLDivergence>(p, x, t, w, losses, grad, n);
    case PointwiseLoss::KLDivergenceLogTarget:
      return cpu_losses_of<PointwiseLoss::KLDivergenceLogTarget>(p, x, t, w, losses, grad, n);
  }
  return 0.0;
}

// average_over: what a mean divides by, the number of elements unless given (the KL divergence's batch mean: N).
LossResult run(const char* op, PointwiseLossParams p, const Tensor& given_input, const Tensor& given_target,
               const Tensor& given_weight, Reduction reduction, std::optional<int64_t> average_over = std::nullopt) {
  const detail::NvtxRange range(op);
  if (util::reduced_dtype(op, {&given_input, &given_target, &given_weight}))
    return run(op, p, util::widened(given_input), util::widened(given_target), util::widened(given_weight),
               reduction, average_over);
  util::check_float(given_input, "input");
  util::check_float(given_target, "target");
  check_broadcast(p.kind, given_input, given_target);
  util::check_same_shape(given_input, "input", given_target, "target");
  util::check_same_device(given_input, given_target);
  const std::optional<Shape> weighted = weighted_shape(given_weight, given_target);
  // Elementwise: logical order, a contiguous gradient.
  const Tensor input = given_input.contiguous(), target = given_target.contiguous();
  if (p.kind == PointwiseLoss::BinaryCrossEntropy) check_probabilities(input);
  const Tensor weight = weight_like(given_weight, weighted, input);
  const int64_t n = input.numel(), count = average_over.value_or(n);
  const Device device = input.device();
  const bool mean_reduction = reduction == Reduction::Mean;
  const double factor = p.kind == PointwiseLoss::SquaredError ? 2.0 : 1.0;  // d(x - t)^2 / dx = 2 (x - t)
  p.norm = static_cast<float>(mean_reduction ? factor / static_cast<double>(count) : factor);
  p.divisor = mean_reduction ? static_cast<float>(count) : 1.0f;
  Tensor losses = device.is_cuda() || reduction == Reduction::None ? empty({n}, device) : Tensor();
  LossResult result{Tensor(), empty(input.sizes(), device)};
  const float *x = input.data<float>(), *t = target.data<float>();
  const float* w = weight.defined() ? weight.data<float>() : nullptr;
  float *loss = losses.defined() ? losses.data<float>() : nullptr, *grad = result.grad_input.data<float>();
  if (reduction == Reduction::None) result.loss = losses.reshape(input.sizes());
  if (device.is_cuda()) {
#if NORMRT_WITH_CUDA
    const util::Launch l(input);
    cuda::pointwise_loss(p, x, t, w, loss, grad, n, l.sms, l.stream);
    if (reduction != Reduction::None) {
      result.loss = n == 0 ? zeros({}, device) : empty({}, device);
      if (n > 0) normrt::cuda::sum(loss, result.loss.data<float>(), n, l.stream);
      if (mean_reduction) result.loss = result.loss / static_cast<double>(count);  // 0 / 0: NaN, as PyTorch's
    }
#else
    util::no_cuda(op);
#endif
    return result;
  }
  const double total = cpu_losses(p, x, t, w, reduction == Reduction::None ? loss : nullptr, grad, n);
  if (reduction != Reduction::None)
    result.loss = detail::wrapped_number(mean_reduction ? total / static_cast<double>(count) : total, DType::Float32,
                                         device);  // 0 / 0: NaN; a sum past float32's largest: inf
  return result;
}

PointwiseLossParams params(PointwiseLoss kind, double parameter = 0.0) {
  PointwiseLossParams p;
  p.kind = kind;
  p.parameter = static_cast<float>(parameter);
  return p;
}

}  // namespace

LossResult mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  return run("mse_loss", params(PointwiseLoss::SquaredError), input, target, Tensor(), reduction);
}

LossResult l1_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  return run("l1_loss", params(PointwiseLoss::L1), input, target, Tensor(), reduction);
}

LossResult smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction, double beta) {
  check_broadcast(PointwiseLoss::SmoothL1, input, target);  // PyTorch broadcasts before it checks beta
  NORMRT_CHECK(!(beta < 0), "smooth_l1_loss does not support negative values for beta.");
  NORMRT_CHECK(std::isfinite(beta), "smooth_l1_loss: beta must be finite, got ", beta);
  return run("smooth_l1_loss", params(PointwiseLoss::SmoothL1, beta), input, target, Tensor(), reduction);
}

LossResult huber_loss(const Tensor& input, const Tensor& target, Reduction reduction, double delta) {
  check_broadcast(PointwiseLoss::Huber, input, target);  // as smooth_l1_loss
  NORMRT_CHECK(delta > 0, "huber_loss does not support non-positive values for delta.");
  NORMRT_CHECK(std::isfinite(delta), "huber_loss: delta must be finite, got ", delta);
  return run("huber_loss", params(PointwiseLoss::Huber, delta), input, target, Tensor(), reduction);
}

LossResult binary_cross_entropy(const Tensor& input, const Tensor& target, Reduction reduction, const Tensor& weight) {
  return run("binary_cross_entropy", params(PointwiseLoss::BinaryCrossEntropy), input, target, weight, reduction);
}

LossResult kl_div(const Tensor& input, const Tensor& target, KLDivReduction reduction, bool log_target) {
  const PointwiseLossParams p = params(log_target ? PointwiseLoss::KLDivergenceLogTarget : PointwiseLoss::KLDivergence);
  switch (reduction) {
    case KLDivReduction::None: return run("kl_div", p, input, target, Tensor(), Reduction::None);
    case KLDivReduction::Sum: return run("kl_div", p, input, target, Tensor(), Reduction::Sum);
    case KLDivReduction::Mean: return run("kl_div", p, input, target, Tensor(), Reduction::Mean);
    case KLDivReduction::BatchMean: break;
  }
  NORMRT_CHECK(input.defined(), "kl_div: input is undefined");
  // F.kl_div's 'batchmean': the sum over the batch size, input.size(0) (a 0-dim input's sum alone).
  return run("kl_div", p, input, target, Tensor(), Reduction::Mean, input.dim() == 0 ? 1 : input.size(0));
}

}  // namespace normrt::ops
