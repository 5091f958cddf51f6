// Channels-last tensors: the memory order against index arithmetic, conversions both ways, what keeps the format,
// the ops that read it in logical order, optimizers over channels-last parameters, and saving / DLPack in logical
// order or with channels-last strides.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "nn_math.cuh"
#include "normrt/dlpack.h"
#include "normrt/normrt.h"
#include "normrt/npy.h"
#include "normrt/serialize.h"
#include "test_util.h"

namespace normrt {
namespace {

using testing::throws_with;

// The elements of a row-major (N, C, spatial...) array in channels-last memory order: (N, spatial..., C).
std::vector<float> channels_last_order(const std::vector<float>& logical, const Shape& shape) {
  const int64_t n = shape[0], c = shape[1], s = shape_numel(shape) / (n * c);
  std::vector<float> out(logical.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < c; ++j)
      for (int64_t k = 0; k < s; ++k) out[(i * s + k) * c + j] = logical[(i * c + j) * s + k];
  return out;
}

std::vector<float> memory_of(const Tensor& t) {
  const Tensor host = t.to(Device::cpu());
  std::vector<float> out(static_cast<std::size_t>(host.numel()));
  std::memcpy(out.data(), host.raw_data(), host.nbytes());
  return out;
}

TEST(MemoryFormat, ChannelsLastLaysChannelsInnermost) {
  for (const Shape& shape : {Shape{2, 3, 4, 5}, Shape{1, 1, 1, 1}, Shape{3, 7, 1, 2}, Shape{2, 3, 2, 3, 4}}) {
    SCOPED_TRACE(shape_str(shape));
    const MemoryFormat format = shape.size() == 4 ? MemoryFormat::ChannelsLast : MemoryFormat::ChannelsLast3d;
    const Tensor x = arange(0.0, static_cast<double>(shape_numel(shape))).reshape(shape);
    const Tensor cl = x.to(format);
    EXPECT_EQ(cl.memory_format(), format);
    EXPECT_FALSE(cl.is_contiguous());
    EXPECT_EQ(cl.sizes(), shape);
    EXPECT_EQ(memory_of(cl), channels_last_order(x.to_vector(), shape));
    EXPECT_EQ(cl.to_vector(), x.to_vector());  // logical order
    const Tensor back = cl.contiguous();
    EXPECT_TRUE(back.is_contiguous());
    EXPECT_EQ(memory_of(back), x.to_vector());
    EXPECT_TRUE(cl.to(format).is_same(cl));
    EXPECT_TRUE(x.contiguous().is_same(x));
  }
  EXPECT_TRUE(throws_with([] { zeros({2, 3, 4}).to(MemoryFormat::ChannelsLast); },
                          "required rank 4 tensor to use channels_last format"));
  EXPECT_TRUE(throws_with([] { zeros({2, 3, 4, 5}).to(MemoryFormat::ChannelsLast3d); },
                          "required rank 5 tensor to use channels_last_3d format"));
  EXPECT_TRUE(throws_with([] { empty({2, 3}, TensorOptions().memory_format(MemoryFormat::ChannelsLast)); },
                          "required rank 4 tensor"));
  const Tensor e = empty({2, 3, 4, 5}, TensorOptions().memory_format(MemoryFormat::ChannelsLast));
  EXPECT_EQ(e.memory_format(), MemoryFormat::ChannelsLast);
}

TEST(MemoryFormat, CopiesConversionsAndReshapesKeepTheValues) {
  Generator gen(4);
  const Tensor x = randn({2, 3, 4, 5}, gen);
  const Tensor cl = x.to(MemoryFormat::ChannelsLast);
  const Tensor copy = cl.clone();
  EXPECT_EQ(copy.memory_format(), MemoryFormat::ChannelsLast);
  EXPECT_EQ(memory_of(copy), memory_of(cl));
  const Tensor half = cl.to(DType::Float16);
  EXPECT_EQ(half.memory_format(), MemoryFormat::ChannelsLast);
  EXPECT_EQ(half.to(DType::Float32).to_vector(), x.to(DType::Float16).to(DType::Float32).to_vector());
  Tensor dst = zeros({2, 3, 4, 5});
  dst.copy_(cl);  // across formats: the values, in the destination's format
  EXPECT_TRUE(dst.is_contiguous());
  EXPECT_EQ(dst.to_vector(), x.to_vector());
  Tensor dst_cl = zeros({2, 3, 4, 5}).to(MemoryFormat::ChannelsLast);
  dst_cl.copy_(x);
  EXPECT_EQ(memory_of(dst_cl), memory_of(cl));
  const Tensor flat = cl.reshape({2, -1});
  EXPECT_TRUE(flat.is_contiguous());
  EXPECT_EQ(flat.to_vector(), x.to_vector());
  EXPECT_EQ(ops::narrow(cl, 1, 1, 2).to_vector(), ops::narrow(x, 1, 1, 2).to_vector());
  EXPECT_EQ(ops::cat({cl, x}, 3).to_vector(), ops::cat({x, x}, 3).to_vector());
  std::ostringstream a, b;
  a << cl;
  b << x;
  EXPECT_EQ(a.str(), b.str());
}

// cat keeps the memory format its inputs share (else its result is contiguous) and narrow keeps its input's, as
// PyTorch's: along every dimension of 4-d and 5-d shapes with size-1 and odd dimensions, each result laid out in memory
// as the contiguous op's result converted to that format.
TEST(MemoryFormat, CatAndNarrowKeepTheFormatTheirInputsShare) {
  Generator gen(53);
  for (const Shape& shape : {Shape{2, 3, 4, 5}, Shape{3, 1, 1, 7}, Shape{1, 5, 3, 1}, Shape{2, 3, 2, 3, 4}}) {
    const MemoryFormat format = shape.size() == 4 ? MemoryFormat::ChannelsLast : MemoryFormat::ChannelsLast3d;
    for (int64_t dim = 0; dim < static_cast<int64_t>(shape.size()); ++dim) {
      SCOPED_TRACE(shape_str(shape) + " dim " + std::to_string(dim));
      Shape other = shape;
      other[static_cast<std::size_t>(dim)] += 2;
      const Tensor a = randn(shape, gen), b = randn(other, gen);
      const Tensor joined = ops::cat({a, b, a}, dim);
      const Tensor joined_cl = ops::cat({a.to(format), b.to(format), a.to(format)}, dim);
      EXPECT_EQ(joined_cl.memory_format(), format);
      EXPECT_EQ(memory_of(joined_cl), memory_of(joined.to(format)));
      const Tensor mixed = ops::cat({a.to(format), b}, dim);
      EXPECT_TRUE(mixed.is_contiguous());
      EXPECT_EQ(mixed.to_vector(), ops::cat({a, b}, dim).to_vector());
      const int64_t size = other[static_cast<std::size_t>(dim)];
      for (const auto& [start, length] : {std::pair<int64_t, int64_t>{0, 1}, {1, size - 2}, {size - 1, 1}}) {
        const Tensor part = ops::narrow(b.to(format), dim, start, length);
        EXPECT_EQ(part.memory_format(), format);
        EXPECT_EQ(memory_of(part), memory_of(ops::narrow(b, dim, start, length).to(format)));
      }
    }
  }
}

// The host conversion's paths, bit for bit against index arithmetic on every element size: one channel or one
// position (a copy), 2-4 channels or positions (planes interleaved), tiles with and without whole register blocks
// and ragged edges, long planes, and tensors large enough to be converted in parallel.
TEST(MemoryFormat, ConversionsMoveEveryElementOfEveryShapeAndSize) {
  const std::vector<Shape> shapes = {{3, 1, 5, 7},   {2, 9, 1, 1},    {2, 2, 3, 5},     {1, 3, 70, 61},
                                     {2, 4, 1, 3},   {3, 5, 2, 2},    {2, 8, 4, 4},     {1, 33, 7, 9},
                                     {2, 70, 5, 13}, {1, 3, 4100, 3}, {2, 37, 61, 63},  {2, 3, 300, 301},
                                     {2, 6, 3, 4, 5}, {1, 40, 2, 3, 7}};
  for (const Shape& shape : shapes) {
    for (DType dtype : {DType::Float32, DType::Float16, DType::BFloat16, DType::Int64}) {
      SCOPED_TRACE(shape_str(shape) + " " + dtype_name(dtype));
      const int64_t numel = shape_numel(shape);
      const std::size_t size = element_size(dtype);
      // Elements as bit patterns (conversions move bits): byte b of element i is (i >> 8 b) + b, distinct elements
      // for every 16-bit index.
      const Tensor x = empty(shape, TensorOptions().dtype(dtype));
      auto* bytes = static_cast<unsigned char*>(x.raw_data());
      for (int64_t i = 0; i < numel; ++i)
        for (std::size_t b = 0; b < size; ++b) bytes[i * size + b] = static_cast<unsigned char>((i >> (8 * b)) + b);
      const MemoryFormat format = shape.size() == 4 ? MemoryFormat::ChannelsLast : MemoryFormat::ChannelsLast3d;
      const int64_t n = shape[0], c = shape[1], s = numel / (n * c);
      const auto* logical = static_cast<const unsigned char*>(x.raw_data());
      std::vector<unsigned char> expected(static_cast<std::size_t>(numel) * size);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < c; ++j)
          for (int64_t k = 0; k < s; ++k)
            std::memcpy(&expected[static_cast<std::size_t>((i * s + k) * c + j) * size],
                        logical + static_cast<std::size_t>((i * c + j) * s + k) * size, size);
      const Tensor cl = x.to(format);
      const auto* memory = static_cast<const unsigned char*>(cl.raw_data());
      EXPECT_TRUE(std::equal(expected.begin(), expected.end(), memory));
      const Tensor back = cl.contiguous();
      EXPECT_EQ(std::memcmp(back.raw_data(), x.raw_data(), x.nbytes()), 0);
    }
  }
}

// nnmath::channels_last_logical_index (dropout's draw index on channels-last memory, shared with the CUDA kernel)
// against the memory of an arange laid out channels-last: element i of that memory holds its logical index.
TEST(MemoryFormat, LogicalIndexOfChannelsLastMemory) {
  for (const Shape& shape : {Shape{2, 3, 4, 5}, Shape{3, 1, 2, 2}, Shape{1, 5, 3, 1, 2}, Shape{2, 2, 1, 1}}) {
    const int64_t n = shape_numel(shape), channels = shape[1], spatial = n / (shape[0] * channels);
    const Tensor logical = arange(0.0, static_cast<double>(n), 1.0, TensorOptions().dtype(DType::Int64)).reshape(shape);
    const Tensor laid_out = logical.to(shape.size() == 4 ? MemoryFormat::ChannelsLast : MemoryFormat::ChannelsLast3d);
    const auto* memory = static_cast<const int64_t*>(laid_out.raw_data());
    for (int64_t i = 0; i < n; ++i)
      ASSERT_EQ(nnmath::channels_last_logical_index(i, channels, spatial), memory[i]) << shape_str(shape) << " " << i;
  }
}

TEST(MemoryFormat, FactoriesHonourTheMemoryFormat) {
  for (const MemoryFormat format : {MemoryFormat::ChannelsLast, MemoryFormat::Contiguous}) {
    const Tensor z = zeros({2, 3, 4, 5}, TensorOptions().memory_format(format));
    EXPECT_EQ(z.memory_format(), format);
    EXPECT_EQ(z.to_vector(), std::vector<float>(120, 0.0f));
    const MemoryFormat five_d = format == MemoryFormat::Contiguous ? format : MemoryFormat::ChannelsLast3d;
    const Tensor f = full({2, 3, 2, 2, 2}, 1.5, TensorOptions().memory_format(five_d));
    EXPECT_EQ(f.memory_format(), five_d);
    EXPECT_EQ(f.to_vector(), std::vector<float>(48, 1.5f));
  }
}

TEST(MemoryFormat, RawElementAccessNeedsContiguousMemory) {
  const Tensor cl = randn({2, 3, 4, 5}).to(MemoryFormat::ChannelsLast);
  EXPECT_TRUE(throws_with([&] { cl.data<float>(); },
                          "expected a contiguous tensor, got channels_last memory format (call contiguous() first)"));
}

// The memory format of a 4-d or 5-d shape that is not contiguous.
MemoryFormat channels_last_of(const Shape& shape) {
  return shape.size() == 4 ? MemoryFormat::ChannelsLast : MemoryFormat::ChannelsLast3d;
}

// What a CNN runs on channels-last activations gives the contiguous computation's values bit for bit, in the
// format of the (first full-shaped) operand, whatever format the other operands have.
void expect_same(const Tensor& got, const Tensor& expected, MemoryFormat format, const std::string& what) {
  EXPECT_EQ(got.memory_format(), format) << what;
  EXPECT_EQ(got.sizes(), expected.sizes()) << what;
  EXPECT_EQ(got.to_vector(), expected.to_vector()) << what;
}

TEST(MemoryFormat, ArithmeticTakesEveryPairOfFormatsAndBroadcasts) {
  Generator gen(4);
  for (const Shape& shape : {Shape{2, 3, 4, 5}, Shape{1, 1, 1, 1}, Shape{3, 7, 1, 2}, Shape{2, 1, 3, 3},
                             Shape{2, 3, 2, 3, 4}, Shape{1, 5, 33, 1, 2}}) {
    const MemoryFormat cl = channels_last_of(shape);
    const Tensor a = randn(shape, gen);
    const int64_t c = shape[1];
    Shape per_channel(shape.size() - 1, 1), batch_channel(shape.size(), 1), last(1, shape.back());
    per_channel[0] = c;
    batch_channel[0] = shape[0];
    batch_channel[1] = c;
    for (const Shape& other : {shape, per_channel, batch_channel, last, Shape{}}) {
      const Tensor b = randn(other, gen) + 0.5;
      const bool full = other.size() == shape.size();  // may be channels-last itself
      for (const MemoryFormat fa : {MemoryFormat::Contiguous, cl}) {
        for (const MemoryFormat fb : {MemoryFormat::Contiguous, cl}) {
          if (fb != MemoryFormat::Contiguous && !full) continue;
          const std::string what = shape_str(shape) + " " + memory_format_name(fa) + " op " + shape_str(other) + " " +
                                   memory_format_name(fb);
          const Tensor x = a.to(fa), y = b.to(fb);
          expect_same(x + y, a + b, fa, what);
          expect_same(x - y, a - b, fa, what);
          expect_same(x * y, a * b, fa, what);
          expect_same(x / y, a / b, fa, what);
          // The result takes the first full-shaped operand's format: b's when a is broadcast onto it.
          if (other == batch_channel && shape != batch_channel)
            expect_same(y - x, b - a, fa, what + " (b first)");
          Tensor in_place = x.clone();
          in_place *= y;
          expect_same(in_place, a * b, fa, what + " *=");
          in_place = x.clone();
          in_place += y;
          expect_same(in_place, a + b, fa, what + " +=");
          if (other == shape) {
            in_place = x.clone();
            ops::add_scaled_(in_place, y, -0.25);
            Tensor expected = a.clone();
            ops::add_scaled_(expected, b, -0.25);
            expect_same(in_place, expected, fa, what + " add_scaled_");
          }
        }
      }
    }
  }
}

TEST(MemoryFormat, ActivationsPoolingAndDropoutKeepTheInputsFormat) {
  Generator gen(6);
  for (const Shape& shape :
       {Shape{2, 3, 6, 5}, Shape{1, 8, 7, 7}, Shape{3, 1, 4, 9}, Shape{2, 19, 7, 9}, Shape{2, 4, 3, 5, 6}}) {
    const MemoryFormat cl = channels_last_of(shape);
    const int spatial = static_cast<int>(shape.size()) - 2;
    const Tensor x = randn(shape, gen), x_cl = x.to(cl);
    const std::string what = shape_str(shape);
    for (const ops::Activation kind : {ops::Activation::ReLU, ops::Activation::Sigmoid, ops::Activation::Tanh}) {
      const Tensor y = ops::activation(kind, x), dy = randn(shape, gen);
      const Tensor y_cl = ops::activation(kind, x_cl);
      expect_same(y_cl, y, cl, what + " activation");
      const Tensor dx = ops::activation_backward(kind, dy, y);
      expect_same(ops::activation_backward(kind, dy.to(cl), y_cl), dx, cl, what + " activation backward");
      // A contiguous gradient of a channels-last output (what Flatten's backward hands back).
      expect_same(ops::activation_backward(kind, dy, y_cl), dx, cl, what + " activation backward, contiguous dy");
    }
    ops::PoolParams params;
    params.kernel_size = {3};
    params.stride = {2};
    params.padding = {1};
    // Ties, NaN and all -inf windows decide the indices too: a copy of x drawn from {-inf, -1, 0, 1, NaN}.
    std::vector<float> few = x.to_vector();
    const float kChoices[] = {-INFINITY, -1.0f, 0.0f, 1.0f, NAN};
    for (std::size_t i = 0; i < few.size(); ++i) few[i] = kChoices[(i * 7 + i / 3) % 5];
    const Tensor t = from_vector(few, shape);
    const ops::MaxPoolResult mt = ops::max_pool(t, spatial, params), mt_cl = ops::max_pool(t.to(cl), spatial, params);
    EXPECT_EQ(mt_cl.indices.to_vector<int64_t>(), mt.indices.to_vector<int64_t>()) << what;
    const std::vector<float> vt = mt.output.to_vector(), vt_cl = mt_cl.output.to_vector();
    EXPECT_EQ(std::memcmp(vt.data(), vt_cl.data(), vt.size() * sizeof(float)), 0) << what << " (NaN bits too)";
    const ops::MaxPoolResult m = ops::max_pool(x, spatial, params), m_cl = ops::max_pool(x_cl, spatial, params);
    expect_same(m_cl.output, m.output, cl, what + " max_pool");
    EXPECT_EQ(m_cl.indices.memory_format(), cl) << what;
    EXPECT_EQ(m_cl.indices.to_vector<int64_t>(), m.indices.to_vector<int64_t>()) << what;
    const Tensor dm = randn(m.output.sizes(), gen);
    const Tensor dx_max = ops::max_pool_backward(dm, x, m.indices, spatial, params);
    expect_same(ops::max_pool_backward(dm.to(cl), x_cl, m_cl.indices, spatial, params), dx_max, cl,
                what + " max_pool_backward");
    const Tensor a = ops::avg_pool(x, spatial, params);
    expect_same(ops::avg_pool(x_cl, spatial, params), a, cl, what + " avg_pool");
    const Tensor da = randn(a.sizes(), gen);
    expect_same(ops::avg_pool_backward(da.to(cl), x_cl, spatial, params),
                ops::avg_pool_backward(da, x, spatial, params), cl, what + " avg_pool_backward");
    const Tensor g = ops::adaptive_avg_pool(x, spatial, {1});
    expect_same(ops::adaptive_avg_pool(x_cl, spatial, {1}), g, cl, what + " adaptive_avg_pool");
    const Tensor dg = randn(g.sizes(), gen);
    expect_same(ops::adaptive_avg_pool_backward(dg, x_cl, spatial), ops::adaptive_avg_pool_backward(dg, x, spatial),
                cl, what + " adaptive_avg_pool_backward");
    // Uneven adaptive windows, and partial windows that do not count the padding; a contiguous gradient too.
    const Tensor u = ops::adaptive_avg_pool(x, spatial, {2});
    expect_same(ops::adaptive_avg_pool(x_cl, spatial, {2}), u, cl, what + " adaptive_avg_pool to 2");
    const Tensor du = randn(u.sizes(), gen);
    expect_same(ops::adaptive_avg_pool_backward(du.to(cl), x_cl, spatial),
                ops::adaptive_avg_pool_backward(du, x, spatial), cl, what + " adaptive_avg_pool_backward to 2");
    expect_same(ops::adaptive_avg_pool_backward(du, x_cl, spatial), ops::adaptive_avg_pool_backward(du, x, spatial),
                cl, what + " adaptive_avg_pool_backward to 2, contiguous dy");
    ops::PoolParams uncounted = params;
    uncounted.ceil_mode = true;
    uncounted.count_include_pad = false;
    const Tensor p = ops::avg_pool(x, spatial, uncounted);
    expect_same(ops::avg_pool(x_cl, spatial, uncounted), p, cl, what + " avg_pool without the padding");
    const Tensor dp = randn(p.sizes(), gen);
    expect_same(ops::avg_pool_backward(dp.to(cl), x_cl, spatial, uncounted),
                ops::avg_pool_backward(dp, x, spatial, uncounted), cl, what + " avg_pool_backward without the padding");
    // Dropout drops by logical index: the same elements in either format.
    expect_same(ops::dropout(x_cl, 0.4, 17, 3), ops::dropout(x, 0.4, 17, 3), cl, what + " dropout");
    const ops::DropoutResult d = ops::dropout_with_mask(x, 0.4, 17, 3), d_cl = ops::dropout_with_mask(x_cl, 0.4, 17, 3);
    expect_same(d_cl.output, d.output, cl, what + " dropout_with_mask");
    const Tensor dd = randn(shape, gen);
    expect_same(ops::dropout_backward(dd.to(cl), d_cl.mask), ops::dropout_backward(dd, d.mask), cl,
                what + " dropout_backward");
  }
}

// Reductions, softmax, the elementwise losses and Linear read channels-last operands in logical order and return
// contiguous results, as PyTorch's CPU ops: the contiguous computation's bits.
TEST(MemoryFormat, ReductionsSoftmaxLossesAndLinearReadAnyFormat) {
  Generator gen(21);
  for (const Shape& shape : {Shape{2, 3, 4, 5}, Shape{3, 1, 2, 2}, Shape{1, 5, 33, 1, 2}}) {
    const MemoryFormat cl = channels_last_of(shape);
    const Tensor x = randn(shape, gen), y = randn(shape, gen), xc = x.to(cl), yc = y.to(cl);
    const MemoryFormat contiguous = MemoryFormat::Contiguous;
    for (int64_t dim = -1; dim < static_cast<int64_t>(shape.size()); ++dim) {
      const std::string at = shape_str(shape) + " dim " + std::to_string(dim);
      for (const bool keepdim : {false, true}) {
        expect_same(ops::sum(xc, dim, keepdim), ops::sum(x, dim, keepdim), contiguous, "sum " + at);
        expect_same(ops::mean(xc, dim, keepdim), ops::mean(x, dim, keepdim), contiguous, "mean " + at);
        const auto [values, indices] = ops::max(xc, dim, keepdim);
        const auto expected = ops::max(x, dim, keepdim);
        expect_same(values, expected.first, contiguous, "max " + at);
        EXPECT_EQ(indices.to_vector<int64_t>(), expected.second.to_vector<int64_t>()) << "argmax " + at;
      }
      for (const bool log : {false, true}) {
        const Tensor s = ops::softmax(x, dim, log);
        expect_same(ops::softmax(xc, dim, log), s, contiguous, "softmax " + at);
        expect_same(ops::softmax_backward(yc, s.to(cl), dim, log), ops::softmax_backward(y, s, dim, log),
                    contiguous, "softmax_backward " + at);
        expect_same(ops::softmax_backward(y, s.to(cl), dim, log), ops::softmax_backward(y, s, dim, log),
                    contiguous, "softmax_backward, output channels-last " + at);
      }
    }
    const Tensor probabilities = ops::activation(ops::Activation::Sigmoid, y);
    for (const auto& [input, target] : {std::pair{xc, y}, std::pair{x, yc}, std::pair{xc, yc}}) {
      const std::string at = shape_str(shape) + (input.is_contiguous() ? "" : " input") +
                             (target.is_contiguous() ? "" : " target") + " channels-last";
      const ops::LossResult mse = ops::mse_loss(input, target), expected = ops::mse_loss(x, y);
      expect_same(mse.loss, expected.loss, contiguous, "mse " + at);
      expect_same(mse.grad_input, expected.grad_input, contiguous, "mse gradient " + at);
      const Tensor p = target.is_contiguous() ? probabilities : probabilities.to(cl);
      const ops::LossResult bce = ops::binary_cross_entropy_with_logits(input, p, ops::Reduction::Sum);
      const ops::LossResult bce_expected = ops::binary_cross_entropy_with_logits(x, probabilities, ops::Reduction::Sum);
      expect_same(bce.loss, bce_expected.loss, contiguous, "bce " + at);
      expect_same(bce.grad_input, bce_expected.grad_input, contiguous, "bce gradient " + at);
    }
    const Tensor weight = randn({4, shape.back()}, gen), bias = randn({4}, gen);
    const Tensor out = ops::linear(x, weight, bias);
    expect_same(ops::linear(xc, weight, bias), out, contiguous, "linear " + shape_str(shape));
    Shape out_shape = shape;
    out_shape.back() = 4;
    const Tensor dy = randn(out_shape, gen);
    Tensor dw, db, dw_cl, db_cl;
    const Tensor dx = ops::linear_backward(dy, x, weight, &dw, &db);
    const Tensor dx_cl = ops::linear_backward(dy.to(cl), xc, weight, &dw_cl, &db_cl);
    expect_same(dx_cl, dx, contiguous, "linear dx " + shape_str(shape));
    expect_same(dw_cl, dw, contiguous, "linear dw " + shape_str(shape));
    expect_same(db_cl, db, contiguous, "linear db " + shape_str(shape));
  }
}

// Optimizers update a channels-last parameter in its own memory order (momentum and moments kept in its format),
// whatever the gradient's format, and a parameter that changes format after the optimizer was built: the contiguous
// parameter's values bit for bit. GradScaler's unscale_ and zero_grad take channels-last gradients too.
TEST(MemoryFormat, OptimizersStepChannelsLastParametersAsContiguousOnes) {
  const MemoryFormat cl = MemoryFormat::ChannelsLast;
  for (const auto& [name, make] : testing::one_of_each_optimizer()) {
    Generator gen(22);
    const Tensor start = randn({4, 3, 3, 5}, gen);
    Tensor plain = start.clone(), channels_last = start.to(cl), converted = start.clone();
    std::unique_ptr<optim::Optimizer> reference = make({plain}), optimizer = make({channels_last, converted});
    amp::GradScaler scaler(amp::GradScalerOptions().init_scale(4.0)), reference_scaler = scaler;
    scaler.scale(ones({1}));  // places the scale on the CPU
    reference_scaler.scale(ones({1}));
    for (int step = 0; step < 4; ++step) {
      if (step == 2) converted.set_data(converted.to(cl));  // the optimizer's slots are contiguous until now
      const Tensor grad = randn({4, 3, 3, 5}, gen);
      plain.mutable_grad() = grad.clone();
      channels_last.mutable_grad() = step % 2 == 0 ? grad.to(cl) : grad.clone();
      converted.mutable_grad() = step % 2 == 1 ? grad.to(cl) : grad.clone();
      reference_scaler.step(*reference);
      scaler.step(*optimizer);
      reference_scaler.update();
      scaler.update();
      const std::string at = name + " step " + std::to_string(step);
      expect_same(channels_last, plain, cl, at);
      expect_same(converted, plain, step >= 2 ? cl : MemoryFormat::Contiguous, at + ", format changed at step 2");
    }
    const nn::NamedTensors expected = reference->state(), state = optimizer->state();
    for (std::size_t i = 0; i < expected.size(); ++i)
      for (std::size_t j : {i, i + expected.size()})
        if (expected[i].second.dtype() == DType::Int64)  // the step count
          EXPECT_EQ(state[j].second.item<int64_t>(), expected[i].second.item<int64_t>()) << name << state[j].first;
        else
          EXPECT_EQ(state[j].second.to_vector(), expected[i].second.to_vector()) << name << " " << state[j].first;
    optimizer->zero_grad(false);
    EXPECT_EQ(channels_last.grad().to_vector(), std::vector<float>(start.numel(), 0.0f)) << name;
  }
}

// Module::to(MemoryFormat), as PyTorch's module.to(memory_format=...): 4-d parameters and buffers change layout in
// place (identities and gradients kept), others stay; on channels-last input a network with channels-last weights
// trains step for step as the one with contiguous weights, bit for bit.
TEST(MemoryFormat, ModulesLayTheirWeightsOutInPlace) {
  const MemoryFormat cl = MemoryFormat::ChannelsLast;
  const auto build = [] {
    return std::make_shared<nn::Sequential>(nn::Conv2d(nn::ConvOptions(3, 4, 3).padding(1)), nn::BatchNorm2d(4),
                                            nn::ReLU(), nn::Conv2d(nn::ConvOptions(4, 6, 1).stride(2)),
                                            nn::AdaptiveAvgPool2d(1), nn::Flatten(), nn::Linear(6, 2));
  };
  auto plain = build(), laid_out = build();
  laid_out->load_state_dict(plain->state_dict());
  Tensor first_weight = laid_out->named_parameters()[0].second;
  first_weight.mutable_grad() = ones(first_weight.sizes());
  laid_out->to(cl);
  for (const auto& [name, p] : laid_out->named_parameters())
    EXPECT_EQ(p.memory_format(), p.dim() == 4 ? cl : MemoryFormat::Contiguous) << name;
  EXPECT_TRUE(laid_out->named_parameters()[0].second.is_same(first_weight));
  EXPECT_EQ(first_weight.grad().to_vector(), std::vector<float>(first_weight.numel(), 1.0f));
  laid_out->zero_grad();
  nn::Conv3d volume(nn::ConvOptions(2, 3, 2));
  volume.to(cl);  // 5-d weights keep their layout under ChannelsLast, take ChannelsLast3d
  EXPECT_EQ(volume.weight.memory_format(), MemoryFormat::Contiguous);
  volume.to(MemoryFormat::ChannelsLast3d);
  EXPECT_EQ(volume.weight.memory_format(), MemoryFormat::ChannelsLast3d);
  volume.to(MemoryFormat::Contiguous);
  EXPECT_EQ(volume.weight.memory_format(), MemoryFormat::Contiguous);

  optim::SGD plain_sgd(plain->parameters(), optim::SGDOptions(0.1).momentum(0.9));
  optim::SGD laid_out_sgd(laid_out->parameters(), optim::SGDOptions(0.1).momentum(0.9));
  Generator gen(23);
  for (int step = 0; step < 2; ++step) {
    const Tensor x = randn({2, 3, 6, 5}, gen).to(cl), dy = randn({2, 2}, gen);
    EXPECT_EQ(laid_out->forward(x).to_vector(), plain->forward(x).to_vector());
    expect_same(laid_out->backward(dy), plain->backward(dy), cl, "dx, step " + std::to_string(step));
    EXPECT_EQ(first_weight.grad().memory_format(), cl);  // a gradient takes its weight's format
    plain_sgd.step();
    laid_out_sgd.step();
    const auto a = laid_out->named_parameters(), b = plain->named_parameters();
    for (std::size_t i = 0; i < a.size(); ++i)
      expect_same(a[i].second, b[i].second, a[i].second.dim() == 4 ? cl : MemoryFormat::Contiguous, a[i].first);
    laid_out_sgd.zero_grad();
    plain_sgd.zero_grad();
  }
}

TEST(MemoryFormat, SavedInLogicalOrderSharedWithChannelsLastStrides) {
  Generator gen(6);
  const Tensor x = randn({2, 3, 2, 2, 3}, gen);
  const Tensor cl = x.to(MemoryFormat::ChannelsLast3d);
  const Tensor loaded = decode_npy(encode_npy(cl), "cl.npy");
  EXPECT_TRUE(loaded.is_contiguous());
  EXPECT_EQ(loaded.to_vector(), x.to_vector());
  const auto named = decode_safetensors(encode_safetensors({{"cl", cl}}), "cl.safetensors");
  EXPECT_EQ(named[0].second.to_vector(), x.to_vector());

  DLManagedTensor* managed = to_dlpack(cl);
  const int64_t* strides = managed->dl_tensor.strides;
  // (N, C, D, H, W) = (2, 3, 2, 2, 3) laid out as (N, D, H, W, C).
  EXPECT_EQ(std::vector<int64_t>(strides, strides + 5), (std::vector<int64_t>{36, 1, 18, 9, 3}));
  const Tensor shared = from_dlpack(managed);
  EXPECT_EQ(shared.memory_format(), MemoryFormat::ChannelsLast3d);
  EXPECT_EQ(shared.raw_data(), cl.raw_data());
  EXPECT_EQ(shared.to_vector(), x.to_vector());
}

}  // namespace
}  // namespace normrt
