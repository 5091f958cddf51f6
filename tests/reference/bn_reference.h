// Independent double-precision BatchNorm reference for the tests: plain two-pass statistics straight from the
// definitions, sharing no code with the library's kernels.
#pragma once
#include <cmath>
#include <cstdint>
#include <optional>
#include <vector>

namespace normrt::testing {

struct RefGeometry {
  int64_t N, C, S;
  int64_t index(int64_t n, int64_t c, int64_t s) const { return (n * C + c) * S + s; }
};

struct RefStats {
  std::vector<double> mean, var_biased, var_unbiased;
};

inline RefStats ref_stats(const RefGeometry& g, const std::vector<double>& x) {
  RefStats r;
  const double m = static_cast<double>(g.N * g.S);
  for (int64_t c = 0; c < g.C; ++c) {
    double sum = 0;
    for (int64_t n = 0; n < g.N; ++n)
      for (int64_t s = 0; s < g.S; ++s) sum += x[g.index(n, c, s)];
    const double mean = sum / m;
    double sq = 0;
    for (int64_t n = 0; n < g.N; ++n)
      for (int64_t s = 0; s < g.S; ++s) sq += (x[g.index(n, c, s)] - mean) * (x[g.index(n, c, s)] - mean);
    r.mean.push_back(mean);
    r.var_biased.push_back(sq / m);
    r.var_unbiased.push_back(sq / (m - 1));
  }
  return r;
}

// y = (x - mean) / sqrt(var + eps) * w + b with the given per-channel mean and variance.
inline std::vector<double> ref_normalize(const RefGeometry& g, const std::vector<double>& x,
                                         const std::vector<double>& mean, const std::vector<double>& var, double eps,
                                         const std::vector<double>& w, const std::vector<double>& b) {
  std::vector<double> y(x.size());
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t s = 0; s < g.S; ++s) {
        const int64_t i = g.index(n, c, s);
        y[i] = (x[i] - mean[c]) / std::sqrt(var[c] + eps) * (w.empty() ? 1.0 : w[c]) + (b.empty() ? 0.0 : b[c]);
      }
  return y;
}

struct RefGrads {
  std::vector<double> dx, dw, db;
};

// Gradients of sum(dy * y). training=true: y uses the batch statistics of x; false: fixed mean/var.
inline RefGrads ref_backward(const RefGeometry& g, const std::vector<double>& x, const std::vector<double>& dy,
                             const std::vector<double>& w, bool training, const std::vector<double>& fixed_mean,
                             const std::vector<double>& fixed_var, double eps) {
  RefGrads r;
  r.dx.resize(x.size());
  const double m = static_cast<double>(g.N * g.S);
  const RefStats st = training ? ref_stats(g, x) : RefStats{};
  for (int64_t c = 0; c < g.C; ++c) {
    const double mean = training ? st.mean[c] : fixed_mean[c];
    const double var = training ? st.var_biased[c] : fixed_var[c];
    const double invstd = 1.0 / std::sqrt(var + eps);
    const double wc = w.empty() ? 1.0 : w[c];
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int64_t n = 0; n < g.N; ++n)
      for (int64_t s = 0; s < g.S; ++s) {
        const int64_t i = g.index(n, c, s);
        sum_dy += dy[i];
        sum_dy_xhat += dy[i] * (x[i] - mean) * invstd;
      }
    r.dw.push_back(sum_dy_xhat);
    r.db.push_back(sum_dy);
    for (int64_t n = 0; n < g.N; ++n)
      for (int64_t s = 0; s < g.S; ++s) {
        const int64_t i = g.index(n, c, s);
        const double xhat = (x[i] - mean) * invstd;
        r.dx[i] = training ? wc * invstd * (dy[i] - sum_dy / m - xhat * sum_dy_xhat / m) : wc * invstd * dy[i];
      }
  }
  return r;
}

}  // namespace normrt::testing
