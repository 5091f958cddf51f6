// LayerNorm and GroupNorm (modules and ops) against PyTorch (golden data), a double-precision reference, by finite
// differences, and their refusals.
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
  // nn.GroupNorm(2, 4)(torch.zeros(2, 6, 3)) in PyTorch 1.13: the weight's words; without affine it takes them.
  EXPECT_TRUE(throws_with([&] { group.forward(zeros({2, 6, 3})); },
                          "Expected weight to be a vector of size equal to the number of channels in input, but got "
                          "weight of shape [4] and input of shape [2, 6, 3]"));
  nn::GroupNorm plain(2, 4, 1e-5, false);
  EXPECT_EQ(plain.forward(randn({2, 6, 3})).sizes(), (Shape{2, 6, 3}));
  EXPECT_EQ(plain.backward(ones({2, 6, 3})).sizes(), (Shape{2, 6, 3}));
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

// ops/norms.h's checks, in F.layer_norm's and F.group_norm's order and words (PyTorch 1.13).
TEST(NormOps, RefuseWhatPyTorchRefuses) {
  const Tensor x = zeros({2, 3, 4});
  EXPECT_TRUE(throws_with([&] { ops::layer_norm(x, {}); }, "Expected normalized_shape to be at least "
                          "1-dimensional, i.e., containing at least one element, but got normalized_shape = []"));
  EXPECT_TRUE(throws_with([&] { ops::layer_norm(x, {5}); }, "Given normalized_shape=[5], expected input with shape "
                          "[*, 5], but got input of size[2, 3, 4]"));
  EXPECT_TRUE(throws_with([&] { ops::layer_norm(x, {4}, ones({3}), zeros({4})); }, "Expected weight to be of same "
                          "shape as normalized_shape, but got weight of shape [3] and normalized_shape = [4]"));
  EXPECT_TRUE(throws_with([&] { ops::layer_norm(x, {4}, ones({4}), zeros({3})); }, "Expected bias to be of same shape "
                          "as normalized_shape, but got bias of shape [3] and normalized_shape = [4]"));
  EXPECT_TRUE(throws_with([&] { ops::layer_norm(x, {5}, ones({3})); },
                          "Expected weight to be of same shape as "
                          "normalized_shape, but got weight of shape [3] and normalized_shape = [5]"));  // before x's
  EXPECT_TRUE(throws_with([&] { ops::layer_norm(x, {4}, Tensor(), Tensor(), -1.0); },
                          "layer_norm: eps must be a non-negative number, got -1"));
  EXPECT_TRUE(throws_with([&] { ops::layer_norm(zeros({2, 4}, TensorOptions().dtype(DType::Int64)), {4}); },
                          "input must be float32, float16 or bfloat16, got int64"));
  EXPECT_TRUE(throws_with([&] { ops::layer_norm(x.to(DType::Float16), {4}, ones({4}).to(DType::BFloat16)); },
                          "weight must be float32 or the input's dtype (float16), got bfloat16"));
  EXPECT_TRUE(throws_with([&] { ops::group_norm(x, 0); }, "Expected num groups to be greater than 0, got 0"));
  EXPECT_TRUE(throws_with([&] { ops::group_norm(x, 2); }, "Expected number of channels in input to be divisible by "
                          "num_groups, but got input of shape [2, 3, 4] and num_groups=2"));
  EXPECT_TRUE(throws_with([&] { ops::group_norm(x, 3, ones({2}), zeros({3})); }, "Expected weight to be a vector of "
                          "size equal to the number of channels in input, but got weight of shape [2] and input of "
                          "shape [2, 3, 4]"));
  EXPECT_TRUE(throws_with([&] { ops::group_norm(x, 3, ones({3}), zeros({1, 3})); }, "Expected bias to be a vector of "
                          "size equal to the number of channels in input, but got bias of shape [1, 3] and input of "
                          "shape [2, 3, 4]"));
  EXPECT_TRUE(throws_with([&] { ops::group_norm(zeros({1, 3, 1}), 3); },
                          "Expected more than 1 value per channel when training, got input size [1, 3, 1]"));
  // Checked on N * C // G before the channels' divisibility, as F.group_norm.
  EXPECT_TRUE(throws_with([&] { ops::group_norm(zeros({2, 2, 1}), 4); },
                          "Expected more than 1 value per channel when training, got input size [1, 4, 1]"));
  EXPECT_TRUE(throws_with([&] { ops::group_norm(zeros({1, 2, 1}), 4); },
                          "Expected number of channels in input to be divisible by num_groups, but got input of shape "
                          "[1, 2, 1] and num_groups=4"));
  EXPECT_TRUE(throws_with([&] { ops::group_norm(zeros({3}), 1); },
                          "Expected at least 2 dimensions for input tensor but received 1"));
  const auto f = ops::layer_norm_forward(x, {4}, Tensor(), Tensor());
  EXPECT_TRUE(throws_with([&] { ops::layer_norm_backward(zeros({2, 3, 5}), x, {4}, f.mean, f.rstd, Tensor()); },
                          "grad_output shape [2, 3, 5] does not match input shape [2, 3, 4]"));
  EXPECT_TRUE(throws_with([&] { ops::layer_norm_backward(x, x, {4}, zeros({5}), f.rstd, Tensor()); },
                          "mean must have one element per normalised row (6), got [5]"));
}

// An absent weight and bias act as ones and zeros, to the bit (forward, input gradient, and the parameter gradients
// the op computes when asked); without parameter_gradients none are returned. The statistics have PyTorch's shapes.
TEST(NormOps, AbsentParametersActAsOnesAndZeros) {
  Generator gen(11);
  for (const bool layer : {true, false}) {
    for (const Shape& shape : {Shape{4, 6, 5}, Shape{5, 6}}) {
      SCOPED_TRACE(std::string(layer ? "layer " : "group ") + shape_str(shape));
      const Tensor x = randn(shape, gen) * 3.0 + 7.0, dy = randn(shape, gen);
      const Shape params = layer ? Shape{shape.back()} : Shape{shape[1]};
      const auto fwd = [&](const Tensor& w, const Tensor& b) {
        return layer ? ops::layer_norm_forward(x, {shape.back()}, w, b) : ops::group_norm_forward(x, 3, w, b);
      };
      const auto bwd = [&](const ops::NormForwardResult& f, const Tensor& w, bool sums) {
        return layer ? ops::layer_norm_backward(dy, x, {shape.back()}, f.mean, f.rstd, w, sums)
                     : ops::group_norm_backward(dy, x, 3, f.mean, f.rstd, w, sums);
      };
      const auto plain = fwd(Tensor(), Tensor()), unit = fwd(ones(params), zeros(params));
      EXPECT_EQ(plain.output.to_vector(), unit.output.to_vector());
      Shape statistics = layer ? Shape(shape.begin(), shape.end() - 1) : Shape{shape[0], 3};
      if (layer) statistics.push_back(1);
      EXPECT_EQ(plain.mean.sizes(), statistics);
      EXPECT_EQ(plain.rstd.sizes(), statistics);
      const Tensor bias = randn(params, gen);
      EXPECT_EQ(fwd(Tensor(), bias).output.to_vector(), fwd(ones(params), bias).output.to_vector());
      const auto with_sums = bwd(plain, Tensor(), true), unit_sums = bwd(unit, ones(params), true);
      EXPECT_EQ(with_sums.grad_input.to_vector(), unit_sums.grad_input.to_vector());
      EXPECT_EQ(with_sums.grad_weight.to_vector(), unit_sums.grad_weight.to_vector());
      EXPECT_EQ(with_sums.grad_bias.to_vector(), unit_sums.grad_bias.to_vector());
      EXPECT_EQ(with_sums.grad_weight.sizes(), params);
      const auto without = bwd(plain, Tensor(), false);
      EXPECT_FALSE(without.grad_weight.defined() || without.grad_bias.defined());
      EXPECT_EQ(without.grad_input.to_vector(), with_sums.grad_input.to_vector());
    }
  }
}

// float16 / bfloat16 input: the float32 computation on its values, each result rounded once to its tensor's dtype
// (the parameter gradients to the weight's: float32 beside 16-bit input, as apex's mixed LayerNorm, or 16-bit); the
// modules take it too.
TEST(NormOps, SixteenBitInputIsTheFloat32ComputationRounded) {
  Generator gen(13);
  for (const DType dtype : {DType::Float16, DType::BFloat16}) {
    for (const bool layer : {true, false}) {
      for (const DType parameters : {DType::Float32, dtype}) {
        SCOPED_TRACE(std::string(dtype_name(dtype)) + (layer ? " layer " : " group ") + dtype_name(parameters));
        const Shape shape = {3, 4, 5};
        const Tensor x = (randn(shape, gen) * 2.0 + 3.0).to(dtype), dy = randn(shape, gen).to(dtype);
        const Shape params = layer ? Shape{5} : Shape{4};
        const Tensor w = (rand(params, gen) + 0.5).to(parameters), b = randn(params, gen).to(parameters);
        const auto fwd = [&](const Tensor& input, const Tensor& weight, const Tensor& bias) {
          return layer ? ops::layer_norm_forward(input, {5}, weight, bias)
                       : ops::group_norm_forward(input, 2, weight, bias);
        };
        const auto bwd = [&](const Tensor& grad, const Tensor& input, const ops::NormForwardResult& f,
                             const Tensor& weight) {
          return layer ? ops::layer_norm_backward(grad, input, {5}, f.mean, f.rstd, weight)
                       : ops::group_norm_backward(grad, input, 2, f.mean, f.rstd, weight);
        };
        const Tensor wide_x = x.to(DType::Float32), wide_w = w.to(DType::Float32), wide_b = b.to(DType::Float32);
        const auto narrow = fwd(x, w, b), wide = fwd(wide_x, wide_w, wide_b);
        EXPECT_EQ(narrow.output.dtype(), dtype);
        EXPECT_EQ(narrow.mean.dtype(), DType::Float32);
        EXPECT_EQ(narrow.output.to(DType::Float32).to_vector(), wide.output.to(dtype).to(DType::Float32).to_vector());
        EXPECT_EQ(narrow.rstd.to_vector(), wide.rstd.to_vector());
        const auto narrow_grads = bwd(dy, x, narrow, w), wide_grads = bwd(dy.to(DType::Float32), wide_x, wide, wide_w);
        EXPECT_EQ(narrow_grads.grad_input.dtype(), dtype);
        EXPECT_EQ(narrow_grads.grad_input.to(DType::Float32).to_vector(),
                  wide_grads.grad_input.to(dtype).to(DType::Float32).to_vector());
        EXPECT_EQ(narrow_grads.grad_weight.dtype(), parameters);
        EXPECT_EQ(narrow_grads.grad_weight.to(DType::Float32).to_vector(),
                  wide_grads.grad_weight.to(parameters).to(DType::Float32).to_vector());
        EXPECT_EQ(narrow_grads.grad_bias.to(DType::Float32).to_vector(),
                  wide_grads.grad_bias.to(parameters).to(DType::Float32).to_vector());
      }
    }
    nn::LayerNorm module({5});
    const Tensor y = module.forward(randn({2, 5}, gen).to(dtype));
    EXPECT_EQ(y.dtype(), dtype);
    EXPECT_EQ(module.backward(ones({2, 5}).to(dtype)).dtype(), dtype);
    EXPECT_EQ(module.weight.grad().dtype(), DType::Float32);
  }
}

// Empty rows and rows of nothing, as aten's native_layer_norm / native_group_norm: no rows give empty statistics,
// rows of no elements a mean of 0 and an rstd of NaN; the backward of nothing gives zero parameter gradients.
TEST(NormOps, EmptyInput) {
  const auto rows_of_nothing = ops::layer_norm_forward(zeros({2, 0}), {0}, Tensor(), Tensor());
  EXPECT_EQ(rows_of_nothing.output.sizes(), (Shape{2, 0}));
  EXPECT_EQ(rows_of_nothing.mean.to_vector(), (std::vector<float>{0, 0}));
  EXPECT_TRUE(std::isnan(rows_of_nothing.rstd.to_vector()[0]) && std::isnan(rows_of_nothing.rstd.to_vector()[1]));
  const Tensor none = zeros({0, 4, 3});
  const auto f = ops::group_norm_forward(none, 2, ones({4}), zeros({4}));
  EXPECT_EQ(f.output.sizes(), none.sizes());
  EXPECT_EQ(f.mean.sizes(), (Shape{0, 2}));
  const auto b = ops::group_norm_backward(none, none, 2, f.mean, f.rstd, ones({4}));
  EXPECT_EQ(b.grad_input.sizes(), none.sizes());
  EXPECT_EQ(b.grad_weight.to_vector(), std::vector<float>(4, 0.0f));
  const auto spatial_nothing = ops::group_norm_forward(zeros({2, 4, 0}), 2, Tensor(), Tensor());
  EXPECT_EQ(spatial_nothing.mean.to_vector(), std::vector<float>(4, 0.0f));
}

}  // namespace
}  // namespace normrt
