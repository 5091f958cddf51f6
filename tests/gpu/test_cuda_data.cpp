// The data loader's device path (label gpu): its pinned staging and copies give the batches the
// CPU loader gives, epoch after epoch, including the last short batch and normalisation.
#include "gpu_test_support.h"
#include "normrt/data.h"
#include "test_util.h"

namespace normrt::data {
namespace {

Dataset counting_dataset(int64_t count, int64_t pixels) {
  Dataset d;
  d.count = count;
  d.rows = 1;
  d.cols = pixels;
  for (int64_t i = 0; i < count; ++i) {
    for (int64_t p = 0; p < pixels; ++p) d.pixels.push_back(static_cast<uint8_t>((i * 7 + p * 13) % 256));
    d.labels.push_back(i % 10);
  }
  return d;
}

TEST(CudaLoader, ServesTheBatchesOfTheCpuLoader) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  const Dataset d = counting_dataset(37, 5);
  const std::vector<int64_t> subset = {3, 1, 4, 15, 9, 2, 6, 5, 35, 8, 7, 30, 21, 22, 0, 36, 11};
  for (const LoaderOptions& options : {LoaderOptions{4, true, false, std::nullopt},
                                       LoaderOptions{5, false, false, std::make_pair(0.5f, 0.25f)},
                                       LoaderOptions{6, true, true, std::nullopt},
                                       LoaderOptions{4, true, false, std::make_pair(0.5f, 0.25f), 1, 0.5}}) {
    for (const auto& indices : {std::vector<int64_t>{}, subset}) {
      DataLoader on_cpu(d, indices, options, 11, Device::cpu());
      DataLoader on_gpu(d, indices, options, 11, Device::cuda(0));
      ASSERT_EQ(on_gpu.batches_per_epoch(), on_cpu.batches_per_epoch());
      for (int epoch = 0; epoch < 2; ++epoch) {
        on_cpu.start_epoch();
        on_gpu.start_epoch();
        int64_t batches = 0;
        while (auto expected = on_cpu.next()) {
          const auto got = on_gpu.next();
          ASSERT_TRUE(got.has_value()) << "epoch " << epoch << " batch " << batches;
          EXPECT_EQ(got->images.device(), Device::cuda(0));
          EXPECT_EQ(got->images.sizes(), expected->images.sizes());
          EXPECT_EQ(got->images.to_vector(), expected->images.to_vector());
          EXPECT_EQ(got->labels.to_vector<int64_t>(), expected->labels.to_vector<int64_t>());
          ++batches;
        }
        EXPECT_FALSE(on_gpu.next().has_value());
        EXPECT_EQ(batches, on_cpu.batches_per_epoch());
      }
    }
  }
}

}  // namespace
}  // namespace normrt::data
