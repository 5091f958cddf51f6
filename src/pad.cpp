// normrt::ops::pad: argument checks (PyTorch's messages, before anything runs), the CPU loops and dispatch to the
// CUDA kernels. Both run padmath's per-element functions.
#include "normrt/ops/pad.h"

#include <algorithm>

#include "cpu_threads.h"
#include "nvtx.h"
#include "op_util.h"
#include "pad_math.cuh"
#if NORMRT_WITH_CUDA
#include "pad.cuh"
#endif

namespace normrt::ops {

const char* pad_mode_name(PadMode mode) {
  switch (mode) {
    case PadMode::Reflect: return "reflect";
    case PadMode::Replicate: return "replicate";
    case PadMode::Circular: return "circular";
    default: return "constant";
  }
}

namespace {

padmath::Mode math_mode(PadMode mode) {
  switch (mode) {
    case PadMode::Reflect: return padmath::Mode::Reflect;
    case PadMode::Replicate: return padmath::Mode::Replicate;
    case PadMode::Circular: return padmath::Mode::Circular;
    default: return padmath::Mode::Constant;
  }
}

Shape out_shape(const padmath::PadGeometry& g) { return Shape(g.out, g.out + g.ndim); }

// How PyTorch's padding checks print a tensor: "[ torch.FloatTensor{2,0,3} ]".
std::string legacy_tensor_str(const Shape& sizes, DType dtype, const Device& device) {
  const std::string type = util::legacy_type_name(dtype, device);
  std::string dims;
  for (const int64_t size : sizes) dims += (dims.empty() ? "" : ",") + std::to_string(size);
  return "[ " + type + "{" + dims + "} ]";
}

// constant_pad_nd's checks: each negative pad narrows the input first (the left one, then the right one, dimension
// by dimension from the first padded), and narrow's checks word the crops it cannot make; then, unless no pad is
// positive, every padded dimension must keep at least one element.
void check_constant_pad(const Shape& in, const std::vector<int64_t>& pad) {
  const std::size_t ndim = in.size(), pairs = pad.size() / 2;
  bool any_positive = false;
  for (std::size_t d = ndim - pairs; d < ndim; ++d) {
    const int64_t left = pad[2 * (ndim - 1 - d)], right = pad[2 * (ndim - 1 - d) + 1];
    int64_t size = in[d];
    if (left < 0) {
      const int64_t start = -left, bound = std::max<int64_t>(size, 1);  // narrow wraps a start other than the end
      if (start != size)
        NORMRT_CHECK(start <= bound - 1, "Dimension out of range (expected to be in range of [", -bound, ", ",
                     bound - 1, "], but got ", start, ")");
      size -= start;
    }
    if (right < 0)
      NORMRT_CHECK(size + right >= 0, "start (0) + length (", size + right, ") exceeds dimension size (", size, ").");
    any_positive = any_positive || left > 0 || right > 0;
  }
  if (!any_positive) return;
  for (std::size_t d = ndim - pairs; d < ndim; ++d) {
    const int64_t left = pad[2 * (ndim - 1 - d)], right = pad[2 * (ndim - 1 - d) + 1];
    NORMRT_CHECK(in[d] + left + right > 0, "The input size ", in[d], ", plus negative padding ", left, " and ", right,
                 " resulted in a negative output size, which is invalid. Check dimension ", d, " of your input.");
  }
}

// reflection_pad{1,2,3}d's and replication_pad{1,2,3}d's checks for `spatial` padded dimensions (the last ones;
// the input has one or two dimensions before them), in their order and words, quirks included: every dimension
// but a batch is non-empty (reflection_pad1d/2d let an unbatched input's channels be empty too), reflect pads are
// below their dimension's size (W first), and the output keeps an element (along W for 1-d, along any padded
// dimension for 2-d and 3-d; a negative size is then refused as the tensor's creation refuses it).
void check_mirror_pad(const Shape& in, const std::vector<int64_t>& pad, PadMode mode, int spatial, DType dtype,
                      const Device& device) {
  const int ndim = static_cast<int>(in.size());
  const bool batched = ndim == spatial + 2, reflect = mode == PadMode::Reflect;
  bool non_empty = true;
  for (int d = batched ? 1 : (reflect && spatial < 3 ? 1 : 0); d < ndim; ++d) non_empty = non_empty && in[d] != 0;
  const std::string expected = std::to_string(spatial + 1) + "D or " + std::to_string(spatial + 2) + "D";
  if (reflect && spatial < 3)
    NORMRT_CHECK(non_empty, expected,
                 " (batch mode) tensor expected for input, but got: ", legacy_tensor_str(in, dtype, device));
  else
    NORMRT_CHECK(non_empty, "Expected ", expected,
                 " (batch mode) tensor with possibly 0 batch size and other non-zero "
                 "dimensions for input, but got: ",
                 shape_str(in));
  int64_t out[3] = {0, 0, 0};  // W, H, D
  for (int k = 0; k < spatial; ++k) {
    const int d = ndim - 1 - k;
    const int64_t left = pad[2 * static_cast<std::size_t>(k)], right = pad[2 * static_cast<std::size_t>(k) + 1];
    if (reflect)
      NORMRT_CHECK(left < in[d] && right < in[d], "Argument #", 4 + 2 * k,
                   ": Padding size should be less than the "
                   "corresponding input dimension, but got: padding (",
                   left, ", ", right, ") at dimension ", d, " of input ",
                   spatial == 2 ? std::to_string(ndim) : shape_str(in));
    out[k] = in[d] + left + right;
  }
  const int64_t w = in[ndim - 1], h = spatial > 1 ? in[ndim - 2] : 0, depth = spatial > 2 ? in[ndim - 3] : 0;
  if (spatial == 1)
    NORMRT_CHECK(out[0] >= 1, reflect ? "2" : "", "input (W: ", w, reflect ? ")" : ") ",
                 "is too small. Calculated output W: ", out[0]);
  else if (spatial == 2)
    NORMRT_CHECK(out[0] >= 1 || out[1] >= 1, "input (H: ", h, ", W: ", w, reflect ? ")" : " ) ", "is too small.",
                 reflect ? "  " : " ", "Calculated output H: ", out[1], " W: ", out[0]);
  else
    NORMRT_CHECK(out[0] >= 1 || out[1] >= 1 || out[2] >= 1, "input (D: ", depth, " H: ", h, ", W: ", w,
                 ") is too small. Calculated output D: ", out[2], " H: ", out[1], " W: ", out[0]);
  Shape result = in;
  for (int k = 0; k < spatial; ++k) result[static_cast<std::size_t>(ndim - 1 - k)] = out[k];
  for (const int64_t size : result)
    NORMRT_CHECK(size >= 0, "Trying to create tensor with negative dimension ", size, ": ", shape_str(result));
}

// _pad_circular's checks, dimension by dimension from the first padded: no pad beyond the dimension's size, no
// negative size. It also takes an unbatched input (one dimension before the padded ones), as PyTorch 2's does;
// 1.13's refused it ("Invalid padding size").
void check_circular_pad(const Shape& in, const std::vector<int64_t>& pad) {
  const std::size_t ndim = in.size(), pairs = pad.size() / 2;
  for (std::size_t d = ndim - pairs; d < ndim; ++d) {
    const int64_t left = pad[2 * (ndim - 1 - d)], right = pad[2 * (ndim - 1 - d) + 1];
    NORMRT_CHECK(left <= in[d] && right <= in[d], "Padding value causes wrapping around more than once.");
    NORMRT_CHECK(in[d] + left + right >= 0, "Negative padding value is resulting in an empty dimension");
  }
}

// The geometry of padding `in` by `pad`, every argument checked first as F.pad checks them (PyTorch 1.13's order
// and words): the modes but constant pad the last 1, 2 or 3 dimensions of an input with one or two more
// dimensions before them; only constant takes a value. `dtype` and `device` name the input where PyTorch's
// messages print it.
padmath::PadGeometry pad_geometry(const Shape& in, const std::vector<int64_t>& pad, PadMode mode, double value,
                                  DType dtype, const Device& device) {
  NORMRT_CHECK(pad.size() % 2 == 0, "Padding length must be divisible by 2");
  const int ndim = static_cast<int>(in.size());
  NORMRT_CHECK(static_cast<int>(pad.size() / 2) <= ndim, "Padding length too large");
  const int spatial = static_cast<int>(pad.size() / 2);
  if (mode == PadMode::Constant) {
    check_constant_pad(in, pad);
  } else {
    NORMRT_CHECK(value == 0.0, "Padding mode \"", pad_mode_name(mode), "\" doesn't take in value argument");
    NORMRT_CHECK(spatial >= 1 && spatial <= 3 && (ndim == spatial + 1 || ndim == spatial + 2),
                 "Only 2D, 3D, 4D, 5D padding with non-constant padding are supported for now");
    if (mode == PadMode::Circular)
      check_circular_pad(in, pad);
    else
      check_mirror_pad(in, pad, mode, spatial, dtype, device);
  }
  padmath::PadGeometry g;
  g.ndim = ndim;
  g.mode = math_mode(mode);
  for (int d = 0; d < ndim; ++d) {
    g.in[d] = g.out[d] = in[static_cast<std::size_t>(d)];
    const std::size_t pair = 2 * static_cast<std::size_t>(ndim - 1 - d);  // the last dimension's pair comes first
    if (pair >= pad.size()) continue;
    g.left[d] = pad[pair];
    g.out[d] = g.in[d] + pad[pair] + pad[pair + 1];
  }
  // A wrap must stay within what a crop on the other side leaves (shape 5 padded (-2, 4)), where PyTorch 1.13 reads
  // its own uninitialised output; an empty result wraps nothing.
  if (mode == PadMode::Circular && shape_numel(out_shape(g)) > 0) {
    for (int d = 0; d < ndim; ++d) {
      const int64_t right = g.out[d] - g.in[d] - g.left[d];
      const padmath::CircularWindow w = padmath::circular_window(g.in[d], g.out[d], g.left[d]);
      NORMRT_CHECK(g.left[d] <= w.width && right <= w.width, "Padding value causes wrapping around more than once.");
    }
  }
  return g;
}

void check_input(const Tensor& t, const char* what) {
  NORMRT_CHECK(t.defined(), "pad: ", what, " is undefined");
  NORMRT_CHECK(is_floating(t.dtype()), "pad: ", what, " must be float32, float16 or bfloat16, got ",
               dtype_name(t.dtype()));
}

template <typename T>
void pad_cpu(const padmath::PadGeometry& g, const T* x, T* y, T value) {
  const int last = g.ndim - 1;
  const int64_t width = g.out[last], rows = shape_numel(out_shape(g)) / std::max<int64_t>(width, 1);
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(rows * width))
  for (int64_t r = 0; r < rows; ++r) {
    // The input row this output row copies (the dimensions before the last), or -1 for a row of the constant.
    int64_t source_row = 0, stride = 1, rest = r;
    for (int d = last - 1; d >= 0 && source_row >= 0; --d) {
      const int64_t s = padmath::pad_source(rest % g.out[d], g.in[d], g.out[d], g.left[d], g.mode);
      source_row = s < 0 ? -1 : source_row + s * stride;
      stride *= g.in[d];
      rest /= g.out[d];
    }
    T* out = y + r * width;
    if (source_row < 0) {
      std::fill(out, out + width, value);
      continue;
    }
    const T* in = x + source_row * g.in[last];
    auto copy_one = [&](int64_t o) {
      const int64_t s = padmath::pad_source(o, g.in[last], width, g.left[last], g.mode);
      out[o] = s < 0 ? value : in[s];
    };
    // Outputs [low, high) copy the input at o - left in every mode (circular's window included); the edges each
    // take pad_source.
    const int64_t left = g.left[last];
    const int64_t low = std::min(std::max<int64_t>(left, 0), width);
    const int64_t high = std::max(low, std::min(width, g.in[last] + left));
    for (int64_t o = 0; o < low; ++o) copy_one(o);
    if (high > low) std::copy(in + (low - left), in + (high - left), out + low);
    for (int64_t o = high; o < width; ++o) copy_one(o);
  }
}

// The CPU's pad_line_gradient for every element, with its terms in its order from 0.0f (so the GPU's bits), laid out
// to vectorise: a position's copies are found once and added across the `inner` elements that share them; along the
// last dimension (inner 1) the positions between the edges, each copied once, are a plain loop.
void gather_lines(const padmath::PadLine& l, const float* dy, float* dx) {
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(l.outer * l.size * l.inner))
  for (int64_t a = 0; a < l.outer; ++a) {
    const float* lines = dy + a * l.out * l.inner;
    float* grads = dx + a * l.size * l.inner;
    auto gather = [&](int64_t i, const padmath::PadCopies& copies) {
      float* out = grads + i * l.inner;
      for (int64_t b = 0; b < l.inner; ++b) out[b] = 0.0f;
      auto add = [&](int64_t o) {
        const float* from = lines + o * l.inner;
        for (int64_t b = 0; b < l.inner; ++b) out[b] += from[b];
      };
      if (copies.before >= 0) add(copies.before);
      for (int64_t o = copies.first; o <= copies.last; ++o) add(o);
      if (copies.after >= 0) add(copies.after);
    };
    auto copies_of = [&](int64_t i) { return padmath::pad_copies(i, l.size, l.out, l.left, l.mode); };
    if (l.inner > 1) {
      for (int64_t i = 0; i < l.size; ++i) gather(i, copies_of(i));
      continue;
    }
    // Positions copied more than once or not at all lie within |left| + |right| + 1 of an edge (mirrors, wraps and
    // crops reach no further); the positions between are copied once.
    const int64_t right = l.out - l.size - l.left;
    const int64_t edge = (l.left < 0 ? -l.left : l.left) + (right < 0 ? -right : right) + 1;
    const int64_t low = std::min(edge, l.size), high = std::max(low, l.size - edge);  // interior: [low, high)
    for (int64_t i = 0; i < low; ++i) gather(i, copies_of(i));
    for (int64_t i = high; i < l.size; ++i) gather(i, copies_of(i));
    const float* own = lines + l.left;
    for (int64_t i = low; i < high; ++i) grads[i] = 0.0f + own[i];
  }
}

}  // namespace

Tensor pad(const Tensor& input, const std::vector<int64_t>& pad, PadMode mode, double value) {
  const detail::NvtxRange range("pad");
  check_input(input, "input");
  const padmath::PadGeometry g = pad_geometry(input.sizes(), pad, mode, value, input.dtype(), input.device());
  const Tensor x = input.contiguous();
  if (g.ndim == 0) return x.clone();
  Tensor y = empty(out_shape(g), TensorOptions(x.device()).dtype(x.dtype()));
  if (y.numel() == 0) return y;
  util::dispatch_element(x.dtype(), [&](auto element) {
    using T = decltype(element);
    const T fill = T(static_cast<float>(value));
    if (x.device().is_cuda()) {
#if NORMRT_WITH_CUDA
      const util::Launch launch(x);
      cuda::pad_forward(cuda::PadForwardParams<T>{g, x.data<T>(), y.data<T>(), fill}, launch.sms, launch.stream);
#else
      util::no_cuda("pad");
#endif
    } else {
      pad_cpu(g, x.data<T>(), y.data<T>(), fill);
    }
  });
  return y;
}

Tensor pad_backward(const Tensor& grad_output, const Shape& input_sizes, const std::vector<int64_t>& pad,
                    PadMode mode) {
  const detail::NvtxRange range("pad_backward");
  check_input(grad_output, "grad_output");
  const padmath::PadGeometry g = pad_geometry(input_sizes, pad, mode, 0.0, grad_output.dtype(), grad_output.device());
  NORMRT_CHECK(grad_output.sizes() == out_shape(g), "pad_backward: expected grad_output of shape ",
               shape_str(out_shape(g)), ", got ", shape_str(grad_output.sizes()));
  // One padded dimension at a time, innermost first: (outer, out, inner) lines gathered to (outer, in, inner).
  Tensor grad = util::widened(grad_output).contiguous();
  Shape sizes = grad.sizes();
  for (int d = g.ndim - 1; d >= 0; --d) {
    if (g.in[d] == g.out[d] && g.left[d] == 0) continue;
    padmath::PadLine line;
    line.size = g.in[d];
    line.out = g.out[d];
    line.left = g.left[d];
    line.mode = g.mode;
    line.outer = line.inner = 1;
    for (int e = 0; e < d; ++e) line.outer *= sizes[static_cast<std::size_t>(e)];
    for (int e = d + 1; e < g.ndim; ++e) line.inner *= sizes[static_cast<std::size_t>(e)];
    sizes[static_cast<std::size_t>(d)] = g.in[d];
    Tensor next = empty(sizes, grad.device());
    const int64_t n = next.numel();
    if (n > 0 && grad.device().is_cuda()) {
#if NORMRT_WITH_CUDA
      const util::Launch launch(grad);
      cuda::pad_backward(cuda::PadBackwardParams{line, grad.data<float>(), next.data<float>()}, launch.sms,
                         launch.stream);
#else
      util::no_cuda("pad");
#endif
    } else if (n > 0) {
      gather_lines(line, grad.data<float>(), next.data<float>());
    }
    grad = next;
  }
  if (grad.is_same(grad_output)) grad = grad.clone();  // nothing padded: a copy, not the caller's tensor
  return util::narrowed(grad, grad_output.dtype());
}

}  // namespace normrt::ops
