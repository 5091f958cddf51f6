// Layers, losses and optimizers on a GPU (label gpu): PyTorch golden cases, agreement with the CPU path,
// device-independent dropout masks, and refusals.
#include <thread>

#include "gpu_test_support.h"
#include "activation_golden_runner.h"
#include "amp_scenario.h"
#include "autocast_golden_runner.h"
#include "fold_golden_runner.h"
#include "embedding_golden_runner.h"
#include "empty_shapes.h"
#include "nn_golden_runner.h"
#include "losses_golden_runner.h"
#include "norms_golden_runner.h"
#include "permute_golden_runner.h"
#include "prelu_golden_runner.h"
#include "scatter_gather_golden_runner.h"
#include "pointwise_loss_golden_runner.h"
#include "blocks_golden_runner.h"
#include "swa_golden_runner.h"
#include "tensor_ops_golden_runner.h"
#include "dist_test_util.h"

namespace normrt {
namespace {

using testing::all_close;
using testing::throws_with;

const Device kGpu = Device::cuda(0);

class CudaNnGolden : public ::testing::TestWithParam<std::string> {};

// Channel dropout draws the same mask on every device: the GPU's output and gradient are the CPU's bits.
TEST(CudaFeatureDropout, GivesTheCpusMasks) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  Generator data(3), first(5), second(5);
  const Tensor x = randn({4, 6, 5, 5}, data);
  nn::Dropout2d cpu(0.4, &first), gpu(0.4, &second);
  gpu.to(kGpu);
  EXPECT_EQ(gpu.forward(x.to(kGpu)).to_vector(), cpu.forward(x).to_vector());
  EXPECT_EQ(gpu.backward(x.to(kGpu)).to_vector(), cpu.backward(x).to_vector());
}

// Weight averaging and update_bn on the device, against PyTorch's (the CPU suite's golden data).
TEST(CudaSwaUtils, AveragesAndBatchNormStatisticsMatchPyTorch) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  testing::run_swa_golden(kGpu);
}

// Concat, SqueezeExcitation and StochasticDepth on the device, against PyTorch and torchvision (the CPU suite's golden
// data).
TEST(CudaBlocks, MatchPyTorchAndTorchvision) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  testing::run_blocks_golden(kGpu);
}

// BatchNorm folding of models on the device, against PyTorch's fusion (the CPU suite's golden data): the folded
// weights stay on the device.
TEST(CudaFold, MatchesPyTorchsFusion) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  testing::run_fold_golden(kGpu);
}

// A module on the GPU refuses CPU input (the CPU's fused norms read the parameters' memory).
TEST(CudaNorms, RefuseInputOnAnotherDevice) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  nn::LayerNorm layer({4});
  nn::GroupNorm group(2, 4);
  layer.to(kGpu);
  group.to(kGpu);
  EXPECT_TRUE(throws_with([&] { layer.forward(zeros({2, 4})); }, "Expected all tensors to be on the same device"));
  EXPECT_TRUE(throws_with([&] { group.forward(zeros({2, 4, 3})); }, "Expected all tensors to be on the same device"));
}

// 16-bit input on the GPU: the float32 kernels' result on its values, rounded once (the parameter gradients float32).
TEST(CudaNorms, SixteenBitInputIsTheFloat32ComputationRounded) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  Generator gen(17);
  const Tensor x = (randn({6, 40}, gen) + 5.0).to(DType::BFloat16).to(kGpu), dy = randn({6, 40}, gen).to(kGpu);
  const Tensor w = (rand({40}, gen) + 0.5).to(kGpu), b = randn({40}, gen).to(kGpu);
  const auto narrow = ops::layer_norm_forward(x, {40}, w, b);
  const auto wide = ops::layer_norm_forward(x.to(DType::Float32), {40}, w, b);
  EXPECT_EQ(narrow.output.to(DType::Float32).to_vector(),
            wide.output.to(DType::BFloat16).to(DType::Float32).to_vector());
  const auto narrow_grads = ops::layer_norm_backward(dy.to(DType::BFloat16), x, {40}, narrow.mean, narrow.rstd, w);
  const auto wide_grads = ops::layer_norm_backward(dy.to(DType::BFloat16).to(DType::Float32), x.to(DType::Float32),
                                                   {40}, wide.mean, wide.rstd, w);
  EXPECT_EQ(narrow_grads.grad_input.dtype(), DType::BFloat16);
  EXPECT_EQ(narrow_grads.grad_weight.to_vector(), wide_grads.grad_weight.to_vector());
}

class CudaPReLUGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaPReLUGolden, MatchesPyTorch) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  testing::run_prelu_golden_case(GetParam(), kGpu);
}

INSTANTIATE_TEST_SUITE_P(PyTorch, CudaPReLUGolden, ::testing::ValuesIn(testing::prelu_golden_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

class CudaPermuteGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaPermuteGolden, MatchesPyTorch) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  testing::run_permute_golden_case(GetParam(), kGpu);
}

INSTANTIATE_TEST_SUITE_P(PyTorch, CudaPermuteGolden, ::testing::ValuesIn(testing::permute_golden_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

class CudaEmbeddingGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaEmbeddingGolden, MatchesPyTorch) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  testing::run_embedding_golden_case(GetParam(), kGpu);
}

INSTANTIATE_TEST_SUITE_P(PyTorch, CudaEmbeddingGolden, ::testing::ValuesIn(testing::embedding_golden_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// The device's backward adds in the CPU's order: the same bits, in each dtype, over many positions with a hot row;
// a lookup of an index outside the table gives a NaN row on the device (the CPU refuses it).
TEST(CudaEmbedding, GivesTheCpusBitsAndNanRowsForBadIndices) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  const int64_t rows = 29, columns = 70, n = 1500;
  std::vector<int64_t> idx(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[i] = i % 3 == 0 ? 5 : (i * 7919) % rows;
  const Tensor indices = from_vector(idx, {3, n / 3});
  Generator gen(12);
  const Tensor dy = randn({3, n / 3, columns}, gen), weight = randn({rows, columns}, gen);
  for (const DType dtype : {DType::Float32, DType::Float16, DType::BFloat16}) {
    const Tensor g = dy.to(dtype);
    EXPECT_TRUE(testing::same_bits(
        ops::embedding_backward(g.to(kGpu), indices.to(kGpu), rows, 2, true).to(DType::Float32).to_vector(),
        ops::embedding_backward(g, indices, rows, 2, true).to(DType::Float32).to_vector()));
    Tensor on_gpu = weight.to(dtype).to(kGpu), on_cpu = weight.to(dtype);
    ops::embedding_renorm_(on_gpu, indices.to(kGpu), 3.0, 1.5);
    ops::embedding_renorm_(on_cpu, indices, 3.0, 1.5);
    EXPECT_TRUE(testing::same_bits(on_gpu.to(DType::Float32).to_vector(), on_cpu.to(DType::Float32).to_vector()));
  }
  const std::vector<float> y =
      ops::embedding(weight.to(kGpu), from_vector(std::vector<int64_t>{1, rows, -1}, {3}, kGpu)).to_vector();
  for (int64_t c = 0; c < columns; ++c) {
    EXPECT_EQ(y[c], weight.to_vector()[columns + c]);
    EXPECT_TRUE(std::isnan(y[columns + c]) && std::isnan(y[2 * columns + c]));
  }
}

class CudaScatterGatherGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaScatterGatherGolden, MatchesPyTorch) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  testing::run_scatter_gather_golden_case(GetParam(), kGpu);
}

INSTANTIATE_TEST_SUITE_P(PyTorch, CudaScatterGatherGolden,
                         ::testing::ValuesIn(testing::scatter_gather_golden_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// The device applies each element's positions in the CPU's order: the same bits in every dtype and reduction, over
// many positions on few elements; an index out of range gathers NaN (0 for int64) and is left out of a scatter (the CPU
// refuses it).
TEST(CudaScatterGather, GiveTheCpusBitsAndLeaveBadIndicesOut) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  Generator gen(13);
  const Tensor index = randint(0, 3, {4, 700, 3}, gen), src = randn({5, 701, 3}, gen), self = randn({4, 3, 3}, gen);
  for (const DType dtype : {DType::Float32, DType::Float16, DType::BFloat16, DType::Int64}) {
    const bool whole = dtype == DType::Int64;
    const Tensor s = whole ? randint(-1000, 1000, self.sizes(), gen) : self.to(dtype);
    const Tensor v = whole ? randint(-1000, 1000, src.sizes(), gen) : src.to(dtype);
    const auto same = [whole](const Tensor& gpu, const Tensor& cpu) {
      const Tensor back = gpu.to(Device::cpu());
      if (whole) return ::testing::AssertionResult(back.to_vector<int64_t>() == cpu.to_vector<int64_t>());
      return testing::same_bits(back.to(DType::Float32).to_vector(), cpu.to(DType::Float32).to_vector());
    };
    EXPECT_TRUE(same(ops::scatter_add(s.to(kGpu), 1, index.to(kGpu), v.to(kGpu)), ops::scatter_add(s, 1, index, v)));
    EXPECT_TRUE(same(ops::scatter(s.to(kGpu), 1, index.to(kGpu), v.to(kGpu)), ops::scatter(s, 1, index, v)));
    EXPECT_TRUE(same(ops::gather(v.to(kGpu), 1, index.to(kGpu)), ops::gather(v, 1, index)));
    EXPECT_TRUE(same(ops::scatter(s.to(kGpu), 1, index.to(kGpu), v.to(kGpu), "multiply"),
                     ops::scatter(s, 1, index, v, "multiply")));
    for (const char* reduce : {"sum", "prod", "mean", "amax", "amin"})
      for (const bool include_self : {true, false})
        EXPECT_TRUE(same(ops::scatter_reduce(s.to(kGpu), 1, index.to(kGpu), v.to(kGpu), reduce, include_self),
                         ops::scatter_reduce(s, 1, index, v, reduce, include_self)))
            << reduce << " include_self " << include_self;
  }
  const Tensor bad = from_vector(std::vector<int64_t>{1, 3, -1, 0}, {4});
  const std::vector<float> gathered = ops::gather(from_vector(std::vector<float>{5, 6, 7}, {3}, kGpu), 0, bad.to(kGpu))
                                          .to_vector();
  EXPECT_EQ(gathered[0], 6.0f);
  EXPECT_TRUE(std::isnan(gathered[1]) && std::isnan(gathered[2]));
  EXPECT_EQ(gathered[3], 5.0f);
  EXPECT_EQ(ops::gather(from_vector(std::vector<int64_t>{5, 6, 7}, {3}, kGpu), 0, bad.to(kGpu)).to_vector<int64_t>(),
            std::vector<int64_t>({6, 0, 0, 5}));
  EXPECT_EQ(ops::scatter_add(zeros({3}, TensorOptions(kGpu)), 0, bad.to(kGpu), ones({4}, TensorOptions(kGpu)))
                .to_vector(),
            std::vector<float>({1, 1, 0}));
}

// Few positions into a large tensor (600,000 elements: three radix passes of the device's sort, three tiles of
// positions), with repeats: the CPU's bits, out of place and in place (a mean too).
// embedding_bag on a device: the CPU's bits in every mode and dtype (per-sample weights, padding, empty bags and
// include_last_offset), its bag sizes, offset2bag and max indices, the weight's gradient bit for bit and the
// per-sample weights' to rounding; a bad index's element is NaN.
TEST(CudaEmbeddingBag, GivesTheCpusBits) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  Generator gen(15);
  const int64_t rows = 31, columns = 45;
  const Tensor weight = randn({rows, columns}, gen), input = randint(0, rows, {3000}, gen), scales = randn({3000}, gen);
  std::vector<int64_t> starts = {0, 0, 5};
  for (int64_t s = 17; s < 3000; s += 23) starts.push_back(s);
  starts.push_back(2990);
  const Tensor offsets = from_vector(starts, {static_cast<int64_t>(starts.size())});
  using ops::EmbeddingBagMode;
  for (const DType dtype : {DType::Float32, DType::Float16, DType::BFloat16})
    for (const auto mode : {EmbeddingBagMode::Sum, EmbeddingBagMode::Mean, EmbeddingBagMode::Max})
      for (const std::optional<int64_t> padding : {std::optional<int64_t>(), std::optional<int64_t>(7)})
        for (const bool last : {false, true}) {
          const Tensor w = weight.to(dtype), s = mode == EmbeddingBagMode::Sum ? scales.to(dtype) : Tensor();
          const ops::EmbeddingBagResult cpu = ops::embedding_bag(w, input, offsets, mode, s, last, padding);
          const ops::EmbeddingBagResult gpu = ops::embedding_bag(w.to(kGpu), input.to(kGpu), offsets.to(kGpu), mode,
                                                                 s.defined() ? s.to(kGpu) : s, last, padding);
          const auto bits = [](const Tensor& t) { return t.to(Device::cpu()).to(DType::Float32).to_vector(); };
          EXPECT_TRUE(testing::same_bits(bits(gpu.output), bits(cpu.output))) << static_cast<int>(mode);
          EXPECT_EQ(gpu.bag_size.to(Device::cpu()).to_vector<int64_t>(), cpu.bag_size.to_vector<int64_t>());
          EXPECT_EQ(gpu.offset2bag.to(Device::cpu()).to_vector<int64_t>(), cpu.offset2bag.to_vector<int64_t>());
          EXPECT_EQ(gpu.bagged, cpu.bagged);
          if (mode == EmbeddingBagMode::Max)
            EXPECT_EQ(gpu.max_indices.to(Device::cpu()).to_vector<int64_t>(), cpu.max_indices.to_vector<int64_t>());
          const Tensor dy = randn(cpu.output.sizes(), gen).to(dtype);
          const bool scaled = mode != EmbeddingBagMode::Max;  // max refuses scale_grad_by_freq
          EXPECT_TRUE(
              testing::same_bits(bits(ops::embedding_bag_backward(dy.to(kGpu), input.to(kGpu), gpu, rows, mode,
                                                                  s.defined() ? s.to(kGpu) : s, scaled, padding)),
                                 bits(ops::embedding_bag_backward(dy, input, cpu, rows, mode, s, scaled, padding))));
          if (!s.defined()) continue;
          EXPECT_TRUE(testing::all_close(
              bits(ops::embedding_bag_per_sample_weights_backward(dy.to(kGpu), w.to(kGpu), input.to(kGpu), gpu,
                                                                  padding)),
              bits(ops::embedding_bag_per_sample_weights_backward(dy, w, input, cpu, padding)), 1e-5, 1e-5));
        }
  const Tensor bad = from_vector(std::vector<int64_t>{1, rows, -1}, {3}, kGpu);
  const std::vector<float> y =
      ops::embedding_bag(weight.to(kGpu), bad, from_vector(std::vector<int64_t>{0, 1, 2}, {3}, kGpu),
                         EmbeddingBagMode::Sum)
          .output.to_vector();
  for (int64_t c = 0; c < columns; ++c) {
    EXPECT_EQ(y[c], weight.to_vector()[columns + c]);
    EXPECT_TRUE(std::isnan(y[columns + c]) && std::isnan(y[2 * columns + c]));
  }
}

// The rearrangements on a device: the CPU's elements in every dtype, and flip/roll's channels-last format.
TEST(CudaRearrange, GiveTheCpusElements) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  Generator gen(16);
  const Tensor counts = from_vector(std::vector<int64_t>{3, 0, 1, 2}, {4});
  for (const DType dtype : {DType::Float32, DType::Float16, DType::BFloat16, DType::Int64, DType::Bool}) {
    const Tensor x = (dtype == DType::Int64 ? randint(-9, 9, {3, 4, 5, 6}, gen) : randn({3, 4, 5, 6}, gen).to(dtype))
                         .to(MemoryFormat::ChannelsLast);
    const Tensor d = x.to(kGpu);
    const auto same = [](const Tensor& gpu, const Tensor& cpu) {
      EXPECT_EQ(gpu.sizes(), cpu.sizes());
      EXPECT_EQ(gpu.memory_format(), cpu.memory_format());
      return testing::same_bits(gpu.to(Device::cpu()).to(DType::Float32).to_vector(),
                                cpu.to(DType::Float32).to_vector());
    };
    EXPECT_TRUE(same(ops::flip(d, {1, -1}), ops::flip(x, {1, -1})));
    EXPECT_TRUE(same(ops::roll(d, {2, -3}, {1, 3}), ops::roll(x, {2, -3}, {1, 3})));
    EXPECT_TRUE(same(ops::roll(d, {7}), ops::roll(x, {7})));
    EXPECT_TRUE(same(ops::repeat(d, {2, 1, 3, 1, 2}), ops::repeat(x, {2, 1, 3, 1, 2})));
    EXPECT_TRUE(same(ops::repeat_interleave(d, 3, 2), ops::repeat_interleave(x, 3, 2)));
    EXPECT_TRUE(same(ops::repeat_interleave(d, counts.to(kGpu), 1), ops::repeat_interleave(x, counts, 1)));
    EXPECT_TRUE(same(ops::tril(d, 1), ops::tril(x, 1)));
    EXPECT_TRUE(same(ops::triu(d, -2), ops::triu(x, -2)));
  }
}

TEST(CudaScatterGather, FewPositionsIntoALargeTensorGiveTheCpusBits) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  Generator gen(14);
  const Tensor index = randint(0, 1000, {600, 8}, gen), dy = randn({600, 8}, gen);
  const Tensor expected = ops::gather_backward(dy, {600, 1000}, 1, index);
  EXPECT_TRUE(testing::same_bits(ops::gather_backward(dy.to(kGpu), {600, 1000}, 1, index.to(kGpu)).to_vector(),
                                 expected.to_vector()));
  Tensor self = randn({600, 1000}, gen), on_device = self.to(kGpu);
  ops::scatter_(on_device, 1, index.to(kGpu), dy.to(kGpu));
  ops::scatter_(self, 1, index, dy);
  EXPECT_TRUE(testing::same_bits(on_device.to_vector(), self.to_vector()));
  ops::scatter_reduce_(on_device, 1, index.to(kGpu), dy.to(kGpu), "mean", false);
  ops::scatter_reduce_(self, 1, index, dy, "mean", false);
  EXPECT_TRUE(testing::same_bits(on_device.to_vector(), self.to_vector()));
}

class CudaTensorOpsGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaTensorOpsGolden, MatchesPyTorch) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  testing::run_tensor_ops_golden_case(GetParam(), kGpu);
}

INSTANTIATE_TEST_SUITE_P(PyTorch, CudaTensorOpsGolden, ::testing::ValuesIn(testing::tensor_ops_golden_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// The selections and indexing by a tensor over several of the kernels' tiles (one with nothing selected), channels-last
// and broadcast operands, every dtype: the CPU's results, to the bit.
TEST(CudaSelections, GiveTheCpusResultsOverManyTiles) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  Generator gen(15);
  // 6405 elements: four tiles of 2048, the second all zeros (of either sign).
  const Tensor flat = arange(3 * 5 * 7 * 61).reshape({3, 5, 7, 61});
  const Tensor drawn = randint(-1, 2, {3, 5, 7, 61}, gen).to(DType::Float32) * randn({3, 5, 7, 61}, gen);
  const Tensor x = ops::where(ops::logical_and(ops::ge(flat, 2048.0), ops::lt(flat, 4096.0)), drawn * 0.0, drawn);
  const Tensor mask = ops::gt(randn({5, 1, 61}, gen), 0.3), source = randn({2, 3500}, gen);
  for (const DType dtype : {DType::Float32, DType::Float16, DType::BFloat16, DType::Int64, DType::Bool}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor t = dtype == DType::Int64 ? (x * 4.0).to(dtype) : x.to(dtype), from = source.to(dtype);
    const Tensor last = testing::to_channels_last(t).to(kGpu);
    EXPECT_EQ(ops::nonzero(last).to_vector<int64_t>(), ops::nonzero(t).to_vector<int64_t>());
    EXPECT_EQ(ops::count_nonzero(last).item<int64_t>(), ops::count_nonzero(t).item<int64_t>());
    EXPECT_EQ(ops::masked_select(last, mask.to(kGpu)).to(Device::cpu()).to(DType::Float32).to_vector(),
              ops::masked_select(t, mask).to(DType::Float32).to_vector());
    Tensor self = last.clone();
    ops::masked_scatter_(self, mask.to(kGpu), from.to(kGpu));
    EXPECT_EQ(self.contiguous().to(Device::cpu()).to(DType::Float32).to_vector(),
              ops::masked_scatter(t, mask, from).to(DType::Float32).to_vector());
    // Indexing by rows (repeated, negative) and by a mask over the leading dimensions, reading and adding.
    const Tensor rows = from_vector<int64_t>({2, -1, 0, 2}, {4}), leading = ops::gt(randn({3, 5}, gen), 0.0);
    const Tensor picked = ops::index(t, rows);
    EXPECT_EQ(ops::index(last, rows.to(kGpu)).to(Device::cpu()).to(DType::Float32).to_vector(),
              picked.to(DType::Float32).to_vector());
    EXPECT_EQ(ops::index(last, leading.to(kGpu)).to(Device::cpu()).to(DType::Float32).to_vector(),
              ops::index(t, leading).to(DType::Float32).to_vector());
    Tensor added = last.clone();
    ops::index_put_(added, rows.to(kGpu), picked.to(kGpu), true);
    EXPECT_EQ(added.contiguous().to(Device::cpu()).to(DType::Float32).to_vector(),
              ops::index_put(t, rows, picked, true).to(DType::Float32).to_vector());
  }
  // all and any count as count_nonzero does: one negative zero in the last tile is a zero.
  const Tensor twos = full({6405}, 2.0, TensorOptions(kGpu));
  const Tensor one_zero = ops::masked_fill(twos, ops::eq(arange(6405, TensorOptions(kGpu)), 6400.0), -0.0);
  EXPECT_TRUE(ops::all(twos).item<bool>());
  EXPECT_FALSE(ops::all(one_zero).item<bool>());
  EXPECT_EQ(ops::count_nonzero(one_zero).item<int64_t>(), 6404);
  EXPECT_FALSE(ops::any(ops::logical_not(twos)).item<bool>());
}

// A selection's size and an index's range are read back to the host: refused while a graph captures the stream.
TEST(CudaSelections, AreRefusedInsideACapture) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  cuda::Stream stream(0);
  cuda::StreamGuard guard(stream);
  Tensor t = ones({3}, TensorOptions(kGpu));
  const Tensor rows = from_vector<int64_t>({2, 0}, {2}).to(kGpu);
  cuda::Graph graph(0);
  graph.capture_begin();
  t.fill_(2.0);
  EXPECT_TRUE(throws_with([&] { ops::nonzero(t); },
                          "nonzero: the result's size is read back to the host, which a CUDA graph capture cannot do"));
  EXPECT_TRUE(throws_with([&] { ops::masked_select(t, ops::gt(t, 1.0)); }, "masked_select: the result's size"));
  EXPECT_TRUE(throws_with([&] { ops::index(t, rows); },
                          "index: the index's range is read back to the host, which a CUDA graph capture cannot do"));
  graph.capture_end();
  graph.replay();
  EXPECT_EQ(t.to_vector(), std::vector<float>({2.0f, 2.0f, 2.0f}));
}

class CudaPointwiseLossGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaPointwiseLossGolden, MatchesPyTorch) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  testing::run_pointwise_loss_golden_case(GetParam(), kGpu);
}

INSTANTIATE_TEST_SUITE_P(PyTorch, CudaPointwiseLossGolden,
                         ::testing::ValuesIn(testing::pointwise_loss_golden_case_names()),
                         testing::pointwise_loss_test_name);

// The kernel runs the CPU's per-element formulas: each element's loss and gradient are the CPU's bits; the reduced
// losses are sums in another order.
TEST(CudaPointwiseLoss, GivesTheCpusBitsPerElement) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  Generator gen(12);
  const Tensor x = randn({3, 5, 67}, gen), t = randn({3, 5, 67}, gen);
  const Tensor p = rand({3, 5, 67}, gen), q = rand({3, 5, 67}, gen), w = rand({67}, gen);
  for (ops::Reduction reduction : {ops::Reduction::None, ops::Reduction::Mean, ops::Reduction::Sum}) {
    const std::vector<std::pair<ops::LossResult, ops::LossResult>> pairs = {
        {ops::l1_loss(x, t, reduction), ops::l1_loss(x.to(kGpu), t.to(kGpu), reduction)},
        {ops::smooth_l1_loss(x, t, reduction, 0.5), ops::smooth_l1_loss(x.to(kGpu), t.to(kGpu), reduction, 0.5)},
        {ops::huber_loss(x, t, reduction, 2.0), ops::huber_loss(x.to(kGpu), t.to(kGpu), reduction, 2.0)},
        {ops::binary_cross_entropy(p, q, reduction, w),
         ops::binary_cross_entropy(p.to(kGpu), q.to(kGpu), reduction, w.to(kGpu))}};
    for (const auto& [cpu, gpu] : pairs) {
      EXPECT_EQ(gpu.grad_input.device(), kGpu);
      EXPECT_EQ(gpu.grad_input.to_vector(), cpu.grad_input.to_vector());
      if (reduction == ops::Reduction::None) {
        EXPECT_EQ(gpu.loss.to_vector(), cpu.loss.to_vector());
      } else {
        EXPECT_NEAR(gpu.loss.item<float>(), cpu.loss.item<float>(), 1e-5 * std::fabs(cpu.loss.item<float>()));
      }
    }
  }
}

// Mixed-precision training under bfloat16 autocast (tests/golden/make_golden_autocast.py).
class CudaAutocastGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaAutocastGolden, TrainsAsPyTorchBFloat16Autocast) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  testing::run_autocast_golden_case(GetParam(), kGpu);
}

INSTANTIATE_TEST_SUITE_P(PyTorch, CudaAutocastGolden, ::testing::ValuesIn(testing::autocast_golden_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST_P(CudaNnGolden, MatchesPyTorch) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  testing::run_nn_golden_case(GetParam(), kGpu, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(PyTorch, CudaNnGolden, ::testing::ValuesIn(testing::nn_golden_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

class CudaNormsGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaNormsGolden, MatchesPyTorch) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  testing::run_norms_golden_case(GetParam(), kGpu);
}

INSTANTIATE_TEST_SUITE_P(PyTorch, CudaNormsGolden, ::testing::ValuesIn(testing::norms_golden_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

class CudaLossesGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaLossesGolden, MatchesPyTorch) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  testing::run_losses_golden_case(GetParam(), kGpu);
}

INSTANTIATE_TEST_SUITE_P(PyTorch, CudaLossesGolden, ::testing::ValuesIn(testing::losses_golden_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return testing::test_name(info.param);
                         });

class CudaNn : public ::testing::Test {
 protected:
  void SetUp() override {
    NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  }
};

TEST_F(CudaNn, LayersAgreeWithTheCpu) {
  Generator gen(1);
  const Tensor x = randn({64, 784}, gen), dy = randn({64, 256}, gen);
  nn::Linear cpu(784, 256, true, &gen);
  const Tensor w = cpu.weight, b = cpu.bias;
  EXPECT_TRUE(all_close(ops::linear(x.to(kGpu), w.to(kGpu), b.to(kGpu)).to_vector(), ops::linear(x, w, b).to_vector(),
                        1e-4, 1e-5));
  Tensor dw_cpu, db_cpu, dw_gpu, db_gpu;
  const Tensor dx_cpu = ops::linear_backward(dy, x, w, &dw_cpu, &db_cpu);
  const Tensor dx_gpu = ops::linear_backward(dy.to(kGpu), x.to(kGpu), w.to(kGpu), &dw_gpu, &db_gpu);
  EXPECT_TRUE(all_close(dx_gpu.to_vector(), dx_cpu.to_vector(), 1e-4, 1e-5));
  EXPECT_TRUE(all_close(dw_gpu.to_vector(), dw_cpu.to_vector(), 1e-4, 1e-5));
  EXPECT_TRUE(all_close(db_gpu.to_vector(), db_cpu.to_vector(), 1e-4, 1e-5));
  for (auto kind : {ops::Activation::ReLU, ops::Activation::Sigmoid, ops::Activation::Tanh})
    EXPECT_TRUE(
        all_close(ops::activation(kind, x.to(kGpu)).to_vector(), ops::activation(kind, x).to_vector(), 1e-6, 1e-7));
  const Tensor targets = from_vector(std::vector<int64_t>(64, 3), {64});
  const Tensor logits = randn({64, 10}, gen);
  const auto l_cpu = ops::cross_entropy(logits, targets, ops::Reduction::Mean, 0.1);
  const auto l_gpu = ops::cross_entropy(logits.to(kGpu), targets, ops::Reduction::Mean, 0.1);
  EXPECT_NEAR(l_gpu.loss.item(), l_cpu.loss.item(), 1e-5);
  EXPECT_TRUE(all_close(l_gpu.grad_input.to_vector(), l_cpu.grad_input.to_vector(), 1e-4, 1e-6));
  EXPECT_EQ(ops::count_correct(logits.to(kGpu), targets).item<int64_t>(),
            ops::count_correct(logits, targets).item<int64_t>());
}

// Two threads on one stream (data-parallel ranks on one GPU) share its GEMM workspace. Products with few outputs
// and a long reduction are split over K by cuBLASLt (partial sums in the workspace, then a reduction kernel): each
// thread's GEMMs must keep their kernels together, or one thread reduces the other's partial sums. The ranks leave
// a barrier together before every round, so that their GEMMs are enqueued at the same moments.
TEST_F(CudaNn, ThreadsSharingAStreamGetTheirOwnProducts) {
  constexpr int kRanks = 2, kRounds = 200;
  Generator gen(21);
  const Tensor w = randn({10, 1024}, gen), b = randn({10}, gen);
  std::vector<Tensor> inputs, expected;
  for (int r = 0; r < kRanks; ++r) {
    inputs.push_back(randn({8, 1024}, gen));
    expected.push_back(ops::linear(inputs.back(), w, b));
  }
  const Tensor w_gpu = w.to(kGpu), b_gpu = b.to(kGpu);
  std::vector<std::vector<Tensor>> outputs(kRanks);
  dist::InProcessWorld world(kRanks);
  const auto errors = testing::run_ranks(world, [&](dist::ProcessGroup& group) {
    const auto r = static_cast<std::size_t>(group.rank());
    const Tensor x = inputs[r].to(kGpu);
    for (int round = 0; round < kRounds; ++round) {
      group.barrier();
      outputs[r].push_back(ops::linear(x, w_gpu, b_gpu));
    }
  });
  for (const std::string& e : errors) ASSERT_EQ(e, "");
  for (std::size_t r = 0; r < kRanks; ++r)
    for (int round = 0; round < kRounds; ++round)
      ASSERT_TRUE(all_close(outputs[r][static_cast<std::size_t>(round)].to_vector(), expected[r].to_vector(), 1e-4,
                            1e-5))
          << "rank " << r << ", round " << round;
}

// The TF32 mode reaches cuBLASLt in all three products of a Linear: TF32 only when allowed. A GPU may keep exact
// float32 even then; the emulated device's cuBLASLt takes every liberty it is given (tests/simt/emulated_cublaslt.cpp),
// so there the allowed one must show too.
TEST_F(CudaNn, LinearTakesTf32OnlyWhenAllowed) {
  struct Restore {
    ~Restore() { ops::set_allow_tf32(false); }
  } restore;
  Generator gen(12);
  const Tensor x = randn({16, 40}, gen), w = randn({24, 40}, gen), dy = randn({16, 24}, gen);
  // y, dx and dw of one forward and backward, read back.
  const auto products = [](const Tensor& xs, const Tensor& ws, const Tensor& dys) {
    Tensor dw;
    const Tensor dx = ops::linear_backward(dys, xs, ws, &dw, nullptr);
    return std::vector<std::vector<float>>{ops::linear(xs, ws, Tensor()).to_vector(), dx.to_vector(), dw.to_vector()};
  };
  const auto magnitude = [](const Tensor& t) {
    return ops::activation(ops::Activation::ReLU, t) + ops::activation(ops::Activation::ReLU, t * -1.0);
  };
  const auto exact = products(x, w, dy);
  // Per output: the sum of the magnitudes of its terms, what a rounding of the operands scales with.
  const auto terms = products(magnitude(x), magnitude(w), magnitude(dy));
  const auto within = [&](const std::vector<std::vector<float>>& got, double relative) {
    for (std::size_t p = 0; p < got.size(); ++p)
      for (std::size_t i = 0; i < got[p].size(); ++i)
        if (std::fabs(got[p][i] - exact[p][i]) > relative * terms[p][i] + 1e-6) return false;
    return true;
  };
  EXPECT_TRUE(within(products(x.to(kGpu), w.to(kGpu), dy.to(kGpu)), 1e-5));
  ops::set_allow_tf32(true);
  const auto tf32 = products(x.to(kGpu), w.to(kGpu), dy.to(kGpu));
  EXPECT_TRUE(within(tf32, 1.1e-3));  // each operand within 2^-11 of itself: each product within 2^-10
#if NORMRT_EMULATED_DEVICE
  for (std::size_t p = 0; p < tf32.size(); ++p) {  // each product on its own
    auto one = exact;
    one[p] = tf32[p];
    EXPECT_FALSE(within(one, 1e-5)) << "product " << p;
  }
#endif
}

// Rows with -inf logits (masked classes): the device's loss is the CPU's (finite, or +inf where the target is masked
// or smoothing counts every class), its gradient the CPU's.
TEST_F(CudaNn, CrossEntropyOfMinusInfinityLogitsIsTheCpus) {
  const float inf = INFINITY;
  const Tensor x = from_vector(std::vector<float>{0.5f, -inf, 1.5f, -0.25f, 2.0f, 0.75f, -inf, -1.0f}, {2, 4});
  for (const double smoothing : {0.0, 0.1}) {
    for (const std::vector<int64_t>& targets : {std::vector<int64_t>{2, 0}, std::vector<int64_t>{1, 0}}) {
      ops::CrossEntropyOptions options;
      options.reduction = ops::Reduction::Sum;
      options.label_smoothing = smoothing;
      const Tensor t = from_vector(targets, {2});
      const auto cpu = ops::cross_entropy(x, t, options), gpu = ops::cross_entropy(x.to(kGpu), t, options);
      const float expected = cpu.loss.item<float>(), loss = gpu.loss.item<float>();
      EXPECT_FALSE(std::isnan(loss));
      if (std::isinf(expected))
        EXPECT_EQ(loss, expected);
      else
        EXPECT_NEAR(loss, expected, 1e-5 * std::max(1.0f, std::fabs(expected)));
      EXPECT_TRUE(all_close(gpu.grad_input.to_vector(), cpu.grad_input.to_vector(), 1e-5, 1e-6));
    }
  }
}

// Targets held by the CPU (the mean's count made there) and by the device (counted there), with rows of
// PyTorch's default ignore_index, with another ignore_index, with none, and every row ignored: the same numbers.
TEST_F(CudaNn, CrossEntropyCountsTheKeptRowsWhereverTheTargetsAre) {
  Generator gen(8);
  const int64_t rows = 150, classes = 7;
  const Tensor logits = randn({rows, classes}, gen) * 3.0;
  std::vector<int64_t> labels(rows);
  for (int64_t r = 0; r < rows; ++r) labels[r] = r % 5 == 2 ? -100 : (r * 7 + r / 3) % classes;
  auto replaced = [&](int64_t ignored_by) {  // the -100 rows targeting `ignored_by` instead
    std::vector<int64_t> out = labels;
    std::replace(out.begin(), out.end(), int64_t{-100}, ignored_by);
    return out;
  };
  for (const auto& [ignore, targets] : std::vector<std::pair<std::optional<int64_t>, std::vector<int64_t>>>{
           {-100, labels}, {3, replaced(3)}, {std::nullopt, replaced(6)}, {-100, std::vector<int64_t>(rows, -100)}}) {
    for (const auto reduction : {ops::Reduction::Mean, ops::Reduction::Sum}) {
      ops::CrossEntropyOptions options;
      options.reduction = reduction;
      options.label_smoothing = 0.05;
      options.ignore_index = ignore;
      const Tensor t = from_vector(targets, {rows});
      const auto cpu = ops::cross_entropy(logits, t, options);
      for (const Tensor& device_targets : {t, t.to(kGpu)}) {
        const auto gpu = ops::cross_entropy(logits.to(kGpu), device_targets, options);
        const float expected = cpu.loss.item<float>(), loss = gpu.loss.item<float>();
        if (std::isnan(expected))
          EXPECT_TRUE(std::isnan(loss));
        else
          EXPECT_NEAR(loss, expected, 1e-5 * std::max(1.0f, std::fabs(expected)));
        EXPECT_TRUE(all_close(gpu.grad_input.to_vector(), cpu.grad_input.to_vector(), 1e-4, 1e-6));
      }
    }
  }
}

// Bias gradients of batches past one chunk of rows (partial sums, then added in order), accumulated into a defined
// gradient: agree with the CPU and repeat bit for bit.
TEST_F(CudaNn, LargeBatchBiasGradientsAgreeWithTheCpuAndRepeat) {
  Generator gen(5);
  const Tensor x = randn({1500, 20}, gen), w = randn({37, 20}, gen), dy = randn({1500, 37}, gen) * 3.0;
  Tensor dw_cpu, db_cpu = full({37}, 0.25f), dw1, db1 = db_cpu.to(kGpu), dw2, db2 = db_cpu.to(kGpu);
  ops::linear_backward(dy, x, w, &dw_cpu, &db_cpu);
  ops::linear_backward(dy.to(kGpu), x.to(kGpu), w.to(kGpu), &dw1, &db1);
  ops::linear_backward(dy.to(kGpu), x.to(kGpu), w.to(kGpu), &dw2, &db2);
  EXPECT_TRUE(all_close(db1.to_vector(), db_cpu.to_vector(), 1e-5, 1e-5));
  EXPECT_EQ(db1.to_vector(), db2.to_vector());
}

// Linear on 16-bit operands: cuBLASLt on the GPU (float32 accumulation, one rounding), float32 GEMMs on the CPU. The
// two may round a sum differently (summation order): two units in the last place of the dtype, relative.
TEST_F(CudaNn, SixteenBitLinearAgreesWithTheCpu) {
  for (const DType h : {DType::Float16, DType::BFloat16}) {
    SCOPED_TRACE(dtype_name(h));
    const double ulp = h == DType::Float16 ? 1.0 / 1024 : 1.0 / 128;
    Generator gen(2);
    const Tensor x = randn({37, 50}, gen).to(h), w = randn({12, 50}, gen).to(h), b = randn({12}, gen).to(h);
    const Tensor dy = randn({37, 12}, gen).to(h);
    const auto host = [](const Tensor& t) { return t.to(Device::cpu()).to(DType::Float32).to_vector(); };
    const Tensor y = ops::linear(x.to(kGpu), w.to(kGpu), b.to(kGpu));
    EXPECT_EQ(y.dtype(), h);
    EXPECT_TRUE(all_close(host(y), host(ops::linear(x, w, b)), 2 * ulp, ulp / 64));
    Tensor dw_cpu, db_cpu, dw_gpu, db_gpu;
    const Tensor dx_cpu = ops::linear_backward(dy, x, w, &dw_cpu, &db_cpu);
    const Tensor dx_gpu = ops::linear_backward(dy.to(kGpu), x.to(kGpu), w.to(kGpu), &dw_gpu, &db_gpu);
    EXPECT_EQ(dx_gpu.dtype(), h);
    EXPECT_EQ(dw_gpu.dtype(), h);
    EXPECT_EQ(db_gpu.dtype(), h);
    EXPECT_TRUE(all_close(host(dx_gpu), host(dx_cpu), 2 * ulp, ulp / 64));
    EXPECT_TRUE(all_close(host(dw_gpu), host(dw_cpu), 2 * ulp, ulp / 64));
    EXPECT_TRUE(all_close(host(db_gpu), host(db_cpu), 2 * ulp, ulp / 64));
    // Accumulation: into 16-bit accumulators natively, into float32 ones through float32.
    ops::linear_backward(dy.to(kGpu), x.to(kGpu), w.to(kGpu), &dw_gpu, &db_gpu, false);
    EXPECT_TRUE(all_close(host(dw_gpu), host(dw_cpu * 2.0), 4 * ulp, ulp / 32));
    EXPECT_TRUE(all_close(host(db_gpu), host(db_cpu * 2.0), 4 * ulp, ulp / 32));
    Tensor dw32 = dw_cpu.to(DType::Float32).to(kGpu);
    ops::linear_backward(dy.to(kGpu), x.to(kGpu), w.to(kGpu), &dw32, nullptr, false);
    EXPECT_EQ(dw32.dtype(), DType::Float32);
    EXPECT_TRUE(all_close(host(dw32), host(dw_cpu * 2.0), 4 * ulp, ulp / 32));
  }
}

TEST_F(CudaNn, AnOptimizerBuiltBeforeModelToStepsTheMovedParameters) {
  // The libtorch habit: optimizer first, then model.to(cuda). The optimizer's handles must see the moved tensors.
  auto build = [] {
    Generator gen(3);
    return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
        std::make_shared<nn::Linear>(4, 3, true, &gen), std::make_shared<nn::BatchNorm1d>(3)});
  };
  auto moved = build(), reference = build();
  const std::vector<Tensor> handles = moved->parameters();
  // SGD with momentum: a state slot that must follow the parameters too. (Not Adam: the Linear bias before
  // BatchNorm has a gradient of rounding noise, whose sign Adam would amplify into a full step.)
  optim::SGD opt(handles, optim::SGDOptions(0.1).momentum(0.9));
  moved->to(kGpu);
  const auto after_move = moved->parameters();
  ASSERT_EQ(after_move.size(), handles.size());
  for (std::size_t i = 0; i < handles.size(); ++i) {
    EXPECT_TRUE(handles[i].is_same(after_move[i]));
    EXPECT_EQ(handles[i].device(), kGpu);
  }
  optim::SGD reference_opt(reference->parameters(), optim::SGDOptions(0.1).momentum(0.9));
  Generator gen(4);
  const Tensor x = randn({5, 4}, gen), dy = randn({5, 3}, gen);
  for (int step = 0; step < 2; ++step) {
    moved->forward(x.to(kGpu));
    moved->backward(dy.to(kGpu));
    opt.step();
    reference->forward(x);
    reference->backward(dy);
    reference_opt.step();
  }
  const auto ours = moved->state_dict(), theirs = reference->state_dict();
  for (std::size_t i = 0; i < ours.size(); ++i) {
    if (ours[i].second.dtype() != DType::Float32) continue;
    EXPECT_TRUE(all_close(ours[i].second.to_vector(), theirs[i].second.to_vector(), 1e-5, 1e-6)) << ours[i].first;
    if (ours[i].first == "0.weight" || ours[i].first == "1.weight")  // (the bias before BatchNorm may not move)
      EXPECT_NE(ours[i].second.to_vector(), build()->state_dict()[i].second.to_vector()) << ours[i].first;
  }
}

TEST_F(CudaNn, ZeroSizeDimensionsThroughEveryOp) { testing::check_empty_nn_ops_on(kGpu); }

TEST_F(CudaNn, DropoutMaskIsTheSameOnEveryDevice) {
  const Tensor x = ones({4099});
  EXPECT_EQ(ops::dropout(x.to(kGpu), 0.4, 77, 12).to_vector(), ops::dropout(x, 0.4, 77, 12).to_vector());
}

TEST_F(CudaNn, OptimizerRefusesParametersOnDifferentDevices) {
  EXPECT_TRUE(throws_with([] { optim::SGD({ones({2}), ones({2}, kGpu)}, optim::SGDOptions(0.1)); },
                          "optimizer parameters must all be on one device, got cpu and cuda:0"));
}

// `count` random parameters with gradients (shapes [1 + i % rows, cols]; more than one fused launch's worth of
// tensors), the same values copied onto each of `devices`.
std::vector<std::vector<Tensor>> parameters_on(const std::vector<Device>& devices, int count, int64_t rows,
                                               int64_t cols, uint64_t seed) {
  Generator gen(seed);
  std::vector<std::vector<Tensor>> sets(devices.size());
  for (int i = 0; i < count; ++i) {
    const Tensor p = randn({1 + i % rows, cols}, gen), g = randn({1 + i % rows, cols}, gen);
    for (std::size_t d = 0; d < devices.size(); ++d) {
      const auto copy = [&](const Tensor& t) { return devices[d].is_cpu() ? t.clone() : t.to(devices[d]); };
      sets[d].push_back(copy(p));
      sets[d].back().mutable_grad() = copy(g);
    }
  }
  return sets;
}

// Every optimizer's fused device update gives the CPU's bits: both run nnmath's per-element updates, with every
// multiply and add rounded as written (the kernels compile with -fmad=false, the host with -ffp-contract=off). Steps
// under plan_steps (the hyperparameters of each step read from a device table, as a CUDA graph replays them) too.
TEST_F(CudaNn, OptimizerStepsOverManyTensorsAreTheCpusBits) {
  for (const auto& [name, make] : testing::one_of_each_optimizer()) {
    SCOPED_TRACE(name);
    auto sets = parameters_on({Device::cpu(), kGpu, kGpu}, 90, 7, 13, 3);
    std::vector<Tensor> &cpu = sets[0], &gpu = sets[1], &planned = sets[2];
    const auto a = make(cpu), b = make(gpu), c = make(planned);
    c->plan_steps(7);  // RAdam's rectified steps start at step 6
    for (int s = 0; s < 7; ++s) {
      a->step();
      b->step();
      c->step();
    }
    for (std::size_t i = 0; i < cpu.size(); ++i) {
      ASSERT_TRUE(testing::same_bits(gpu[i].to_vector(), cpu[i].to_vector())) << "tensor " << i;
      ASSERT_TRUE(testing::same_bits(planned[i].to_vector(), cpu[i].to_vector()))
          << "tensor " << i << ", planned steps";
    }
  }
}

// Steps skipped on the device (GradScaler's step_on_device): under a plan, step_unless's kernels read the inf flag,
// so a step captured into a CUDA graph and replayed with the flag changed between replays skips exactly the flagged
// steps, the plan's index with them: parameters, slots and step counts are the CPU's for the same steps taken, and
// the steps after the next plan_steps (which reads the index) continue from the right count (Adam's bias corrections,
// RAdam's rectification, SGD's first momentum step). On the CPU the flag is read on the host.
TEST_F(CudaNn, OptimizerStepsSkippedOnTheDeviceAreTheCpusStepsNotTaken) {
  const std::vector<float> skips = {0, 1, 0, 1, 1, 0, 0};
  for (const auto& [name, make] : testing::one_of_each_optimizer()) {
    SCOPED_TRACE(name);
    cuda::Stream stream(0);  // a graph captures a stream of its own: everything on it, from the start
    cuda::StreamGuard guard(stream);
    auto sets = parameters_on({Device::cpu(), Device::cpu(), kGpu}, 45, 5, 11, 4);
    std::vector<Tensor> &cpu = sets[0], &cpu_flagged = sets[1], &gpu = sets[2];
    const auto reference = make(cpu), flagged = make(cpu_flagged), device = make(gpu);
    Tensor flag = zeros({1}, kGpu), cpu_flag = zeros({1});
    device->plan_steps(static_cast<int64_t>(skips.size()));
    cuda::Graph graph(0);
    for (std::size_t s = 0; s < skips.size(); ++s) {
      if (skips[s] == 0.0f) reference->step();
      cpu_flag.copy_(full({1}, skips[s]));
      flagged->step_unless(cpu_flag);
      flag.copy_(full({1}, skips[s]));
      if (s == 0) {  // eagerly, then captured once and replayed for every later step
        device->step_unless(flag);
        continue;
      }
      if (!graph.captured()) {
        graph.capture_begin();
        device->step_unless(flag);
        graph.capture_end();
      } else {
        device->replayed(1);
      }
      graph.replay();
    }
    const auto expect_same = [&](const char* when) {
      const nn::NamedTensors want = reference->state(), got = device->state(), host_read = flagged->state();
      ASSERT_EQ(got.size(), want.size());
      for (std::size_t k = 0; k < want.size(); ++k) {
        const bool count = want[k].second.dtype() == DType::Int64;
        const auto values = [&](const Tensor& t) {
          return count ? std::vector<float>{static_cast<float>(t.to(Device::cpu()).item<int64_t>())} : t.to_vector();
        };
        ASSERT_TRUE(testing::same_bits(values(got[k].second), values(want[k].second))) << when << ", " << want[k].first;
        ASSERT_TRUE(testing::same_bits(values(host_read[k].second), values(want[k].second)))
            << when << ", on the CPU, " << want[k].first;
      }
      for (std::size_t i = 0; i < cpu.size(); ++i) {
        ASSERT_TRUE(testing::same_bits(gpu[i].to_vector(), cpu[i].to_vector())) << when << ", tensor " << i;
        ASSERT_TRUE(testing::same_bits(cpu_flagged[i].to_vector(), cpu[i].to_vector())) << when << ", tensor " << i;
      }
    };
    expect_same("after the flagged steps");
    device->plan_steps(3);
    for (int s = 0; s < 3; ++s) {
      reference->step();
      flagged->step();
      device->step();
    }
    expect_same("after three more");
  }
  Tensor p = ones({2}, kGpu);
  p.mutable_grad() = ones({2}, kGpu);
  optim::SGD sgd({p}, optim::SGDOptions(0.1));
  EXPECT_TRUE(throws_with([&] { sgd.step_unless(zeros({1}, TensorOptions(kGpu).dtype(DType::Int64))); },
                          "step_unless: found_inf must be one float32"));
  sgd.plan_steps(1);
  EXPECT_TRUE(
      throws_with([&] { sgd.step_unless(zeros({1})); }, "step_unless: found_inf on cpu, the parameters on cuda:0"));
  EXPECT_EQ(p.to_vector(), std::vector<float>(2, 1.0f));
}

// Activations give the CPU's bits on the device: the same per-element functions (float_math's e^x and tanh) with
// every operation rounded as written on both (-fmad=false, -ffp-contract=off). 16-bit elements run on the device as
// they are (no float32 copies), as the CPU widens them, computes in float32 and rounds once. Dropout too.
TEST(CudaActivations, ElementsGiveTheCpusBits) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  Generator gen(6);
  for (DType dtype : {DType::Float32, DType::Float16, DType::BFloat16}) {
    const Tensor x = (randn({7, 33}, gen) * 3.0).to(dtype), dy = randn({7, 33}, gen).to(dtype);
    for (auto kind : {ops::Activation::ReLU, ops::Activation::Sigmoid, ops::Activation::Tanh}) {
      SCOPED_TRACE(std::string(dtype_name(dtype)) + " activation " + std::to_string(static_cast<int>(kind)));
      const Tensor y = ops::activation(kind, x), dx = ops::activation_backward(kind, dy, y);
      const Tensor y_gpu = ops::activation(kind, x.to(kGpu));
      const Tensor dx_gpu = ops::activation_backward(kind, dy.to(kGpu), y_gpu);
      EXPECT_EQ(y_gpu.dtype(), dtype);
      EXPECT_EQ(dx_gpu.dtype(), dtype);
      EXPECT_TRUE(
          testing::same_bits(y_gpu.to(Device::cpu()).to(DType::Float32).to_vector(), y.to(DType::Float32).to_vector()));
      EXPECT_TRUE(testing::same_bits(dx_gpu.to(Device::cpu()).to(DType::Float32).to_vector(),
                                     dx.to(DType::Float32).to_vector()));
    }
  }
  for (DType dtype : {DType::Float16, DType::BFloat16}) {  // dropout: the CPU's mask and scaling, rounded once
    const Tensor x = randn({5, 41}, gen).to(dtype);
    const Tensor y = ops::dropout(x.to(kGpu), 0.3, 11, 4);
    EXPECT_EQ(y.dtype(), dtype);
    EXPECT_TRUE(testing::same_bits(y.to(Device::cpu()).to(DType::Float32).to_vector(),
                                   ops::dropout(x, 0.3, 11, 4).to(DType::Float32).to_vector()));
  }
  EXPECT_TRUE(testing::throws_with(
      [&] { ops::activation_backward(ops::Activation::ReLU, zeros({3}, kGpu).to(DType::Float16),
                                     zeros({4}, kGpu).to(DType::Float16)); },
      "grad_output shape [3] does not match output shape [4]"));
}

TEST(CudaActivations, InputActivationsGiveTheCpusBits) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  Generator gen(16);
  using F = ops::InputActivation;
  for (DType dtype : {DType::Float32, DType::Float16, DType::BFloat16}) {
    const Tensor x = (randn({2, 3, 7, 5}, gen) * 4.0).to(dtype), dy = randn({2, 3, 7, 5}, gen).to(dtype);
    for (const F& f : {F::leaky_relu(0.2), F::elu(), F::selu(), F::celu(0.5), F::gelu(), F::gelu("tanh"), F::silu(),
                       F::mish(), F::softplus(2.0, 3.0), F::hardtanh(-0.5, 2.0), F::relu6(), F::hardswish(),
                       F::hardsigmoid()}) {
      SCOPED_TRACE(std::string(dtype_name(dtype)) + " activation " + std::to_string(static_cast<int>(f.kind)));
      const Tensor y_gpu = ops::activation(f, x.to(kGpu));
      const Tensor dx_gpu = ops::activation_backward(f, dy.to(kGpu), x.to(kGpu));
      EXPECT_EQ(y_gpu.dtype(), dtype);
      EXPECT_TRUE(testing::same_bits(y_gpu.to(Device::cpu()).to(DType::Float32).to_vector(),
                                     ops::activation(f, x).to(DType::Float32).to_vector()));
      EXPECT_TRUE(testing::same_bits(dx_gpu.to(Device::cpu()).to(DType::Float32).to_vector(),
                                     ops::activation_backward(f, dy, x).to(DType::Float32).to_vector()));
      const Tensor x_cl = x.to(kGpu).to(MemoryFormat::ChannelsLast);  // a contiguous gradient of a channels-last input
      const Tensor dx_cl = ops::activation_backward(f, dy.to(kGpu), x_cl);
      EXPECT_EQ(dx_cl.memory_format(), MemoryFormat::ChannelsLast);
      EXPECT_TRUE(
          testing::same_bits(dx_cl.to(MemoryFormat::Contiguous).to(Device::cpu()).to(DType::Float32).to_vector(),
                             dx_gpu.to(Device::cpu()).to(DType::Float32).to_vector()));
    }
  }
  EXPECT_TRUE(testing::throws_with(
      [&] { ops::activation_backward(F::silu(), zeros({3}, kGpu), zeros({4}, kGpu)); },
      "grad_output shape [3] does not match input shape [4]"));
}

class CudaActivationGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaActivationGolden, MatchesPyTorch) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  testing::run_activation_golden_case(GetParam(), kGpu);
}

INSTANTIATE_TEST_SUITE_P(PyTorch, CudaActivationGolden, ::testing::ValuesIn(testing::activation_golden_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return testing::test_name(info.param);
                         });

// 16-bit arithmetic runs on the device as it is (no float32 copies): the CPU's bits (widened, float32, rounded once)
// for every operator, with broadcasting, in place, and PyTorch's promotion where the dtypes differ.
TEST(CudaArithmetic, SixteenBitElementsGiveTheCpusBits) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  Generator gen(8);
  const auto same_bits = [](const Tensor& gpu, const Tensor& cpu) {
    EXPECT_EQ(gpu.dtype(), cpu.dtype());
    EXPECT_EQ(gpu.sizes(), cpu.sizes());
    EXPECT_TRUE(
        testing::same_bits(gpu.to(Device::cpu()).to(DType::Float32).to_vector(), cpu.to(DType::Float32).to_vector()));
  };
  for (DType dtype : {DType::Float16, DType::BFloat16}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor a = (randn({3, 5, 7}, gen) * 50.0).to(dtype), b = (randn({5, 1}, gen) * 3.0).to(dtype);
    const Tensor same = randn({3, 5, 7}, gen).to(dtype);
    for (auto op : {ops::BinaryOp::Add, ops::BinaryOp::Sub, ops::BinaryOp::Mul, ops::BinaryOp::Div}) {
      same_bits(ops::binary(op, a.to(kGpu), b.to(kGpu)), ops::binary(op, a, b));
      same_bits(ops::binary(op, a.to(kGpu), same.to(kGpu)), ops::binary(op, a, same));
      Tensor in_place = a.to(kGpu), expected = a.clone();
      ops::binary_(op, in_place, b.to(kGpu));
      ops::binary_(op, expected, b);
      same_bits(in_place, expected);
    }
    const Tensor wide = randn({5, 1}, gen);  // float32 with 16-bit: float32 result
    same_bits(ops::add(a.to(kGpu), wide.to(kGpu)), ops::add(a, wide));
  }
}

// The in-process process group on device tensors: contributions and results stay on each rank's device.
TEST(CudaDist, InProcessCollectivesOnDeviceTensors) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  dist::InProcessWorld world(2);
  std::vector<std::vector<float>> sums(2), gathered(2), broadcast(2);
  std::vector<std::thread> ranks;
  for (int r = 0; r < 2; ++r) {
    ranks.emplace_back([&, r] {
      dist::ProcessGroup& g = world.group(r);
      Tensor t = full({3}, r + 1.0, kGpu);
      g.all_reduce(t);
      EXPECT_EQ(t.device(), kGpu);
      sums[r] = t.to_vector();
      const Tensor all = g.all_gather(full({2}, 10.0 * r, kGpu));
      EXPECT_EQ(all.device(), kGpu);
      gathered[r] = all.to_vector();
      Tensor b = full({1}, 5.0 + r, kGpu);
      g.broadcast(b, 1);
      broadcast[r] = b.to_vector();
    });
  }
  for (auto& t : ranks) t.join();
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(sums[r], std::vector<float>(3, 3.0f));
    EXPECT_EQ(gathered[r], (std::vector<float>{0, 0, 10, 10}));
    EXPECT_EQ(broadcast[r], std::vector<float>{6.0f});
  }
}

TEST(CudaGradScaler, SkipsBacksOffAndGrowsAsPyTorch) {
  NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  testing::run_grad_scaler_scenario(kGpu);
  testing::run_grad_scaler_scenario(kGpu, true);
}

}  // namespace
}  // namespace normrt
