#include "normrt/nn/init.h"

#include <cmath>
#include <vector>

#include "log.h"
#include "normrt/error.h"

namespace normrt::nn::init {

namespace {

Generator& pick(Generator* gen) { return gen ? *gen : default_generator(); }

void assign(Tensor& t, const std::vector<double>& values) {
  NORMRT_CHECK(t.defined() && t.dtype() == DType::Float32, "init: expected a defined float32 tensor");
  std::vector<float> f(values.begin(), values.end());
  t.copy_(from_vector(f, t.sizes()));
}

std::vector<double> uniform_values(int64_t n, double a, double b, Generator& gen) {
  std::vector<float> u(static_cast<std::size_t>(n));
  gen.uniform(u.data(), n);
  std::vector<double> out(u.size());
  for (std::size_t i = 0; i < u.size(); ++i) out[i] = a + (b - a) * u[i];
  return out;
}

std::vector<double> normal_values(int64_t n, double mean, double std, Generator& gen) {
  std::vector<float> z(static_cast<std::size_t>(n));
  gen.normal(z.data(), n);
  std::vector<double> out(z.size());
  for (std::size_t i = 0; i < z.size(); ++i) out[i] = mean + std * z[i];
  return out;
}

double kaiming_std(const Tensor& t, double a, FanMode mode, const std::string& nonlinearity) {
  const auto [fan_in, fan_out] = fans(t);
  const int64_t fan = mode == FanMode::FanIn ? fan_in : fan_out;
  return calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan));
}

// As PyTorch: a tensor with a zero dimension is left alone, with a warning.
bool zero_element(const Tensor& t) {
  if (t.numel() != 0) return false;
  detail::warn("Initializing zero-element tensors is a no-op");
  return true;
}

}  // namespace

double calculate_gain(const std::string& nonlinearity, double param) {
  if (nonlinearity == "linear" || nonlinearity == "conv1d" || nonlinearity == "conv2d" || nonlinearity == "conv3d" ||
      nonlinearity == "sigmoid")
    return 1.0;
  if (nonlinearity == "tanh") return 5.0 / 3.0;
  if (nonlinearity == "relu") return std::sqrt(2.0);
  if (nonlinearity == "leaky_relu") return std::sqrt(2.0 / (1.0 + param * param));
  if (nonlinearity == "selu") return 3.0 / 4.0;
  NORMRT_THROW("Unsupported nonlinearity ", nonlinearity);
}

std::pair<int64_t, int64_t> fans(const Tensor& t) {
  NORMRT_CHECK(t.dim() >= 2, "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions");
  int64_t receptive = 1;
  for (int64_t d = 2; d < t.dim(); ++d) receptive *= t.size(d);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

void constant_(Tensor& t, Scalar value) {
  NORMRT_CHECK(t.defined(), "init: expected a defined tensor");
  t.fill_(value);
}
void zeros_(Tensor& t) { constant_(t, 0); }
void ones_(Tensor& t) { constant_(t, 1); }

void uniform_(Tensor& t, double a, double b, Generator* gen) { assign(t, uniform_values(t.numel(), a, b, pick(gen))); }

void normal_(Tensor& t, double mean, double std, Generator* gen) {
  assign(t, normal_values(t.numel(), mean, std, pick(gen)));
}

void xavier_uniform_(Tensor& t, double gain, Generator* gen) {
  const auto [fan_in, fan_out] = fans(t);
  const double bound = gain * std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  uniform_(t, -bound, bound, gen);
}

void xavier_normal_(Tensor& t, double gain, Generator* gen) {
  const auto [fan_in, fan_out] = fans(t);
  normal_(t, 0.0, gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out)), gen);
}

void kaiming_uniform_(Tensor& t, double a, FanMode mode, const std::string& nonlinearity, Generator* gen) {
  if (zero_element(t)) return;
  const double bound = std::sqrt(3.0) * kaiming_std(t, a, mode, nonlinearity);
  uniform_(t, -bound, bound, gen);
}

void kaiming_normal_(Tensor& t, double a, FanMode mode, const std::string& nonlinearity, Generator* gen) {
  if (zero_element(t)) return;
  normal_(t, 0.0, kaiming_std(t, a, mode, nonlinearity), gen);
}

void orthogonal_(Tensor& t, double gain, Generator* gen) {
  NORMRT_CHECK(t.dim() >= 2, "Only tensors with 2 or more dimensions are supported");
  const int64_t rows = t.size(0), cols = t.numel() / std::max<int64_t>(rows, 1);
  if (t.numel() == 0) return;
  // Householder QR of the (m x n, m >= n) draw, transposed when rows < cols.
  const bool transpose = rows < cols;
  const int64_t m = transpose ? cols : rows, n = transpose ? rows : cols;
  const std::vector<double> draw = normal_values(rows * cols, 0.0, 1.0, pick(gen));
  std::vector<double> a(static_cast<std::size_t>(m * n));  // column-major m x n
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const double v = draw[r * cols + c];
      if (transpose) a[r * m + c] = v;  // element (c, r)
      else a[c * m + r] = v;            // element (r, c)
    }
  std::vector<double> q(static_cast<std::size_t>(m * m), 0.0);
  for (int64_t i = 0; i < m; ++i) q[i * m + i] = 1.0;
  std::vector<double> sign(static_cast<std::size_t>(n), 1.0);
  for (int64_t k = 0; k < n; ++k) {
    double norm = 0;
    for (int64_t i = k; i < m; ++i) norm += a[k * m + i] * a[k * m + i];
    norm = std::sqrt(norm);
    const double alpha = a[k * m + k] > 0 ? -norm : norm;  // R's diagonal entry
    std::vector<double> v(static_cast<std::size_t>(m), 0.0);
    for (int64_t i = k; i < m; ++i) v[i] = a[k * m + i];
    v[k] -= alpha;
    double vv = 0;
    for (int64_t i = k; i < m; ++i) vv += v[i] * v[i];
    sign[k] = alpha < 0 ? -1.0 : 1.0;
    if (vv == 0) continue;
    for (int64_t j = k; j < n; ++j) {  // A <- (I - 2 v v^T / v^T v) A
      double dot = 0;
      for (int64_t i = k; i < m; ++i) dot += v[i] * a[j * m + i];
      for (int64_t i = k; i < m; ++i) a[j * m + i] -= 2 * dot / vv * v[i];
    }
    for (int64_t j = 0; j < m; ++j) {  // Q <- Q (I - 2 v v^T / v^T v)
      double dot = 0;
      for (int64_t i = k; i < m; ++i) dot += q[i * m + j] * v[i];
      for (int64_t i = k; i < m; ++i) q[i * m + j] -= 2 * dot / vv * v[i];
    }
  }
  // Q's first n columns, each times sign(R_kk), as torch does with q *= d.sign().
  std::vector<double> out(static_cast<std::size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t i = transpose ? c : r, k = transpose ? r : c;  // element (i, k) of the m x n factor
      out[r * cols + c] = gain * q[k * m + i] * sign[k];
    }
  assign(t, out);
}

}  // namespace normrt::nn::init
