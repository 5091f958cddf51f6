// Float16 and bfloat16 tensors: conversions against PyTorch's (tests/golden/make_golden_dtypes.py), every float16
// bit pattern, factories, printing, .npy / safetensors / DLPack round trips, and ops that refuse them.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "normrt/dlpack.h"
#include "normrt/normrt.h"
#include "normrt/npy.h"
#include "normrt/serialize.h"
#include "test_util.h"

namespace normrt {
namespace {

using testing::throws_with;

std::string golden(const std::string& file) {
  return std::string(NORMRT_SOURCE_DIR) + "/tests/golden/data_dtypes/" + file;
}

template <typename T>
std::vector<uint16_t> bits_of(const std::vector<T>& values) {
  std::vector<uint16_t> out;
  for (const T& v : values) out.push_back(v.bits);
  return out;
}

uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

// Every bit pattern of a 16-bit type.
template <typename T>
std::vector<T> every_pattern() {
  std::vector<T> out;
  for (uint32_t b = 0; b < 65536; ++b) out.push_back(T::from_bits(static_cast<uint16_t>(b)));
  return out;
}

TEST(Dtypes, FloatToHalfAndBFloat16RoundsAsPyTorch) {
  const Tensor x = load_npy(golden("values.npy"));
  const Tensor half_ref = load_npy(golden("to_float16.npy")), bf16_ref = load_npy(golden("to_bfloat16.npy"));
  ASSERT_EQ(half_ref.dtype(), DType::Float16);   // '<f2' written by NumPy
  ASSERT_EQ(bf16_ref.dtype(), DType::BFloat16);  // '<u2': the bits
  const auto x_values = x.to_vector();
  const auto half = bits_of(x.to(DType::Float16).to_vector<Half>()), want_half = bits_of(half_ref.to_vector<Half>());
  const auto bf16 = bits_of(x.to(DType::BFloat16).to_vector<BFloat16>());
  const auto want_bf16 = bits_of(bf16_ref.to_vector<BFloat16>());
  int wrong = 0;
  for (std::size_t i = 0; i < x_values.size() && wrong < 10; ++i) {
    if (half[i] != want_half[i]) {
      ++wrong;
      ADD_FAILURE() << "float16 of " << x_values[i] << " (0x" << std::hex << float_bits(x_values[i]) << "): 0x"
                    << half[i] << ", PyTorch 0x" << want_half[i] << std::dec;
    }
    // NaN by class for bfloat16: PyTorch 1.13's vectorised CPU conversion gives 0xFFFF, its scalar one (and normrt)
    // the quiet NaN 0x7FC0.
    const bool both_nan = (want_bf16[i] & 0x7fffu) > 0x7f80u && (bf16[i] & 0x7fffu) > 0x7f80u;
    if (bf16[i] != want_bf16[i] && !both_nan) {
      ++wrong;
      ADD_FAILURE() << "bfloat16 of " << x_values[i] << " (0x" << std::hex << float_bits(x_values[i]) << "): 0x"
                    << bf16[i] << ", PyTorch 0x" << want_bf16[i] << std::dec;
    }
  }
}

TEST(Dtypes, EveryFloat16ValueConvertsExactly) {
  const auto patterns = every_pattern<Half>();
  const auto as_float = from_vector(patterns, {65536}).to(DType::Float32).to_vector();
  const auto want = load_npy(golden("float16_all_as_float32.npy")).to_vector();
  for (std::size_t b = 0; b < patterns.size(); ++b) {
    if (std::isnan(want[b])) {
      ASSERT_TRUE(std::isnan(as_float[b])) << "pattern 0x" << std::hex << b;
      continue;
    }
    ASSERT_EQ(float_bits(as_float[b]), float_bits(want[b])) << "pattern 0x" << std::hex << b;
    // And back: every float16 value is a float32 value that rounds to itself.
    ASSERT_EQ(Half(as_float[b]).bits, b) << "pattern 0x" << std::hex << b;
  }
}

TEST(Dtypes, BFloat16IsTheTopHalfOfFloat32) {
  const auto patterns = every_pattern<BFloat16>();
  const auto as_float = from_vector(patterns, {65536}).to(DType::Float32).to_vector();
  for (uint32_t b = 0; b < 65536; ++b) {
    ASSERT_EQ(float_bits(as_float[b]), b << 16);
    if (!std::isnan(as_float[b])) ASSERT_EQ(BFloat16(as_float[b]).bits, b);
  }
  // Between the 16-bit types, through float: bfloat16 -> float16 rounds like float32 -> float16.
  const Tensor values = load_npy(golden("values.npy"));
  const Tensor via_bf16 = values.to(DType::BFloat16);
  EXPECT_EQ(bits_of(via_bf16.to(DType::Float16).to_vector<Half>()),
            bits_of(via_bf16.to(DType::Float32).to(DType::Float16).to_vector<Half>()));
  EXPECT_EQ(bits_of(values.to(DType::Float16).to(DType::BFloat16).to_vector<BFloat16>()),
            bits_of(values.to(DType::Float16).to(DType::Float32).to(DType::BFloat16).to_vector<BFloat16>()));
}

TEST(Dtypes, FactoriesRoundTheirFloat32Values) {
  for (DType dtype : {DType::Float16, DType::BFloat16}) {
    SCOPED_TRACE(dtype_name(dtype));
    const TensorOptions options = TensorOptions().dtype(dtype);
    EXPECT_EQ(zeros({3}, options).dtype(), dtype);
    EXPECT_EQ(ones({2, 2}, options).to(DType::Float32).to_vector(), std::vector<float>(4, 1.0f));
    // 0.1 = 1.6 x 2^-4: float16 exponent 11, mantissa 0.6 x 1024 = 614.4 -> 614 (0x2E66); bfloat16 keeps the top
    // half of float32 0x3DCCCCCD, rounded up past the halfway 0x8000 (0x3DCD).
    const Tensor tenth = full({2}, 0.1, options);
    const uint16_t tenth_bits =
        dtype == DType::Float16 ? tenth.to_vector<Half>()[1].bits : tenth.to_vector<BFloat16>()[1].bits;
    EXPECT_EQ(tenth_bits, dtype == DType::Float16 ? 0x2E66 : 0x3DCD);
    EXPECT_EQ(arange(0.0, 3.0, 0.5, options).to(DType::Float32).to_vector(),
              arange(0.0, 3.0, 0.5).to(DType::Float32).to_vector());  // exact in both formats
    Generator a(5), b(5);
    EXPECT_EQ(randn({7}, a, options).to(DType::Float32).to_vector(),
              randn({7}, b).to(dtype).to(DType::Float32).to_vector());
    const Tensor r = randn({3}, options);
    EXPECT_TRUE(r.to(dtype).is_same(r));
    const Tensor e = empty({0, 4}, options);
    EXPECT_EQ(e.to(DType::Float32).numel(), 0);
    EXPECT_TRUE(e.to(dtype).is_same(e));
  }
}

TEST(Dtypes, RefusedDrawsLeaveTheGeneratorWhereItWas) {
  Generator refused(5), fresh(5);
  EXPECT_TRUE(throws_with([&] { randn({4}, refused, TensorOptions().dtype(DType::Int64)); }, "not a floating dtype"));
  EXPECT_TRUE(throws_with([&] { rand({4}, refused, TensorOptions().dtype(DType::Int64)); }, "not a floating dtype"));
  EXPECT_EQ(randn({3}, refused).to_vector(), randn({3}, fresh).to_vector());
}

TEST(Dtypes, PrintsAsPyTorch) {
  std::ostringstream half, bf16, empty_half;
  half << from_vector(std::vector<float>{1.0f, 2.5f, -0.125f}, {3}).to(DType::Float16);
  bf16 << ones({2}, TensorOptions().dtype(DType::BFloat16));
  empty_half << zeros({0}, TensorOptions().dtype(DType::Float16));
  EXPECT_EQ(half.str(), "tensor([ 1.0000,  2.5000, -0.1250], dtype=torch.float16)");
  EXPECT_EQ(bf16.str(), "tensor([1., 1.], dtype=torch.bfloat16)");
  EXPECT_EQ(empty_half.str(), "tensor([], dtype=torch.float16)");
}

TEST(Dtypes, NpySafetensorsAndDlpackKeepTheBits) {
  const Tensor values = load_npy(golden("values.npy"));
  for (DType dtype : {DType::Float16, DType::BFloat16}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor t = values.to(dtype).reshape({2, -1});
    const Tensor back = decode_npy(encode_npy(t), "t.npy");
    EXPECT_EQ(back.dtype(), dtype);
    EXPECT_EQ(back.sizes(), t.sizes());
    EXPECT_EQ(std::memcmp(back.raw_data(), t.raw_data(), t.nbytes()), 0);

    const nn::NamedTensors named = decode_safetensors(encode_safetensors({{"t", t}}), "t.safetensors");
    ASSERT_EQ(named.size(), 1u);
    EXPECT_EQ(named[0].second.dtype(), dtype);
    EXPECT_EQ(std::memcmp(named[0].second.raw_data(), t.raw_data(), t.nbytes()), 0);

    const Tensor shared = from_dlpack(to_dlpack(t));
    EXPECT_EQ(shared.dtype(), dtype);
    EXPECT_EQ(shared.raw_data(), t.raw_data());
  }
  const std::string header = encode_npy(ones({1}, TensorOptions().dtype(DType::Float16)));
  EXPECT_NE(header.find("'descr': '<f2'"), std::string::npos);
  EXPECT_NE(encode_npy(ones({1}, TensorOptions().dtype(DType::BFloat16))).find("'descr': '<u2'"), std::string::npos);
}

TEST(Dtypes, OpsSayWhichDtypeTheyGot) {
  const Tensor x = randn({4, 3}).to(DType::Float16);
  Tensor rm = zeros({3}), rv = ones({3});
  const Tensor integers = zeros({4, 3}, TensorOptions().dtype(DType::Int64));
  EXPECT_TRUE(throws_with(
      [&] { ops::batch_norm_forward_training(integers, Tensor(), Tensor(), rm, rv, Tensor(), 0.1, 1e-5); },
      "input must be float32, float16 or bfloat16, got int64"));
  EXPECT_EQ((x + x).dtype(), DType::Float16);  // arithmetic computes 16-bit operands in float32 (test_autocast.cpp)
  EXPECT_EQ(ops::sum(x, 0).dtype(), DType::Float16);  // reductions take every dtype (test_tensor_basics.cpp)
  EXPECT_TRUE(throws_with([&] { ops::softmax(integers + integers, 0, false); },
                          "\"softmax_kernel_impl\" not implemented for 'Long'"));
  EXPECT_EQ(rm.to_vector(), std::vector<float>(3, 0.0f));  // state untouched
}

}  // namespace
}  // namespace normrt
