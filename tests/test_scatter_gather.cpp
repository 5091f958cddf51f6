// ops::gather and the scatters: against PyTorch (golden), against a loop over the index positions written out here
// (coordinates unravelled, each position applied in turn: the threaded line blocks must give its bits), gather's
// backward as its adjoint, and PyTorch's refusals, which leave self as it was.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "normrt/half.h"
#include "scatter_gather_golden_runner.h"

namespace normrt {
namespace {

using testing::throws_with;

class ScatterGatherGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(ScatterGatherGolden, MatchesPyTorch) { testing::run_scatter_gather_golden_case(GetParam(), Device::cpu()); }

INSTANTIATE_TEST_SUITE_P(PyTorch, ScatterGatherGolden,
                         ::testing::ValuesIn(testing::scatter_gather_golden_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return testing::test_name(info.param);
                         });

// Row-major offset of `coordinates` in `sizes`.
int64_t ravel(const std::vector<int64_t>& coordinates, const Shape& sizes) {
  int64_t offset = 0;
  for (std::size_t d = 0; d < sizes.size(); ++d) offset = offset * sizes[d] + coordinates[d];
  return offset;
}

// The coordinates of every position of `shape`, in row-major order.
std::vector<std::vector<int64_t>> positions(const Shape& shape) {
  std::vector<std::vector<int64_t>> all;
  std::vector<int64_t> c(shape.size(), 0);
  int64_t n = 1;
  for (const int64_t s : shape) n *= s;
  for (int64_t p = 0; p < n; ++p) {
    all.push_back(c);
    for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0 && ++c[d] == shape[d]; --d) c[d] = 0;
  }
  return all;
}

struct Draw {
  Shape self, index, src;
  int64_t dim;
  std::vector<int64_t> indices;
};

// Index sizes at most self's (any along dim), src at least the index's; values in [0, self's size along dim).
Draw draw(std::mt19937& rng, int rank, int64_t hot_size) {
  Draw d;
  d.dim = static_cast<int64_t>(rng() % rank);
  for (int k = 0; k < rank; ++k) {
    const int64_t size = 1 + rng() % 5;
    d.self.push_back(k == d.dim ? hot_size : size);
    d.index.push_back(k == d.dim ? 1 + rng() % 9 : 1 + rng() % size);
    d.src.push_back(d.index.back() + rng() % 2);
  }
  int64_t n = 1;
  for (const int64_t s : d.index) n *= s;
  for (int64_t p = 0; p < n; ++p) d.indices.push_back(static_cast<int64_t>(rng() % hot_size));
  return d;
}

// What the loop below applies at each position.
enum class Op { Assign, Add, Prod, Mean, Amax, Amin };

// PyTorch 1.13's CPU scatter / scatter_add / scatter_reduce written out (TensorAdvancedIndexing.cpp and
// ScatterGatherKernel.cpp): without include_self the elements scattered to are set to the reduction's identity first;
// then each position in index order does `self op= src` in T (float16 and bfloat16 through float), amax
// `isnan(src) ? src : std::max(self, src)`, amin likewise with std::min; a mean then divides the sum by a count in T
// (ones, or zeros without include_self, plus one per position) where the count is not zero, rounding down for int64.
template <typename T>
std::vector<T> scatter_by_position(std::vector<T> self, const Draw& d, const std::vector<T>& src, Op op,
                                   bool include_self = true) {
  constexpr bool kWhole = std::is_same_v<T, int64_t>;
  const auto as_float = [](T v) { return static_cast<float>(v); };
  const auto all = positions(d.index);
  std::vector<T> count(self.size(), T(include_self ? 1 : 0));
  const auto target_of = [&](std::size_t p) {
    std::vector<int64_t> target = all[p];
    target[d.dim] = d.indices[p];
    return ravel(target, d.self);
  };
  if (!include_self) {
    const float infinity = std::numeric_limits<float>::infinity();
    T identity = T(op == Op::Prod ? 1 : 0);
    if (op == Op::Amax) identity = kWhole ? T(std::numeric_limits<int64_t>::min()) : T(-infinity);
    if (op == Op::Amin) identity = kWhole ? T(std::numeric_limits<int64_t>::max()) : T(infinity);
    for (std::size_t p = 0; p < all.size(); ++p) self[target_of(p)] = identity;
  }
  for (std::size_t p = 0; p < all.size(); ++p) {
    T& element = self[target_of(p)];
    const T value = src[ravel(all[p], d.src)];
    if constexpr (kWhole) {
      const auto a = static_cast<uint64_t>(element), b = static_cast<uint64_t>(value);
      if (op == Op::Assign) element = value;
      if (op == Op::Add || op == Op::Mean) element = static_cast<int64_t>(a + b);
      if (op == Op::Prod) element = static_cast<int64_t>(a * b);
      if (op == Op::Amax) element = std::max(element, value);
      if (op == Op::Amin) element = std::min(element, value);
    } else {
      const bool nan = std::isnan(as_float(value));
      if (op == Op::Assign) element = value;
      if (op == Op::Add || op == Op::Mean) element = T(as_float(element) + as_float(value));
      if (op == Op::Prod) element = T(as_float(element) * as_float(value));
      if (op == Op::Amax) element = nan || as_float(element) < as_float(value) ? value : element;
      if (op == Op::Amin) element = nan || as_float(value) < as_float(element) ? value : element;
    }
    if constexpr (kWhole)
      ++count[target_of(p)];
    else
      count[target_of(p)] = T(as_float(count[target_of(p)]) + 1.0f);
  }
  for (std::size_t e = 0; e < self.size() && op == Op::Mean; ++e) {
    if (as_float(count[e]) == 0.0f) continue;
    if constexpr (kWhole)
      self[e] = static_cast<int64_t>(std::floor(static_cast<long double>(self[e]) / count[e]));
    else
      self[e] = T(as_float(self[e]) / as_float(count[e]));
  }
  return self;
}

template <typename T>
std::vector<T> random_values(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(1.0f, 1.0f);
  std::vector<T> v(static_cast<std::size_t>(n));
  for (auto& e : v) {
    if constexpr (std::is_same_v<T, int64_t>)
      e = static_cast<int64_t>(rng()) << 31;  // sums overflow and wrap
    else
      e = T(normal(rng));
  }
  return v;
}

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (const int64_t e : s) n *= e;
  return n;
}

template <typename T>
void check_draw(const Draw& d, std::mt19937& rng) {
  std::vector<T> self = random_values<T>(numel(d.self), rng), src = random_values<T>(numel(d.src), rng);
  if constexpr (!std::is_same_v<T, int64_t>) {  // zeros of both signs and NaNs for amax and amin to order
    const float specials[] = {0.0f, -0.0f, NAN, -NAN};
    for (std::size_t i = 0; i < src.size(); i += 5) src[i] = T(specials[rng() % 4]);
    for (std::size_t i = 1; i < self.size(); i += 7) self[i] = T(specials[rng() % 4]);
  }
  const Tensor self_t = from_vector(self, d.self), src_t = from_vector(src, d.src);
  const Tensor index = from_vector(d.indices, d.index);
  // Bit for bit, but any NaN for a NaN: which operand's NaN an addition returns is the compiler's choice.
  const auto expect_bits = [&](const Tensor& got, const std::vector<T>& want, const std::string& what) {
    const std::vector<T> values = got.to_vector<T>();
    for (std::size_t e = 0; e < want.size(); ++e) {
      bool both_nan = false;
      if constexpr (!std::is_same_v<T, int64_t>)
        both_nan = std::isnan(static_cast<float>(values[e])) && std::isnan(static_cast<float>(want[e]));
      ASSERT_TRUE(both_nan || std::memcmp(&values[e], &want[e], sizeof(T)) == 0)
          << what << " " << shape_str(d.self) << " dim " << d.dim << " at " << e;
    }
  };
  expect_bits(ops::scatter(self_t, d.dim, index, src_t), scatter_by_position(self, d, src, Op::Assign), "scatter");
  expect_bits(ops::scatter_add(self_t, d.dim, index, src_t), scatter_by_position(self, d, src, Op::Add),
              "scatter_add");
  expect_bits(ops::scatter(self_t, d.dim, index, src_t, "multiply"), scatter_by_position(self, d, src, Op::Prod),
              "scatter multiply");
  const std::pair<const char*, Op> reductions[] = {
      {"sum", Op::Add}, {"prod", Op::Prod}, {"mean", Op::Mean}, {"amax", Op::Amax}, {"amin", Op::Amin}};
  for (const auto& [name, op] : reductions)
    for (const bool include_self : {true, false})
      expect_bits(ops::scatter_reduce(self_t, d.dim, index, src_t, name, include_self),
                  scatter_by_position(self, d, src, op, include_self),
                  std::string("scatter_reduce ") + name + (include_self ? "" : " excluding self"));
  // gather from self at the positions: element p is self at p's coordinates with the index along dim.
  const std::vector<T> gathered = ops::gather(self_t, d.dim, index).to_vector<T>();
  const auto all = positions(d.index);
  for (std::size_t p = 0; p < all.size(); ++p) {
    std::vector<int64_t> at = all[p];
    at[d.dim] = d.indices[p];
    ASSERT_EQ(std::memcmp(&gathered[p], &self[ravel(at, d.self)], sizeof(T)), 0) << "gather at " << p;
  }
}

TEST(ScatterGather, GiveTheBitsOfAPositionByPositionLoopInEveryDtype) {
  std::mt19937 rng(64);
  for (int trial = 0; trial < 60; ++trial) {
    const Draw d = draw(rng, 1 + trial % 5, 1 + trial % 4);  // small sizes along dim: many repeats
    check_draw<float>(d, rng);
    check_draw<Half>(d, rng);
    check_draw<BFloat16>(d, rng);
    check_draw<int64_t>(d, rng);
  }
}

TEST(ScatterGather, ThreadedLineBlocksKeepIndexOrder) {
  std::mt19937 rng(65);
  // Over 2^16 positions (the threads share the lines), repeats along dim: whole lines along the last dimension,
  // whole rows of the last dimension side by side (dims 0 and 1 of the 3-d shape), and a single row of 1100 lines
  // cut into blocks for the threads (dim 0 of the 2-d shape; self and src wider than the index).
  const std::vector<std::pair<Shape, int64_t>> cases = {
      {{3, 131, 7}, 0}, {{3, 131, 7}, 1}, {{3, 131, 7}, 2}, {{5, 1100}, 0}};
  for (const auto& [shape, dim] : cases) {
    Draw d{shape, shape, shape, dim, {}};
    d.index[dim] = 60;
    d.src[dim] = 61;
    if (shape.size() == 2) {
      d.self[1] += 3;
      d.src[1] += 1;
    }
    for (int64_t p = 0; p < numel(d.index); ++p) d.indices.push_back(static_cast<int64_t>(rng() % d.self[dim]));
    check_draw<float>(d, rng);
    check_draw<Half>(d, rng);
  }
}

TEST(ScatterGather, GatherBackwardIsGathersAdjoint) {
  // <dy, gather(x)> = <gather_backward(dy), x> for every x and dy: the backward routes each gradient to its source.
  Generator gen(66);
  const Tensor x = randn({4, 6, 5}, gen), index = randint(0, 6, {3, 9, 5}, gen), dy = randn({3, 9, 5}, gen);
  const std::vector<float> y = ops::gather(x, 1, index).to_vector(), dyv = dy.to_vector();
  const std::vector<float> dx = ops::gather_backward(dy, x.sizes(), 1, index).to_vector(), xv = x.to_vector();
  double forward = 0.0, backward = 0.0;
  for (std::size_t i = 0; i < y.size(); ++i) forward += static_cast<double>(dyv[i]) * y[i];
  for (std::size_t i = 0; i < xv.size(); ++i) backward += static_cast<double>(dx[i]) * xv[i];
  EXPECT_NEAR(forward, backward, 1e-4 * (1.0 + std::fabs(forward)));
}

TEST(ScatterGather, SrcSharingSelfIsReadAsItWas) {
  Tensor x = from_vector(std::vector<float>{1, 2, 3, 4}, {4});
  const Tensor index = from_vector(std::vector<int64_t>{1, 2, 3, 0}, {4});
  const Tensor expected = ops::scatter(x.clone(), 0, index, x.clone());
  ops::scatter_(x, 0, index, x);
  EXPECT_EQ(x.to_vector(), expected.to_vector());
  EXPECT_EQ(x.to_vector(), std::vector<float>({4, 1, 2, 3}));
}

// PyTorch 1.13's messages, word for word (printed by torch for the same calls).
TEST(ScatterGather, RefuseInPyTorchsWordsAndLeaveSelfUntouched) {
  const auto idx = [](std::vector<int64_t> v, Shape s) { return from_vector(v, s); };
  const Tensor x = zeros({3, 4});
  const Tensor i22 = idx({0, 1, 2, 3}, {2, 2});
  EXPECT_TRUE(throws_with([&] { ops::gather(x, 2, i22); },
                          "Dimension out of range (expected to be in range of [-2, 1], but got 2)"));
  EXPECT_TRUE(throws_with([&] { ops::gather(x, 1, i22.to(DType::Float32)); },
                          "gather(): Expected dtype int64 for index"));
  EXPECT_TRUE(throws_with([&] { ops::gather(x, 1, idx({0, 1}, {2})); },
                          "Index tensor must have the same number of dimensions as input tensor"));
  EXPECT_TRUE(throws_with([&] { ops::gather(x, 0, zeros({4, 5}, TensorOptions().dtype(DType::Int64))); },
                          "Size does not match at dimension 1 expected index [4, 5] to be smaller than self [3, 4] "
                          "apart from dimension 0"));
  EXPECT_TRUE(throws_with([&] { ops::gather(x, 1, idx({4}, {1, 1})); },
                          "index 4 is out of bounds for dimension 1 with size 4"));
  EXPECT_TRUE(throws_with([&] { ops::gather(x, 0, idx({0, 0, 0, 9, 0, 0, -5, 0}, {2, 4})); },
                          "index 9 is out of bounds for dimension 0 with size 3"));  // the first in index order
  EXPECT_TRUE(throws_with([&] { ops::gather(zeros({2, 0}), 1, idx({0, 0}, {2, 1})); },
                          "index 0 is out of bounds for dimension 1 with size 0"));
  EXPECT_EQ(ops::gather(x, 1, zeros({9, 0}, TensorOptions().dtype(DType::Int64))).sizes(), Shape({9, 0}));

  Tensor self = ones({3, 4});
  const uint64_t version = self.version();
  const auto refused = [&](auto call, const std::string& message) {
    EXPECT_TRUE(throws_with(call, message));
    EXPECT_EQ(self.to_vector(), std::vector<float>(12, 1.0f)) << message;
    EXPECT_EQ(self.version(), version) << message;
  };
  refused([&] { ops::scatter_(self, 3, i22, 2.5); }, "Dimension out of range (expected to be in range of [-2, 1]");
  refused([&] { ops::scatter_(self, 1, i22.to(DType::Float32), ones({2, 2})); },
          "scatter(): Expected dtype int64 for index");
  refused([&] { ops::scatter_add_(self, 1, i22, ones({2, 2}).to(DType::Float16)); },
          "scatter(): Expected self.dtype to be equal to src.dtype");
  refused([&] { ops::scatter_(self, 1, idx({0, 1}, {2}), ones({2, 2})); },
          "Index tensor must have the same number of dimensions as self tensor");
  refused([&] { ops::scatter_(self, 1, i22, ones({2, 2, 2})); },
          "Index tensor must have the same number of dimensions as src tensor");
  refused([&] { ops::scatter_(self, 0, i22, ones({5})); },
          "Dimension out of range (expected to be in range of [-1, 0], but got 1)");  // src's size along 1
  refused([&] { ops::scatter_(self, 1, zeros({3, 3}, TensorOptions().dtype(DType::Int64)), ones({1})); },
          "Index tensor must have the same number of dimensions as src tensor");
  refused([&] { ops::scatter_add_(self, 1, i22, ones({1, 2})); },
          "Expected index [2, 2] to be smaller than self [3, 4] apart from dimension 1 and to be smaller size than "
          "src [1, 2]");
  refused([&] { ops::scatter_(self, 1, zeros({5, 1}, TensorOptions().dtype(DType::Int64)), 2.0); },
          "Expected index [5, 1] to be smaller than self [3, 4] apart from dimension 1");
  refused([&] { ops::scatter_add_(self, 1, idx({0, 1, 2, 4}, {2, 2}), ones({2, 2})); },
          "index 4 is out of bounds for dimension 1 with size 4");  // after three good positions
  refused([&] { ops::scatter_(self, 1, idx({-1}, {1, 1}), ones({1, 1})); },
          "index -1 is out of bounds for dimension 1 with size 4");
  refused([&] { ops::scatter_(self, 1, idx({0}, {1, 1}), 1e39); },
          "value cannot be converted to type float without overflow");
  Tensor half = ones({3, 4}).to(DType::Float16);
  EXPECT_TRUE(throws_with([&] { ops::scatter_(half, 1, idx({0}, {1, 1}), 1e6); },
                          "value cannot be converted to type at::Half without overflow"));
  ops::scatter_(half, 1, zeros({0, 1}, TensorOptions().dtype(DType::Int64)), 1e6);  // nothing to convert it for
  Tensor whole = zeros({3, 4}, TensorOptions().dtype(DType::Int64));
  EXPECT_TRUE(throws_with([&] { ops::scatter_(whole, 1, idx({0}, {1, 1}), NAN); },
                          "value cannot be converted to type int64_t without overflow"));
  // An index of more than twice self's bytes: the writes go to a copy of self, the indices checked as read.
  refused(
      [&] {
        ops::scatter_add_(self, 1, idx({0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 7}, {2, 8}), ones({2, 8}));
      },
      "index 7 is out of bounds for dimension 1 with size 4");
  refused(
      [&] {
        ops::scatter_(self, 1, idx({0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, -2, 3}, {2, 8}), 7.0);
      },
      "index -2 is out of bounds for dimension 1 with size 4");
  // An empty index checks the dtypes only.
  ops::scatter_(self, 1, zeros({0, 5}, TensorOptions().dtype(DType::Int64)), ones({3, 4}));
  EXPECT_EQ(self.to_vector(), std::vector<float>(12, 1.0f));
  EXPECT_TRUE(throws_with([&] { ops::scatter_(self, 1, zeros({0, 2}, TensorOptions().dtype(DType::Int64)),
                                              zeros({0, 2}).to(DType::BFloat16)); },
                          "scatter(): Expected self.dtype to be equal to src.dtype"));
  EXPECT_TRUE(throws_with([&] { ops::gather_backward(ones({2, 3}), {3, 4}, 1, i22); },
                          "gather_backward: grad of shape [2, 3] is not the index's shape [2, 2]"));
}

// scatter_reduce and scatter's reduce: the reduce argument checked after the dtypes and shapes and before the range
// (PyTorch 1.13's words and order, printed by torch for the same calls); a bool mean refused as its dispatch refuses
// it. A refusal leaves self as it was.
TEST(ScatterGather, ReductionsRefuseInPyTorchsWordsAndLeaveSelfUntouched) {
  const auto idx = [](std::vector<int64_t> v, Shape s) { return from_vector(v, s); };
  const Tensor i22 = idx({0, 1, 2, 3}, {2, 2}), none = zeros({0, 2}, TensorOptions().dtype(DType::Int64));
  Tensor self = ones({3, 4});
  const uint64_t version = self.version();
  const auto refused = [&](auto call, const std::string& message) {
    EXPECT_TRUE(throws_with(call, message));
    EXPECT_EQ(self.to_vector(), std::vector<float>(12, 1.0f)) << message;
    EXPECT_EQ(self.version(), version) << message;
  };
  const std::string reduce_words = "reduce argument must be either sum, prod, mean, amax or amin.";
  refused([&] { ops::scatter_reduce_(self, 1, i22, ones({2, 2}), "max"); }, reduce_words);
  refused([&] { ops::scatter_reduce_(self, 1, none, ones({2, 2}), "add"); }, reduce_words);
  refused([&] { ops::scatter_reduce_(self, 1, i22.to(DType::Float32), ones({2, 2}), "max"); },
          "scatter(): Expected dtype int64 for index");
  refused([&] { ops::scatter_reduce_(self, 1, zeros({5, 1}, TensorOptions().dtype(DType::Int64)), ones({5, 1}), "x"); },
          "Expected index [5, 1] to be smaller than self [3, 4] apart from dimension 1 and to be smaller size than "
          "src [5, 1]");
  refused([&] { ops::scatter_reduce_(self, 1, idx({0, 1, 2, 4}, {2, 2}), ones({2, 2}), "amax", false); },
          "index 4 is out of bounds for dimension 1 with size 4");
  refused([&] { ops::scatter_reduce_(self, 1, idx({0, 1, 2, -1}, {2, 2}), ones({2, 2}), "mean"); },
          "index -1 is out of bounds for dimension 1 with size 4");
  refused([&] { ops::scatter_(self, 1, i22, ones({2, 2}), "sum"); },
          "reduce argument must be either add or multiply.");
  refused([&] { ops::scatter_(self, 1, none, 2.0, "mean"); }, "reduce argument must be either add or multiply.");
  refused([&] { ops::scatter_(self, 1, idx({5}, {1, 1}), 2.0, "multiply"); },
          "index 5 is out of bounds for dimension 1 with size 4");
  EXPECT_TRUE(throws_with([&] { ops::scatter_reduce(self, 1, i22, ones({2, 2}), "amin ", true); }, reduce_words));
  EXPECT_TRUE(throws_with([&] { ops::scatter(self, 1, i22, 2.0, "Add"); },
                          "reduce argument must be either add or multiply."));
  Tensor half = ones({3, 4}).to(DType::Float16);
  EXPECT_TRUE(throws_with([&] { ops::scatter_(half, 1, idx({0}, {1, 1}), 1e5, "multiply"); },
                          "value cannot be converted to type at::Half without overflow"));

  Tensor mask = ones({3, 4}).to(DType::Bool);
  const Tensor truths = ones({2, 2}).to(DType::Bool);
  const auto bool_refused = [&](auto call, const std::string& message) {
    EXPECT_TRUE(throws_with(call, message));
    EXPECT_EQ(mask.to_vector<bool>(), std::vector<bool>(12, true)) << message;
  };
  bool_refused([&] { ops::scatter_reduce_(mask, 1, i22, truths, "mean"); },
               "\"scatter_gather_tensor_cpu_reduce_mean\" not implemented for 'Bool'");
  bool_refused([&] { ops::scatter_reduce_(mask, 1, idx({0, 1, 2, 4}, {2, 2}), truths, "mean"); },
               "\"scatter_gather_tensor_cpu_reduce_mean\" not implemented for 'Bool'");
  bool_refused([&] { ops::scatter_reduce_(mask, 1, idx({0, 1, 2, 4}, {2, 2}), truths, "mean", false); },
               "index 4 is out of bounds for dimension 1 with size 4");  // the identity's fill comes first
  bool_refused([&] { ops::scatter_reduce_(mask, 1, none, truths, "mean"); },
               "\"div_floor_cpu\" not implemented for 'Bool'");  // the division, with nothing scattered
  bool_refused([&] { ops::scatter_reduce_(mask, 1, idx({0, 1, 2, 4}, {2, 2}), truths, "prod"); },
               "index 4 is out of bounds for dimension 1 with size 4");
}

// Over 2^16 positions (the threads share the index): the first bad index in index order is named, along and across
// dim, and self is left as it was whether its indices are checked before the writes (self larger than half the
// index) or as they are read (the writes going to a copy of self).
TEST(ScatterGather, LargeIndicesAreRefusedInIndexOrderLeavingSelfUntouched) {
  for (const int64_t dim : {0, 1}) {
    const int64_t n = 40000;
    const Shape shape = dim == 0 ? Shape{n, 2} : Shape{2, n};
    for (const int64_t bound : {int64_t{3}, 2 * n}) {  // self smaller than half the index, then larger
      std::vector<int64_t> values(static_cast<std::size_t>(2 * n));
      for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<int64_t>(i % 3);
      values[39000] = -bound;  // bad indices in both halves of the positions (the threads'): the first is named
      values[40001] = bound + 4;
      values[79999] = bound;
      const Tensor index = from_vector(values, shape);
      const std::string message = "index " + std::to_string(-bound) + " is out of bounds for dimension " +
                                  std::to_string(dim) + " with size " + std::to_string(bound);
      Shape self_shape = shape;
      self_shape[dim] = bound;
      Tensor self = ones(self_shape);
      const uint64_t version = self.version();
      EXPECT_TRUE(throws_with([&] { ops::gather(self, dim, index); }, message));
      EXPECT_TRUE(throws_with([&] { ops::scatter_add_(self, dim, index, ones(shape)); }, message));
      EXPECT_TRUE(throws_with([&] { ops::scatter_(self, dim, index, 2.0); }, message));
      EXPECT_EQ(self.to_vector(), std::vector<float>(static_cast<std::size_t>(self.numel()), 1.0f)) << message;
      EXPECT_EQ(self.version(), version) << message;
    }
  }
}

}  // namespace
}  // namespace normrt
