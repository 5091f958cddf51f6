#include "normrt/nn/conv.h"

#include <cmath>
#include <sstream>

#include "normrt/amp.h"
#include "normrt/error.h"
#include "normrt/nn/init.h"
#include "parameter_grads.h"

namespace normrt::nn {

namespace {

// A per-dimension option spelled out for every dimension: 3 -> {3, 3} for a 2-d convolution.
std::vector<int64_t> per_dimension(const IntList& values, int spatial, const char* what) {
  NORMRT_CHECK(values.size() == 1 || values.size() == static_cast<std::size_t>(spatial), "expected ", what,
               " to be a single integer value or a list of ", spatial, " values, but got ", what, "=",
               shape_str(values));
  return values.size() == 1 ? std::vector<int64_t>(static_cast<std::size_t>(spatial), values[0])
                            : std::vector<int64_t>(values);
}

// Python's tuple repr: (3,) or (3, 3).
std::string tuple_repr(const std::vector<int64_t>& v) {
  std::ostringstream os;
  os << '(';
  for (std::size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  if (v.size() == 1) os << ',';
  os << ')';
  return os.str();
}

// PyTorch's _ConvNd checks of the channel counts and groups.
void check_channels(const std::string& module, int64_t in_channels, int64_t out_channels, int64_t groups) {
  NORMRT_CHECK(groups > 0, "groups must be a positive integer");
  NORMRT_CHECK(in_channels >= 0 && out_channels >= 0, module, ": channel counts must be non-negative, got ",
               in_channels, " and ", out_channels);
  NORMRT_CHECK(in_channels % groups == 0, "in_channels must be divisible by groups");
  NORMRT_CHECK(out_channels % groups == 0, "out_channels must be divisible by groups");
}

// PyTorch's _ConvNd.reset_parameters: weight kaiming_uniform_(a = sqrt(5)), bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))
// with fan_in the weight's dimension 1 times the kernel's size.
void reset_conv_parameters(Tensor& weight, Tensor& bias, Generator& gen) {
  init::kaiming_uniform_(weight, std::sqrt(5.0), init::FanMode::FanIn, "leaky_relu", &gen);
  if (bias.defined()) {
    const int64_t fan_in = weight.numel() / std::max<int64_t>(weight.size(0), 1);
    const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
    init::uniform_(bias, -bound, bound, &gen);
  }
}

// (rows, columns, *kernel): a convolution's (out, in / groups, ...) weight, a transposed one's (in, out / groups, ...).
Shape weight_shape_of(int64_t rows, int64_t columns, const std::vector<int64_t>& kernel) {
  Shape shape = {rows, columns};
  shape.insert(shape.end(), kernel.begin(), kernel.end());
  return shape;
}

// "in, out, kernel_size=(..), stride=(..)": the start of both reprs.
std::string repr_head(int64_t in_channels, int64_t out_channels, const Tensor& weight,
                      const std::vector<int64_t>& stride) {
  return std::to_string(in_channels) + ", " + std::to_string(out_channels) +
         ", kernel_size=" + tuple_repr(Shape(weight.sizes().begin() + 2, weight.sizes().end())) +
         ", stride=" + tuple_repr(stride);
}

}  // namespace

ConvBase::ConvBase(int spatial, const ConvOptions& options, Generator* gen) : spatial_(spatial), options_(options) {
  check_channels(name(), options.in_channels(), options.out_channels(), options.groups());
  const auto kernel = per_dimension(options.kernel_size(), spatial, "kernel_size");
  params_.stride = per_dimension(options.stride(), spatial, "stride");
  params_.padding = per_dimension(options.padding(), spatial, "padding");
  params_.dilation = per_dimension(options.dilation(), spatial, "dilation");
  params_.groups = options.groups();
  params_.padding_mode = options.padding_rule();
  for (int64_t k : kernel) NORMRT_CHECK(k > 0, name(), ": kernel_size must be positive, got ", shape_str(kernel));
  for (int64_t s : params_.stride) NORMRT_CHECK(s > 0, "non-positive stride is not supported");
  for (int64_t p : params_.padding) NORMRT_CHECK(p >= 0, "negative padding is not supported");
  for (int64_t d : params_.dilation) NORMRT_CHECK(d > 0, "non-positive dilation is not supported");
  if (params_.padding_mode == ops::PaddingMode::Same)
    for (int64_t s : params_.stride)
      NORMRT_CHECK(s == 1, "padding='same' is not supported for strided convolutions");
  if (options.padding_mode() != ops::PadMode::Constant) {
    // PyTorch's _reversed_padding_repeated_twice: (left, right) from the last dimension backwards; "same" puts the
    // odd one of an even total after.
    for (int d = spatial - 1; d >= 0; --d) {
      const auto i = static_cast<std::size_t>(d);
      int64_t left = 0, right = 0;
      if (params_.padding_mode == ops::PaddingMode::Same) {
        const int64_t total = params_.dilation[i] * (kernel[i] - 1);
        left = total / 2;
        right = total - left;
      } else if (params_.padding_mode == ops::PaddingMode::Explicit) {
        left = right = params_.padding[i];
      }
      pads_.push_back(left);
      pads_.push_back(right);
    }
    unpadded_params_ = params_;
    unpadded_params_.padding_mode = ops::PaddingMode::Explicit;
    unpadded_params_.padding = {0};
  }
  weight = empty(weight_shape_of(options.out_channels(), options.in_channels() / options.groups(), kernel));
  register_parameter("weight", &weight);
  if (options.bias()) {
    bias = empty({options.out_channels()});
    register_parameter("bias", &bias);
  }
  reset_parameters(gen != nullptr ? *gen : default_generator());
}

void ConvBase::reset_parameters(Generator& gen) { reset_conv_parameters(weight, bias, gen); }

std::string ConvBase::extra_repr() const {
  std::string s = repr_head(options_.in_channels(), options_.out_channels(), weight, params_.stride);
  switch (params_.padding_mode) {
    case ops::PaddingMode::Same: s += ", padding=same"; break;
    case ops::PaddingMode::Valid: s += ", padding=valid"; break;
    case ops::PaddingMode::Explicit:
      for (int64_t p : params_.padding)
        if (p != 0) {
          s += ", padding=" + tuple_repr(params_.padding);
          break;
        }
  }
  for (int64_t d : params_.dilation)
    if (d != 1) {
      s += ", dilation=" + tuple_repr(params_.dilation);
      break;
    }
  if (params_.groups != 1) s += ", groups=" + std::to_string(params_.groups);
  if (!bias.defined()) s += ", bias=False";
  if (!pads_.empty()) s += std::string(", padding_mode=") + ops::pad_mode_name(options_.padding_mode());
  return s;
}

Tensor ConvBase::forward_impl(const Tensor& input, Context& ctx) {
  Tensor x = amp::autocast_to_lower(input);
  const Tensor w = amp::autocast_to_lower(weight);
  if (!pads_.empty()) x = ops::pad(x, pads_, options_.padding_mode());  // x checked there, as by F.pad in PyTorch
  Tensor output = ops::conv(x, w, amp::autocast_to_lower(bias), pads_.empty() ? params_ : unpadded_params_);
  ctx.tensors = {x, w};
  return output;
}

Tensor ConvBase::backward_impl(const Tensor& grad_output, Context& ctx) {
  const Tensor& w = ctx.tensors[1].get(name());
  normrt::detail::ParameterGrads grads(weight, bias, w.dtype());
  const Tensor& x = ctx.tensors[0].get(name());
  Tensor dx = ops::conv_backward(grad_output, x, w, pads_.empty() ? params_ : unpadded_params_, grads.weight(),
                                 grads.bias(), ctx.input_grad);
  grads.accumulate();
  if (!pads_.empty() && dx.defined()) {  // through the padding: the input's sizes are the padded ones less the pads
    Shape input_sizes = x.sizes();
    for (std::size_t i = 0; i < pads_.size() / 2; ++i)
      input_sizes[input_sizes.size() - 1 - i] -= pads_[2 * i] + pads_[2 * i + 1];
    dx = ops::pad_backward(dx, input_sizes, pads_, options_.padding_mode());
  }
  return dx;
}

ConvTransposeBase::ConvTransposeBase(int spatial, const ConvTransposeOptions& options, Generator* gen)
    : spatial_(spatial), options_(options) {
  check_channels(name(), options.in_channels(), options.out_channels(), options.groups());
  const auto kernel = per_dimension(options.kernel_size(), spatial, "kernel_size");
  params_.stride = per_dimension(options.stride(), spatial, "stride");
  params_.padding = per_dimension(options.padding(), spatial, "padding");
  params_.output_padding = per_dimension(options.output_padding(), spatial, "output_padding");
  params_.dilation = per_dimension(options.dilation(), spatial, "dilation");
  params_.groups = options.groups();
  for (int64_t k : kernel) NORMRT_CHECK(k > 0, name(), ": kernel_size must be positive, got ", shape_str(kernel));
  weight = empty(weight_shape_of(options.in_channels(), options.out_channels() / options.groups(), kernel));
  register_parameter("weight", &weight);
  if (options.bias()) {
    bias = empty({options.out_channels()});
    register_parameter("bias", &bias);
  }
  reset_parameters(gen != nullptr ? *gen : default_generator());
}

void ConvTransposeBase::reset_parameters(Generator& gen) { reset_conv_parameters(weight, bias, gen); }

std::string ConvTransposeBase::extra_repr() const {
  std::string s = repr_head(options_.in_channels(), options_.out_channels(), weight, params_.stride);
  const auto any_not = [](const std::vector<int64_t>& values, int64_t plain) {
    for (int64_t v : values)
      if (v != plain) return true;
    return false;
  };
  if (any_not(params_.padding, 0)) s += ", padding=" + tuple_repr(params_.padding);
  if (any_not(params_.dilation, 1)) s += ", dilation=" + tuple_repr(params_.dilation);
  if (any_not(params_.output_padding, 0)) s += ", output_padding=" + tuple_repr(params_.output_padding);
  if (params_.groups != 1) s += ", groups=" + std::to_string(params_.groups);
  if (!bias.defined()) s += ", bias=False";
  return s;
}

std::vector<int64_t> ConvTransposeBase::output_padding_for(const Shape& input,
                                                           const std::vector<int64_t>& output_size) const {
  const auto spatial = static_cast<std::size_t>(spatial_);
  const std::size_t leading = input.size() == spatial + 2 ? 2 : 1;  // batch and channels, or channels (unbatched)
  std::vector<int64_t> wanted = output_size;
  if (wanted.size() == leading + spatial) wanted.erase(wanted.begin(), wanted.begin() + static_cast<long>(leading));
  NORMRT_CHECK(wanted.size() == spatial, "ConvTranspose", spatial_, "D: for ", input.size(),
               "D input, output_size must have ", spatial, " or ", leading + spatial, " elements (got ",
               output_size.size(), ")");
  std::vector<int64_t> smallest, largest, padding;
  for (std::size_t d = 0; d < spatial; ++d) {
    const int64_t kernel = weight.size(static_cast<int>(d) + 2);
    smallest.push_back((input[leading + d] - 1) * params_.stride[d] - 2 * params_.padding[d] +
                       params_.dilation[d] * (kernel - 1) + 1);
    largest.push_back(smallest[d] + params_.stride[d] - 1);
  }
  for (std::size_t d = 0; d < spatial; ++d)
    NORMRT_CHECK(wanted[d] >= smallest[d] && wanted[d] <= largest[d], "requested an output size of ",
                 shape_str(wanted), ", but valid sizes range from ", shape_str(smallest), " to ",
                 shape_str(largest), " (for an input of torch.Size(",
                 shape_str(Shape(input.begin() + static_cast<long>(leading), input.end())), "))");
  for (std::size_t d = 0; d < spatial; ++d) padding.push_back(wanted[d] - smallest[d]);
  return padding;
}

Tensor ConvTransposeBase::forward_sized(const Tensor& input, const std::vector<int64_t>& output_size,
                                        const std::function<Tensor()>& forward_call) {
  // Input of the wrong rank gets conv_transpose's own message from the plain forward.
  if (input.defined() && (input.dim() == spatial_ + 1 || input.dim() == spatial_ + 2))
    call_output_padding_ = output_padding_for(input.sizes(), output_size);
  struct Reset {
    std::optional<std::vector<int64_t>>& padding;
    ~Reset() { padding.reset(); }
  } reset{call_output_padding_};
  return forward_call();
}

Tensor ConvTransposeBase::forward(const Tensor& input, const std::vector<int64_t>& output_size) {
  return forward_sized(input, output_size, [&] { return Module::forward(input); });
}

Tensor ConvTransposeBase::forward(const Tensor& input, const std::vector<int64_t>& output_size, Context& ctx) {
  return forward_sized(input, output_size, [&] { return Module::forward(input, ctx); });
}

Tensor ConvTransposeBase::forward_impl(const Tensor& input, Context& ctx) {
  const Tensor x = amp::autocast_to_lower(input), w = amp::autocast_to_lower(weight);
  ops::ConvTransposeParams params = params_;
  if (call_output_padding_) params.output_padding = *call_output_padding_;
  Tensor output = ops::conv_transpose(x, w, amp::autocast_to_lower(bias), params);
  ctx.tensors = {x, w};
  ctx.values = params.output_padding;
  return output;
}

Tensor ConvTransposeBase::backward_impl(const Tensor& grad_output, Context& ctx) {
  const Tensor& w = ctx.tensors[1].get(name());
  normrt::detail::ParameterGrads grads(weight, bias, w.dtype());
  ops::ConvTransposeParams params = params_;
  params.output_padding = ctx.values;
  Tensor dx = ops::conv_transpose_backward(grad_output, ctx.tensors[0].get(name()), w, params, grads.weight(),
                                           grads.bias(), ctx.input_grad);
  grads.accumulate();
  return dx;
}

}  // namespace normrt::nn
