// SyncBatchNorm (ops::sync_batch_norm_forward / _backward): a training step cut where the ranks exchange
// per-channel values, one all_gather forward and one all-reduce (CUDA) or all_gather (CPU) backward.
//  * CPU tensors: the CPU backend's stages (src/batchnorm_cpu.cpp), on the elements as they are (16-bit and
//    channels-last too). What travels is float64, as the CPU backend accumulates: the forward's count, means and
//    sums of squared deviations, the backward's count and two sums.
//    Normrt tensors have no float64, so the values travel as their bits in an int64 tensor (all_gather copies
//    bytes). Every rank merges the gathered rows in rank order, so all ranks hold the same bits; with one rank the
//    merge is exact and the results are those of batch_norm_forward_training / batch_norm_backward.
//  * CUDA tensors: the custom kernels' stages (the sync_* launchers of kernels/batchnorm.cuh), on device tensors
//    that the group exchanges on the device's stream; float32 states, merged on the device in a fixed order.
//    16-bit and channels-last input as the kernels take them, no copies.
#include <cmath>
#include <cstring>
#include <vector>

#include "batchnorm_backend.h"
#include "op_util.h"
#include "bn_math.cuh"
#include "normrt/dist.h"
#include "normrt/error.h"
#include "normrt/ops/batchnorm.h"

#if NORMRT_WITH_CUDA
#include "batchnorm.cuh"
#endif

namespace normrt::ops {

namespace {

using bn::geometry_of;

// Per-element operands (input, gradients, residual) may be 16-bit and channels-last: the stages take them in the
// input's dtype and memory format, and results are in those (rounded once). Per-channel ones (weight, bias, running
// and saved statistics) are float32, as PyTorch's mixed-precision rule has them. Every operand is on the input's
// device.
void check_operand(const Tensor& t, const Tensor& input, const char* op, const char* name, bool per_element) {
  NORMRT_CHECK(t.defined(), op, ": ", name, " is undefined");
  NORMRT_CHECK(t.device() == input.device(), op, ": ", name, " is on ", t.device().str(), ", the input on ",
               input.device().str());
  const bool floating = t.dtype() == DType::Float32 || t.dtype() == DType::Float16 || t.dtype() == DType::BFloat16;
  NORMRT_CHECK(per_element ? floating : t.dtype() == DType::Float32, op, ": ", name, " must be ",
               per_element ? "float32, float16 or bfloat16" : "float32", ", got ", dtype_name(t.dtype()));
}

// An operand or result of the input's shape in the input's dtype and memory format.
Tensor as_input(const Tensor& t, const Tensor& input) { return t.to(input.dtype()).to(input.memory_format()); }

void check_input(const Tensor& input, const char* op) {
  check_operand(input, input, op, "input", true);
  NORMRT_CHECK(input.dim() >= 2, op, ": expected at least 2D input (got ", input.dim(), "D input)");
}

void check_channel_vector(const Tensor& t, const Tensor& input, const char* op, const char* name, int64_t channels,
                          bool optional) {
  if (!t.defined()) {
    NORMRT_CHECK(optional, op, ": ", name, " is required but undefined");
    return;
  }
  check_operand(t, input, op, name, false);
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

// The forward's arguments, checked alike for both devices.
struct ForwardArguments {
  const Tensor &input, &weight, &bias, &running_mean, &running_var, &num_batches_tracked;
  std::optional<double> momentum;
  double eps;
  const BatchNormEpilogue& epilogue;
};

void check_forward(const ForwardArguments& a, int64_t channels, const char* op) {
  if (a.epilogue.residual.defined()) {
    check_operand(a.epilogue.residual, a.input, op, "residual", true);
    NORMRT_CHECK(a.epilogue.residual.sizes() == a.input.sizes(), op, ": residual ",
                 shape_str(a.epilogue.residual.sizes()), " does not match input ", shape_str(a.input.sizes()));
  }
  check_channel_vector(a.weight, a.input, op, "weight", channels, true);
  check_channel_vector(a.bias, a.input, op, "bias", channels, true);
  check_channel_vector(a.running_mean, a.input, op, "running_mean", channels, true);
  check_channel_vector(a.running_var, a.input, op, "running_var", channels, true);
  NORMRT_CHECK(a.running_mean.defined() == a.running_var.defined(),
               "running_mean and running_var must be both defined or both undefined");
  if (a.num_batches_tracked.defined()) {
    NORMRT_CHECK(a.num_batches_tracked.device() == a.input.device() && a.num_batches_tracked.dtype() == DType::Int64 &&
                     a.num_batches_tracked.numel() == 1,
                 "num_batches_tracked must be a one-element int64 tensor on the input's device");
  }
  NORMRT_CHECK(a.momentum.has_value() || !a.running_mean.defined() || a.num_batches_tracked.defined(),
               "momentum=None (cumulative moving average) needs num_batches_tracked");
  NORMRT_CHECK(!a.momentum.has_value() || std::isfinite(*a.momentum), "momentum must be finite, got ", *a.momentum);
  NORMRT_CHECK(std::isfinite(a.eps) && a.eps >= 0, "eps must be a non-negative finite number, got ", a.eps);
}

// The refusal of a batch with one value per channel over the whole group, before anything changes.
void check_global_count(double count, const Tensor& input, const dist::ProcessGroup& group) {
  NORMRT_CHECK(count != 1, "Expected more than 1 value per channel when training, got input size ",
               ops::util::torch_size_str(input.sizes()), " on rank ", group.rank(),
               " and 1 value per channel over the ", group.size(), " ranks");
}

void bump_running_statistics(const ForwardArguments& a) {
  for (const Tensor* updated : {&a.running_mean, &a.running_var, &a.num_batches_tracked})
    if (updated->defined()) updated->bump_version();
}

BatchNormForwardResult cpu_sync_forward(const ForwardArguments& a, dist::ProcessGroup& group) {
  const Tensor& input = a.input;
  const bn::Geometry g = geometry_of(input);
  const int64_t C = g.C;
  std::vector<double> local(static_cast<std::size_t>(1 + 2 * C));
  local[0] = static_cast<double>(g.per_channel());
  util::dispatch_element(input.dtype(), [&](auto element) {
    using T = decltype(element);
    bn::cpu_local_statistics(bn::typed<const T>(input), g, local.data() + 1, local.data() + 1 + C);
  });
  std::vector<bn::Welford<double>> total(static_cast<std::size_t>(C));
  double count = 0;
  for (const std::vector<double>& row : rows_of(group.all_gather(as_bits(local)))) {
    count += row[0];
    for (int64_t c = 0; c < C; ++c) total[c] = bn::welford_merge(total[c], {row[1 + c], row[1 + C + c], row[0]});
  }
  check_global_count(count, input, group);

  // Nothing has changed so far: from here on nothing throws.
  int64_t* batches = a.num_batches_tracked.defined() ? updated_in_place<int64_t>(a.num_batches_tracked) : nullptr;
  if (batches != nullptr) *batches += 1;
  BatchNormForwardResult result{bn::like_input(input, input.dtype()), empty({C}), empty({C}), Tensor(), Tensor()};
  float *save_mean = result.save_mean.data<float>(), *save_invstd = result.save_invstd.data<float>();
  if (count == 0) {  // every rank's share is empty: statistics of nothing, as batch_norm_forward_training's
    std::fill(save_mean, save_mean + C, 0.0f);
    std::fill(save_invstd, save_invstd + C, 0.0f);
    return result;
  }
  const double factor = bn::running_factor(!a.momentum.has_value(), a.momentum.value_or(0.0), batches ? *batches : 0);
  result.save_mean_low = empty({C});  // compensated centering, as BatchNorm's (bn_math.cuh)
  float* mean_low = result.save_mean_low.data<float>();
  for (int64_t c = 0; c < C; ++c) {
    save_mean[c] = static_cast<float>(total[c].mean);
    mean_low[c] = static_cast<float>(total[c].mean - static_cast<double>(save_mean[c]));
    save_invstd[c] = static_cast<float>(bn::invstd_from_var(total[c].m2 / count, a.eps));
    if (!a.running_mean.defined()) continue;
    float *rm = updated_in_place<float>(a.running_mean), *rv = updated_in_place<float>(a.running_var);
    rm[c] = static_cast<float>(bn::running_update<double>(rm[c], total[c].mean, factor));
    rv[c] = static_cast<float>(bn::running_update<double>(rv[c], bn::unbiased_var(total[c].m2, count), factor));
  }
  bump_running_statistics(a);
  if (input.numel() == 0) return result;
  const Tensor residual = a.epilogue.residual.defined() ? as_input(a.epilogue.residual, input) : Tensor();
  util::dispatch_element(input.dtype(), [&](auto element) {
    using T = decltype(element);
    bn::cpu_normalize(bn::typed<const T>(input), g, save_mean, mean_low, save_invstd,
                      optional_data(a.weight), optional_data(a.bias), bn::typed<const T>(residual), a.epilogue.relu,
                      bn::typed<T>(result.output));
  });
  return result;
}

BatchNormBackwardResult cpu_sync_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight,
                                          const Tensor& save_mean, const Tensor& save_invstd,
                                          dist::ProcessGroup& group, const BatchNormBackwardEpilogue& epilogue) {
  const bn::Geometry g = geometry_of(input);
  const int64_t C = g.C;
  // Past a fused ReLU the gradient is dy where the forward's output is positive. The stages mask dy as they read it;
  // the residual's gradient is that masked dy, written first as a pass of its own.
  Tensor dy = as_input(grad_output, input);
  Tensor relu_output = epilogue.relu_output.defined() ? as_input(epilogue.relu_output, input) : Tensor();
  BatchNormBackwardResult result;
  result.grad_input = bn::like_input(input, input.dtype());
  if (weight.defined()) {
    result.grad_weight = empty({C});
    result.grad_bias = empty({C});
  }
  const float *mean = save_mean.data<float>(), *invstd = save_invstd.data<float>();
  std::vector<double> local(static_cast<std::size_t>(1 + 2 * C));
  local[0] = static_cast<double>(g.per_channel());
  util::dispatch_element(input.dtype(), [&](auto element) {
    using T = decltype(element);
    if (relu_output.defined() && epilogue.residual) {
      Tensor passed = bn::like_input(input, input.dtype());
      bn::cpu_relu_gradient(bn::typed<const T>(dy), bn::typed<const T>(relu_output), bn::typed<T>(passed),
                            input.numel());
      dy = passed;
      relu_output = Tensor();
    }
    bn::cpu_local_gradient_sums(bn::typed<const T>(dy), bn::typed<const T>(relu_output), bn::typed<const T>(input),
                                mean, g, local.data() + 1, local.data() + 1 + C);
  });
  std::vector<double> total(local.size(), 0.0);
  for (const std::vector<double>& row : rows_of(group.all_gather(as_bits(local))))
    for (std::size_t i = 0; i < row.size(); ++i) total[i] += row[i];
  // Centred on the global mean itself where the forward kept its low part, as BatchNorm's backward.
  const float* mean_low = epilogue.mean_low.defined() ? epilogue.mean_low.data<float>() : nullptr;
  if (mean_low != nullptr) {
    for (int64_t c = 0; c < C; ++c) {
      for (std::vector<double>* sums : {&local, &total}) {
        (*sums)[1 + C + c] = bn::compensated_dy_xmu((*sums)[1 + c], (*sums)[1 + C + c], double{mean_low[c]});
      }
    }
  }

  if (epilogue.residual) result.grad_residual = dy;
  if (weight.defined()) {
    for (int64_t c = 0; c < C; ++c) {
      result.grad_weight.data<float>()[c] = static_cast<float>(local[1 + C + c] * invstd[c]);
      result.grad_bias.data<float>()[c] = static_cast<float>(local[1 + c]);
    }
  }
  if (input.numel() == 0) return result;
  util::dispatch_element(input.dtype(), [&](auto element) {
    using T = decltype(element);
    bn::cpu_input_gradient(bn::typed<const T>(dy), bn::typed<const T>(relu_output), bn::typed<const T>(input), g,
                           mean, mean_low, invstd, optional_data(weight), total.data() + 1, total.data() + 1 + C,
                           total[0], bn::typed<T>(result.grad_input));
  });
  return result;
}

#if NORMRT_WITH_CUDA
// The forward on the device: local states, one all_gather of them on the device, the merge and normalise. The host
// waits only where a rank's own share cannot rule out a group-wide count of one (shares of at most one value per
// channel): it reads the gathered counts to refuse that before anything changes.
BatchNormForwardResult cuda_sync_forward(const ForwardArguments& a, dist::ProcessGroup& group) {
  const Tensor& input = a.input;
  const Device device = input.device();
  const bn::Geometry g = geometry_of(input);
  const int64_t C = g.C;
  const Tensor residual = a.epilogue.residual.defined() ? as_input(a.epilogue.residual, input) : Tensor();
  BatchNormForwardResult result{bn::like_input(input, input.dtype()), empty({C}, device), empty({C}, device),
                                Tensor(), empty({C}, device)};
  Tensor states = empty({C * bn::cuda::kSyncStateFloats}, device);
  Tensor gathered;
  util::dispatch_element(input.dtype(), [&](auto element) {
    using T = decltype(element);
    bn::ForwardTrainingParamsOf<T> p;
    p.geometry = g;
    p.x = bn::typed<const T>(input);
    bn::cuda_sync_local_statistics(p, states.data<float>(), device);
    gathered = group.all_gather(states);
    if (g.per_channel() <= 1 && C > 0) {
      const std::vector<float> all = gathered.to_vector();
      double count = 0;
      // Channel 0's count of each rank: a state is (mean, m2, count, pivot).
      for (int r = 0; r < group.size(); ++r)
        count += all[static_cast<std::size_t>(r * C * bn::cuda::kSyncStateFloats + 2)];
      check_global_count(count, input, group);
    }
    p.weight = bn::typed<const float>(a.weight);
    p.bias = bn::typed<const float>(a.bias);
    p.y = bn::typed<T>(result.output);
    p.save_mean = result.save_mean.data<float>();
    p.save_invstd = result.save_invstd.data<float>();
    p.save_mean_low = result.save_mean_low.data<float>();
    p.running_mean = bn::typed<float>(a.running_mean);
    p.running_var = bn::typed<float>(a.running_var);
    p.num_batches_tracked = bn::typed<int64_t>(a.num_batches_tracked);
    p.eps = a.eps;
    p.momentum = a.momentum.value_or(0.0);
    p.cumulative_average = !a.momentum.has_value();
    p.residual = bn::typed<const T>(residual);
    p.relu = a.epilogue.relu;
    bn::cuda_sync_forward(p, gathered.data<float>(), group.size(), device);
  });
  bump_running_statistics(a);
  return result;
}

BatchNormBackwardResult cuda_sync_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight,
                                           const Tensor& save_mean, const Tensor& save_invstd,
                                           dist::ProcessGroup& group, const BatchNormBackwardEpilogue& epilogue) {
  const Device device = input.device();
  const bn::Geometry g = geometry_of(input);
  const int64_t C = g.C;
  const Tensor dy = as_input(grad_output, input);
  const Tensor relu_output = epilogue.relu_output.defined() ? as_input(epilogue.relu_output, input) : Tensor();
  BatchNormBackwardResult result;
  result.grad_input = bn::like_input(input, input.dtype());
  if (epilogue.residual) result.grad_residual = bn::like_input(input, input.dtype());
  if (weight.defined()) {
    result.grad_weight = empty({C}, device);
    result.grad_bias = empty({C}, device);
  }
  Tensor sums = empty({2 * C + 1}, device);
  util::dispatch_element(input.dtype(), [&](auto element) {
    using T = decltype(element);
    bn::BackwardParamsOf<T> p;
    p.geometry = g;
    p.dy = bn::typed<const T>(dy);
    p.x = bn::typed<const T>(input);
    p.weight = bn::typed<const float>(weight);
    p.mean = save_mean.data<float>();
    p.invstd = save_invstd.data<float>();
    p.mean_low = bn::typed<const float>(epilogue.mean_low);
    p.dx = bn::typed<T>(result.grad_input);
    p.dweight = bn::typed<float>(result.grad_weight);
    p.dbias = bn::typed<float>(result.grad_bias);
    p.relu_output = bn::typed<const T>(relu_output);
    p.grad_residual = bn::typed<T>(result.grad_residual);
    p.training = true;
    bn::cuda_sync_local_gradient_sums(p, sums.data<float>(), device);
    group.all_reduce(sums);
    bn::cuda_sync_backward(p, sums.data<float>(), device);
  });
  return result;
}
#endif

}  // namespace

BatchNormForwardResult sync_batch_norm_forward(const Tensor& input, const Tensor& weight, const Tensor& bias,
                                               const Tensor& running_mean, const Tensor& running_var,
                                               const Tensor& num_batches_tracked, std::optional<double> momentum,
                                               double eps, dist::ProcessGroup& group,
                                               const BatchNormEpilogue& epilogue) {
  constexpr const char* op = "sync_batch_norm_forward";
  check_input(input, op);
  const ForwardArguments arguments{input, weight, bias, running_mean, running_var, num_batches_tracked, momentum, eps,
                                   epilogue};
  check_forward(arguments, geometry_of(input).C, op);
#if NORMRT_WITH_CUDA
  if (input.device().is_cuda()) return cuda_sync_forward(arguments, group);
#endif
  return cpu_sync_forward(arguments, group);
}

BatchNormBackwardResult sync_batch_norm_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight,
                                                 const Tensor& save_mean, const Tensor& save_invstd,
                                                 dist::ProcessGroup& group,
                                                 const BatchNormBackwardEpilogue& epilogue) {
  constexpr const char* op = "sync_batch_norm_backward";
  check_input(input, op);
  check_operand(grad_output, input, op, "grad_output", true);
  NORMRT_CHECK(grad_output.sizes() == input.sizes(), op, ": grad_output ", shape_str(grad_output.sizes()),
               " does not match input ", shape_str(input.sizes()));
  if (epilogue.relu_output.defined()) {
    check_operand(epilogue.relu_output, input, op, "relu_output", true);
    NORMRT_CHECK(epilogue.relu_output.sizes() == input.sizes(), op, ": relu_output ",
                 shape_str(epilogue.relu_output.sizes()), " does not match input ", shape_str(input.sizes()));
  }
  const int64_t C = geometry_of(input).C;
  check_channel_vector(weight, input, op, "weight", C, true);
  check_channel_vector(save_mean, input, op, "save_mean", C, false);
  check_channel_vector(save_invstd, input, op, "save_invstd", C, false);
  check_channel_vector(epilogue.mean_low, input, op, "mean_low", C, true);
#if NORMRT_WITH_CUDA
  if (input.device().is_cuda())
    return cuda_sync_backward(grad_output, input, weight, save_mean, save_invstd, group, epilogue);
#endif
  return cpu_sync_backward(grad_output, input, weight, save_mean, save_invstd, group, epilogue);
}

}  // namespace normrt::ops
