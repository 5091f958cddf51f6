// Mixed precision on the CPU: the ops on float16/bfloat16 operands (computed in float32, rounded once), dtype
// promotion in arithmetic, amp::AutocastGuard, the modules under autocast (16-bit copies, float32 master weights and
// gradients, gradients converted at module boundaries), and PyTorch's bfloat16 autocast training as golden data.
#include <thread>

#include "autocast_golden_runner.h"

namespace normrt {
namespace {

using testing::throws_with;

class Autocast16 : public ::testing::TestWithParam<DType> {
 protected:
  DType h() const { return GetParam(); }
  // Random float32 values already representable in the 16-bit dtype, so widening is exact.
  Tensor values(const Shape& shape, uint64_t seed, double mean = 0.0) const {
    Generator gen(seed);
    return (randn(shape, gen) * 2.0 + mean).to(h()).to(DType::Float32);
  }
  // The 16-bit op's result must be the float32 op's on the widened operands, rounded once.
  void expect_rounded(const Tensor& actual, const Tensor& wide) const {
    ASSERT_EQ(actual.dtype(), h());
    EXPECT_EQ(actual.sizes(), wide.sizes());
    EXPECT_EQ(actual.to(DType::Float32).to_vector(), wide.to(h()).to(DType::Float32).to_vector());
  }
};

TEST_P(Autocast16, LayerOpsComputeInFloat32AndRoundOnce) {
  const Tensor x = values({6, 10}, 1, 0.5), w = values({4, 10}, 2), b = values({4}, 3), dy = values({6, 4}, 4);
  expect_rounded(ops::linear(x.to(h()), w.to(h()), b.to(h())), ops::linear(x, w, b));
  Tensor dw16, db16, dw, db;
  const Tensor dx16 = ops::linear_backward(dy.to(h()), x.to(h()), w.to(h()), &dw16, &db16);
  const Tensor dx = ops::linear_backward(dy, x, w, &dw, &db);
  expect_rounded(dx16, dx);
  expect_rounded(dw16, dw);
  expect_rounded(db16, db);
  // A float32 accumulator stays float32 and receives the float32 sum.
  Tensor acc = dw.clone();
  ops::linear_backward(dy.to(h()), x.to(h()), w.to(h()), &acc, nullptr, false);
  EXPECT_EQ(acc.dtype(), DType::Float32);
  EXPECT_EQ(acc.to_vector(), (dw + dw).to_vector());

  const Tensor dyx = values({6, 10}, 19);
  for (auto kind : {ops::Activation::ReLU, ops::Activation::Sigmoid, ops::Activation::Tanh}) {
    const Tensor y16 = ops::activation(kind, x.to(h()));
    expect_rounded(y16, ops::activation(kind, x));
    expect_rounded(ops::activation_backward(kind, dyx.to(h()), y16),
                   ops::activation_backward(kind, dyx, y16.to(DType::Float32)));
  }
  expect_rounded(ops::softmax(x.to(h()), 1, true), ops::softmax(x, 1, true));
  expect_rounded(ops::dropout(x.to(h()), 0.3, 7, 0), ops::dropout(x, 0.3, 7, 0));
  const ops::DropoutResult d = ops::dropout_with_mask(x.to(h()), 0.3, 7, 0);
  expect_rounded(d.output, ops::dropout(x, 0.3, 7, 0));
  expect_rounded(ops::dropout_backward(x.to(h()), d.mask), ops::dropout_backward(x, d.mask));
}

TEST_P(Autocast16, ConvolutionAndPoolingComputeInFloat32AndRoundOnce) {
  const Tensor x = values({2, 3, 7, 6}, 5, -1.0), w = values({4, 3, 3, 3}, 6), b = values({4}, 7);
  ops::ConvParams params;
  params.padding = {1, 1};
  const Tensor y = ops::conv(x, w, b, params);
  expect_rounded(ops::conv(x.to(h()), w.to(h()), b.to(h()), params), y);
  const Tensor dy = values(y.sizes(), 8);
  Tensor dw16, db16, dw, db;
  expect_rounded(ops::conv_backward(dy.to(h()), x.to(h()), w.to(h()), params, &dw16, &db16),
                 ops::conv_backward(dy, x, w, params, &dw, &db));
  expect_rounded(dw16, dw);
  expect_rounded(db16, db);

  ops::PoolParams pool;
  pool.kernel_size = {2, 2};
  pool.stride = {2, 2};
  const ops::MaxPoolResult m = ops::max_pool(x, 2, pool), m16 = ops::max_pool(x.to(h()), 2, pool);
  expect_rounded(m16.output, m.output);
  EXPECT_EQ(m16.indices.to_vector<int64_t>(), m.indices.to_vector<int64_t>());
  const Tensor pdy = values(m.output.sizes(), 9);
  expect_rounded(ops::max_pool_backward(pdy.to(h()), x.to(h()), m16.indices, 2, pool),
                 ops::max_pool_backward(pdy, x, m.indices, 2, pool));
  expect_rounded(ops::avg_pool(x.to(h()), 2, pool), ops::avg_pool(x, 2, pool));
  expect_rounded(ops::avg_pool_backward(pdy.to(h()), x.to(h()), 2, pool), ops::avg_pool_backward(pdy, x, 2, pool));
  expect_rounded(ops::adaptive_avg_pool(x.to(h()), 2, {1}), ops::adaptive_avg_pool(x, 2, {1}));
}

TEST_P(Autocast16, LossesTakeLowPrecisionLogitsAndComputeInFloat32) {
  const Tensor logits = values({5, 4}, 10), targets = from_vector(std::vector<int64_t>{0, 3, 1, 2, 3}, {5});
  const ops::LossResult r16 = ops::cross_entropy(logits.to(h()), targets), r = ops::cross_entropy(logits, targets);
  EXPECT_EQ(r16.loss.dtype(), DType::Float32);
  EXPECT_EQ(r16.grad_input.dtype(), DType::Float32);  // d loss / d logits.float(); the layer converts it
  EXPECT_EQ(r16.loss.item(), r.loss.item());
  EXPECT_EQ(r16.grad_input.to_vector(), r.grad_input.to_vector());
  ops::CrossEntropyOptions ignore;
  ignore.ignore_index = 3;
  EXPECT_EQ(ops::cross_entropy(logits.to(h()), targets, ignore).loss.item(),
            ops::cross_entropy(logits, targets, ignore).loss.item());
  const Tensor target = values({5, 4}, 11);
  EXPECT_EQ(ops::mse_loss(logits.to(h()), target.to(h())).loss.item(), ops::mse_loss(logits, target).loss.item());
  EXPECT_EQ(ops::count_correct(logits.to(h()), targets).item<int64_t>(),
            ops::count_correct(logits, targets).item<int64_t>());
}

TEST_P(Autocast16, ArithmeticPromotesAsPyTorch) {
  const Tensor a = values({3, 4}, 12), b = values({4}, 13);
  expect_rounded(ops::add(a.to(h()), b.to(h())), ops::add(a, b));  // one dtype: kept
  EXPECT_EQ(ops::mul(a.to(h()), b).dtype(), DType::Float32);    // with float32: float32
  EXPECT_EQ(ops::mul(a.to(h()), b).to_vector(), ops::mul(a, b).to_vector());
  expect_rounded(a.to(h()) * 3.0, a * 3.0);  // a scalar yields to the tensor's dtype
  const DType other = h() == DType::Float16 ? DType::BFloat16 : DType::Float16;
  EXPECT_EQ(ops::add(a.to(h()), b.to(other)).dtype(), DType::Float32);
  Tensor in_place = a.to(h());
  const uint64_t version = in_place.version();
  ops::add_(in_place, b);  // in place: the destination's dtype
  EXPECT_GT(in_place.version(), version);
  expect_rounded(in_place, ops::add(a, b));
}

TEST_P(Autocast16, MixedOperandsAreRefusedByName) {
  const Tensor x = values({2, 3}, 14), w = values({4, 3}, 15);
  EXPECT_TRUE(throws_with([&] { ops::linear(x.to(h()), w, Tensor()); },
                          std::string("linear: expected all floating operands to have one dtype, got ") +
                              dtype_name(h()) + " and float32"));
  EXPECT_TRUE(throws_with([&] { ops::activation_backward(ops::Activation::ReLU, x.to(h()), x); },
                          "activation_backward: expected all floating operands to have one dtype"));
  Tensor accumulator = zeros({4, 3}).to(h());
  EXPECT_TRUE(throws_with([&] { ops::linear_backward(values({2, 4}, 16), x, w, &accumulator, nullptr); },
                          std::string("linear_backward: grad_weight is ") + dtype_name(h()) +
                              ", the operands float32"));
}

TEST_P(Autocast16, GuardNestsAndIsPerThread) {
  EXPECT_FALSE(amp::autocast_dtype());
  {
    const amp::AutocastGuard outer(h());
    EXPECT_EQ(amp::autocast_dtype(), h());
    {
      const amp::AutocastGuard off(h(), false);
      EXPECT_FALSE(amp::autocast_dtype());
      EXPECT_EQ(amp::autocast_to_lower(ones({2})).dtype(), DType::Float32);
    }
    EXPECT_EQ(amp::autocast_to_lower(ones({2})).dtype(), h());
    EXPECT_EQ(amp::autocast_to_float32(ones({2}).to(h())).dtype(), DType::Float32);
    EXPECT_EQ(amp::autocast_to_lower(zeros({2}, TensorOptions().dtype(DType::Int64))).dtype(), DType::Int64);
    bool other_thread = true;
    std::thread([&] { other_thread = amp::autocast_dtype().has_value(); }).join();
    EXPECT_FALSE(other_thread);
  }
  EXPECT_FALSE(amp::autocast_dtype());
  EXPECT_TRUE(throws_with([] { amp::AutocastGuard bad(DType::Float32); },
                          "autocast: the dtype must be float16 or bfloat16, got float32"));
}

TEST_P(Autocast16, LinearKeepsFloat32MasterWeightsAndGradients) {
  Generator gen(3);
  nn::Linear layer(10, 4, true, &gen);
  const Tensor w0 = layer.weight.clone(), b0 = layer.bias.clone();
  const Tensor x = values({6, 10}, 16), dy = values({6, 4}, 17);
  Tensor y;
  {
    const amp::AutocastGuard autocast(h());
    y = layer.forward(x);
  }
  expect_rounded(y, ops::linear(x.to(h()).to(DType::Float32), w0.to(h()).to(DType::Float32),
                                b0.to(h()).to(DType::Float32)));
  EXPECT_EQ(layer.weight.dtype(), DType::Float32);
  // A float32 gradient is converted to the output's dtype; the input gradient comes back in the input's.
  const Tensor dx = layer.backward(dy);
  EXPECT_EQ(dx.dtype(), DType::Float32);
  Tensor dw16, db16;
  const Tensor dx16 = ops::linear_backward(dy.to(h()), x.to(h()), w0.to(h()), &dw16, &db16);
  EXPECT_EQ(dx.to_vector(), dx16.to(DType::Float32).to_vector());
  ASSERT_EQ(layer.weight.grad().dtype(), DType::Float32);
  EXPECT_EQ(layer.weight.grad().to_vector(), dw16.to(DType::Float32).to_vector());
  EXPECT_EQ(layer.bias.grad().to_vector(), db16.to(DType::Float32).to_vector());
  // A second call accumulates into the float32 grads.
  {
    const amp::AutocastGuard autocast(h());
    layer.forward(x);
  }
  layer.backward(dy);
  EXPECT_EQ(layer.weight.grad().to_vector(), (dw16.to(DType::Float32) * 2.0).to_vector());
  // Outside autocast the layer is float32 again.
  EXPECT_EQ(layer.forward(x).dtype(), DType::Float32);
}

TEST_P(Autocast16, Float32LayersAndBatchNormUnderAutocast) {
  const Tensor x16 = values({6, 8}, 18, 3.0).to(h());
  nn::LayerNorm norm(Shape{8});
  nn::BatchNorm1d bn(8);
  nn::Softmax softmax(1);
  const amp::AutocastGuard autocast(h());
  EXPECT_EQ(norm.forward(x16).dtype(), DType::Float32);  // a float32 op under autocast
  EXPECT_EQ(norm.backward(ones({6, 8})).dtype(), h());   // the gradient in the input's dtype
  EXPECT_EQ(softmax.forward(x16).dtype(), DType::Float32);
  const Tensor y = bn.forward(x16);  // the input's dtype, float32 statistics
  EXPECT_EQ(y.dtype(), h());
  EXPECT_EQ(bn.running_mean.dtype(), DType::Float32);
  EXPECT_EQ(bn.backward(ones({6, 8})).dtype(), h());
  EXPECT_EQ(bn.weight.grad().dtype(), DType::Float32);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, Autocast16, ::testing::Values(DType::Float16, DType::BFloat16),
                         [](const ::testing::TestParamInfo<DType>& info) {
                           return std::string(dtype_name(info.param));
                         });

class AutocastGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(AutocastGolden, TrainsAsPyTorchBFloat16Autocast) {
  testing::run_autocast_golden_case(GetParam(), Device::cpu());
}

INSTANTIATE_TEST_SUITE_P(PyTorch, AutocastGolden, ::testing::ValuesIn(testing::autocast_golden_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace normrt
