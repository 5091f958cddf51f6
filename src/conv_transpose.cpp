// normrt::ops transposed convolution, on conv's backends (src/conv.cpp): the forward is conv's input gradient of the
// input taken as an output gradient, the input gradient conv() of the output gradient, the weight gradient conv's
// weight gradient with the input and the output gradient exchanged. The weight's layout, (C_in, C_out / groups,
// *kernel), is conv's (O, C / groups, *kernel) for the convolution from the output back to the input, so it is used
// as it is. Checks and messages are PyTorch's.
#include <algorithm>
#include <string>

#include "normrt/error.h"
#include "normrt/ops/conv.h"
#include "normrt/ops/elementwise.h"
#include "normrt/ops/pad.h"
#include "normrt/ops/tensor_ops.h"
#include "op_util.h"

namespace normrt::ops {

namespace {

// "1 x 1" for sizes {1, 1}, as PyTorch prints them.
std::string sizes_by_x(const std::vector<int64_t>& sizes) {
  std::string s;
  for (std::size_t i = 0; i < sizes.size(); ++i) s += (i ? " x " : "") + std::to_string(sizes[i]);
  return s;
}

std::vector<int64_t> per_dimension(const std::vector<int64_t>& values, int64_t spatial, const char* what) {
  NORMRT_CHECK(values.size() == 1 || static_cast<int64_t>(values.size()) == spatial, "conv_transpose: expected ",
               what, " to be a single value or ", spatial, " values, got ", shape_str(values));
  return values.size() == 1 ? std::vector<int64_t>(static_cast<std::size_t>(spatial), values[0]) : values;
}

// The convolution whose adjoint the transposed one is, and the transposed one's output shape. That convolution's
// output (the transposed one's input) is the input followed by input_tail's zeros on each spatial axis (pad()'s
// (before, after) pairs from the last axis backwards).
struct Transposed {
  ConvParams conv;
  Shape output;
  bool batched;
  std::vector<int64_t> input_tail;

  bool input_extended() const {
    return std::any_of(input_tail.begin(), input_tail.end(), [](int64_t v) { return v > 0; });
  }
  Tensor extended(const Tensor& input) const { return input_extended() ? pad(input, input_tail) : input; }
  // The adjoint convolution's input gradient cut back to the input's extent.
  Tensor cut(const Tensor& extended_grad) const {
    if (!input_extended()) return extended_grad;
    std::vector<int64_t> crop(input_tail.size());
    std::transform(input_tail.begin(), input_tail.end(), crop.begin(), [](int64_t v) { return -v; });
    return pad(extended_grad, crop);
  }
};

Transposed resolve(const Shape& input, const Shape& weight, const Shape* bias, const ConvTransposeParams& p) {
  const auto spatial = static_cast<int64_t>(weight.size()) - 2;
  const auto dims = static_cast<int64_t>(input.size());
  NORMRT_CHECK(spatial >= 1 && spatial <= 3, "conv_transpose: expected a weight of 3, 4 or 5 dimensions (C_in, "
               "C_out / groups, *kernel), got ", shape_str(weight));
  const std::string op = "conv_transpose" + std::to_string(spatial) + "d";
  NORMRT_CHECK(dims == spatial + 1 || dims == spatial + 2, "Expected ", spatial + 1, "D (unbatched) or ",
               spatial + 2, "D (batched) input to ", op, ", but got input of size: ", shape_str(input));
  NORMRT_CHECK(p.groups > 0, "non-positive groups is not supported");
  NORMRT_CHECK(weight[0] % p.groups == 0, "Given groups=", p.groups, ", expected weight to be divisible by ",
               p.groups, " at dimension 0, but got weight of size [", shape_str(weight), "] instead");
  const bool batched = dims == spatial + 2;
  const int64_t channels = input[batched ? 1 : 0], out_channels = weight[1] * p.groups;
  NORMRT_CHECK(channels == weight[0], "Given transposed=1, weight of size ", shape_str(weight), ", expected input",
               shape_str(input), " to have ", weight[0], " channels, but got ", channels, " channels instead");
  if (bias != nullptr)
    NORMRT_CHECK(bias->size() == 1 && (*bias)[0] == out_channels, "Given transposed=1, weight of size ",
                 shape_str(weight), ", expected bias to be 1-dimensional with ", out_channels,
                 " elements, but got bias of size ", shape_str(*bias), " instead");
  Transposed t;
  t.batched = batched;
  t.conv.stride = per_dimension(p.stride, spatial, "stride");
  t.conv.padding = per_dimension(p.padding, spatial, "padding");
  t.conv.dilation = per_dimension(p.dilation, spatial, "dilation");
  t.conv.groups = p.groups;
  const auto output_padding = per_dimension(p.output_padding, spatial, "output_padding");
  std::vector<int64_t> in_sizes, out_sizes;
  bool too_small = false;
  for (int64_t d = 0; d < spatial; ++d) {
    const auto i = static_cast<std::size_t>(d);
    NORMRT_CHECK(t.conv.stride[i] > 0, "non-positive stride is not supported");
    NORMRT_CHECK(t.conv.padding[i] >= 0, "negative padding is not supported");
    NORMRT_CHECK(t.conv.dilation[i] > 0, "non-positive dilation is not supported");
    NORMRT_CHECK(output_padding[i] >= 0, "negative output_padding is not supported");
    NORMRT_CHECK(output_padding[i] < std::max(t.conv.stride[i], t.conv.dilation[i]), "output padding must be "
                 "smaller than either stride or dilation, but got output_padding=", shape_str(output_padding),
                 ", stride=", shape_str(t.conv.stride), ", dilation=", shape_str(t.conv.dilation));
    // An output_padding of at least the stride (below a larger dilation) makes the adjoint convolution's output
    // longer than the input by output_padding / stride positions: the input is taken as zero there.
    const int64_t tail = output_padding[i] / t.conv.stride[i];
    t.input_tail.insert(t.input_tail.begin(), {0, tail});
    const int64_t in = input[static_cast<std::size_t>(dims - spatial + d)];
    const int64_t kernel = weight[static_cast<std::size_t>(2 + d)];
    const int64_t out = (in - 1) * t.conv.stride[i] - 2 * t.conv.padding[i] + t.conv.dilation[i] * (kernel - 1) +
                        output_padding[i] + 1;
    in_sizes.push_back(in);
    out_sizes.push_back(out);
    too_small = too_small || out <= 0;
  }
  // PyTorch runs a 1-d transposed convolution as a 2-d one of height 1, and reports it so.
  const std::string height = spatial == 1 ? "1 x " : "";
  NORMRT_CHECK(!too_small, "Given input size per channel: (", height, sizes_by_x(in_sizes),
               "). Calculated output size per channel: (", height, sizes_by_x(out_sizes),
               "). Output size is too small");
  if (batched) t.output.push_back(input[0]);
  t.output.push_back(out_channels);
  t.output.insert(t.output.end(), out_sizes.begin(), out_sizes.end());
  return t;
}

// The bias's gradient: grad_output summed over every dimension but the channels', in float32.
Tensor channel_sums(const Tensor& grad_output, bool batched) {
  const Tensor wide = util::widened(grad_output).contiguous();
  const int64_t n = batched ? wide.size(0) : 1, c = wide.size(batched ? 1 : 0);
  return sum(sum(wide.reshape({n, c, wide.numel() / std::max<int64_t>(n * c, 1)}), 2), 0);
}

// The shapes checked; the operands' dtypes and devices are checked by the conv ops they go to.
Transposed resolve(const Tensor& input, const Tensor& weight, const Tensor& bias, const ConvTransposeParams& p) {
  NORMRT_CHECK(input.defined(), "conv_transpose: input is undefined");
  NORMRT_CHECK(weight.defined(), "conv_transpose: weight is undefined");
  if (bias.defined()) util::check_same_device(input, bias);
  const Shape bias_shape = bias.defined() ? bias.sizes() : Shape{};
  return resolve(input.sizes(), weight.sizes(), bias.defined() ? &bias_shape : nullptr, p);
}

}  // namespace

Shape conv_transpose_output_shape(const Shape& input, const Shape& weight, const ConvTransposeParams& params) {
  return resolve(input, weight, nullptr, params).output;
}

Tensor conv_transpose(const Tensor& input, const Tensor& weight, const Tensor& bias,
                      const ConvTransposeParams& params) {
  // 16-bit operands: cuDNN takes them as they are on a GPU; the CPU computes in float32 and rounds the output once.
  const auto h = util::reduced_dtype("conv_transpose", {&input, &weight, &bias});
  if (h && !input.device().is_cuda())
    return conv_transpose(util::widened(input), util::widened(weight), util::widened(bias), params).to(*h);
  const Transposed t = resolve(input, weight, bias, params);
  Tensor y = conv_input_grad(t.extended(input), t.output, weight, t.conv);
  if (!bias.defined() || y.numel() == 0) return y;
  Shape channel_view(static_cast<std::size_t>(y.dim()), 1);
  channel_view[t.batched ? 1 : 0] = bias.size(0);
  return add_(y, bias.reshape(channel_view).to(y.dtype()));  // y is the op's own: no second output
}

Tensor conv_transpose_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight,
                               const ConvTransposeParams& params, Tensor* grad_weight, Tensor* grad_bias,
                               bool need_input_grad) {
  const Transposed t = resolve(input, weight, Tensor(), params);
  NORMRT_CHECK(grad_output.defined() && grad_output.sizes() == t.output, "conv_transpose_backward: grad_output "
               "shape ", grad_output.defined() ? shape_str(grad_output.sizes()) : "undefined",
               " does not match the output shape ", shape_str(t.output));
  if (grad_weight != nullptr) {  // conv's weight gradient, the output gradient as its input, the input as its output's
    conv_backward(t.extended(input), grad_output, weight, t.conv, grad_weight, nullptr, false);
  }
  if (grad_bias != nullptr) {
    const Tensor db = channel_sums(grad_output, t.batched);
    if (grad_bias->defined()) add_(*grad_bias, db.to(grad_bias->dtype()));
    else *grad_bias = db.to(grad_output.dtype());
  }
  return need_input_grad ? t.cut(conv(grad_output, weight, Tensor(), t.conv)) : Tensor();
}

}  // namespace normrt::ops
