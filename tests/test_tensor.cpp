#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "test_util.h"

namespace normrt {
namespace {

using testing::throws_with;

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "normrt_" + std::to_string(::getpid()) + "_" + name;
}

TEST(Tensor, FactoriesShapesAndValues) {
  const Tensor z = zeros({2, 3});
  EXPECT_EQ(z.sizes(), (Shape{2, 3}));
  EXPECT_EQ(z.numel(), 6);
  EXPECT_EQ(z.dtype(), DType::Float32);
  EXPECT_TRUE(z.device().is_cpu());
  EXPECT_EQ(z.memory_format(), MemoryFormat::Contiguous);
  EXPECT_EQ(z.to_vector(), std::vector<float>(6, 0.0f));
  EXPECT_EQ(ones({4}).to_vector(), std::vector<float>(4, 1.0f));
  EXPECT_EQ(full({2}, 2.5).to_vector(), (std::vector<float>{2.5f, 2.5f}));
  EXPECT_EQ(arange(5).to_vector(), (std::vector<float>{0, 1, 2, 3, 4}));
  EXPECT_EQ(arange(1.0, 2.0, 0.25).to_vector(), (std::vector<float>{1.0f, 1.25f, 1.5f, 1.75f}));
  EXPECT_EQ(arange(3.0, 0.0, -1.0).to_vector(), (std::vector<float>{3, 2, 1}));
  EXPECT_EQ(zeros({}).numel(), 1);  // a 0-dim tensor holds one value
  EXPECT_EQ(zeros({0, 3}).numel(), 0);
  const Tensor i = full({3}, 7, TensorOptions().dtype(DType::Int64));
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{7, 7, 7}));
  EXPECT_EQ(zeros({1}, TensorOptions().dtype(DType::Int64)).item<int64_t>(), 0);
}

TEST(Tensor, SizeAcceptsNegativeDims) {
  const Tensor t = zeros({2, 3, 4});
  EXPECT_EQ(t.size(-1), 4);
  EXPECT_EQ(t.size(0), 2);
  EXPECT_TRUE(throws_with([&] { (void)t.size(3); }, "Dimension out of range"));
}

TEST(Tensor, SharedStorageCloneAndCopy) {
  Tensor a = arange(6);
  Tensor alias = a;
  Tensor view = a.reshape({2, -1});
  EXPECT_EQ(view.sizes(), (Shape{2, 3}));
  Tensor copy = a.clone();
  a.data<float>()[0] = 42.0f;
  EXPECT_EQ(alias.to_vector()[0], 42.0f);
  EXPECT_EQ(view.to_vector()[0], 42.0f);
  EXPECT_EQ(copy.to_vector()[0], 0.0f);
  copy.copy_(a);
  EXPECT_EQ(copy.to_vector()[0], 42.0f);
  EXPECT_TRUE(a.to(Device::cpu()).is_same(a));
}

// detail::leading_rows (the BatchNorm ops' outputs in one allocation) is a view: writes through it reach the base and
// the other way round, the version counter is shared, reshape and set_data keep the offset, channels-last tensors
// give whole images.
TEST(Tensor, LeadingRowsAreAView) {
  Tensor base = arange(24).reshape({4, 2, 3});
  Tensor middle = detail::leading_rows(base, 1, 2);
  EXPECT_EQ(middle.sizes(), (Shape{2, 2, 3}));
  std::vector<float> want(12);
  for (int i = 0; i < 12; ++i) want[static_cast<std::size_t>(i)] = static_cast<float>(6 + i);
  EXPECT_EQ(middle.to_vector(), want);
  EXPECT_EQ(detail::leading_rows(base, 3, 1).to_vector(), (std::vector<float>{18, 19, 20, 21, 22, 23}));
  EXPECT_EQ(detail::leading_rows(base, 4, 0).sizes(), (Shape{0, 2, 3}));  // an empty view at the end
  const uint64_t version = base.version();
  middle.copy_(full({2, 2, 3}, -1.0));
  EXPECT_EQ(base.to_vector()[5], 5.0f);
  EXPECT_EQ(base.to_vector()[6], -1.0f);
  EXPECT_EQ(base.to_vector()[17], -1.0f);
  EXPECT_EQ(base.to_vector()[18], 18.0f);
  EXPECT_GT(base.version(), version);  // one counter for the storage
  base.data<float>()[12] = 7.0f;
  EXPECT_EQ(middle.to_vector()[6], 7.0f);
  Tensor flat = detail::leading_rows(middle.reshape({-1}), 6, 3);  // a view of a view
  EXPECT_EQ(flat.to_vector(), (std::vector<float>{7, -1, -1}));
  Tensor holder = zeros({3});
  holder.set_data(flat);
  EXPECT_EQ(holder.to_vector(), (std::vector<float>{7, -1, -1}));
  Tensor nhwc = arange(2 * 3 * 2 * 2).reshape({2, 3, 2, 2}).to(MemoryFormat::ChannelsLast);
  const Tensor second = detail::leading_rows(nhwc, 1, 1);
  EXPECT_EQ(second.memory_format(), MemoryFormat::ChannelsLast);
  const std::vector<float> all = nhwc.contiguous().to_vector();  // logical order
  EXPECT_EQ(second.contiguous().to_vector(), std::vector<float>(all.begin() + 12, all.end()));
  EXPECT_TRUE(throws_with([&] { detail::leading_rows(base, 3, 2); }, "leading_rows: rows [3, 5) of a tensor with 4"));
  EXPECT_TRUE(throws_with([&] { detail::leading_rows(base, -1, 1); }, "leading_rows: rows [-1, 0) of a tensor with 4"));
  EXPECT_TRUE(throws_with([] { detail::leading_rows(zeros({}), 0, 0); }, "leading_rows: a 0-dim tensor has no rows"));
}

TEST(Tensor, BadShapesAndDtypesThrow) {
  EXPECT_TRUE(throws_with([] { zeros({1, 2, 3, 4, 5, 6}); }, "at most 5 dimensions"));
  // PyTorch 1.13's words (torch.zeros, and reshape's infer_size in its order).
  EXPECT_TRUE(throws_with([] { zeros({2, -3}); }, "Trying to create tensor with negative dimension -3: [2, -3]"));
  EXPECT_TRUE(throws_with([] { arange(6).reshape({4, -1}); }, "shape '[4, -1]' is invalid for input of size 6"));
  EXPECT_TRUE(throws_with([] { arange(6).reshape({-1, -1}); }, "only one dimension can be inferred"));
  EXPECT_TRUE(throws_with([] { arange(6).reshape({-2, -1, -1}); }, "invalid shape dimension -2"));
  EXPECT_TRUE(throws_with([] { zeros({2, 0}).reshape({-1, 0}); },
                          "cannot reshape tensor of 0 elements into shape [-1, 0] because the unspecified dimension "
                          "size -1 can be any value and is ambiguous"));
  EXPECT_TRUE(throws_with([] { zeros({2, 0}).reshape({0, -1, 3}); }, "cannot reshape tensor of 0 elements"));
  EXPECT_EQ(zeros({2, 0}).reshape({-1, 3, 2}).sizes(), (Shape{0, 3, 2}));
  EXPECT_EQ(arange(6).reshape({-1, 3}).sizes(), (Shape{2, 3}));
  EXPECT_TRUE(throws_with([] { zeros({2}, TensorOptions().dtype(DType::Float16)).data<float>(); },
                          "expected a tensor of dtype float32 but got float16"));
  EXPECT_TRUE(throws_with([] { randn({2}, TensorOptions().dtype(DType::Int64)); }, "int64 is not a floating dtype"));
  EXPECT_TRUE(throws_with([] { zeros({2}).data<int64_t>(); }, "expected a tensor of dtype int64"));
  EXPECT_TRUE(throws_with([] { Tensor a = zeros({2}); a.copy_(zeros({3})); }, "shape mismatch"));
  EXPECT_TRUE(throws_with([] { Tensor().sizes(); }, "undefined tensor"));
  EXPECT_TRUE(throws_with([] { from_vector(std::vector<float>{1, 2}, {3}); }, "do not fill shape [3]"));
  EXPECT_TRUE(throws_with([] { arange(4).item(); }, "cannot be converted to Scalar"));
  EXPECT_TRUE(throws_with([] { arange(0.0, 1.0, 0.0); }, "step must be nonzero"));
}

// PyTorch 1.13's .to() on a CPU for the same values: int64 rounds through float32 to the 16-bit types; floats truncate
// toward zero, NaN, infinities and values beyond int64's range giving INT64_MIN.
TEST(Tensor, Int64ConvertsToAndFromEveryFloatingDtypeAsPyTorch) {
  const Tensor n = from_vector(std::vector<int64_t>{(int64_t{1} << 53) + 1, -((int64_t{1} << 24) + 1), 65519, 65520,
                                                     (int64_t{1} << 24) + 3},
                               {5});
  EXPECT_EQ(n.to(DType::Float32).to_vector(),
            (std::vector<float>{9007199254740992.0f, -16777216.0f, 65519.0f, 65520.0f, 16777220.0f}));
  EXPECT_EQ(n.to(DType::Float16).to(DType::Float32).to_vector(),
            (std::vector<float>{INFINITY, -INFINITY, 65504.0f, INFINITY, INFINITY}));
  EXPECT_EQ(n.to(DType::BFloat16).to(DType::Float32).to_vector(),
            (std::vector<float>{9007199254740992.0f, -16777216.0f, 65536.0f, 65536.0f, 16777216.0f}));
  const Tensor x = from_vector(std::vector<float>{NAN, INFINITY, -INFINITY, 1e30f, -1e30f, 2.7f, -2.7f, 9.3e18f,
                                                  -9.3e18f, -9223372036854775808.0f, 0.99f},
                               {11});
  const std::vector<int64_t> truncated = {INT64_MIN, INT64_MIN, INT64_MIN, INT64_MIN, INT64_MIN, 2, -2,
                                          INT64_MIN, INT64_MIN, INT64_MIN, 0};
  for (DType dtype : {DType::Float32, DType::Float16, DType::BFloat16}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor converted = x.to(dtype).to(DType::Int64);
    EXPECT_EQ(converted.dtype(), DType::Int64);
    EXPECT_EQ(converted.to_vector<int64_t>(), truncated);
  }
}

TEST(Tensor, CudaWithoutDeviceThrowsCleanly) {
  if (cuda::is_available()) GTEST_SKIP() << "a CUDA device is present; covered by the gpu suite";
  EXPECT_TRUE(throws_with([] { zeros({2}, Device::cuda(0)); }, "cuda:0"));
  EXPECT_TRUE(throws_with([] { arange(3).to(Device::cuda(0)); }, "cuda:0"));
}

TEST(Generator, SeededAndReproducible) {
  Generator a(7), b(7), c(8);
  const auto va = randn({1000}, a).to_vector();
  const auto vb = randn({1000}, b).to_vector();
  const auto vc = randn({1000}, c).to_vector();
  EXPECT_EQ(va, vb);
  EXPECT_NE(va, vc);
  // Moments of 1000 standard normals: mean within ~4 standard errors, variance within 15%.
  double mean = 0, sq = 0;
  for (float v : va) mean += v;
  mean /= 1000;
  for (float v : va) sq += (v - mean) * (v - mean);
  EXPECT_LT(std::fabs(mean), 4.0 / std::sqrt(1000.0));
  EXPECT_NEAR(sq / 999, 1.0, 0.15);
  const auto u = rand({1001}, a).to_vector();
  for (float v : u) {
    EXPECT_GE(v, 0.0f);
    EXPECT_LT(v, 1.0f);
  }
}

TEST(Generator, StateRestoresTheStream) {
  Generator g(3);
  (void)rand({10}, g);
  const uint64_t seed = g.seed(), offset = g.offset();
  const auto first = rand({17}, g).to_vector();
  g.set_state(seed, offset);
  EXPECT_EQ(rand({17}, g).to_vector(), first);
}

// Draws large enough to be generated in parallel chunks are the stream's values in order: the same as draws of
// 4096 (one thread each, a whole number of blocks) one after another, and they consume the same blocks.
TEST(Generator, ParallelDrawsAreTheSequentialStream) {
  for (bool normal : {false, true}) {
    const int64_t count = 200003;
    Generator whole(21), pieces(21);
    (void)rand({3}, whole);  // not starting at block 0
    (void)rand({3}, pieces);
    auto draw = [&](int64_t n, Generator& g) { return (normal ? randn({n}, g) : rand({n}, g)).to_vector(); };
    const std::vector<float> all = draw(count, whole);
    std::vector<float> sequential;
    for (int64_t done = 0; done < count; done += 4096) {
      const std::vector<float> part = draw(std::min<int64_t>(4096, count - done), pieces);
      sequential.insert(sequential.end(), part.begin(), part.end());
    }
    EXPECT_EQ(all, sequential) << normal;
    EXPECT_EQ(whole.offset(), pieces.offset());
  }
}

// randn is Box-Muller on the stream's words, computed in float: each pair of words (a, b) of block i gives
// r cos(2 pi u2), r sin(2 pi u2), r = sqrt(-2 ln u1), u1 = (a >> 8 + 1) / 2^24, u2 = (b >> 8) / 2^24. Against the
// same formula in double, within float_math's bounds carried through (a few ulps of r).
TEST(Generator, NormalIsBoxMullerOfTheStreamsWords) {
  Generator g(31);
  (void)rand({5}, g);
  const uint64_t first = g.offset();
  const int64_t count = 300001;  // parallel chunks and a ragged end
  const std::vector<float> z = randn({count}, g).to_vector();
  EXPECT_EQ(g.offset(), first + (count + 3) / 4);
  double worst = 0;
  for (int64_t i = 0; i < count; i += 2) {
    const auto block = Generator::philox(g.seed(), 0, first + static_cast<uint64_t>(i / 4));
    const double u1 = (static_cast<double>(block[i % 4] >> 8) + 1.0) / 16777216.0;
    const double u2 = static_cast<double>(block[i % 4 + 1] >> 8) / 16777216.0;
    const double radius = std::sqrt(-2.0 * std::log(u1));
    const double exact[] = {radius * std::cos(2.0 * M_PI * u2), radius * std::sin(2.0 * M_PI * u2)};
    for (int64_t j = i; j < std::min(i + 2, count); ++j)
      worst = std::max(worst, std::fabs(z[j] - exact[j - i]) / (std::max(radius, 1e-3) * 0x1p-24));
  }
  EXPECT_LE(worst, 4.0);
}

// Host copies large enough to be sliced over the threads (a ragged last slice) move every byte.
TEST(Tensor, LargeHostCopiesMoveEveryByte) {
  Generator g(22);
  const Tensor x = randn({1300001}, g);
  const Tensor copy = x.clone();
  EXPECT_EQ(std::memcmp(copy.raw_data(), x.raw_data(), x.nbytes()), 0);
  Tensor into = zeros({1300001});
  into.copy_(x);
  EXPECT_EQ(std::memcmp(into.raw_data(), x.raw_data(), x.nbytes()), 0);
}

TEST(Generator, PhiloxKnownAnswer) {
  // Known-answer vector of the Philox4x32-10 paper's reference implementation (Random123 kat_vectors):
  // counter = key = 0 -> 6627e8d5 e169c58d bc57ac4c 9b00dbd8.
  const auto block = Generator::philox(0, 0, 0);
  EXPECT_EQ(block[0], 0x6627e8d5u);
  EXPECT_EQ(block[1], 0xe169c58du);
  EXPECT_EQ(block[2], 0xbc57ac4cu);
  EXPECT_EQ(block[3], 0x9b00dbd8u);
  // counter = all ones, key = all ones -> 408f276d 41c83b0e a20bc7c6 6d5451fd.
  const auto ones_block = Generator::philox(~uint64_t{0}, ~uint64_t{0}, ~uint64_t{0});
  EXPECT_EQ(ones_block[0], 0x408f276du);
  EXPECT_EQ(ones_block[1], 0x41c83b0eu);
  EXPECT_EQ(ones_block[2], 0xa20bc7c6u);
  EXPECT_EQ(ones_block[3], 0x6d5451fdu);
}

TEST(Npy, RoundTripFloatAndInt) {
  Generator g(1);
  const Tensor a = randn({2, 3, 4}, g);
  const std::string path = temp_path("a.npy");
  save_npy(path, a);
  const Tensor b = load_npy(path);
  EXPECT_EQ(b.sizes(), a.sizes());
  EXPECT_EQ(b.to_vector(), a.to_vector());
  const Tensor i = from_vector(std::vector<int64_t>{5, -6, 7}, {3});
  save_npy(path, i);
  EXPECT_EQ(load_npy(path).to_vector<int64_t>(), (std::vector<int64_t>{5, -6, 7}));
  const Tensor scalar = full({}, 3.0);
  save_npy(path, scalar);
  EXPECT_EQ(load_npy(path).dim(), 0);
  std::remove(path.c_str());
}

TEST(Npy, BrokenFilesNameTheProblem) {
  const std::string path = temp_path("bad.npy");
  EXPECT_TRUE(throws_with([&] { load_npy(path + ".missing"); }, "cannot open"));
  {
    std::ofstream(path, std::ios::binary) << "not numpy at all";
  }
  EXPECT_TRUE(throws_with([&] { load_npy(path); }, "bad magic"));
  save_npy(path, arange(100));
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size() - 8));
  }
  EXPECT_TRUE(throws_with([&] { load_npy(path); }, "truncated data"));
  std::string f8 = bytes;
  f8.replace(f8.find("<f4"), 3, "<f8");
  {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << f8;
  }
  EXPECT_TRUE(throws_with([&] { load_npy(path); }, "unsupported dtype '<f8'"));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace normrt
