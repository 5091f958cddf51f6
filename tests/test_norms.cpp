// LayerNorm and GroupNorm against PyTorch (golden data), a double-precision reference, by finite differences, and
// their refusals.
#include <omp.h>

#include "norms_golden_runner.h"

namespace normrt {
namespace {

using testing::throws_with;

class NormsGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(NormsGolden, MatchesPyTorch) { testing::run_norms_golden_case(GetParam(), Device::cpu()); }

INSTANTIATE_TEST_SUITE_P(PyTorch, NormsGolden, ::testing::ValuesIn(testing::norms_golden_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// d(sum(y * w)) / dx by central differences in double around float inputs, against the module's backward.
template <typename M>
void gradcheck(M& module, const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  const Tensor x = randn(shape, gen), probe = randn(shape, gen);
  module.forward(x);
  const auto dx = module.backward(probe).to_vector();
  auto objective = [&](const std::vector<float>& values) {
    NoGradGuard no_grad;
    const auto y = module.forward(from_vector(values, shape)).to_vector();
    const auto w = probe.to_vector();
    double s = 0;
    for (std::size_t i = 0; i < y.size(); ++i) s += static_cast<double>(y[i]) * w[i];
    return s;
  };
  auto values = x.to_vector();
  for (std::size_t i = 0; i < values.size(); i += 3) {
    const float keep = values[i], h = 1e-2f;
    values[i] = keep + h;
    const double up = objective(values);
    values[i] = keep - h;
    const double down = objective(values);
    values[i] = keep;
    EXPECT_NEAR(dx[i], (up - down) / (2.0 * h), 2e-2) << "element " << i;
  }
}

// LayerNorm / GroupNorm (affine) against a double-precision reference: y, dx, dweight and dbias for `rows` rows of
// `segments` segments of `segment` elements, the parameters of segment k of row r at (r % groups) * segments + k.
struct RowCase {
  int64_t rows, segments, segment, groups;
};

void expect_rows_match_reference(const RowCase& rc, const Tensor& x, const Tensor& dy, const Tensor& weight,
                                 const Tensor& bias, const Tensor& y, const Tensor& dx, const Tensor& dweight,
                                 const Tensor& dbias, double eps) {
  const auto xs = x.to_vector(), dys = dy.to_vector(), w = weight.to_vector(), b = bias.to_vector();
  const auto ys = y.to_vector(), dxs = dx.to_vector();
  const int64_t length = rc.segments * rc.segment;
  std::vector<double> dw(w.size(), 0.0), db(w.size(), 0.0);
  double worst_y = 0, worst_dx = 0;
  for (int64_t r = 0; r < rc.rows; ++r) {
    const auto at = [&](int64_t e) { return static_cast<std::size_t>(r * length + e); };
    const auto param = [&](int64_t e) {
      return static_cast<std::size_t>((r % rc.groups) * rc.segments + e / rc.segment);
    };
    double mean = 0, var = 0;
    for (int64_t e = 0; e < length; ++e) mean += xs[at(e)];
    mean /= static_cast<double>(length);
    for (int64_t e = 0; e < length; ++e) var += (xs[at(e)] - mean) * (xs[at(e)] - mean);
    const double rstd = 1 / std::sqrt(var / static_cast<double>(length) + eps);
    double sum_g = 0, sum_gx = 0;
    for (int64_t e = 0; e < length; ++e) {
      const double xhat = (xs[at(e)] - mean) * rstd, g = dys[at(e)] * static_cast<double>(w[param(e)]);
      worst_y = std::max(worst_y, std::fabs(ys[at(e)] - (xhat * w[param(e)] + b[param(e)])));
      sum_g += g;
      sum_gx += g * xhat;
      dw[param(e)] += dys[at(e)] * xhat;
      db[param(e)] += dys[at(e)];
    }
    for (int64_t e = 0; e < length; ++e) {
      const double xhat = (xs[at(e)] - mean) * rstd, g = dys[at(e)] * static_cast<double>(w[param(e)]);
      const double expected = rstd * (g - sum_g / length - xhat * sum_gx / length);
      worst_dx = std::max(worst_dx, std::fabs(dxs[at(e)] - expected) / std::max(1.0, std::fabs(expected)));
    }
  }
  // x-hat within a few float roundings of the mean's (x - mean in float: |x| / std ulps), the sums over many rows
  // within float rounding of their magnitude.
  EXPECT_LT(worst_y, 2e-5 * std::max(1.0, testing::max_abs(testing::to_double(x)) / 50));
  EXPECT_LT(worst_dx, 1e-4);
  EXPECT_TRUE(testing::all_close(dweight.to_vector(), dw, 1e-5, 1e-6));
  EXPECT_TRUE(testing::all_close(dbias.to_vector(), db, 1e-5, 1e-6));
}

TEST(Norms, ManyRowsMatchADoubleReferenceWhateverTheThreadCount) {
  const int threads = omp_get_max_threads();
  // Rows over several blocks of the parameter-gradient sums, row lengths not a multiple of the lanes, C = 1
  // groups, spatial 1, a mean far from zero.
  struct Case {
    bool layer;
    Shape shape;
    int64_t groups;
    double shift;
  };
  // Two (1100 x 64, 40 x 8 x 16 x 16) are large enough for the loops to run in parallel.
  for (const Case& c : {Case{true, {3, 101, 13}, 0, 0.0}, Case{true, {1100, 64}, 0, 40.0},
                        Case{false, {70, 6, 5, 7}, 3, 0.0}, Case{false, {9, 4, 33}, 4, -25.0},
                        Case{false, {130, 8}, 2, 3.0}, Case{false, {40, 8, 16, 16}, 4, 1.0}}) {
    SCOPED_TRACE(shape_str(c.shape));
    Generator gen(c.shape[0]);
    const Tensor x = randn(c.shape, gen) + c.shift, dy = randn(c.shape, gen);
    std::vector<Tensor> results;
    for (int count : {1, 3}) {
      omp_set_num_threads(count);
      std::unique_ptr<nn::Module> module;
      Tensor *weight, *bias;
      RowCase rc;
      if (c.layer) {
        auto m = std::make_unique<nn::LayerNorm>(Shape{c.shape.back()});
        weight = &m->weight;
        bias = &m->bias;
        rc = {x.numel() / c.shape.back(), c.shape.back(), 1, 1};
        module = std::move(m);
      } else {
        auto m = std::make_unique<nn::GroupNorm>(c.groups, c.shape[1]);
        weight = &m->weight;
        bias = &m->bias;
        const int64_t spatial = x.numel() / (c.shape[0] * c.shape[1]);
        rc = {c.shape[0] * c.groups, c.shape[1] / c.groups, spatial, c.groups};
        module = std::move(m);
      }
      Generator params(5);
      weight->copy_(rand(weight->sizes(), params) + 0.5);
      bias->copy_(randn(bias->sizes(), params));
      const Tensor y = module->forward(x), dx = module->backward(dy);
      expect_rows_match_reference(rc, x, dy, *weight, *bias, y, dx, weight->grad(), bias->grad(), 1e-5);
      results.insert(results.end(), {y, dx, weight->grad(), bias->grad()});
    }
    omp_set_num_threads(threads);
    for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(results[i].to_vector(), results[i + 4].to_vector()) << i;
  }
}

TEST(Norms, FiniteDifferences) {
  nn::LayerNorm layer({6});
  gradcheck(layer, {4, 6}, 1);
  nn::GroupNorm group(2, 4);
  gradcheck(group, {3, 4, 5}, 2);
}

TEST(Norms, RefusalsAndRepr) {
  nn::LayerNorm layer({4, 5});
  EXPECT_TRUE(throws_with([&] { layer.forward(zeros({2, 5, 4})); },
                          "Given normalized_shape=[4, 5], expected input with shape [*, 4, 5], but got input of "
                          "size[2, 5, 4]"));
  EXPECT_TRUE(throws_with([] { nn::GroupNorm(3, 4); }, "num_channels must be divisible by num_groups"));
  nn::GroupNorm group(2, 4);
  EXPECT_TRUE(throws_with([&] { group.forward(zeros({2, 6, 3})); }, "Expected number of channels in input"));
  // One value per group: F.group_norm's ValueError in PyTorch 1.13 (nn.GroupNorm(5, 5)(torch.zeros(1, 5, 1)),
  // nn.GroupNorm(2, 2)(torch.zeros(1, 2)) in eval mode as well).
  nn::GroupNorm instance(5, 5), pair(2, 2);
  pair.eval();
  EXPECT_TRUE(throws_with([&] { instance.forward(zeros({1, 5, 1})); },
                          "Expected more than 1 value per channel when training, got input size [1, 5, 1]"));
  EXPECT_TRUE(throws_with([&] { pair.forward(zeros({1, 2})); },
                          "Expected more than 1 value per channel when training, got input size [1, 2]"));
  EXPECT_EQ(instance.forward(zeros({2, 5, 1})).numel(), 10);
  std::ostringstream os;
  os << layer << '\n' << nn::LayerNorm({7}, 1e-6, false) << '\n' << group;
  // repr(torch.nn.LayerNorm((4, 5))), repr(torch.nn.LayerNorm(7, eps=1e-6, elementwise_affine=False)),
  // repr(torch.nn.GroupNorm(2, 4)) in PyTorch 1.13:
  EXPECT_EQ(os.str(), "LayerNorm((4, 5), eps=1e-05, elementwise_affine=True)\n"
                      "LayerNorm((7,), eps=1e-06, elementwise_affine=False)\n"
                      "GroupNorm(2, 4, eps=1e-05, affine=True)");
}

}  // namespace
}  // namespace normrt
