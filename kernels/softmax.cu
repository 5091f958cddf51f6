// Row-wise softmax family: one block of kThreads per row; each thread strides over the row, then a warp-shuffle
// and shared-memory reduction (fixed order, so results are identical run to run) gives the row max and the sum
// of exponentials. Stable: exponentials of x - max only. e^x and ln are float_math's, not CUDA's expf and logf: the
// same bits as the SIMT emulator's (and the CPU's) functions.
#include "softmax.cuh"

#include <cmath>

#include "float_math.cuh"
#include "nn_math.cuh"

namespace normrt::NORMRT_KERNEL_NS {

namespace {

constexpr int kThreads = 128;
constexpr unsigned kFullMask = 0xffffffffu;

struct Max {
  __device__ static float apply(float a, float b) { return fmaxf(a, b); }
};
struct Sum {
  __device__ static float apply(float a, float b) { return a + b; }
};

// Block-wide reduction; every thread gets the result. `shared` holds kThreads / 32 floats + 1.
template <typename Op>
__device__ float block_all_reduce(float v, float* shared) {
  for (int m = 16; m >= 1; m /= 2) v = Op::apply(v, __shfl_xor_sync(kFullMask, v, m));
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    float r = shared[0];
    for (int w = 1; w < kThreads / 32; ++w) r = Op::apply(r, shared[w]);
    shared[kThreads / 32] = r;
  }
  __syncthreads();
  const float result = shared[kThreads / 32];
  __syncthreads();  // `shared` is reused by the next reduction
  return result;
}

// Row max and log(sum(exp(x - max))) of row r.
__device__ void row_logsumexp(const float* row, int64_t cols, float* shared, float& max, float& log_sum) {
  float m = -INFINITY;
  for (int64_t c = threadIdx.x; c < cols; c += kThreads) m = fmaxf(m, row[c]);
  max = block_all_reduce<Max>(m, shared);
  float s = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += kThreads) s += fmath::exp(row[c] - max);
  log_sum = fmath::log(block_all_reduce<Sum>(s, shared));
}

__global__ void __launch_bounds__(kThreads) softmax_forward_kernel(const float* x, float* y, int64_t cols, bool log) {
  NORMRT_DYNAMIC_SHARED(float, shared);
  const float* row = x + static_cast<int64_t>(blockIdx.x) * cols;
  float* out = y + static_cast<int64_t>(blockIdx.x) * cols;
  float max, log_sum;
  row_logsumexp(row, cols, shared, max, log_sum);
  for (int64_t c = threadIdx.x; c < cols; c += kThreads) {
    const float shifted = row[c] - max - log_sum;
    out[c] = log ? shifted : fmath::exp(shifted);
  }
}

// softmax: dx = y * (dy - sum(dy * y)); log_softmax: dx = dy - exp(y) * sum(dy).
__global__ void __launch_bounds__(kThreads)
    softmax_backward_kernel(const float* dy, const float* y, float* dx, int64_t cols, bool log) {
  NORMRT_DYNAMIC_SHARED(float, shared);
  const int64_t base = static_cast<int64_t>(blockIdx.x) * cols;
  float s = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += kThreads) s += log ? dy[base + c] : dy[base + c] * y[base + c];
  const float total = block_all_reduce<Sum>(s, shared);
  for (int64_t c = threadIdx.x; c < cols; c += kThreads) {
    const int64_t i = base + c;
    dx[i] = log ? dy[i] - fmath::exp(y[i]) * total : y[i] * (dy[i] - total);
  }
}

__global__ void __launch_bounds__(kThreads) cross_entropy_kernel(CrossEntropyParams p) {
  NORMRT_DYNAMIC_SHARED(float, shared);
  const int64_t r = blockIdx.x, cols = p.cols;
  const float* row = p.logits + r * cols;
  float* grad = p.grad + r * cols;
  const int64_t target = p.targets[r];
  const float scale = p.device_scale != nullptr ? *p.device_scale : 1.0f;
  const float loss_scale = p.loss_scale * scale, grad_scale = p.grad_scale * scale;
  if (target == p.ignore_index || target < 0 || target >= cols) {  // the whole block takes this branch
    const float fill = target == p.ignore_index ? 0.0f : NAN;
    for (int64_t c = threadIdx.x; c < cols; c += kThreads) grad[c] = fill;
    if (threadIdx.x == 0) p.row_loss[r] = loss_scale * fill;
    return;
  }
  float max, log_sum;
  row_logsumexp(row, cols, shared, max, log_sum);
  const float smoothing = p.label_smoothing, uniform = smoothing / static_cast<float>(cols);
  float s = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += kThreads) {
    s += row[c];
    const float prob = fmath::exp(row[c] - max - log_sum);
    grad[c] = grad_scale * (c == target ? nnmath::smoothed_target_gradient(prob, smoothing, uniform) : prob - uniform);
  }
  const float sum_x = smoothing != 0.0f ? block_all_reduce<Sum>(s, shared) : 0.0f;
  if (threadIdx.x == 0) {
    p.row_loss[r] = loss_scale * nnmath::smoothed_cross_entropy(max, row[target], log_sum, sum_x,
                                                                static_cast<float>(cols), smoothing, uniform);
  }
}

// One block: thread i counts the kept targets i, i + kThreads, ...; thread 0 adds the counts in thread order.
__global__ void __launch_bounds__(kThreads)
    inverse_kept_count_kernel(const int64_t* targets, int64_t rows, int64_t ignore_index, float* inverse_count) {
  NORMRT_DYNAMIC_SHARED(int64_t, counts);
  int64_t kept = 0;
  for (int64_t r = threadIdx.x; r < rows; r += kThreads) kept += targets[r] != ignore_index ? 1 : 0;
  counts[threadIdx.x] = kept;
  __syncthreads();
  if (threadIdx.x == 0) {
    int64_t total = 0;
    for (int t = 0; t < kThreads; ++t) total += counts[t];
    *inverse_count = static_cast<float>(1.0 / static_cast<double>(total));
  }
}

__global__ void argmax_matches_kernel(const float* logits, const int64_t* targets, int64_t* correct, int64_t rows,
                                      int64_t cols) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  const float* row = logits + r * cols;
  int64_t best = 0;
  for (int64_t c = 1; c < cols; ++c)
    if (row[c] > row[best]) best = c;
  correct[r] = best == targets[r] ? 1 : 0;
}

constexpr std::size_t kShared = (kThreads / 32 + 1) * sizeof(float);

}  // namespace

void softmax_forward(const float* x, float* y, int64_t rows, int64_t cols, bool log, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  NORMRT_LAUNCH(softmax_forward_kernel, dim3(static_cast<unsigned>(rows)), dim3(kThreads), kShared, stream, x, y,
                cols, log);
  NORMRT_CHECK_LAUNCH();
}

void softmax_backward(const float* dy, const float* y, float* dx, int64_t rows, int64_t cols, bool log,
                      cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  NORMRT_LAUNCH(softmax_backward_kernel, dim3(static_cast<unsigned>(rows)), dim3(kThreads), kShared, stream, dy, y,
                dx, cols, log);
  NORMRT_CHECK_LAUNCH();
}

void cross_entropy(const CrossEntropyParams& params, cudaStream_t stream) {
  if (params.rows == 0) return;
  NORMRT_LAUNCH(cross_entropy_kernel, dim3(static_cast<unsigned>(params.rows)), dim3(kThreads), kShared, stream,
                params);
  NORMRT_CHECK_LAUNCH();
}

void inverse_kept_count(const int64_t* targets, int64_t rows, int64_t ignore_index, float* inverse_count,
                        cudaStream_t stream) {
  NORMRT_LAUNCH(inverse_kept_count_kernel, dim3(1), dim3(kThreads), kThreads * sizeof(int64_t), stream, targets, rows,
                ignore_index, inverse_count);
  NORMRT_CHECK_LAUNCH();
}

void argmax_matches(const float* logits, const int64_t* targets, int64_t* correct, int64_t rows, int64_t cols,
                    cudaStream_t stream) {
  if (rows == 0) return;
  const unsigned blocks = static_cast<unsigned>((rows + 127) / 128);
  NORMRT_LAUNCH(argmax_matches_kernel, dim3(blocks), dim3(128), 0, stream, logits, targets, correct, rows, cols);
  NORMRT_CHECK_LAUNCH();
}

}  // namespace normrt::NORMRT_KERNEL_NS
