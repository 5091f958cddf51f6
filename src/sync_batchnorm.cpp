// SyncBatchNorm (ops::sync_batch_norm_forward / _backward): the CPU backend's stages (src/batchnorm_cpu.cpp) around
// one all_gather each way. What travels is per channel and float64, as the CPU backend accumulates: the forward's
// count, means and sums of squared deviations, the backward's count and two sums. Normrt tensors have no float64, so
// the values travel as their bits in an int64 tensor (all_gather copies bytes). Every rank merges the gathered rows
// in rank order, so all ranks hold the same bits; with one rank the merge is exact and the results are those of
// batch_norm_forward_training / batch_norm_backward.
#include <cmath>
#include <cstring>
#include <vector>

#include "batchnorm_backend.h"
#include "bn_math.cuh"
#include "normrt/dist.h"
#include "normrt/error.h"
#include "normrt/ops/batchnorm.h"

namespace normrt::ops {

namespace {

using bn::geometry_of;

// Per-element operands (input, gradients, residual) may be 16-bit and channels-last: the stages run on a float32
// contiguous copy and results go back to the input's dtype (rounded once) and memory format. Per-channel ones
// (weight, bias, running and saved statistics) are float32, as PyTorch's mixed-precision rule has them.
void check_operand(const Tensor& t, const char* op, const char* name, bool per_element) {
  NORMRT_CHECK(t.defined(), op, ": ", name, " is undefined");
  NORMRT_CHECK(t.device().is_cpu(), op, ": ", name, " is on ", t.device().str(),
               "; SyncBatchNorm runs on CPU tensors so far");
  const bool floating = t.dtype() == DType::Float32 || t.dtype() == DType::Float16 || t.dtype() == DType::BFloat16;
  NORMRT_CHECK(per_element ? floating : t.dtype() == DType::Float32, op, ": ", name, " must be ",
               per_element ? "float32, float16 or bfloat16" : "float32", ", got ", dtype_name(t.dtype()));
}

Tensor working(const Tensor& t) {
  return t.dtype() == DType::Float32 ? t.contiguous() : t.to(DType::Float32).contiguous();
}

Tensor like_input(const Tensor& result, const Tensor& input) {
  return result.to(input.dtype()).to(input.memory_format());
}

void check_input(const Tensor& input, const char* op) {
  check_operand(input, op, "input", true);
  NORMRT_CHECK(input.dim() >= 2, op, ": expected at least 2D input (got ", input.dim(), "D input)");
}

void check_channel_vector(const Tensor& t, const char* op, const char* name, int64_t channels, bool optional) {
  if (!t.defined()) {
    NORMRT_CHECK(optional, op, ": ", name, " is required but undefined");
    return;
  }
  check_operand(t, op, name, false);
  NORMRT_CHECK(t.numel() == channels, name, " should contain ", channels, " elements not ", t.numel());
}

const float* optional_data(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }

// The running statistics and the counter are updated in place (the caller's tensors, shared storage).
template <typename T>
T* updated_in_place(const Tensor& t) {
  return static_cast<T*>(t.raw_data());
}

// values as one int64 row of their bits; row r of a gathered [ranks, n] tensor back as doubles.
Tensor as_bits(const std::vector<double>& values) {
  std::vector<int64_t> bits(values.size());
  std::memcpy(bits.data(), values.data(), values.size() * sizeof(double));
  return from_vector(bits, {static_cast<int64_t>(bits.size())});
}

std::vector<std::vector<double>> rows_of(const Tensor& gathered) {
  const std::vector<int64_t> bits = gathered.to_vector<int64_t>();
  const std::size_t ranks = static_cast<std::size_t>(gathered.size(0)), n = bits.size() / ranks;
  std::vector<std::vector<double>> rows(ranks, std::vector<double>(n));
  for (std::size_t r = 0; r < ranks; ++r) std::memcpy(rows[r].data(), bits.data() + r * n, n * sizeof(double));
  return rows;
}

}  // namespace

BatchNormForwardResult sync_batch_norm_forward(const Tensor& input, const Tensor& weight, const Tensor& bias,
                                               const Tensor& running_mean, const Tensor& running_var,
                                               const Tensor& num_batches_tracked, std::optional<double> momentum,
                                               double eps, dist::ProcessGroup& group,
                                               const BatchNormEpilogue& epilogue) {
  constexpr const char* op = "sync_batch_norm_forward";
  check_input(input, op);
  const Tensor x = working(input);
  const bn::Geometry g = geometry_of(x);
  if (epilogue.residual.defined()) {
    check_operand(epilogue.residual, op, "residual", true);
    NORMRT_CHECK(epilogue.residual.sizes() == input.sizes(), op, ": residual ", shape_str(epilogue.residual.sizes()),
                 " does not match input ", shape_str(input.sizes()));
  }
  check_channel_vector(weight, op, "weight", g.C, true);
  check_channel_vector(bias, op, "bias", g.C, true);
  check_channel_vector(running_mean, op, "running_mean", g.C, true);
  check_channel_vector(running_var, op, "running_var", g.C, true);
  NORMRT_CHECK(running_mean.defined() == running_var.defined(),
               "running_mean and running_var must be both defined or both undefined");
  if (num_batches_tracked.defined()) {
    NORMRT_CHECK(num_batches_tracked.device().is_cpu() && num_batches_tracked.dtype() == DType::Int64 &&
                     num_batches_tracked.numel() == 1,
                 "num_batches_tracked must be a one-element int64 CPU tensor");
  }
  NORMRT_CHECK(momentum.has_value() || !running_mean.defined() || num_batches_tracked.defined(),
               "momentum=None (cumulative moving average) needs num_batches_tracked");
  NORMRT_CHECK(!momentum.has_value() || std::isfinite(*momentum), "momentum must be finite, got ", *momentum);
  NORMRT_CHECK(std::isfinite(eps) && eps >= 0, "eps must be a non-negative finite number, got ", eps);

  const int64_t C = g.C;
  std::vector<double> local(static_cast<std::size_t>(1 + 2 * C));
  local[0] = static_cast<double>(g.per_channel());
  bn::cpu_local_statistics(x.data<float>(), g, local.data() + 1, local.data() + 1 + C);
  std::vector<bn::Welford<double>> total(static_cast<std::size_t>(C));
  double count = 0;
  for (const std::vector<double>& row : rows_of(group.all_gather(as_bits(local)))) {
    count += row[0];
    for (int64_t c = 0; c < C; ++c) total[c] = bn::welford_merge(total[c], {row[1 + c], row[1 + C + c], row[0]});
  }
  NORMRT_CHECK(count != 1, "Expected more than 1 value per channel when training, got input size ",
               shape_str(input.sizes()), " on rank ", group.rank(), " and 1 value per channel over the ",
               group.size(), " ranks");

  // Nothing has changed so far: from here on nothing throws.
  int64_t* batches = num_batches_tracked.defined() ? updated_in_place<int64_t>(num_batches_tracked) : nullptr;
  if (batches != nullptr) *batches += 1;
  BatchNormForwardResult result{empty(input.sizes()), empty({C}), empty({C})};
  float *save_mean = result.save_mean.data<float>(), *save_invstd = result.save_invstd.data<float>();
  if (count == 0) {  // every rank's share is empty: statistics of nothing, as batch_norm_forward_training's
    std::fill(save_mean, save_mean + C, 0.0f);
    std::fill(save_invstd, save_invstd + C, 0.0f);
    return result;
  }
  const double factor = bn::running_factor(!momentum.has_value(), momentum.value_or(0.0), batches ? *batches : 0);
  for (int64_t c = 0; c < C; ++c) {
    save_mean[c] = static_cast<float>(total[c].mean);
    save_invstd[c] = static_cast<float>(bn::invstd_from_var(total[c].m2 / count, eps));
    if (!running_mean.defined()) continue;
    float *rm = updated_in_place<float>(running_mean), *rv = updated_in_place<float>(running_var);
    rm[c] = static_cast<float>(bn::running_update<double>(rm[c], total[c].mean, factor));
    rv[c] = static_cast<float>(bn::running_update<double>(rv[c], bn::unbiased_var(total[c].m2, count), factor));
  }
  for (const Tensor* updated : {&running_mean, &running_var, &num_batches_tracked})
    if (updated->defined()) updated->bump_version();
  if (input.numel() > 0) {
    const Tensor residual = epilogue.residual.defined() ? working(epilogue.residual) : Tensor();
    bn::cpu_normalize(x.data<float>(), g, save_mean, save_invstd, optional_data(weight), optional_data(bias),
                      optional_data(residual), epilogue.relu, result.output.data<float>());
  }
  result.output = like_input(result.output, input);
  return result;
}

BatchNormBackwardResult sync_batch_norm_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight,
                                                 const Tensor& save_mean, const Tensor& save_invstd,
                                                 dist::ProcessGroup& group,
                                                 const BatchNormBackwardEpilogue& epilogue) {
  constexpr const char* op = "sync_batch_norm_backward";
  check_input(input, op);
  check_operand(grad_output, op, "grad_output", true);
  NORMRT_CHECK(grad_output.sizes() == input.sizes(), op, ": grad_output ", shape_str(grad_output.sizes()),
               " does not match input ", shape_str(input.sizes()));
  // Past a fused ReLU the gradient is dy where the forward's output is positive; the residual's gradient is that.
  Tensor masked = working(grad_output);
  if (epilogue.relu_output.defined()) {
    check_operand(epilogue.relu_output, op, "relu_output", true);
    NORMRT_CHECK(epilogue.relu_output.sizes() == input.sizes(), op, ": relu_output ",
                 shape_str(epilogue.relu_output.sizes()), " does not match input ", shape_str(input.sizes()));
    Tensor passed = empty(input.sizes());
    bn::cpu_relu_gradient(masked.data<float>(), working(epilogue.relu_output).data<float>(), passed.data<float>(),
                          input.numel());
    masked = passed;
  }
  const Tensor x_working = working(input);
  const bn::Geometry g = geometry_of(x_working);
  const int64_t C = g.C;
  check_channel_vector(weight, op, "weight", C, true);
  check_channel_vector(save_mean, op, "save_mean", C, false);
  check_channel_vector(save_invstd, op, "save_invstd", C, false);

  const float *dy = masked.data<float>(), *x = x_working.data<float>(), *mean = save_mean.data<float>(),
              *invstd = save_invstd.data<float>();
  std::vector<double> local(static_cast<std::size_t>(1 + 2 * C));
  local[0] = static_cast<double>(g.per_channel());
  bn::cpu_local_gradient_sums(dy, x, mean, g, local.data() + 1, local.data() + 1 + C);
  std::vector<double> total(local.size(), 0.0);
  for (const std::vector<double>& row : rows_of(group.all_gather(as_bits(local))))
    for (std::size_t i = 0; i < row.size(); ++i) total[i] += row[i];

  BatchNormBackwardResult result;
  result.grad_input = empty(input.sizes());
  if (epilogue.residual) result.grad_residual = like_input(masked, input);
  if (weight.defined()) {
    result.grad_weight = empty({C});
    result.grad_bias = empty({C});
    for (int64_t c = 0; c < C; ++c) {
      result.grad_weight.data<float>()[c] = static_cast<float>(local[1 + C + c] * invstd[c]);
      result.grad_bias.data<float>()[c] = static_cast<float>(local[1 + c]);
    }
  }
  if (input.numel() > 0)
    bn::cpu_input_gradient(dy, x, g, mean, invstd, optional_data(weight), total.data() + 1, total.data() + 1 + C,
                           total[0], result.grad_input.data<float>());
  result.grad_input = like_input(result.grad_input, input);
  return result;
}

}  // namespace normrt::ops
