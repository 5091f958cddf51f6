// LayerNorm / GroupNorm CPU path (norms_cpu.h). Rows are independent, so the forward and the input gradient run
// rows in parallel; the parameter gradients are summed over fixed blocks of kRowBlock rows (each block in row order,
// in double), the blocks then added in order: the work is cut by the shape alone, so results do not depend on the
// thread count. Moments are exact two-pass sums in line_sum's eight double lanes (the row is re-read from L1/L2):
// PyTorch's CPU kernels accumulate Welford states in float, these lose nothing to a mean far from zero.
#include "norms_cpu.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu_threads.h"
#include "line_lanes.h"
#include "wide_vectors.h"

NORMRT_WIDE_VECTORS_BEGIN

namespace normrt::norms_cpu {

namespace {

constexpr int64_t kRowBlock = 64;

// Σ double(a[i]) (* double(b[i])) over [0, n) in eight double lanes combined by line_sum's tree, the remainder added
// after in order. Each group of eight floats is widened as one vector (cpu::widen_group).
double lane_total(const float* a, int64_t n) {
  cpu::LaneSums lanes = {};
  int64_t i = 0;
  for (; i + cpu::kLanes <= n; i += cpu::kLanes) cpu::add_lanes(lanes, a + i);
  double total = cpu::lanes_total(lanes);
  for (; i < n; ++i) total += a[i];
  return total;
}

double lane_dot(const float* a, const float* b, int64_t n) {
  cpu::LaneSums lanes = {};
  int64_t i = 0;
  for (; i + cpu::kLanes <= n; i += cpu::kLanes) {
    cpu::LaneSums wide_a, wide_b;
    cpu::widen_group(wide_a, a + i);
    cpu::widen_group(wide_b, b + i);
    lanes += wide_a * wide_b;
  }
  double total = cpu::lanes_total(lanes);
  for (; i < n; ++i) total += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  return total;
}

struct Moments {
  float mean, rstd;
};

// Two passes in double: the mean, then the sum of squared deviations from it.
Moments row_moments(const float* x, int64_t n, double eps) {
  const double mean = lane_total(x, n) / static_cast<double>(n);
  cpu::LaneSums lanes = {};
  int64_t i = 0;
  for (; i + cpu::kLanes <= n; i += cpu::kLanes) {
    cpu::LaneSums d;
    cpu::widen_group(d, x + i);
    d -= mean;
    lanes += d * d;
  }
  double m2 = cpu::lanes_total(lanes);
  for (; i < n; ++i) m2 += (static_cast<double>(x[i]) - mean) * (static_cast<double>(x[i]) - mean);
  return {static_cast<float>(mean), static_cast<float>(1.0 / std::sqrt(m2 / static_cast<double>(n) + eps))};
}

// Calls run(segment index, first element, count) for each segment of a row.
template <typename Run>
void for_each_segment(const RowGeometry& g, Run run) {
  for (int64_t s = 0, first = 0; first < g.length; ++s, first += g.segment) run(s, first, g.segment);
}

}  // namespace

void forward(const RowGeometry& g, const float* x, const float* weight, const float* bias, double eps, float* y,
             float* mean, float* rstd) {
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(g.rows * g.length))
  for (int64_t r = 0; r < g.rows; ++r) {
    const float* xr = x + r * g.length;
    float* yr = y + r * g.length;
    const Moments m = row_moments(xr, g.length, eps);
    mean[r] = m.mean;
    rstd[r] = m.rstd;
    const float* w = weight != nullptr ? weight + g.row_offset(r) : nullptr;
    const float* b = bias != nullptr ? bias + g.row_offset(r) : nullptr;
    if (w == nullptr && b == nullptr) {
      for (int64_t e = 0; e < g.length; ++e) yr[e] = normmath::normalized(xr[e], m.mean, m.rstd, 0.0f);
    } else if (g.segment == 1) {
      for (int64_t e = 0; e < g.length; ++e) {
        yr[e] = normmath::normalized(xr[e], m.mean, w != nullptr ? m.rstd * w[e] : m.rstd, b != nullptr ? b[e] : 0.0f);
      }
    } else {
      for_each_segment(g, [&](int64_t s, int64_t first, int64_t count) {
        const float scale = w != nullptr ? m.rstd * w[s] : m.rstd, shift = b != nullptr ? b[s] : 0.0f;
        for (int64_t e = first; e < first + count; ++e) yr[e] = normmath::normalized(xr[e], m.mean, scale, shift);
      });
    }
  }
}

void backward(const RowGeometry& g, const float* dy, const float* x, const float* mean, const float* rstd,
              const float* weight, float* dx, float* grad_weight, float* grad_bias) {
  const int64_t parameters = g.parameters();
  const int64_t blocks = (g.rows + kRowBlock - 1) / kRowBlock;
  const bool parameter_sums = grad_weight != nullptr;
  // Each block's parameter gradients, in double: dweight then dbias, `parameters` each.
  std::vector<double> partial(parameter_sums ? static_cast<std::size_t>(blocks * 2 * parameters) : 0, 0.0);
  const auto n = static_cast<double>(g.length);
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(g.rows * g.length))
  for (int64_t block = 0; block < blocks; ++block) {
    double* dw_block = parameter_sums ? partial.data() + block * 2 * parameters : nullptr;
    double* db_block = parameter_sums ? dw_block + parameters : nullptr;
    // A row's x-hat and, with a weight per element, dy * weight: plain loops over arrays, which vectorise.
    std::vector<float> xhat(static_cast<std::size_t>(g.length)), scaled(static_cast<std::size_t>(g.length));
    for (int64_t r = block * kRowBlock; r < std::min(g.rows, (block + 1) * kRowBlock); ++r) {
      const float *xr = x + r * g.length, *dyr = dy + r * g.length;
      float* dxr = dx + r * g.length;
      const float m = mean[r], s = rstd[r];
      const int64_t offset = g.row_offset(r);
      const float* w = weight != nullptr ? weight + offset : nullptr;
      float* xh = xhat.data();
      for (int64_t e = 0; e < g.length; ++e) xh[e] = normmath::xhat(xr[e], m, s);
      // With gr = dy * weight: dx = rstd (gr - mean(gr) - x-hat mean(gr x-hat)) over the row.
      if (g.segment == 1 || (w == nullptr && !parameter_sums)) {  // a parameter per element (LayerNorm), or none
        const float* gr = dyr;
        if (w != nullptr) {
          for (int64_t e = 0; e < g.length; ++e) scaled[static_cast<std::size_t>(e)] = dyr[e] * w[e];
          gr = scaled.data();
        }
        const auto mean_g = static_cast<float>(lane_total(gr, g.length) / n);
        const auto mean_gx = static_cast<float>(lane_dot(gr, xh, g.length) / n);
        for (int64_t e = 0; e < g.length; ++e) dxr[e] = normmath::input_grad(s, gr[e], mean_g, xh[e], mean_gx);
        if (!parameter_sums) continue;
        double *dw = dw_block + offset, *db = db_block + offset;
        for (int64_t e = 0; e < g.length; ++e) {
          dw[e] += static_cast<double>(dyr[e]) * static_cast<double>(xh[e]);
          db[e] += static_cast<double>(dyr[e]);
        }
        continue;
      }
      // A parameter per segment (GroupNorm's channels): each segment's sums of dy and dy x-hat are its parameters'
      // gradients, and weighted they make the row's.
      double sum_g = 0, sum_gx = 0;
      for_each_segment(g, [&](int64_t segment, int64_t first, int64_t count) {
        const double dy_sum = lane_total(dyr + first, count), dy_xhat_sum = lane_dot(dyr + first, xh + first, count);
        const double ws = w != nullptr ? w[segment] : 1.0;
        sum_g += ws * dy_sum;
        sum_gx += ws * dy_xhat_sum;
        if (!parameter_sums) return;
        dw_block[offset + segment] += dy_xhat_sum;
        db_block[offset + segment] += dy_sum;
      });
      const auto mean_g = static_cast<float>(sum_g / n), mean_gx = static_cast<float>(sum_gx / n);
      for_each_segment(g, [&](int64_t segment, int64_t first, int64_t count) {
        const float ws = w != nullptr ? w[segment] : 1.0f;
        for (int64_t e = first; e < first + count; ++e)
          dxr[e] = normmath::input_grad(s, dyr[e] * ws, mean_g, xh[e], mean_gx);
      });
    }
  }
  if (!parameter_sums) return;
  // The blocks added in order (into the first block's sums), then rounded once.
  for (int64_t block = 1; block < blocks; ++block) {
    const double* from = partial.data() + block * 2 * parameters;
    for (int64_t p = 0; p < 2 * parameters; ++p) partial[static_cast<std::size_t>(p)] += from[p];
  }
  for (int64_t p = 0; p < parameters; ++p) {
    grad_weight[p] = static_cast<float>(partial[static_cast<std::size_t>(p)]);
    grad_bias[p] = static_cast<float>(partial[static_cast<std::size_t>(parameters + p)]);
  }
}

}  // namespace normrt::norms_cpu

NORMRT_WIDE_VECTORS_END
