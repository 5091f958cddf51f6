// searchsorted's kernel run by the SIMT emulator on every element type: values in rows of boundaries (one row for all,
// and one per row), with and without a sorter, left and right, against std::lower_bound / std::upper_bound over the
// sorted rows, and against the per-value search (bucketize_math.cuh) over unsorted boundaries.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "bucketize.cuh"
#include "bucketize_math.cuh"

namespace normrt::emu {
namespace {

class BucketizeKernels : public ::testing::TestWithParam<simt::ResumeOrder> {
 protected:
  void SetUp() override { simt::set_resume_order(GetParam()); }
  void TearDown() override { simt::set_resume_order(simt::ResumeOrder::Forward); }
};

// Rows of 13 sorted boundaries with repeats (reversed in storage, the sorter reading them back in order), and 67
// values per row, on and between them (no multiple of a warp).
template <typename T>
void check_type(uint32_t seed) {
  constexpr int64_t kRows = 3, kN = 13, kPerRow = 67;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> draw(-20, 20);
  std::vector<float> sorted(kRows * kN);
  for (float& b : sorted) b = static_cast<float>(draw(rng));
  for (int64_t r = 0; r < kRows; ++r) std::sort(sorted.begin() + r * kN, sorted.begin() + (r + 1) * kN);
  std::vector<T> boundaries(sorted.size()), reversed(sorted.size()), values(kRows * kPerRow);
  std::vector<int64_t> sorter(sorted.size());
  for (int64_t r = 0; r < kRows; ++r) {
    for (int64_t j = 0; j < kN; ++j) {
      boundaries[r * kN + j] = static_cast<T>(sorted[r * kN + j]);
      reversed[r * kN + (kN - 1 - j)] = static_cast<T>(sorted[r * kN + j]);
      sorter[r * kN + j] = kN - 1 - j;
    }
  }
  for (T& v : values) v = static_cast<T>(static_cast<float>(draw(rng) + 1));
  for (const bool right : {false, true}) {
    for (const bool per_row : {false, true}) {
      for (const bool through_sorter : {false, true}) {
        SearchParams p;
        p.numel = kRows * kPerRow;
        p.row_length = per_row ? kPerRow : p.numel;
        p.boundaries = kN;
        p.right = right;
        std::vector<int64_t> out(static_cast<std::size_t>(p.numel) + 1, -7);
        searchsorted(through_sorter ? reversed.data() : boundaries.data(), through_sorter ? sorter.data() : nullptr,
                     values.data(), out.data(), p, 2, nullptr);
        for (int64_t i = 0; i < p.numel; ++i) {
          const float* row = sorted.data() + (per_row ? i / kPerRow * kN : 0);
          const float v = static_cast<float>(values[i]);
          const int64_t want = (right ? std::upper_bound(row, row + kN, v) : std::lower_bound(row, row + kN, v)) - row;
          ASSERT_EQ(out[i], want) << i << (right ? " right" : " left") << (per_row ? " per row" : "")
                                  << (through_sorter ? " sorter" : "");
        }
        EXPECT_EQ(out.back(), -7);
      }
    }
  }
  // Unsorted boundaries: the kernel's answers are the search's own, step by step.
  std::shuffle(boundaries.begin(), boundaries.end(), rng);
  SearchParams p;
  p.numel = kRows * kPerRow;
  p.row_length = kPerRow;
  p.boundaries = kN;
  std::vector<int64_t> out(static_cast<std::size_t>(p.numel));
  searchsorted(boundaries.data(), nullptr, values.data(), out.data(), p, 2, nullptr);
  using C = std::conditional_t<std::is_same_v<T, int64_t>, int64_t, float>;
  for (int64_t i = 0; i < p.numel; ++i)
    ASSERT_EQ(out[i], bmath::insertion_index(boundaries.data() + i / kPerRow * kN, static_cast<const int64_t*>(nullptr),
                                             kN, static_cast<C>(values[i]), false))
        << i;
}

TEST_P(BucketizeKernels, SearchsortedIsLowerAndUpperBoundOnEveryType) {
  check_type<float>(1);
  check_type<Half>(2);
  check_type<BFloat16>(3);
  check_type<int64_t>(4);
  SearchParams none;  // no values: nothing launched
  searchsorted<float>(nullptr, nullptr, nullptr, nullptr, none, 2, nullptr);
}

INSTANTIATE_TEST_SUITE_P(Orders, BucketizeKernels,
                         ::testing::Values(simt::ResumeOrder::Forward, simt::ResumeOrder::Reverse),
                         [](const ::testing::TestParamInfo<simt::ResumeOrder>& info) {
                           return info.param == simt::ResumeOrder::Forward ? "forward" : "reverse";
                         });

}  // namespace
}  // namespace normrt::emu
