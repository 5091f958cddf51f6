// torch.nn.functional.interpolate's per-element arithmetic (nearest, nearest-exact, linear along each of up to three
// spatial axes: linear, bilinear, trilinear, and cubic along two: bicubic), shared by the CPU loops and the CUDA
// kernels.
//
// The source positions follow PyTorch 1.13's formulas in its types (UpSample.h): a float step per axis (1 / scale
// factor when one was given, else in / out; (in - 1) / (out - 1) with align_corners), nearest floor(dst * step),
// nearest-exact floor((dst + 0.5) * step) in double rounded to float, linear max(step (dst + 0.5) - 0.5, 0) split into
// a floor and a weight, cubic step (dst + 0.5) - 0.5 in double rounded to float (unclamped), its floor's four
// neighbours clamped to the axis with PyTorch's cubic-convolution weights (A = -0.75). The backward gathers: each input
// element sums, in a fixed order, the outputs whose taps reach it. Those outputs form a contiguous range along each
// axis (the taps never decrease with dst), found by binary search, so no atomics: every device and every run gives the
// same bits.
#pragma once
#include <cmath>
#include <cstdint>

#include "hd.h"

namespace normrt::imath {

enum class Mode { Nearest, NearestExact, Linear, Cubic };

constexpr int kMaxAxes = 3;

struct Axis {
  int64_t in = 1, out = 1;
  float step = 1.0f;
  bool align_corners = false;
};

// Input and output as (batch, channels, three axes) with each dimension's element stride in memory (contiguous or
// channels-last). Fewer spatial axes are the last ones, the leading ones of size 1 (stride 0). `channels_last`
// orders the threads' elements as the memory does (channels innermost).
struct Geometry {
  Mode mode = Mode::Nearest;
  int first_axis = 0;  // 3 - the number of spatial axes
  Axis axis[kMaxAxes];
  int64_t batch = 0, channels = 0;
  int64_t in_stride[2 + kMaxAxes] = {}, out_stride[2 + kMaxAxes] = {};
  bool channels_last = false;
};

// An axis's source taps and their weights, in increasing index order: nearest one (weight 1), linear two, cubic four
// (indices clamped to the axis, so a border index may repeat). Taps past the mode's count are unused.
constexpr int kMaxTaps = 4;

struct Tap {
  int64_t i[kMaxTaps];
  float w[kMaxTaps];
};

NORMRT_HD inline int tap_count(Mode mode) { return mode == Mode::Cubic ? 4 : mode == Mode::Linear ? 2 : 1; }

NORMRT_HD inline int64_t min_index(int64_t a, int64_t b) { return a < b ? a : b; }

// PyTorch's cubic convolution (A = -0.75) in float: for |s| <= 1 and for 1 < |s| < 2.
NORMRT_HD inline float cubic_inner(float s) {
  const float a = -0.75f;
  return ((a + 2.0f) * s - (a + 3.0f)) * s * s + 1.0f;
}
NORMRT_HD inline float cubic_outer(float s) {
  const float a = -0.75f;
  return ((a * s - 5.0f * a) * s + 8.0f * a) * s - 4.0f * a;
}

NORMRT_HD inline Tap cubic_tap(const Axis& a, int64_t dst) {
  const double d = static_cast<double>(dst);
  const auto real = static_cast<float>(a.align_corners ? static_cast<double>(a.step) * d
                                                       : static_cast<double>(a.step) * (d + 0.5) - 0.5);
  const float floor_real = floorf(real), t = real - floor_real;
  const auto first = static_cast<int64_t>(floor_real) - 1;
  Tap tap;
  for (int k = 0; k < kMaxTaps; ++k) {
    const int64_t index = first + k;
    tap.i[k] = index < 0 ? 0 : min_index(index, a.in - 1);
  }
  tap.w[0] = cubic_outer(t + 1.0f);
  tap.w[1] = cubic_inner(t);
  tap.w[2] = cubic_inner(1.0f - t);
  tap.w[3] = cubic_outer((1.0f - t) + 1.0f);
  return tap;
}

NORMRT_HD inline Tap axis_tap(Mode mode, const Axis& a, int64_t dst) {
  if (mode == Mode::Cubic) return cubic_tap(a, dst);
  if (mode == Mode::Linear) {
    if (a.in == a.out) return {{dst, dst}, {1.0f, 0.0f}};
    float real = a.align_corners ? a.step * static_cast<float>(dst) : a.step * (static_cast<float>(dst) + 0.5f) - 0.5f;
    real = real < 0.0f ? 0.0f : real;
    const int64_t i0 = min_index(static_cast<int64_t>(floorf(real)), a.in - 1);
    float w1 = real - static_cast<float>(i0);
    w1 = w1 < 0.0f ? 0.0f : (w1 > 1.0f ? 1.0f : w1);
    return {{i0, i0 + (i0 < a.in - 1 ? 1 : 0)}, {1.0f - w1, w1}};
  }
  // No shortcut where out = in or 2 in, as PyTorch's CUDA kernels and its CPU kernel for channels-first input: with
  // a scale factor (9 elements by 1.107: 9 out) the step's floors, not the identity. (Its CPU channels-last kernel,
  // also taken for C = 1, and its CPU backward take the shortcuts: the gradient PyTorch's CPU gives there is not that
  // of its own forward. This backward is.)
  const int64_t source = min_index(
      mode == Mode::NearestExact
          ? static_cast<int64_t>(floorf(static_cast<float>((static_cast<double>(dst) + 0.5) * a.step)))
          : static_cast<int64_t>(floorf(static_cast<float>(dst) * a.step)),
      a.in - 1);
  return {{source}, {1.0f}};
}

// The weight with which output dst's taps reach source index src (0 when they do not): the taps at src added in
// order.
NORMRT_HD inline float tap_weight(Mode mode, const Tap& t, int64_t src) {
  float weight = t.i[0] == src ? t.w[0] : 0.0f;
  const int count = tap_count(mode);
NORMRT_UNROLL
  for (int k = 1; k < kMaxTaps; ++k) weight += k < count && t.i[k] == src ? t.w[k] : 0.0f;
  return weight;
}

// The index of a tap's last source (selected, not indexed: a variable index put the tap in local memory on a GPU).
NORMRT_HD inline int64_t last_index(Mode mode, const Tap& t) {
  return mode == Mode::Cubic ? t.i[3] : mode == Mode::Linear ? t.i[1] : t.i[0];
}

// [begin, end): the outputs along axis a whose taps reach src. begin: the first dst whose last tap is at least src;
// end: the first dst whose first tap is past src.
struct Range {
  int64_t begin, end;
};

NORMRT_HD inline Range reaching(Mode mode, const Axis& a, int64_t src) {
  int64_t lo = 0, hi = a.out;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (last_index(mode, axis_tap(mode, a, mid)) >= src) hi = mid; else lo = mid + 1;
  }
  const int64_t begin = lo;
  hi = a.out;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (axis_tap(mode, a, mid).i[0] > src) hi = mid; else lo = mid + 1;
  }
  return {begin, lo};
}

// The logical coordinates (n, c, p[3]) of the element at position `index` of the memory order.
struct Coordinates {
  int64_t n, c, p[kMaxAxes];
};

NORMRT_HD inline Coordinates coordinates(const Geometry& g, int64_t index, bool output) {
  Coordinates k{};
  if (g.channels_last) {
    k.c = index % g.channels;
    index /= g.channels;
  }
  for (int d = kMaxAxes - 1; d >= 0; --d) {
    const int64_t size = output ? g.axis[d].out : g.axis[d].in;
    k.p[d] = index % size;
    index /= size;
  }
  if (!g.channels_last) {
    k.c = index % g.channels;
    index /= g.channels;
  }
  k.n = index;
  return k;
}

NORMRT_HD inline int64_t offset(const int64_t* stride, int64_t n, int64_t c, const int64_t* p) {
  return n * stride[0] + c * stride[1] + p[0] * stride[2] + p[1] * stride[3] + p[2] * stride[4];
}

// The taps of an axis's output positions, computed where needed (the kernels) or read from tables made once by
// axis_tap (the CPU loops): either way the same values, so the sums below give the same bits.
struct ComputedTaps {
  const Geometry* g;
  NORMRT_HD Tap operator()(int d, int64_t dst) const { return axis_tap(g->mode, g->axis[d], dst); }
};

// Output (n, c, o): the taps' weighted sum, nested from the last axis out (PyTorch's order for bilinear:
// h0 (w0 x00 + w1 x01) + h1 (w0 x10 + w1 x11), and bicubic's four by four), each sum started from its first term;
// each size-1 leading axis takes one element. Nearest copies its element (-0 and NaN payloads kept).
template <typename Taps>
NORMRT_HD inline float interpolate_at(const Geometry& g, const float* x, int64_t n, int64_t c, const int64_t* o,
                                      const Taps& tap_of) {
  Tap taps[kMaxAxes];
  if (tap_count(g.mode) == 1) {  // a copy
    for (int d = 0; d < kMaxAxes; ++d) taps[d] = tap_of(d, o[d]);
    const int64_t p[kMaxAxes] = {taps[0].i[0], taps[1].i[0], taps[2].i[0]};
    return x[offset(g.in_stride, n, c, p)];
  }
  int corners[kMaxAxes];
  for (int d = 0; d < kMaxAxes; ++d) {
    taps[d] = tap_of(d, o[d]);
    corners[d] = d >= g.first_axis ? tap_count(g.mode) : 1;
  }
  float total = 0.0f;
  // The loops unroll over kMaxTaps (breaking at the mode's count) so that the taps are indexed by constants: in
  // registers on a GPU, where a variable index put them in local memory.
NORMRT_UNROLL
  for (int a = 0; a < kMaxTaps; ++a) {
    if (a == corners[0]) break;
    float plane = 0.0f;
NORMRT_UNROLL
    for (int b = 0; b < kMaxTaps; ++b) {
      if (b == corners[1]) break;
      float line = 0.0f;
NORMRT_UNROLL
      for (int e = 0; e < kMaxTaps; ++e) {
        if (e == corners[2]) break;
        const int64_t p[kMaxAxes] = {taps[0].i[a], taps[1].i[b], taps[2].i[e]};
        const float term = taps[2].w[e] * x[offset(g.in_stride, n, c, p)];
        line = e == 0 ? term : line + term;
      }
      const float term = corners[1] == 1 ? line : taps[1].w[b] * line;
      plane = b == 0 ? term : plane + term;
    }
    const float term = corners[0] == 1 ? plane : taps[0].w[a] * plane;
    total = a == 0 ? term : total + term;
  }
  return total;
}

// Input (n, c, p) of the backward: the outputs in `range` (those that reach it), weighted, summed over each axis's
// range in order (the last axis innermost).
template <typename Taps>
NORMRT_HD inline float interpolate_gradient_at(const Geometry& g, const float* dy, int64_t n, int64_t c,
                                               const int64_t* p, const Range* range, const Taps& tap_of) {
  float total = 0.0f;
  for (int64_t o0 = range[0].begin; o0 < range[0].end; ++o0) {
    const float w0 = tap_weight(g.mode, tap_of(0, o0), p[0]);
    for (int64_t o1 = range[1].begin; o1 < range[1].end; ++o1) {
      const float w1 = tap_weight(g.mode, tap_of(1, o1), p[1]);
      float line = 0.0f;
      for (int64_t o2 = range[2].begin; o2 < range[2].end; ++o2) {
        const int64_t q[kMaxAxes] = {o0, o1, o2};
        line += tap_weight(g.mode, tap_of(2, o2), p[2]) * dy[offset(g.out_stride, n, c, q)];
      }
      total += w0 * w1 * line;
    }
  }
  return total;
}

// Output element `index` of the memory order (a kernel thread's).
NORMRT_HD inline float interpolate_element(const Geometry& g, const float* x, int64_t index) {
  const Coordinates k = coordinates(g, index, true);
  return interpolate_at(g, x, k.n, k.c, k.p, ComputedTaps{&g});
}

// Input element `index` of the memory order, of the backward.
NORMRT_HD inline float interpolate_gradient_element(const Geometry& g, const float* dy, int64_t index) {
  const Coordinates k = coordinates(g, index, false);
  Range range[kMaxAxes];
  for (int d = 0; d < kMaxAxes; ++d) range[d] = reaching(g.mode, g.axis[d], k.p[d]);
  return interpolate_gradient_at(g, dy, k.n, k.c, k.p, range, ComputedTaps{&g});
}

}  // namespace normrt::imath
