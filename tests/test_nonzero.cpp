// The selections (nonzero, argwhere, masked_select, masked_scatter; count_nonzero, any and all, which count as they
// do), indexing by a tensor (index, index_put_) and broadcast_to beyond what the PyTorch golden cases hold
// (tests/golden/make_golden_tensor_ops.py): tensors of many CPU tiles (cut over the threads), every dtype and memory
// format, broadcast masks, against the selected elements listed here by a plain row-major walk; refusals that leave
// self as it was.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "normrt/ops/comparison.h"
#include "normrt/ops/nonzero.h"
#include "normrt/ops/tensor_ops.h"
#include "test_util.h"

namespace normrt {
namespace {

// Values from a pool that is half zeros of both signs, with NaN and infinities: -0.0 is zero, NaN is not.
Tensor drawn(const Shape& shape, DType dtype, uint32_t seed) {
  const float pool[] = {0.0f, -0.0f, 0.0f, -0.0f, NAN, 1.0f, -2.5f, INFINITY};
  std::mt19937 rng(seed);
  std::vector<float> v(static_cast<std::size_t>(shape_numel(shape)));
  for (float& e : v) e = pool[rng() % 8];
  if (dtype == DType::Int64 || dtype == DType::Bool) {
    for (float& e : v) e = std::isnan(e) || std::isinf(e) ? 3.0f : e;  // what int64 cannot hold, as a plain integer
  }
  return from_vector(v, shape).to(dtype);
}

Tensor drawn_mask(const Shape& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> v(static_cast<std::size_t>(shape_numel(shape)));
  for (float& e : v) e = static_cast<float>(rng() % 3 == 0);
  return from_vector(v, shape).to(DType::Bool);
}

// Whether each element, in row-major order, is not zero.
std::vector<bool> nonzero_flags(const Tensor& t) {
  std::vector<bool> flags;
  if (t.dtype() == DType::Int64 || t.dtype() == DType::Bool) {
    for (const int64_t v : t.to(DType::Int64).contiguous().to_vector<int64_t>()) flags.push_back(v != 0);
  } else {
    for (const float v : t.to(DType::Float32).contiguous().to_vector()) flags.push_back(v != 0.0f);
  }
  return flags;
}

// The row-major coordinates of the nonzero elements, a row each.
std::vector<int64_t> reference_positions(const Tensor& t) {
  const std::vector<bool> flags = nonzero_flags(t);
  std::vector<int64_t> positions;
  for (std::size_t i = 0; i < flags.size(); ++i) {
    if (!flags[i]) continue;
    std::vector<int64_t> coordinates(static_cast<std::size_t>(t.dim()));
    int64_t rest = static_cast<int64_t>(i);
    for (int64_t d = t.dim() - 1; d >= 0; --d) {
      coordinates[static_cast<std::size_t>(d)] = rest % t.size(d);
      rest /= t.size(d);
    }
    positions.insert(positions.end(), coordinates.begin(), coordinates.end());
  }
  return positions;
}

// The bits of each element of a contiguous tensor, widened to 64 bits.
std::vector<uint64_t> element_bits(const Tensor& t) {
  const Tensor c = t.contiguous();
  const std::size_t size = element_size(c.dtype());
  const auto* bytes = static_cast<const uint8_t*>(c.raw_data());
  std::vector<uint64_t> bits(static_cast<std::size_t>(c.numel()), 0);
  for (std::size_t i = 0; i < bits.size(); ++i) std::memcpy(&bits[i], bytes + i * size, size);
  return bits;
}

const DType kDtypes[] = {DType::Float32, DType::Float16, DType::BFloat16, DType::Int64, DType::Bool};

TEST(Nonzero, PositionsOfEveryDtypeAndShapeComeInRowMajorOrder) {
  // (3, 70001): several CPU tiles, cut over the threads; a 0-dim tensor of either value; empty dimensions.
  const std::vector<Shape> shapes = {{3, 70001}, {7}, {2, 3, 4, 5}, {2, 1, 3, 1, 2}, {}, {0, 4}, {1}};
  uint32_t seed = 1;
  for (const DType dtype : kDtypes)
    for (const Shape& shape : shapes) {
      SCOPED_TRACE(dtype_name(dtype) + std::string(" ") + shape_str(shape));
      const Tensor t = drawn(shape, dtype, ++seed);
      const Tensor positions = ops::nonzero(t);
      const std::vector<int64_t> expected = reference_positions(t);
      ASSERT_EQ(positions.dtype(), DType::Int64);
      ASSERT_EQ(positions.sizes(),
                (Shape{static_cast<int64_t>(expected.size()) / std::max<int64_t>(t.dim(), 1), t.dim()}));
      if (t.dim() > 0) {
        EXPECT_EQ(positions.to_vector<int64_t>(), expected);
      }
      EXPECT_EQ(ops::argwhere(t).to_vector<int64_t>(), positions.to_vector<int64_t>());
      const Tensor count = ops::count_nonzero(t);
      EXPECT_EQ(count.dim(), 0);
      EXPECT_EQ(count.item<int64_t>(), positions.size(0));
      EXPECT_EQ(ops::any(t).item<bool>(), positions.size(0) > 0);
      EXPECT_EQ(ops::all(t).item<bool>(), positions.size(0) == t.numel());
      const std::vector<Tensor> columns = ops::nonzero_as_tuple(t);
      ASSERT_EQ(static_cast<int64_t>(columns.size()), std::max<int64_t>(t.dim(), 1));
      for (std::size_t d = 0; d < columns.size() && t.dim() > 0; ++d)
        EXPECT_EQ(columns[d].to_vector<int64_t>(),
                  ops::select(positions, 1, static_cast<int64_t>(d)).to_vector<int64_t>());
    }
  // A 0-dim tensor: one row of no coordinates where it is not zero; as a tuple, the one index of a 1-d tensor.
  EXPECT_EQ(ops::nonzero(full({}, -0.0)).sizes(), (Shape{0, 0}));
  EXPECT_EQ(ops::nonzero(full({}, NAN)).sizes(), (Shape{1, 0}));
  EXPECT_EQ(ops::nonzero_as_tuple(full({}, 2.0))[0].to_vector<int64_t>(), (std::vector<int64_t>{0}));
  EXPECT_EQ(ops::nonzero_as_tuple(full({}, 0.0))[0].numel(), 0);
}

TEST(Nonzero, EveryMemoryFormatGivesTheRowMajorPositions) {
  for (const DType dtype : kDtypes) {
    const Tensor t = drawn({3, 5, 7, 9}, dtype, 40), u = drawn({2, 3, 4, 5, 6}, dtype, 41);
    EXPECT_EQ(ops::nonzero(testing::to_channels_last(t)).to_vector<int64_t>(), reference_positions(t));
    EXPECT_EQ(ops::nonzero(testing::to_channels_last(u)).to_vector<int64_t>(), reference_positions(u));
    EXPECT_EQ(ops::count_nonzero(testing::to_channels_last(t)).item<int64_t>() * 4,
              static_cast<int64_t>(reference_positions(t).size()));
  }
}

TEST(MaskedSelect, BroadcastsSelfAndMaskInEveryDtypeAndFormat) {
  for (const DType dtype : kDtypes) {
    SCOPED_TRACE(dtype_name(dtype));
    // Self broadcast along the mask's rows and the mask along self's planes: (2, 3, 70001) elements considered.
    const Tensor t = drawn({3, 70001}, dtype, 50), mask = drawn_mask({2, 1, 70001}, 51);
    const Tensor selected = ops::masked_select(t, mask);
    const std::vector<uint64_t> bits = element_bits(t);
    const std::vector<bool> flags = mask.to_vector<bool>();
    std::vector<uint64_t> expected;
    for (std::size_t a = 0; a < 2; ++a)
      for (std::size_t b = 0; b < 3; ++b)
        for (std::size_t c = 0; c < 70001; ++c)
          if (flags[a * 70001 + c]) expected.push_back(bits[b * 70001 + c]);
    EXPECT_EQ(selected.dtype(), dtype);
    EXPECT_EQ(selected.sizes(), (Shape{static_cast<int64_t>(expected.size())}));
    EXPECT_EQ(element_bits(selected), expected);
    // Channels-last operands give the contiguous ones' selection.
    const Tensor image = drawn({2, 3, 4, 5}, dtype, 52), image_mask = drawn_mask({2, 3, 4, 5}, 53);
    EXPECT_EQ(element_bits(ops::masked_select(testing::to_channels_last(image), image_mask)),
              element_bits(ops::masked_select(image, image_mask)));
    EXPECT_EQ(element_bits(ops::masked_select(image, testing::to_channels_last(image_mask))),
              element_bits(ops::masked_select(image, image_mask)));
  }
}

TEST(MaskedScatter, PlacesSourceInRowMajorOrderInEveryDtypeAndFormat) {
  for (const DType dtype : kDtypes) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor t = drawn({3, 70001}, dtype, 60), mask = drawn_mask({70001}, 61);
    const Tensor source = drawn({2, 80000}, dtype, 62);  // more than enough, in another shape
    const std::vector<bool> flags = mask.to_vector<bool>();
    std::vector<uint64_t> expected = element_bits(t);
    const std::vector<uint64_t> from = element_bits(source);
    std::size_t next = 0;
    for (std::size_t i = 0; i < expected.size(); ++i)
      if (flags[i % 70001]) expected[i] = from[next++];
    EXPECT_EQ(element_bits(ops::masked_scatter(t, mask, source)), expected);
    Tensor self = t.clone();
    const uint64_t version = self.version();
    EXPECT_TRUE(ops::masked_scatter_(self, mask, source).is_same(self));
    EXPECT_EQ(element_bits(self), expected);
    EXPECT_GT(self.version(), version);
    // In place on a channels-last self: the row-major order of its values, its memory format kept.
    const Tensor image = drawn({2, 3, 4, 5}, dtype, 63), image_mask = drawn_mask({3, 1, 5}, 64);
    Tensor last = testing::to_channels_last(image);
    ops::masked_scatter_(last, image_mask, source);
    EXPECT_EQ(last.memory_format(), MemoryFormat::ChannelsLast);
    EXPECT_EQ(element_bits(last), element_bits(ops::masked_scatter(image, image_mask, source)));
  }
  // Self as its own source: read before it is written, in any number of tiles (the out-of-place result).
  Tensor own = drawn({3, 70001}, DType::Float32, 65);
  const Tensor own_mask = drawn_mask({3, 70001}, 66), own_expected = ops::masked_scatter(own, own_mask, own);
  ops::masked_scatter_(own, own_mask, own);
  EXPECT_TRUE(testing::same_bits(own.to_vector(), own_expected.to_vector()));
  // Out of place, the mask may broadcast self to a larger shape.
  const Tensor row = from_vector<float>({1.0f, 2.0f, 3.0f}, {3});
  const Tensor mask = from_vector<bool>({true, false, true, false, true, true}, {2, 3});
  const Tensor scattered = ops::masked_scatter(row, mask, from_vector<float>({7.0f, 8.0f, 9.0f, 10.0f}, {4}));
  EXPECT_EQ(scattered.sizes(), (Shape{2, 3}));
  EXPECT_EQ(scattered.to_vector(), (std::vector<float>{7.0f, 2.0f, 8.0f, 1.0f, 9.0f, 10.0f}));
}

TEST(MaskedScatter, RefusalsLeaveSelfAsItWas) {
  Tensor t = from_vector<float>({1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f}, {2, 3});
  const uint64_t version = t.version();
  const Tensor all = from_vector<bool>({true, true, true, true, true, true}, {2, 3});
  const auto refused = [&](const Tensor& mask, const Tensor& source, const std::string& words) {
    EXPECT_TRUE(testing::throws_with([&] { ops::masked_scatter_(t, mask, source); }, words));
    EXPECT_EQ(t.to_vector(), (std::vector<float>{1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f}));
    EXPECT_EQ(t.version(), version);
  };
  refused(all, arange(5), "Number of elements of source < number of ones in mask");
  refused(all, arange(6, TensorOptions().dtype(DType::Int64)),
          "masked_scatter: expected self and source to have same dtypes but gotFloat and Long");
  refused(from_vector<bool>({true, false, true, true}, {4}), arange(6),
          "The expanded size of the tensor (3) must match the existing size (4) at non-singleton dimension 1.  "
          "Target sizes: [2, 3].  Tensor sizes: [4]");
  refused(from_vector<bool>(std::vector<bool>(12, true), {2, 2, 3}), arange(12),
          "expand(CPUBoolType{[2, 2, 3]}, size=[2, 3]): the number of sizes provided (2) must be greater or equal to "
          "the number of dimensions in the tensor (3)");
  // PyTorch 1.13 takes a mask of another dtype and scatters by its bytes; normrt refuses it, as masked_fill_ does.
  refused(ones({2, 3}), arange(6), "masked_scatter_ only supports boolean masks, but got mask with dtype Float");
  EXPECT_TRUE(testing::throws_with(
      [&] {
        ops::masked_select(t, ones({2, 3}));
      },
      "masked_select: expected BoolTensor or ByteTensor for mask"));
  EXPECT_TRUE(testing::throws_with(
      [&] {
        ops::masked_select(t, from_vector<bool>({true, false}, {2}));
      },
      "The size of tensor a (2) must match the size of tensor b (3) at non-singleton "
      "dimension 1"));
  EXPECT_TRUE(testing::throws_with([&] { ops::nonzero(Tensor()); }, "nonzero takes a defined tensor"));
}

TEST(Index, MasksAndIntegersTakeRowsInOrderInEveryDtype) {
  std::mt19937 rng(70);
  for (const DType dtype : kDtypes) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor t = drawn({300, 7, 5}, dtype, 71);
    const std::vector<uint64_t> bits = element_bits(t);
    const Tensor mask = drawn_mask({300, 7}, 72);
    const std::vector<bool> flags = mask.to_vector<bool>();
    std::vector<uint64_t> expected;
    for (std::size_t r = 0; r < flags.size(); ++r)
      if (flags[r]) expected.insert(expected.end(), bits.begin() + 5 * r, bits.begin() + 5 * (r + 1));
    const Tensor by_mask = ops::index(t, mask);
    EXPECT_EQ(by_mask.sizes(), (Shape{static_cast<int64_t>(expected.size() / 5), 5}));
    EXPECT_EQ(element_bits(by_mask), expected);
    // Entries of dim 0, negative ones from its end, repeated, as a (4, 25) index.
    std::vector<int64_t> rows(100);
    for (int64_t& r : rows) r = static_cast<int64_t>(rng() % 600) - 300;
    const Tensor by_rows = ops::index(t, from_vector(rows, {4, 25}));
    EXPECT_EQ(by_rows.sizes(), (Shape{4, 25, 7, 5}));
    expected.clear();
    for (const int64_t r : rows) {
      const auto first = bits.begin() + 35 * (r < 0 ? r + 300 : r);
      expected.insert(expected.end(), first, first + 35);
    }
    EXPECT_EQ(element_bits(by_rows), expected);
    // A mask of several CPU tiles, cut over the threads.
    const Tensor tall = drawn({70001, 3}, dtype, 77), tall_mask = drawn_mask({70001}, 78);
    const std::vector<uint64_t> tall_bits = element_bits(tall);
    const std::vector<bool> tall_flags = tall_mask.to_vector<bool>();
    expected.clear();
    for (std::size_t r = 0; r < tall_flags.size(); ++r)
      if (tall_flags[r]) expected.insert(expected.end(), tall_bits.begin() + 3 * r, tall_bits.begin() + 3 * (r + 1));
    EXPECT_EQ(element_bits(ops::index(tall, tall_mask)), expected);
    // A channels-last tensor gives the contiguous one's rows.
    const Tensor image = drawn({4, 3, 2, 5}, dtype, 73), image_mask = drawn_mask({4, 3}, 74);
    EXPECT_EQ(element_bits(ops::index(testing::to_channels_last(image), image_mask)),
              element_bits(ops::index(image, image_mask)));
  }
}

TEST(IndexPut, RepeatsKeepTheLastOrAddInOrder) {
  // Float32 sums round at each addition, in index order: 2^24 + 1 + 1 stays 2^24 in that order.
  Tensor t = zeros({3, 2});
  const Tensor rows = from_vector<int64_t>({2, 0, 2, 2, -3}, {5});
  const Tensor values = from_vector<float>({16777216.0f, 1.0f, 1.0f, 1.0f, 1.0f, 4.0f, 1.0f, 1.0f, 5.0f, 6.0f}, {5, 2});
  ops::index_put_(t, rows, values, true);
  EXPECT_EQ(t.to_vector(), (std::vector<float>{6.0f, 7.0f, 0.0f, 0.0f, 16777216.0f, 6.0f}));
  const Tensor last = ops::index_put(zeros({3, 2}), rows, values);
  EXPECT_EQ(last.to_vector(), (std::vector<float>{5.0f, 6.0f, 0.0f, 0.0f, 1.0f, 1.0f}));
  // Many rows, a channels-last self written in place: the contiguous result in its memory format.
  const Tensor image = drawn({6, 3, 2, 5}, DType::Float32, 75), mask = drawn_mask({6}, 76);
  Tensor last_format = testing::to_channels_last(image);
  const Tensor value = from_vector<float>({-7.0f}, {1, 1, 1});
  ops::index_put_(last_format, mask, value);
  EXPECT_EQ(last_format.memory_format(), MemoryFormat::ChannelsLast);
  const std::vector<bool> flags = mask.to_vector<bool>();
  std::vector<float> expected = image.to_vector();
  for (std::size_t i = 0; i < expected.size(); ++i)
    if (flags[i / 30]) expected[i] = -7.0f;
  EXPECT_TRUE(testing::same_bits(last_format.contiguous().to_vector(), expected));
}

TEST(IndexPut, RefusalsLeaveSelfAsItWas) {
  Tensor t = from_vector<float>({1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f}, {2, 3});
  const uint64_t version = t.version();
  const auto refused = [&](const Tensor& indices, const Tensor& values, const std::string& words) {
    EXPECT_TRUE(testing::throws_with([&] { ops::index_put_(t, indices, values, true); }, words));
    EXPECT_EQ(t.to_vector(), (std::vector<float>{1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f}));
    EXPECT_EQ(t.version(), version);
  };
  refused(from_vector<int64_t>({0, 2}, {2}), ones({3}), "index 2 is out of bounds for dimension 0 with size 2");
  refused(from_vector<int64_t>({0}, {1}), ones({2}),
          "shape mismatch: value tensor of shape [2] cannot be broadcast to indexing result of shape [1, 3]");
  refused(from_vector<int64_t>({0}, {1}), ones({3}, TensorOptions().dtype(DType::Int64)),
          "Index put requires the source and destination dtypes match, got Float for the destination and Long for "
          "the source.");
  refused(ones({2}), ones({3}), "tensors used as indices must be long, byte or bool tensors");
  refused(from_vector<bool>({true, false, true}, {3}), ones({3}),
          "The shape of the mask [3] at index 0 does not match the shape of the indexed tensor [2, 3] at index 0");
  refused(from_vector<int64_t>({0}, {1}), t,
          "unsupported operation: some elements of the input tensor and the written-to tensor refer to a single "
          "memory location. Please clone() the tensor before performing the operation.");
  // Values with leading ones broadcast as Python's setitem takes them.
  ops::index_put_(t, from_vector<int64_t>({1}, {1}), full({1, 1, 1, 3}, 9.0));
  EXPECT_EQ(t.to_vector(), (std::vector<float>{1.0f, 2.0f, 3.0f, 9.0f, 9.0f, 9.0f}));
}

TEST(BroadcastTo, CopiesEveryElementWhereItBroadcasts) {
  for (const DType dtype : kDtypes) {
    const Tensor t = drawn({3, 1, 5}, dtype, 80);
    const Tensor b = ops::broadcast_to(t, {2, 3, 4, -1});
    EXPECT_EQ(b.sizes(), (Shape{2, 3, 4, 5}));
    const std::vector<uint64_t> bits = element_bits(t), out = element_bits(b);
    for (std::size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], bits[(i / 20 % 3) * 5 + i % 5]) << i;
    EXPECT_EQ(
        ops::broadcast_to(testing::to_channels_last(drawn({2, 3, 2, 2}, dtype, 81)), {2, 3, 2, 2}).memory_format(),
        MemoryFormat::ChannelsLast);
  }
  EXPECT_TRUE(testing::throws_with(
      [] {
        ops::broadcast_to(zeros({2, 1}), {2, -2});
      },
      "expand: a size must be non-negative or -1 (keep the tensor's), got [2, -2]"));
}

}  // namespace
}  // namespace normrt
