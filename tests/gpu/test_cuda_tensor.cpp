// Tensors on a CUDA device (label gpu). Skipped when no device is present.
#include "gpu_test_support.h"
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <sstream>

#if __has_include(<dlpack/dlpack.h>)
#include "normrt/dlpack.h"
#endif
#include "test_util.h"

namespace normrt {
namespace {

using testing::throws_with;

class CudaTensor : public ::testing::Test {
 protected:
  void SetUp() override {
    NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  }
};

TEST_F(CudaTensor, FactoriesGiveTheHostValues) {
  const Device gpu = Device::cuda(0);
  EXPECT_EQ(zeros({3, 4}, gpu).to_vector(), zeros({3, 4}).to_vector());
  EXPECT_EQ(ones({5}, gpu).to_vector(), ones({5}).to_vector());
  EXPECT_EQ(arange(7, gpu).to_vector(), arange(7).to_vector());
  Generator a(5), b(5);
  EXPECT_EQ(randn({1000}, a, gpu).to_vector(), randn({1000}, b).to_vector());
  EXPECT_EQ(rand({33}, a, gpu).to_vector(), rand({33}, b).to_vector());
  EXPECT_TRUE(zeros({2}, gpu).device().is_cuda());
}

// float16/bfloat16 on the device: fills by their bits, conversions by the conversion kernel; the host's bits.
TEST_F(CudaTensor, SixteenBitDtypesConvertAndFillAsOnTheHost) {
  const Device gpu = Device::cuda(0);
  Generator gen(3);
  const Tensor x = randn({4099}, gen) * 1000.0;
  for (DType dtype : {DType::Float16, DType::BFloat16}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor on_host = x.to(dtype), on_gpu = x.to(gpu).to(dtype);
    EXPECT_TRUE(on_gpu.device().is_cuda());
    EXPECT_EQ(on_gpu.dtype(), dtype);
    const Tensor back = on_gpu.to(Device::cpu());
    EXPECT_EQ(std::memcmp(back.raw_data(), on_host.raw_data(), on_host.nbytes()), 0);
    EXPECT_EQ(on_gpu.to(DType::Float32).to_vector(), on_host.to(DType::Float32).to_vector());
    const Tensor filled = full({70}, 0.1, TensorOptions(gpu).dtype(dtype)).to(Device::cpu());
    const Tensor expected = full({70}, 0.1, TensorOptions().dtype(dtype));
    EXPECT_EQ(std::memcmp(filled.raw_data(), expected.raw_data(), expected.nbytes()), 0);
  }
  const Tensor h = x.to(gpu).to(DType::Float16);
  EXPECT_EQ(h.to(DType::BFloat16).to(Device::cpu()).to(DType::Float32).to_vector(),
            x.to(DType::Float16).to(DType::BFloat16).to(DType::Float32).to_vector());
}

// int64 to and from every floating dtype on the device: the host's values (tmath::truncated_int64 on both), NaN,
// infinities and values beyond int64's range included.
TEST_F(CudaTensor, Int64ConversionsGiveTheHostValues) {
  const Device gpu = Device::cuda(0);
  const std::vector<float> values = {NAN, INFINITY, -INFINITY, 1e30f, -1e30f, 2.7f, -2.7f, 65519.0f, 65520.0f, -0.5f};
  const Tensor x = from_vector(values, {10});
  const std::vector<int64_t> integers = {(int64_t{1} << 53) + 1, -((int64_t{1} << 24) + 1), 65519, 65520, -7,
                                         INT64_MIN, INT64_MAX};
  const Tensor n = from_vector(integers, {7});
  for (DType dtype : {DType::Float32, DType::Float16, DType::BFloat16}) {
    SCOPED_TRACE(dtype_name(dtype));
    EXPECT_EQ(x.to(dtype).to(gpu).to(DType::Int64).to_vector<int64_t>(),
              x.to(dtype).to(DType::Int64).to_vector<int64_t>());
    const Tensor on_gpu = n.to(gpu).to(dtype).to(Device::cpu()), on_host = n.to(dtype);
    EXPECT_EQ(std::memcmp(on_gpu.raw_data(), on_host.raw_data(), on_host.nbytes()), 0);
  }
}

// Channels-last on the device: the transpose kernel lays memory as the host does, both ways, for 2- and 4-byte
// elements; copies between devices keep the format.
TEST_F(CudaTensor, ChannelsLastConvertsAsOnTheHost) {
  const Device gpu = Device::cuda(0);
  Generator gen(8);
  const Tensor x = randn({3, 5, 7, 9}, gen);
  for (DType dtype : {DType::Float32, DType::Float16}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor host_cl = x.to(dtype).to(MemoryFormat::ChannelsLast);
    const Tensor gpu_cl = x.to(dtype).to(gpu).to(MemoryFormat::ChannelsLast);
    EXPECT_EQ(gpu_cl.memory_format(), MemoryFormat::ChannelsLast);
    const Tensor back = gpu_cl.to(Device::cpu());
    EXPECT_EQ(back.memory_format(), MemoryFormat::ChannelsLast);
    EXPECT_EQ(std::memcmp(back.raw_data(), host_cl.raw_data(), host_cl.nbytes()), 0);
    const Tensor contiguous = gpu_cl.contiguous().to(Device::cpu());
    EXPECT_EQ(std::memcmp(contiguous.raw_data(), x.to(dtype).raw_data(), contiguous.nbytes()), 0);
  }
  const Tensor five = randn({2, 3, 4, 5, 6}, gen);
  EXPECT_EQ(five.to(gpu).to(MemoryFormat::ChannelsLast3d).to_vector(), five.to_vector());
}

TEST_F(CudaTensor, DeviceMemoryFromBlobDLPackAndPrinting) {
  const Device gpu = Device::cuda(0);
  const Tensor dev = from_vector(std::vector<float>{1, 2, 3, 4}, {2, 2}, gpu);
  std::ostringstream os;
  os << dev;
  EXPECT_EQ(os.str(), "tensor([[1., 2.],\n        [3., 4.]], device='cuda:0')");  // str(t.cuda()) in PyTorch
  // Device memory the caller owns, wrapped without a copy; the deleter frees it.
  void* memory = nullptr;
  ASSERT_EQ(cudaMalloc(&memory, 4 * sizeof(float)), cudaSuccess);
  bool freed = false;
  {
    Tensor wrapped = from_blob(memory, {4}, gpu, [&](void* p) {
      freed = cudaFree(p) == cudaSuccess;
    });
    wrapped.copy_(from_vector(std::vector<float>{5, 6, 7, 8}, {4}));
    EXPECT_EQ(wrapped.to_vector(), (std::vector<float>{5, 6, 7, 8}));
  }
  EXPECT_TRUE(freed);
#if __has_include(<dlpack/dlpack.h>)
  DLManagedTensor* managed = to_dlpack(dev);
  EXPECT_EQ(managed->dl_tensor.device.device_type, kDLCUDA);
  EXPECT_EQ(managed->dl_tensor.device.device_id, 0);
  const Tensor back = from_dlpack(managed);
  EXPECT_EQ(back.raw_data(), dev.raw_data());
  EXPECT_EQ(back.device(), gpu);
  EXPECT_EQ(back.to_vector(), dev.to_vector());
#endif
}

TEST_F(CudaTensor, ArithmeticMatchesTheCpuBitForBit) {
  const Device gpu = Device::cuda(0);
  Generator gen(13);
  const Tensor x = randn({2, 3, 4, 5}, gen), c = randn({3, 1, 1}, gen), r = randn({5}, gen);
  const Tensor cpu = (x * c + r) / (2.0 - c);
  const Tensor dev = (x.to(gpu) * c.to(gpu) + r.to(gpu)) / (2.0 - c.to(gpu));
  EXPECT_EQ(dev.device(), gpu);
  // The same formula on both devices (tensor_math.cuh).
  EXPECT_TRUE(testing::same_bits(dev.to_vector(), cpu.to_vector()));
  Tensor in_place = x.to(gpu);
  in_place -= c.to(gpu);
  EXPECT_TRUE(testing::same_bits(in_place.to_vector(), (x - c).to_vector()));
  // int64 operands (the int64 kernel; sums and products wrapping), mixed with floating ones and divided as float32.
  const Tensor n = (x * 1e18).to(DType::Int64), m = (c * 7.0).to(DType::Int64);
  const Tensor n_gpu = n.to(gpu), m_gpu = m.to(gpu);
  EXPECT_EQ((n_gpu * m_gpu + n_gpu).to_vector<int64_t>(), (n * m + n).to_vector<int64_t>());
  EXPECT_EQ((n_gpu - m_gpu).to_vector<int64_t>(), (n - m).to_vector<int64_t>());
  EXPECT_TRUE(testing::same_bits((n_gpu / m_gpu).to_vector(), (n / m).to_vector()));
  EXPECT_TRUE(testing::same_bits((m_gpu * x.to(gpu)).to_vector(), (m * x).to_vector()));
}

// The roundings and the divisions that round give the CPU's bits in every dtype (16-bit divisions rounding their
// steps to the dtype on both), int64 ones the CPU's wrapped integers; a zero int64 divisor is refused on the device
// too (its flag read back), leaving the destination.
TEST_F(CudaTensor, RoundingsAndDivisionsMatchTheCpuBitForBit) {
  const Device gpu = Device::cuda(0);
  Generator gen(19);
  const Tensor x = randn({2, 3, 33, 35}, gen) * 300.0, c = randn({3, 1, 1}, gen) * 0.7;
  const auto same = [](const Tensor& on_gpu, const Tensor& on_cpu) {
    return testing::same_bits(on_gpu.to(Device::cpu()).to(DType::Float32).to_vector(),
                              on_cpu.to(DType::Float32).to_vector());
  };
  for (const DType dtype : {DType::Float32, DType::Float16, DType::BFloat16}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor a = x.to(dtype), b = c.to(dtype), a_gpu = a.to(gpu), b_gpu = b.to(gpu);
    for (const ops::UnaryOp op : {ops::UnaryOp::Floor, ops::UnaryOp::Ceil, ops::UnaryOp::Round, ops::UnaryOp::Trunc,
                                  ops::UnaryOp::Frac, ops::UnaryOp::Sign, ops::UnaryOp::Reciprocal})
      EXPECT_TRUE(same(ops::unary(op, a_gpu), ops::unary(op, a)));
    for (const int64_t decimals : {2, -1}) EXPECT_TRUE(same(ops::round(a_gpu, decimals), ops::round(a, decimals)));
    for (const ops::BinaryOp op :
         {ops::BinaryOp::FloorDivide, ops::BinaryOp::TruncDivide, ops::BinaryOp::Remainder, ops::BinaryOp::Fmod}) {
      EXPECT_TRUE(same(ops::binary(op, a_gpu, b_gpu), ops::binary(op, a, b)));
      Tensor in_place = a_gpu.to(MemoryFormat::ChannelsLast);
      ops::binary_(op, in_place, b_gpu);
      EXPECT_TRUE(same(in_place, ops::binary(op, a.to(MemoryFormat::ChannelsLast), b)));
    }
  }
  const Tensor n = from_vector<int64_t>({INT64_MIN, INT64_MIN, -7, 7, INT64_MAX, 5}, {6});
  const Tensor d = from_vector<int64_t>({-1, 3, 2, -2, INT64_MIN, -1}, {6});
  const Tensor n_gpu = n.to(gpu), d_gpu = d.to(gpu);
  EXPECT_EQ(ops::floor_divide(n_gpu, d_gpu).to_vector<int64_t>(), ops::floor_divide(n, d).to_vector<int64_t>());
  EXPECT_EQ(ops::div(n_gpu, d_gpu, "trunc").to_vector<int64_t>(), ops::div(n, d, "trunc").to_vector<int64_t>());
  EXPECT_EQ((n_gpu % d_gpu).to_vector<int64_t>(), (n % d).to_vector<int64_t>());
  EXPECT_EQ(ops::fmod(n_gpu, d_gpu).to_vector<int64_t>(), ops::fmod(n, d).to_vector<int64_t>());
  Tensor dividend = n_gpu.clone();
  EXPECT_TRUE(throws_with([&] { ops::floor_divide_(dividend, d_gpu * 0); }, "ZeroDivisionError"));
  EXPECT_EQ(dividend.to_vector<int64_t>(), n.to_vector<int64_t>());
}

// addcmul, addcdiv, lerp and clamp on the device: every op on every dtype, broadcast across memory formats and in place, give
// the CPU's bits (the device computes PyTorch's CPU formulas, ternary_math.cuh); int64 addcmul wraps as the CPU's; the
// refusals name PyTorch's GPU kernels.
TEST_F(CudaTensor, TernaryOpsMatchTheCpuBitForBit) {
  const Device gpu = Device::cuda(0);
  Generator gen(23);
  const Tensor x = randn({2, 3, 33, 35}, gen) * 3.0, c = randn({3, 1, 1}, gen), y = randn({2, 3, 33, 35}, gen);
  const Tensor w = rand({33, 35}, gen) * 2.0 - 0.5;
  const auto same = [](const Tensor& on_gpu, const Tensor& on_cpu) {
    EXPECT_TRUE(on_gpu.device().is_cuda());
    EXPECT_EQ(on_gpu.memory_format(), on_cpu.memory_format());
    return testing::same_bits(on_gpu.to(Device::cpu()).to(DType::Float32).to_vector(),
                              on_cpu.to(DType::Float32).to_vector());
  };
  for (const DType dtype : {DType::Float32, DType::Float16, DType::BFloat16}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor a = x.to(dtype).to(MemoryFormat::ChannelsLast), b = c.to(dtype), e = y.to(dtype), v = w.to(dtype);
    const Tensor a_gpu = a.to(gpu), b_gpu = b.to(gpu), e_gpu = e.to(gpu), v_gpu = v.to(gpu);
    EXPECT_TRUE(same(ops::addcmul(a_gpu, b_gpu, e_gpu, -0.3), ops::addcmul(a, b, e, -0.3)));
    EXPECT_TRUE(same(ops::addcdiv(a_gpu, e_gpu, b_gpu, 1.7), ops::addcdiv(a, e, b, 1.7)));
    for (const double weight : {0.25, 0.75, -0.6})
      EXPECT_TRUE(same(ops::lerp(a_gpu, e_gpu, weight), ops::lerp(a, e, weight)));
    EXPECT_TRUE(same(ops::lerp(a_gpu, b_gpu, v_gpu), ops::lerp(a, b, v)));
    EXPECT_TRUE(same(ops::clamp(a_gpu, b_gpu, v_gpu), ops::clamp(a, b, v)));
    Tensor in_place = a_gpu.clone(), host = a.clone();
    ops::addcmul_(in_place, e_gpu, b_gpu, 2);
    ops::addcmul_(host, e, b, 2);
    EXPECT_TRUE(same(in_place, host));
    ops::lerp_(in_place, e_gpu, v_gpu);
    ops::lerp_(host, e, v);
    EXPECT_TRUE(same(in_place, host));
  }
  const Tensor n = from_vector<int64_t>({int64_t{1} << 62, -5, 7, INT64_MIN}, {4}), n_gpu = n.to(gpu);
  EXPECT_EQ(ops::addcmul(n_gpu, n_gpu, n_gpu, -2.7).to_vector<int64_t>(),
            ops::addcmul(n, n, n, -2.7).to_vector<int64_t>());
  const Tensor flags = from_vector<bool>({true, false}, {2}).to(gpu);
  EXPECT_TRUE(throws_with([&] { ops::addcmul(flags, flags, flags); }, "\"addcmul_cuda\" not implemented for 'Bool'"));
  EXPECT_EQ(ops::clamp(n_gpu, n_gpu - 1, n_gpu * 0 + 6).to_vector<int64_t>(),
            ops::clamp(n, n - 1, n * 0 + 6).to_vector<int64_t>());
  EXPECT_TRUE(throws_with([&] { ops::clamp(flags, flags, flags); }, "\"clamp_cuda\" not implemented for 'Bool'"));
  EXPECT_TRUE(throws_with([&] { ops::lerp(n_gpu, n_gpu, 0.5); }, "\"lerp_cuda\" not implemented for 'Long'"));
  EXPECT_TRUE(throws_with([&] { ops::lerp(x.to(gpu), x, 0.5); }, "Expected all tensors to be on the same device"));
}

// searchsorted and bucketize on the device: every dtype, one row of boundaries and one per row, a sorter, a number,
// left and right, give the CPU's indices; the refusals name PyTorch's GPU kernel.
TEST_F(CudaTensor, SearchsortedMatchesTheCpu) {
  const Device gpu = Device::cuda(0);
  Generator gen(29);
  const Tensor sorted = ops::sort(randn({4, 33}, gen), -1).first, values = randn({4, 70}, gen);
  const Tensor shuffled = ops::flip(sorted, {1});
  const Tensor order = ops::broadcast_to(ops::flip(arange(33).to(DType::Int64), {0}), {4, 33});
  for (const DType dtype : {DType::Float32, DType::Float16, DType::BFloat16}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor b = sorted.to(dtype), v = values.to(dtype), flat = b.reshape({4 * 33});
    for (const bool right : {false, true}) {
      EXPECT_EQ(ops::searchsorted(b.to(gpu), v.to(gpu), right).to_vector<int64_t>(),
                ops::searchsorted(b, v, right).to_vector<int64_t>());
      EXPECT_EQ(ops::bucketize(v.to(gpu), flat.to(gpu), right).to_vector<int64_t>(),
                ops::bucketize(v, flat, right).to_vector<int64_t>());
      const Tensor s = shuffled.to(dtype);
      EXPECT_EQ(ops::searchsorted(s.to(gpu), v.to(gpu), right, std::nullopt, order.to(gpu)).to_vector<int64_t>(),
                ops::searchsorted(b, v, right).to_vector<int64_t>());
    }
  }
  const Tensor counts = from_vector<int64_t>({1, 2, 2, 3}, {4});
  EXPECT_EQ(ops::searchsorted(counts.to(gpu), 2).item<int64_t>(), 1);
  EXPECT_EQ(ops::searchsorted(counts.to(gpu), from_vector<int64_t>({2, 9, 0}, {3}).to(gpu), true).to_vector<int64_t>(),
            (std::vector<int64_t>{3, 4, 0}));
  const Tensor flags = from_vector<bool>({false, true}, {2}).to(gpu);
  EXPECT_TRUE(
      throws_with([&] { ops::searchsorted(flags, flags); }, "\"searchsorted_out_cuda\" not implemented for 'Bool'"));
  EXPECT_TRUE(throws_with([&] { ops::searchsorted(counts, counts.to(gpu)); },
                          "boundaries and input value tensors should have same device type"));
  EXPECT_TRUE(throws_with(
      [&] { ops::searchsorted(counts.to(gpu), counts.to(gpu), false, std::nullopt, (counts + 1).to(gpu)); },
      "sorter's entries must lie in [0, 4)"));
}

// Channels-last operands on the device: arithmetic (either operand's format, broadcasts), activations and their
// backward, pooling, dropout, reductions, softmax, losses, Linear and an optimizer step give the CPU's bits in the
// CPU's memory format.
TEST_F(CudaTensor, ChannelsLastOpsMatchTheCpuBitForBit) {
  const Device gpu = Device::cuda(0);
  Generator gen(14);
  const MemoryFormat cl = MemoryFormat::ChannelsLast;
  const Tensor x = randn({2, 3, 6, 5}, gen), y = randn({2, 3, 6, 5}, gen), c = randn({3, 1, 1}, gen);
  const auto same = [](const Tensor& dev, const Tensor& host) {
    EXPECT_EQ(dev.device().is_cuda(), true);
    EXPECT_EQ(dev.memory_format(), host.memory_format());
    EXPECT_TRUE(testing::same_bits(dev.to_vector(), host.to_vector()));
  };
  const Tensor xc = x.to(cl), yc = y.to(cl);
  same(xc.to(gpu) * y.to(gpu) + c.to(gpu), xc * y + c);
  same(x.to(gpu) - yc.to(gpu), x - yc);
  Tensor in_place = xc.to(gpu);
  in_place += y.to(gpu);
  Tensor host_in_place = xc.clone();
  host_in_place += y;
  same(in_place, host_in_place);
  const Tensor r = ops::activation(ops::Activation::Tanh, xc);
  same(ops::activation(ops::Activation::Tanh, xc.to(gpu)), r);
  same(ops::activation_backward(ops::Activation::Tanh, y.to(gpu), r.to(gpu)),
       ops::activation_backward(ops::Activation::Tanh, y, r));
  ops::PoolParams p;
  p.kernel_size = {2};
  const ops::MaxPoolResult m = ops::max_pool(xc, 2, p), mg = ops::max_pool(xc.to(gpu), 2, p);
  same(mg.output, m.output);
  same(ops::max_pool_backward(m.output.to(gpu), xc.to(gpu), mg.indices, 2, p),
       ops::max_pool_backward(m.output, xc, m.indices, 2, p));
  same(ops::dropout(xc.to(gpu), 0.3, 5, 0), ops::dropout(xc, 0.3, 5, 0));
  // Factories fill channels-last device memory (the fill once refused it).
  same(full({2, 3, 4, 5}, 1.5, TensorOptions(gpu).memory_format(cl)),
       full({2, 3, 4, 5}, 1.5, TensorOptions().memory_format(cl)));
  const Tensor counts = full({2, 3, 4, 5}, 7, TensorOptions(gpu).dtype(DType::Int64).memory_format(cl));
  EXPECT_EQ(counts.memory_format(), cl);
  EXPECT_EQ(counts.to_vector<int64_t>(), std::vector<int64_t>(120, 7));
  // Reductions, softmax, losses and Linear read them in logical order (the loss gradient and the GEMM round as the
  // device's contiguous computation, not as the CPU's).
  same(ops::sum(xc.to(gpu), 1), ops::sum(x, 1));
  same(ops::max(xc.to(gpu), 3, true).first, ops::max(x, 3, true).first);
  same(ops::softmax(xc.to(gpu), 1, true), ops::softmax(x, 1, true));
  EXPECT_TRUE(testing::same_bits(ops::mse_loss(xc.to(gpu), y.to(gpu)).grad_input.to_vector(),
                                 ops::mse_loss(x.to(gpu), y.to(gpu)).grad_input.to_vector()));
  const Tensor w = randn({4, 5}, gen).to(gpu);
  EXPECT_TRUE(testing::same_bits(ops::linear(xc.to(gpu), w, Tensor()).to_vector(),
                                 ops::linear(x.to(gpu), w, Tensor()).to_vector()));
  // An optimizer steps a channels-last parameter in its memory order, a contiguous gradient brought to it.
  Tensor param = xc.to(gpu), host_param = xc.clone();
  param.mutable_grad() = y.to(gpu);
  host_param.mutable_grad() = y.clone();
  optim::Adam(std::vector<Tensor>{param}, optim::AdamOptions(0.1)).step();
  optim::Adam(std::vector<Tensor>{host_param}, optim::AdamOptions(0.1)).step();
  same(param, host_param);
}

TEST_F(CudaTensor, ReductionsAndIndexOpsMatchTheCpu) {
  const Device gpu = Device::cuda(0);
  Generator gen(15);
  const Tensor x = randn({3, 5, 7}, gen), d = x.to(gpu);
  for (int64_t dim : {0, 1, 2}) {
    EXPECT_EQ(ops::sum(d, dim).to_vector(), ops::sum(x, dim).to_vector());
    EXPECT_EQ(ops::mean(d, dim, true).to_vector(), ops::mean(x, dim, true).to_vector());
    EXPECT_EQ(ops::max(d, dim).first.to_vector(), ops::max(x, dim).first.to_vector());
    EXPECT_EQ(ops::argmax(d, dim).to_vector<int64_t>(), ops::argmax(x, dim).to_vector<int64_t>());
    EXPECT_EQ(ops::narrow(d, dim, 1, 2).to_vector(), ops::narrow(x, dim, 1, 2).to_vector());
  }
  // int64 reductions (reduce_dim's int64 kernel) and 16-bit ones (reduced as float32) give the host's values.
  const Tensor integers = (x * 1000.0).to(DType::Int64), device_integers = integers.to(gpu);
  const Tensor halves = x.to(DType::BFloat16), device_halves = halves.to(gpu);
  for (int64_t dim : {0, 1, 2}) {
    EXPECT_EQ(ops::sum(device_integers, dim).to_vector<int64_t>(), ops::sum(integers, dim).to_vector<int64_t>());
    const auto [values, indices] = ops::max(device_integers, dim, true);
    EXPECT_EQ(values.to_vector<int64_t>(), ops::max(integers, dim, true).first.to_vector<int64_t>());
    EXPECT_EQ(indices.to_vector<int64_t>(), ops::argmax(integers, dim, true).to_vector<int64_t>());
    EXPECT_EQ(ops::sum(device_halves, dim).to(DType::Float32).to_vector(),
              ops::sum(halves, dim).to(DType::Float32).to_vector());
  }
  EXPECT_EQ(ops::cat({d, d}, 1).to_vector(), ops::cat({x, x}, 1).to_vector());
  EXPECT_EQ(ops::cat({d, device_integers}, 2).to_vector(), ops::cat({x, integers}, 2).to_vector());
  EXPECT_EQ(ops::stack({d, d}, 3).to_vector(), ops::stack({x, x}, 3).to_vector());
  EXPECT_EQ(ops::select(d, 2, 3).device(), gpu);
  // Channels-last cat and narrow copy in the memory's order on the device too, keeping the format: the values of the
  // contiguous ops.
  const Tensor plain = randn({2, 3, 4, 5}, gen), device_image = plain.to(MemoryFormat::ChannelsLast).to(gpu);
  for (int64_t dim : {0, 1, 2, 3}) {
    const int64_t length = plain.size(dim) - 1;
    const Tensor joined = ops::cat({device_image, device_image}, dim);
    const Tensor part = ops::narrow(device_image, dim, 1, length);
    EXPECT_EQ(joined.memory_format(), MemoryFormat::ChannelsLast);
    EXPECT_EQ(joined.to_vector(), ops::cat({plain, plain}, dim).to_vector());
    EXPECT_EQ(part.memory_format(), MemoryFormat::ChannelsLast);
    EXPECT_EQ(part.to_vector(), ops::narrow(plain, dim, 1, length).to_vector());
  }
}

TEST_F(CudaTensor, RoundTripCloneCopy) {
  Generator g(1);
  const Tensor host = randn({2, 3, 4}, g);
  const Tensor dev = host.to(Device::cuda(0));
  EXPECT_EQ(dev.device(), Device::cuda(0));
  EXPECT_EQ(dev.to(Device::cpu()).to_vector(), host.to_vector());
  Tensor copy = dev.clone();
  EXPECT_EQ(copy.to_vector(), host.to_vector());
  Tensor target = zeros({2, 3, 4}, Device::cuda(0));
  target.copy_(host);
  EXPECT_EQ(target.to_vector(), host.to_vector());
  const Tensor i = full({3}, -4, TensorOptions(Device::cuda(0)).dtype(DType::Int64));
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{-4, -4, -4}));
}

TEST_F(CudaTensor, StreamGuardSwitchesTheCurrentStream) {
  cuda::Stream stream(0);
  const cudaStream_t before = cuda::current_stream(0);
  {
    cuda::StreamGuard guard(stream);
    EXPECT_EQ(cuda::current_stream(0), stream.get());
    Tensor t = ones({1 << 20}, Device::cuda(0));
    EXPECT_EQ(t.to_vector()[12345], 1.0f);
  }
  EXPECT_EQ(cuda::current_stream(0), before);
}

TEST_F(CudaTensor, BadDeviceOrdinalIsRefused) {
  EXPECT_TRUE(throws_with([] { zeros({1}, Device::cuda(cuda::device_count())); }, "requested but only"));
}

TEST_F(CudaTensor, MixedDevicesAreRefusedByBatchNorm) {
  const Tensor x = ones({4, 3});
  const Tensor rm = zeros({3}, Device::cuda(0)), rv = ones({3});
  EXPECT_TRUE(throws_with(
      [&] { ops::batch_norm_forward_training(x, Tensor(), Tensor(), rm, rv, Tensor(), 0.1, 1e-5); },
      "Expected all tensors to be on the same device, but found at least two devices, cpu and cuda:0!"));
}

}  // namespace
}  // namespace normrt
