// ops::embedding, nn::Embedding and ops::index_select: against PyTorch (golden), against the PyTorch CPU kernels' own
// loops (every position in turn adding into its row: the grouped, threaded sums must give their bits), finite
// differences, and PyTorch's refusals, which leave the weight and its gradient as they were.
#include <cmath>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "embedding_golden_runner.h"
#include "embedding_math.cuh"
#include "normrt/half.h"
#include "normrt/nn/layers.h"
#include "normrt/ops/tensor_ops.h"

namespace normrt {
namespace {

using testing::throws_with;

class EmbeddingGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(EmbeddingGolden, MatchesPyTorch) { testing::run_embedding_golden_case(GetParam(), Device::cpu()); }

INSTANTIATE_TEST_SUITE_P(PyTorch, EmbeddingGolden, ::testing::ValuesIn(testing::embedding_golden_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return testing::test_name(info.param);
                         });

std::vector<int64_t> random_indices(int64_t n, int64_t rows, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> row(0, rows - 1);
  std::vector<int64_t> v(static_cast<std::size_t>(n));
  for (auto& k : v) k = rng() % 3 == 0 ? 2 : row(rng);  // row 2 is hot
  return v;
}

// PyTorch 1.13's CPU backward written out: zeros, then each position in order adds its gradient row into its
// weight row (alpha = 1 / count, as the dtype rounds it, with scaling).
template <typename T>
std::vector<float> positionwise_backward(const std::vector<float>& grad, const std::vector<int64_t>& indices,
                                         int64_t rows, int64_t columns, int64_t padding_idx, bool scale) {
  std::vector<int64_t> count(static_cast<std::size_t>(rows));
  for (const int64_t k : indices) ++count[k];
  std::vector<T> out(static_cast<std::size_t>(rows * columns), T(0.0f));
  for (std::size_t i = 0; i < indices.size(); ++i) {
    const int64_t k = indices[i];
    if (k == padding_idx) continue;
    const float alpha = embmath::gradient_scale<T>(count[k], scale);
    for (int64_t c = 0; c < columns; ++c)
      out[k * columns + c] = embmath::accumulate(out[k * columns + c], T(grad[i * columns + c]), alpha);
  }
  return std::vector<float>(out.begin(), out.end());
}

TEST(Embedding, BackwardGivesTheBitsOfAddingPositionByPosition) {
  const int64_t rows = 37, columns = 33, n = 5000;  // threads split the rows; row 2 takes a third of the positions
  const std::vector<int64_t> idx = random_indices(n, rows, 3);
  Generator gen(8);
  const Tensor dy = randn({n, columns}, gen);
  const std::vector<float> g = dy.to_vector();
  const Tensor indices = from_vector(idx, {n});
  for (const bool scale : {false, true})
    for (const int64_t padding : {int64_t{-1}, int64_t{2}}) {
      SCOPED_TRACE(std::string(scale ? "scaled" : "unscaled") + " padding " + std::to_string(padding));
      const std::optional<int64_t> padding_idx = padding < 0 ? std::nullopt : std::optional<int64_t>(padding);
      EXPECT_EQ(ops::embedding_backward(dy, indices, rows, padding_idx, scale).to_vector(),
                positionwise_backward<float>(g, idx, rows, columns, padding, scale));
      const std::vector<float> h = dy.to(DType::Float16).to(DType::Float32).to_vector();
      EXPECT_EQ(ops::embedding_backward(dy.to(DType::Float16), indices, rows, padding_idx, scale)
                    .to(DType::Float32)
                    .to_vector(),
                positionwise_backward<Half>(h, idx, rows, columns, padding, scale));
      const std::vector<float> b = dy.to(DType::BFloat16).to(DType::Float32).to_vector();
      EXPECT_EQ(ops::embedding_backward(dy.to(DType::BFloat16), indices, rows, padding_idx, scale)
                    .to(DType::Float32)
                    .to_vector(),
                positionwise_backward<BFloat16>(b, idx, rows, columns, padding, scale));
    }
}

// L(w) = sum dy * embedding(w, indices), in double: its central differences are the gradient backward gives.
TEST(Embedding, GradientIsTheFiniteDifferenceOfTheLookup) {
  const int64_t rows = 6, columns = 4;
  const std::vector<int64_t> idx{3, 0, 3, 5, 3, 1, 0};
  Generator gen(4);
  const Tensor weight = randn({rows, columns}, gen), dy = randn({7, columns}, gen);
  const std::vector<float> g = dy.to_vector();
  std::vector<double> w;
  for (const float v : weight.to_vector()) w.push_back(v);
  const auto loss = [&] {
    double l = 0;
    for (std::size_t i = 0; i < idx.size(); ++i)
      for (int64_t c = 0; c < columns; ++c) l += g[i * columns + c] * w[idx[i] * columns + c];
    return l;
  };
  const std::vector<float> analytic = ops::embedding_backward(dy, from_vector(idx, {7}), rows).to_vector();
  const double h = 1e-3;
  for (std::size_t e = 0; e < w.size(); ++e) {
    const double keep = w[e];
    w[e] = keep + h;
    const double up = loss();
    w[e] = keep - h;
    const double down = loss();
    w[e] = keep;
    EXPECT_NEAR(analytic[e], (up - down) / (2 * h), 1e-5) << e;
  }
}

TEST(Embedding, LooksUpAnyShapeAndDtype) {
  const Tensor weight = from_vector(std::vector<float>{0, 1, 2, 3, 4, 5}, {3, 2});
  const Tensor y = ops::embedding(weight, from_vector(std::vector<int64_t>{2, 0, 2, 1}, {2, 1, 2}));
  EXPECT_EQ(y.sizes(), Shape({2, 1, 2, 2}));
  EXPECT_EQ(y.to_vector(), std::vector<float>({4, 5, 0, 1, 4, 5, 2, 3}));
  const Tensor table = from_vector(std::vector<int64_t>{10, 11, 12, 13}, {2, 2});
  EXPECT_EQ(ops::embedding(table, from_vector(std::vector<int64_t>{1}, {})).to_vector<int64_t>(),
            std::vector<int64_t>({12, 13}));
  EXPECT_EQ(ops::embedding(weight.to(DType::BFloat16), from_vector(std::vector<int64_t>{1}, {1})).dtype(),
            DType::BFloat16);
  EXPECT_EQ(ops::embedding(zeros({3, 0}), from_vector(std::vector<int64_t>{1, 2}, {2})).sizes(), Shape({2, 0}));
}

TEST(Embedding, RefusesAsPyTorchAndLeavesStateAlone) {
  Tensor weight = from_vector(std::vector<float>{3, 4, 1, 0, 6, 8}, {3, 2});
  const std::vector<float> before = weight.to_vector();
  const Tensor good = from_vector(std::vector<int64_t>{0, 2}, {2});
  EXPECT_TRUE(throws_with(
      [&] {
        ops::embedding(weight, from_vector(std::vector<int64_t>{0, 3}, {2}));
      },
      "index out of range in self"));
  EXPECT_TRUE(throws_with([&] { ops::embedding(weight, from_vector(std::vector<int64_t>{-1}, {1})); },
                          "index out of range in self"));
  EXPECT_TRUE(throws_with([&] { ops::embedding(weight, from_vector(std::vector<float>{1}, {1})); },
                          "Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, "
                          "Int; but got torch.FloatTensor instead (while checking arguments for embedding)"));
  EXPECT_TRUE(throws_with([&] { ops::embedding(weight, from_vector(std::vector<float>{1}, {1}).to(DType::BFloat16)); },
                          "but got CPUBFloat16Type instead"));
  EXPECT_TRUE(throws_with([&] { ops::embedding(zeros({2, 2, 2}), good); }, "'weight' must be 2-D"));
  EXPECT_TRUE(throws_with([&] { ops::embedding_backward(ones({2, 3}), good, 1); }, "index out of range in self"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::embedding_backward(ones({3, 2}), good, 3);
      },
      "grad_output of shape [3, 2] is not the indices' shape [2]"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::embedding_backward(ones({2, 2}), good, 3, 3);
      },
      "Padding_idx must be within num_embeddings"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::embedding_backward(ones({2, 2}).to(DType::Int64), good, 3);
      },
      "grad_output must be float32, float16 or bfloat16"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::embedding_renorm_(weight, from_vector(std::vector<int64_t>{0, 5}, {2}), 1.0);
      },
      "select(): index 5 out of range for tensor of size [3, 2] at dimension 0"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::embedding_renorm_(weight, from_vector(std::vector<int64_t>{0, -1}, {2}), 1.0);
      },
      "index out of range in self"));
  Tensor cube = zeros({2, 2, 2});
  EXPECT_TRUE(throws_with([&] { ops::embedding_renorm_(cube, good, 1.0); },
                          "Expected 2-dimensional tensor, but got 3-dimensional tensor for argument #1 'self' (while "
                          "checking arguments for embedding_renorm_)"));
  EXPECT_EQ(weight.to_vector(), before);

  nn::Embedding module(nn::EmbeddingOptions(3, 2).max_norm(1.0));
  module.weight.copy_(weight);
  const uint64_t version = module.weight.version();
  EXPECT_TRUE(throws_with(
      [&] {
        module.forward(from_vector(std::vector<int64_t>{1, 3}, {2}));
      },
      "select(): index 3 out of range"));
  EXPECT_EQ(module.weight.to_vector(), before);
  EXPECT_EQ(module.weight.version(), version);
  module.forward(good);
  EXPECT_TRUE(throws_with([&] { module.backward(ones({3, 2})); }, "is not the indices' shape"));
  EXPECT_FALSE(module.weight.grad().defined());
  EXPECT_TRUE(throws_with([&] { nn::Embedding(nn::EmbeddingOptions(3, 2).padding_idx(3)); },
                          "Padding_idx must be within num_embeddings"));
  EXPECT_TRUE(throws_with([&] { nn::Embedding(nn::EmbeddingOptions(3, 2).padding_idx(-4)); },
                          "Padding_idx must be within num_embeddings"));
  EXPECT_TRUE(throws_with([&] { nn::Embedding(nn::EmbeddingOptions(3, 2).sparse(true)); }, "no sparse tensors"));
  EXPECT_TRUE(throws_with(
      [&] {
        nn::Embedding(nn::EmbeddingOptions(3, 2)._weight(zeros({2, 2})));
      },
      "Shape of weight does not match num_embeddings and embedding_dim"));
  EXPECT_TRUE(
      throws_with([&] { nn::Embedding(-1, 3); }, "Trying to create tensor with negative dimension -1: [-1, 3]"));
  EXPECT_TRUE(throws_with([&] { nn::Embedding::from_pretrained(zeros({4})); },
                          "Embeddings parameter is expected to be 2-dimensional"));
}

// A frozen table's gradient stays undefined (an optimizer skips it); a trained one accumulates over calls; in a
// Sequential the embedding leads and nothing flows back past it.
TEST(Embedding, ModuleAccumulatesUnlessFrozenAndLeadsASequential) {
  Generator gen(2);
  const Tensor table = randn({5, 3}, gen);
  nn::Embedding frozen = nn::Embedding::from_pretrained(table);
  EXPECT_TRUE(frozen.frozen());
  const Tensor idx = from_vector(std::vector<int64_t>{4, 1, 4}, {3});
  EXPECT_EQ(frozen.forward(idx).to_vector(), ops::embedding(table, idx).to_vector());
  EXPECT_FALSE(frozen.backward(ones({3, 3})).defined());
  EXPECT_FALSE(frozen.weight.grad().defined());

  nn::Embedding trained(5, 3, &gen);
  trained.forward(idx);
  trained.backward(ones({3, 3}));
  trained.forward(idx);
  trained.backward(ones({3, 3}));
  const std::vector<float> grad = trained.weight.grad().to_vector();
  EXPECT_EQ(grad[4 * 3], 4.0f);
  EXPECT_EQ(grad[1 * 3], 2.0f);
  EXPECT_EQ(grad[0], 0.0f);

  nn::Sequential net(nn::Embedding(10, 4, &gen), nn::Linear(4, 2, true, &gen));
  const Tensor y = net.forward(from_vector(std::vector<int64_t>{3, 9}, {2}));
  EXPECT_EQ(y.sizes(), Shape({2, 2}));
  EXPECT_FALSE(net.backward(ones({2, 2})).defined());
  EXPECT_TRUE(net.at<nn::Embedding>(0).weight.grad().defined());
}

TEST(IndexSelect, RefusesAsPyTorch) {
  const Tensor x = zeros({2, 3, 4});
  const auto index = [](std::vector<int64_t> v) { return from_vector(v, {static_cast<int64_t>(v.size())}); };
  EXPECT_TRUE(throws_with([&] { ops::index_select(x, 1, from_vector(std::vector<int64_t>{0}, {1, 1})); },
                          "index_select(): Index is supposed to be a vector"));
  EXPECT_TRUE(throws_with([&] { ops::index_select(x, 1, from_vector(std::vector<float>{0}, {1})); },
                          "index_select(): Expected dtype int32 or int64 for index"));
  EXPECT_TRUE(throws_with([&] { ops::index_select(x, 3, index({0})); },
                          "Dimension out of range (expected to be in range of [-3, 2], but got 3)"));
  EXPECT_TRUE(throws_with([&] { ops::index_select(x, 1, index({0, 5, -9})); },
                          "INDICES element is out of DATA bounds, id=5 axis_dim=3"));
  EXPECT_TRUE(throws_with([&] { ops::index_select(x, -2, index({-1})); },
                          "INDICES element is out of DATA bounds, id=-1 axis_dim=3"));
  EXPECT_TRUE(throws_with([&] { ops::index_select(x, 0, index({2})); }, "index out of range in self"));
  EXPECT_TRUE(throws_with([&] { ops::index_select(x, 2, index({4})); }, "index out of range in self"));
  EXPECT_TRUE(throws_with([&] { ops::index_select(zeros({2, 0, 3}), 1, index({5})); },
                          "index_select(): self indexing axis dim should be positive"));
  EXPECT_EQ(ops::index_select(zeros({2, 0, 3}), 1, index({})).sizes(), Shape({2, 0, 3}));
  const Tensor scalar = from_vector(std::vector<float>{5}, {});
  EXPECT_TRUE(throws_with([&] { ops::index_select(scalar, 0, index({0, 1})); }, "index out of range in self"));
  const Tensor picked = ops::index_select(scalar, 0, index({0, 0}));  // PyTorch 1.13: the scalar itself
  EXPECT_EQ(picked.sizes(), Shape({}));
  EXPECT_EQ(picked.to_vector(), std::vector<float>({5}));
  EXPECT_TRUE(throws_with([&] { ops::index_select_backward(ones({2, 2, 4}), {2, 3, 4}, 1, index({0})); },
                          "grad_output of shape [2, 2, 4] is not the selection's shape [2, 1, 4]"));
}

// index_select_backward against PyTorch's CPU index_add_ written out: each index in turn adds its gradient slice into
// the slice it picked (in the gradient's dtype); many positions, a hot index, threads over the slices.
template <typename T>
std::vector<float> index_added(const std::vector<float>& dy, const std::vector<int64_t>& idx, int64_t outer,
                               int64_t size, int64_t inner) {
  const auto n = static_cast<int64_t>(idx.size());
  std::vector<T> dx(static_cast<std::size_t>(outer * size * inner), T(0.0f));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t c = 0; c < inner; ++c) {
        T& sum = dx[(o * size + idx[i]) * inner + c];
        sum = T(static_cast<float>(sum) + static_cast<float>(T(dy[(o * n + i) * inner + c])));
      }
  return std::vector<float>(dx.begin(), dx.end());
}

TEST(IndexSelect, BackwardAddsInIndexOrderAsIndexAdd) {
  const int64_t outer = 3, size = 40, inner = 7, n = 2000;
  const std::vector<int64_t> idx = random_indices(n, size, 9);
  Generator gen(5);
  const Tensor dy = randn({outer, n, inner}, gen), index = from_vector(idx, {n});
  const std::vector<float> g = dy.to_vector();
  EXPECT_EQ(ops::index_select_backward(dy, {outer, size, inner}, 1, index).to_vector(),
            index_added<float>(g, idx, outer, size, inner));
  EXPECT_EQ(ops::index_select_backward(dy.to(DType::BFloat16), {outer, size, inner}, -2, index)
                .to(DType::Float32)
                .to_vector(),
            index_added<BFloat16>(g, idx, outer, size, inner));
  const Tensor x = randn({outer, size, inner}, gen);
  const std::vector<float> xv = x.to_vector(), y = ops::index_select(x, 1, index).to_vector();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < inner; ++c)
        ASSERT_EQ(y[(o * n + i) * inner + c], xv[(o * size + idx[i]) * inner + c]) << o << " " << i << " " << c;
}

// embedding_bag's outputs are linear in the weight (and, for Sum, in the per-sample weights), a max picking one
// element of it: each gradient is its output's adjoint, <dy, bag(W)> = <dW, W> and <dy, bag(W, s)> = <ds, s>, over
// bags with repeats, padding, an empty bag and many bags cut over the threads.
TEST(EmbeddingBag, GradientsAreTheOutputsAdjoints) {
  Generator gen(67);
  const int64_t rows = 13, columns = 33;  // 4000 x 33 elements: the CPU's bags over the threads
  const Tensor weight = randn({rows, columns}, gen), input = randint(0, rows, {4000}, gen);
  std::vector<int64_t> starts = {0, 3, 3};
  for (int64_t s = 10; s < 4000; s += 9) starts.push_back(s);
  const Tensor offsets = from_vector(starts, {static_cast<int64_t>(starts.size())});
  const Tensor scales = randn({4000}, gen);
  const auto dot = [](const Tensor& a, const Tensor& b) {
    const std::vector<float> x = a.to_vector(), y = b.to_vector();
    double s = 0.0;
    for (std::size_t i = 0; i < x.size(); ++i) s += static_cast<double>(x[i]) * y[i];
    return s;
  };
  for (const auto mode : {ops::EmbeddingBagMode::Sum, ops::EmbeddingBagMode::Mean, ops::EmbeddingBagMode::Max})
    for (const std::optional<int64_t> padding : {std::optional<int64_t>(), std::optional<int64_t>(4)}) {
      const bool weighted = mode == ops::EmbeddingBagMode::Sum;
      const Tensor s = weighted ? scales : Tensor();
      const ops::EmbeddingBagResult r = ops::embedding_bag(weight, input, offsets, mode, s, false, padding);
      const Tensor dy = randn(r.output.sizes(), gen);
      const double forward = dot(dy, r.output);
      const Tensor dweight = ops::embedding_bag_backward(dy, input, r, rows, mode, s, false, padding);
      EXPECT_NEAR(dot(dweight, weight), forward, 1e-4 * (1.0 + std::fabs(forward))) << static_cast<int>(mode);
      if (!weighted) continue;
      const Tensor dscales = ops::embedding_bag_per_sample_weights_backward(dy, weight, input, r, padding);
      EXPECT_NEAR(dot(dscales, scales), forward, 1e-4 * (1.0 + std::fabs(forward)));
    }
}

// bfloat16 (which PyTorch 1.13's CPU refuses) sums and maxima in float as float16's: the float32 bag of the widened
// rows, rounded once.
TEST(EmbeddingBag, Bfloat16RoundsTheFloatBagOnce) {
  Generator gen(68);
  const Tensor weight = randn({9, 33}, gen).to(DType::BFloat16), input = randint(0, 9, {40}, gen);
  const Tensor offsets = from_vector(std::vector<int64_t>{0, 7, 7, 30}, {4});
  for (const auto mode : {ops::EmbeddingBagMode::Sum, ops::EmbeddingBagMode::Max}) {
    const Tensor got = ops::embedding_bag(weight, input, offsets, mode).output;
    const Tensor want = ops::embedding_bag(weight.to(DType::Float32), input, offsets, mode).output.to(DType::BFloat16);
    EXPECT_EQ(got.dtype(), DType::BFloat16);
    EXPECT_EQ(got.to(DType::Float32).to_vector(), want.to(DType::Float32).to_vector()) << static_cast<int>(mode);
  }
}

// PyTorch 1.13's words (printed by torch for the same calls); normrt's own where PyTorch has none (decreasing offsets:
// its caffe2 kernel's internal check).
TEST(EmbeddingBag, RefusesAsPyTorch) {
  const Tensor w = ones({4, 3});
  const auto longs = [](std::vector<int64_t> v) { return from_vector(v, {static_cast<int64_t>(v.size())}); };
  const Tensor i = longs({0, 2, 1, 3, 3}), o = longs({0, 2, 2});
  const auto refused = [&](auto call, const std::string& message) {
    EXPECT_TRUE(throws_with(call, message)) << message;
  };
  using ops::EmbeddingBagMode;
  refused(
      [&] {
        ops::embedding_bag(w, i.reshape({1, 1, 5}), Tensor());
      },
      "input has to be 1D or 2D Tensor, but got Tensor of dimension 3");
  refused(
      [&] {
        ops::embedding_bag(w, i.reshape({1, 5}), o);
      },
      "if input is 2D, then offsets has to be None, as input is treated is a mini-batch of fixed length sequences");
  refused([&] { ops::embedding_bag(w, i); }, "offsets has to be a 1D Tensor but got None");
  refused([&] { ops::embedding_bag(w, i, o.reshape({3, 1})); }, "offsets has to be a 1D Tensor");
  refused([&] { ops::embedding_bag(w, i, o, EmbeddingBagMode::Mean, ones({5})); },
          "embedding_bag: per_sample_weights was not None. per_sample_weights is only supported for mode='sum' (got "
          "mode='mean'). Please open a feature request on GitHub.");
  refused(
      [&] { ops::embedding_bag(w, i, o, EmbeddingBagMode::Sum, ones({4})); },
      "embedding_bag: If per_sample_weights ([4]) is not None, then it must have the same shape as the input ([5])");
  refused([&] { ops::embedding_bag(w, i, o, EmbeddingBagMode::Sum, ones({5}).to(DType::Float16)); },
          "Expected tensor for argument #1 'weight' to have the same type as tensor for argument #1 "
          "'per_sample_weights'; but type torch.FloatTensor does not equal torch.HalfTensor (while checking arguments "
          "for embedding_bag)");
  refused([&] { ops::embedding_bag(w, i.to(DType::Float32), o); },
          "Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int; but got "
          "torch.FloatTensor instead (while checking arguments for embedding_bag)");
  refused([&] { ops::embedding_bag(w.to(DType::Int64), i, o, EmbeddingBagMode::Sum); },
          "Expected tensor for argument #1 'weight' to have one of the following scalar types: Half, Float, Double; "
          "but got torch.LongTensor instead (while checking arguments for embedding_bag)");
  refused([&] { ops::embedding_bag(ones({12}), i, o); },
          "Dimension out of range (expected to be in range of [-1, 0], but got 1)");
  refused(
      [&] {
        ops::embedding_bag(w, i, longs({1, 2}));
      },
      "offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start from position 0. However, "
      "got 1");
  refused(
      [&] {
        ops::embedding_bag(w, i, longs({0, 7}));
      },
      "offsets[-1] can not be greater than input's length 5 but got offsets[-1] of 7");
  refused(
      [&] {
        ops::embedding_bag(w, i, longs({0, 3, 2}));
      },
      "embedding_bag: offsets must be non-decreasing, but offsets[2] = 2 follows offsets[1] = 3");
  for (const auto mode : {EmbeddingBagMode::Sum, EmbeddingBagMode::Mean, EmbeddingBagMode::Max})
    refused(
        [&] {
          ops::embedding_bag(w, longs({0, 9}), longs({0}), mode);
        },
        "embedding_bag: Expected idx >= 0 && idx < num_embeddings but found idx to be 9");
  refused(
      [&] {
        ops::embedding_bag(w, longs({0, -1}), longs({0}), EmbeddingBagMode::Max);
      },
      "embedding_bag: Expected idx >= 0 && idx < num_embeddings but found idx to be -1");
  refused([&] { ops::embedding_bag(w, i, o, EmbeddingBagMode::Sum, Tensor(), false, 4); },
          "padding_idx must be within the number of embeddings, -4 through 3, but got 4");
  refused([&] { nn::EmbeddingBag(nn::EmbeddingBagOptions(4, 3).padding_idx(5)); },
          "padding_idx must be within num_embeddings");
  refused([&] { nn::EmbeddingBag(nn::EmbeddingBagOptions(4, 3).sparse(true)); }, "normrt has no sparse tensors");
  const std::string no_scaled_max = "max mode does not support scaling the gradient by the frequency";
  refused(
      [&] {
        const ops::EmbeddingBagResult r = ops::embedding_bag(w, i, o, EmbeddingBagMode::Max);
        ops::embedding_bag_backward(ones({3, 3}), i, r, 4, EmbeddingBagMode::Max, Tensor(), true);
      },
      no_scaled_max);
  const ops::EmbeddingBagResult sums = ops::embedding_bag(w, i, o, EmbeddingBagMode::Sum);
  refused([&] { ops::embedding_bag_backward(ones({2, 3}), i, sums, 4, EmbeddingBagMode::Sum); },
          "embedding_bag_backward: grad of shape [2, 3] does not have a row for each of the 3 bags");
  refused([&] { ops::embedding_bag_backward(ones({3, 3}), longs({0, 1}), sums, 4, EmbeddingBagMode::Sum); },
          "embedding_bag_backward: the input has 2 positions, the forward's had 5");
  // A table of no rows has only empty bags, whose maxima route nowhere.
  const ops::EmbeddingBagResult empty_max = ops::embedding_bag(zeros({0, 3}), longs({}), longs({0, 0}),
                                                               EmbeddingBagMode::Max);
  EXPECT_EQ(ops::embedding_bag_backward(ones({2, 3}), longs({}), empty_max, 0, EmbeddingBagMode::Max).sizes(),
            Shape({0, 3}));
  nn::EmbeddingBag scaled_max(nn::EmbeddingBagOptions(4, 3).mode(EmbeddingBagMode::Max).scale_grad_by_freq(true));
  refused([&] { scaled_max.forward(i, o); }, no_scaled_max);
  // Indices past the last bag (include_last_offset) are not looked at; an empty offsets tensor makes no bags.
  EXPECT_EQ(
      ops::embedding_bag(w, longs({0, 1, 9}), longs({0, 2}), EmbeddingBagMode::Sum, Tensor(), true).output.to_vector(),
      std::vector<float>({2, 2, 2}));
  EXPECT_EQ(ops::embedding_bag(w, i, longs({})).output.sizes(), Shape({0, 3}));
  EXPECT_EQ(ops::embedding_bag(w, zeros({2, 0}, TensorOptions().dtype(DType::Int64)), Tensor()).output.to_vector(),
            std::vector<float>(6, 0.0f));
}

// The module: offsets and per-sample weights reach the op, the gradient accumulates unless frozen, and
// per_sample_weights' gradient is kept.
TEST(EmbeddingBag, ModuleAccumulatesUnlessFrozenAndKeepsThePerSampleWeightsGradient) {
  Generator gen(69);
  nn::EmbeddingBag bag(nn::EmbeddingBagOptions(6, 4).mode(ops::EmbeddingBagMode::Sum), &gen);
  EXPECT_EQ(bag.parameters().size(), 1u);
  const Tensor input = from_vector(std::vector<int64_t>{1, 5, 5, 0}, {4});
  const Tensor offsets = from_vector(std::vector<int64_t>{0, 1}, {2}), scales = randn({4}, gen);
  const Tensor y = bag.forward(input, offsets, scales);
  const ops::EmbeddingBagResult r = ops::embedding_bag(bag.weight, input, offsets, ops::EmbeddingBagMode::Sum, scales);
  EXPECT_EQ(y.to_vector(), r.output.to_vector());
  const Tensor dy = randn({2, 4}, gen);
  bag.backward(dy);
  const Tensor once = bag.weight.grad().clone();
  EXPECT_EQ(once.to_vector(),
            ops::embedding_bag_backward(dy, input, r, 6, ops::EmbeddingBagMode::Sum, scales).to_vector());
  EXPECT_EQ(bag.per_sample_weights_grad().to_vector(),
            ops::embedding_bag_per_sample_weights_backward(dy, bag.weight, input, r).to_vector());
  bag.forward(input, offsets, scales);
  bag.backward(dy);
  EXPECT_EQ(bag.weight.grad().to_vector(), ops::add(once, once).to_vector());
  bag.forward(input.reshape({2, 2}));  // 2-D: no offsets; no per-sample weights, so none of their gradient
  bag.backward(dy);
  EXPECT_FALSE(bag.per_sample_weights_grad().defined());
  nn::EmbeddingBag frozen = nn::EmbeddingBag::from_pretrained(bag.weight.clone());
  frozen.forward(input, offsets);
  frozen.backward(dy);
  EXPECT_FALSE(frozen.weight.grad().defined());
}

}  // namespace
}  // namespace normrt
