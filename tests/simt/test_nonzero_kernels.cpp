// The selection kernels run by the SIMT emulator: counts, nonzero's positions, masked_select's values and
// masked_scatter's placements over several tiles (one of them empty, the last partial), with operands stored in
// another memory order and broadcast, on every element size, against the selected elements listed here by walking
// the shape in row-major order.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "nonzero.cuh"

namespace normrt::emu {
namespace {

class NonzeroKernels : public ::testing::TestWithParam<simt::ResumeOrder> {
 protected:
  void SetUp() override { simt::set_resume_order(GetParam()); }
  void TearDown() override { simt::set_resume_order(simt::ResumeOrder::Forward); }
};

// Flat order (3, 5, 437): four tiles of 2048 elements, the last partial. 437 is no multiple of a warp.
constexpr int64_t kA = 3, kB = 5, kC = 437, kN = kA * kB * kC;

// A plan over (kA, kB, kC) with operand 0 stored transposed as (kC, kB, kA) and operand 1 a (kA, 1, kC) array
// broadcast along the middle dimension.
cmpmath::Plan transposed_and_broadcast() {
  cmpmath::Plan p;
  p.ndim = 3;
  p.numel = kN;
  const int64_t sizes[] = {kA, kB, kC}, transposed[] = {1, kA, kA * kB}, broadcast[] = {kC, 0, 1};
  for (int d = 0; d < 3; ++d) {
    p.sizes[d] = sizes[d];
    p.strides[0][d] = transposed[d];
    p.strides[1][d] = broadcast[d];
  }
  return p;
}

// The plan with operand 1 (the mask) as operand 0: the counts' plan.
cmpmath::Plan mask_alone(cmpmath::Plan p) {
  for (int d = 0; d < p.ndim; ++d) p.strides[0][d] = p.strides[1][d];
  return p;
}

int64_t transposed_offset(int64_t i) {
  const int64_t a = i / (kB * kC), b = i / kC % kB, c = i % kC;
  return c * kA * kB + b * kA + a;
}

int64_t broadcast_offset(int64_t i) { return i / (kB * kC) * kC + i % kC; }

// Bits (operand 0's, stored transposed) whose value part is zero in about half of the elements, and in every element
// of the second tile of flat indices, so that its block leaves early. The sign bit alone (a negative zero) is not
// selected under a floating dtype's value bits.
template <typename U>
std::vector<U> drawn_bits(U value_bits) {
  std::vector<U> bits(static_cast<std::size_t>(kN));
  const U sign = static_cast<U>(~value_bits);
  for (std::size_t i = 0; i < bits.size(); ++i) {
    const std::size_t r = (i * 2654435761u) % 7;
    bits[i] = r < 3 ? static_cast<U>(i % 5 == 0 ? sign : 0) : static_cast<U>((i * 40503u) | 1u);
  }
  for (int64_t i = 2048; i < 4096; ++i) bits[static_cast<std::size_t>(transposed_offset(i))] = sign;
  return bits;
}

// The flat indices of the selected elements, where the plan's operand 0 (through `offset`) holds a nonzero value.
template <typename U, typename Offset>
std::vector<int64_t> selected_indices(const std::vector<U>& bits, U value_bits, Offset offset) {
  std::vector<int64_t> chosen;
  for (int64_t i = 0; i < kN; ++i)
    if ((bits[static_cast<std::size_t>(offset(i))] & value_bits) != 0) chosen.push_back(i);
  return chosen;
}

template <typename U>
void check_positions(U value_bits) {
  SCOPED_TRACE(sizeof(U));
  const cmpmath::Plan p = transposed_and_broadcast();
  const std::vector<U> flags = drawn_bits(value_bits);
  const std::vector<int64_t> chosen = selected_indices(flags, value_bits, transposed_offset);
  const int64_t tiles = select_tiles(kN);
  ASSERT_EQ(tiles, 4);
  std::vector<int64_t> starts(static_cast<std::size_t>(tiles) + 1, -1);
  count_selected(flags.data(), value_bits, p, starts.data(), nullptr);
  for (int64_t k = 0; k <= tiles; ++k) {
    int64_t before = 0;
    for (const int64_t i : chosen) before += i < k * 2048 ? 1 : 0;
    EXPECT_EQ(starts[static_cast<std::size_t>(k)], before) << "tile " << k;
  }
  ASSERT_EQ(starts[1], starts[2]);  // the empty tile
  nzmath::Sizes s;
  s.ndim = 3;
  s.sizes[0] = kA;
  s.sizes[1] = kB;
  s.sizes[2] = kC;
  std::vector<int64_t> positions(chosen.size() * 3 + 1, -7);
  selected_positions(flags.data(), value_bits, p, s, starts.data(), positions.data(), nullptr);
  for (std::size_t j = 0; j < chosen.size(); ++j) {
    const int64_t i = chosen[j];
    ASSERT_EQ(positions[3 * j], i / (kB * kC)) << j;
    ASSERT_EQ(positions[3 * j + 1], i / kC % kB) << j;
    ASSERT_EQ(positions[3 * j + 2], i % kC) << j;
  }
  EXPECT_EQ(positions.back(), -7);
}

TEST_P(NonzeroKernels, PositionsOfEveryElementSizeComeInRowMajorOrder) {
  check_positions<uint8_t>(0xff);
  check_positions<uint16_t>(0x7fff);
  check_positions<uint32_t>(0x7fffffffu);
  check_positions<uint64_t>(~uint64_t{0});
}

TEST_P(NonzeroKernels, NothingToCountGivesAZeroTotal) {
  cmpmath::Plan none;  // no elements: one block counts nothing
  int64_t starts = -1;
  count_selected<uint8_t>(nullptr, 0xff, none, &starts, nullptr);
  EXPECT_EQ(starts, 0);
  selected_positions<uint8_t>(nullptr, 0xff, none, nzmath::Sizes(), &starts, nullptr, nullptr);  // nothing launched
}

// The mask, (kA, 1, kC) row-major, true in about a third of its elements and nowhere in the flat indices of the second
// tile.
std::vector<uint8_t> drawn_mask() {
  std::vector<uint8_t> mask(static_cast<std::size_t>(kA * kC));
  for (std::size_t e = 0; e < mask.size(); ++e) mask[e] = (e * 7919) % 3 == 0;
  for (int64_t i = 2048; i < 4096; ++i) mask[static_cast<std::size_t>(broadcast_offset(i))] = 0;
  return mask;
}

template <typename V>
void check_select_and_scatter() {
  SCOPED_TRACE(sizeof(V));
  const cmpmath::Plan p = transposed_and_broadcast();
  const std::vector<uint8_t> mask = drawn_mask();
  const auto* flags = reinterpret_cast<const bool*>(mask.data());
  std::vector<int64_t> chosen;
  for (int64_t i = 0; i < kN; ++i)
    if (mask[static_cast<std::size_t>(broadcast_offset(i))] != 0) chosen.push_back(i);
  std::vector<int64_t> starts(static_cast<std::size_t>(select_tiles(kN)) + 1);
  count_selected(mask.data(), uint8_t{0xff}, mask_alone(p), starts.data(), nullptr);
  ASSERT_EQ(starts.back(), static_cast<int64_t>(chosen.size()));

  std::vector<V> values(static_cast<std::size_t>(kN));
  for (std::size_t e = 0; e < values.size(); ++e) values[e] = static_cast<V>(e * 2654435761u + 3);
  std::vector<V> selected(chosen.size() + 1, V(0x5a));
  move_selected(flags, values.data(), p, starts.data(), selected.data(), false, nullptr);
  for (std::size_t j = 0; j < chosen.size(); ++j)
    ASSERT_EQ(selected[j], values[static_cast<std::size_t>(transposed_offset(chosen[j]))]) << j;
  EXPECT_EQ(selected.back(), V(0x5a));

  std::vector<V> source(chosen.size() + 5);
  for (std::size_t j = 0; j < source.size(); ++j) source[j] = static_cast<V>(~j);
  std::vector<V> self = values, expected = values;
  for (std::size_t j = 0; j < chosen.size(); ++j)
    expected[static_cast<std::size_t>(transposed_offset(chosen[j]))] = source[j];
  move_selected(flags, source.data(), p, starts.data(), self.data(), true, nullptr);
  EXPECT_EQ(self, expected);
}

TEST_P(NonzeroKernels, SelectAndScatterMoveEveryElementSizeInRowMajorOrder) {
  check_select_and_scatter<uint8_t>();
  check_select_and_scatter<uint16_t>();
  check_select_and_scatter<uint32_t>();
  check_select_and_scatter<uint64_t>();
  cmpmath::Plan none;  // nothing launched
  move_selected<uint8_t>(nullptr, nullptr, none, nullptr, nullptr, false, nullptr);
}

INSTANTIATE_TEST_SUITE_P(Orders, NonzeroKernels,
                         ::testing::Values(simt::ResumeOrder::Forward, simt::ResumeOrder::Reverse),
                         [](const ::testing::TestParamInfo<simt::ResumeOrder>& info) {
                           return info.param == simt::ResumeOrder::Forward ? "forward" : "reverse";
                         });

}  // namespace
}  // namespace normrt::emu
