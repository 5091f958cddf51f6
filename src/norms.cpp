// normrt::ops LayerNorm / GroupNorm: argument checks (PyTorch's order and messages: F.layer_norm's and
// F.group_norm's, then aten's), the rows' geometry, and dispatch to the fused CPU path (norms_cpu.cpp) or the CUDA
// kernels (kernels/norms.cu).
#include "normrt/ops/norms.h"

#include <cmath>
#include <limits>

#include "norms_cpu.h"
#include "op_util.h"
#if NORMRT_WITH_CUDA
#include "norms.cuh"
#endif

namespace normrt::ops {

namespace {

using normmath::RowGeometry;

void check_eps(double eps, const char* op) {
  NORMRT_CHECK(std::isfinite(eps) && eps >= 0, op, ": eps must be a non-negative number, got ", eps);
}

// weight / bias (when defined): float32 or the input's dtype, on the input's device.
void check_parameter_operand(const Tensor& t, const char* what, const Tensor& input) {
  if (!t.defined()) return;
  NORMRT_CHECK(t.dtype() == DType::Float32 || t.dtype() == input.dtype(), what,
               " must be float32 or the input's dtype (", dtype_name(input.dtype()), "), got ", dtype_name(t.dtype()));
  util::check_same_device(input, t);
}

// ... and of the shape `ok` accepts, checked first.
template <typename Ok, typename Message>
void check_parameter(const Tensor& t, const char* what, const Tensor& input, Ok ok, Message message) {
  if (!t.defined()) return;
  NORMRT_CHECK(ok(t), message());
  check_parameter_operand(t, what, input);
}

// The statistics of a backward: float32 on the input's device, one per row.
void check_statistics(const Tensor& mean, const Tensor& rstd, const Tensor& input, int64_t rows) {
  for (const auto& [t, what] : {std::pair{&mean, "mean"}, std::pair{&rstd, "rstd"}}) {
    util::check_float(*t, what);
    util::check_same_device(input, *t);
    NORMRT_CHECK(t->numel() == rows, what, " must have one element per normalised row (", rows, "), got ",
                 shape_str(t->sizes()));
  }
}

const float* data_or_null(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }

NormForwardResult forward(const RowGeometry& g, const Tensor& given, const Tensor& weight, const Tensor& bias,
                          double eps, const Shape& statistics_shape) {
  if (util::is_16bit(given.dtype())) {  // in float32 on the widened values, the output rounded once
    NormForwardResult r = forward(g, util::widened(given), util::widened(weight), util::widened(bias), eps,
                                  statistics_shape);
    r.output = r.output.to(given.dtype());
    return r;
  }
  const Tensor input = given.contiguous();
  const Device device = input.device();
  NormForwardResult r{empty(input.sizes(), device), empty(statistics_shape, device), empty(statistics_shape, device)};
  if (g.length == 0) {  // rows of nothing: PyTorch's mean 0 and rstd NaN
    r.mean = zeros(statistics_shape, device);
    r.rstd = full(statistics_shape, std::numeric_limits<double>::quiet_NaN(), device);
    return r;
  }
  const Tensor w = weight.defined() ? weight.contiguous() : weight, b = bias.defined() ? bias.contiguous() : bias;
  if (device.is_cuda()) {
#if NORMRT_WITH_CUDA
    const util::Launch l(input);
    cuda::row_norm_forward(g, input.data<float>(), data_or_null(w), data_or_null(b), static_cast<float>(eps),
                           r.output.data<float>(), r.mean.data<float>(), r.rstd.data<float>(), l.stream);
#else
    util::no_cuda("layer_norm / group_norm");
#endif
    return r;
  }
  if (g.rows > 0) {
    norms_cpu::forward(g, input.data<float>(), data_or_null(w), data_or_null(b), eps, r.output.data<float>(),
                       r.mean.data<float>(), r.rstd.data<float>());
  }
  return r;
}

NormBackwardResult backward(const RowGeometry& g, const Tensor& grad_output, const Tensor& given, const Tensor& mean,
                            const Tensor& rstd, const Tensor& weight, bool parameter_gradients,
                            const Shape& parameter_shape) {
  if (util::is_16bit(given.dtype())) {  // in float32; each gradient rounded once to its tensor's dtype
    NORMRT_CHECK(grad_output.defined() && grad_output.dtype() == given.dtype(), "grad_output must have the input's "
                 "dtype (", dtype_name(given.dtype()), ")");
    NormBackwardResult r = backward(g, util::widened(grad_output), util::widened(given), mean, rstd,
                                    util::widened(weight), parameter_gradients, parameter_shape);
    r.grad_input = r.grad_input.to(given.dtype());
    const DType parameters = weight.defined() ? weight.dtype() : given.dtype();
    if (parameter_gradients) r.grad_weight = r.grad_weight.to(parameters), r.grad_bias = r.grad_bias.to(parameters);
    return r;
  }
  util::check_pair(grad_output, "grad_output", given, "input");
  check_statistics(mean, rstd, given, g.rows);
  const Tensor input = given.contiguous(), dy = grad_output.contiguous();
  const Tensor m = mean.contiguous(), s = rstd.contiguous(), w = weight.defined() ? weight.contiguous() : weight;
  const Device device = input.device();
  NormBackwardResult r{empty(input.sizes(), device), Tensor(), Tensor()};
  if (parameter_gradients) r.grad_weight = zeros(parameter_shape, device), r.grad_bias = zeros(parameter_shape, device);
  if (g.rows * g.length == 0) return r;
  float* grad_weight = parameter_gradients ? r.grad_weight.data<float>() : nullptr;
  float* grad_bias = parameter_gradients ? r.grad_bias.data<float>() : nullptr;
  if (device.is_cuda()) {
#if NORMRT_WITH_CUDA
    const util::Launch l(input);
    Tensor workspace = empty({parameter_gradients ? cuda::row_norm_backward_workspace_floats(g) : 0}, device);
    cuda::row_norm_backward(g, dy.data<float>(), input.data<float>(), m.data<float>(), s.data<float>(),
                            data_or_null(w), r.grad_input.data<float>(), grad_weight, grad_bias,
                            parameter_gradients ? workspace.data<float>() : nullptr, l.stream);
#else
    util::no_cuda("layer_norm / group_norm");
#endif
    return r;
  }
  norms_cpu::backward(g, dy.data<float>(), input.data<float>(), m.data<float>(), s.data<float>(), data_or_null(w),
                      r.grad_input.data<float>(), grad_weight, grad_bias);
  return r;
}

// LayerNorm: the rows and the statistics' shape, input checked against normalized_shape.
struct LayerRows {
  RowGeometry geometry;
  Shape statistics;
};

// PyTorch's order: normalized_shape, then the shapes of weight and bias, then the input's.
LayerRows layer_rows(const Tensor& input, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias) {
  NORMRT_CHECK(!normalized_shape.empty(), "Expected normalized_shape to be at least 1-dimensional, i.e., containing "
               "at least one element, but got normalized_shape = []");
  for (const auto& [t, what] : {std::pair{&weight, "weight"}, std::pair{&bias, "bias"}})
    NORMRT_CHECK(!t->defined() || t->sizes() == normalized_shape, "Expected ", what,
                 " to be of same shape as normalized_shape, but got ", what, " of shape ", shape_str(t->sizes()),
                 " and normalized_shape = ", shape_str(normalized_shape));
  NORMRT_CHECK(input.defined(), "layer_norm: input is undefined");
  const auto k = static_cast<int64_t>(normalized_shape.size());
  const Shape trailing(input.sizes().end() - std::min<int64_t>(k, input.dim()), input.sizes().end());
  NORMRT_CHECK(input.dim() >= k && trailing == normalized_shape, "Given normalized_shape=",
               shape_str(normalized_shape), ", expected input with shape [*, ", shape_str(normalized_shape).substr(1),
               ", but got input of size", shape_str(input.sizes()));
  util::check_floating(input, "input");
  Shape statistics(input.sizes().begin(), input.sizes().end() - k);
  statistics.insert(statistics.end(), static_cast<std::size_t>(k), 1);
  const int64_t length = shape_numel(normalized_shape);
  return {{shape_numel(statistics), length, 1, 1}, statistics};
}

// GroupNorm: rows (n, g) of C / G channels of `spatial` elements.
RowGeometry group_rows(const Tensor& input, int64_t num_groups) {
  NORMRT_CHECK(input.defined(), "group_norm: input is undefined");
  NORMRT_CHECK(input.dim() >= 2, "Expected at least 2 dimensions for input tensor but received ", input.dim());
  NORMRT_CHECK(num_groups > 0, "Expected num groups to be greater than 0, got ", num_groups);
  const int64_t n = input.size(0), c = input.size(1);
  // F.group_norm's batch-size check on [N * C // G, G, *spatial] (in eval mode too), before the channels'
  // divisibility.
  Shape verified = input.sizes();
  verified[0] = n * c / num_groups;
  verified[1] = num_groups;
  int64_t values = verified[0];
  for (int64_t d = 2; d < input.dim(); ++d) values *= input.size(d);
  NORMRT_CHECK(values != 1, "Expected more than 1 value per channel when training, got input size ",
               shape_str(verified));
  NORMRT_CHECK(c % num_groups == 0, "Expected number of channels in input to be divisible by num_groups, but got "
               "input of shape ", shape_str(input.sizes()), " and num_groups=", num_groups);
  util::check_floating(input, "input");
  const int64_t spatial = n * c == 0 ? 0 : input.numel() / (n * c);
  return {n * num_groups, c / num_groups * spatial, spatial, num_groups};
}

void check_group_parameter(const Tensor& t, const char* what, const Tensor& input) {
  check_parameter(
      t, what, input, [&](const Tensor& p) { return p.dim() == 1 && p.numel() == input.size(1); },
      [&] {
        return std::string("Expected ") + what + " to be a vector of size equal to the number of channels in input, "
               "but got " + what + " of shape " + shape_str(t.sizes()) + " and input of shape " +
               shape_str(input.sizes());
      });
}

}  // namespace

NormForwardResult layer_norm_forward(const Tensor& input, const Shape& normalized_shape, const Tensor& weight,
                                     const Tensor& bias, double eps) {
  const LayerRows rows = layer_rows(input, normalized_shape, weight, bias);  // their shapes
  check_parameter_operand(weight, "weight", input);
  check_parameter_operand(bias, "bias", input);
  check_eps(eps, "layer_norm");
  return forward(rows.geometry, input, weight, bias, eps, rows.statistics);
}

NormBackwardResult layer_norm_backward(const Tensor& grad_output, const Tensor& input, const Shape& normalized_shape,
                                       const Tensor& mean, const Tensor& rstd, const Tensor& weight,
                                       bool parameter_gradients) {
  const LayerRows rows = layer_rows(input, normalized_shape, weight, Tensor());
  check_parameter_operand(weight, "weight", input);
  return backward(rows.geometry, grad_output, input, mean, rstd, weight, parameter_gradients, normalized_shape);
}

Tensor layer_norm(const Tensor& input, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  return layer_norm_forward(input, normalized_shape, weight, bias, eps).output;
}

NormForwardResult group_norm_forward(const Tensor& input, int64_t num_groups, const Tensor& weight, const Tensor& bias,
                                     double eps) {
  const RowGeometry g = group_rows(input, num_groups);
  check_group_parameter(weight, "weight", input);
  check_group_parameter(bias, "bias", input);
  check_eps(eps, "group_norm");
  return forward(g, input, weight, bias, eps, {input.size(0), num_groups});
}

NormBackwardResult group_norm_backward(const Tensor& grad_output, const Tensor& input, int64_t num_groups,
                                       const Tensor& mean, const Tensor& rstd, const Tensor& weight,
                                       bool parameter_gradients) {
  const RowGeometry g = group_rows(input, num_groups);
  check_group_parameter(weight, "weight", input);
  return backward(g, grad_output, input, mean, rstd, weight, parameter_gradients, {input.size(1)});
}

Tensor group_norm(const Tensor& input, int64_t num_groups, const Tensor& weight, const Tensor& bias, double eps) {
  return group_norm_forward(input, num_groups, weight, bias, eps).output;
}

}  // namespace normrt::ops
