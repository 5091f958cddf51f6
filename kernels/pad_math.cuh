// Per-element arithmetic of torch.nn.functional.pad, shared by the CPU path and the CUDA kernels (and so tested on
// the CPU). Padding is separable: along each padded dimension an output position copies one input position
// (pad_source), or is the constant. The backward goes one dimension at a time: each input position gathers the
// output positions copied from it along that dimension (pad_copies, summed by pad_gradient_sum), in increasing output
// order, so there are no atomics, results repeat bit for bit, and the CPU and the GPU add the same terms in the same
// order.
#pragma once
#include <cstdint>

#include "hd.h"

namespace normrt::padmath {

enum class Mode : int { Constant, Reflect, Replicate, Circular };

// The part of a dimension of `size` positions that circular padding wraps: what negative pads leave of it (PyTorch
// crops first, then wraps), from `first`, `width` positions.
struct CircularWindow {
  int64_t first, width;
};

NORMRT_HD inline CircularWindow circular_window(int64_t size, int64_t out, int64_t left) {
  const int64_t right = out - size - left, first = left < 0 ? -left : 0;
  return {first, size - first - (right < 0 ? -right : 0)};
}

// The input position that output position `o` copies along a dimension of `size` positions padded to `out` with
// `left` added before it (negative: that many cropped), or -1 where the constant fills it. Reflect and replicate
// mirror or repeat about the dimension's own edges; circular wraps its circular_window. The caller has checked the
// modes' limits: reflect pads < size, circular pads <= the window's width, size > 0 for every mode but constant.
NORMRT_HD inline int64_t pad_source(int64_t o, int64_t size, int64_t out, int64_t left, Mode mode) {
  if (mode == Mode::Circular) {
    const CircularWindow w = circular_window(size, out, left);
    int64_t s = o - (left > 0 ? left : 0);
    if (s < 0) s += w.width;
    if (s >= w.width) s -= w.width;
    return w.first + s;
  }
  const int64_t s = o - left;
  if (s >= 0 && s < size) return s;
  switch (mode) {
    case Mode::Reflect: return s < 0 ? -s : 2 * (size - 1) - s;
    case Mode::Replicate: return s < 0 ? 0 : size - 1;
    default: return -1;
  }
}

// The output positions that copy input position i along one padded dimension (`out` output positions), in
// increasing order: `before` (a mirrored or wrapped copy; -1 for none), the run [first, last] (empty when
// first > last), `after` (-1 for none). Every position listed lies in [0, out).
struct PadCopies {
  int64_t before, first, last, after;
};

NORMRT_HD inline PadCopies pad_copies(int64_t i, int64_t size, int64_t out, int64_t left, Mode mode) {
  const int64_t direct = i + left;
  PadCopies c{-1, direct, direct, -1};
  if (mode == Mode::Reflect) {
    if (i > 0) c.before = left - i;
    if (i < size - 1) c.after = left + 2 * (size - 1) - i;
  } else if (mode == Mode::Circular) {
    const CircularWindow w = circular_window(size, out, left);
    if (i < w.first || i >= w.first + w.width) return {-1, 0, -1, -1};  // cropped
    c.before = direct - w.width;
    c.after = direct + w.width;
  } else if (mode == Mode::Replicate) {
    if (i == 0) c.first = 0;
    if (i == size - 1) c.last = out - 1;
  }
  if (c.before >= out) c.before = -1;
  if (c.after >= out) c.after = -1;
  if (c.first < 0) c.first = 0;
  if (c.last >= out) c.last = out - 1;
  return c;
}

// The gradient of input position i: the sum of read(o) over pad_copies, in increasing o, from 0.0f.
template <typename Read>
NORMRT_HD inline float pad_gradient_sum(const PadCopies& c, const Read& read) {
  float sum = 0.0f;
  if (c.before >= 0) sum += read(c.before);
  for (int64_t o = c.first; o <= c.last; ++o) sum += read(o);
  if (c.after >= 0) sum += read(c.after);
  return sum;
}

// An input of `ndim` <= 5 dimensions padded to `out`: dimension d gets left[d] positions before it.
struct PadGeometry {
  int ndim = 0;
  int64_t in[5] = {0, 0, 0, 0, 0}, out[5] = {0, 0, 0, 0, 0}, left[5] = {0, 0, 0, 0, 0};
  Mode mode = Mode::Constant;
};

// The flat input index that flat output index t copies, or -1 for the constant.
NORMRT_HD inline int64_t pad_source_index(const PadGeometry& g, int64_t t) {
  int64_t index = 0, in_stride = 1;
  for (int d = g.ndim - 1; d >= 0; --d) {
    const int64_t s = pad_source(t % g.out[d], g.in[d], g.out[d], g.left[d], g.mode);
    if (s < 0) return -1;
    index += s * in_stride;
    in_stride *= g.in[d];
    t /= g.out[d];
  }
  return index;
}

// One dimension of the backward: `outer` lines of `out` padded positions (each `inner` elements apart) gathered into
// lines of `size` positions.
struct PadLine {
  int64_t outer = 0, size = 0, out = 0, inner = 0, left = 0;
  Mode mode = Mode::Constant;
};

// Element t of the gathered (outer, size, inner) array, from the padded (outer, out, inner) array dy.
NORMRT_HD inline float pad_line_gradient(const PadLine& l, const float* dy, int64_t t) {
  const int64_t b = t % l.inner, i = t / l.inner % l.size, a = t / l.inner / l.size;
  const float* line = dy + a * l.out * l.inner + b;
  const PadCopies copies = pad_copies(i, l.size, l.out, l.left, l.mode);
  return pad_gradient_sum(copies, [&](int64_t o) { return line[o * l.inner]; });
}

}  // namespace normrt::padmath
