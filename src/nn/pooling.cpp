#include "normrt/nn/pooling.h"

#include <sstream>

#include "normrt/error.h"

namespace normrt::nn {

namespace {

// As PyTorch prints an option given as an int or a tuple: 2, or (3, 2).
std::string option_repr(const IntList& v) {
  if (v.size() == 1) return std::to_string(v[0]);
  std::ostringstream os;
  os << '(';
  for (std::size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  os << ')';
  return os.str();
}

// The options' per-dimension counts are checked here, at construction, as PyTorch's functional checks them at the
// first call; the values themselves by the ops (shape-dependent limits need the input).
void check_count(const IntList& v, int spatial, const std::string& module, const char* what) {
  NORMRT_CHECK(v.size() == 1 || v.size() == static_cast<std::size_t>(spatial), module, ": ", what,
               " must either be a single int, or a tuple of ", spatial, " ints, but got ", shape_str(v));
}

}  // namespace

MaxPoolBase::MaxPoolBase(int spatial, const MaxPoolOptions& options) : spatial_(spatial) {
  params_.kernel_size = options.kernel_size();
  params_.stride = options.stride().value_or(options.kernel_size());
  params_.padding = options.padding();
  params_.dilation = options.dilation();
  params_.ceil_mode = options.ceil_mode();
  check_count(options.kernel_size(), spatial, name(), "kernel_size");
  check_count(params_.stride, spatial, name(), "stride");
  check_count(options.padding(), spatial, name(), "padding");
  check_count(options.dilation(), spatial, name(), "dilation");
}

std::string MaxPoolBase::extra_repr() const {
  return "kernel_size=" + option_repr(params_.kernel_size) + ", stride=" + option_repr(params_.stride) +
         ", padding=" + option_repr(params_.padding) + ", dilation=" + option_repr(params_.dilation) +
         ", ceil_mode=" + (params_.ceil_mode ? "True" : "False");
}

Tensor MaxPoolBase::forward_impl(const Tensor& input, Context& ctx) {
  ops::MaxPoolResult r = ops::max_pool(input, spatial_, params_);
  ctx.tensors = {input, r.indices};
  return r.output;
}

Tensor MaxPoolBase::backward_impl(const Tensor& grad_output, Context& ctx) {
  return ops::max_pool_backward(grad_output, ctx.tensors[0].get(name()), ctx.tensors[1].get(name()), spatial_,
                                params_);
}

AvgPoolBase::AvgPoolBase(int spatial, const AvgPoolOptions& options) : spatial_(spatial) {
  params_.kernel_size = options.kernel_size();
  params_.stride = options.stride().value_or(options.kernel_size());
  params_.padding = options.padding();
  params_.ceil_mode = options.ceil_mode();
  params_.count_include_pad = options.count_include_pad();
  params_.divisor_override = options.divisor_override();
  check_count(options.kernel_size(), spatial, name(), "kernel_size");
  check_count(params_.stride, spatial, name(), "stride");
  check_count(options.padding(), spatial, name(), "padding");
}

std::string AvgPoolBase::extra_repr() const {
  return "kernel_size=" + option_repr(params_.kernel_size) + ", stride=" + option_repr(params_.stride) +
         ", padding=" + option_repr(params_.padding);
}

Tensor AvgPoolBase::forward_impl(const Tensor& input, Context& ctx) {
  Tensor output = ops::avg_pool(input, spatial_, params_);
  ctx.tensors = {input};
  return output;
}

Tensor AvgPoolBase::backward_impl(const Tensor& grad_output, Context& ctx) {
  return ops::avg_pool_backward(grad_output, ctx.tensors[0].get(name()), spatial_, params_);
}

AdaptiveAvgPoolBase::AdaptiveAvgPoolBase(int spatial, IntList output_size)
    : spatial_(spatial), output_size_(std::move(output_size)) {
  NORMRT_CHECK(output_size_.size() == 1 || output_size_.size() == static_cast<std::size_t>(spatial),
               "adaptive_avg_pool", spatial, "d: output_size must be ", spatial);
}

std::string AdaptiveAvgPoolBase::extra_repr() const { return "output_size=" + option_repr(output_size_); }

Tensor AdaptiveAvgPoolBase::forward_impl(const Tensor& input, Context& ctx) {
  Tensor output = ops::adaptive_avg_pool(input, spatial_, output_size_);
  ctx.tensors = {input};
  return output;
}

Tensor AdaptiveAvgPoolBase::backward_impl(const Tensor& grad_output, Context& ctx) {
  return ops::adaptive_avg_pool_backward(grad_output, ctx.tensors[0].get(name()), spatial_);
}

AdaptiveMaxPoolBase::AdaptiveMaxPoolBase(int spatial, IntList output_size)
    : spatial_(spatial), output_size_(std::move(output_size)) {
  NORMRT_CHECK(output_size_.size() == 1 || output_size_.size() == static_cast<std::size_t>(spatial),
               "adaptive_max_pool", spatial, "d: output_size must be ", spatial);
}

std::string AdaptiveMaxPoolBase::extra_repr() const { return "output_size=" + option_repr(output_size_); }

Tensor AdaptiveMaxPoolBase::forward_impl(const Tensor& input, Context& ctx) {
  ops::MaxPoolResult r = ops::adaptive_max_pool(input, spatial_, output_size_);
  ctx.tensors = {input, r.indices};
  return r.output;
}

Tensor AdaptiveMaxPoolBase::backward_impl(const Tensor& grad_output, Context& ctx) {
  return ops::adaptive_max_pool_backward(grad_output, ctx.tensors[0].get(name()), ctx.tensors[1].get(name()),
                                         spatial_);
}

}  // namespace normrt::nn
