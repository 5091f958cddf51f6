// ops::flip, roll, repeat, repeat_interleave, tril and triu: against PyTorch (golden cases in
// make_golden_tensor_ops.py, run by the TensorOpsGolden suite), against each op's index formula written out here over
// random shapes and dtypes, and the memory format PyTorch gives each.
#include <cstdint>
#include <random>
#include <vector>

#include "normrt/ops/rearrange.h"
#include "test_util.h"

namespace normrt {
namespace {

// Row-major coordinates of element e of `shape`.
std::vector<int64_t> unravel(int64_t e, const Shape& shape) {
  std::vector<int64_t> c(shape.size());
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    c[d] = e % shape[d];
    e /= shape[d];
  }
  return c;
}

int64_t ravel(const std::vector<int64_t>& c, const Shape& shape) {
  int64_t e = 0;
  for (std::size_t d = 0; d < shape.size(); ++d) e = e * shape[d] + c[d];
  return e;
}

Shape random_shape(std::mt19937& rng, int rank) {
  Shape s;
  for (int d = 0; d < rank; ++d) s.push_back(1 + static_cast<int64_t>(rng() % 5));
  return s;
}

// Each output element is the input element its formula names (int64 values: exact), for 200 random draws.
TEST(Rearrange, EveryElementComesFromWhereTheFormulaSays) {
  std::mt19937 rng(70);
  for (int trial = 0; trial < 200; ++trial) {
    const int rank = 1 + trial % 4;
    const Shape shape = random_shape(rng, rank);
    int64_t n = 1;
    for (const int64_t s : shape) n *= s;
    std::vector<int64_t> values(static_cast<std::size_t>(n));
    for (auto& v : values) v = static_cast<int64_t>(rng());
    const Tensor x = from_vector(values, shape);
    const int64_t dim = static_cast<int64_t>(rng() % rank), other = (dim + 1) % rank;
    const int64_t shift = static_cast<int64_t>(rng() % 13) - 6, times = static_cast<int64_t>(rng() % 4);

    const std::vector<int64_t> dims =
        other == dim ? std::vector<int64_t>{dim - rank} : std::vector<int64_t>{dim, other};
    const std::vector<int64_t> flipped = ops::flip(x, dims).to_vector<int64_t>();
    const std::vector<int64_t> rolled = ops::roll(x, {shift}, {dim}).to_vector<int64_t>();
    for (int64_t e = 0; e < n; ++e) {
      std::vector<int64_t> c = unravel(e, shape), f = c, r = c;
      f[dim] = shape[dim] - 1 - c[dim];
      if (other != dim) f[other] = shape[other] - 1 - c[other];
      r[dim] = ((c[dim] - shift) % shape[dim] + shape[dim]) % shape[dim];
      ASSERT_EQ(flipped[e], values[ravel(f, shape)]) << shape_str(shape) << " flip at " << e;
      ASSERT_EQ(rolled[e], values[ravel(r, shape)]) << shape_str(shape) << " roll at " << e;
    }

    std::vector<int64_t> repeats(static_cast<std::size_t>(rank));
    for (auto& k : repeats) k = static_cast<int64_t>(rng() % 3) + (trial % 7 == 0 ? 0 : 1);
    const Tensor tiled = ops::repeat(x, repeats);
    Shape tiled_shape;
    for (int d = 0; d < rank; ++d) tiled_shape.push_back(shape[d] * repeats[d]);
    ASSERT_EQ(tiled.sizes(), tiled_shape);
    const std::vector<int64_t> tiles = tiled.to_vector<int64_t>();
    for (int64_t e = 0; e < static_cast<int64_t>(tiles.size()); ++e) {
      std::vector<int64_t> c = unravel(e, tiled_shape);
      for (int d = 0; d < rank; ++d) c[d] %= shape[d];
      ASSERT_EQ(tiles[e], values[ravel(c, shape)]) << "repeat at " << e;
    }

    const Tensor stretched = ops::repeat_interleave(x, times, dim);
    Shape stretched_shape = shape;
    stretched_shape[dim] *= times;
    ASSERT_EQ(stretched.sizes(), stretched_shape);
    std::vector<int64_t> counts(static_cast<std::size_t>(shape[dim]));
    for (auto& k : counts) k = static_cast<int64_t>(rng() % 4);
    const Tensor uneven = ops::repeat_interleave(x, from_vector(counts, {shape[dim]}), dim);
    const std::vector<int64_t> stretch = stretched.to_vector<int64_t>(), spread = uneven.to_vector<int64_t>();
    for (int64_t e = 0; e < static_cast<int64_t>(stretch.size()); ++e) {
      std::vector<int64_t> c = unravel(e, stretched_shape);
      c[dim] /= times;
      ASSERT_EQ(stretch[e], values[ravel(c, shape)]) << "repeat_interleave at " << e;
    }
    std::vector<int64_t> source;  // the input's index along dim of each output index
    for (std::size_t i = 0; i < counts.size(); ++i) source.insert(source.end(), counts[i], static_cast<int64_t>(i));
    Shape spread_shape = shape;
    spread_shape[dim] = static_cast<int64_t>(source.size());
    ASSERT_EQ(uneven.sizes(), spread_shape);
    for (int64_t e = 0; e < static_cast<int64_t>(spread.size()); ++e) {
      std::vector<int64_t> c = unravel(e, spread_shape);
      c[dim] = source[c[dim]];
      ASSERT_EQ(spread[e], values[ravel(c, shape)]) << "repeat_interleave by counts at " << e;
    }
    if (rank < 2) continue;
    const int64_t diagonal = static_cast<int64_t>(rng() % 7) - 3;
    const std::vector<int64_t> lower = ops::tril(x, diagonal).to_vector<int64_t>(),
                               upper = ops::triu(x, diagonal).to_vector<int64_t>();
    for (int64_t e = 0; e < n; ++e) {
      const std::vector<int64_t> c = unravel(e, shape);
      const int64_t offset = c[rank - 1] - c[rank - 2];
      ASSERT_EQ(lower[e], offset <= diagonal ? values[e] : 0) << "tril at " << e;
      ASSERT_EQ(upper[e], offset >= diagonal ? values[e] : 0) << "triu at " << e;
    }
  }
}

// Over 2^16 elements (the CPU's rows over the threads), blocks of one element and of many: flip and roll by the
// formula.
TEST(Rearrange, LargeFlipsAndRollsFollowTheFormula) {
  const Shape shape = {2, 3, 129, 101};
  const int64_t n = 2 * 3 * 129 * 101;
  std::vector<int64_t> values(static_cast<std::size_t>(n));
  for (int64_t e = 0; e < n; ++e) values[e] = e * 7919;
  const Tensor x = from_vector(values, shape);
  const struct {
    std::vector<int64_t> flip_dims, shifts, roll_dims;
  } draws[] = {{{0, 2}, {5, -3, 1}, {2, 3, 0}}, {{3}, {-200}, {1}}, {{1, 3}, {130, 7}, {2, 2}}};
  for (const auto& draw : draws) {
    const std::vector<int64_t> flipped = ops::flip(x, draw.flip_dims).to_vector<int64_t>();
    const std::vector<int64_t> rolled = ops::roll(x, draw.shifts, draw.roll_dims).to_vector<int64_t>();
    for (int64_t e = 0; e < n; ++e) {
      const std::vector<int64_t> c = unravel(e, shape);
      std::vector<int64_t> f = c, r = c;
      for (const int64_t d : draw.flip_dims) f[d] = shape[d] - 1 - c[d];
      for (std::size_t k = 0; k < draw.shifts.size(); ++k) {
        const int64_t d = draw.roll_dims[k];
        r[d] = ((r[d] - draw.shifts[k]) % shape[d] + shape[d]) % shape[d];
      }
      ASSERT_EQ(flipped[e], values[ravel(f, shape)]) << "flip at " << e;
      ASSERT_EQ(rolled[e], values[ravel(r, shape)]) << "roll at " << e;
    }
  }
}

// flip and roll keep a channels-last input's format, the others are contiguous (PyTorch's); every result is a tensor
// of its own, even where nothing moves.
TEST(Rearrange, KeepPyTorchsMemoryFormatsAndOwnTheirResults) {
  Generator gen(71);
  const Tensor x = randn({2, 3, 4, 5}, gen).to(MemoryFormat::ChannelsLast);
  EXPECT_EQ(ops::flip(x, {1}).memory_format(), MemoryFormat::ChannelsLast);
  EXPECT_EQ(ops::roll(x, {1}, {3}).memory_format(), MemoryFormat::ChannelsLast);
  EXPECT_EQ(ops::roll(x, {1}).memory_format(), MemoryFormat::Contiguous);  // the flattened tensor's
  EXPECT_EQ(ops::repeat(x, {1, 1, 1, 1}).memory_format(), MemoryFormat::Contiguous);
  EXPECT_EQ(ops::repeat_interleave(x, 2, 1).memory_format(), MemoryFormat::Contiguous);
  EXPECT_EQ(ops::tril(x).memory_format(), MemoryFormat::Contiguous);
  const Tensor y = randn({3, 4}, gen);
  const std::vector<float> before = y.to_vector();
  for (Tensor r : {ops::flip(y, {}), ops::roll(y, {0}, {1}), ops::repeat(y, {1, 1}), ops::repeat_interleave(y, 1, 0),
                   ops::tril(y, 9)}) {
    r.fill_(7.0);
    EXPECT_EQ(y.to_vector(), before);
  }
  EXPECT_EQ(ops::repeat_interleave(from_vector(std::vector<int64_t>{2, 0, 1}, {3})).to_vector<int64_t>(),
            std::vector<int64_t>({0, 0, 2}));
}

}  // namespace
}  // namespace normrt
