// LayerNorm and GroupNorm against PyTorch (golden data), by finite differences, and their refusals.
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
