// Per-element pooling arithmetic shared by the CPU path and the CUDA kernels (and so tested on the CPU).
//
// Spatial extents are three dimensions (depth, height, width), the unused leading ones of size 1, as in the
// convolution geometry. Forward computes one output element from its window. Backward on the GPU gathers: one
// input element sums the outputs whose window holds it, in increasing output order (no atomics, deterministic); the
// CPU scatters output by output into its window, as PyTorch's CPU kernels do. Both add the same float terms in the
// same order, so they agree bit for bit (and with PyTorch's CPU results). The window and gather functions take the
// elements as stored (T: float, or float16 / bfloat16 widened element by element), computing in float, and a step
// between a plane's consecutive elements: 1 in contiguous memory, the channel count in channels-last memory (the
// same terms in the same order either way, so the same bits).
#pragma once
#include <cmath>
#include <cstdint>

#include "hd.h"
#include "tensor_math.cuh"

namespace normrt::poolmath {

struct PoolGeometry {
  int64_t planes = 0;  // N * C: every plane is pooled alike
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1};
  int64_t kernel[3] = {1, 1, 1}, stride[3] = {1, 1, 1}, pad[3] = {0, 0, 0}, dilation[3] = {1, 1, 1};
  bool count_include_pad = true;  // average pooling only
  int64_t divisor_override = 0;   // average pooling: each window's divisor when not 0

  NORMRT_HD int64_t in_size() const { return in[0] * in[1] * in[2]; }
  NORMRT_HD int64_t out_size() const { return out[0] * out[1] * out[2]; }
};

NORMRT_HD inline void unflatten(int64_t flat, const int64_t* extent, int64_t* coord) {
  coord[2] = flat % extent[2];
  flat /= extent[2];
  coord[1] = flat % extent[1];
  coord[0] = flat / extent[1];
}

// Max over the window of output (oz, oy, ox) of one plane: value and argmax (a flat index into the plane). NaN wins;
// among equal values the first in scan order; a window of -inf only reports its first element, as PyTorch.
// The input positions of max pooling's window of output oc: [start, end) stepping by the dilation, per dimension.
NORMRT_HD inline void max_window_bounds(const PoolGeometry& g, const int64_t* oc, int64_t* start, int64_t* end) {
  for (int d = 0; d < 3; ++d) {
    start[d] = oc[d] * g.stride[d] - g.pad[d];
    end[d] = start[d] + g.kernel[d] * g.dilation[d];
    if (end[d] > g.in[d]) end[d] = g.in[d];
    while (start[d] < 0) start[d] += g.dilation[d];
  }
}

// The max over the positions [start, end) stepping by `dilation`: max_window's rule.
template <typename T>
NORMRT_HD inline void max_in_bounds(const PoolGeometry& g, const T* plane, const int64_t* start, const int64_t* end,
                                    const int64_t* dilation, float& value, int64_t& index, int64_t step) {
  // Locals, not the outputs: the compiler can keep them in registers (the outputs might alias the plane).
  float best = -INFINITY;
  int64_t best_index = (start[0] * g.in[1] + start[1]) * g.in[2] + start[2];
  for (int64_t z = start[0]; z < end[0]; z += dilation[0])
    for (int64_t y = start[1]; y < end[1]; y += dilation[1])
      for (int64_t x = start[2]; x < end[2]; x += dilation[2]) {
        const int64_t i = (z * g.in[1] + y) * g.in[2] + x;
        const float v = static_cast<float>(plane[i * step]);
        const bool take = v > best || v != v;  // selects rather than branches: data-dependent, unpredictable
        best = take ? v : best;
        best_index = take ? i : best_index;
      }
  value = best;
  index = best_index;
}

template <typename T>
NORMRT_HD inline void max_window(const PoolGeometry& g, const T* plane, const int64_t* oc, float& value,
                                 int64_t& index, int64_t step = 1) {
  int64_t start[3], end[3];
  max_window_bounds(g, oc, start, end);
  max_in_bounds(g, plane, start, end, g.dilation, value, index, step);
}

// Whether every window is a whole 2x2 block at stride 2 of a 2-d plane (no padding, dilation or clipped edge): the
// tutorials' MaxPool2d(2), which max_row_2x2 computes without the general window walk.
NORMRT_HD inline bool is_plain_2x2(const PoolGeometry& g) {
  return g.in[0] == 1 && g.kernel[0] == 1 && g.kernel[1] == 2 && g.kernel[2] == 2 && g.stride[1] == 2 &&
         g.stride[2] == 2 && g.pad[1] == 0 && g.pad[2] == 0 && g.dilation[1] == 1 && g.dilation[2] == 1 &&
         2 * g.out[1] <= g.in[1] && 2 * g.out[2] <= g.in[2];
}

// max_window over output row oy of an is_plain_2x2 geometry: the same comparisons in the same scan order, with the
// winner kept as a corner number so that the loop over the row vectorises.
NORMRT_HD inline void max_row_2x2(const PoolGeometry& g, const float* plane, int64_t oy, float* values,
                                  int64_t* indices) {
  const int64_t width = g.in[2], row_start = 2 * oy * width;
  const float* row = plane + row_start;
#ifndef __CUDA_ARCH__
#pragma omp simd
#endif
  for (int64_t ox = 0; ox < g.out[2]; ++ox) {
    const float v[4] = {row[2 * ox], row[2 * ox + 1], row[width + 2 * ox], row[width + 2 * ox + 1]};
    float best = -INFINITY;
    int corner = 0;
    for (int k = 0; k < 4; ++k) {
      const bool take = v[k] > best || v[k] != v[k];
      best = take ? v[k] : best;
      corner = take ? k : corner;
    }
    values[ox] = best;
    indices[ox] = row_start + 2 * ox + (corner >> 1) * width + (corner & 1);
  }
}

// Whether max_row_2d applies: a 2-d plane (one depth) without dilation.
NORMRT_HD inline bool is_plain_2d(const PoolGeometry& g) {
  return g.in[0] == 1 && g.out[0] == 1 && g.kernel[0] == 1 && g.pad[0] == 0 && g.dilation[1] == 1 &&
         g.dilation[2] == 1;
}

// max_window over output row oy of an is_plain_2d geometry: the row's rows of input found once, and each window
// wholly inside the plane's columns walked in a plain loop (the same comparisons in the same scan order, so the same
// value and index); clipped windows take max_window. A 3x3 stride-2 window (ResNet's stem) costs a third of the
// general walk's time.
NORMRT_HD inline void max_row_2d(const PoolGeometry& g, const float* plane, int64_t oy, float* values,
                                 int64_t* indices) {
  const int64_t width = g.in[2], kernel = g.kernel[2], stride = g.stride[2], pad = g.pad[2];
  const int64_t top = oy * g.stride[1] - g.pad[1];
  const int64_t y0 = top < 0 ? 0 : top, y1 = top + g.kernel[1] < g.in[1] ? top + g.kernel[1] : g.in[1];
  // Outputs [first, last) have windows inside the columns: x0 = ox * stride - pad >= 0 and x0 + kernel <= width.
  const int64_t first = (pad + stride - 1) / stride;
  int64_t last = width - kernel + pad >= 0 ? (width - kernel + pad) / stride + 1 : 0;
  last = last < g.out[2] ? last : g.out[2];
  for (int64_t ox = 0; ox < g.out[2]; ++ox) {
    if (ox >= first && ox < last) continue;
    const int64_t oc[3] = {0, oy, ox};
    max_window(g, plane, oc, values[ox], indices[ox]);
  }
  // The window offsets (y, k) in scan order on the outside, the outputs inside as SIMD lanes: each output still meets
  // its elements in scan order.
  for (int64_t ox = first; ox < last; ++ox) {
    values[ox] = -INFINITY;
    indices[ox] = y0 * width + ox * stride - pad;
  }
  for (int64_t y = y0; y < y1; ++y)
    for (int64_t k = 0; k < kernel; ++k) {
      const int64_t base = y * width - pad + k;
#ifndef __CUDA_ARCH__
#pragma omp simd
#endif
      for (int64_t ox = first; ox < last; ++ox) {
        const int64_t i = base + ox * stride;
        const float v = plane[i];
        const bool take = v > values[ox] || v != v;
        values[ox] = take ? v : values[ox];
        indices[ox] = take ? i : indices[ox];
      }
    }
}

// The outputs along one dimension whose window holds input position i at kernel offset k: o * stride - pad +
// k * dilation == i. Returns -1 when there is none.
NORMRT_HD inline int64_t output_at(const PoolGeometry& g, int d, int64_t i, int64_t k) {
  const int64_t t = i + g.pad[d] - k * g.dilation[d];
  if (t < 0 || t % g.stride[d] != 0) return -1;
  const int64_t o = t / g.stride[d];
  return o < g.out[d] ? o : -1;
}

// Calls fn(output flat index) for every output whose window holds input element i, in increasing output order
// (kernel offsets descending give increasing outputs in every dimension).
template <typename Fn>
NORMRT_HD inline void for_each_window_holding(const PoolGeometry& g, int64_t i, Fn fn) {
  int64_t ic[3];
  unflatten(i, g.in, ic);
  for (int64_t a = g.kernel[0] - 1; a >= 0; --a) {
    const int64_t oz = output_at(g, 0, ic[0], a);
    if (oz < 0) continue;
    for (int64_t b = g.kernel[1] - 1; b >= 0; --b) {
      const int64_t oy = output_at(g, 1, ic[1], b);
      if (oy < 0) continue;
      for (int64_t e = g.kernel[2] - 1; e >= 0; --e) {
        const int64_t ox = output_at(g, 2, ic[2], e);
        if (ox >= 0) fn((oz * g.out[1] + oy) * g.out[2] + ox);
      }
    }
  }
}

template <typename T>
NORMRT_HD inline float max_backward_element(const PoolGeometry& g, const T* grad_plane, const int64_t* index_plane,
                                            int64_t i, int64_t step = 1) {
  float sum = 0.0f;
  for_each_window_holding(g, i, [&](int64_t o) {
    if (index_plane[o * step] == i) sum += static_cast<float>(grad_plane[o * step]);
  });
  return sum;
}

// PyTorch's average-pool divisor for output o: divisor_override when set, else the window clipped to the padded
// input (count_include_pad) or to the input itself.
NORMRT_HD inline int64_t avg_divisor(const PoolGeometry& g, const int64_t* oc) {
  if (g.divisor_override != 0) return g.divisor_override;
  int64_t padded = 1, inside = 1;
  for (int d = 0; d < 3; ++d) {
    const int64_t start = oc[d] * g.stride[d] - g.pad[d];
    const int64_t end = start + g.kernel[d] < g.in[d] + g.pad[d] ? start + g.kernel[d] : g.in[d] + g.pad[d];
    padded *= end - start;
    const int64_t s = start > 0 ? start : 0, e = end < g.in[d] ? end : g.in[d];
    inside *= e - s;
  }
  return g.count_include_pad ? padded : inside;
}

// The contiguous runs of the window [start, end) of a plane, in order: fn(first, length) for each, first the plane
// index of its first element. A row is a run; rows that span the plane's width merge into one, and whole planes of a
// 3-d window into one.
template <typename Fn>
NORMRT_HD inline void for_each_run(const PoolGeometry& g, const int64_t* start, const int64_t* end, Fn fn) {
  const bool whole_rows = start[2] == 0 && end[2] == g.in[2];
  const bool whole_planes = whole_rows && start[1] == 0 && end[1] == g.in[1];
  const int64_t rows = whole_rows ? end[1] - start[1] : 1, depth = whole_planes ? end[0] - start[0] : 1;
  const int64_t run = depth * rows * (end[2] - start[2]);
  for (int64_t z = start[0]; z < end[0]; z += depth)
    for (int64_t y = start[1]; y < end[1]; y += rows) fn((z * g.in[1] + y) * g.in[2] + start[2], run);
}

// The sum in double of the window [start, end) of a plane: its runs (for_each_run) each summed by tmath::line_sum's
// lanes, the runs added in order. A global average pool's window is one run, whose CPU loop vectorises.
template <typename T>
NORMRT_HD inline double window_sum(const PoolGeometry& g, const T* plane, const int64_t* start, const int64_t* end,
                                   int64_t step = 1) {
  double sum = 0.0;
  for_each_run(g, start, end, [&](int64_t first_index, int64_t run) {
    const T* first = plane + first_index * step;
    sum += tmath::line_sum(run, [&](int64_t i) { return static_cast<double>(static_cast<float>(first[i * step])); });
  });
  return sum;
}

// An average pool's window of one output, clipped to the input, and what its sum is divided by.
struct AvgWindow {
  int64_t start[3], end[3];
  double divisor;
};

NORMRT_HD inline AvgWindow avg_pool_window(const PoolGeometry& g, const int64_t* oc) {
  AvgWindow w;
  for (int d = 0; d < 3; ++d) {
    w.start[d] = oc[d] * g.stride[d] - g.pad[d];
    w.end[d] = w.start[d] + g.kernel[d] < g.in[d] ? w.start[d] + g.kernel[d] : g.in[d];
    if (w.start[d] < 0) w.start[d] = 0;
  }
  w.divisor = static_cast<double>(avg_divisor(g, oc));
  return w;
}

// The average over a window, summed in double (window_sum).
template <typename T>
NORMRT_HD inline float window_average(const PoolGeometry& g, const T* plane, const AvgWindow& w, int64_t step = 1) {
  return static_cast<float>(window_sum(g, plane, w.start, w.end, step) / w.divisor);
}

// Average over the window of output (oz, oy, ox).
template <typename T>
NORMRT_HD inline float avg_window(const PoolGeometry& g, const T* plane, const int64_t* oc, int64_t step = 1) {
  return window_average(g, plane, avg_pool_window(g, oc), step);
}

template <typename T>
NORMRT_HD inline float avg_backward_element(const PoolGeometry& g, const T* grad_plane, int64_t i, int64_t step = 1) {
  float sum = 0.0f;
  for_each_window_holding(g, i, [&](int64_t o) {
    int64_t oc[3];
    unflatten(o, g.out, oc);
    sum += static_cast<float>(grad_plane[o * step]) / static_cast<float>(avg_divisor(g, oc));
  });
  return sum;
}

// An average pool window's share of its output's gradient.
NORMRT_HD inline float avg_share(float grad, const AvgWindow& w) {
  return grad / static_cast<float>(w.divisor);  // the integer divisor, exact in double
}

// The CPU's scatter form of avg_backward_element: adds output (oz, oy, ox)'s share into its window of dx.
NORMRT_HD inline void avg_backward_scatter(const PoolGeometry& g, float grad, const int64_t* oc, float* dx_plane) {
  const AvgWindow w = avg_pool_window(g, oc);
  const float delta = avg_share(grad, w);
  for (int64_t z = w.start[0]; z < w.end[0]; ++z)
    for (int64_t y = w.start[1]; y < w.end[1]; ++y)
      for (int64_t x = w.start[2]; x < w.end[2]; ++x) dx_plane[(z * g.in[1] + y) * g.in[2] + x] += delta;
}

// Adaptive average pooling: output o along a dimension averages inputs [floor(o * in / out), ceil((o + 1) * in /
// out)), as PyTorch.
NORMRT_HD inline int64_t adaptive_start(int64_t o, int64_t in, int64_t out) { return o * in / out; }
NORMRT_HD inline int64_t adaptive_end(int64_t o, int64_t in, int64_t out) { return ((o + 1) * in + out - 1) / out; }

// Adaptive max pooling: the max over output oc's adaptive window by max_window's rule (NaN wins, the first of equal
// values, a window of -inf reporting its first element), as PyTorch's adaptive_max_pool1d/2d/3d.
template <typename T>
NORMRT_HD inline void adaptive_max_window(const PoolGeometry& g, const T* plane, const int64_t* oc, float& value,
                                          int64_t& index, int64_t step = 1) {
  int64_t start[3], end[3];
  const int64_t contiguous[3] = {1, 1, 1};
  for (int d = 0; d < 3; ++d) {
    start[d] = adaptive_start(oc[d], g.in[d], g.out[d]);
    end[d] = adaptive_end(oc[d], g.in[d], g.out[d]);
  }
  max_in_bounds(g, plane, start, end, contiguous, value, index, step);
}

NORMRT_HD inline AvgWindow adaptive_avg_pool_window(const PoolGeometry& g, const int64_t* oc) {
  AvgWindow w;
  int64_t count = 1;
  for (int d = 0; d < 3; ++d) {
    w.start[d] = adaptive_start(oc[d], g.in[d], g.out[d]);
    w.end[d] = adaptive_end(oc[d], g.in[d], g.out[d]);
    count *= w.end[d] - w.start[d];
  }
  w.divisor = static_cast<double>(count);
  return w;
}

template <typename T>
NORMRT_HD inline float adaptive_avg_window(const PoolGeometry& g, const T* plane, const int64_t* oc,
                                           int64_t step = 1) {
  return window_average(g, plane, adaptive_avg_pool_window(g, oc), step);
}

// An adaptive window's share of its output's gradient, divided by the window's extent dimension by dimension (as
// adaptive_avg_backward_element).
NORMRT_HD inline float adaptive_avg_share(float grad, const AvgWindow& w) {
  float delta = grad;
  for (int d = 0; d < 3; ++d) delta /= static_cast<float>(w.end[d] - w.start[d]);
  return delta;
}

// The CPU's scatter form of adaptive_avg_backward_element.
NORMRT_HD inline void adaptive_avg_backward_scatter(const PoolGeometry& g, float grad, const int64_t* oc,
                                                    float* dx_plane) {
  const AvgWindow w = adaptive_avg_pool_window(g, oc);
  const float delta = adaptive_avg_share(grad, w);
  for (int64_t z = w.start[0]; z < w.end[0]; ++z)
    for (int64_t y = w.start[1]; y < w.end[1]; ++y)
      for (int64_t x = w.start[2]; x < w.end[2]; ++x) dx_plane[(z * g.in[1] + y) * g.in[2] + x] += delta;
}

// Calls fn(output flat index, its coordinates) for every output whose adaptive window holds input element i, in
// increasing output order: along a dimension they lie in [i * out / in, ((i + 1) * out - 1) / in].
template <typename Fn>
NORMRT_HD inline void for_each_adaptive_window_holding(const PoolGeometry& g, int64_t i, Fn fn) {
  if (g.out_size() == 0) return;
  int64_t ic[3], first[3], last[3];
  unflatten(i, g.in, ic);
  for (int d = 0; d < 3; ++d) {
    first[d] = ic[d] * g.out[d] / g.in[d];
    last[d] = ((ic[d] + 1) * g.out[d] - 1) / g.in[d];
  }
  for (int64_t z = first[0]; z <= last[0]; ++z)
    for (int64_t y = first[1]; y <= last[1]; ++y)
      for (int64_t x = first[2]; x <= last[2]; ++x) {
        const int64_t oc[3] = {z, y, x};
        fn((z * g.out[1] + y) * g.out[2] + x, oc);
      }
}

template <typename T>
NORMRT_HD inline float adaptive_avg_backward_element(const PoolGeometry& g, const T* grad_plane, int64_t i,
                                                     int64_t step = 1) {
  float sum = 0.0f;
  for_each_adaptive_window_holding(g, i, [&](int64_t o, const int64_t* oc) {
    float delta = static_cast<float>(grad_plane[o * step]);
    for (int d = 0; d < 3; ++d)
      delta /= static_cast<float>(adaptive_end(oc[d], g.in[d], g.out[d]) - adaptive_start(oc[d], g.in[d], g.out[d]));
    sum += delta;
  });
  return sum;
}

// The gather form of adaptive max pooling's backward: the gradients of the outputs whose argmax is i, in output
// order (the CPU scatters them by index in that order: the same sum).
template <typename T>
NORMRT_HD inline float adaptive_max_backward_element(const PoolGeometry& g, const T* grad_plane,
                                                     const int64_t* index_plane, int64_t i, int64_t step = 1) {
  float sum = 0.0f;
  for_each_adaptive_window_holding(g, i, [&](int64_t o, const int64_t*) {
    if (index_plane[o * step] == i) sum += static_cast<float>(grad_plane[o * step]);
  });
  return sum;
}

}  // namespace normrt::poolmath
