// SyncBatchNorm on CUDA tensors: ranks as threads of the in-process group, each driving the device with its share
// of a batch, against single-process BatchNorm on the whole batch (the CPU backend: an independent path), bit for
// bit against the device's own BatchNorm with one rank; 16-bit channels-last shares, the fused epilogue, empty shares;
// the refusal that must reach every rank and change nothing; the module on the device.
#include "gpu_test_support.h"

#include <mutex>

#include "dist_test_util.h"
#include "sync_batchnorm_module_scenario.h"
#include "normrt/cuda.h"
#include "test_util.h"

namespace normrt {
namespace {

using testing::all_close;
using testing::run_ranks;

const Device kGpu = Device::cuda(0);

struct Split {
  Shape shape;                  // the whole batch
  std::vector<int64_t> shares;  // batch rows per rank, in rank order
  DType dtype;
  bool channels_last;
  bool fused;  // residual + ReLU
  double offset;
};

std::string label(const Split& s) {
  std::string out = shape_str(s.shape) + " " + dtype_name(s.dtype) + (s.channels_last ? " channels-last" : "") +
                    (s.fused ? " fused" : "") + " over";
  for (int64_t n : s.shares) out += " " + std::to_string(n);
  return out;
}

struct RankResult {
  ops::BatchNormForwardResult forward;
  ops::BatchNormBackwardResult backward;
  Tensor running_mean, running_var, num_batches_tracked;
};

Tensor as_operand(const Tensor& t, const Split& s) {
  const Tensor typed = t.to(s.dtype);
  return s.channels_last ? typed.to(s.shape.size() == 5 ? MemoryFormat::ChannelsLast3d : MemoryFormat::ChannelsLast)
                         : typed;
}

TEST(CudaSyncBatchNorm, RanksTogetherComputeTheWholeBatch) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  const std::vector<Split> splits = {
      {{10, 5}, {4, 6}, DType::Float32, false, false, 0},
      {{7, 3, 5, 4}, {2, 0, 5}, DType::Float32, false, true, 0},
      {{6, 2, 33}, {1, 2, 3}, DType::Float32, false, false, 1e3},
      {{6, 4, 3, 5}, {4, 2}, DType::BFloat16, true, true, 1},
      {{5, 8, 2, 3}, {3, 2}, DType::Float16, false, false, -2}};
  for (const Split& s : splits) {
    SCOPED_TRACE(label(s));
    const int64_t C = s.shape[1];
    Generator gen(12);
    const Tensor x = as_operand(randn(s.shape, gen) + s.offset, s), dy = as_operand(randn(s.shape, gen), s);
    const Tensor z = as_operand(randn(s.shape, gen), s);
    const Tensor w = rand({C}, gen) + 0.5, b = randn({C}, gen);
    const Tensor rm0 = randn({C}, gen), rv0 = rand({C}, gen) + 0.5;
    // The reference: the CPU backend on the whole batch.
    Tensor rm = rm0.clone(), rv = rv0.clone(), nbt = zeros({}, TensorOptions().dtype(DType::Int64));
    ops::BatchNormEpilogue epilogue;
    if (s.fused) epilogue = {z, true};
    const auto ref = ops::batch_norm_forward_training(x, w, b, rm, rv, nbt, 0.1, 1e-5, std::nullopt, epilogue);
    ops::BatchNormBackwardEpilogue back_epilogue;
    if (s.fused) back_epilogue = {ref.output, true};
    const auto ref_back = ops::batch_norm_backward(dy, x, w, ref.save_mean, ref.save_invstd, true, 1e-5, std::nullopt,
                                                   back_epilogue);

    const int ranks = static_cast<int>(s.shares.size());
    dist::InProcessWorld world(ranks);
    std::vector<RankResult> results(static_cast<std::size_t>(ranks));
    const auto errors = run_ranks(world, [&](dist::ProcessGroup& group) {
      const int r = group.rank();
      int64_t start = 0;
      for (int q = 0; q < r; ++q) start += s.shares[q];
      const auto share = [&](const Tensor& t) {
        return ops::narrow(t, 0, start, s.shares[r]).to(kGpu).to(x.memory_format());
      };
      const Tensor xs = share(x), dys = share(dy), zs = share(z);
      RankResult& out = results[static_cast<std::size_t>(r)];
      out.running_mean = rm0.to(kGpu);
      out.running_var = rv0.to(kGpu);
      out.num_batches_tracked = zeros({}, TensorOptions(kGpu).dtype(DType::Int64));
      ops::BatchNormEpilogue e;
      if (s.fused) e = {zs, true};
      out.forward = ops::sync_batch_norm_forward(xs, w.to(kGpu), b.to(kGpu), out.running_mean, out.running_var,
                                                 out.num_batches_tracked, 0.1, 1e-5, group, e);
      ops::BatchNormBackwardEpilogue be;
      if (s.fused) be = {out.forward.output, true};
      out.backward = ops::sync_batch_norm_backward(dys, xs, w.to(kGpu), out.forward.save_mean,
                                                   out.forward.save_invstd, group, be);
      cuda::synchronize(0);
    });
    for (const std::string& e : errors) ASSERT_EQ(e, "");

    std::vector<Tensor> outputs, grads, residual_grads;
    Tensor grad_weight = zeros({C}), grad_bias = zeros({C});
    for (const RankResult& r : results) {
      EXPECT_EQ(r.forward.output.dtype(), s.dtype);
      EXPECT_EQ(r.forward.output.memory_format(), x.memory_format());
      outputs.push_back(r.forward.output.to(Device::cpu()).to(DType::Float32).contiguous());
      grads.push_back(r.backward.grad_input.to(Device::cpu()).to(DType::Float32).contiguous());
      if (s.fused) residual_grads.push_back(r.backward.grad_residual.to(Device::cpu()).to(DType::Float32).contiguous());
      grad_weight = grad_weight + r.backward.grad_weight.to(Device::cpu());
      grad_bias = grad_bias + r.backward.grad_bias.to(Device::cpu());
      // Every rank holds the same statistics and running statistics, to the bit.
      EXPECT_EQ(r.forward.save_mean.to_vector(), results[0].forward.save_mean.to_vector());
      EXPECT_EQ(r.forward.save_invstd.to_vector(), results[0].forward.save_invstd.to_vector());
      EXPECT_EQ(r.running_mean.to_vector(), results[0].running_mean.to_vector());
      EXPECT_EQ(r.running_var.to_vector(), results[0].running_var.to_vector());
      EXPECT_EQ(r.num_batches_tracked.to(Device::cpu()).item<int64_t>(), 1);
    }
    // 16-bit outputs may round the other way once (a unit in the last place of the format).
    const double ulp = s.dtype == DType::Float32 ? 0 : s.dtype == DType::Float16 ? 1.0 / 1024 : 1.0 / 128;
    const std::vector<float> y_ref = ref.output.to(DType::Float32).contiguous().to_vector();
    EXPECT_TRUE(all_close(ops::cat(outputs, 0).to_vector(), y_ref, 1e-5 + ulp, 1e-5 + ulp));
    const RankResult& first = results[0];
    const double mean_abs = 1e-6 * (1 + std::fabs(s.offset));
    EXPECT_TRUE(all_close(first.forward.save_mean.to_vector(), ref.save_mean.to_vector(), 1e-6, mean_abs));
    EXPECT_TRUE(all_close(first.forward.save_invstd.to_vector(), ref.save_invstd.to_vector(), 1e-5, 0));
    EXPECT_TRUE(all_close(first.running_mean.to_vector(), rm.to_vector(), 1e-6, mean_abs));
    EXPECT_TRUE(all_close(first.running_var.to_vector(), rv.to_vector(), 1e-5, 0));
    const std::vector<float> dx_ref = ref_back.grad_input.to(DType::Float32).contiguous().to_vector();
    EXPECT_TRUE(all_close(ops::cat(grads, 0).to_vector(), dx_ref, 1e-4 + ulp, 1e-4 + ulp));
    if (s.fused) {
      const std::vector<float> dz_ref = ref_back.grad_residual.to(DType::Float32).contiguous().to_vector();
      EXPECT_TRUE(all_close(ops::cat(residual_grads, 0).to_vector(), dz_ref, ulp, ulp));
    }
    const double dweight_abs = 1e-4 * (1 + std::fabs(s.offset));
    EXPECT_TRUE(all_close(grad_weight.to_vector(), ref_back.grad_weight.to_vector(), 1e-4, dweight_abs));
    EXPECT_TRUE(all_close(grad_bias.to_vector(), ref_back.grad_bias.to_vector(), 1e-4, 1e-5));
  }
}

// A group of one gives the device's own BatchNorm bits, forward and backward.
TEST(CudaSyncBatchNorm, OneRankGivesTheDeviceBatchNormsBits) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  for (const Shape& shape : {Shape{9, 4, 7, 5}, Shape{33, 6}}) {
    SCOPED_TRACE(shape_str(shape));
    Generator gen(4);
    const Tensor x = (randn(shape, gen) + 3.0).to(kGpu), dy = randn(shape, gen).to(kGpu);
    const Tensor w = (rand({shape[1]}, gen) + 0.5).to(kGpu), b = randn({shape[1]}, gen).to(kGpu);
    auto step = [&](bool sync) {
      Tensor rm = zeros({shape[1]}, kGpu), rv = ones({shape[1]}, kGpu);
      Tensor nbt = zeros({}, TensorOptions(kGpu).dtype(DType::Int64));
      dist::InProcessWorld world(1);
      const auto f = sync ? ops::sync_batch_norm_forward(x, w, b, rm, rv, nbt, std::nullopt, 1e-5, world.group(0))
                          : ops::batch_norm_forward_training(x, w, b, rm, rv, nbt, std::nullopt, 1e-5);
      const auto g = sync ? ops::sync_batch_norm_backward(dy, x, w, f.save_mean, f.save_invstd, world.group(0))
                          : ops::batch_norm_backward(dy, x, w, f.save_mean, f.save_invstd, true, 1e-5);
      std::vector<float> all = f.output.to_vector();
      for (const Tensor& t : {f.save_mean, f.save_invstd, rm, rv, g.grad_input, g.grad_weight, g.grad_bias}) {
        const std::vector<float> v = t.to_vector();
        all.insert(all.end(), v.begin(), v.end());
      }
      all.push_back(static_cast<float>(nbt.to(Device::cpu()).item<int64_t>()));
      return all;
    };
    EXPECT_TRUE(testing::same_bits(step(true), step(false)));
  }
}

// One value per channel over the group is refused on every rank before anything changes; operands on another
// device are refused by name.
TEST(CudaSyncBatchNorm, RefusalsReachEveryRankAndChangeNothing) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  const std::vector<Shape> shapes = {{1, 2, 1}, {0, 2, 1}, {0, 2, 1}};
  dist::InProcessWorld world(3, std::chrono::seconds(20));
  std::mutex mutex;
  std::vector<std::vector<float>> after;
  const auto errors = run_ranks(world, [&](dist::ProcessGroup& group) {
    const Shape& shape = shapes[static_cast<std::size_t>(group.rank())];
    Tensor rm = zeros({2}, kGpu), rv = ones({2}, kGpu), nbt = zeros({}, TensorOptions(kGpu).dtype(DType::Int64));
    try {
      ops::sync_batch_norm_forward(full(shape, 2.0f, kGpu), Tensor(), Tensor(), rm, rv, nbt, 0.1, 1e-5, group);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex);
      after.push_back(rm.to_vector());
      after.back().push_back(rv.to_vector()[0]);
      after.back().push_back(static_cast<float>(nbt.to(Device::cpu()).item<int64_t>()));
      throw;
    }
  });
  for (std::size_t r = 0; r < errors.size(); ++r)
    EXPECT_NE(errors[r].find("1 value per channel over the 3 ranks"), std::string::npos) << r << ": " << errors[r];
  ASSERT_EQ(after.size(), 3u);
  for (const auto& values : after) EXPECT_EQ(values, (std::vector<float>{0, 0, 1, 0}));

  dist::InProcessWorld one(1);
  Tensor rm = zeros({2}, kGpu), rv = ones({2}, kGpu), nbt = zeros({}, TensorOptions().dtype(DType::Int64));
  EXPECT_TRUE(testing::throws_with(
      [&] { ops::sync_batch_norm_forward(ones({4, 2}, kGpu), Tensor(), Tensor(), rm, rv, nbt, 0.1, 1e-5,
                                         one.group(0)); },
      "num_batches_tracked must be a one-element int64 tensor on the input's device"));
  EXPECT_TRUE(testing::throws_with(
      [&] { ops::sync_batch_norm_forward(ones({4, 2}, kGpu), ones({2}), Tensor(), Tensor(), Tensor(), Tensor(), 0.1,
                                         1e-5, one.group(0)); },
      "weight is on cpu, the input on cuda:0"));
}

// The module on the device, against BatchNorm2d on the whole batch (CPU).
TEST(CudaSyncBatchNorm, TheModuleOnTheDeviceMatchesBatchNormOnTheWholeBatch) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  testing::check_sync_batchnorm_module_on(kGpu);
}

}  // namespace
}  // namespace normrt
