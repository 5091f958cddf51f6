// Custom CUDA BatchNorm kernels: input viewed as (N, C, S), S the product of spatial sizes, elements float32,
// float16 or bfloat16 (float in registers, outputs rounded once); the forward's elementwise pass applies the fused
// epilogue (residual + ReLU) where it writes y.
//
// Statistics (and the backward sums) are per-channel reductions, in two layouts:
//  * S > 1: a block reduces a contiguous share of one channel's N*S elements (grid = C x splits). Each thread
//    loads kUnroll units (floats, or float4 when S % 4 == 0 and the data are 16-byte aligned) before using them,
//    folds them as one group (exact two-pass mean/M2 of the group, then Chan's merge into its Welford state: one
//    division per group instead of per element), then warps merge by xor shuffles and warps through shared memory.
//    When C is small against the GPU, a channel is split over several blocks (chosen from the shape and the SM
//    count) that write partial states; no float atomics anywhere.
//  * S == 1, i.e. (N, C) input and channels-last input as (N * spatial, C): channels are the contiguous dimension, so
//    threads take columns (16 bytes of adjacent channels per unit load, four floats or eight halves, where C and
//    the alignment allow) and walk rows, and a block merges its rows through shared memory in a fixed tree; row
//    ranges split over blocks likewise.
// Values are shifted by each channel's first element before accumulation (see bn_math.cuh), and a channel's mean,
// that element plus the shifted mean, splits exactly into the float save_mean and the low part rounding left
// (split_mean): the forward centres on both (the low part folded into the shift) and saves the low part, the backward
// corrects its sums by it, so a mean far from zero costs no more than float rounding of the spread.
// Finishing a channel writes save_mean, save_invstd and the coefficients of the elementwise pass and updates
// running_mean/running_var in place from the device-side num_batches_tracked (read as stored + 1 for momentum=None;
// the pass that ends the step increments it). When a channel is one block's, that block finishes it; when channels
// are split (only while C blocks fill less than half the GPU), a finalize kernel merges the partial states, a warp
// per channel in a fixed tree, so results are identical run to run.
// Launches:
//  * training, one split per channel, S > 1: ONE launch (channel_fused_kernel): reduce, finish, then the elementwise
//    pass over the same channel top-down, its data coming back from L2 (momentum=None with running statistics
//    keeps two launches, as every block reads the batch count that the step increments);
//  * training with split channels: ONE cooperative launch (channel_cooperative_kernel) where two or more blocks per
//    channel can be resident at once: blocks reduce their shares keeping the first 32 floats per thread in
//    registers, merge the channel's partial states after a grid barrier, and normalise from registers and L2;
//  * training in the column layout: ONE launch (column_step_kernel): with one split of the rows, each block finishes
//    its columns (momentum=None with running statistics excepted, as above); with split rows, cooperative where two
//    or more splits can be resident at once: rows kept on chip as above, each column finished once between two grid
//    barriers;
//  * otherwise: reduce, finalize, elementwise on the reduction's mirrored partition when that grid fills the GPU
//    (what was read last, still in L2, is read first), else flat;
//  * column layout otherwise: column reduction (+ finalize), then the elementwise pass by columns (each thread's
//    channel coefficients looked up once for all its rows) when C % 4 == 0 and the operands are aligned, else flat;
//  * eval forward: ONE launch (by columns or flat, as above) computing the coefficients from the running statistics
//    in place.
// Elementwise passes store evict-first (st.global.cs): outputs are not re-read by the op, inputs may be.
// No host synchronisation anywhere; indices are 32-bit below 2^31 elements, 64-bit above.
#include "batchnorm.cuh"

#include <algorithm>
#include <type_traits>

#include "bn_math.cuh"
#include "index_math.cuh"

namespace normrt::bn::NORMRT_KERNEL_NS {

namespace {

constexpr int kReduceThreads = 256;
constexpr int kColumnThreads = 256;  // the column layout's reductions and training steps
constexpr int kUnroll = 4;
constexpr int kFinalizeThreads = 256;
constexpr int kElementwiseThreads = 256;
constexpr int kColumnElementwiseThreads = 256;
constexpr unsigned kFullMask = 0xffffffffu;

// ---------------------------------------------------------------------------------------------------------------
// The elementwise passes of a training step: out = op.at(channel)(a, b). at() loads a channel's coefficients once.
// Element: the type of the per-element tensors. An At with kHasEpilogue also applies the fused epilogue
// (epilogue_values) to the values it computes.
template <typename T>
struct NormalizeOp {
  using Element = T;
  static constexpr bool kSavesStatistics = false;
  const float *mean, *scale, *shift;
  const T* residual;
  bool relu;
  struct At {
    static constexpr bool kHasEpilogue = true;
    static constexpr bool kMasksGradient = false;
    float mean, scale, shift;
    const T* residual;
    bool relu;
    __device__ float operator()(float x, float) const { return normalize(x, mean, scale, shift); }
  };
  __device__ At at(uint64_t c) const { return {mean[c], scale[c], shift[c], residual, relu}; }
};

template <typename T>
struct InputGradTrainingOp {
  using Element = T;
  static constexpr bool kSavesStatistics = false;
  const float *mean, *grad_mean, *projection, *scale;
  const T* relu_output;
  T* grad_residual;
  struct At {
    static constexpr bool kHasEpilogue = false;
    static constexpr bool kMasksGradient = true;
    BackwardCoefficients<float> k;
    float mean;
    const T* relu_output;
    T* grad_residual;
    __device__ float operator()(float dy, float x) const { return backward_training(dy, x, k, mean); }
  };
  __device__ At at(uint64_t c) const {
    return {{grad_mean[c], projection[c], scale[c]}, mean[c], relu_output, grad_residual};
  }
};


// The fused epilogue (+ residual, then the ReLU) on `width` output values of elements first, first + 1, ...; the
// residual is read element by element: it need not share the operands' alignment. A no-op for other passes.
template <typename At, typename Index>
__device__ void epilogue_values(const At& f, Index first, float* values, int width) {
  if constexpr (At::kHasEpilogue) {
    if (f.residual == nullptr && !f.relu) return;
    for (int i = 0; i < width; ++i) {
      const float z = f.residual != nullptr ? static_cast<float>(f.residual[first + i]) : 0.0f;
      values[i] = f.relu ? epilogue<true>(values[i], z) : epilogue<false>(values[i], z);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Per-channel finishing: what the statistics (or the backward sums) of one channel become.

// Per-channel coefficients of the elementwise pass live in the workspace after the partial states.
struct Coefficients {
  float* a;  // forward: scale; backward: grad_mean
  float* b;  // forward: shift; backward: projection
  float* c;  // backward: scale
};

// The running-average factor of this training step. num_batches_tracked is incremented by the normalise pass at the
// end of the step, so every kernel before it reads the new count as the stored one + 1.
template <typename T>
__device__ float step_factor(const ForwardTrainingParamsOf<T>& p) {
  if (p.running_mean == nullptr) return 0.0f;
  // Read only for momentum=None, the one case that needs it (channel_fused_kernel relies on this).
  const int64_t batches = p.cumulative_average && p.num_batches_tracked != nullptr ? *p.num_batches_tracked + 1 : 0;
  return static_cast<float>(running_factor(p.cumulative_average, p.momentum, batches));
}

// Channel c's normalise coefficients from its mean (pivot + shifted_mean), sum of squared deviations and count;
// `write`: also its save_mean (and save_mean_low), save_invstd, coefficients and running statistics. The mean splits
// into the float save_mean and its low part (split_mean), which the shift takes in (compensated_shift).
template <typename T>
__device__ typename NormalizeOp<T>::At finish_forward_values(const ForwardTrainingParamsOf<T>& p, uint64_t c,
                                                             float pivot, float shifted_mean, float m2, float count,
                                                             float factor, const Coefficients& coefficients,
                                                             bool write) {
  const SplitMean<float> split = split_mean(pivot, shifted_mean);
  const float mean = split.mean;
  const float invstd = invstd_from_var(m2 / count, static_cast<float>(p.eps));
  const float scale = invstd * (p.weight ? p.weight[c] : 1.0f);
  const typename NormalizeOp<T>::At at{mean, scale, compensated_shift(p.bias ? p.bias[c] : 0.0f, split.mean_low, scale),
                                       p.residual, p.relu};
  if (!write) return at;
  p.save_mean[c] = mean;
  if (p.save_mean_low != nullptr) p.save_mean_low[c] = split.mean_low;
  p.save_invstd[c] = invstd;
  coefficients.a[c] = at.scale;
  coefficients.b[c] = at.shift;
  if (p.running_mean != nullptr) {
    p.running_mean[c] = running_update(p.running_mean[c], mean, factor);
    p.running_var[c] = running_update(p.running_var[c], unbiased_var(m2, count), factor);
  }
  return at;
}

// The same from this batch's merged Welford state, shifted by the channel's first element (see bn_math.cuh).
template <typename T>
__device__ typename NormalizeOp<T>::At finish_forward_channel(const ForwardTrainingParamsOf<T>& p, uint64_t c,
                                                              const Welford<float>& s, float factor,
                                                              const Coefficients& coefficients, bool write = true) {
  const float count = static_cast<float>(p.geometry.per_channel());
  const float pivot = static_cast<float>(p.x[c * static_cast<uint64_t>(p.geometry.S)]);
  return finish_forward_values(p, c, pivot, s.mean, s.m2, count, factor, coefficients, write);
}

struct GradSums {
  float dy = 0.0f;
  float dy_xmu = 0.0f;
};

// The forward's mean_low of channel c in a training backward (0 where the forward kept none).
template <typename T>
__device__ float saved_mean_low(const BackwardParamsOf<T>& p, uint64_t c) {
  return p.training && p.mean_low != nullptr ? p.mean_low[c] : 0.0f;
}

// Channel c's input-gradient coefficients from its sums (centred on the float mean; corrected here to mean +
// mean_low, the forward's compensated centre: compensated_coefficients); `write`: also its dweight, dbias and
// coefficients.
template <typename T>
__device__ typename InputGradTrainingOp<T>::At finish_backward_channel(const BackwardParamsOf<T>& p, uint64_t c,
                                                                       const GradSums& s,
                                                                       const Coefficients& coefficients,
                                                                       bool write = true) {
  const float invstd = p.invstd[c], w = p.weight ? p.weight[c] : 1.0f, mean_low = saved_mean_low(p, c);
  const float dy_xmu = compensated_dy_xmu(s.dy, s.dy_xmu, mean_low);
  BackwardCoefficients<float> k{0.0f, 0.0f, invstd * w};
  if (p.training)
    k = compensated_coefficients(s.dy, dy_xmu, invstd, w, static_cast<float>(p.geometry.per_channel()), mean_low);
  const typename InputGradTrainingOp<T>::At at{k, p.mean[c], p.relu_output, p.grad_residual};
  if (!write) return at;
  if (p.dweight != nullptr) p.dweight[c] = dy_xmu * invstd;
  if (p.dbias != nullptr) p.dbias[c] = s.dy;
  coefficients.a[c] = k.grad_mean;
  coefficients.b[c] = k.projection;
  coefficients.c[c] = k.scale;
  return at;
}

// ---------------------------------------------------------------------------------------------------------------
// Reduction policies: what a reduction accumulates per element of (a, b), how states merge, and how a channel is
// finished when one block holds all of it (finish_here: one split per channel, no finalize launch). step() is what
// finishing needs from global state that the step itself changes (the running-average factor), read before it does.

template <typename T>
struct StatsReduction {
  using Element = T;
  using State = Welford<float>;
  using At = typename NormalizeOp<T>::At;
  static constexpr bool kTwoInputs = false;
  ForwardTrainingParamsOf<T> p;
  Coefficients coefficients;
  bool finish_here;
  __device__ float step() const { return step_factor(p); }
  __device__ At finish(uint64_t c, const State& s, float factor, bool write = true) const {
    return finish_forward_channel(p, c, s, factor, coefficients, write);
  }
  // The shift (pivot): the channel's first element.
  __device__ static float channel_constant(const T* a, uint64_t channel_offset) {
    return static_cast<float>(a[channel_offset]);
  }
  template <int G>
  __device__ static void add_group(State& s, const float (&a)[G], const float (&)[G], float pivot) {
    float v[G], sum = 0.0f;
    for (int i = 0; i < G; ++i) {
      v[i] = a[i] - pivot;
      sum += v[i];
    }
    State group;
    group.mean = sum * (1.0f / G);
    for (int i = 0; i < G; ++i) group.m2 += (v[i] - group.mean) * (v[i] - group.mean);
    group.count = static_cast<float>(G);
    s = welford_merge(s, group);
  }
  __device__ static void add_one(State& s, float a, float, float pivot) { welford_add(s, a - pivot); }
  template <typename Index>
  __device__ __forceinline__ void mask(Index, float*, int) const {}
  __device__ static State merge(const State& lo, const State& hi) { return welford_merge(lo, hi); }
  __device__ static State shfl_xor(const State& s, int lane_mask) {
    State o;
    o.mean = __shfl_xor_sync(kFullMask, s.mean, lane_mask);
    o.m2 = __shfl_xor_sync(kFullMask, s.m2, lane_mask);
    o.count = __shfl_xor_sync(kFullMask, s.count, lane_mask);
    return o;
  }
};

// a = grad_output, b = input; the constant is the channel's saved mean.
template <typename T>
struct GradReduction {
  using Element = T;
  using State = GradSums;
  using At = typename InputGradTrainingOp<T>::At;
  static constexpr bool kTwoInputs = true;
  BackwardParamsOf<T> p;
  Coefficients coefficients;
  bool finish_here;
  __device__ float step() const { return 0.0f; }
  __device__ At finish(uint64_t c, const State& s, float, bool write = true) const {
    return finish_backward_channel(p, c, s, coefficients, write);
  }
  __device__ float channel_constant_of(uint64_t c) const { return p.mean[c]; }
  template <int G>
  __device__ static void add_group(State& s, const float (&a)[G], const float (&b)[G], float mu) {
    for (int i = 0; i < G; ++i) add_one(s, a[i], b[i], mu);
  }
  __device__ static void add_one(State& s, float a, float b, float mu) {
    s.dy += a;
    s.dy_xmu += a * (b - mu);
  }
  // dy past a fused forward's ReLU (see pass_relu), on `width` values of elements first, first + 1, ...
  template <typename Index>
  __device__ __forceinline__ void mask(Index first, float* dy, int width) const {
    if (p.relu_output == nullptr) return;
#pragma unroll
    for (int i = 0; i < width; ++i) dy[i] = relu_gradient(dy[i], static_cast<float>(p.relu_output[first + i]));
  }
  __device__ static State merge(const State& lo, const State& hi) { return {lo.dy + hi.dy, lo.dy_xmu + hi.dy_xmu}; }
  __device__ static State shfl_xor(const State& s, int lane_mask) {
    return {__shfl_xor_sync(kFullMask, s.dy, lane_mask), __shfl_xor_sync(kFullMask, s.dy_xmu, lane_mask)};
  }
};

template <typename Red>
__device__ float channel_constant(const Red& red, const typename Red::Element* a, uint64_t c,
                                  uint64_t channel_offset) {
  if constexpr (Red::kTwoInputs) {
    return red.channel_constant_of(c);
  } else {
    return Red::channel_constant(a, channel_offset);
  }
}

// The calling thread's lane in its warp; blocks may be 2-D (the column kernels'), whose warps are 32 consecutive
// threads in x-major order.
__device__ int lane_index() { return static_cast<int>((threadIdx.y * blockDim.x + threadIdx.x) % 32); }

// Lane l merges with lane l ^ m, the lower lane's state first, so every lane ends with the same bits.
template <typename Red>
__device__ typename Red::State warp_reduce(typename Red::State s) {
  const int lane = lane_index();
  for (int m = 16; m >= 1; m /= 2) {
    const typename Red::State other = Red::shfl_xor(s, m);
    s = (lane & m) ? Red::merge(other, s) : Red::merge(s, other);
  }
  return s;
}

// Whole-block reduction for 1-D blocks (a multiple of 32 threads); the result is valid in thread 0.
template <typename Red>
__device__ typename Red::State block_reduce(typename Red::State s, typename Red::State* shared) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  s = warp_reduce<Red>(s);
  if (lane == 0) shared[warp] = s;
  __syncthreads();
  if (warp == 0) {
    s = lane < warps ? shared[lane] : typename Red::State{};
    s = warp_reduce<Red>(s);
  }
  return s;
}

// A unit is kWidth adjacent elements loaded as one: one element; four (a float4, or four 16-bit values as one 8-byte
// ushort4); or, for 16-bit values only, eight (16 bytes as one uint4: the column kernels' units when C % 8 == 0).
// Values are float in registers whatever the element type T.
template <typename Index, int kW, typename T>
struct UnitsOf {
  static constexpr int kWidth = kW;
  static_assert(kW == 1 || kW == 4 || (kW == 8 && sizeof(T) == 2), "units are 1, 4 or (16-bit) 8 elements");
  __device__ static void load(const T* p, Index unit, float* out) {
    if constexpr (kW == 1) {
      out[0] = static_cast<float>(p[unit]);
    } else if constexpr (std::is_same_v<T, float>) {
      const float4 v = reinterpret_cast<const float4*>(p)[unit];
      out[0] = v.x;
      out[1] = v.y;
      out[2] = v.z;
      out[3] = v.w;
    } else if constexpr (kW == 4) {
      const ushort4 v = reinterpret_cast<const ushort4*>(p)[unit];
      out[0] = static_cast<float>(T::from_bits(v.x));
      out[1] = static_cast<float>(T::from_bits(v.y));
      out[2] = static_cast<float>(T::from_bits(v.z));
      out[3] = static_cast<float>(T::from_bits(v.w));
    } else {
      // Little-endian: of each 32-bit word, the low half is the element at the lower address.
      const uint4 v = reinterpret_cast<const uint4*>(p)[unit];
      const unsigned words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        out[2 * i] = static_cast<float>(T::from_bits(static_cast<unsigned short>(words[i] & 0xffffu)));
        out[2 * i + 1] = static_cast<float>(T::from_bits(static_cast<unsigned short>(words[i] >> 16)));
      }
    }
  }
};

template <typename Index, bool Vec4, typename T = float>
using Units = UnitsOf<Index, Vec4 ? 4 : 1, T>;

// The bytes of a unit of four elements, the alignment Vec4 units need.
template <typename T>
constexpr uintptr_t kUnitBytes = 4 * sizeof(T);

// Outputs are stored evict-first (st.global.cs): nothing reads them in this op, and the inputs that the second
// pass of a training step re-reads should keep their place in L2. 16-bit values are rounded to nearest even.
template <typename T>
__device__ inline void store_streaming(T* p, float v) {
  if constexpr (std::is_same_v<T, float>) __stcs(p, v);
  else __stcs(reinterpret_cast<unsigned short*>(p), T(v).bits);
}

// The backward of a fused forward, on `width` values of dy of elements first, first + 1, ...: dy passes where the
// forward's output is > 0 (`masked`: the values passed already, as the reduction keeps them on chip), and the passed
// values go to grad_residual. Element by element: neither tensor need share the operands' alignment. A no-op for
// passes without relu_output.
template <typename F, typename Index>
__device__ void pass_relu(const F& f, Index first, float* dy, int width, bool masked = false) {
  if constexpr (F::kMasksGradient) {
    if (f.relu_output == nullptr) return;
    for (int i = 0; i < width; ++i) {
      if (!masked) dy[i] = relu_gradient(dy[i], static_cast<float>(f.relu_output[first + i]));
      if (f.grad_residual != nullptr) store_streaming(f.grad_residual + first + i, dy[i]);
    }
  }
}

// Layout S > 1. Units are floats or float4s; a channel's units are (n, s) with n < N, s < run, at
// n * row_stride + c * run + s.
template <typename Index>
struct ChannelLayout {
  Index run;         // S in units
  Index row_stride;  // C * S in units
  Index units;       // N * S in units (one channel)
  Divider<Index> run_divider;
  Index splits;
  Index pivot_stride;  // S in floats: the channel's first float is at c * pivot_stride
};

// Unit `unit` of channel c, in units from the start of the tensor.
template <typename Index>
__device__ Index channel_unit_offset(const ChannelLayout<Index>& layout, Index c, Index unit) {
  Index n, s;
  layout.run_divider.divmod(unit, n, s);
  return n * layout.row_stride + c * layout.run + s;
}

// One float, or four as one 16-byte access, at p in shared memory (the cooperative steps' caches).
template <int kN>
__device__ void put_floats(float* p, const float* v) {
  static_assert(kN == 1 || kN == 4, "one float or four");
  if constexpr (kN == 4) *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
  else *p = v[0];
}
template <int kN>
__device__ void get_floats(const float* p, float* v) {
  static_assert(kN == 1 || kN == 4, "one float or four");
  if constexpr (kN == 4) {
    const float4 q = *reinterpret_cast<const float4*>(p);
    v[0] = q.x;
    v[1] = q.y;
    v[2] = q.z;
    v[3] = q.w;
  } else {
    v[0] = *p;
  }
}

// The part of a block's range that the cooperative step keeps on chip between its reduction and its elementwise
// pass, in chunks of kUnroll units per thread: the first kRegisterChunks in registers (32 floats per thread in all),
// the next shared_chunks in dynamic shared memory, where each thread's units sit at slots of their own (it reads
// back only what it wrote: no barrier) and consecutive threads' units are adjacent (no bank conflicts).
template <bool kTwoInputs, typename Index, bool Vec4>
struct ChunkCache {
  using U = Units<Index, Vec4>;
  static constexpr int kValues = kUnroll * U::kWidth;
  static constexpr int kRegisterChunks = 32 / (kValues * (kTwoInputs ? 2 : 1));
  float a[kRegisterChunks][kValues];
  float b[kRegisterChunks][kValues];  // unused with one input
  float* shared;        // shared_chunks chunks of a, then as many of b
  Index shared_chunks;  // chunks the shared memory holds
  Index register_end = 0, cached_end = 0;  // the range's units [lo, register_end) are in registers, then shared

  __device__ float* slot(int input, Index chunk, int j) const {
    const Index units = (static_cast<Index>(input) * shared_chunks + chunk) * kUnroll + j;
    return shared + (units * blockDim.x + threadIdx.x) * U::kWidth;
  }
  __device__ void store_shared(Index chunk, const float* va, const float* vb) const {
    for (int j = 0; j < kUnroll; ++j) {
      put_floats<U::kWidth>(slot(0, chunk, j), va + j * U::kWidth);
      if constexpr (kTwoInputs) put_floats<U::kWidth>(slot(1, chunk, j), vb + j * U::kWidth);
    }
  }
  __device__ void load_shared(Index chunk, float* va, float* vb) const {
    for (int j = 0; j < kUnroll; ++j) {
      get_floats<U::kWidth>(slot(0, chunk, j), va + j * U::kWidth);
      if constexpr (kTwoInputs) get_floats<U::kWidth>(slot(1, chunk, j), vb + j * U::kWidth);
    }
  }
};
struct NoCache {
  static constexpr int kRegisterChunks = 0;
};

// Block-wide reduction of channel c's units [lo, hi); the result is valid in thread 0. With a ChunkCache, the first
// whole chunks of the range stay in it (see ChunkCache).
template <typename Red, typename Index, bool Vec4, typename Cache = NoCache>
__device__ typename Red::State reduce_channel_range(const Red& red, const typename Red::Element* a,
                                                    const typename Red::Element* b,
                                                    const ChannelLayout<Index>& layout, Index c, Index lo, Index hi,
                                                    typename Red::State* shared, Cache* cache = nullptr) {
  using State = typename Red::State;
  using U = Units<Index, Vec4, typename Red::Element>;
  constexpr int kValues = kUnroll * U::kWidth;
  const float k = channel_constant(red, a, c, static_cast<uint64_t>(c) * layout.pivot_stride);
  State state{};
  Index start = lo;
  const Index chunk = kUnroll * blockDim.x;
  if constexpr (Cache::kRegisterChunks > 0) {
    // Fully unrolled, so that the cache is indexed by constants and stays in registers.
#pragma unroll
    for (int i = 0; i < Cache::kRegisterChunks; ++i) {
      if (start + chunk <= hi) {
#pragma unroll
        for (int j = 0; j < kUnroll; ++j) {
          const Index off = channel_unit_offset(layout, c, start + j * blockDim.x + threadIdx.x);
          U::load(a, off, cache->a[i] + j * U::kWidth);
          red.mask(off * U::kWidth, cache->a[i] + j * U::kWidth, U::kWidth);
          if constexpr (Red::kTwoInputs) U::load(b, off, cache->b[i] + j * U::kWidth);
        }
        Red::add_group(state, cache->a[i], cache->b[i], k);
        start += chunk;
      }
    }
    cache->register_end = start;
    for (Index i = 0; i < cache->shared_chunks && start + chunk <= hi; ++i, start += chunk) {
      float va[kValues], vb[kValues] = {};
#pragma unroll
      for (int j = 0; j < kUnroll; ++j) {
        const Index off = channel_unit_offset(layout, c, start + j * blockDim.x + threadIdx.x);
        U::load(a, off, va + j * U::kWidth);
        red.mask(off * U::kWidth, va + j * U::kWidth, U::kWidth);
        if constexpr (Red::kTwoInputs) U::load(b, off, vb + j * U::kWidth);
      }
      Red::add_group(state, va, vb, k);
      cache->store_shared(i, va, vb);
    }
    cache->cached_end = start;
  }
  for (; start + chunk <= hi; start += chunk) {
    float va[kValues], vb[kValues] = {};
    for (int j = 0; j < kUnroll; ++j) {
      const Index off = channel_unit_offset(layout, c, start + j * blockDim.x + threadIdx.x);
      U::load(a, off, va + j * U::kWidth);
      red.mask(off * U::kWidth, va + j * U::kWidth, U::kWidth);
      if constexpr (Red::kTwoInputs) U::load(b, off, vb + j * U::kWidth);
    }
    Red::add_group(state, va, vb, k);
  }
  for (Index unit = start + threadIdx.x; unit < hi; unit += blockDim.x) {
    float va[U::kWidth], vb[U::kWidth] = {};
    const Index off = channel_unit_offset(layout, c, unit);
    U::load(a, off, va);
    red.mask(off * U::kWidth, va, U::kWidth);
    if constexpr (Red::kTwoInputs) U::load(b, off, vb);
    for (int i = 0; i < U::kWidth; ++i) Red::add_one(state, va[i], Red::kTwoInputs ? vb[i] : 0.0f, k);
  }
  return block_reduce<Red>(state, shared);
}

template <typename Red, typename Index, bool Vec4>
__global__ void __launch_bounds__(kReduceThreads)
    channel_reduce_kernel(Red red, const typename Red::Element* a, const typename Red::Element* b,
                          typename Red::State* partial, ChannelLayout<Index> layout) {
  NORMRT_DYNAMIC_SHARED(typename Red::State, shared);
  const Index c = blockIdx.x, split = blockIdx.y;
  const Index lo = static_cast<Index>(static_cast<uint64_t>(layout.units) * split / layout.splits);
  const Index hi = static_cast<Index>(static_cast<uint64_t>(layout.units) * (split + 1) / layout.splits);
  const typename Red::State state = reduce_channel_range<Red, Index, Vec4>(red, a, b, layout, c, lo, hi, shared);
  if (threadIdx.x != 0) return;
  if (red.finish_here) red.finish(c, state, red.step());
  else partial[static_cast<uint64_t>(c) * layout.splits + split] = state;
}

// Layout S == 1: (rows, columns) = (N, C), which is also channels-last input's (N * spatial, C). threadIdx.x picks a
// group of kW adjacent columns loaded as one unit (see UnitsOf and column_width), threadIdx.y walks rows; blockDim.x is
// a power of two up to 32 (column_reduction_block). The block merges its rows in a fixed order (merge_column_rows),
// the same as column_step_kernel's, so that a column's state has the same bits in both.

// Shared memory of merge_column_rows: a state per column of the block per warp.
template <typename State>
__host__ __device__ constexpr std::size_t column_tree_bytes(unsigned block_x, int unit_width) {
  return (static_cast<std::size_t>(unit_width) * (kColumnThreads / 32) * block_x * sizeof(State) + 15) / 16 * 16;
}

// A block's column states merged over its rows: the lanes of a warp that share threadIdx.x by the xor tree (lower
// lane first), then the warps' states in order through `tree` (column_tree_bytes). Thread t < blockDim.x * kW gets
// the state of column merged_column(t), the others an empty one. Every thread of the block calls it.
template <typename Red, int kW>
__device__ typename Red::State merge_column_rows(const typename Red::State (&state)[kW], typename Red::State* tree) {
  using State = typename Red::State;
  const unsigned tid = threadIdx.y * blockDim.x + threadIdx.x, warps = blockDim.x * blockDim.y / 32;
  const int lane = lane_index();
#pragma unroll
  for (int w = 0; w < kW; ++w) {
    State s = state[w];
    for (unsigned m = blockDim.x; m < 32; m *= 2) {
      const State other = Red::shfl_xor(s, static_cast<int>(m));
      s = (lane & m) ? Red::merge(other, s) : Red::merge(s, other);
    }
    if (static_cast<unsigned>(lane) < blockDim.x) tree[(w * warps + tid / 32) * blockDim.x + threadIdx.x] = s;
  }
  __syncthreads();
  State s{};
  if (tid < blockDim.x * kW) {
    const unsigned w = tid / blockDim.x, x = tid % blockDim.x;
    s = tree[w * warps * blockDim.x + x];
    for (unsigned k = 1; k < warps; ++k) s = Red::merge(s, tree[(w * warps + k) * blockDim.x + x]);
  }
  return s;
}

// The column whose merged state thread tid < blockDim.x * kW holds.
template <typename Index, int kW>
__device__ Index merged_column(unsigned tid) {
  return (static_cast<Index>(blockIdx.x) * blockDim.x + tid % blockDim.x) * kW + tid / blockDim.x;
}

// Rows a column thread loads before using them (a group): fewer for units of several columns, whose values take kW
// times the registers.
__host__ __device__ constexpr int column_group_rows(int unit_width) { return unit_width > 1 ? 2 : kUnroll; }

// A group of kRows rows of a thread's kW columns (va/vb: row-major, kW values per row) into its column states: the
// arithmetic both column kernels share, so that a column's state has the same bits in both.
template <typename Red, int kW, int kRows>
__device__ void add_column_group(typename Red::State (&state)[kW], const float* va, const float* vb,
                                 const float (&k)[kW]) {
#pragma unroll
  for (int w = 0; w < kW; ++w) {
    float column_a[kRows], column_b[kRows];
#pragma unroll
    for (int j = 0; j < kRows; ++j) {
      column_a[j] = va[j * kW + w];
      column_b[j] = vb[j * kW + w];
    }
    Red::add_group(state[w], column_a, column_b, k[w]);
  }
}

// Units of several columns take kW times the registers. Units of eight ask ptxas for one block per SM, which lets it
// use what they need (64-77 registers on sm_90, 3 blocks); its default spilled 8 bytes at 64 registers on sm_80 and
// sm_100 with 64-bit indices. The others keep its default (0: no minimum in the PTX).
constexpr int column_min_blocks(int unit_width) { return unit_width == 8 ? 1 : 0; }
template <typename Red, typename Index, int kUnitWidth>
__global__ void __launch_bounds__(kColumnThreads, column_min_blocks(kUnitWidth))
    column_reduce_kernel(Red red, const typename Red::Element* a, const typename Red::Element* b,
                         typename Red::State* partial, Index rows, Index columns, Index splits) {
  using State = typename Red::State;
  using U = UnitsOf<Index, kUnitWidth, typename Red::Element>;
  constexpr int kW = U::kWidth, kRows = column_group_rows(kW);
  NORMRT_DYNAMIC_SHARED(State, shared);
  const Index group = blockIdx.x * blockDim.x + threadIdx.x, split = blockIdx.y;
  const Index first_column = group * kW, units_per_row = columns / kW;
  const Index lo = static_cast<Index>(static_cast<uint64_t>(rows) * split / splits);
  const Index hi = static_cast<Index>(static_cast<uint64_t>(rows) * (split + 1) / splits);
  const bool active = first_column < columns;
  State state[kW] = {};
  if (active) {
    float k[kW];
#pragma unroll
    for (int w = 0; w < kW; ++w) k[w] = channel_constant(red, a, first_column + w, first_column + w);
    const Index step = blockDim.y;
    Index r = lo + threadIdx.y;
    for (; r + (kRows - 1) * step < hi; r += kRows * step) {
      float va[kRows * kW], vb[kRows * kW] = {};
#pragma unroll
      for (int j = 0; j < kRows; ++j) {
        const Index unit = (r + j * step) * units_per_row + group;
        U::load(a, unit, va + j * kW);
        red.mask(unit * kW, va + j * kW, kW);
        if constexpr (Red::kTwoInputs) U::load(b, unit, vb + j * kW);
      }
      add_column_group<Red, kW, kRows>(state, va, vb, k);
    }
    for (; r < hi; r += step) {
      float va[kW], vb[kW] = {};
      const Index unit = r * units_per_row + group;
      U::load(a, unit, va);
      red.mask(unit * kW, va, kW);
      if constexpr (Red::kTwoInputs) U::load(b, unit, vb);
#pragma unroll
      for (int w = 0; w < kW; ++w) Red::add_one(state[w], va[w], vb[w], k[w]);
    }
  }
  const State merged = merge_column_rows<Red, kW>(state, shared);
  const unsigned tid = threadIdx.y * blockDim.x + threadIdx.x;
  if (tid >= blockDim.x * kW) return;
  const Index c = merged_column<Index, kW>(tid);
  if (c >= columns) return;
  if (red.finish_here) red.finish(c, merged, red.step());
  else partial[static_cast<uint64_t>(c) * splits + split] = merged;
}

// ---------------------------------------------------------------------------------------------------------------
// Finalize kernels (when the reduction split channels over several blocks): a warp per channel; lane l merges the
// partial states l, l + 32, ... in order, then the lanes merge by the xor tree of warp_reduce, so the order is fixed
// and a channel's splits cost splits / 32 steps instead of splits.

template <typename Red>
__device__ typename Red::State merge_partials(const typename Red::State* partial, uint64_t c, uint64_t splits) {
  typename Red::State s{};
  for (uint64_t k = lane_index(); k < splits; k += 32) s = Red::merge(s, partial[c * splits + k]);
  return warp_reduce<Red>(s);
}

// The channels of the calling warp: c = first_warp_channel(), c + warps, ... Whole warps iterate together, so the
// shuffles of the merge see every lane.
__device__ uint64_t first_warp_channel() { return (static_cast<uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32; }
__device__ uint64_t total_warps() { return static_cast<uint64_t>(gridDim.x) * (blockDim.x / 32); }

// An empty batch (no normalise pass follows) counts itself here: count_batch_here, launched as one block. (A minimum
// of one block per SM in the launch bounds: without it, ptxas for sm_120 spilled 16 bytes once the channel's mean
// was split into save_mean and its low part.)
template <typename T>
__global__ void __launch_bounds__(kFinalizeThreads, 1)
    finalize_forward_kernel(ForwardTrainingParamsOf<T> p, const Welford<float>* partial, uint64_t splits,
                            Coefficients coefficients, bool count_batch_here) {
  const uint64_t channels = static_cast<uint64_t>(p.geometry.C);
  if (count_batch_here) {
    if (threadIdx.x == 0 && p.num_batches_tracked != nullptr) *p.num_batches_tracked += 1;
    for (uint64_t c = threadIdx.x; c < channels; c += blockDim.x) {
      p.save_mean[c] = 0.0f;
      if (p.save_mean_low != nullptr) p.save_mean_low[c] = 0.0f;
      p.save_invstd[c] = 0.0f;
    }
    return;
  }
  const float factor = step_factor(p);
  for (uint64_t c = first_warp_channel(); c < channels; c += total_warps()) {
    const Welford<float> s = merge_partials<StatsReduction<T>>(partial, c, splits);
    if (threadIdx.x % 32 == 0) finish_forward_channel(p, c, s, factor, coefficients);
  }
}

template <typename T>
__global__ void __launch_bounds__(kFinalizeThreads)
    finalize_backward_kernel(BackwardParamsOf<T> p, const GradSums* partial, uint64_t splits,
                             Coefficients coefficients) {
  const uint64_t channels = static_cast<uint64_t>(p.geometry.C);
  for (uint64_t c = first_warp_channel(); c < channels; c += total_warps()) {
    const GradSums s = partial != nullptr ? merge_partials<GradReduction<T>>(partial, c, splits) : GradSums{};
    if (threadIdx.x % 32 == 0) finish_backward_channel(p, c, s, coefficients);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// SyncBatchNorm's stages (src/sync_batchnorm.cpp): a training step cut where the ranks exchange per-channel values.
// The reductions, the finishing arithmetic and the elementwise passes are the ones above; what is new is what the
// ranks exchange and the merge of several ranks' states.
//
// A channel's local statistics travel shifted, as the reductions accumulate them, with their shift (the channel's
// first local element): the merge re-shifts every rank's state to the first non-empty rank's pivot (a difference of
// two nearby floats, exact when they are within a factor of two), so data far from zero lose nothing to their
// absolute means. Ranks merge in a fixed tree (lane r of a warp takes ranks r, r + 32, ...): every rank computes the
// same bits, and one rank gives the single-process finalize's bits.
struct SyncState {
  Welford<float> shifted;
  float pivot;
};
static_assert(sizeof(SyncState) == kSyncStateFloats * sizeof(float), "SyncState is what sync_local_statistics writes");

// (A minimum of one block per SM in the launch bounds of the two kernels below: without it, ptxas for sm_100 held
// them to 32-40 registers and spilled.)
template <typename T>
__global__ void __launch_bounds__(kFinalizeThreads, 1)
    export_statistics_kernel(ForwardTrainingParamsOf<T> p, const Welford<float>* partial, uint64_t splits,
                             SyncState* states) {
  const uint64_t channels = static_cast<uint64_t>(p.geometry.C);
  for (uint64_t c = first_warp_channel(); c < channels; c += total_warps()) {
    const Welford<float> s =
        partial != nullptr ? merge_partials<StatsReduction<T>>(partial, c, splits) : Welford<float>{};
    if (threadIdx.x % 32 == 0)
      states[c] = {s, partial != nullptr ? static_cast<float>(p.x[c * static_cast<uint64_t>(p.geometry.S)]) : 0.0f};
  }
}

template <typename T>
__global__ void __launch_bounds__(kFinalizeThreads, 1)
    merge_ranks_forward_kernel(ForwardTrainingParamsOf<T> p, const SyncState* gathered, uint64_t ranks,
                               Coefficients coefficients) {
  const uint64_t channels = static_cast<uint64_t>(p.geometry.C);
  const float factor = step_factor(p);
  for (uint64_t c = first_warp_channel(); c < channels; c += total_warps()) {
    float origin = 0.0f;
    for (uint64_t r = 0; r < ranks; ++r) {
      if (gathered[r * channels + c].shifted.count > 0.0f) {
        origin = gathered[r * channels + c].pivot;
        break;
      }
    }
    Welford<float> s{};
    for (uint64_t r = threadIdx.x % 32; r < ranks; r += 32) {
      Welford<float> rank_state = gathered[r * channels + c].shifted;
      rank_state.mean += gathered[r * channels + c].pivot - origin;
      s = welford_merge(s, rank_state);
    }
    s = warp_reduce<StatsReduction<T>>(s);
    if (threadIdx.x % 32 != 0) continue;
    if (s.count > 0.0f) {
      finish_forward_values(p, c, origin, s.mean, s.m2, s.count, factor, coefficients, true);
    } else {  // every rank's share is empty: statistics of nothing, as an empty batch's
      p.save_mean[c] = 0.0f;
      if (p.save_mean_low != nullptr) p.save_mean_low[c] = 0.0f;
      p.save_invstd[c] = 0.0f;
    }
  }
}

// A step that ends without a normalise pass (an empty local share) counts the batch here.
__global__ void count_batch_kernel(int64_t* num_batches_tracked) { *num_batches_tracked += 1; }

// sums = [sum dy (C), sum dy * (x - mean) (C), count]; dweight and dbias from the local sums, as PyTorch's
// SyncBatchNorm (DistributedDataParallel averages them with the other gradients).
template <typename T>
__global__ void __launch_bounds__(kFinalizeThreads)
    export_gradient_sums_kernel(BackwardParamsOf<T> p, const GradSums* partial, uint64_t splits, float* sums) {
  const uint64_t channels = static_cast<uint64_t>(p.geometry.C);
  if (blockIdx.x == 0 && threadIdx.x == 0) sums[2 * channels] = static_cast<float>(p.geometry.per_channel());
  for (uint64_t c = first_warp_channel(); c < channels; c += total_warps()) {
    const GradSums s = partial != nullptr ? merge_partials<GradReduction<T>>(partial, c, splits) : GradSums{};
    if (threadIdx.x % 32 != 0) continue;
    // Every rank's sums centred on mean + mean_low (the same on every rank) before they are added up.
    const float dy_xmu = compensated_dy_xmu(s.dy, s.dy_xmu, saved_mean_low(p, c));
    sums[c] = s.dy;
    sums[channels + c] = dy_xmu;
    if (p.dweight != nullptr) p.dweight[c] = dy_xmu * p.invstd[c];
    if (p.dbias != nullptr) p.dbias[c] = s.dy;
  }
}

// The input-gradient coefficients from the group's sums and count.
template <typename T>
__global__ void __launch_bounds__(kFinalizeThreads)
    coefficients_from_sums_kernel(BackwardParamsOf<T> p, const float* sums, Coefficients coefficients) {
  const uint64_t channels = static_cast<uint64_t>(p.geometry.C);
  const float count = sums[2 * channels];
  for (uint64_t c = static_cast<uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < channels;
       c += static_cast<uint64_t>(gridDim.x) * blockDim.x) {
    const BackwardCoefficients<float> k = compensated_coefficients(
        sums[c], sums[channels + c], p.invstd[c], p.weight ? p.weight[c] : 1.0f, count, saved_mean_low(p, c));
    coefficients.a[c] = k.grad_mean;
    coefficients.b[c] = k.projection;
    coefficients.c[c] = k.scale;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The other elementwise passes.
template <typename T>
struct InputGradInferenceOp {
  using Element = T;
  static constexpr bool kSavesStatistics = false;
  const float* scale;
  const T* relu_output;
  T* grad_residual;
  struct At {
    static constexpr bool kHasEpilogue = false;
    static constexpr bool kMasksGradient = true;
    float scale;
    const T* relu_output;
    T* grad_residual;
    __device__ float operator()(float dy, float) const { return dy * scale; }
  };
  __device__ At at(uint64_t c) const { return {scale[c], relu_output, grad_residual}; }
};

// The eval forward in one launch: each channel's coefficients come from the running statistics where the elements
// need them (the expressions of the two-launch design it replaced, so the same bits), and the kernel's threads also
// write save_mean/save_invstd (save_statistics).
template <typename T>
struct InferenceNormalizeOp {
  using Element = T;
  static constexpr bool kSavesStatistics = true;
  ForwardInferenceParamsOf<T> p;
  using At = typename NormalizeOp<T>::At;
  __device__ At at(uint64_t c) const {
    const float invstd = invstd_from_running_var(p.running_var[c], static_cast<float>(p.eps));
    return {p.running_mean[c], invstd * (p.weight ? p.weight[c] : 1.0f), p.bias ? p.bias[c] : 0.0f, p.residual,
            p.relu};
  }
  __device__ void save_statistics(uint64_t first, uint64_t stride) const {
    for (uint64_t c = first; c < static_cast<uint64_t>(p.geometry.C); c += stride) {
      p.save_mean[c] = p.running_mean[c];
      p.save_invstd[c] = invstd_from_running_var(p.running_var[c], static_cast<float>(p.eps));
    }
  }
};

// save_mean and save_invstd of an inference forward computed elsewhere (cuDNN).
template <typename T>
__global__ void __launch_bounds__(kFinalizeThreads) save_inference_statistics_kernel(InferenceNormalizeOp<T> op) {
  op.save_statistics(static_cast<uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x,
                     static_cast<uint64_t>(gridDim.x) * blockDim.x);
}

// Training passes (S > 1) run on the reduction's own partition, mirrored: block b takes the range that reduction
// block (blocks - 1 - b) read and walks it top-down. The reduction's blocks walk their ranges bottom-up and the
// last ones run last, so the data it read last, still in L2 when the tensor is larger than L2, are read first:
// fewer DRAM bytes than the flat pass's 4 + 4 (+ 4 + 4) per element. The channel is fixed per block.
// Stores a unit of kW elements of the elementwise pass (see UnitsOf).
template <int kW, typename Index, typename T>
__device__ void store_unit(T* out, Index off, const float* values) {
  if constexpr (kW == 1) {
    store_streaming(out + off, values[0]);
  } else if constexpr (std::is_same_v<T, float>) {
    __stcs(reinterpret_cast<float4*>(out) + off, make_float4(values[0], values[1], values[2], values[3]));
  } else if constexpr (kW == 4) {
    __stcs(reinterpret_cast<ushort4*>(out) + off,
           make_ushort4(T(values[0]).bits, T(values[1]).bits, T(values[2]).bits, T(values[3]).bits));
  } else {
    unsigned words[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      words[i] = T(values[2 * i]).bits | static_cast<unsigned>(T(values[2 * i + 1]).bits) << 16;
    }
    __stcs(reinterpret_cast<uint4*>(out) + off, make_uint4(words[0], words[1], words[2], words[3]));
  }
}

// The elementwise pass over channel c's units [lo, hi), walked top-down; f is the channel's Op::At.
template <bool kTwoInputs, typename Index, bool Vec4, typename F, typename T>
__device__ void elementwise_channel_range(const F& f, const T* a, const T* b, T* out,
                                          const ChannelLayout<Index>& layout, Index c, Index lo, Index hi) {
  using U = Units<Index, Vec4, T>;
  constexpr int kValues = kUnroll * U::kWidth;
  const Index chunk = kUnroll * blockDim.x;
  Index end = hi;
  for (; end - lo >= chunk; end -= chunk) {
    // Fully unrolled, so that off[] and the values stay in registers.
    Index off[kUnroll];
    float va[kValues], vb[kValues] = {};
#pragma unroll
    for (int j = 0; j < kUnroll; ++j) {
      off[j] = channel_unit_offset(layout, c, end - chunk + j * blockDim.x + threadIdx.x);
      U::load(a, off[j], va + j * U::kWidth);
      pass_relu(f, off[j] * U::kWidth, va + j * U::kWidth, U::kWidth);
      if constexpr (kTwoInputs) U::load(b, off[j], vb + j * U::kWidth);
    }
#pragma unroll
    for (int i = 0; i < kValues; ++i) va[i] = f(va[i], vb[i]);
#pragma unroll
    for (int j = 0; j < kUnroll; ++j) {
      epilogue_values(f, off[j] * U::kWidth, va + j * U::kWidth, U::kWidth);
      store_unit<U::kWidth>(out, off[j], va + j * U::kWidth);
    }
  }
  for (Index unit = lo + threadIdx.x; unit < end; unit += blockDim.x) {
    float va[U::kWidth], vb[U::kWidth] = {};
    const Index off = channel_unit_offset(layout, c, unit);
    U::load(a, off, va);
    pass_relu(f, off * U::kWidth, va, U::kWidth);
    if constexpr (kTwoInputs) U::load(b, off, vb);
    for (int i = 0; i < U::kWidth; ++i) va[i] = f(va[i], vb[i]);
    epilogue_values(f, off * U::kWidth, va, U::kWidth);
    store_unit<U::kWidth>(out, off, va);
  }
}

template <typename Op, bool kTwoInputs, typename Index, bool Vec4>
// At least 3 blocks per SM: a register cap of 85, which the 64-bit two-input instantiation needs (70) and sm_120's
// default heuristic (64) spilled.
__global__ void __launch_bounds__(kReduceThreads, 3)
    channel_elementwise_kernel(Op op, const typename Op::Element* a, const typename Op::Element* b,
                               typename Op::Element* out, ChannelLayout<Index> layout, int64_t* count_batch) {
  if (count_batch != nullptr && blockIdx.x == 0 && blockIdx.y == 0 && threadIdx.x == 0) *count_batch += 1;
  const uint64_t mirrored = static_cast<uint64_t>(gridDim.x) * gridDim.y - 1 -
                            (static_cast<uint64_t>(blockIdx.y) * gridDim.x + blockIdx.x);
  const Index c = static_cast<Index>(mirrored % gridDim.x), split = static_cast<Index>(mirrored / gridDim.x);
  const Index lo = static_cast<Index>(static_cast<uint64_t>(layout.units) * split / layout.splits);
  const Index hi = static_cast<Index>(static_cast<uint64_t>(layout.units) * (split + 1) / layout.splits);
  elementwise_channel_range<kTwoInputs, Index, Vec4>(op.at(c), a, b, out, layout, c, lo, hi);
}

// A whole training step in one launch when every channel is one block's (the plan has one split, S > 1): the block
// reduces its channel, finishes it (thread 0 writes the coefficients; the barrier publishes them to the block), and
// applies the elementwise pass to the same channel top-down, so the data it read last come from L2 first. No
// finalize or second launch; used for small tensors and for C large enough to fill the GPU alone. count_batch: the
// forward's num_batches_tracked, which no block reads unless the momentum is None (then this kernel is not used).
template <typename Red, typename Op, typename Index, bool Vec4>
__global__ void __launch_bounds__(kReduceThreads, 3)
    channel_fused_kernel(Red red, Op op, const typename Red::Element* a, const typename Red::Element* b,
                         typename Red::Element* out, ChannelLayout<Index> layout, int64_t* count_batch) {
  NORMRT_DYNAMIC_SHARED(typename Red::State, shared);
  const Index c = blockIdx.x;
  const typename Red::State state =
      reduce_channel_range<Red, Index, Vec4>(red, a, b, layout, c, Index{0}, layout.units, shared);
  if (threadIdx.x == 0) {
    red.finish(c, state, red.step());
    if (count_batch != nullptr && c == 0) *count_batch += 1;
  }
  __syncthreads();
  elementwise_channel_range<Red::kTwoInputs, Index, Vec4>(op.at(c), a, b, out, layout, c, Index{0}, layout.units);
}

// A training step with split channels as ONE cooperative launch (every block resident, grid = C x splits). Block
// (c, split) reduces its share of channel c, keeping the first chunks on chip (ChunkCache: registers, then
// shared_chunks chunks of dynamic shared memory), and publishes its partial state; after the grid barrier, warp 0
// of every block of channel c merges the channel's partial states in the same fixed order (so every block has the
// same bits), split 0 writes the channel's outputs, and each block applies the elementwise pass to its share: the
// streamed rest top-down (what it read last, from L2, first), then the chunks on chip. Reads of the batch count
// (momentum=None) happen before the barrier, its increment after; every block reads the channel's first input
// element (the shift) after it too, so outputs must not alias inputs (normrt's ops always allocate them). Dynamic
// shared memory: the block's states, the
// channel's Op::At, then the cached chunks (cooperative_shared_offset); no static shared memory, as the emulator
// requires of kernels that sync the grid.
template <typename State, typename At>
__host__ __device__ constexpr std::size_t cooperative_shared_offset() {
  return (32 * sizeof(State) + sizeof(At) + 15) / 16 * 16;
}

template <typename Red, typename Index, bool Vec4>
__global__ void __launch_bounds__(kReduceThreads, 2)
    channel_cooperative_kernel(Red red, const typename Red::Element* a, const typename Red::Element* b,
                               typename Red::Element* out, typename Red::State* partial, ChannelLayout<Index> layout,
                               int64_t* count_batch, Index shared_chunks) {
  using State = typename Red::State;
  using At = typename Red::At;
  using Cache = ChunkCache<Red::kTwoInputs, Index, Vec4>;
  using U = Units<Index, Vec4, typename Red::Element>;
  constexpr bool kTwoInputs = Red::kTwoInputs;
  NORMRT_DYNAMIC_SHARED(unsigned char, dynamic);
  State* shared = reinterpret_cast<State*>(dynamic);
  At* channel_at = reinterpret_cast<At*>(dynamic + 32 * sizeof(State));
  const Index c = blockIdx.x, split = blockIdx.y;
  const Index lo = static_cast<Index>(static_cast<uint64_t>(layout.units) * split / layout.splits);
  const Index hi = static_cast<Index>(static_cast<uint64_t>(layout.units) * (split + 1) / layout.splits);
  Cache cache;
  cache.shared = reinterpret_cast<float*>(dynamic + cooperative_shared_offset<State, At>());
  cache.shared_chunks = shared_chunks;
  const State state = reduce_channel_range<Red, Index, Vec4>(red, a, b, layout, c, lo, hi, shared, &cache);
  const float step = threadIdx.x == 0 && split == 0 ? red.step() : 0.0f;
  if (threadIdx.x == 0) partial[static_cast<uint64_t>(c) * layout.splits + split] = state;
  NORMRT_GRID_SYNC();
  if (threadIdx.x < 32) {
    const State merged = merge_partials<Red>(partial, c, layout.splits);
    if (threadIdx.x == 0) {
      *channel_at = red.finish(c, merged, step, split == 0);
      if (count_batch != nullptr && c == 0 && split == 0) *count_batch += 1;
    }
  }
  __syncthreads();
  const At f = *channel_at;
  elementwise_channel_range<kTwoInputs, Index, Vec4>(f, a, b, out, layout, c, cache.cached_end, hi);
  const Index chunk = kUnroll * blockDim.x;
  // Cached values of dy passed the ReLU already (the reduction masked them): only grad_residual is written.
  auto apply_and_store = [&](Index start, float* va, const float* vb) {
    Index off[kUnroll];
#pragma unroll
    for (int j = 0; j < kUnroll; ++j) {
      off[j] = channel_unit_offset(layout, c, start + j * blockDim.x + threadIdx.x);
      pass_relu(f, off[j] * U::kWidth, va + j * U::kWidth, U::kWidth, true);
    }
#pragma unroll
    for (int v = 0; v < Cache::kValues; ++v) va[v] = f(va[v], kTwoInputs ? vb[v] : 0.0f);
#pragma unroll
    for (int j = 0; j < kUnroll; ++j) {
      epilogue_values(f, off[j] * U::kWidth, va + j * U::kWidth, U::kWidth);
      store_unit<U::kWidth>(out, off[j], va + j * U::kWidth);
    }
  };
  for (Index start = cache.register_end, i = 0; start < cache.cached_end; start += chunk, ++i) {
    float va[Cache::kValues], vb[Cache::kValues];
    cache.load_shared(i, va, vb);
    apply_and_store(start, va, vb);
  }
#pragma unroll
  for (int i = 0; i < Cache::kRegisterChunks; ++i) {
    if (lo + (i + 1) * chunk <= cache.register_end) apply_and_store(lo + i * chunk, cache.a[i], cache.b[i]);
  }
}

// A training step in the column layout (S == 1) as ONE launch: grid = column blocks x row splits, blocks of
// kColumnThreads with threadIdx.x across column groups as column_reduce_kernel's. Each thread reduces its rows in
// groups of column_group_rows (the reduction's arithmetic), keeping its first groups on chip: up to
// column_register_groups in registers (32 floats per thread), then up to shared_groups in dynamic shared memory, at
// slots of its own (it reads back only what it wrote: no barrier); the block merges its rows in a fixed order
// (shuffles within warps, then warps in order). With one split (not kCooperative), the block then finishes its
// columns itself. kCooperative (every block resident): the block publishes one partial state per column; after a grid
// barrier, the warps of a column block's row splits finish its columns between them, one warp per column merging the
// column's partial states in a fixed order (merge_partials): every column is merged once, where each block merging
// all of its columns' states would read splits^2 states per column; a second barrier publishes the coefficients.
// Then every thread reads its columns' coefficients and applies the elementwise pass: the streamed rows first, last
// read first (still in L2), then the cached groups. Cooperative: reads of the batch count (momentum=None) happen
// before the first barrier, its increment after the second (the one-split launch is not used for momentum=None, as
// its blocks do not wait for each other); outputs must not alias inputs. Dynamic shared memory: the merge tree's
// states, then the cache; no static shared memory, as the emulator requires of kernels that sync the grid.
__host__ __device__ constexpr int column_register_groups(int unit_width, bool two_inputs) {
  return 32 / (column_group_rows(unit_width) * unit_width * (two_inputs ? 2 : 1));
}

template <typename Red, typename Op, typename Index, int kUnitWidth, bool kCooperative>
__global__ void __launch_bounds__(kColumnThreads, 2)
    column_step_kernel(Red red, Op op, const typename Red::Element* a, const typename Red::Element* b,
                       typename Red::Element* out, typename Red::State* partial, Index rows, Index columns,
                       Index splits, Index shared_groups, int64_t* count_batch) {
  using State = typename Red::State;
  using U = UnitsOf<Index, kUnitWidth, typename Red::Element>;
  constexpr int kW = kUnitWidth, kRows = column_group_rows(kW), kValues = kRows * kW;
  constexpr bool kTwoInputs = Red::kTwoInputs;
  constexpr int kRegisterGroups = column_register_groups(kW, kTwoInputs);
  // Shared slots hold pieces of four floats (one for single columns): a warp's accesses are consecutive 16 bytes.
  constexpr int kPiece = kW > 1 ? 4 : 1, kPieces = kW / kPiece;
  NORMRT_DYNAMIC_SHARED(unsigned char, dynamic);
  State* tree = reinterpret_cast<State*>(dynamic);
  float* cache = reinterpret_cast<float*>(dynamic + column_tree_bytes<State>(blockDim.x, kW));
  const Index threads = blockDim.x * blockDim.y, tid = threadIdx.y * blockDim.x + threadIdx.x;
  const Index group = blockIdx.x * blockDim.x + threadIdx.x, split = blockIdx.y;
  const Index first_column = group * kW, units_per_row = columns / kW;
  const Index lo = static_cast<Index>(static_cast<uint64_t>(rows) * split / splits);
  const Index hi = static_cast<Index>(static_cast<uint64_t>(rows) * (split + 1) / splits);
  const bool active = first_column < columns;
  // This thread's rows: first_row + i * step for i < count, in groups of kRows.
  const Index step = blockDim.y, first_row = lo + threadIdx.y;
  const Index count = first_row < hi ? (hi - first_row + step - 1) / step : 0;
  const Index full_groups = count / kRows;
  const Index register_groups = full_groups < kRegisterGroups ? full_groups : Index{kRegisterGroups};
  const Index cached_groups =
      register_groups + (full_groups - register_groups < shared_groups ? full_groups - register_groups : shared_groups);
  const auto unit_of = [&](Index i) { return (first_row + i * step) * units_per_row + group; };
  const auto slot = [&](int input, Index g, int j, int piece) {
    return cache +
           ((((input * shared_groups + (g - register_groups)) * kRows + j) * kPieces + piece) * threads + tid) * kPiece;
  };
  const auto load_row = [&](Index i, float* va, float* vb) {
    const Index unit = unit_of(i);
    U::load(a, unit, va);
    red.mask(unit * kW, va, kW);
    if constexpr (kTwoInputs) U::load(b, unit, vb);
  };
  float ra[kRegisterGroups][kValues] = {}, rb[kRegisterGroups][kValues] = {};
  State state[kW] = {};
  if (active) {
    float k[kW];
#pragma unroll
    for (int w = 0; w < kW; ++w) k[w] = channel_constant(red, a, first_column + w, first_column + w);
#pragma unroll
    for (int g = 0; g < kRegisterGroups; ++g) {
      if (g < register_groups) {
#pragma unroll
        for (int j = 0; j < kRows; ++j) load_row(g * kRows + j, ra[g] + j * kW, rb[g] + j * kW);
        add_column_group<Red, kW, kRows>(state, ra[g], rb[g], k);
      }
    }
    for (Index g = register_groups; g < full_groups; ++g) {
      float va[kValues], vb[kValues] = {};
#pragma unroll
      for (int j = 0; j < kRows; ++j) load_row(g * kRows + j, va + j * kW, vb + j * kW);
      add_column_group<Red, kW, kRows>(state, va, vb, k);
      if constexpr (kCooperative) {
        if (g < cached_groups) {
#pragma unroll
          for (int j = 0; j < kRows; ++j) {
#pragma unroll
            for (int piece = 0; piece < kPieces; ++piece) {
              put_floats<kPiece>(slot(0, g, j, piece), va + j * kW + piece * kPiece);
              if constexpr (kTwoInputs) put_floats<kPiece>(slot(1, g, j, piece), vb + j * kW + piece * kPiece);
            }
          }
        }
      }
    }
    for (Index i = full_groups * kRows; i < count; ++i) {
      float va[kW], vb[kW] = {};
      load_row(i, va, vb);
#pragma unroll
      for (int w = 0; w < kW; ++w) Red::add_one(state[w], va[w], vb[w], k[w]);
    }
  }
  const State merged = merge_column_rows<Red, kW>(state, tree);
  if (tid < blockDim.x * kW) {
    const Index c = merged_column<Index, kW>(tid);
    if (c < columns) {
      if constexpr (kCooperative) partial[static_cast<uint64_t>(c) * splits + split] = merged;
      else red.finish(c, merged, red.step());
    }
  }
  if constexpr (kCooperative) {
    const float factor = lane_index() == 0 ? red.step() : 0.0f;
    NORMRT_GRID_SYNC();
    const Index block_first = blockIdx.x * blockDim.x * kW;
    const Index block_columns = columns - block_first < blockDim.x * kW ? columns - block_first : blockDim.x * kW;
    const Index warps = threads / 32;
    for (Index j = split * warps + tid / 32; j < block_columns; j += splits * warps) {
      const State merged = merge_partials<Red>(partial, block_first + j, splits);
      if (lane_index() == 0) red.finish(block_first + j, merged, factor);
    }
    NORMRT_GRID_SYNC();
  } else {
    __syncthreads();  // publishes the coefficients written above to the block
  }
  if (count_batch != nullptr && blockIdx.x == 0 && split == 0 && tid == 0) *count_batch += 1;
  if (!active) return;
  typename Op::At f[kW];
#pragma unroll
  for (int w = 0; w < kW; ++w) f[w] = op.at(first_column + w);
  // masked: dy passed the ReLU in the reduction already (the cached values); only grad_residual is written.
  const auto apply_and_store = [&](Index i, float* va, const float* vb, bool masked) {
    const Index unit = unit_of(i);
#pragma unroll
    for (int w = 0; w < kW; ++w) {
      pass_relu(f[w], unit * kW + w, va + w, 1, masked);
      va[w] = f[w](va[w], vb[w]);
      epilogue_values(f[w], unit * kW + w, va + w, 1);
    }
    store_unit<kW>(out, unit, va);
  };
  for (Index i = count; i > cached_groups * kRows; --i) {
    float va[kW], vb[kW] = {};
    const Index unit = unit_of(i - 1);
    U::load(a, unit, va);
    if constexpr (kTwoInputs) U::load(b, unit, vb);
    apply_and_store(i - 1, va, vb, false);
  }
  if constexpr (kCooperative) {
    for (Index g = cached_groups; g > register_groups; --g) {
#pragma unroll
      for (int j = 0; j < kRows; ++j) {
        float va[kW], vb[kW] = {};
#pragma unroll
        for (int piece = 0; piece < kPieces; ++piece) {
          get_floats<kPiece>(slot(0, g - 1, j, piece), va + piece * kPiece);
          if constexpr (kTwoInputs) get_floats<kPiece>(slot(1, g - 1, j, piece), vb + piece * kPiece);
        }
        apply_and_store((g - 1) * kRows + j, va, vb, true);
      }
    }
  }
#pragma unroll
  for (int g = kRegisterGroups - 1; g >= 0; --g) {
    if (g < register_groups) {
#pragma unroll
      for (int j = 0; j < kRows; ++j) apply_and_store(g * kRows + j, ra[g] + j * kW, rb[g] + j * kW, true);
    }
  }
}

// A flat pass over all elements: `head` elements up to the first unit boundary (16 bytes for float, 8 for 16-bit
// elements), `vectors` units of four, then a tail of at most 3 elements. Units need every operand at the same offset
// from a unit boundary; otherwise the pass is all scalars (vectors = 0, head = 0).
template <typename Index>
struct ElementLayout {
  Index numel;
  Index head;
  Index vectors;
  Divider<Index> s_divider;  // S: element / S = n * C + c
  Divider<Index> c_divider;  // C
  __device__ Index channel(Index element) const {
    Index row, c, unused;
    s_divider.divmod(element, row, unused);
    c_divider.divmod(row, unused, c);
    return c;
  }
};

template <bool kTwoInputs, typename Op, typename Index, typename T>
__device__ void elementwise_scalar(const Op& op, const T* a, const T* b, T* out, const ElementLayout<Index>& layout,
                                   Index e) {
  const auto f = op.at(layout.channel(e));
  float v = static_cast<float>(a[e]);
  pass_relu(f, e, &v, 1);
  v = f(v, kTwoInputs ? static_cast<float>(b[e]) : 0.0f);
  epilogue_values(f, e, &v, 1);
  store_streaming(out + e, v);
}

// kVec4: units of four between the scalar head and tail. kUnitInOneChannel: S % 4 == 0 and no head, so a unit's
// four elements share one channel and its coefficients are looked up once.
template <typename Op, bool kTwoInputs, typename Index, bool kVec4, bool kUnitInOneChannel>
__global__ void __launch_bounds__(kElementwiseThreads)
    elementwise_kernel(Op op, const typename Op::Element* a, const typename Op::Element* b,
                       typename Op::Element* out, ElementLayout<Index> layout, int64_t* count_batch) {
  using T = typename Op::Element;
  using U = Units<Index, true, T>;
  const Index first = blockIdx.x * blockDim.x + threadIdx.x, stride = gridDim.x * blockDim.x;
  if (count_batch != nullptr && first == 0) *count_batch += 1;
  if constexpr (Op::kSavesStatistics) op.save_statistics(first, stride);
  if constexpr (!kVec4) {
    for (Index e = first; e < layout.numel; e += stride) elementwise_scalar<kTwoInputs>(op, a, b, out, layout, e);
  } else {
    const Index body_end = layout.head + 4 * layout.vectors;
    // With no head and S % 4 == 0 the element count is a multiple of 4: no tail either.
    if (!kUnitInOneChannel && first < layout.head + (layout.numel - body_end)) {
      const Index e = first < layout.head ? first : body_end + (first - layout.head);
      elementwise_scalar<kTwoInputs>(op, a, b, out, layout, e);
    }
    const T* a_body = a + layout.head;
    const T* b_body = kTwoInputs ? b + layout.head : nullptr;
    T* out_body = out + layout.head;
    for (Index unit = first; unit < layout.vectors; unit += stride) {
      const Index e = layout.head + 4 * unit;
      float va[4], vb[4] = {}, vo[4];
      U::load(a_body, unit, va);
      if constexpr (kTwoInputs) U::load(b_body, unit, vb);
      if constexpr (kUnitInOneChannel) {
        const auto f = op.at(layout.channel(e));
        pass_relu(f, e, va, 4);
        for (int i = 0; i < 4; ++i) vo[i] = f(va[i], vb[i]);
        epilogue_values(f, e, vo, 4);
      } else {
        for (int i = 0; i < 4; ++i) {
          const auto f = op.at(layout.channel(e + i));
          pass_relu(f, e + i, va + i, 1);
          vo[i] = f(va[i], vb[i]);
          epilogue_values(f, e + i, vo + i, 1);
        }
      }
      store_unit<4>(out_body, unit, vo);
    }
  }
}

// An elementwise pass in the column layout (S == 1: (N, C) input, channels-last input as (N * spatial, C)) with
// units of kW > 1 columns: thread x of the block takes column group blockIdx.x * blockDim.x + x, looks its kW
// channels' coefficients up once, and walks rows blockIdx.y * blockDim.y + y, y + gridDim.y * blockDim.y, ... The
// flat pass, whose units span channels here, looks up a channel and its coefficients per element (for the eval
// forward that means a square root and a division per element).
template <typename Op, bool kTwoInputs, typename Index, int kUnitWidth>
__global__ void __launch_bounds__(kColumnElementwiseThreads)
    column_elementwise_kernel(Op op, const typename Op::Element* a, const typename Op::Element* b,
                              typename Op::Element* out, Index rows, Index columns, int64_t* count_batch) {
  using U = UnitsOf<Index, kUnitWidth, typename Op::Element>;
  constexpr int kW = U::kWidth;
  const uint64_t block = static_cast<uint64_t>(blockIdx.y) * gridDim.x + blockIdx.x;
  const uint64_t threads = static_cast<uint64_t>(blockDim.x) * blockDim.y;
  const uint64_t first = block * threads + threadIdx.y * blockDim.x + threadIdx.x;
  if (count_batch != nullptr && first == 0) *count_batch += 1;
  if constexpr (Op::kSavesStatistics) op.save_statistics(first, threads * gridDim.x * gridDim.y);
  const Index group = blockIdx.x * blockDim.x + threadIdx.x, first_column = group * kW;
  if (first_column >= columns) return;
  typename Op::At f[kW];
#pragma unroll
  for (int w = 0; w < kW; ++w) f[w] = op.at(first_column + w);
  const Index units_per_row = columns / kW, step = gridDim.y * blockDim.y;
  for (Index r = blockIdx.y * blockDim.y + threadIdx.y; r < rows; r += step) {
    const Index unit = r * units_per_row + group, e = unit * kW;
    float va[kW], vb[kW] = {};
    U::load(a, unit, va);
    if constexpr (kTwoInputs) U::load(b, unit, vb);
#pragma unroll
    for (int w = 0; w < kW; ++w) {
      pass_relu(f[w], e + w, va + w, 1);
      va[w] = f[w](va[w], vb[w]);
      epilogue_values(f[w], e + w, va + w, 1);
    }
    store_unit<kW>(out, unit, va);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Host-side planning and launchers.

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Whether p (null: no operand) starts a unit of kW elements of T (see UnitsOf).
template <int kW = 4, typename T>
bool unit_aligned(const T* p) {
  return p == nullptr || reinterpret_cast<uintptr_t>(p) % (kW * sizeof(T)) == 0;
}

// The unit of the column kernels on operands a, b, out (null: none): 16 bytes (four floats or eight 16-bit values)
// where C and the operands' alignment allow, else four 16-bit values (8 bytes), else one element.
template <typename T>
int column_width(const Geometry& g, const T* a, const T* b, const T* out = nullptr) {
  if constexpr (sizeof(T) == 2) {
    if (g.C % 8 == 0 && unit_aligned<8>(a) && unit_aligned<8>(b) && unit_aligned<8>(out)) return 8;
  }
  if (g.C % 4 == 0 && unit_aligned<4>(a) && unit_aligned<4>(b) && unit_aligned<4>(out)) return 4;
  return 1;
}

// The unit width the reduction of (a, b) launches with: column_width in the column layout, else 1.
template <typename T>
int reduction_width(const Geometry& g, const T* a, const T* b = nullptr) {
  return g.S == 1 ? column_width(g, a, b) : 1;
}

bool use_index64(const Geometry& g, const LaunchTuning& t) {
  return t.force_index64 || g.numel() > (int64_t{1} << 31) - 16;
}

struct ReducePlan {
  bool columns = false;  // S == 1 layout
  int unit_width = 1;    // columns per thread's unit in the column layout (column_width)
  int64_t splits = 1;
  dim3 block;
  // The training elementwise pass runs on the reduction's partition (channel_elementwise_kernel) only when that
  // grid fills the GPU. A smaller grid means few elements (below 4 * SMs * min_split_elements, well inside L2), for
  // which the flat pass's full grid is worth more than the reuse order.
  bool elementwise_on_partition = false;
};

// A column kernel's block for `groups` column groups: up to 32 groups across, the rest of the threads down rows.
dim3 column_block(int64_t groups, unsigned threads) {
  unsigned bx = 1;
  while (bx < 32 && static_cast<int64_t>(bx) < groups) bx *= 2;
  return dim3(bx, threads / bx);
}

// The block of the column reduction and training steps for `groups` column groups of kW columns: at most 8 units
// across (128 bytes of a row) when units are wide, so that more rows share a warp (their merge is by shuffles) and
// the merge tree in shared memory is smaller (a training step's cache may use the rest).
dim3 column_reduction_block(int64_t groups, int kW) {
  const dim3 block = column_block(groups, kColumnThreads);
  return kW > 1 && block.x > 8 ? dim3(8, kColumnThreads / 8) : block;
}

// Channels are split over blocks only while C blocks fill less than half the target: beyond that the finalize
// launch and the partial states cost more than the last half wave gains. Column layout: the split count is planned
// for the unit width the reduction launches with (wider units, fewer blocks across: more splits down the rows). It
// had been planned for single columns, so units of eight halves ran 256x256x14x14 channels-last on 66 blocks of an
// H200's 132 SMs (1 block across times the 66 splits that 8 blocks across of single columns needed).
ReducePlan plan_reduction(const Geometry& g, const LaunchTuning& t, int unit_width = 1) {
  ReducePlan plan;
  if (g.numel() == 0) return plan;  // nothing launches (the passes return first); an empty plan would divide by C
  const int64_t target_blocks = 4 * static_cast<int64_t>(std::max(t.sm_count, 1));
  const int64_t min_split = std::max<int64_t>(t.min_split_elements, 1);
  if (g.S == 1) {
    plan.columns = true;
    plan.unit_width = unit_width;
    const int64_t groups = g.C / unit_width;
    plan.block = column_reduction_block(groups, unit_width);
    const unsigned bx = plan.block.x;
    const int64_t blocks_x = ceil_div(groups, bx);
    const int64_t max_splits = std::max<int64_t>(1, g.N * static_cast<int64_t>(bx) * unit_width / min_split);
    const int64_t column_target = std::max(t.column_blocks_per_sm, 1) * static_cast<int64_t>(std::max(t.sm_count, 1));
    plan.splits = 2 * blocks_x >= column_target
                      ? 1
                      : std::clamp<int64_t>(ceil_div(column_target, blocks_x), 1, std::min<int64_t>(max_splits, 65535));
  } else {
    plan.block = dim3(kReduceThreads);
    const int64_t max_splits = std::max<int64_t>(1, g.per_channel() / min_split);
    plan.splits = 2 * g.C >= target_blocks
                      ? 1
                      : std::clamp<int64_t>(ceil_div(target_blocks, g.C), 1, std::min<int64_t>(max_splits, 65535));
    plan.elementwise_on_partition = t.l2_reuse_order && g.C * plan.splits >= target_blocks;
  }
  return plan;
}

template <typename Index, bool Vec4>
ChannelLayout<Index> channel_layout(const Geometry& g, const ReducePlan& plan) {
  const int64_t width = Vec4 ? 4 : 1;
  ChannelLayout<Index> layout;
  layout.run = static_cast<Index>(g.S / width);
  layout.row_stride = static_cast<Index>(g.C * g.S / width);
  layout.units = static_cast<Index>(g.per_channel() / width);
  layout.run_divider = Divider<Index>(layout.run);
  layout.splits = static_cast<Index>(plan.splits);
  layout.pivot_stride = static_cast<Index>(g.S);
  return layout;
}

dim3 channel_grid(const Geometry& g, const ReducePlan& plan) {
  return dim3(static_cast<unsigned>(g.C), static_cast<unsigned>(plan.splits));
}

// Calls body(Index{}, std::bool_constant<Vec4>{}) with the index type and unit width chosen at run time.
template <typename Body>
void dispatch_channel_units(bool index64, bool vec4, Body&& body) {
  if (index64) {
    if (vec4) body(uint64_t{}, std::true_type{});
    else body(uint64_t{}, std::false_type{});
  } else {
    if (vec4) body(uint32_t{}, std::true_type{});
    else body(uint32_t{}, std::false_type{});
  }
}

// Calls body(Index{}, std::integral_constant<int, width>{}) for a column width from column_width<T>. kScalar: width
// 1 is instantiated too; without it the width must be 4 or 8.
template <typename T, bool kScalar, typename Body>
void dispatch_column_units(bool index64, int width, Body&& body) {
  const auto with_index = [&](auto index) {
    if constexpr (sizeof(T) == 2) {
      if (width == 8) {
        body(index, std::integral_constant<int, 8>{});
        return;
      }
    }
    if constexpr (kScalar) {
      if (width == 1) {
        body(index, std::integral_constant<int, 1>{});
        return;
      }
    }
    body(index, std::integral_constant<int, 4>{});
  };
  if (index64) with_index(uint64_t{});
  else with_index(uint32_t{});
}

// Reduces (a, b) per channel into partial[c * plan.splits + split].
template <typename Red>
void reduce(const Red& red, const typename Red::Element* a, const typename Red::Element* b,
            typename Red::State* partial, const Geometry& g,
            const ReducePlan& plan, const LaunchTuning& t, cudaStream_t stream) {
  const bool index64 = use_index64(g, t);
  if (plan.columns) {
    dispatch_column_units<typename Red::Element, true>(index64, plan.unit_width, [&](auto index, auto width_tag) {
      using Index = decltype(index);
      constexpr int kW = decltype(width_tag)::value;
      const dim3 block = plan.block;
      const dim3 grid(static_cast<unsigned>(ceil_div(g.C / kW, block.x)), static_cast<unsigned>(plan.splits));
      const std::size_t shared = column_tree_bytes<typename Red::State>(block.x, kW);
      NORMRT_LAUNCH((column_reduce_kernel<Red, Index, kW>), grid, block, shared, stream, red, a, b, partial,
                    static_cast<Index>(g.N), static_cast<Index>(g.C), static_cast<Index>(plan.splits));
      NORMRT_CHECK_LAUNCH();
    });
    return;
  }
  dispatch_channel_units(index64, g.S % 4 == 0 && unit_aligned(a) && unit_aligned(b), [&](auto index, auto vec4) {
    using Index = decltype(index);
    constexpr bool kVec4 = decltype(vec4)::value;
    NORMRT_LAUNCH((channel_reduce_kernel<Red, Index, kVec4>), channel_grid(g, plan), plan.block,
                  32 * sizeof(typename Red::State), stream, red, a, b, partial, channel_layout<Index, kVec4>(g, plan));
    NORMRT_CHECK_LAUNCH();
  });
}

template <typename Op, bool kTwoInputs, typename Index, bool kVec4, bool kUnitInOneChannel>
void launch_elementwise(const Op& op, const typename Op::Element* a, const typename Op::Element* b,
                        typename Op::Element* out, const Geometry& g, int64_t head,
                        int64_t* count_batch, const LaunchTuning& t, cudaStream_t stream) {
  ElementLayout<Index> layout;
  layout.numel = static_cast<Index>(g.numel());
  layout.head = static_cast<Index>(head);
  layout.vectors = static_cast<Index>(kVec4 ? (g.numel() - head) / 4 : 0);
  layout.s_divider = Divider<Index>(static_cast<Index>(g.S));
  layout.c_divider = Divider<Index>(static_cast<Index>(g.C));
  const int64_t threads_wanted = kVec4 ? std::max<int64_t>(layout.vectors, 6) : g.numel();
  const int64_t blocks = std::min<int64_t>(ceil_div(threads_wanted, kElementwiseThreads),
                                           16 * static_cast<int64_t>(std::max(t.sm_count, 1)));
  NORMRT_LAUNCH((elementwise_kernel<Op, kTwoInputs, Index, kVec4, kUnitInOneChannel>),
                dim3(static_cast<unsigned>(blocks)), dim3(kElementwiseThreads), 0, stream, op, a, b, out, layout,
                count_batch);
  NORMRT_CHECK_LAUNCH();
}

template <typename Op, bool kTwoInputs, typename Index>
void elementwise_with_index(const Op& op, const typename Op::Element* a, const typename Op::Element* b,
                            typename Op::Element* out, const Geometry& g,
                            int64_t* count_batch, const LaunchTuning& t, cudaStream_t stream) {
  using T = typename Op::Element;
  const auto misalignment = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % kUnitBytes<T>; };
  const uintptr_t offset = misalignment(a);
  const bool vec4 = offset % sizeof(T) == 0 && misalignment(out) == offset &&
                    (!kTwoInputs || misalignment(b) == offset);
  if (!vec4) {
    launch_elementwise<Op, kTwoInputs, Index, false, false>(op, a, b, out, g, 0, count_batch, t, stream);
    return;
  }
  const int64_t head =
      std::min<int64_t>(static_cast<int64_t>((kUnitBytes<T> - offset) % kUnitBytes<T> / sizeof(T)), g.numel());
  if (head == 0 && g.S % 4 == 0) {
    launch_elementwise<Op, kTwoInputs, Index, true, true>(op, a, b, out, g, head, count_batch, t, stream);
    return;
  }
  launch_elementwise<Op, kTwoInputs, Index, true, false>(op, a, b, out, g, head, count_batch, t, stream);
}

// An elementwise pass of `width` > 1 (column_width) in the column layout; see column_elementwise_kernel.
template <typename Op, bool kTwoInputs>
void column_elementwise(const Op& op, const typename Op::Element* a, const typename Op::Element* b,
                        typename Op::Element* out, const Geometry& g, int width, int64_t* count_batch,
                        const LaunchTuning& t, cudaStream_t stream) {
  dispatch_column_units<typename Op::Element, false>(use_index64(g, t), width, [&](auto index, auto width_tag) {
    using Index = decltype(index);
    constexpr int kW = decltype(width_tag)::value;
    const int64_t groups = g.C / kW;
    const dim3 block = column_block(groups, kColumnElementwiseThreads);
    const int64_t blocks_x = ceil_div(groups, block.x);
    // About as many threads in all as the flat pass would launch.
    const int64_t blocks_wanted = std::max<int64_t>(1, 16 * static_cast<int64_t>(std::max(t.sm_count, 1)) / blocks_x);
    const int64_t blocks_y = std::clamp<int64_t>(ceil_div(g.N, block.y), 1, std::min<int64_t>(blocks_wanted, 65535));
    NORMRT_LAUNCH((column_elementwise_kernel<Op, kTwoInputs, Index, kW>),
                  dim3(static_cast<unsigned>(blocks_x), static_cast<unsigned>(blocks_y)), block, 0, stream, op, a, b,
                  out, static_cast<Index>(g.N), static_cast<Index>(g.C), count_batch);
    NORMRT_CHECK_LAUNCH();
  });
}

// An elementwise pass: by columns when S == 1 and the columns allow units of four or eight (column_width), else
// flat. count_batch: num_batches_tracked of a training forward, incremented by the pass (else null).
template <typename Op, bool kTwoInputs>
void elementwise(const Op& op, const typename Op::Element* a, const typename Op::Element* b,
                 typename Op::Element* out, const Geometry& g, int64_t* count_batch,
                 const LaunchTuning& t, cudaStream_t stream) {
  if (g.numel() == 0) return;
  if (g.S == 1 && t.column_elementwise) {
    const int width = column_width(g, a, b, out);
    if (width > 1) {
      column_elementwise<Op, kTwoInputs>(op, a, b, out, g, width, count_batch, t, stream);
      return;
    }
  }
  if (use_index64(g, t)) {
    elementwise_with_index<Op, kTwoInputs, uint64_t>(op, a, b, out, g, count_batch, t, stream);
  } else {
    elementwise_with_index<Op, kTwoInputs, uint32_t>(op, a, b, out, g, count_batch, t, stream);
  }
}

// The elementwise pass of a training step, after reduce() with the same plan: on the reduction's partition when
// S > 1 and that grid fills the GPU (see channel_elementwise_kernel and ReducePlan), otherwise by elementwise().
template <typename Op, bool kTwoInputs>
void training_elementwise(const Op& op, const typename Op::Element* a, const typename Op::Element* b,
                          typename Op::Element* out, const Geometry& g,
                          const ReducePlan& plan, int64_t* count_batch, const LaunchTuning& t, cudaStream_t stream) {
  if (g.numel() == 0) return;
  if (!plan.elementwise_on_partition) {
    elementwise<Op, kTwoInputs>(op, a, b, out, g, count_batch, t, stream);
    return;
  }
  const bool vec4 = g.S % 4 == 0 && unit_aligned(a) && unit_aligned(b) && unit_aligned(out);
  dispatch_channel_units(use_index64(g, t), vec4, [&](auto index, auto vec4_tag) {
    using Index = decltype(index);
    constexpr bool kVec4 = decltype(vec4_tag)::value;
    NORMRT_LAUNCH((channel_elementwise_kernel<Op, kTwoInputs, Index, kVec4>), channel_grid(g, plan),
                  dim3(kReduceThreads), 0, stream, op, a, b, out, channel_layout<Index, kVec4>(g, plan), count_batch);
    NORMRT_CHECK_LAUNCH();
  });
}

// A training step as one launch (ReducePlan: one split): channel_fused_kernel (S > 1), or column_step_kernel without
// grid barriers, each block finishing its columns (S == 1; the rows are few here, or the columns many: no
// shared-memory cache).
template <typename Red, typename Op>
void fused_step(const Red& red, const Op& op, const typename Red::Element* a, const typename Red::Element* b,
                typename Red::Element* out, const Geometry& g,
                const ReducePlan& plan, int64_t* count_batch, const LaunchTuning& t, cudaStream_t stream) {
  if (plan.columns) {
    const int width = column_width(g, a, b, out);
    dispatch_column_units<typename Red::Element, true>(use_index64(g, t), width, [&](auto index, auto width_tag) {
      using Index = decltype(index);
      constexpr int kW = decltype(width_tag)::value;
      const dim3 block = column_reduction_block(g.C / kW, kW);
      const int64_t blocks_x = ceil_div(g.C / kW, block.x);
      NORMRT_LAUNCH((column_step_kernel<Red, Op, Index, kW, false>), dim3(static_cast<unsigned>(blocks_x)), block,
                    column_tree_bytes<typename Red::State>(block.x, kW), stream, red, op, a, b, out,
                    static_cast<typename Red::State*>(nullptr), static_cast<Index>(g.N), static_cast<Index>(g.C),
                    Index{1}, Index{0}, count_batch);
      NORMRT_CHECK_LAUNCH();
    });
    return;
  }
  const bool vec4 = g.S % 4 == 0 && unit_aligned(a) && unit_aligned(b) && unit_aligned(out);
  dispatch_channel_units(use_index64(g, t), vec4, [&](auto index, auto vec4_tag) {
    using Index = decltype(index);
    constexpr bool kVec4 = decltype(vec4_tag)::value;
    NORMRT_LAUNCH((channel_fused_kernel<Red, Op, Index, kVec4>), dim3(static_cast<unsigned>(g.C)),
                  dim3(kReduceThreads), 32 * sizeof(typename Red::State), stream, red, op, a, b, out,
                  channel_layout<Index, kVec4>(g, plan), count_batch);
    NORMRT_CHECK_LAUNCH();
  });
}

bool one_launch(const ReducePlan& plan, const LaunchTuning& t) {
  return plan.splits == 1 && (!plan.columns || t.column_steps);
}

// The cache units (unit_bytes each, at most `wanted`) that a cooperative kernel's blocks of `threads` get in dynamic
// shared memory beyond `base` bytes: what the SM has left at the per_sm resident blocks its registers allow (so
// caching costs no residency), none if the occupancy calculator then disagrees. Opts the kernel in to the shared
// memory it may use.
template <typename Kernel>
int64_t cooperative_cache_units(Kernel kernel, int threads, std::size_t base, int per_sm, int64_t wanted,
                                int64_t unit_bytes) {
  (void)kernel;  // unused by the emulator's macros
  const SharedMemoryLimits limits = NORMRT_SHARED_MEMORY_LIMITS();
  const std::size_t per_block = std::min(limits.per_block, limits.per_sm / per_sm - limits.reserved_per_block);
  const int64_t budget = static_cast<int64_t>(per_block) - static_cast<int64_t>(base);
  const int64_t units = std::clamp<int64_t>(wanted, 0, std::max<int64_t>(budget, 0) / unit_bytes);
  if (units == 0) return 0;
  NORMRT_ALLOW_SHARED(kernel, limits);
  const std::size_t shared = base + static_cast<std::size_t>(units * unit_bytes);
  return NORMRT_COOPERATIVE_BLOCKS_PER_SM(kernel, threads, shared) < per_sm ? 0 : units;
}

// A training step with split channels (S > 1) as one channel_cooperative_kernel launch, on as many of the plan's
// splits as can be resident at once; false (nothing launched) when fewer than two blocks per channel can be. The
// shared memory each block gets for cached chunks is what the SM has left at the occupancy its registers allow, so
// caching costs no residency (checked with the occupancy calculator; without it if that disagrees).
template <typename Red>
bool cooperative_step(const Red& red, const typename Red::Element* a, const typename Red::Element* b,
                      typename Red::Element* out, typename Red::State* partial,
                      const Geometry& g, const ReducePlan& plan, int64_t* count_batch, const LaunchTuning& t,
                      cudaStream_t stream) {
  if (!t.cooperative || plan.columns || plan.splits < 2) return false;
  bool launched = false;
  const bool vec4 = g.S % 4 == 0 && unit_aligned(a) && unit_aligned(b) && unit_aligned(out);
  dispatch_channel_units(use_index64(g, t), vec4, [&](auto index, auto vec4_tag) {
    using Index = decltype(index);
    constexpr bool kVec4 = decltype(vec4_tag)::value;
    using Cache = ChunkCache<Red::kTwoInputs, Index, kVec4>;
    auto* kernel = channel_cooperative_kernel<Red, Index, kVec4>;
    const std::size_t base = cooperative_shared_offset<typename Red::State, typename Red::At>();
    const int per_sm = NORMRT_COOPERATIVE_BLOCKS_PER_SM(kernel, kReduceThreads, base);
    ReducePlan resident_plan = plan;
    resident_plan.splits = std::min<int64_t>(plan.splits, static_cast<int64_t>(per_sm) * t.sm_count / g.C);
    if (resident_plan.splits < 2) return;
    const ChannelLayout<Index> layout = channel_layout<Index, kVec4>(g, resident_plan);
    const int64_t chunk_units = kUnroll * kReduceThreads;
    const int64_t range_chunks = static_cast<int64_t>(layout.units) / resident_plan.splits / chunk_units;
    const int64_t chunk_bytes = chunk_units * Cache::U::kWidth * sizeof(float) * (Red::kTwoInputs ? 2 : 1);
    const int64_t shared_chunks = cooperative_cache_units(kernel, kReduceThreads, base, per_sm,
                                                          range_chunks - Cache::kRegisterChunks, chunk_bytes);
    const std::size_t shared = base + static_cast<std::size_t>(shared_chunks * chunk_bytes);
    NORMRT_LAUNCH_COOPERATIVE(kernel, channel_grid(g, resident_plan), dim3(kReduceThreads), shared, stream, red, a, b,
                              out, partial, layout, count_batch, static_cast<Index>(shared_chunks));
    NORMRT_CHECK_LAUNCH();
    launched = true;
  });
  return launched;
}

// A training step in the column layout with split rows as one cooperative column_step_kernel launch, on as many of the
// plan's splits as can be resident at once; false (nothing launched) when fewer than two blocks per column block can
// be. Shared memory for cached row groups as in cooperative_step: what the SM has left at the occupancy the
// registers allow.
template <typename Red, typename Op>
bool column_cooperative_step(const Red& red, const Op& op, const typename Red::Element* a,
                             const typename Red::Element* b, typename Red::Element* out, typename Red::State* partial,
                             const Geometry& g, const ReducePlan& plan, int64_t* count_batch, const LaunchTuning& t,
                             cudaStream_t stream) {
  if (!t.cooperative || !t.column_steps || !plan.columns || plan.splits < 2) return false;
  using State = typename Red::State;
  bool launched = false;
  const int width = column_width(g, a, b, out);
  dispatch_column_units<typename Red::Element, true>(use_index64(g, t), width, [&](auto index, auto width_tag) {
    using Index = decltype(index);
    constexpr int kW = decltype(width_tag)::value;
    auto* kernel = column_step_kernel<Red, Op, Index, kW, true>;
    const dim3 block = column_reduction_block(g.C / kW, kW);
    const int64_t blocks_x = ceil_div(g.C / kW, block.x);
    const std::size_t base = column_tree_bytes<State>(block.x, kW);
    const int per_sm = NORMRT_COOPERATIVE_BLOCKS_PER_SM(kernel, kColumnThreads, base);
    const int64_t splits = std::min<int64_t>(plan.splits, static_cast<int64_t>(per_sm) * t.sm_count / blocks_x);
    if (splits < 2) return;
    const int64_t rows_per_thread = ceil_div(ceil_div(g.N, splits), block.y);
    const int64_t full_groups = rows_per_thread / column_group_rows(kW);
    const int64_t group_bytes =
        static_cast<int64_t>(kColumnThreads) * column_group_rows(kW) * kW * sizeof(float) * (Red::kTwoInputs ? 2 : 1);
    const int64_t shared_groups = cooperative_cache_units(
        kernel, kColumnThreads, base, per_sm, full_groups - column_register_groups(kW, Red::kTwoInputs), group_bytes);
    const std::size_t shared = base + static_cast<std::size_t>(shared_groups * group_bytes);
    NORMRT_LAUNCH_COOPERATIVE(kernel, dim3(static_cast<unsigned>(blocks_x), static_cast<unsigned>(splits)), block,
                              shared, stream, red, op, a, b, out, partial, static_cast<Index>(g.N),
                              static_cast<Index>(g.C), static_cast<Index>(splits), static_cast<Index>(shared_groups),
                              count_batch);
    NORMRT_CHECK_LAUNCH();
    launched = true;
  });
  return launched;
}

// A warp per channel; at least one block.
dim3 finalize_grid(int64_t channels) {
  return dim3(static_cast<unsigned>(std::clamp<int64_t>(ceil_div(channels, kFinalizeThreads / 32), 1, 65535)));
}

// Workspace: partial states (3 floats each: Welford, or GradSums padded), then three coefficient arrays.
Coefficients coefficients_in(float* workspace, const Geometry& g, const ReducePlan& plan) {
  float* base = workspace + 3 * g.C * plan.splits;
  return {base, base + g.C, base + 2 * g.C};
}

// The fused forms' epilogue and the ReLU's gradient, each a grid-stride pass of its own for now (the elementwise
// passes above do not take a third operand yet).
template <bool kRelu>
__global__ void __launch_bounds__(kElementwiseThreads)
    epilogue_kernel(float* y, const float* residual, uint64_t n) {
  const uint64_t stride = static_cast<uint64_t>(gridDim.x) * blockDim.x;
  for (uint64_t i = static_cast<uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    y[i] = epilogue<kRelu>(y[i], residual != nullptr ? residual[i] : 0.0f);
}

__global__ void __launch_bounds__(kElementwiseThreads)
    relu_gradient_kernel(const float* dy, const float* y, float* out, uint64_t n) {
  const uint64_t stride = static_cast<uint64_t>(gridDim.x) * blockDim.x;
  for (uint64_t i = static_cast<uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    out[i] = relu_gradient(dy[i], y[i]);
}

dim3 flat_grid(int64_t n, const LaunchTuning& t) {
  return dim3(static_cast<unsigned>(
      std::clamp<int64_t>(ceil_div(n, kElementwiseThreads), 1, 16 * static_cast<int64_t>(std::max(t.sm_count, 1)))));
}

template <typename T>
void launch_save_inference_statistics(const ForwardInferenceParamsOf<T>& p, cudaStream_t stream) {
  if (p.geometry.C == 0) return;
  const int64_t blocks = std::min<int64_t>(ceil_div(p.geometry.C, kFinalizeThreads), 1024);
  NORMRT_LAUNCH(save_inference_statistics_kernel<T>, dim3(static_cast<unsigned>(blocks)), dim3(kFinalizeThreads), 0,
                stream, InferenceNormalizeOp<T>{p});
  NORMRT_CHECK_LAUNCH();
}

}  // namespace

void apply_epilogue(float* y, const float* residual, int64_t n, bool relu, const LaunchTuning& tuning,
                    cudaStream_t stream) {
  if (n == 0 || (residual == nullptr && !relu)) return;
  if (relu) {
    NORMRT_LAUNCH(epilogue_kernel<true>, flat_grid(n, tuning), dim3(kElementwiseThreads), 0, stream, y, residual,
                  static_cast<uint64_t>(n));
  } else {
    NORMRT_LAUNCH(epilogue_kernel<false>, flat_grid(n, tuning), dim3(kElementwiseThreads), 0, stream, y, residual,
                  static_cast<uint64_t>(n));
  }
  NORMRT_CHECK_LAUNCH();
}

void apply_relu_gradient(const float* dy, const float* y, float* out, int64_t n, const LaunchTuning& tuning,
                         cudaStream_t stream) {
  if (n == 0) return;
  NORMRT_LAUNCH(relu_gradient_kernel, flat_grid(n, tuning), dim3(kElementwiseThreads), 0, stream, dy, y, out,
                static_cast<uint64_t>(n));
  NORMRT_CHECK_LAUNCH();
}

void save_inference_statistics(const ForwardInferenceParams& p, cudaStream_t stream) {
  launch_save_inference_statistics(p, stream);
}

std::size_t workspace_floats(const Geometry& g, const LaunchTuning& tuning) {
  if (g.C == 0) return 0;  // nothing launches (an empty batch still finishes its channels: dweight, dbias)
  // The most splits of any unit width the column layout may launch with (it depends on the operands' alignment).
  int64_t splits = plan_reduction(g, tuning).splits;
  if (g.S == 1)
    for (const int width : {4, 8})
      if (g.C % width == 0) splits = std::max(splits, plan_reduction(g, tuning, width).splits);
  return static_cast<std::size_t>(3 * g.C * splits + 3 * g.C);
}

template <typename T>
void forward_training(const ForwardTrainingParamsOf<T>& p, float* workspace, const LaunchTuning& tuning,
                      cudaStream_t stream) {
  const Geometry& g = p.geometry;
  const ReducePlan plan = plan_reduction(g, tuning, reduction_width(g, p.x));
  auto* partial = reinterpret_cast<Welford<float>*>(workspace);
  const Coefficients coefficients = coefficients_in(workspace, g, plan);
  if (g.numel() == 0) {  // statistics of nothing; the batch still counts
    NORMRT_LAUNCH(finalize_forward_kernel<T>, dim3(1), dim3(kFinalizeThreads), 0, stream, p, partial,
                  static_cast<uint64_t>(plan.splits), coefficients, true);
    NORMRT_CHECK_LAUNCH();
    return;
  }
  const bool finish_in_reduction = plan.splits == 1;
  const StatsReduction<T> stats{p, coefficients, finish_in_reduction};
  const NormalizeOp<T> normalize_op{p.save_mean, coefficients.a, coefficients.b, p.residual, p.relu};
  const bool count_read_by_blocks = p.cumulative_average && p.running_mean != nullptr;
  if (one_launch(plan, tuning) && !count_read_by_blocks) {
    fused_step(stats, normalize_op, p.x, nullptr, p.y, g, plan, p.num_batches_tracked, tuning, stream);
    return;
  }
  if (cooperative_step(stats, p.x, nullptr, p.y, partial, g, plan, p.num_batches_tracked, tuning, stream)) return;
  if (column_cooperative_step(stats, normalize_op, p.x, nullptr, p.y, partial, g, plan, p.num_batches_tracked, tuning,
                              stream))
    return;
  reduce(stats, p.x, nullptr, partial, g, plan, tuning, stream);
  if (!finish_in_reduction) {
    NORMRT_LAUNCH(finalize_forward_kernel<T>, finalize_grid(g.C), dim3(kFinalizeThreads), 0, stream, p, partial,
                  static_cast<uint64_t>(plan.splits), coefficients, false);
    NORMRT_CHECK_LAUNCH();
  }
  training_elementwise<NormalizeOp<T>, false>(normalize_op, p.x, nullptr, p.y, g, plan, p.num_batches_tracked, tuning,
                                           stream);
}

template <typename T>
void forward_inference(const ForwardInferenceParamsOf<T>& p, const LaunchTuning& tuning, cudaStream_t stream) {
  const Geometry& g = p.geometry;
  if (g.C == 0) return;
  if (g.numel() == 0) {
    launch_save_inference_statistics(p, stream);
    return;
  }
  elementwise<InferenceNormalizeOp<T>, false>(InferenceNormalizeOp<T>{p}, p.x, nullptr, p.y, g, nullptr, tuning,
                                              stream);
}

template <typename T>
void backward(const BackwardParamsOf<T>& p, float* workspace, const LaunchTuning& tuning, cudaStream_t stream) {
  const Geometry& g = p.geometry;
  if (g.C == 0) return;
  const ReducePlan plan = plan_reduction(g, tuning, reduction_width(g, p.dy, p.x));
  auto* partial = reinterpret_cast<GradSums*>(workspace);
  const Coefficients coefficients = coefficients_in(workspace, g, plan);
  const bool need_sums = (p.training || p.dweight != nullptr || p.dbias != nullptr) && g.per_channel() > 0;
  const bool finish_in_reduction = need_sums && plan.splits == 1;
  const GradReduction<T> sums{p, coefficients, finish_in_reduction};
  const InputGradTrainingOp<T> gradient_op{
      p.mean, coefficients.a, coefficients.b, coefficients.c, p.relu_output, p.grad_residual};
  if (p.training && p.dx != nullptr && g.per_channel() > 0) {
    if (one_launch(plan, tuning)) {
      fused_step(sums, gradient_op, p.dy, p.x, p.dx, g, plan, nullptr, tuning, stream);
      return;
    }
    if (cooperative_step(sums, p.dy, p.x, p.dx, partial, g, plan, nullptr, tuning, stream)) return;
    if (column_cooperative_step(sums, gradient_op, p.dy, p.x, p.dx, partial, g, plan, nullptr, tuning, stream)) return;
  }
  if (need_sums) reduce(sums, p.dy, p.x, partial, g, plan, tuning, stream);
  if (!finish_in_reduction) {
    NORMRT_LAUNCH(finalize_backward_kernel<T>, finalize_grid(g.C), dim3(kFinalizeThreads), 0, stream, p,
                  need_sums ? partial : static_cast<GradSums*>(nullptr), static_cast<uint64_t>(plan.splits),
                  coefficients);
    NORMRT_CHECK_LAUNCH();
  }
  if (p.dx == nullptr) return;
  if (p.training) {
    training_elementwise<InputGradTrainingOp<T>, true>(gradient_op, p.dy, p.x, p.dx, g, plan, nullptr, tuning, stream);
  } else {
    const InputGradInferenceOp<T> scale_op{coefficients.c, p.relu_output, p.grad_residual};
    elementwise<InputGradInferenceOp<T>, false>(scale_op, p.dy, nullptr, p.dx, g, nullptr, tuning, stream);
  }
}

namespace {

// The coefficients of a stage that runs no reduction: the workspace's first 3 C floats.
Coefficients stage_coefficients(float* workspace, const Geometry& g) {
  return {workspace, workspace + g.C, workspace + 2 * g.C};
}

// The elementwise pass of a SyncBatchNorm stage: flat (the reduction's partition is another launch's).
ReducePlan flat_plan(const Geometry& g, const LaunchTuning& tuning) {
  ReducePlan plan = plan_reduction(g, tuning);
  plan.elementwise_on_partition = false;
  return plan;
}

}  // namespace

template <typename T>
void sync_local_statistics(const ForwardTrainingParamsOf<T>& p, float* states, float* workspace,
                           const LaunchTuning& tuning, cudaStream_t stream) {
  const Geometry& g = p.geometry;
  if (g.C == 0) return;
  const ReducePlan plan = plan_reduction(g, tuning, reduction_width(g, p.x));
  auto* partial = reinterpret_cast<Welford<float>*>(workspace);
  const bool local = g.per_channel() > 0;
  if (local) reduce(StatsReduction<T>{p, coefficients_in(workspace, g, plan), false}, p.x, nullptr, partial, g, plan,
                    tuning, stream);
  NORMRT_LAUNCH(export_statistics_kernel<T>, finalize_grid(g.C), dim3(kFinalizeThreads), 0, stream, p,
                local ? partial : nullptr, static_cast<uint64_t>(plan.splits), reinterpret_cast<SyncState*>(states));
  NORMRT_CHECK_LAUNCH();
}

template <typename T>
void sync_forward_from_states(const ForwardTrainingParamsOf<T>& p, const float* gathered, int64_t ranks,
                              float* workspace, const LaunchTuning& tuning, cudaStream_t stream) {
  const Geometry& g = p.geometry;
  const Coefficients coefficients = stage_coefficients(workspace, g);
  if (g.C > 0) {
    NORMRT_LAUNCH(merge_ranks_forward_kernel<T>, finalize_grid(g.C), dim3(kFinalizeThreads), 0, stream, p,
                  reinterpret_cast<const SyncState*>(gathered), static_cast<uint64_t>(ranks), coefficients);
    NORMRT_CHECK_LAUNCH();
  }
  if (g.numel() == 0) {
    if (p.num_batches_tracked != nullptr) {
      NORMRT_LAUNCH(count_batch_kernel, dim3(1), dim3(1), 0, stream, p.num_batches_tracked);
      NORMRT_CHECK_LAUNCH();
    }
    return;
  }
  const NormalizeOp<T> normalize_op{p.save_mean, coefficients.a, coefficients.b, p.residual, p.relu};
  training_elementwise<NormalizeOp<T>, false>(normalize_op, p.x, nullptr, p.y, g, flat_plan(g, tuning),
                                           p.num_batches_tracked, tuning, stream);
}

template <typename T>
void sync_local_gradient_sums(const BackwardParamsOf<T>& p, float* sums, float* workspace, const LaunchTuning& tuning,
                              cudaStream_t stream) {
  const Geometry& g = p.geometry;
  const ReducePlan plan = plan_reduction(g, tuning, reduction_width(g, p.dy, p.x));
  auto* partial = reinterpret_cast<GradSums*>(workspace);
  const bool local = g.per_channel() > 0 && g.C > 0;
  if (local) reduce(GradReduction<T>{p, coefficients_in(workspace, g, plan), false}, p.dy, p.x, partial, g, plan,
                    tuning, stream);
  NORMRT_LAUNCH(export_gradient_sums_kernel<T>, finalize_grid(g.C), dim3(kFinalizeThreads), 0, stream, p,
                local ? partial : nullptr, static_cast<uint64_t>(plan.splits), sums);
  NORMRT_CHECK_LAUNCH();
}

template <typename T>
void sync_backward_from_sums(const BackwardParamsOf<T>& p, const float* sums, float* workspace,
                             const LaunchTuning& tuning, cudaStream_t stream) {
  const Geometry& g = p.geometry;
  if (g.numel() == 0 || p.dx == nullptr) return;
  const Coefficients coefficients = stage_coefficients(workspace, g);
  NORMRT_LAUNCH(coefficients_from_sums_kernel<T>, finalize_grid(g.C), dim3(kFinalizeThreads), 0, stream, p, sums,
                coefficients);
  NORMRT_CHECK_LAUNCH();
  const InputGradTrainingOp<T> gradient_op{
      p.mean, coefficients.a, coefficients.b, coefficients.c, p.relu_output, p.grad_residual};
  training_elementwise<InputGradTrainingOp<T>, true>(gradient_op, p.dy, p.x, p.dx, g, flat_plan(g, tuning), nullptr,
                                                     tuning, stream);
}

// The element types the library launches with.
#define NORMRT_BN_INSTANTIATE(T)                                                                                  \
  template void forward_training(const ForwardTrainingParamsOf<T>&, float*, const LaunchTuning&, cudaStream_t); \
  template void forward_inference(const ForwardInferenceParamsOf<T>&, const LaunchTuning&, cudaStream_t);       \
  template void backward(const BackwardParamsOf<T>&, float*, const LaunchTuning&, cudaStream_t);                  \
  template void sync_local_statistics(const ForwardTrainingParamsOf<T>&, float*, float*, const LaunchTuning&,     \
                                      cudaStream_t);                                                              \
  template void sync_forward_from_states(const ForwardTrainingParamsOf<T>&, const float*, int64_t, float*,        \
                                         const LaunchTuning&, cudaStream_t);                                      \
  template void sync_local_gradient_sums(const BackwardParamsOf<T>&, float*, float*, const LaunchTuning&,         \
                                         cudaStream_t);                                                           \
  template void sync_backward_from_sums(const BackwardParamsOf<T>&, const float*, float*, const LaunchTuning&,    \
                                        cudaStream_t);
NORMRT_BN_INSTANTIATE(float)
NORMRT_BN_INSTANTIATE(Half)
NORMRT_BN_INSTANTIATE(BFloat16)
#undef NORMRT_BN_INSTANTIATE

}  // namespace normrt::bn::NORMRT_KERNEL_NS
