// Experimental BatchNorm variants on a GPU (label gpu): the single-read forward against the library's kernels.
#include "gpu_test_support.h"
#include "batchnorm_forward_single_read.cuh"
#include "test_util.h"

namespace normrt {
namespace {

using testing::all_close;

TEST(CudaVariants, SingleReadForwardMatchesTheLibrary) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  int optin = 0;
  ASSERT_EQ(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0), cudaSuccess);
  const Device gpu = Device::cuda(0);
  for (Shape shape : {Shape{128, 64, 7, 7}, Shape{4, 3, 1001}, Shape{2, 8, 4, 5, 6}}) {
    SCOPED_TRACE(shape_str(shape));
    bn::Geometry g{shape[0], shape[1], 1};
    for (std::size_t d = 2; d < shape.size(); ++d) g.S *= shape[d];
    ASSERT_TRUE(bn::cuda::variants::single_read_supported(g, static_cast<std::size_t>(optin)));
    Generator gen(4);
    const Tensor x = randn(shape, gen, gpu), w = rand({g.C}, gen, gpu), b = randn({g.C}, gen, gpu);
    Tensor rm = zeros({g.C}, gpu), rv = ones({g.C}, gpu), n = zeros({}, TensorOptions(gpu).dtype(DType::Int64));
    Tensor rm2 = rm.clone(), rv2 = rv.clone(), n2 = n.clone();
    const auto ref = ops::batch_norm_forward_training(x, w, b, rm, rv, n, std::nullopt, 1e-5, Backend::Native);
    Tensor y = empty(shape, gpu), mean = empty({g.C}, gpu), invstd = empty({g.C}, gpu);
    Tensor semaphore = zeros({1}, TensorOptions(gpu).dtype(DType::Int64));
    bn::ForwardTrainingParams p;
    p.geometry = g;
    p.x = x.data<float>();
    p.weight = w.data<float>();
    p.bias = b.data<float>();
    p.y = y.data<float>();
    p.save_mean = mean.data<float>();
    p.save_invstd = invstd.data<float>();
    p.running_mean = rm2.data<float>();
    p.running_var = rv2.data<float>();
    p.num_batches_tracked = n2.data<int64_t>();
    p.cumulative_average = true;
    p.eps = 1e-5;
    bn::cuda::variants::forward_training_single_read(p, reinterpret_cast<unsigned*>(semaphore.raw_data()),
                                                     static_cast<std::size_t>(optin), cuda::current_stream(0));
    EXPECT_TRUE(all_close(y.to_vector(), ref.output.to_vector(), 1e-4, 1e-5));
    // Means of zero-mean data: their rounding error scales with the data, not with the mean.
    const auto xs = x.to_vector();
    const double x_scale = testing::max_abs(std::vector<double>(xs.begin(), xs.end()));
    EXPECT_TRUE(all_close(mean.to_vector(), ref.save_mean.to_vector(), 1e-5, 1e-6, x_scale));
    EXPECT_TRUE(all_close(rv2.to_vector(), rv.to_vector(), 1e-4, 0));
    EXPECT_EQ(n2.item<int64_t>(), 1);
    EXPECT_EQ(semaphore.item<int64_t>(), 0);
  }
}

}  // namespace
}  // namespace normrt
