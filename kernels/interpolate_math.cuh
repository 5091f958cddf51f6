// torch.nn.functional.interpolate's per-element arithmetic (nearest, nearest-exact, and linear along each of up to
// three spatial axes: linear, bilinear, trilinear), shared by the CPU loops and the CUDA kernels.
//
// The source positions follow PyTorch 1.13's formulas in its types (UpSample.h): a float step per axis (1 / scale
// factor when one was given, else in / out; (in - 1) / (out - 1) with align_corners), nearest floor(dst * step),
// nearest-exact floor((dst + 0.5) * step) in double rounded to float, linear max(step (dst + 0.5) - 0.5, 0) split
// into a floor and a weight. The backward gathers: each input element sums, in a fixed order, the outputs whose taps
// reach it. Those outputs form a contiguous range along each axis (the taps never decrease with dst), found by
// binary search, so no atomics: every device and every run gives the same bits.
#pragma once
#include <cmath>
#include <cstdint>

#include "hd.h"

namespace normrt::imath {

enum class Mode { Nearest, NearestExact, Linear };

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

// An axis's two source taps and their weights (nearest: one tap, weight 1, the second of weight 0 at the same index).
struct Tap {
  int64_t i0, i1;
  float w0, w1;
};

NORMRT_HD inline int64_t min_index(int64_t a, int64_t b) { return a < b ? a : b; }

NORMRT_HD inline Tap axis_tap(Mode mode, const Axis& a, int64_t dst) {
  if (mode == Mode::Linear) {
    if (a.in == a.out) return {dst, dst, 1.0f, 0.0f};
    float real = a.align_corners ? a.step * static_cast<float>(dst) : a.step * (static_cast<float>(dst) + 0.5f) - 0.5f;
    real = real < 0.0f ? 0.0f : real;
    const int64_t i0 = min_index(static_cast<int64_t>(floorf(real)), a.in - 1);
    float w1 = real - static_cast<float>(i0);
    w1 = w1 < 0.0f ? 0.0f : (w1 > 1.0f ? 1.0f : w1);
    return {i0, i0 + (i0 < a.in - 1 ? 1 : 0), 1.0f - w1, w1};
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
  return {source, source, 1.0f, 0.0f};
}

// The weight with which output dst's taps reach source index src (0 when they do not).
NORMRT_HD inline float tap_weight(const Tap& t, int64_t src) {
  return (t.i0 == src ? t.w0 : 0.0f) + (t.i1 == src ? t.w1 : 0.0f);
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
    if (axis_tap(mode, a, mid).i1 >= src) hi = mid; else lo = mid + 1;
  }
  const int64_t begin = lo;
  hi = a.out;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (axis_tap(mode, a, mid).i0 > src) hi = mid; else lo = mid + 1;
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

NORMRT_HD inline int64_t pick_index(const Tap& t, int corner) { return corner == 0 ? t.i0 : t.i1; }
NORMRT_HD inline float pick_weight(const Tap& t, int corner) { return corner == 0 ? t.w0 : t.w1; }

// The taps of an axis's output positions, computed where needed (the kernels) or read from tables made once by
// axis_tap (the CPU loops): either way the same values, so the sums below give the same bits.
struct ComputedTaps {
  const Geometry* g;
  NORMRT_HD Tap operator()(int d, int64_t dst) const { return axis_tap(g->mode, g->axis[d], dst); }
};

// Output (n, c, o): the taps' weighted sum, nested from the last axis out (PyTorch's order for bilinear:
// h0 (w0 x00 + w1 x01) + h1 (w0 x10 + w1 x11)), each sum started from its first term; each size-1 leading axis
// takes one element. Nearest copies its element (-0 and NaN payloads kept).
template <typename Taps>
NORMRT_HD inline float interpolate_at(const Geometry& g, const float* x, int64_t n, int64_t c, const int64_t* o,
                                      const Taps& tap_of) {
  Tap taps[kMaxAxes];
  if (g.mode != Mode::Linear) {  // a copy
    for (int d = 0; d < kMaxAxes; ++d) taps[d] = tap_of(d, o[d]);
    const int64_t p[kMaxAxes] = {taps[0].i0, taps[1].i0, taps[2].i0};
    return x[offset(g.in_stride, n, c, p)];
  }
  int corners[kMaxAxes];
  for (int d = 0; d < kMaxAxes; ++d) {
    taps[d] = tap_of(d, o[d]);
    corners[d] = d >= g.first_axis ? 2 : 1;
  }
  float total = 0.0f;
  for (int a = 0; a < corners[0]; ++a) {
    float plane = 0.0f;
    for (int b = 0; b < corners[1]; ++b) {
      float line = 0.0f;
      for (int e = 0; e < corners[2]; ++e) {
        const int64_t p[kMaxAxes] = {pick_index(taps[0], a), pick_index(taps[1], b), pick_index(taps[2], e)};
        const float term = pick_weight(taps[2], e) * x[offset(g.in_stride, n, c, p)];
        line = e == 0 ? term : line + term;
      }
      const float term = corners[1] == 1 ? line : pick_weight(taps[1], b) * line;
      plane = b == 0 ? term : plane + term;
    }
    const float term = corners[0] == 1 ? plane : pick_weight(taps[0], a) * plane;
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
    const float w0 = tap_weight(tap_of(0, o0), p[0]);
    for (int64_t o1 = range[1].begin; o1 < range[1].end; ++o1) {
      const float w1 = tap_weight(tap_of(1, o1), p[1]);
      float line = 0.0f;
      for (int64_t o2 = range[2].begin; o2 < range[2].end; ++o2) {
        const int64_t q[kMaxAxes] = {o0, o1, o2};
        line += tap_weight(tap_of(2, o2), p[2]) * dy[offset(g.out_stride, n, c, q)];
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
