// BatchNorm benchmark: forward training, forward eval and backward, on the CPU (always) and on the GPU (when one
// is present, native kernels beside cuDNN (through the Ex calls PyTorch makes), the single-read variant, PyTorch's
// algorithm (variant 2), the three-launch training step that the cooperative ones replaced, and on (N, C) shapes the
// flat elementwise passes that the column ones replaced), reported as time, GB/s at the minimal byte count
// (forward: read x + write y = 8 B/element; backward: read x, dy + write dx = 12 B/element) and, on the GPU, % of
// the measured device-to-device copy bandwidth.
//
// GPU timing: CUDA events around each call on the current stream (manual time), three warm-up calls, L2 flushed
// by a read kernel over a buffer larger than L2 and a device synchronise before every timed call, medians of
// --benchmark_repetitions (default 5). Shapes under 16 MB are also timed as a replayed CUDA graph of 20 calls
// (gpu/native-graph/...: kernel time without the host's launch overhead), and for the host's time per call, the op's
// (gpu/host/...) and its kernel launchers' alone (gpu/host-kernels/...): 32 calls queued behind a 20 ms kernel, timed
// on the host's clock, so that the device's time is left out and a call that waited for the device would show.
// Run: build/benchmarks/bench_batchnorm [--benchmark_filter=gpu] [--benchmark_out=results.json]
// The summary table at the end lists the medians. A second table is the dtype x memory format x fusion matrix
// (float32/float16/bfloat16 x NCHW/NHWC x none/ReLU/add+ReLU, weights float32 as mixed-precision training keeps
// them) on the ResNet-like shapes, training forward and backward, at the minimal bytes of each combination, beside
// float32 NCHW unfused; on the GPU it also times cuDNN's persistent NHWC float16 kernels (unfused, BN_ACTIVATION,
// BN_ADD_ACTIVATION) beside the native kernels on the same combinations.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "bench_util.h"
#include "normrt/normrt.h"
#ifdef NORMRT_BENCH_VARIANTS
#include "batchnorm.cuh"
#include "batchnorm_forward_pytorch_algorithm.cuh"
#include "batchnorm_forward_single_read.cuh"
#endif

#if NORMRT_WITH_CUDA
#include <cuda_runtime.h>

#include <chrono>

#include "device_hold.cuh"
#include "l2_flush.cuh"
#include "normrt/cuda_check.h"
#endif

using namespace normrt;

namespace {

enum class Mode { ForwardTraining, ForwardEval, Backward };
const char* mode_name(Mode m) {
  return m == Mode::ForwardTraining ? "fwd-train" : m == Mode::ForwardEval ? "fwd-eval" : "backward";
}
int64_t bytes_per_element(Mode m) { return m == Mode::Backward ? 12 : 8; }

// The GPU shapes; the CPU section uses smaller ones so that it finishes in seconds on 2 cores.
// 401408x64: channels-last 32x64x112x112 as the (N*H*W, C) rows the column kernels see.
const std::vector<Shape> kGpuShapes = {{256, 1024},         {126000, 16},     {32, 64, 1000},       {32, 64, 112, 112},
                                       {256, 256, 14, 14},  {128, 2048, 7, 7}, {8, 32, 512, 512},   {64, 512, 28, 28},
                                       {8, 64, 16, 56, 56}, {2, 32, 64, 64, 64}, {401408, 64}};
const std::vector<Shape> kCpuShapes = {{256, 1024},     {126000, 16},    {32, 64, 1000},      {32, 64, 56, 56},
                                       {64, 512, 7, 7}, {8, 32, 128, 128}, {4, 32, 16, 32, 32}};

struct Operands {
  Tensor x, dy, weight, bias, running_mean, running_var, save_mean, save_invstd;
  Operands(const Shape& shape, const Device& device) {
    Generator gen(1);
    x = randn(shape, gen, device);
    dy = randn(shape, gen, device);
    weight = rand({shape[1]}, gen, device);
    bias = randn({shape[1]}, gen, device);
    running_mean = zeros({shape[1]}, device);
    running_var = ones({shape[1]}, device);
    const auto f = ops::batch_norm_forward_training(x, weight, bias, Tensor(), Tensor(), Tensor(), 0.1, 1e-5);
    save_mean = f.save_mean;
    save_invstd = f.save_invstd;
  }
  void run(Mode mode, Backend backend = Backend::Native) {
    switch (mode) {
      case Mode::ForwardTraining:
        ops::batch_norm_forward_training(x, weight, bias, running_mean, running_var, Tensor(), 0.1, 1e-5, backend);
        break;
      case Mode::ForwardEval:
        ops::batch_norm_forward_inference(x, weight, bias, running_mean, running_var, 1e-5, backend);
        break;
      case Mode::Backward:
        ops::batch_norm_backward(dy, x, weight, save_mean, save_invstd, true, 1e-5, backend);
        break;
    }
  }
};

// Google Benchmark calls a benchmark's function several times (sizing the iteration count, then once per
// repetition), and drawing a large shape's operands on the host takes seconds each time (seen on an H200: about 20 s
// of setup per benchmark). The operands made last are kept, under their key, for the next call; main() drops them
// before the device goes.
template <typename T>
std::pair<std::string, std::unique_ptr<T>>& last_operands() {
  static std::pair<std::string, std::unique_ptr<T>> slot;
  return slot;
}

template <typename T, typename... Args>
T& reused_operands(const std::string& key, Args&&... args) {
  auto& [cached_key, value] = last_operands<T>();
  if (!value || cached_key != key) {
    value.reset();  // two large sets need not fit at once
    value = std::make_unique<T>(std::forward<Args>(args)...);
    cached_key = key;
  }
  return *value;
}

std::string shape_label(const Shape& s);

void run_cpu(benchmark::State& state, const Shape& shape, Mode mode) {
  Operands& ops = reused_operands<Operands>("cpu " + shape_label(shape), shape, Device::cpu());
  for (auto _ : state) ops.run(mode);
  state.SetBytesProcessed(state.iterations() * shape_numel(shape) * bytes_per_element(mode));
}

// A benchmark whose setup or run throws is skipped with the error's message.
template <typename Body>
void skip_on_error(benchmark::State& state, Body body) {
  try {
    body();
  } catch (const Error& e) {
    state.SkipWithError(e.what());
  }
}

double g_copy_bandwidth = 0;  // bytes/s, device-to-device copy (read + write)
constexpr int kHostCalls = 32;  // calls per host-timed iteration (time_host)
// Host-timed benchmarks run a fixed number of iterations: each holds the device for 20 ms of wall time but reports
// microseconds, so Google Benchmark's own choice (iterations until the reported time reaches min_time) would take
// minutes per benchmark.
constexpr int kHostIterations = 12;

#if NORMRT_WITH_CUDA
// A buffer larger than L2, read before each timed call (then a device synchronise) so that no operand is served
// from L2 and no dirty line of the flush is written back during the call.
class L2Flusher {
 public:
  L2Flusher() {
    int device = 0, l2 = 0;
    NORMRT_CUDA_CHECK(cudaGetDevice(&device));
    NORMRT_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device));
    floats_ = std::max<std::size_t>(2 * static_cast<std::size_t>(l2), 1 << 20) / sizeof(float);
    NORMRT_CUDA_CHECK(cudaMalloc(&buffer_, (floats_ + 1) * sizeof(float)));
    NORMRT_CUDA_CHECK(cudaMemset(buffer_, 0, (floats_ + 1) * sizeof(float)));
  }
  ~L2Flusher() { NORMRT_CUDA_CHECK_LOG(cudaFree(buffer_)); }
  void flush(cudaStream_t stream) {
    bench::read_through(buffer_, floats_, buffer_ + floats_, stream);
    NORMRT_CUDA_CHECK(cudaDeviceSynchronize());
  }

 private:
  float* buffer_ = nullptr;
  std::size_t floats_ = 0;
};

using bench::Events;

// Times run() with CUDA events after three warm-up calls, flushing L2 before every timed call; a run() that makes
// `calls` calls (a replayed graph) is reported per call.
void time_gpu(benchmark::State& state, int64_t bytes_per_call, const std::function<void()>& run, int calls = 1) {
  cudaStream_t stream = cuda::current_stream(0);
  L2Flusher flusher;
  Events events;
  for (int i = 0; i < 3; ++i) run();
  for (auto _ : state) {
    flusher.flush(stream);
    state.SetIterationTime(events.time(stream, run) / calls);
  }
  state.SetBytesProcessed(state.iterations() * bytes_per_call);
}

// Host time per call of run(): kHostCalls calls queued behind a kernel that holds the device for longer than they
// take to queue, timed on the host's clock (the device's time left out; a call that waited for the device would take
// the hold's length), after three warm-up calls.
void time_host(benchmark::State& state, const std::function<void()>& run) {
  cudaStream_t stream = cuda::current_stream(0);
  for (int i = 0; i < 3; ++i) run();
  NORMRT_CUDA_CHECK(cudaDeviceSynchronize());
  for (auto _ : state) {
    bench::hold_device(stream, 20'000'000);
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kHostCalls; ++i) run();
    const std::chrono::duration<double> queued = std::chrono::steady_clock::now() - start;
    NORMRT_CUDA_CHECK(cudaDeviceSynchronize());
    state.SetIterationTime(queued.count() / kHostCalls);
  }
}

void run_gpu_host(benchmark::State& state, const Shape& shape, Mode mode) {
  skip_on_error(state, [&] {
    Operands& ops = reused_operands<Operands>("cuda " + shape_label(shape), shape, Device::cuda(0));
    time_host(state, [&] { ops.run(mode); });
  });
}

void run_gpu(benchmark::State& state, const Shape& shape, Mode mode, Backend backend) {
  skip_on_error(state, [&] {
    Operands& ops = reused_operands<Operands>("cuda " + shape_label(shape), shape, Device::cuda(0));
    time_gpu(state, shape_numel(shape) * bytes_per_element(mode), [&] { ops.run(mode, backend); });
  });
}

// Small shapes as a replayed CUDA graph of kGraphCalls calls, timed per call: kernel time without the host's launch
// overhead (the per-call benchmark above includes it). The calls follow one another without an L2 flush between
// them, as layers of a captured training step do; L2 is flushed before each replay.
constexpr int kGraphCalls = 20;
constexpr int64_t kGraphBelowBytes = int64_t{16} << 20;

void run_gpu_graph(benchmark::State& state, const Shape& shape, Mode mode) {
  skip_on_error(state, [&] {
    Operands& ops = reused_operands<Operands>("cuda " + shape_label(shape), shape, Device::cuda(0));
    ops.run(mode);  // algorithm choices and workspaces before the capture
    cuda::Graph graph(0);
    graph.capture_begin();
    for (int i = 0; i < kGraphCalls; ++i) ops.run(mode);
    graph.capture_end();
    time_gpu(state, shape_numel(shape) * bytes_per_element(mode), [&] { graph.replay(); }, kGraphCalls);
  });
}

#ifdef NORMRT_BENCH_VARIANTS
int sm_count() {
  int count = 0;
  NORMRT_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, 0));
  return count;
}

std::size_t max_shared_bytes() {
  int bytes = 0;
  NORMRT_CUDA_CHECK(cudaDeviceGetAttribute(&bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0));
  return static_cast<std::size_t>(bytes);
}

bn::Geometry geometry_of(const Shape& shape) {
  bn::Geometry g{shape[0], shape[1], 1};
  for (std::size_t d = 2; d < shape.size(); ++d) g.S *= shape[d];
  return g;
}

// Operands and outputs of the kernel launchers, for the runs that call them directly.
struct KernelOperands : Operands {
  Tensor out, mean, invstd, dweight, dbias;
  bn::ForwardTrainingParams forward;
  bn::ForwardInferenceParams inference;
  bn::BackwardParams backward;
  explicit KernelOperands(const Shape& shape) : Operands(shape, Device::cuda(0)) {
    const Device gpu = Device::cuda(0);
    out = empty(shape, gpu);
    mean = empty({shape[1]}, gpu);
    invstd = mean.clone();
    dweight = mean.clone();
    dbias = mean.clone();
    forward.geometry = backward.geometry = geometry_of(shape);
    forward.x = backward.x = x.data<float>();
    forward.weight = backward.weight = weight.data<float>();
    forward.bias = bias.data<float>();
    forward.y = out.data<float>();
    forward.save_mean = mean.data<float>();
    forward.save_invstd = invstd.data<float>();
    forward.running_mean = running_mean.data<float>();
    forward.running_var = running_var.data<float>();
    backward.dy = dy.data<float>();
    backward.mean = save_mean.data<float>();
    backward.invstd = save_invstd.data<float>();
    backward.dx = out.data<float>();
    backward.dweight = dweight.data<float>();
    backward.dbias = dbias.data<float>();
    inference.geometry = forward.geometry;
    inference.x = forward.x;
    inference.weight = forward.weight;
    inference.bias = forward.bias;
    inference.running_mean = forward.running_mean;
    inference.running_var = forward.running_var;
    inference.y = forward.y;
    inference.save_mean = forward.save_mean;
    inference.save_invstd = forward.save_invstd;
  }
};

// Variant 1 (benchmarks/variants/batchnorm_forward_single_read.cu), forward training only.
void run_gpu_single_read(benchmark::State& state, const Shape& shape) {
  skip_on_error(state, [&] {
    KernelOperands& ops = reused_operands<KernelOperands>(shape_label(shape), shape);
    Tensor semaphore = zeros({1}, TensorOptions(Device::cuda(0)).dtype(DType::Int64));
    const std::size_t shared = max_shared_bytes();
    time_gpu(state, shape_numel(shape) * 8, [&] {
      bn::cuda::variants::forward_training_single_read(
          ops.forward, reinterpret_cast<unsigned*>(semaphore.raw_data()), shared, cuda::current_stream(0));
    });
  });
}

// Variant 2 (benchmarks/variants/batchnorm_forward_pytorch_algorithm.cu): PyTorch's algorithm, forward training.
void run_gpu_pytorch_algorithm(benchmark::State& state, const Shape& shape) {
  skip_on_error(state, [&] {
    KernelOperands& ops = reused_operands<KernelOperands>(shape_label(shape), shape);
    Tensor workspace = empty({shape[1]}, Device::cuda(0));
    time_gpu(state, shape_numel(shape) * 8, [&] {
      bn::cuda::variants::forward_training_pytorch_algorithm(ops.forward, workspace.data<float>(),
                                                             cuda::current_stream(0));
    });
  });
}

// The library's kernels under a LaunchTuning that restores a design the default replaced, to measure what the
// default gains: `adjust` changes the tuning (see the registrations).
// The kernel launchers of `mode` under a tuning, timed on the device (time_gpu), or on the host (time_host) with
// `on_host`.
void run_kernels(benchmark::State& state, const Shape& shape, Mode mode, void (*adjust)(bn::cuda::LaunchTuning&),
                 bool on_host) {
  skip_on_error(state, [&] {
    KernelOperands& ops = reused_operands<KernelOperands>(shape_label(shape), shape);
    bn::cuda::LaunchTuning tuning;
    tuning.sm_count = sm_count();
    adjust(tuning);
    Tensor workspace = empty({static_cast<int64_t>(bn::cuda::workspace_floats(ops.forward.geometry, tuning))},
                             Device::cuda(0));
    const auto launch = [&] {
      cudaStream_t stream = cuda::current_stream(0);
      if (mode == Mode::Backward) bn::cuda::backward(ops.backward, workspace.data<float>(), tuning, stream);
      else if (mode == Mode::ForwardEval) bn::cuda::forward_inference(ops.inference, tuning, stream);
      else bn::cuda::forward_training(ops.forward, workspace.data<float>(), tuning, stream);
    };
    if (on_host) time_host(state, launch);
    else time_gpu(state, shape_numel(shape) * bytes_per_element(mode), launch);
  });
}

void run_gpu_replaced_design(benchmark::State& state, const Shape& shape, Mode mode,
                             void (*adjust)(bn::cuda::LaunchTuning&)) {
  run_kernels(state, shape, mode, adjust, false);
}

void run_gpu_host_kernels(benchmark::State& state, const Shape& shape, Mode mode) {
  run_kernels(state, shape, mode, [](bn::cuda::LaunchTuning&) {}, true);
}
#endif

double measure_copy_bandwidth() {
  const std::size_t bytes = std::size_t{1} << 30;
  void *src = nullptr, *dst = nullptr;
  NORMRT_CUDA_CHECK(cudaMalloc(&src, bytes));
  NORMRT_CUDA_CHECK(cudaMalloc(&dst, bytes));
  Events events;
  std::vector<double> times;
  for (int i = 0; i < 12; ++i) {
    const double t = events.time(
        nullptr, [&] { NORMRT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, nullptr)); });
    if (i >= 2) times.push_back(t);
  }
  NORMRT_CUDA_CHECK(cudaFree(src));
  NORMRT_CUDA_CHECK(cudaFree(dst));
  std::sort(times.begin(), times.end());
  return 2.0 * static_cast<double>(bytes) / times[times.size() / 2];
}
#endif

// The dtype x memory format x fusion matrix.
enum class Fusion { None, ReLU, AddReLU };
const char* fusion_name(Fusion f) { return f == Fusion::None ? "none" : f == Fusion::ReLU ? "relu" : "add-relu"; }

struct Combination {
  DType dtype;
  MemoryFormat format;
  Fusion fusion;
  Backend backend = Backend::Native;
  std::string label() const {
    return std::string(dtype_name(dtype)) + "-" + (format == MemoryFormat::Contiguous ? "nchw" : "nhwc") + "-" +
           fusion_name(fusion) + (backend == Backend::CuDNN ? "-cudnn" : "");
  }
  // Forward: read x (and z), write y. Backward: read dy and x (and y for the ReLU's mask), write dx (and dz, which
  // is the masked dy: a tensor of its own only with the ReLU).
  int64_t bytes_per_element(Mode mode) const {
    const int64_t e = static_cast<int64_t>(element_size(dtype));
    const bool add = fusion == Fusion::AddReLU, relu = fusion != Fusion::None;
    return mode == Mode::Backward ? (3 + relu + add) * e : (2 + add) * e;
  }
};

// The float32 draws of one shape, which each combination converts (drawn once per shape: see reused_operands).
struct MatrixDraws {
  Tensor x, z, dy, weight, bias;
  MatrixDraws(const Shape& shape, const Device& device) {
    Generator gen(1);
    x = randn(shape, gen, device);
    z = randn(shape, gen, device);
    dy = randn(shape, gen, device);
    weight = rand({shape[1]}, gen, device);
    bias = randn({shape[1]}, gen, device);
  }
};

struct MatrixOperands {
  Combination combination;
  Tensor x, z, dy, weight, bias, running_mean, running_var;
  ops::BatchNormForwardResult forward;
  MatrixOperands(const Shape& shape, const Device& device, const Combination& c) : combination(c) {
    const MatrixDraws& draws = reused_operands<MatrixDraws>(
        std::string(device.is_cpu() ? "cpu " : "cuda ") + shape_label(shape), shape, device);
    x = draws.x.to(c.dtype).to(c.format);
    z = draws.z.to(c.dtype).to(c.format);
    dy = draws.dy.to(c.dtype).to(c.format);
    weight = draws.weight;
    bias = draws.bias;
    running_mean = zeros({shape[1]}, device);
    running_var = ones({shape[1]}, device);
    forward = train();
  }
  ops::BatchNormEpilogue epilogue() const {
    return {combination.fusion == Fusion::AddReLU ? z : Tensor(), combination.fusion != Fusion::None};
  }
  ops::BatchNormForwardResult train() {
    return ops::batch_norm_forward_training(x, weight, bias, running_mean, running_var, Tensor(), 0.1, 1e-5,
                                            combination.backend, epilogue());
  }
  void run(Mode mode) {
    if (mode != Mode::Backward) {
      train();
      return;
    }
    ops::BatchNormBackwardEpilogue back;
    if (combination.fusion != Fusion::None) back.relu_output = forward.output;
    back.residual = combination.fusion == Fusion::AddReLU;
    back.cudnn_reserve = forward.cudnn_reserve;
    back.bias = bias;
    ops::batch_norm_backward(dy, x, weight, forward.save_mean, forward.save_invstd, true, 1e-5, combination.backend,
                             back);
  }
};

const std::vector<Shape> kMatrixGpuShapes = {{32, 64, 112, 112}, {256, 256, 14, 14}, {64, 512, 28, 28}};
const std::vector<Shape> kMatrixCpuShapes = {{32, 64, 56, 56}};

// On the GPU also cuDNN's persistent NHWC kernels on float16, the mixed-precision ResNet case they are built for.
std::vector<Combination> matrix_combinations(bool with_cudnn) {
  std::vector<Combination> out;
  for (DType dtype : {DType::Float32, DType::Float16, DType::BFloat16})
    for (MemoryFormat format : {MemoryFormat::Contiguous, MemoryFormat::ChannelsLast})
      for (Fusion fusion : {Fusion::None, Fusion::ReLU, Fusion::AddReLU}) out.push_back({dtype, format, fusion});
  if (with_cudnn)
    for (Fusion fusion : {Fusion::None, Fusion::ReLU, Fusion::AddReLU})
      out.push_back({DType::Float16, MemoryFormat::ChannelsLast, fusion, Backend::CuDNN});
  return out;
}

void run_cpu_matrix(benchmark::State& state, const Shape& shape, Mode mode, const Combination& c) {
  skip_on_error(state, [&] {
    MatrixOperands& ops =
        reused_operands<MatrixOperands>("cpu " + shape_label(shape) + c.label(), shape, Device::cpu(), c);
    for (auto _ : state) ops.run(mode);
    state.SetBytesProcessed(state.iterations() * shape_numel(shape) * c.bytes_per_element(mode));
  });
}

#if NORMRT_WITH_CUDA
void run_gpu_matrix(benchmark::State& state, const Shape& shape, Mode mode, const Combination& c) {
  skip_on_error(state, [&] {
    MatrixOperands& ops =
        reused_operands<MatrixOperands>("cuda " + shape_label(shape) + c.label(), shape, Device::cuda(0), c);
    time_gpu(state, shape_numel(shape) * c.bytes_per_element(mode), [&] { ops.run(mode); });
  });
}
#endif

std::string shape_label(const Shape& s) {
  std::string out;
  for (int64_t d : s) out += (out.empty() ? "" : "x") + std::to_string(d);
  return out;
}

struct MatrixEntry {
  // baseline: float32 NCHW unfused native, same shape and mode; for cuDNN rows the native row of the combination
  std::string name, baseline_name, device, shape;
  Combination combination;
  Mode mode;
  int64_t numel;
};

struct Entry {
  std::string name, cudnn_name, device, shape;  // cudnn_name empty where cuDNN is not measured
  std::string variant_name;                      // single-read variant, where it applies
  std::string three_launch_name;                 // the three-launch training step, where channels or rows are split
  std::string flat_columns_name;                 // the column layout's elementwise passes flat, where they apply
  std::string kernels_name;  // the library's kernels alone (default tuning), where a replaced design is timed beside
  std::string graph_name, host_name, host_kernels_name;  // small shapes: replayed graph, host time of op and kernels
  // The column reduction's rows split for 8 and 16 blocks per SM instead of the default 4 ((N, C) shapes, the
  // library's kernels alone), where measured: which the default should be.
  std::string column_blocks_8_name, column_blocks_16_name;
  Mode mode;
  int64_t numel;
};

}  // namespace

int main(int argc, char** argv) {
  bench::initialize(argc, argv);

  std::vector<Entry> entries;
  for (Mode mode : {Mode::ForwardTraining, Mode::ForwardEval, Mode::Backward}) {
    for (const Shape& shape : kCpuShapes) {
      const std::string name = std::string("cpu/native/") + mode_name(mode) + "/" + shape_label(shape);
      benchmark::RegisterBenchmark(name.c_str(), run_cpu, shape, mode)->Unit(benchmark::kMicrosecond)->UseRealTime();
      entries.push_back(
          {name, "", "cpu", shape_label(shape), "", "", "", "", "", "", "", "", "", mode, shape_numel(shape)});
    }
  }
  std::vector<MatrixEntry> matrix;
  auto register_matrix = [&](const std::string& device, const std::vector<Shape>& shapes, auto run) {
    // Both modes of a combination run one after the other, on the same operands (reused_operands).
    const std::vector<Combination> combinations = matrix_combinations(device == "gpu");
    for (const Shape& shape : shapes) {
      for (const Combination& c : combinations) {
        for (Mode mode : {Mode::ForwardTraining, Mode::Backward}) {
          const std::string suffix = std::string("/") + mode_name(mode) + "/" + shape_label(shape);
          const std::string name = device + "/matrix/" + c.label() + suffix;
          Combination native = c;
          native.backend = Backend::Native;
          const Combination& versus = c.backend == Backend::CuDNN ? native : combinations.front();
          const std::string baseline = device + "/matrix/" + versus.label() + suffix;
          auto* b = benchmark::RegisterBenchmark(name.c_str(), run, shape, mode, c)->Unit(benchmark::kMicrosecond);
          if (device == "gpu") b->UseManualTime();
          else b->UseRealTime();
          matrix.push_back({name, baseline, device, shape_label(shape), c, mode, shape_numel(shape)});
        }
      }
    }
  };
  register_matrix("cpu", kMatrixCpuShapes, run_cpu_matrix);
#if NORMRT_WITH_CUDA
  if (cuda::is_available()) {
    g_copy_bandwidth = measure_copy_bandwidth();
    register_matrix("gpu", kMatrixGpuShapes, run_gpu_matrix);
    for (Mode mode : {Mode::ForwardTraining, Mode::ForwardEval, Mode::Backward}) {
      for (const Shape& shape : kGpuShapes) {
        const std::string suffix = std::string(mode_name(mode)) + "/" + shape_label(shape);
        const std::string name = "gpu/native/" + suffix;
        benchmark::RegisterBenchmark(name.c_str(), run_gpu, shape, mode, Backend::Native)
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond);
        // (N, C) input falls back to native under the cuDNN backend (see src/batchnorm_choice.cpp): not measured.
        std::string cudnn_name;
        if (shape.size() > 2) {
          cudnn_name = "gpu/cudnn/" + suffix;
          benchmark::RegisterBenchmark(cudnn_name.c_str(), run_gpu, shape, mode, Backend::CuDNN)
              ->UseManualTime()
              ->Unit(benchmark::kMicrosecond);
        }
        std::string variant_name;
#ifdef NORMRT_BENCH_VARIANTS
        if (mode == Mode::ForwardTraining &&
            bn::cuda::variants::single_read_supported(geometry_of(shape), max_shared_bytes())) {
          variant_name = "gpu/single-read/" + suffix;
          benchmark::RegisterBenchmark(variant_name.c_str(), run_gpu_single_read, shape)
              ->UseManualTime()
              ->Unit(benchmark::kMicrosecond);
        }
#endif
        std::string graph_name, host_name, host_kernels_name;
        if (shape_numel(shape) * 4 < kGraphBelowBytes) {
          graph_name = "gpu/native-graph/" + suffix;
          benchmark::RegisterBenchmark(graph_name.c_str(), run_gpu_graph, shape, mode)
              ->UseManualTime()
              ->Unit(benchmark::kMicrosecond);
          host_name = "gpu/host/" + suffix;
          benchmark::RegisterBenchmark(host_name.c_str(), run_gpu_host, shape, mode)
              ->Iterations(kHostIterations)
              ->UseManualTime()
              ->Unit(benchmark::kMicrosecond);
#ifdef NORMRT_BENCH_VARIANTS
          host_kernels_name = "gpu/host-kernels/" + suffix;
          benchmark::RegisterBenchmark(host_kernels_name.c_str(), run_gpu_host_kernels, shape, mode)
              ->Iterations(kHostIterations)
              ->UseManualTime()
              ->Unit(benchmark::kMicrosecond);
#endif
        }
#ifdef NORMRT_BENCH_VARIANTS
        if (mode == Mode::ForwardTraining && bn::cuda::variants::pytorch_algorithm_supported(geometry_of(shape))) {
          benchmark::RegisterBenchmark(("gpu/pytorch-algorithm/" + suffix).c_str(), run_gpu_pytorch_algorithm, shape)
              ->UseManualTime()
              ->Unit(benchmark::kMicrosecond);
        }
#endif
        std::string three_launch_name;
#ifdef NORMRT_BENCH_VARIANTS
        // Channels are split (so the cooperative step runs) while C blocks fill less than half of 4 per SM; (N, C)
        // shapes (the column layout) split rows likewise while their column blocks do (here, all but narrow N).
        if (mode != Mode::ForwardEval && (shape.size() == 2 || 2 * shape[1] < 4 * sm_count())) {
          three_launch_name = "gpu/three-launch/" + suffix;
          // Split channels or rows as reduce, finalize and elementwise launches (the column layout's one split as
          // reduce and elementwise): what the one-launch steps replaced.
          void (*three_launches)(bn::cuda::LaunchTuning&) = [](bn::cuda::LaunchTuning& t) {
            t.cooperative = false;
            t.column_steps = false;
          };
          benchmark::RegisterBenchmark(three_launch_name.c_str(), run_gpu_replaced_design, shape, mode, three_launches)
              ->UseManualTime()
              ->Unit(benchmark::kMicrosecond);
        }
#endif
        std::string flat_columns_name;
#ifdef NORMRT_BENCH_VARIANTS
        // (N, C) shapes (the column layout) with C % 4 == 0: the ones whose elementwise passes run by columns.
        if (shape.size() == 2 && shape[1] % 4 == 0) {
          flat_columns_name = "gpu/flat-columns/" + suffix;
          // The elementwise passes flat (channel and coefficients looked up per element): what the column passes
          // replaced.
          void (*flat)(bn::cuda::LaunchTuning&) = [](bn::cuda::LaunchTuning& t) { t.column_elementwise = false; };
          benchmark::RegisterBenchmark(flat_columns_name.c_str(), run_gpu_replaced_design, shape, mode, flat)
              ->UseManualTime()
              ->Unit(benchmark::kMicrosecond);
        }
#endif
        std::string kernels_name;
#ifdef NORMRT_BENCH_VARIANTS
        // The replaced designs above are bare launches; so is this, the default tuning's, so that they compare at
        // the same level (the native row adds the op's allocations and checks).
        if (!three_launch_name.empty() || !flat_columns_name.empty()) {
          kernels_name = "gpu/kernels/" + suffix;
          void (*unchanged)(bn::cuda::LaunchTuning&) = [](bn::cuda::LaunchTuning&) {};
          benchmark::RegisterBenchmark(kernels_name.c_str(), run_gpu_replaced_design, shape, mode, unchanged)
              ->UseManualTime()
              ->Unit(benchmark::kMicrosecond);
        }
#endif
        std::string column_blocks_8_name, column_blocks_16_name;
#ifdef NORMRT_BENCH_VARIANTS
        if (mode != Mode::ForwardEval && shape.size() == 2 && !kernels_name.empty()) {
          column_blocks_8_name = "gpu/column-blocks-8/" + suffix;
          column_blocks_16_name = "gpu/column-blocks-16/" + suffix;
          void (*eight)(bn::cuda::LaunchTuning&) = [](bn::cuda::LaunchTuning& t) { t.column_blocks_per_sm = 8; };
          void (*sixteen)(bn::cuda::LaunchTuning&) = [](bn::cuda::LaunchTuning& t) { t.column_blocks_per_sm = 16; };
          const std::pair<const std::string*, void (*)(bn::cuda::LaunchTuning&)> rows[] = {
              {&column_blocks_8_name, eight}, {&column_blocks_16_name, sixteen}};
          for (const auto& [row, adjust] : rows)
            benchmark::RegisterBenchmark(row->c_str(), run_gpu_replaced_design, shape, mode, adjust)
                ->UseManualTime()
                ->Unit(benchmark::kMicrosecond);
        }
#endif
        entries.push_back({name, cudnn_name, "gpu", shape_label(shape), variant_name, three_launch_name,
                           flat_columns_name, kernels_name, graph_name, host_name, host_kernels_name,
                           column_blocks_8_name, column_blocks_16_name, mode, shape_numel(shape)});
      }
    }
  }
#endif
  bench::MedianReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  last_operands<Operands>().second.reset();
  last_operands<MatrixOperands>().second.reset();
  last_operands<MatrixDraws>().second.reset();
#ifdef NORMRT_BENCH_VARIANTS
  last_operands<KernelOperands>().second.reset();
#endif

  std::printf("\nSummary (medians)%s\n", g_copy_bandwidth > 0 ? "" : " - no GPU: CPU section only");
  if (g_copy_bandwidth > 0) std::printf("device-to-device copy bandwidth: %.1f GB/s\n", g_copy_bandwidth * 1e-9);
  std::printf(
      "| device | shape | mode | native us | cuDNN us | native/cuDNN speedup | native GB/s | %% of copy BW | "
      "single-read variant us | three-launch us | flat-columns us | library kernels alone us |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  std::map<std::string, std::vector<double>> fractions;
  for (const Entry& e : entries) {
    const double us = reporter.micros(e.name);
    if (us <= 0) continue;
    const double gbs = static_cast<double>(e.numel * bytes_per_element(e.mode)) / (us * 1e-6) * 1e-9;
    std::string pct = "-";
    if (e.device == "gpu") {
      const double f = gbs * 1e9 / g_copy_bandwidth;
      fractions[mode_name(e.mode)].push_back(f);
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.0f%%", 100 * f);
      pct = buf;
    }
    // A measured time as a table cell; `missing` where the benchmark was not registered or did not run.
    auto cell = [&](const std::string& name, const char* format, double divisor, const char* missing) {
      const double other_us = name.empty() ? -1 : reporter.micros(name);
      if (other_us <= 0) return std::string(missing);
      char buf[32];
      std::snprintf(buf, sizeof buf, format, other_us / divisor);
      return std::string(buf);
    };
    std::printf("| %s | %s | %s | %.1f | %s | %s | %.1f | %s | %s | %s | %s | %s |\n", e.device.c_str(),
                e.shape.c_str(), mode_name(e.mode), us, cell(e.cudnn_name, "%.1f", 1, "n/a").c_str(),
                cell(e.cudnn_name, "%.2fx", us, "-").c_str(), gbs, pct.c_str(),
                cell(e.variant_name, "%.1f", 1, "-").c_str(), cell(e.three_launch_name, "%.1f", 1, "-").c_str(),
                cell(e.flat_columns_name, "%.1f", 1, "-").c_str(), cell(e.kernels_name, "%.1f", 1, "-").c_str());
  }
  for (const auto& [mode, fs] : fractions) {
    double log_sum = 0;
    for (double f : fs) log_sum += std::log(f);
    std::printf("gpu %s: geometric mean %.0f%% of copy bandwidth over %zu shapes\n", mode.c_str(),
                100 * std::exp(log_sum / static_cast<double>(fs.size())), fs.size());
  }
  const auto micros_cell = [&](const std::string& name) {
    const double us = name.empty() ? -1 : reporter.micros(name);
    char buf[32] = "-";
    if (us > 0) std::snprintf(buf, sizeof buf, "%.1f", us);
    return std::string(buf);
  };
  bool host_header = false;
  for (const Entry& e : entries) {
    if (e.host_name.empty() || reporter.micros(e.host_name) <= 0) continue;
    if (!host_header) {
      std::printf("\nHost time per call on the small shapes (medians; %d calls queued behind a 20 ms kernel, timed on "
                  "the host's clock), beside the device's time per call in a replayed graph\n"
                  "| shape | mode | op host us | library kernels alone host us | replayed graph us |\n"
                  "|---|---|---|---|---|\n",
                  kHostCalls);
      host_header = true;
    }
    std::printf("| %s | %s | %s | %s | %s |\n", e.shape.c_str(), mode_name(e.mode), micros_cell(e.host_name).c_str(),
                micros_cell(e.host_kernels_name).c_str(), micros_cell(e.graph_name).c_str());
  }
  bool column_header = false;
  for (const Entry& e : entries) {
    if (e.column_blocks_8_name.empty() || reporter.micros(e.column_blocks_8_name) <= 0) continue;
    if (!column_header) {
      std::printf(
          "\nThe column reduction's blocks per SM ((N, C) and channels-last input; the library's kernels "
          "alone, medians)\n| shape | mode | 4 (default) us | 8 us | 16 us |\n|---|---|---|---|---|\n");
      column_header = true;
    }
    std::printf("| %s | %s | %s | %s | %s |\n", e.shape.c_str(), mode_name(e.mode), micros_cell(e.kernels_name).c_str(),
                micros_cell(e.column_blocks_8_name).c_str(), micros_cell(e.column_blocks_16_name).c_str());
  }
  std::printf("\ndtype x memory format x fusion (medians; GB/s and %% of copy bandwidth at each combination's minimal "
              "bytes; speedup over float32 NCHW unfused of the same run; on -cudnn rows, cuDNN's time over the native "
              "kernels' on the same combination: above 1x the native kernels are faster)\n"
              "| device | shape | mode | dtype-format-fusion | us | GB/s | %% of copy BW | speedup |\n"
              "|---|---|---|---|---|---|---|---|\n");
  std::stable_sort(matrix.begin(), matrix.end(), [](const MatrixEntry& a, const MatrixEntry& b) {
    return std::tie(a.device, a.mode) < std::tie(b.device, b.mode);
  });
  for (const MatrixEntry& e : matrix) {
    const double us = reporter.micros(e.name), baseline_us = reporter.micros(e.baseline_name);
    if (us <= 0) continue;
    const double gbs =
        static_cast<double>(e.numel * e.combination.bytes_per_element(e.mode)) / (us * 1e-6) * 1e-9;
    char pct[32] = "-", speedup[32] = "-";
    if (e.device == "gpu") std::snprintf(pct, sizeof pct, "%.0f%%", 100 * gbs * 1e9 / g_copy_bandwidth);
    const bool cudnn = e.combination.backend == Backend::CuDNN;
    if (baseline_us > 0) std::snprintf(speedup, sizeof speedup, "%.2fx", cudnn ? us / baseline_us : baseline_us / us);
    std::printf("| %s | %s | %s | %s | %.1f | %.1f | %s | %s |\n", e.device.c_str(), e.shape.c_str(),
                mode_name(e.mode), e.combination.label().c_str(), us, gbs, pct, speedup);
  }
  benchmark::Shutdown();
  return 0;
}
