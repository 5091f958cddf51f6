// Tensors on a CUDA device (label gpu). Skipped when no device is present.
#include "test_util.h"

namespace normrt {
namespace {

using testing::throws_with;

class CudaTensor : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda::is_available()) GTEST_SKIP() << "no CUDA device";
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
