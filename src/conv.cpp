// normrt::ops::conv: argument checks (PyTorch's messages, all before anything runs) and dispatch to the CPU
// (oneDNN, or im2col + OpenBLAS) or cuDNN implementation. Bias on the GPU is broadcast arithmetic and a reduction.
#include <atomic>
#include <sstream>
#include <string>
#include <utility>

#include "conv_backend.h"
#include "normrt/config.h"
#include "normrt/ops/elementwise.h"
#include "normrt/ops/tensor_ops.h"
#include "memory_layout.h"
#include "nvtx.h"
#include "normrt/cuda_check.h"
#include "op_util.h"

namespace normrt::ops {

namespace {

std::atomic<bool> g_deterministic{true};
std::atomic<bool> g_allow_tf32{false};
std::atomic<bool> g_benchmark{false};
std::atomic<bool> g_use_onednn{true};

#if NORMRT_WITH_ONEDNN
// Where oneDNN's direct kernels beat im2col + BLAS (batch 32-128, two threads of a Xeon; the table is in
// benchmarks/results/2026-12-01-cpu-session21.md): 3x3 and larger kernels with at least 4 input channels per group
// forward (16 -> 16 channels at 28x28: 1.7x) and 12 backward (8 -> 8: 0.88x, 12 -> 16: 1.25x, 16 -> 16: 2.25x). A
// network's stem (1-3 channels) and 1x1 convolutions (one GEMM without im2col: oneDNN 0.8-0.9x) stay with BLAS.
constexpr int64_t kOneDnnForwardChannels = 4;
constexpr int64_t kOneDnnBackwardChannels = 12;

bool onednn_takes(const detail::ConvGeometry& g, bool backward) {
  return g_use_onednn && g.kernel_size() > 1 &&
         g.c_per_group() >= (backward ? kOneDnnBackwardChannels : kOneDnnForwardChannels);
}
#endif

void cpu_forward(const detail::ConvGeometry& g, const float* x, const float* w, const float* bias, float* y) {
#if NORMRT_WITH_ONEDNN
  if (onednn_takes(g, false) && detail::onednn_conv_forward(g, x, w, bias, y, false)) return;
#endif
  detail::cpu_conv_forward(g, x, w, bias, y);
}

// dx (unless null) and dw.
void cpu_backward(const detail::ConvGeometry& g, const float* x, const float* dy, const float* w, float* dx, float* dw,
                  bool accumulate) {
#if NORMRT_WITH_ONEDNN
  if (onednn_takes(g, true) && detail::onednn_conv_backward(g, x, dy, w, dx, dw, accumulate, false)) return;
#endif
  if (dx != nullptr) detail::cpu_conv_backward_data(g, dy, w, dx);
  detail::cpu_conv_backward_filter(g, x, dy, dw, accumulate);
}

// y from channels-last x, and the backward's dx (unless null) and dw from channels-last x and dy, through oneDNN;
// false, having done nothing, where oneDNN has no kernel for g.
bool cpu_forward_channels_last(const detail::ConvGeometry& g, const float* x, const float* w, const float* bias,
                               float* y) {
#if NORMRT_WITH_ONEDNN
  return detail::onednn_conv_forward(g, x, w, bias, y, true);
#else
  (void)g, (void)x, (void)w, (void)bias, (void)y;
  return false;
#endif
}

bool cpu_backward_channels_last(const detail::ConvGeometry& g, const float* x, const float* dy, const float* w,
                                float* dx, float* dw, bool accumulate) {
#if NORMRT_WITH_ONEDNN
  return detail::onednn_conv_backward(g, x, dy, w, dx, dw, accumulate, true);
#else
  (void)g, (void)x, (void)dy, (void)w, (void)dx, (void)dw, (void)accumulate;
  return false;
#endif
}

// Channels-last activations run as they are on cuDNN's NHWC descriptors and on oneDNN's NHWC kernels, which need no
// reorders: on the CPU every forward (1x1 and 1-3 channels too: 64 -> 256 1x1 at 28x28 16.7 ms against 24.6 ms for
// NCHW im2col) and the backward from 4 input channels per group (1 -> 16 channels: 3.4 ms against 1.7 ms through
// contiguous copies and im2col; 4 -> 16: 2.6 against 4.2). Elsewhere (those backwards, a build without oneDNN) a
// call goes through contiguous copies.
#if NORMRT_WITH_ONEDNN
constexpr int64_t kOneDnnChannelsLastBackwardChannels = 4;
#endif

bool native_channels_last(const detail::ConvGeometry& g, const Device& device, bool backward) {
  if (device.is_cuda()) return true;
#if NORMRT_WITH_ONEDNN
  return g_use_onednn && (!backward || g.c_per_group() >= kOneDnnChannelsLastBackwardChannels);
#else
  (void)g, (void)backward;
  return false;
#endif
}

// A per-dimension parameter: one value for all dimensions or one per dimension, as PyTorch's _single/_pair/_triple.
std::array<int64_t, 3> expand(const std::vector<int64_t>& values, int spatial, const char* what, int64_t fill) {
  NORMRT_CHECK(values.size() == 1 || values.size() == static_cast<std::size_t>(spatial), "expected ", what,
               " to be a single integer value or a list of ", spatial,
               " values to match the convolution dimensions, but got ", what, "=", shape_str(values));
  std::array<int64_t, 3> out{fill, fill, fill};
  for (int d = 0; d < spatial; ++d) out[3 - spatial + d] = values.size() == 1 ? values[0] : values[d];
  return out;
}

std::string joined(const std::array<int64_t, 3>& v, int spatial) {
  std::ostringstream os;
  for (int d = 3 - spatial; d < 3; ++d) os << (d > 3 - spatial ? " x " : "") << v[d];
  return os.str();
}

}  // namespace

namespace detail {

bool ConvGeometry::is_pointwise() const {
  for (int d = 0; d < 3; ++d)
    if (kernel[d] != 1 || stride[d] != 1 || pad_before[d] != 0 || pad_after[d] != 0) return false;
  return true;
}

ConvGeometry resolve_conv(const Shape& input, const Shape& weight, const Shape* bias, const ConvParams& params) {
  NORMRT_CHECK(weight.size() >= 3 && weight.size() <= 5, "conv: weight of size ", shape_str(weight),
               " must have 3, 4 or 5 dimensions (out_channels, in_channels / groups, *kernel_size)");
  ConvGeometry g;
  g.spatial = static_cast<int>(weight.size()) - 2;
  const int s = g.spatial;
  NORMRT_CHECK(input.size() == weight.size(), "Expected ", s + 1, "D (unbatched) or ", s + 2,
               "D (batched) input to conv", s, "d, but got input of size: ", shape_str(input));
  g.stride = expand(params.stride, s, "stride", 1);
  g.dilation = expand(params.dilation, s, "dilation", 1);
  g.groups = params.groups;
  for (int d = 0; d < 3; ++d) NORMRT_CHECK(g.stride[d] > 0, "non-positive stride is not supported");
  if (params.padding_mode == PaddingMode::Explicit) {
    g.pad_before = g.pad_after = expand(params.padding, s, "padding", 0);
    for (int d = 0; d < 3; ++d) NORMRT_CHECK(g.pad_before[d] >= 0, "negative padding is not supported");
  }
  for (int d = 0; d < 3; ++d) NORMRT_CHECK(g.dilation[d] > 0, "non-positive dilation is not supported");
  NORMRT_CHECK(g.groups > 0, "non-positive groups is not supported");
  NORMRT_CHECK(weight[0] >= g.groups, "Given groups=", g.groups, ", expected weight to be at least ", g.groups,
               " at dimension 0, but got weight of size ", shape_str(weight), " instead");
  NORMRT_CHECK(weight[0] % g.groups == 0, "Given groups=", g.groups, ", expected weight to be divisible by ",
               g.groups, " at dimension 0, but got weight of size ", shape_str(weight), " instead");
  NORMRT_CHECK(input[1] == weight[1] * g.groups, "Given groups=", g.groups, ", weight of size ", shape_str(weight),
               ", expected input", shape_str(input), " to have ", weight[1] * g.groups, " channels, but got ",
               input[1], " channels instead");
  if (bias != nullptr)
    NORMRT_CHECK(bias->size() == 1 && (*bias)[0] == weight[0], "Given weight of size ", shape_str(weight),
                 ", expected bias to be 1-dimensional with ", weight[0], " elements, but got bias of size ",
                 shape_str(*bias), " instead");
  g.n = input[0];
  g.c = input[1];
  g.o = weight[0];
  for (int d = 0; d < s; ++d) {
    g.in[3 - s + d] = input[2 + d];
    g.kernel[3 - s + d] = weight[2 + d];
  }
  if (params.padding_mode == PaddingMode::Same) {
    for (int d = 0; d < 3; ++d)
      NORMRT_CHECK(g.stride[d] == 1, "padding='same' is not supported for strided convolutions");
    for (int d = 0; d < 3; ++d) {
      const int64_t total = g.dilation[d] * (g.kernel[d] - 1);
      g.pad_before[d] = total / 2;
      g.pad_after[d] = total - total / 2;
    }
  }
  std::array<int64_t, 3> padded{}, extent{};
  for (int d = 0; d < 3; ++d) {
    padded[d] = g.in[d] + g.pad_before[d] + g.pad_after[d];
    extent[d] = g.dilation[d] * (g.kernel[d] - 1) + 1;
  }
  for (int d = 0; d < 3; ++d)
    NORMRT_CHECK(padded[d] >= extent[d], "Calculated padded input size per channel: (", joined(padded, s),
                 "). Kernel size: (", joined(extent, s), "). Kernel size can't be greater than actual input size");
  for (int d = 0; d < 3; ++d) g.out[d] = (padded[d] - extent[d]) / g.stride[d] + 1;
  return g;
}

}  // namespace detail

#if !NORMRT_WITH_CUDA
int64_t conv_algorithm_choices() { return 0; }
int64_t conv_algorithm_searches() { return 0; }
#endif
void set_conv_deterministic(bool on) { g_deterministic = on; }
bool conv_deterministic() { return g_deterministic; }
void set_conv_allow_tf32(bool allow) { g_allow_tf32 = allow; }
bool conv_allow_tf32() { return g_allow_tf32; }
void set_conv_benchmark(bool on) { g_benchmark = on; }
bool conv_benchmark() { return g_benchmark; }
void set_conv_use_onednn(bool on) { g_use_onednn = on; }
bool conv_use_onednn() { return NORMRT_WITH_ONEDNN && g_use_onednn; }

namespace {

// Unbatched input (C, *spatial) is run as a batch of one, as PyTorch does.
Shape batched(const Shape& input, const Shape& weight) {
  if (input.size() + 1 != weight.size()) return input;
  Shape out = input;
  out.insert(out.begin(), 1);
  return out;
}

Shape output_shape(const detail::ConvGeometry& g) {
  Shape out = {g.n, g.o};
  for (int d = 3 - g.spatial; d < 3; ++d) out.push_back(g.out[d]);
  return out;
}

Shape channel_view(const detail::ConvGeometry& g) {
  Shape view = {1, g.o};
  for (int d = 0; d < g.spatial; ++d) view.push_back(1);
  return view;
}

#if NORMRT_WITH_CUDA
// cuDNN pads symmetrically. "same" with an even kernel extent pads one more after than before: run it with the
// larger padding on both sides, which adds one leading output position per such dimension, and drop that position
// (forward) or give it a zero gradient (backward).
detail::ConvGeometry widened(const detail::ConvGeometry& g) {
  detail::ConvGeometry w = g;
  for (int d = 0; d < 3; ++d) {
    w.pad_before[d] = g.pad_after[d];
    w.out[d] = g.out[d] + (g.pad_after[d] - g.pad_before[d]) / g.stride[d];
  }
  return w;
}

// Tensor dimension of spatial dimension d (of the three) for a geometry of g.spatial dimensions.
int64_t tensor_dim(const detail::ConvGeometry& g, int d) { return 2 + d - (3 - g.spatial); }

// A contiguous problem cuDNN has no usable algorithm for cannot run (a channels-last one goes through contiguous
// copies instead).
[[noreturn]] void no_cudnn_algorithm(const char* direction) {
  NORMRT_THROW("cuDNN found no usable ", direction, " convolution algorithm for this problem",
               conv_deterministic() ? " among the deterministic ones (set_conv_deterministic(false) allows the others)"
                                    : "");
}

// cuDNN's forward of x as it lies in memory (contiguous or channels-last, the filter laid out to match); undefined
// where cuDNN has no algorithm for it. Asymmetric padding runs the widened problem and drops its leading outputs.
Tensor cudnn_forward(const detail::ConvGeometry& g, const Tensor& x, const Tensor& w) {
  const MemoryFormat format = x.memory_format();
  const Tensor filter = w.to(format);
  const detail::ConvGeometry run = g.symmetric_padding() ? g : widened(g);
  Tensor y = empty(output_shape(run), TensorOptions(x.device()).dtype(x.dtype()).memory_format(format));
  if (!detail::cudnn_conv_forward(run, x.dtype(), format != MemoryFormat::Contiguous, x.raw_data(), filter.raw_data(),
                                  y.raw_data(), x.device()))
    return Tensor();
  for (int d = 3 - g.spatial; d < 3; ++d)
    if (run.out[d] != g.out[d]) y = narrow(y, tensor_dim(g, d), run.out[d] - g.out[d], g.out[d]);
  return y;  // narrow keeps y's format
}

// The output gradient laid out for the geometry cuDNN runs (zeros at the dropped leading positions), in dy's memory
// format.
std::pair<detail::ConvGeometry, Tensor> cudnn_backward_problem(const detail::ConvGeometry& g, const Tensor& dy) {
  if (g.symmetric_padding()) return {g, dy};
  const detail::ConvGeometry wide = widened(g);
  Tensor padded = dy;
  for (int d = 3 - g.spatial; d < 3; ++d) {
    if (wide.out[d] == g.out[d]) continue;
    Shape lead = padded.sizes();
    lead[tensor_dim(g, d)] = wide.out[d] - g.out[d];
    // The zeros in dy's memory format, so that cat's result keeps it.
    const TensorOptions options = TensorOptions(dy.device()).dtype(dy.dtype()).memory_format(dy.memory_format());
    padded = cat({zeros(lead, options), padded}, tensor_dim(g, d));
  }
  return {wide, padded};
}
#endif

}  // namespace

Shape conv_output_shape(const Shape& input, const Shape& weight, const ConvParams& params) {
  const Shape x = batched(input, weight);
  Shape out = output_shape(detail::resolve_conv(x, weight, nullptr, params));
  if (x.size() != input.size()) out.erase(out.begin());
  return out;
}

Tensor conv(const Tensor& input, const Tensor& weight, const Tensor& bias, const ConvParams& params) {
  const normrt::detail::NvtxRange range("conv");
  // 16-bit operands: cuDNN takes them as they are on a GPU; the CPU computes them in float32.
  const auto h = util::reduced_dtype("conv", {&input, &weight, &bias});
  if (h && !input.device().is_cuda())
    return conv(util::widened(input), util::widened(weight), util::widened(bias), params).to(*h);
  util::check_floating(input, "input");
  util::check_floating(weight, "weight");
  util::check_same_device(input, weight);
  if (bias.defined()) {
    util::check_floating(bias, "bias");
    util::check_same_device(input, bias);
  }
  const Shape x_shape = batched(input.sizes(), weight.sizes());
  const Shape bias_shape = bias.defined() ? bias.sizes() : Shape{};
  const detail::ConvGeometry g =
      detail::resolve_conv(x_shape, weight.sizes(), bias.defined() ? &bias_shape : nullptr, params);
  Shape y_shape = output_shape(g);
  const bool empty_output = g.n == 0 || g.o == 0 || g.out_size() == 0;
  // Weights in another memory format are read through a contiguous copy (they are small), except channels-last
  // weights under channels-last activations on cuDNN, which reads them as they lie. The output takes the input's
  // memory format, as PyTorch's does. An unbatched input's memory format is not the batch's.
  if (!weight.is_contiguous() && !(input.device().is_cuda() && weight.memory_format() == input.memory_format()))
    return conv(input, weight.contiguous(), bias, params);
  const bool channels_last = !input.is_contiguous();
  if (channels_last &&
      !(g.c > 0 && x_shape.size() == input.sizes().size() && native_channels_last(g, input.device(), false)))
    return conv(input.contiguous(), weight, bias, params).to(input.memory_format());
  Tensor y;
  if (input.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    const util::Launch launch(input);
    // With no input channels the convolution is zero (plus the bias).
    y = empty_output || g.c == 0
            ? zeros(y_shape, TensorOptions(input.device()).dtype(input.dtype()).memory_format(input.memory_format()))
            : cudnn_forward(g, input, weight);
    if (!y.defined()) {  // no cuDNN algorithm for the problem
      if (!channels_last) no_cudnn_algorithm("forward");
      return conv(input.contiguous(), weight, bias, params).to(input.memory_format());
    }
    if (bias.defined() && !empty_output) add_(y, bias.reshape(channel_view(g)));
#else
    util::no_cuda("conv");
#endif
  } else if (channels_last) {
    y = empty(y_shape, TensorOptions(input.device()).memory_format(input.memory_format()));
    if (!empty_output && !cpu_forward_channels_last(g, util::stored<float>(input), weight.data<float>(),
                                                    bias.defined() ? bias.data<float>() : nullptr,
                                                    util::stored<float>(y)))
      return conv(input.contiguous(), weight, bias, params).to(input.memory_format());
  } else {
    y = empty(y_shape, input.device());
    if (!empty_output)
      cpu_forward(g, input.data<float>(), weight.data<float>(), bias.defined() ? bias.data<float>() : nullptr,
                  y.data<float>());
  }
  if (x_shape.size() != input.sizes().size()) y = y.reshape(Shape(y_shape.begin() + 1, y_shape.end()));
  return y;
}

Tensor conv_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight, const ConvParams& params,
                     Tensor* grad_weight, Tensor* grad_bias, bool need_input_grad) {
  const normrt::detail::NvtxRange range("conv_backward");
  // 16-bit operands: cuDNN takes them as they are on a GPU (with accumulators of their dtype); otherwise they are
  // computed in float32.
  const auto h = util::reduced_dtype("conv_backward", {&grad_output, &input, &weight});
  if (h && !util::native_16bit_backward(input, *h, grad_weight, grad_bias)) {
    return util::backward_through_float32(*h, grad_weight, grad_bias, [&](Tensor* dw, Tensor* db) {
      return conv_backward(util::widened(grad_output), util::widened(input), util::widened(weight), params, dw, db,
                           need_input_grad);
    });
  }
  util::check_floating(grad_output, "grad_output");
  util::check_floating(input, "input");
  util::check_floating(weight, "weight");
  util::check_same_device(input, weight);
  util::check_same_device(grad_output, input);
  NORMRT_CHECK(grad_weight != nullptr, "conv_backward: grad_weight is required");
  const DType dtype = input.dtype();
  const Shape x_shape = batched(input.sizes(), weight.sizes());
  const detail::ConvGeometry g = detail::resolve_conv(x_shape, weight.sizes(), nullptr, params);
  const Shape y_shape = output_shape(g);
  Shape expected_dy = y_shape;
  if (x_shape.size() != input.sizes().size()) expected_dy.erase(expected_dy.begin());
  NORMRT_CHECK(grad_output.sizes() == expected_dy, "conv_backward: grad_output shape ",
               shape_str(grad_output.sizes()), " does not match the output shape ", shape_str(expected_dy));
  const bool accumulate_w = grad_weight->defined();
  if (accumulate_w)
    NORMRT_CHECK(grad_weight->sizes() == weight.sizes() && grad_weight->device() == weight.device() &&
                     grad_weight->dtype() == dtype,
                 "conv_backward: grad_weight shape ", shape_str(grad_weight->sizes()), " does not match weight shape ",
                 shape_str(weight.sizes()));
  const bool accumulate_b = grad_bias != nullptr && grad_bias->defined();
  if (accumulate_b)
    NORMRT_CHECK(grad_bias->sizes() == Shape{g.o} && grad_bias->device() == weight.device() &&
                     grad_bias->dtype() == dtype,
                 "conv_backward: grad_bias shape ", shape_str(grad_bias->sizes()), " does not match [", g.o, "]");

  const Device device = input.device();
  // Every element of dx, and of a fresh dw, is written when there is work; otherwise they are zeros.
  const bool work = g.n > 0 && g.o > 0 && g.c > 0 && g.out_size() > 0;
  // Channels-last operands (either) run as they are where cuDNN or oneDNN takes them, else through contiguous copies;
  // dx takes the input's memory format.
  const bool channels_last = !input.is_contiguous() || !grad_output.is_contiguous();
  const auto through_contiguous = [&] {
    const Tensor dx = conv_backward(grad_output.contiguous(), input.contiguous(), weight, params, grad_weight,
                                    grad_bias, need_input_grad);
    return dx.defined() ? dx.to(input.memory_format()) : dx;
  };
  if (channels_last &&
      !(work && x_shape.size() == input.sizes().size() && native_channels_last(g, device, true)))
    return through_contiguous();
  const MemoryFormat layout =
      channels_last ? normrt::detail::channels_last_format(input.dim()) : MemoryFormat::Contiguous;
  // The backends read the weight, and write dw, contiguous, or in NHWC filter layout on cuDNN under channels-last
  // activations: channels-last memory. A weight in another format is read through a copy (it is small); an
  // accumulator in another format gets the result added.
  const MemoryFormat weight_layout = device.is_cuda() ? layout : MemoryFormat::Contiguous;
  if (weight.memory_format() != weight_layout && !weight.is_contiguous()) {
    const bool fresh_gradient = !accumulate_w;
    const Tensor dx =
        conv_backward(grad_output, input, weight.contiguous(), params, grad_weight, grad_bias, need_input_grad);
    if (fresh_gradient) *grad_weight = grad_weight->to(weight.memory_format());
    return dx;
  }
  const bool accumulate_in_place = accumulate_w && grad_weight->memory_format() == weight_layout;
  const TensorOptions options = TensorOptions(device).dtype(dtype);
  const auto fresh = [&](const Shape& shape, MemoryFormat format) {
    return work ? empty(shape, TensorOptions(options).memory_format(format)) : zeros(shape, options);
  };
  Tensor dx = need_input_grad ? fresh(input.sizes(), layout) : Tensor();
  Tensor dw = accumulate_in_place ? *grad_weight : fresh(weight.sizes(), weight_layout);
  const Tensor dy = channels_last ? grad_output.to(layout) : grad_output.reshape(y_shape);
  const Tensor x = input.to(layout);
  if (device.is_cuda()) {
#if NORMRT_WITH_CUDA
    const util::Launch launch(input);
    if (work) {
      const auto [problem, dy_problem] = cudnn_backward_problem(g, dy);
      const Tensor filter = weight.to(layout);
      // Where cuDNN has no algorithm (nothing written to dw then), channels-last problems go through contiguous copies.
      const bool data_ran = !need_input_grad ||
                            detail::cudnn_conv_backward_data(problem, dtype, channels_last, dy_problem.raw_data(),
                                                             filter.raw_data(), dx.raw_data(), device);
      if (!data_ran && !channels_last) no_cudnn_algorithm("backward-data");
      const bool filter_ran =
          data_ran && detail::cudnn_conv_backward_filter(problem, dtype, channels_last, x.raw_data(),
                                                         dy_problem.raw_data(), dw.raw_data(), accumulate_in_place,
                                                         device);
      if (data_ran && !filter_ran && !channels_last) no_cudnn_algorithm("backward-filter");
      if (!filter_ran) return through_contiguous();
    }
#else
    util::no_cuda("conv_backward");
#endif
  } else if (channels_last) {  // nothing is written where oneDNN refuses
    if (!cpu_backward_channels_last(g, util::stored<float>(x), util::stored<float>(dy), weight.data<float>(),
                                    need_input_grad ? util::stored<float>(dx) : nullptr, dw.data<float>(),
                                    accumulate_in_place))
      return through_contiguous();
  } else if (work) {
    cpu_backward(g, input.data<float>(), dy.data<float>(), weight.data<float>(),
                 need_input_grad ? dx.data<float>() : nullptr, dw.data<float>(), accumulate_in_place);
  }
  if (accumulate_w && !accumulate_in_place) add_(*grad_weight, dw);
  if (accumulate_w) grad_weight->bump_version();
  else *grad_weight = dw.to(weight.memory_format());  // a gradient in its weight's format
  if (grad_bias != nullptr) {
    // Sum over the batch and every spatial position: (N, O, L) -> (O), in float32; rounded once into a 16-bit one.
    // Channels-last dy is an (N L, O) matrix as it lies: its column sums, without a transpose.
    const Tensor db =
        channels_last
            ? sum(util::widened(from_blob(dy.raw_data(), {g.n * g.out_size(), g.o}, options)), 0)
            : sum(sum(util::widened(dy).reshape({g.n, g.o, g.out_size()}), 2), 0);
    if (accumulate_b) add_(*grad_bias, db);
    else *grad_bias = db.to(dtype);
  }
  return dx.defined() ? dx.to(input.memory_format()) : dx;
}

Tensor conv_input_grad(const Tensor& grad_output, const Shape& input_shape, const Tensor& weight,
                       const ConvParams& params) {
  const normrt::detail::NvtxRange range("conv_input_grad");
  // 16-bit operands: cuDNN takes them as they are on a GPU; the CPU computes them in float32.
  const auto h = util::reduced_dtype("conv_input_grad", {&grad_output, &weight});
  if (h && !grad_output.device().is_cuda())
    return conv_input_grad(util::widened(grad_output), input_shape, util::widened(weight), params).to(*h);
  util::check_floating(grad_output, "grad_output");
  util::check_floating(weight, "weight");
  util::check_same_device(grad_output, weight);
  const Shape x_shape = batched(input_shape, weight.sizes());
  const detail::ConvGeometry g = detail::resolve_conv(x_shape, weight.sizes(), nullptr, params);
  const Shape y_shape = output_shape(g);
  Shape expected_dy = y_shape;
  if (x_shape.size() != input_shape.size()) expected_dy.erase(expected_dy.begin());
  NORMRT_CHECK(grad_output.sizes() == expected_dy, "conv_input_grad: grad_output shape ",
               shape_str(grad_output.sizes()), " does not match the output shape ", shape_str(expected_dy));
  const Device device = grad_output.device();
  const TensorOptions options = TensorOptions(device).dtype(grad_output.dtype());
  const bool work = g.n > 0 && g.o > 0 && g.c > 0 && g.out_size() > 0;
  Tensor dx = work ? empty(input_shape, options) : zeros(input_shape, options);
  if (!work) return dx;
  const Tensor dy = grad_output.contiguous().reshape(y_shape), w = weight.contiguous();
  if (device.is_cuda()) {
#if NORMRT_WITH_CUDA
    const util::Launch launch(dy);
    const auto [problem, dy_problem] = cudnn_backward_problem(g, dy);
    if (!detail::cudnn_conv_backward_data(problem, dy.dtype(), false, dy_problem.raw_data(), w.raw_data(),
                                          dx.raw_data(), device))
      no_cudnn_algorithm("backward-data");
#else
    util::no_cuda("conv_input_grad");
#endif
    return dx;
  }
  detail::cpu_conv_backward_data(g, dy.data<float>(), w.data<float>(), dx.data<float>());
  return dx;
}

}  // namespace normrt::ops
