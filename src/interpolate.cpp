// normrt::ops::interpolate: argument checks (PyTorch's order and words, before anything runs), the geometry in
// PyTorch's float arithmetic, the CPU loops and dispatch to the CUDA kernels; both run imath's per-element functions.
#include "normrt/ops/interpolate.h"

#include <cmath>
#include <sstream>

#include "cpu_threads.h"
#include "interpolate_math.cuh"
#include "nvtx.h"
#include "normrt/ops/pooling.h"
#include "op_util.h"
#include "wide_vectors.h"
#if NORMRT_WITH_CUDA
#include "interpolate.cuh"
#endif

namespace normrt::ops {

const char* interpolate_mode_name(InterpolateMode mode) {
  switch (mode) {
    case InterpolateMode::NearestExact: return "nearest-exact";
    case InterpolateMode::Linear: return "linear";
    case InterpolateMode::Bilinear: return "bilinear";
    case InterpolateMode::Trilinear: return "trilinear";
    case InterpolateMode::Area: return "area";
    case InterpolateMode::Bicubic: return "bicubic";
    default: return "nearest";
  }
}

namespace {

template <typename T>
std::string python_tuple(const std::vector<T>& values) {
  std::ostringstream out;
  out << "(";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out << ", ";
    if constexpr (std::is_floating_point_v<T>) {
      std::ostringstream v;
      v << values[i];
      out << v.str() << (v.str().find_first_of(".en") == std::string::npos ? ".0" : "");
    } else {
      out << values[i];
    }
  }
  out << (values.size() == 1 ? ",)" : ")");
  return out.str();
}

// "(H: 4, W: 4)" for the sizes of the last spatial axes, as PyTorch names them.
std::string named_sizes(const Shape& spatial) {
  static const char* names[] = {"D", "H", "W"};
  std::string out = "(";
  for (std::size_t i = 0; i < spatial.size(); ++i)
    out += std::string(i > 0 ? ", " : "") + names[3 - spatial.size() + i] + ": " + std::to_string(spatial[i]);
  return out + ")";
}

struct Plan {
  imath::Geometry geometry;
  Shape out_shape;
  Shape out_spatial;
};

// The geometry of interpolating an input of `in` (with `format`), every argument checked first.
Plan plan(const Shape& in, MemoryFormat format, const InterpolateOptions& o) {
  const int dims = static_cast<int>(in.size());
  const InterpolateMode mode = o.mode();
  const bool linear =
      mode == InterpolateMode::Linear || mode == InterpolateMode::Bilinear || mode == InterpolateMode::Trilinear;
  const bool cubic = mode == InterpolateMode::Bicubic;
  NORMRT_CHECK(linear || cubic || !o.align_corners(),
               "align_corners option can only be set with the interpolating "
               "modes: linear | bilinear | bicubic | trilinear");
  const bool has_size = o.has_size(), has_scale = o.has_scale_factor();
  NORMRT_CHECK(!(has_size && has_scale), "only one of size or scale_factor should be defined");
  const int axes = dims - 2;
  const Shape spatial(in.begin() + std::min(dims, 2), in.end());
  if (has_size && !o.broadcast())
    NORMRT_CHECK(static_cast<int>(o.size().size()) == axes, "Input and output must have the same number of spatial "
                 "dimensions, but got input with spatial dimensions of ", shape_str(spatial), " and output size of ",
                 python_tuple(o.size()), ". Please provide input tensor in (N, C, d1, d2, ...,dK) format and output "
                 "size in (o1, o2, ...,oK) format.");
  if (has_scale && !o.broadcast())
    NORMRT_CHECK(static_cast<int>(o.scale_factor().size()) == axes, "Input and scale_factor must have the same number "
                 "of spatial dimensions, but got input with spatial dimensions of ", shape_str(spatial),
                 " and scale_factor of shape ", python_tuple(o.scale_factor()), ". Please provide input tensor in (N, "
                 "C, d1, d2, ...,dK) format and scale_factor in (s1, s2, ...,sK) format.");
  NORMRT_CHECK(has_size || has_scale, "either size or scale_factor should be defined");
  NORMRT_CHECK(!(has_size && o.recompute_scale_factor()),
               "recompute_scale_factor is not meaningful with an explicit size.");
  // F.interpolate's dispatch: the linear modes and bicubic take one rank each; six mismatches have words of their
  // own, the rest (bicubic's among them) the general one.
  const int needed = mode == InterpolateMode::Linear      ? 3
                     : mode == InterpolateMode::Trilinear ? 5
                     : linear || cubic                    ? 4
                                                          : dims;
  if (linear && (dims == 3 || dims == 4 || dims == 5))
    NORMRT_CHECK(dims == needed, "Got ", dims, "D input, but ", interpolate_mode_name(mode), " mode needs ", needed,
                 "D input");
  NORMRT_CHECK(dims >= 3 && dims <= 5 && dims == needed,
               "Input Error: Only 3D, 4D and 5D input Tensors supported (got ", dims,
               "D) for the modes: nearest | linear | bilinear | bicubic | trilinear | area | nearest-exact (got ",
               interpolate_mode_name(mode), ")");
  Shape out_spatial(static_cast<std::size_t>(axes));
  // F.interpolate floors the scaled sizes where it recomputes the scale (area always does); ATen truncates them
  // otherwise. A size beyond int64 (or from a NaN factor) has neither.
  const bool floored = o.recompute_scale_factor() || mode == InterpolateMode::Area;
  for (int d = 0; d < axes; ++d) {
    const std::size_t pick = o.broadcast() ? 0 : static_cast<std::size_t>(d);
    const int64_t in_size = spatial[static_cast<std::size_t>(d)];
    if (has_size) {
      out_spatial[static_cast<std::size_t>(d)] = o.size()[pick];
      continue;
    }
    const double wanted = static_cast<double>(in_size) * o.scale_factor()[pick];
    NORMRT_CHECK(std::isfinite(wanted) && std::fabs(wanted) < 0x1p62, "interpolate: scale_factor ",
                 o.scale_factor()[pick], " gives no output size for an input of ", in_size);
    out_spatial[static_cast<std::size_t>(d)] = static_cast<int64_t>(floored ? std::floor(wanted) : wanted);
  }
  // Area is adaptive average pooling, which checks its own arguments (zero output sizes allowed).
  if (mode != InterpolateMode::Area) {
    bool positive = true;
    for (int d = 0; d < axes; ++d)
      positive = positive && spatial[static_cast<std::size_t>(d)] > 0 && out_spatial[static_cast<std::size_t>(d)] > 0;
    NORMRT_CHECK(positive, "Input and output sizes should be greater than 0, but got input ", named_sizes(spatial),
                 axes == 1 ? " and output " : " output ", named_sizes(out_spatial));
    NORMRT_CHECK(in[1] != 0, "Non-empty ", dims, "D data tensor expected but got a tensor with sizes ", shape_str(in));
  }

  Plan p;
  imath::Geometry& g = p.geometry;
  g.mode = linear ? imath::Mode::Linear
         : cubic  ? imath::Mode::Cubic
         : mode == InterpolateMode::NearestExact ? imath::Mode::NearestExact
                                                 : imath::Mode::Nearest;
  g.first_axis = imath::kMaxAxes - axes;
  g.batch = in[0];
  g.channels = in[1];
  const bool align = o.align_corners().value_or(false);
  for (int d = 0; d < axes; ++d) {
    imath::Axis& a = g.axis[g.first_axis + d];
    a.in = spatial[static_cast<std::size_t>(d)];
    a.out = out_spatial[static_cast<std::size_t>(d)];
    a.align_corners = align;
    // PyTorch's area_pixel_compute_scale / compute_scales_value, in float.
    const double factor = has_scale && !o.recompute_scale_factor()
                              ? o.scale_factor()[o.broadcast() ? 0 : static_cast<std::size_t>(d)]
                              : 0.0;
    if ((linear || cubic) && align)
      a.step = a.out > 1 ? static_cast<float>(a.in - 1) / static_cast<float>(a.out - 1) : 0.0f;
    else
      a.step = factor > 0.0 ? static_cast<float>(1.0 / factor) : static_cast<float>(a.in) / static_cast<float>(a.out);
  }
  p.out_spatial = out_spatial;
  p.out_shape = {in[0], in[1]};
  p.out_shape.insert(p.out_shape.end(), out_spatial.begin(), out_spatial.end());
  // Element strides of (N, C, axis 0..2), the missing leading axes of size 1 and stride 0.
  auto strides = [&](const Shape& shape, int64_t* stride) {
    const int64_t c = shape[1];
    int64_t plane = 1;
    for (int d = 2; d < dims; ++d) plane *= shape[static_cast<std::size_t>(d)];
    g.channels_last = format != MemoryFormat::Contiguous;
    int64_t inner = g.channels_last ? c : 1;
    for (int d = dims - 1; d >= 2; --d) {
      stride[2 + g.first_axis + (d - 2)] = inner;
      inner *= shape[static_cast<std::size_t>(d)];
    }
    stride[1] = g.channels_last ? 1 : plane;
    stride[0] = c * plane;
  };
  strides(in, g.in_stride);
  strides(p.out_shape, g.out_stride);
  return p;
}

void check_floating(const Tensor& t, const char* what) {
  NORMRT_CHECK(t.defined(), what, " is undefined");
  NORMRT_CHECK(is_floating(t.dtype()), "interpolate: ", what, " must be floating (float32, float16 or bfloat16), got ",
               dtype_name(t.dtype()));
}

// The CPU's tables: each axis's taps (by output position) and reaching ranges (by input position), made once by
// imath's functions, so that the loops compute the kernels' bits without their per-element divisions and searches.
struct TapTables {
  std::vector<imath::Tap> taps[imath::kMaxAxes];
  std::vector<imath::Range> ranges[imath::kMaxAxes];
  imath::Tap operator()(int d, int64_t dst) const { return taps[d][static_cast<std::size_t>(dst)]; }
};

TapTables tap_tables(const imath::Geometry& g, bool with_ranges) {
  TapTables t;
  for (int d = 0; d < imath::kMaxAxes; ++d) {
    const imath::Axis& a = g.axis[d];
    for (int64_t o = 0; o < a.out; ++o) t.taps[d].push_back(imath::axis_tap(g.mode, a, o));
    if (with_ranges)
      for (int64_t i = 0; i < a.in; ++i) t.ranges[d].push_back(imath::reaching(g.mode, a, i));
  }
  return t;
}

// fn(n, c, position[3]) over every (n, c, position) of the input's or the output's axes, each (n, c) plane's work in
// parallel.
template <typename Fn>
void for_each_position(const imath::Geometry& g, bool output, Fn fn) {
  int64_t sizes[imath::kMaxAxes];
  int64_t positions = 1;
  for (int d = 0; d < imath::kMaxAxes; ++d) positions *= sizes[d] = output ? g.axis[d].out : g.axis[d].in;
  const int64_t planes = g.batch * g.channels;
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(8 * planes * positions))
  for (int64_t plane = 0; plane < planes; ++plane) {
    const int64_t n = plane / g.channels;
    const int64_t c = plane % g.channels;
    int64_t p[imath::kMaxAxes];
    for (p[0] = 0; p[0] < sizes[0]; ++p[0])
      for (p[1] = 0; p[1] < sizes[1]; ++p[1])
        for (p[2] = 0; p[2] < sizes[2]; ++p[2]) fn(n, c, p);
  }
}

// fn(n, c, position[3] with the last at 0) over every output row along the last axis.
template <typename Fn>
void for_each_row(const imath::Geometry& g, Fn fn) {
  const int64_t planes = g.batch * g.channels, rows = g.axis[0].out * g.axis[1].out;
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(planes * rows * g.axis[2].out))
  for (int64_t plane = 0; plane < planes; ++plane) {
    int64_t o[imath::kMaxAxes] = {0, 0, 0};
    for (o[0] = 0; o[0] < g.axis[0].out; ++o[0])
      for (o[1] = 0; o[1] < g.axis[1].out; ++o[1]) fn(plane / g.channels, plane % g.channels, o);
  }
}

// Bilinear (K = 2) and bicubic (K = 4) interpolation of contiguous planes, an output row at a time: interpolate_at's
// sums in its order, w_row0 (w_col0 x[r0][c0] + w_col1 x[r0][c1] + ...) + w_row1 (...) + ..., each sum from its
// first term, so its bits, with the column taps in arrays and the K input rows fixed for the row: a loop that
// vectorises (its reads gathers) where the generic one walked corners.
NORMRT_WIDE_VECTORS_BEGIN
template <int K>
void planar_rows(const imath::Geometry& g, const TapTables& tables, const float* xs, float* ys) {
  const int64_t width = g.axis[2].out;
  std::vector<int64_t> columns[K];
  std::vector<float> weights[K];
  for (const imath::Tap& t : tables.taps[2]) {
    for (int k = 0; k < K; ++k) {
      columns[k].push_back(t.i[k] * g.in_stride[4]);
      weights[k].push_back(t.w[k]);
    }
  }
  for_each_row(g, [&](int64_t batch, int64_t c, const int64_t* o) {
    const imath::Tap rows = tables.taps[1][static_cast<std::size_t>(o[1])];
    const float* r[K];
    for (int k = 0; k < K; ++k) {
      const int64_t p[imath::kMaxAxes] = {0, rows.i[k], 0};
      r[k] = xs + imath::offset(g.in_stride, batch, c, p);
    }
    float* out = ys + imath::offset(g.out_stride, batch, c, o);
    const int64_t* col[K];
    const float* w[K];
    for (int k = 0; k < K; ++k) col[k] = columns[k].data(), w[k] = weights[k].data();
    for (int64_t j = 0; j < width; ++j) {
      float total = 0.0f;
      for (int row = 0; row < K; ++row) {
        float line = w[0][j] * r[row][col[0][j]];
        for (int k = 1; k < K; ++k) line = line + w[k][j] * r[row][col[k][j]];
        total = row == 0 ? rows.w[0] * line : total + rows.w[row] * line;
      }
      out[j] = total;
    }
  });
}
NORMRT_WIDE_VECTORS_END

// Each input position's reaching outputs along one axis with the weight each reaches it with (tap_weight), in
// output order: the backward's terms, found once per axis.
struct AxisReach {
  std::vector<imath::Range> ranges;  // by input position
  std::vector<int64_t> first;        // by input position: where its weights start in `weights`
  std::vector<float> weights;
};

AxisReach axis_reach(const imath::Geometry& g, const TapTables& tables, int d) {
  AxisReach r;
  r.ranges = tables.ranges[d];
  for (int64_t i = 0; i < g.axis[d].in; ++i) {
    const imath::Range range = r.ranges[static_cast<std::size_t>(i)];
    r.first.push_back(static_cast<int64_t>(r.weights.size()));
    for (int64_t o = range.begin; o < range.end; ++o)
      r.weights.push_back(imath::tap_weight(g.mode, tables(d, o), i));
  }
  return r;
}

// line[p] = the sum over the outputs o that reach input p of w(o, p) dy[o], in output order, from 0. Out of line:
// inlined into the plane loop, GCC vectorised it across p with a gather per term, and the backward of 64x64x12x12 by 2
// ran at 6.7 ms instead of 2.4-3.4 ms.
[[gnu::noinline]] void sum_line(const AxisReach& reach, int64_t in, const float* dy, float* line) {
  for (int64_t p = 0; p < in; ++p) {
    const imath::Range range = reach.ranges[static_cast<std::size_t>(p)];
    const float* w = reach.weights.data() + reach.first[static_cast<std::size_t>(p)] - range.begin;
    float sum = 0.0f;
    for (int64_t o = range.begin; o < range.end; ++o) sum += w[o] * dy[o];
    line[p] = sum;
  }
}

// The backward of contiguous planes, separated by axis with interpolate_gradient_at's bits: its innermost sum over
// the last axis, line(o0, o1, p2) = sum of w2 dy[o0][o1][o2], depends on the input position only through p2, so
// each plane's lines are summed once into a buffer (out0 x out1 x in2), and every input row then adds its
// (o0, o1) terms, total += (w0 w1) line, in the same order, each sum from 0 as there: a loop over the row that
// vectorises, where the per-element gather recomputed each line for every input row that it reaches.
NORMRT_WIDE_VECTORS_BEGIN
void planar_gradient(const imath::Geometry& g, const TapTables& tables, const float* dy, float* dx) {
  const AxisReach reach[imath::kMaxAxes] = {axis_reach(g, tables, 0), axis_reach(g, tables, 1),
                                            axis_reach(g, tables, 2)};
  const int64_t in0 = g.axis[0].in, in1 = g.axis[1].in, in2 = g.axis[2].in;
  const int64_t out0 = g.axis[0].out, out1 = g.axis[1].out, out2 = g.axis[2].out;
  const int64_t planes = g.batch * g.channels, in_plane = in0 * in1 * in2, out_plane = out0 * out1 * out2;
#pragma omp parallel if (cpu::worth_parallel(4 * planes * (in_plane + out_plane)))
  {
    thread_local std::vector<float> line_memory;  // a plane's lines, kept per thread (no allocation per step)
    line_memory.resize(static_cast<std::size_t>(out0 * out1 * in2));
    float* lines = line_memory.data();
#pragma omp for schedule(static)
    for (int64_t plane = 0; plane < planes; ++plane) {
      const float* dy_plane = dy + plane * out_plane;
      float* dx_plane = dx + plane * in_plane;
      for (int64_t row = 0; row < out0 * out1; ++row)
        sum_line(reach[2], in2, dy_plane + row * out2, lines + row * in2);
      for (int64_t p0 = 0; p0 < in0; ++p0) {
        const imath::Range range0 = reach[0].ranges[static_cast<std::size_t>(p0)];
        const float* w0 = reach[0].weights.data() + reach[0].first[static_cast<std::size_t>(p0)] - range0.begin;
        for (int64_t p1 = 0; p1 < in1; ++p1) {
          const imath::Range range1 = reach[1].ranges[static_cast<std::size_t>(p1)];
          const float* w1 = reach[1].weights.data() + reach[1].first[static_cast<std::size_t>(p1)] - range1.begin;
          float* out = dx_plane + (p0 * in1 + p1) * in2;
          std::fill_n(out, in2, 0.0f);
          for (int64_t o0 = range0.begin; o0 < range0.end; ++o0) {
            for (int64_t o1 = range1.begin; o1 < range1.end; ++o1) {
              const float weight = w0[o0] * w1[o1];
              const float* line = lines + (o0 * out1 + o1) * in2;
              for (int64_t p2 = 0; p2 < in2; ++p2) out[p2] += weight * line[p2];
            }
          }
        }
      }
    }
  }
}
NORMRT_WIDE_VECTORS_END

int64_t numel_of(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

}  // namespace

Tensor interpolate(const Tensor& input, const InterpolateOptions& options) {
  const detail::NvtxRange range("interpolate");
  check_floating(input, "input");
  const Plan p = plan(input.sizes(), input.memory_format(), options);
  if (options.mode() == InterpolateMode::Area)
    return adaptive_avg_pool(input, static_cast<int>(p.out_spatial.size()), p.out_spatial);
  const Tensor x = util::widened(input);
  Tensor y = empty(p.out_shape, TensorOptions(x.device()).memory_format(x.memory_format()));
  const int64_t n = y.numel();
  if (n > 0 && x.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    const util::Launch launch(x);
    cuda::interpolate_forward({p.geometry, util::stored<float>(x), util::stored<float>(y)}, launch.sms,
                              launch.stream);
#else
    util::no_cuda("interpolate");
#endif
  } else if (n > 0) {
    const float* xs = util::stored<float>(x);
    float* ys = util::stored<float>(y);
    const imath::Geometry& g = p.geometry;
    const TapTables tables = tap_tables(g, false);
    if (imath::tap_count(g.mode) == 1 && !g.channels_last) {  // nearest, contiguous: each output row a gather
      const int64_t width = g.axis[2].out;
      std::vector<int64_t> columns;
      for (const imath::Tap& t : tables.taps[2]) columns.push_back(t.i[0] * g.in_stride[4]);
      for_each_row(g, [&](int64_t batch, int64_t c, const int64_t* o) {
        const int64_t p[imath::kMaxAxes] = {tables.taps[0][static_cast<std::size_t>(o[0])].i[0],
                                            tables.taps[1][static_cast<std::size_t>(o[1])].i[0], 0};
        const float* row = xs + imath::offset(g.in_stride, batch, c, p);
        float* out = ys + imath::offset(g.out_stride, batch, c, o);
        for (int64_t j = 0; j < width; ++j) out[j] = row[columns[static_cast<std::size_t>(j)]];
      });
    } else if (g.mode == imath::Mode::Linear && g.first_axis == 1 && !g.channels_last) {  // bilinear, contiguous
      planar_rows<2>(g, tables, xs, ys);
    } else if (g.mode == imath::Mode::Cubic && !g.channels_last) {
      planar_rows<4>(g, tables, xs, ys);
    } else {
      for_each_position(g, true, [&](int64_t batch, int64_t c, const int64_t* o) {
        ys[imath::offset(g.out_stride, batch, c, o)] = imath::interpolate_at(g, xs, batch, c, o, tables);
      });
    }
  }
  return util::narrowed(y, input.dtype());
}

Tensor interpolate_backward(const Tensor& grad_output, const Shape& input_sizes, const InterpolateOptions& options) {
  const detail::NvtxRange range("interpolate_backward");
  check_floating(grad_output, "grad_output");
  const Plan p = plan(input_sizes, grad_output.memory_format(), options);
  NORMRT_CHECK(grad_output.sizes() == p.out_shape, "interpolate_backward: expected grad_output of shape ",
               shape_str(p.out_shape), ", got ", shape_str(grad_output.sizes()));
  if (options.mode() == InterpolateMode::Area) {  // the pooling backward reads only its input's shape and layout
    const Tensor stand_in = empty(input_sizes, TensorOptions(grad_output.device())
                                                   .dtype(grad_output.dtype())
                                                   .memory_format(grad_output.memory_format()));
    return adaptive_avg_pool_backward(grad_output, stand_in, static_cast<int>(p.out_spatial.size()));
  }
  const Tensor dy = util::widened(grad_output);
  Tensor dx = empty(input_sizes, TensorOptions(dy.device()).memory_format(dy.memory_format()));
  const int64_t n = numel_of(input_sizes);
  if (n > 0 && dy.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    const util::Launch launch(dy);
    cuda::interpolate_backward({p.geometry, util::stored<float>(dy), util::stored<float>(dx)}, launch.sms,
                               launch.stream);
#else
    util::no_cuda("interpolate_backward");
#endif
  } else if (n > 0) {
    const float* dys = util::stored<float>(dy);
    float* dxs = util::stored<float>(dx);
    const imath::Geometry& g = p.geometry;
    const TapTables tables = tap_tables(g, true);
    if (!g.channels_last) {
      planar_gradient(g, tables, dys, dxs);
    } else {
      for_each_position(g, false, [&](int64_t batch, int64_t c, const int64_t* i) {
        const imath::Range range[imath::kMaxAxes] = {tables.ranges[0][static_cast<std::size_t>(i[0])],
                                                     tables.ranges[1][static_cast<std::size_t>(i[1])],
                                                     tables.ranges[2][static_cast<std::size_t>(i[2])]};
        dxs[imath::offset(g.in_stride, batch, c, i)] =
            imath::interpolate_gradient_at(g, dys, batch, c, i, range, tables);
      });
    }
  }
  return util::narrowed(dx, grad_output.dtype());
}

}  // namespace normrt::ops
