// InstanceNorm1d/2d/3d and ops::instance_norm: against a double-precision reference written here, by finite
// differences, and PyTorch 1.13's refusals, reprs and edge cases (empty batches, unbatched input, channels-last and
// 16-bit input). The golden cases from PyTorch run in test_norms.cpp (tests/golden/make_golden_norms.py).
#include "test_util.h"

namespace normrt {
namespace {

using testing::throws_with;

// Each (sample, channel)'s statistics in double: biased variance for normalising, unbiased for the running update.
struct InstanceStats {
  std::vector<double> mean, biased_var, unbiased_var;
};

InstanceStats instance_stats(const std::vector<float>& x, int64_t instances, int64_t spatial) {
  InstanceStats s;
  for (int64_t i = 0; i < instances; ++i) {
    double mean = 0, m2 = 0;
    for (int64_t k = 0; k < spatial; ++k) mean += x[static_cast<std::size_t>(i * spatial + k)];
    mean /= static_cast<double>(spatial);
    for (int64_t k = 0; k < spatial; ++k) {
      const double d = x[static_cast<std::size_t>(i * spatial + k)] - mean;
      m2 += d * d;
    }
    s.mean.push_back(mean);
    s.biased_var.push_back(m2 / static_cast<double>(spatial));
    s.unbiased_var.push_back(m2 / static_cast<double>(spatial - 1));
  }
  return s;
}

TEST(InstanceNorm, TrainingMatchesADoubleReferenceAndUpdatesTheRunningStatsAsPyTorch) {
  // Awkward shapes: C = 1, odd sizes, spatial 2, a mean far from zero, spatial not a multiple of 32.
  struct Case {
    Shape shape;
    double shift, scale, momentum, eps;
  };
  const std::vector<Case> cases = {{{3, 4, 5, 7}, 0, 1, 0.1, 1e-5},
                                   {{2, 1, 33}, 100, 0.5, 0.25, 1e-3},
                                   {{5, 3, 1, 2}, -7, 2, 1.0, 1e-5},
                                   {{1, 2, 3, 5, 7}, 1e4, 1, 0.0, 1e-5}};
  uint64_t seed = 11;
  for (const Case& c : cases) {
    SCOPED_TRACE(shape_str(c.shape));
    const int64_t n = c.shape[0], ch = c.shape[1], spatial = shape_numel(c.shape) / (n * ch);
    Generator gen(seed++);
    const Tensor x = randn(c.shape, gen) * c.scale + c.shift;
    const Tensor weight = rand({ch}, gen) + 0.5, bias = randn({ch}, gen);
    const Tensor rm = randn({ch}, gen), rv = rand({ch}, gen) + 0.5;
    const Tensor running_mean = rm.clone(), running_var = rv.clone();
    const Tensor y =
        ops::instance_norm(x, weight, bias, running_mean, running_var, true, c.momentum, c.eps);
    const auto xs = x.to_vector(), ys = y.to_vector(), w = weight.to_vector(), b = bias.to_vector();
    const InstanceStats s = instance_stats(xs, n * ch, spatial);
    for (int64_t i = 0; i < n * ch; ++i) {
      const int64_t channel = i % ch;
      const double invstd = 1 / std::sqrt(s.biased_var[i] + c.eps);
      for (int64_t k = 0; k < spatial; ++k) {
        const auto at = static_cast<std::size_t>(i * spatial + k);
        const double expected = (xs[at] - s.mean[i]) * invstd * w[channel] + b[channel];
        // The float32 mean of values near `shift` is off by up to ulp(shift) / 2, scaled by invstd.
        const double tol = 1e-5 + 4 * std::fabs(c.shift) * std::ldexp(1.0, -24) * invstd;
        ASSERT_NEAR(ys[at], expected, tol * std::max(1.0, std::fabs(expected))) << "instance " << i << " at " << k;
      }
    }
    const auto rm0 = rm.to_vector(), rv0 = rv.to_vector();
    const auto rm1 = running_mean.to_vector(), rv1 = running_var.to_vector();
    for (int64_t channel = 0; channel < ch; ++channel) {
      double mean = 0, var = 0;
      for (int64_t sample = 0; sample < n; ++sample) {
        mean += (1 - c.momentum) * rm0[channel] + c.momentum * s.mean[sample * ch + channel];
        var += (1 - c.momentum) * rv0[channel] + c.momentum * s.unbiased_var[sample * ch + channel];
      }
      mean /= static_cast<double>(n);
      var /= static_cast<double>(n);
      EXPECT_NEAR(rm1[channel], mean, 1e-6 * std::max(1.0, std::fabs(mean))) << "channel " << channel;
      EXPECT_NEAR(rv1[channel], var, 1e-5 * std::max(1.0, var)) << "channel " << channel;
    }
  }
}

TEST(InstanceNorm, EvalUsesTheRunningStatsOnlyWhenTracked) {
  Generator gen(3);
  const Tensor x = randn({2, 3, 4, 5}, gen);
  nn::InstanceNorm2d tracked(nn::InstanceNormOptions(3).track_running_stats(true)), untracked(3);
  tracked.running_mean.copy_(from_vector(std::vector<float>{1, -2, 0.5}, {3}));
  tracked.running_var.copy_(from_vector(std::vector<float>{4, 0.25, 1}, {3}));
  const Tensor train_out = untracked.forward(x);
  untracked.eval();
  tracked.eval();
  EXPECT_EQ(untracked.forward(x).to_vector(), train_out.to_vector());
  const auto y = tracked.forward(x).to_vector(), xs = x.to_vector();
  const double mean[] = {1, -2, 0.5}, var[] = {4, 0.25, 1};
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const std::size_t c = (i / 20) % 3;
    EXPECT_NEAR(y[i], (xs[i] - mean[c]) / std::sqrt(var[c] + 1e-5), 1e-5) << i;
  }
  // Eval needs no second element per instance (torch: InstanceNorm2d(3, track_running_stats=True).eval() on
  // (2, 3, 1, 1) input).
  EXPECT_EQ(tracked.forward(zeros({2, 3, 1, 1})).numel(), 6);
  EXPECT_EQ(tracked.running_mean.to_vector(), (std::vector<float>{1, -2, 0.5}));
}

// d(sum(y * probe)) / d(x, weight, bias) by central differences in double around float inputs.
void gradcheck(nn::InstanceNormBase& module, const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  const Tensor x = randn(shape, gen), probe = randn(shape, gen);
  if (module.weight.defined()) {
    module.weight.copy_(rand(module.weight.sizes(), gen) + 0.5);
    module.bias.copy_(randn(module.bias.sizes(), gen));
  }
  module.zero_grad();
  const bool tracked = module.running_mean.defined();
  const Tensor running_mean = tracked ? module.running_mean.clone() : Tensor();
  const Tensor running_var = tracked ? module.running_var.clone() : Tensor();
  module.forward(x);
  const auto dx = module.backward(probe).to_vector();
  auto objective = [&](const Tensor& input) {
    NoGradGuard no_grad;
    if (tracked) {  // the running statistics as they were
      module.running_mean.copy_(running_mean);
      module.running_var.copy_(running_var);
    }
    const auto y = module.forward(input).to_vector();
    const auto w = probe.to_vector();
    double s = 0;
    for (std::size_t i = 0; i < y.size(); ++i) s += static_cast<double>(y[i]) * w[i];
    return s;
  };
  auto differentiate = [&](Tensor& t, std::size_t i) {
    auto values = t.to_vector();
    const float keep = values[i], h = 1e-2f;
    values[i] = keep + h;
    t.copy_(from_vector(values, t.sizes()));
    const double up = objective(x);
    values[i] = keep - h;
    t.copy_(from_vector(values, t.sizes()));
    const double down = objective(x);
    values[i] = keep;
    t.copy_(from_vector(values, t.sizes()));
    return (up - down) / (2.0 * h);
  };
  Tensor input = x;
  for (std::size_t i = 0; i < dx.size(); i += 3) EXPECT_NEAR(dx[i], differentiate(input, i), 2e-2) << "x " << i;
  if (!module.weight.defined()) return;
  const auto dw = module.weight.grad().to_vector(), db = module.bias.grad().to_vector();
  for (std::size_t c = 0; c < dw.size(); ++c) {
    EXPECT_NEAR(dw[c], differentiate(module.weight, c), 2e-2) << "weight " << c;
    EXPECT_NEAR(db[c], differentiate(module.bias, c), 2e-2) << "bias " << c;
  }
}

TEST(InstanceNorm, FiniteDifferences) {
  nn::InstanceNorm1d plain(3);
  gradcheck(plain, {2, 3, 6}, 1);
  nn::InstanceNorm2d affine(nn::InstanceNormOptions(4).affine(true).track_running_stats(true));
  gradcheck(affine, {3, 4, 2, 3}, 2);
  affine.eval();  // the running statistics are constants
  gradcheck(affine, {3, 4, 2, 3}, 3);
  nn::InstanceNorm3d unbatched(nn::InstanceNormOptions(2).affine(true));
  gradcheck(unbatched, {2, 2, 3, 2}, 4);
}

TEST(InstanceNorm, RefusesAsPyTorchAndLeavesTheStateAlone) {
  nn::InstanceNorm2d tracked(nn::InstanceNormOptions(4).affine(true).track_running_stats(true));
  nn::NamedTensors before = tracked.state_dict();
  for (auto& entry : before) entry.second = entry.second.clone();
  auto unchanged = [&] {
    const nn::NamedTensors after = tracked.state_dict();
    ASSERT_EQ(after.size(), before.size());
    for (std::size_t i = 0; i < after.size(); ++i) {
      if (after[i].second.dtype() == DType::Int64) {
        EXPECT_EQ(after[i].second.item<int64_t>(), before[i].second.item<int64_t>()) << after[i].first;
      } else {
        EXPECT_EQ(after[i].second.to_vector(), before[i].second.to_vector()) << after[i].first;
      }
    }
  };
  // PyTorch 1.13's messages: InstanceNorm2d(4)(torch.zeros(2, 3)), InstanceNorm2d(3)(torch.zeros(2, 3, 1, 1)),
  // InstanceNorm2d(4, affine=True)(torch.zeros(2, 3, 4, 5)) (weight repeated per sample: 2 * 4 against 2 * 3),
  // InstanceNorm2d(4, track_running_stats=True)(...).
  EXPECT_TRUE(throws_with([&] { tracked.forward(zeros({2, 3})); }, "expected 3D or 4D input (got 2D input)"));
  EXPECT_TRUE(throws_with([&] { nn::InstanceNorm1d(3).forward(zeros({2, 3, 4, 5})); },
                          "expected 2D or 3D input (got 4D input)"));
  EXPECT_TRUE(throws_with([&] { nn::InstanceNorm3d(3).forward(zeros({3, 4})); },
                          "expected 4D or 5D input (got 2D input)"));
  EXPECT_TRUE(throws_with(
      [&] {
        tracked.forward(zeros({2, 4, 1, 1}));
      },
      "Expected more than 1 spatial element when training, got input size torch.Size([2, 4, 1, 1])"));
  EXPECT_TRUE(throws_with([&] { nn::InstanceNorm2d(4).forward(zeros({2, 4, 1, 1})); },
                          "Expected more than 1 spatial element when training"));
  EXPECT_TRUE(throws_with([&] { tracked.forward(zeros({2, 3, 4, 5})); }, "should contain 6 elements not 8"));
  nn::InstanceNorm2d untracked_affine(nn::InstanceNormOptions(4).affine(true));
  EXPECT_TRUE(throws_with([&] { untracked_affine.forward(zeros({2, 3, 4, 5})); },
                          "weight should contain 6 elements not 8"));
  EXPECT_TRUE(throws_with([&] { tracked.forward(zeros({2, 4}, TensorOptions().dtype(DType::Int64))); },
                          "expected 3D or 4D input"));
  EXPECT_TRUE(throws_with([&] { tracked.forward(zeros({2, 4, 3, 3}, TensorOptions().dtype(DType::Int64))); },
                          "must be float32, float16 or bfloat16"));
  unchanged();
  // Without affine and running statistics num_features is not used, as in PyTorch.
  EXPECT_EQ(nn::InstanceNorm2d(4).forward(randn({2, 3, 4, 5})).sizes(), (Shape{2, 3, 4, 5}));
  EXPECT_TRUE(throws_with([] { ops::instance_norm(zeros({2, 3, 4}), Tensor(), Tensor(), Tensor(), Tensor(), false); },
                          "Expected running_mean and running_var to be defined when use_input_stats is false"));
  // F.instance_norm's words below 2 dimensions: its spatial-size check, then torch.instance_norm's size(0), size(1).
  EXPECT_TRUE(throws_with([] { ops::instance_norm(zeros({3})); },
                          "Expected more than 1 spatial element when training, got input size torch.Size([3])"));
  EXPECT_TRUE(throws_with([] { ops::instance_norm(zeros({3}), Tensor(), Tensor(), zeros({3}), ones({3}), false); },
                          "Dimension out of range (expected to be in range of [-1, 0], but got 1)"));
  EXPECT_TRUE(throws_with([] { ops::instance_norm(zeros({}), Tensor(), Tensor(), zeros({3}), ones({3}), false); },
                          "Dimension specified as 0 but tensor has no dimensions"));
  // An empty input: running statistics of another size are refused where PyTorch's view and copy of them refuse them
  // (its BatchNorm checks nothing for an empty input); they are left as they were.
  Tensor rm = zeros({4}), rv = ones({4});
  EXPECT_TRUE(throws_with([&] { ops::instance_norm(zeros({2, 3, 0}), Tensor(), Tensor(), rm, rv); },
                          "shape '[2, 3]' is invalid for input of size 8"));
  EXPECT_TRUE(throws_with([&] { ops::instance_norm(zeros({0, 3, 4}), Tensor(), Tensor(), zeros({3}), rv); },
                          "The size of tensor a (4) must match the size of tensor b (3) at non-singleton dimension 0"));
  EXPECT_EQ(ops::instance_norm(zeros({0, 1, 4}), Tensor(), Tensor(), rm, rv).sizes(), (Shape{0, 1, 4}));
  EXPECT_EQ(rm.to_vector(), std::vector<float>(4, 0.0f));
  EXPECT_EQ(rv.to_vector(), std::vector<float>(4, 1.0f));
  EXPECT_TRUE(throws_with([] { nn::InstanceNorm1d(nn::InstanceNormOptions(0)); }, "num_features must be positive"));
  EXPECT_TRUE(throws_with([] { nn::InstanceNorm1d(nn::InstanceNormOptions(2).eps(-1)); }, "eps must be"));
  EXPECT_TRUE(throws_with([] { nn::InstanceNorm1d(nn::InstanceNormOptions(2).momentum(std::nan(""))); },
                          "momentum must be finite"));
}

TEST(InstanceNorm, ReprStateDictAndCounter) {
  std::ostringstream os;
  os << nn::InstanceNorm1d(3) << '\n'
     << nn::InstanceNorm3d(nn::InstanceNormOptions(3).eps(1e-3).momentum(0.2).affine(true).track_running_stats(true));
  // repr(nn.InstanceNorm1d(3)), repr(nn.InstanceNorm3d(3, 1e-3, 0.2, True, True)) in PyTorch 1.13:
  EXPECT_EQ(os.str(), "InstanceNorm1d(3, eps=1e-05, momentum=0.1, affine=False, track_running_stats=False)\n"
                      "InstanceNorm3d(3, eps=0.001, momentum=0.2, affine=True, track_running_stats=True)");
  nn::InstanceNorm2d plain(3), full(nn::InstanceNormOptions(3).affine(true).track_running_stats(true));
  EXPECT_TRUE(plain.state_dict().empty());
  std::vector<std::string> keys;
  for (const auto& [key, value] : full.state_dict()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}));
  full.forward(randn({2, 3, 4, 4}));
  EXPECT_EQ(full.num_batches_tracked.item<int64_t>(), 0);  // torch's InstanceNorm never counts
  EXPECT_NE(full.running_mean.to_vector(), std::vector<float>(3, 0.0f));
  full.reset_parameters();
  EXPECT_EQ(full.running_mean.to_vector(), std::vector<float>(3, 0.0f));
  EXPECT_EQ(full.running_var.to_vector(), std::vector<float>(3, 1.0f));
}

TEST(InstanceNorm, UnbatchedInputIsOneSample) {
  Generator gen(5);
  const Tensor x = randn({3, 4, 5}, gen), dy = randn({3, 4, 5}, gen);
  auto options = nn::InstanceNormOptions(3).affine(true).track_running_stats(true);
  nn::InstanceNorm2d unbatched(options), batched(options);
  for (nn::InstanceNorm2d* m : {&unbatched, &batched})
    m->weight.copy_(from_vector(std::vector<float>{0.5, 2, -1}, {3}));
  const Tensor y = unbatched.forward(x), dx = unbatched.backward(dy);
  EXPECT_EQ(y.sizes(), x.sizes());
  EXPECT_EQ(dx.sizes(), x.sizes());
  EXPECT_EQ(y.to_vector(), batched.forward(x.reshape({1, 3, 4, 5})).to_vector());
  EXPECT_EQ(dx.to_vector(), batched.backward(dy.reshape({1, 3, 4, 5})).to_vector());
  EXPECT_EQ(unbatched.weight.grad().to_vector(), batched.weight.grad().to_vector());
  EXPECT_EQ(unbatched.running_var.to_vector(), batched.running_var.to_vector());
}

TEST(InstanceNorm, EmptyInputs) {
  nn::InstanceNorm2d m(nn::InstanceNormOptions(3).affine(true).track_running_stats(true));
  m.running_mean.copy_(full({3}, 0.3f));
  // No samples: an empty output, zero parameter gradients, and the running statistics as they were (PyTorch 1.13
  // writes NaN into them, or fails with an IndexError when affine).
  EXPECT_EQ(m.forward(zeros({0, 3, 4, 4})).sizes(), (Shape{0, 3, 4, 4}));
  EXPECT_EQ(m.backward(zeros({0, 3, 4, 4})).sizes(), (Shape{0, 3, 4, 4}));
  EXPECT_EQ(m.weight.grad().to_vector(), std::vector<float>(3, 0.0f));
  EXPECT_EQ(m.running_mean.to_vector(), std::vector<float>(3, 0.3f));
  EXPECT_EQ(m.running_var.to_vector(), std::vector<float>(3, 1.0f));
  // No spatial elements: BatchNorm's empty-input rule (statistics left alone), as PyTorch (running_mean stays 0.3).
  m.zero_grad();
  EXPECT_EQ(m.forward(zeros({3, 3, 0, 4})).sizes(), (Shape{3, 3, 0, 4}));
  EXPECT_EQ(m.backward(zeros({3, 3, 0, 4})).sizes(), (Shape{3, 3, 0, 4}));
  EXPECT_EQ(m.bias.grad().to_vector(), std::vector<float>(3, 0.0f));
  EXPECT_EQ(m.running_mean.to_vector(), std::vector<float>(3, 0.3f));
}

TEST(InstanceNorm, ChannelsLastAndSixteenBitInputs) {
  Generator gen(9);
  const Tensor x = randn({2, 5, 3, 7}, gen) * 2 + 3, dy = randn({2, 5, 3, 7}, gen);
  auto options = nn::InstanceNormOptions(5).affine(true).track_running_stats(true);
  nn::InstanceNorm2d reference(options), channels_last(options);
  const Tensor y = reference.forward(x), dx = reference.backward(dy);
  // Channels-last input: the same values (PyTorch normalises a contiguous copy and returns it contiguous).
  const Tensor y_cl = channels_last.forward(x.to(MemoryFormat::ChannelsLast));
  EXPECT_TRUE(y_cl.is_contiguous());
  EXPECT_EQ(y_cl.to_vector(), y.to_vector());
  EXPECT_EQ(channels_last.backward(dy.to(MemoryFormat::ChannelsLast)).to_vector(), dx.to_vector());
  EXPECT_EQ(channels_last.running_var.to_vector(), reference.running_var.to_vector());
  // float16 / bfloat16 input with float32 parameters (PyTorch's mixed-type rule): statistics in float32, the output
  // within a few units of the format's last place of the float32 result.
  for (DType dtype : {DType::Float16, DType::BFloat16}) {
    SCOPED_TRACE(dtype_name(dtype));
    nn::InstanceNorm2d half(options);
    const Tensor xh = x.to(dtype);
    const Tensor exact = nn::InstanceNorm2d(options).forward(xh.to(DType::Float32));
    const Tensor yh = half.forward(xh);
    EXPECT_EQ(yh.dtype(), dtype);
    const double eps = dtype == DType::Float16 ? std::ldexp(1.0, -10) : std::ldexp(1.0, -7);
    EXPECT_TRUE(testing::all_close(yh.to(DType::Float32).to_vector(), testing::to_double(exact), 2 * eps, 2 * eps));
    EXPECT_EQ(half.backward(dy.to(dtype)).dtype(), dtype);
    EXPECT_EQ(half.weight.grad().dtype(), DType::Float32);
  }
}

}  // namespace
}  // namespace normrt
