// The CPU paths of a training step allocate no working memory once their shapes have been seen (issue 14): this
// executable replaces the global operator new with one that counts, and runs each path twice, counting the second.
// Its own binary, because the replacement is program-wide.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "batchnorm_backend.h"
#include "normrt/generator.h"
#include "normrt/ops/conv.h"
#include "normrt/ops/pooling.h"
#include "normrt/tensor.h"

namespace {
std::atomic<long> g_allocations{0};
std::atomic<long> g_bytes_at_least_1k{0};

void* counted(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (size >= 1024) g_bytes_at_least_1k.fetch_add(1, std::memory_order_relaxed);
  if (void* block = std::malloc(size == 0 ? 1 : size)) return block;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t size) { return counted(size); }
void* operator new[](std::size_t size) { return counted(size); }
void operator delete(void* block) noexcept { std::free(block); }
void operator delete[](void* block) noexcept { std::free(block); }
void operator delete(void* block, std::size_t) noexcept { std::free(block); }
void operator delete[](void* block, std::size_t) noexcept { std::free(block); }

namespace normrt {
namespace {

// Allocations made by fn's second call (the first may size what later calls reuse).
template <typename Fn>
long allocations_of_second_call(const Fn& fn, std::atomic<long>& counter) {
  fn();
  const long before = counter.load();
  fn();
  return counter.load() - before;
}

struct BatchNormBuffers {
  bn::Geometry g;
  std::vector<float> x, y, dy, dx, weight, bias, mean, invstd, running_mean, running_var, dweight, dbias;
  int64_t num_batches_tracked = 0;

  explicit BatchNormBuffers(bn::Geometry geometry) : g(geometry) {
    const auto n = static_cast<std::size_t>(g.numel()), c = static_cast<std::size_t>(g.C);
    for (auto* v : {&x, &y, &dy, &dx}) v->resize(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = static_cast<float>(i % 97) * 0.25f, dy[i] = static_cast<float>(i % 13);
    for (auto* v : {&weight, &bias, &mean, &invstd, &running_mean, &dweight, &dbias}) v->assign(c, 0.5f);
    running_var.assign(c, 1.0f);
  }
};

// Per-channel tables, per-piece partial sums and the fused and unfused layouts (small and parallel tensors, (N, C)
// and (N, C, S) input), in every mode of the backend and of SyncBatchNorm's stages.
TEST(Allocations, CpuBatchNormAllocatesNothingOnceItsShapeIsKnown) {
  const std::vector<bn::Geometry> shapes = {{4, 3, 5}, {256, 1024, 1}, {126000, 16, 1}, {8, 32, 4096}, {16, 64, 49}};
  for (const bn::Geometry& g : shapes) {
    BatchNormBuffers b(g);
    bn::ForwardTrainingParams forward;
    forward.geometry = g;
    forward.x = b.x.data();
    forward.weight = b.weight.data();
    forward.bias = b.bias.data();
    forward.y = b.y.data();
    forward.save_mean = b.mean.data();
    forward.save_invstd = b.invstd.data();
    forward.running_mean = b.running_mean.data();
    forward.running_var = b.running_var.data();
    forward.num_batches_tracked = &b.num_batches_tracked;
    forward.relu = true;
    bn::ForwardInferenceParams eval;
    eval.geometry = g;
    eval.x = b.x.data();
    eval.weight = b.weight.data();
    eval.bias = b.bias.data();
    eval.running_mean = b.running_mean.data();
    eval.running_var = b.running_var.data();
    eval.y = b.y.data();
    eval.save_mean = b.mean.data();
    eval.save_invstd = b.invstd.data();
    bn::BackwardParams backward;
    backward.geometry = g;
    backward.dy = b.dy.data();
    backward.x = b.x.data();
    backward.weight = b.weight.data();
    backward.mean = b.mean.data();
    backward.invstd = b.invstd.data();
    backward.dx = b.dx.data();
    backward.dweight = b.dweight.data();
    backward.dbias = b.dbias.data();
    std::vector<double> sums_a(static_cast<std::size_t>(g.C)), sums_b(static_cast<std::size_t>(g.C));
    const std::string shape = std::to_string(g.N) + "x" + std::to_string(g.C) + "x" + std::to_string(g.S);
    EXPECT_EQ(allocations_of_second_call([&] { bn::cpu_forward_training(forward); }, g_allocations), 0)
        << "forward training " << shape;
    EXPECT_EQ(allocations_of_second_call([&] { bn::cpu_forward_inference(eval); }, g_allocations), 0)
        << "forward inference " << shape;
    EXPECT_EQ(allocations_of_second_call([&] { bn::cpu_backward(backward); }, g_allocations), 0)
        << "backward " << shape;
    EXPECT_EQ(allocations_of_second_call(
                  [&] { bn::cpu_local_statistics(b.x.data(), g, sums_a.data(), sums_b.data()); }, g_allocations),
              0)
        << "SyncBatchNorm statistics " << shape;
    EXPECT_EQ(allocations_of_second_call(
                  [&] {
                    bn::cpu_normalize(b.x.data(), g, b.mean.data(), nullptr, b.invstd.data(), b.weight.data(),
                                      b.bias.data(), static_cast<const float*>(nullptr), false, b.y.data());
                  },
                  g_allocations),
              0)
        << "SyncBatchNorm normalisation " << shape;
    EXPECT_EQ(allocations_of_second_call(
                  [&] {
                    bn::cpu_local_gradient_sums(b.dy.data(), static_cast<const float*>(nullptr), b.x.data(),
                                                b.mean.data(), g, sums_a.data(), sums_b.data());
                  },
                  g_allocations),
              0)
        << "SyncBatchNorm gradient sums " << shape;
    EXPECT_EQ(allocations_of_second_call(
                  [&] {
                    bn::cpu_input_gradient(b.dy.data(), static_cast<const float*>(nullptr), b.x.data(), g,
                                           b.mean.data(), nullptr, b.invstd.data(), b.weight.data(),
                                           sums_a.data(), sums_b.data(), static_cast<double>(g.per_channel()),
                                           b.dx.data());
                  },
                  g_allocations),
              0)
        << "SyncBatchNorm input gradient " << shape;
  }
}

// An op returns a new tensor, whose bookkeeping (shape, handle) is small; working memory of a kilobyte or more is
// what must not be allocated per call. Outputs of 64 KB and more come from the host cache, not operator new.
TEST(Allocations, CpuPoolingAndConvolutionKeepTheirWorkingMemory) {
  Generator gen(3);
  const Tensor image = randn({4, 8, 48, 48}, gen);
  ops::PoolParams pool;
  pool.kernel_size = {3};
  pool.stride = {2};
  pool.padding = {1};
  EXPECT_EQ(allocations_of_second_call([&] { ops::avg_pool(image, 2, pool); }, g_bytes_at_least_1k), 0)
      << "average pooling";
  EXPECT_EQ(allocations_of_second_call([&] { ops::adaptive_avg_pool(image, 2, {5, 7}); }, g_bytes_at_least_1k), 0)
      << "adaptive average pooling";
  // im2col + BLAS and, in a build with it, oneDNN (16 input channels: forward and backward).
  for (const bool onednn : {false, true}) {
    ops::set_conv_use_onednn(onednn);
    const Tensor input = randn({4, 16, 24, 24}, gen), weight = randn({16, 16, 3, 3}, gen), bias = randn({16}, gen);
    ops::ConvParams conv;
    conv.padding = {1};
    EXPECT_EQ(allocations_of_second_call([&] { ops::conv(input, weight, bias, conv); }, g_bytes_at_least_1k), 0)
        << "convolution, oneDNN " << onednn;
    const Tensor grad_output = randn({4, 16, 24, 24}, gen);
    Tensor grad_weight, grad_bias;
    const auto backward = [&] { ops::conv_backward(grad_output, input, weight, conv, &grad_weight, &grad_bias); };
    EXPECT_EQ(allocations_of_second_call(backward, g_bytes_at_least_1k), 0)
        << "convolution backward, oneDNN " << onednn;
  }
  ops::set_conv_use_onednn(true);
}

}  // namespace
}  // namespace normrt
