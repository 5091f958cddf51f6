// Finite-difference gradient checks: the library's analytic BatchNorm gradients against central differences of
// the independent double-precision reference forward, for L = sum(dy * y), in training and eval mode.
#include "reference/bn_reference.h"
#include "test_util.h"

namespace normrt {
namespace {

using testing::all_close;
using testing::RefGeometry;
using testing::to_double;

struct GradcheckCase {
  Shape shape;
  bool training;
  bool affine;
};

class Gradcheck : public ::testing::TestWithParam<GradcheckCase> {};

TEST_P(Gradcheck, AnalyticMatchesFiniteDifferences) {
  const auto [shape, training, affine] = GetParam();
  int64_t s = 1;
  for (std::size_t d = 2; d < shape.size(); ++d) s *= shape[d];
  const RefGeometry g{shape[0], shape[1], s};
  Generator gen(17);
  const Tensor x = randn(shape, gen), dy = randn(shape, gen);
  const Tensor weight = affine ? rand({g.C}, gen) : Tensor();
  const Tensor bias = affine ? randn({g.C}, gen) : Tensor();
  const Tensor running_mean = randn({g.C}, gen), running_var = rand({g.C}, gen);
  const double eps = 1e-3;

  const auto fwd = training ? ops::batch_norm_forward_training(x, weight, bias, Tensor(), Tensor(), Tensor(), 0.1, eps)
                            : ops::batch_norm_forward_inference(x, weight, bias, running_mean, running_var, eps);
  const auto grads = ops::batch_norm_backward(dy, x, weight, fwd.save_mean, fwd.save_invstd, training, eps);

  const std::vector<double> xd = to_double(x), dyd = to_double(dy), rm = to_double(running_mean),
                            rv = to_double(running_var);
  std::vector<double> w = affine ? to_double(weight) : std::vector<double>{};
  std::vector<double> b = affine ? to_double(bias) : std::vector<double>{};
  auto loss = [&](const std::vector<double>& xs, const std::vector<double>& ws, const std::vector<double>& bs) {
    std::vector<double> mean = rm, var = rv;
    if (training) {
      const auto st = testing::ref_stats(g, xs);
      mean = st.mean;
      var = st.var_biased;
    }
    const auto y = testing::ref_normalize(g, xs, mean, var, eps, ws, bs);
    double l = 0;
    for (std::size_t i = 0; i < y.size(); ++i) l += dyd[i] * y[i];
    return l;
  };
  const double h = 1e-6;
  auto numeric = [&](std::vector<double>& v, auto eval) {
    std::vector<double> out(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) {
      const double keep = v[i];
      v[i] = keep + h;
      const double up = eval();
      v[i] = keep - h;
      const double down = eval();
      v[i] = keep;
      out[i] = (up - down) / (2 * h);
    }
    return out;
  };
  std::vector<double> xs = xd;
  const auto dx_num = numeric(xs, [&] { return loss(xs, w, b); });
  EXPECT_TRUE(all_close(grads.grad_input.to_vector(), dx_num, 1e-4, 1e-4)) << "grad_input";
  if (affine) {
    const auto dw_num = numeric(w, [&] { return loss(xd, w, b); });
    const auto db_num = numeric(b, [&] { return loss(xd, w, b); });
    EXPECT_TRUE(all_close(grads.grad_weight.to_vector(), dw_num, 1e-4, 1e-4)) << "grad_weight";
    EXPECT_TRUE(all_close(grads.grad_bias.to_vector(), db_num, 1e-4, 1e-4)) << "grad_bias";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, Gradcheck,
    ::testing::Values(GradcheckCase{{4, 3}, true, true}, GradcheckCase{{2, 1}, true, true},
                      GradcheckCase{{3, 2, 5}, true, false}, GradcheckCase{{2, 3, 3, 2}, true, true},
                      GradcheckCase{{2, 2, 2, 3, 2}, true, true}, GradcheckCase{{4, 3}, false, true},
                      GradcheckCase{{2, 3, 3, 2}, false, false}),
    [](const ::testing::TestParamInfo<GradcheckCase>& info) {
      std::string name;
      for (int64_t s : info.param.shape) name += std::to_string(s) + "x";
      return name + (info.param.training ? "train" : "eval") + (info.param.affine ? "_affine" : "_plain");
    });

}  // namespace
}  // namespace normrt
