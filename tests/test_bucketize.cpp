// searchsorted and bucketize against std::lower_bound / std::upper_bound over sorted boundaries with repeats (1-D and
// per row, with a sorter over shuffled ones), values that hit boundaries exactly, every dtype and a channels-last
// input, large enough to run in parallel; the result types PyTorch compares in; and the refusals in its words.
// PyTorch's own indices, NaNs and unsorted boundaries included, are the golden cases (make_golden_tensor_ops.py).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "bucketize_math.cuh"
#include "normrt/ops/bucketize.h"
#include "test_util.h"

namespace normrt {
namespace {

using testing::throws_with;

// Sorted boundaries with repeats: rows of `n` integers (exact in every dtype) drawn from [-40, 40].
std::vector<float> sorted_rows(int64_t rows, int64_t n, std::mt19937& rng) {
  std::uniform_int_distribution<int> draw(-40, 40);
  std::vector<float> b(static_cast<std::size_t>(rows * n));
  for (float& v : b) v = static_cast<float>(draw(rng));
  for (int64_t r = 0; r < rows; ++r) std::sort(b.begin() + r * n, b.begin() + (r + 1) * n);
  return b;
}

// Values on and between the boundaries (halves, exact in every dtype), some beyond both ends.
std::vector<float> drawn_values(int64_t count, std::mt19937& rng) {
  std::uniform_int_distribution<int> draw(-90, 90);
  std::vector<float> v(static_cast<std::size_t>(count));
  for (float& x : v) x = static_cast<float>(draw(rng)) * 0.5f;
  return v;
}

int64_t expected_index(const float* row, int64_t n, float value, bool right) {
  return (right ? std::upper_bound(row, row + n, value) : std::lower_bound(row, row + n, value)) - row;
}

TEST(Bucketize, SearchsortedIsLowerAndUpperBoundInEveryDtypeAndLayout) {
  std::mt19937 rng(5);
  const int64_t n = 37;
  const std::vector<float> b = sorted_rows(1, n, rng), v = drawn_values(2 * 3 * 70 * 67, rng);
  for (const DType dtype : {DType::Float32, DType::Float16, DType::BFloat16, DType::Int64}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor boundaries = from_vector(b, {n}).to(dtype);
    // int64 values truncate the halves: compare with what they hold.
    const Tensor values = from_vector(v, {2, 3, 70, 67}).to(dtype).to(MemoryFormat::ChannelsLast);
    const std::vector<float> held = values.to(MemoryFormat::Contiguous).to(DType::Float32).to_vector();
    for (const bool right : {false, true}) {
      const Tensor got = ops::searchsorted(boundaries, values, right);
      EXPECT_EQ(got.dtype(), DType::Int64);
      EXPECT_EQ(got.sizes(), values.sizes());
      EXPECT_EQ(got.memory_format(), MemoryFormat::Contiguous);
      const std::vector<int64_t> indices = got.to_vector<int64_t>();
      for (std::size_t i = 0; i < held.size(); ++i)
        ASSERT_EQ(indices[i], expected_index(b.data(), n, held[i], right)) << held[i] << (right ? " right" : " left");
      EXPECT_EQ(ops::searchsorted(boundaries, values, false, right ? "right" : "left").to_vector<int64_t>(), indices);
      EXPECT_EQ(ops::bucketize(values, boundaries, right).to_vector<int64_t>(), indices);
    }
  }
}

TEST(Bucketize, RowsAndASorterSearchEachRowInItsOrder) {
  std::mt19937 rng(6);
  const int64_t rows = 2 * 3, n = 19, per_row = 41;
  const std::vector<float> b = sorted_rows(rows, n, rng), v = drawn_values(rows * per_row, rng);
  // Each row shuffled, and the sorter that puts it back in order: sorted[j] = shuffled[sorter[j]].
  std::vector<float> shuffled(b.size());
  std::vector<int64_t> sorter(b.size());
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<int64_t> position(static_cast<std::size_t>(n));
    std::iota(position.begin(), position.end(), 0);
    std::shuffle(position.begin(), position.end(), rng);
    for (int64_t j = 0; j < n; ++j) {
      shuffled[static_cast<std::size_t>(r * n + position[j])] = b[static_cast<std::size_t>(r * n + j)];
      sorter[static_cast<std::size_t>(r * n + j)] = position[j];
    }
  }
  const Tensor sorted = from_vector(b, {2, 3, n}), values = from_vector(v, {2, 3, per_row});
  const Tensor unsorted = from_vector(shuffled, {2, 3, n}), order = from_vector(sorter, {2, 3, n});
  for (const bool right : {false, true}) {
    const std::vector<int64_t> plain = ops::searchsorted(sorted, values, right).to_vector<int64_t>();
    const std::vector<int64_t> through =
        ops::searchsorted(unsorted, values, right, std::nullopt, order).to_vector<int64_t>();
    for (int64_t i = 0; i < rows * per_row; ++i) {
      const int64_t want = expected_index(b.data() + i / per_row * n, n, v[static_cast<std::size_t>(i)], right);
      ASSERT_EQ(plain[static_cast<std::size_t>(i)], want) << i;
      ASSERT_EQ(through[static_cast<std::size_t>(i)], want) << i;
    }
  }
  // Rows of no boundaries put every value at 0; no values give no indices.
  EXPECT_EQ(ops::searchsorted(zeros({2, 0}), ones({2, 3})).to_vector<int64_t>(), std::vector<int64_t>(6, 0));
  EXPECT_EQ(ops::searchsorted(sorted, zeros({2, 3, 0})).sizes(), (Shape{2, 3, 0}));
}

// Unsorted boundaries with NaNs, NaN values, a shuffled sorter, rows that straddle the CPU's blocks of values: every
// index is the one value's own search (bmath::insertion_index, the GPU's), whose steps the CPU takes in lockstep.
TEST(Bucketize, UnsortedBoundariesGiveEachValuesOwnSearch) {
  std::mt19937 rng(8);
  std::normal_distribution<float> draw(0.0f, 2.0f);
  const int64_t rows = 7, n = 100, per_row = 1003;
  std::vector<float> b(static_cast<std::size_t>(rows * n)), v(static_cast<std::size_t>(rows * per_row));
  for (float& x : b) x = rng() % 13 == 0 ? NAN : draw(rng);
  for (float& x : v) x = rng() % 17 == 0 ? NAN : draw(rng);
  std::vector<int64_t> sorter(b.size());
  for (int64_t r = 0; r < rows; ++r) {
    std::iota(sorter.begin() + r * n, sorter.begin() + (r + 1) * n, 0);
    std::shuffle(sorter.begin() + r * n, sorter.begin() + (r + 1) * n, rng);
  }
  const Tensor boundaries = from_vector(b, {rows, n}), values = from_vector(v, {rows, per_row});
  const Tensor order = from_vector(sorter, {rows, n});
  for (const bool right : {false, true}) {
    for (const bool sorted_by : {false, true}) {
      const std::vector<int64_t> got =
          ops::searchsorted(boundaries, values, right, std::nullopt, sorted_by ? order : Tensor()).to_vector<int64_t>();
      for (int64_t i = 0; i < rows * per_row; ++i) {
        const int64_t row = i / per_row * n;
        ASSERT_EQ(got[static_cast<std::size_t>(i)],
                  bmath::insertion_index(b.data() + row, sorted_by ? sorter.data() + row : nullptr, n,
                                         v[static_cast<std::size_t>(i)], right))
            << i;
      }
    }
  }
}

TEST(Bucketize, ValuesAndBoundariesMeetInTheirResultType) {
  const Tensor half_bounds = from_vector<float>({2048.0f, 2050.0f}, {2}).to(DType::Float16);
  // A 0-dim float32 tensor and a number are rounded to float16 (2049 -> 2048); a float32 vector is not.
  EXPECT_EQ(ops::searchsorted(half_bounds, full({}, 2049.0)).item<int64_t>(), 0);
  EXPECT_EQ(ops::searchsorted(half_bounds, 2049.0).item<int64_t>(), 0);
  EXPECT_EQ(ops::searchsorted(half_bounds, 2049).item<int64_t>(), 0);
  EXPECT_EQ(ops::searchsorted(half_bounds, from_vector<float>({2049.0f}, {1})).to_vector<int64_t>()[0], 1);
  EXPECT_EQ(ops::bucketize(2049.0, half_bounds).item<int64_t>(), 0);
  // int64 boundaries beside a floating number compare in float32; a NaN value goes last.
  const Tensor counts = from_vector<int64_t>({1, 2, 2, 3}, {4});
  EXPECT_EQ(ops::searchsorted(counts, 2.5).item<int64_t>(), 3);
  EXPECT_EQ(ops::searchsorted(counts, 1e30).item<int64_t>(), 4);
  EXPECT_EQ(ops::searchsorted(counts, NAN).item<int64_t>(), 4);
  EXPECT_EQ(ops::searchsorted(counts, NAN, true).item<int64_t>(), 4);
  const Tensor flags = from_vector<bool>({false, true}, {2});
  EXPECT_EQ(ops::searchsorted(flags, from_vector<float>({1.0f}, {1})).to_vector<int64_t>()[0], 1);
  EXPECT_EQ(ops::searchsorted(from_vector<float>({0.0f, 1.0f}, {2}), flags).to_vector<int64_t>(),
            (std::vector<int64_t>{0, 1}));
}

TEST(Bucketize, RefusalsArePyTorchs) {
  const Tensor b = from_vector<float>({1.0f, 2.0f, 3.0f}, {3}), x = ones({2});
  EXPECT_TRUE(throws_with([&] { ops::searchsorted(b, x, false, "middle"); },
                          "torch.searchsorted(): side can only be 'left' or 'right' but got middle"));
  EXPECT_TRUE(throws_with([&] { ops::searchsorted(full({}, 1.0), x, true, "left"); },
                          "torch.searchsorted(): side and right can't be set to opposites, got side of left while "
                          "right was True"));
  EXPECT_TRUE(throws_with([&] { ops::searchsorted(full({}, 1.0), x, false, std::nullopt, ones({1})); },
                          "torch.searchsorted(): boundary and sorter must have the same size, but got boundary tensor "
                          "[]and got sorter tensor [1]"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::searchsorted(ones({2, 3}), ones({3, 2}), false, std::nullopt, ones({2, 3}));
      },
      "torch.searchsorted(): sorter must be a tensor of long dtype but got dtype Float"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::searchsorted(ones({2, 3}), 2.5);
      },
      "torch.searchsorted(): input value can be a scalar only when boundaries tensor dimension is "
      "1, but we got boundaries tensor dim(2) and input value's dim(0) numel(1)"));
  EXPECT_TRUE(throws_with([&] { ops::searchsorted(full({}, 1.0), x); },
                          "torch.searchsorted(): boundaries tensor should have positive dimension, but got 0 "
                          "dimension"));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::searchsorted(ones({2, 3}), ones({3, 2}));
      },
      "torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 dimensions "
      "of boundaries tensor and input value tensor must match, but we got boundaries tensor [2, "
      "3] and input value tensor [3, 2]"));
  EXPECT_TRUE(throws_with([&] { ops::searchsorted(ones({2, 3}), ones({2})); }, "input value tensor [2]"));
  EXPECT_TRUE(throws_with([&] { ops::searchsorted(b.to(DType::Bool), x.to(DType::Bool)); },
                          "\"searchsorted_out_cpu\" not implemented for 'Bool'"));
  // No values: nothing is searched and no dtype refused, as PyTorch returns before its dtypes.
  EXPECT_EQ(ops::searchsorted(b.to(DType::Bool), zeros({2, 0}, TensorOptions().dtype(DType::Bool))).sizes(),
            (Shape{2, 0}));
  EXPECT_TRUE(throws_with(
      [&] {
        ops::bucketize(x, ones({3, 1}));
      },
      "boundaries tensor must be 1 dimension, but got dim(2)"));
  EXPECT_TRUE(throws_with([&] { ops::bucketize(2.0, full({}, 1.0)); },
                          "boundaries tensor must be 1 dimension, but got dim(0)"));
  // PyTorch reads past the boundaries for a sorter entry out of range; normrt refuses it.
  for (const int64_t entry : {3, -1})
    EXPECT_TRUE(throws_with(
        [&] {
          ops::searchsorted(b, x, false, std::nullopt, from_vector<int64_t>({0, entry, 1}, {3}));
        },
        "sorter's entries must lie in [0, 3)"));
  EXPECT_TRUE(throws_with([&] { ops::searchsorted(Tensor(), x); }, "an operand is undefined"));
}

}  // namespace
}  // namespace normrt
