// LayerNorm / GroupNorm kernels. A row (a LayerNorm instance, a GroupNorm (sample, group)) belongs to one block, whose
// threads stride over it; sums go through a warp butterfly and then the warps in order, so results are identical run
// to run. Moments are exact two-pass ones: the mean from values shifted by the row's first (Sterbenz: exact for
// data far from zero), then the squared deviations from it; the row's re-reads come from cache. The block is sized
// to the row (32 threads for short LayerNorm rows, up to 256), and a row loop covers grids past the launch cap.
// Parameter gradients: per parameter column, the rows cut into fixed chunks (LayerNorm: 32 columns x 8 row lanes a
// block), or per (sample, channel) segment a warp (GroupNorm), then the partial sums added in order.
#include "norms.cuh"

#include <algorithm>
#include <cmath>

namespace normrt::NORMRT_KERNEL_NS {

namespace {

constexpr int kMaxThreads = 256, kMaxWarps = kMaxThreads / 32;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int64_t kMaxBlocks = 65535;
constexpr int kColumnTile = 32, kRowLanes = 8;
constexpr int64_t kRowsPerChunk = 256;

int row_threads(int64_t length) { return length <= 256 ? 32 : length <= 2048 ? 128 : kMaxThreads; }

unsigned capped_blocks(int64_t wanted) { return static_cast<unsigned>(std::clamp<int64_t>(wanted, 1, kMaxBlocks)); }

__device__ void warp_sum2(float& a, float& b) {
  for (int m = 16; m >= 1; m /= 2) {
    a += __shfl_xor_sync(kFullMask, a, m);
    b += __shfl_xor_sync(kFullMask, b, m);
  }
}

// Sums each thread's (a, b) over the block; every thread gets the totals. `shared` holds 2 * (kMaxWarps + 1) floats.
__device__ void block_sum2(float& a, float& b, float* shared) {
  warp_sum2(a, b);
  const int warps = static_cast<int>(blockDim.x) / 32;
  if (warps == 1) return;
  const int warp = static_cast<int>(threadIdx.x) / 32;
  if (threadIdx.x % 32 == 0) {
    shared[2 * warp] = a;
    shared[2 * warp + 1] = b;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    float total_a = shared[0], total_b = shared[1];
    for (int w = 1; w < warps; ++w) {
      total_a += shared[2 * w];
      total_b += shared[2 * w + 1];
    }
    shared[2 * kMaxWarps] = total_a;
    shared[2 * kMaxWarps + 1] = total_b;
  }
  __syncthreads();
  a = shared[2 * kMaxWarps];
  b = shared[2 * kMaxWarps + 1];
  __syncthreads();  // `shared` is reused by the next sum
}

__global__ void __launch_bounds__(kMaxThreads)
    row_norm_forward_kernel(normmath::RowGeometry g, const float* x, const float* weight, const float* bias,
                            float eps, float* y, float* mean_out, float* rstd_out) {
  NORMRT_DYNAMIC_SHARED(float, shared);
  const auto n = static_cast<float>(g.length);
  for (int64_t r = blockIdx.x; r < g.rows; r += gridDim.x) {
    const float* row = x + r * g.length;
    const float pivot = row[0];
    float shifted = 0.0f, m2 = 0.0f, unused = 0.0f;
    for (int64_t e = threadIdx.x; e < g.length; e += blockDim.x) shifted += row[e] - pivot;
    block_sum2(shifted, unused, shared);
    const float mean = pivot + shifted / n;
    for (int64_t e = threadIdx.x; e < g.length; e += blockDim.x) {
      const float d = row[e] - mean;
      m2 += d * d;
    }
    block_sum2(m2, unused, shared);
    const float rstd = 1.0f / sqrtf(m2 / n + eps);
    if (threadIdx.x == 0) {
      mean_out[r] = mean;
      rstd_out[r] = rstd;
    }
    float* out = y + r * g.length;
    const int64_t first = g.row_offset(r);
    for (int64_t e = threadIdx.x; e < g.length; e += blockDim.x) {
      const int64_t p = first + g.segment_of(e);
      const float scale = weight != nullptr ? rstd * weight[p] : rstd, shift = bias != nullptr ? bias[p] : 0.0f;
      out[e] = normmath::normalized(row[e], mean, scale, shift);
    }
  }
}

__global__ void __launch_bounds__(kMaxThreads)
    row_norm_backward_kernel(normmath::RowGeometry g, const float* dy, const float* x, const float* mean,
                             const float* rstd, const float* weight, float* dx) {
  NORMRT_DYNAMIC_SHARED(float, shared);
  const auto n = static_cast<float>(g.length);
  for (int64_t r = blockIdx.x; r < g.rows; r += gridDim.x) {
    const int64_t base = r * g.length;
    const float m = mean[r], s = rstd[r];
    const float* w = weight != nullptr ? weight + g.row_offset(r) : nullptr;
    float sum_g = 0.0f, sum_gx = 0.0f;
    for (int64_t e = threadIdx.x; e < g.length; e += blockDim.x) {
      const float gi = w != nullptr ? dy[base + e] * w[g.segment_of(e)] : dy[base + e];
      sum_g += gi;
      sum_gx += gi * normmath::xhat(x[base + e], m, s);
    }
    block_sum2(sum_g, sum_gx, shared);
    const float mean_g = sum_g / n, mean_gx = sum_gx / n;
    for (int64_t e = threadIdx.x; e < g.length; e += blockDim.x) {
      const float gi = w != nullptr ? dy[base + e] * w[g.segment_of(e)] : dy[base + e];
      dx[base + e] = normmath::input_grad(s, gi, mean_g, normmath::xhat(x[base + e], m, s), mean_gx);
    }
  }
}

// segment == 1: the rows as a (samples, parameters) matrix, element (i, j) of row i * groups + j / length. A block of
// kColumnTile columns x kRowLanes lanes sums one chunk of rows of its columns (each lane its rows in order, the lanes
// in a fixed tree) into partial_w / partial_b [chunk][parameters].
__global__ void parameter_chunk_kernel(normmath::RowGeometry g, const float* dy, const float* x, const float* mean,
                                       const float* rstd, float* partial_w, float* partial_b, int64_t chunk_rows) {
  NORMRT_DYNAMIC_SHARED(float, lanes);  // [2][kRowLanes][kColumnTile + 1]
  const int64_t cols = g.parameters(), samples = g.rows / g.groups;
  const int64_t j = static_cast<int64_t>(blockIdx.x) * kColumnTile + threadIdx.x;
  const int64_t begin = static_cast<int64_t>(blockIdx.y) * chunk_rows;
  const int64_t end = begin + chunk_rows < samples ? begin + chunk_rows : samples;
  float sum_w = 0.0f, sum_b = 0.0f;
  if (j < cols) {
    for (int64_t i = begin + threadIdx.y; i < end; i += kRowLanes) {
      const int64_t r = i * g.groups + j / g.length;
      const float d = dy[i * cols + j];
      sum_w += d * normmath::xhat(x[i * cols + j], mean[r], rstd[r]);
      sum_b += d;
    }
  }
  const int stride = kColumnTile + 1, half = kRowLanes * stride;
  lanes[threadIdx.y * stride + threadIdx.x] = sum_w;
  lanes[half + threadIdx.y * stride + threadIdx.x] = sum_b;
  __syncthreads();
  for (int width = kRowLanes / 2; width > 0; width /= 2) {
    if (static_cast<int>(threadIdx.y) < width) {
      lanes[threadIdx.y * stride + threadIdx.x] += lanes[(threadIdx.y + width) * stride + threadIdx.x];
      lanes[half + threadIdx.y * stride + threadIdx.x] += lanes[half + (threadIdx.y + width) * stride + threadIdx.x];
    }
    __syncthreads();
  }
  if (threadIdx.y != 0 || j >= cols) return;
  partial_w[static_cast<int64_t>(blockIdx.y) * cols + j] = lanes[threadIdx.x];
  partial_b[static_cast<int64_t>(blockIdx.y) * cols + j] = lanes[half + threadIdx.x];
}

// segment > 1: a warp sums each (sample, channel) segment k = i * parameters + j into partial_w / partial_b [k].
__global__ void __launch_bounds__(kMaxThreads)
    parameter_segment_kernel(normmath::RowGeometry g, const float* dy, const float* x, const float* mean,
                             const float* rstd, float* partial_w, float* partial_b) {
  const int64_t segments = g.rows * g.per_group(), warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);
  const int lane = static_cast<int>(threadIdx.x) % 32;
  for (int64_t k = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32; k < segments; k += warps) {
    const int64_t r = k / g.per_group(), base = k * g.segment;
    const float m = mean[r], s = rstd[r];
    float sum_w = 0.0f, sum_b = 0.0f;
    for (int64_t e = lane; e < g.segment; e += 32) {
      const float d = dy[base + e];
      sum_w += d * normmath::xhat(x[base + e], m, s);
      sum_b += d;
    }
    warp_sum2(sum_w, sum_b);
    if (lane == 0) {
      partial_w[k] = sum_w;
      partial_b[k] = sum_b;
    }
  }
}

// out[j] = the sum of partial[c * cols + j] over c in order, for the weight's and the bias's partial sums.
__global__ void parameter_total_kernel(const float* partial_w, const float* partial_b, float* grad_weight,
                                       float* grad_bias, int64_t chunks, int64_t cols) {
  const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= cols) return;
  float sum_w = 0.0f, sum_b = 0.0f;
  for (int64_t c = 0; c < chunks; ++c) {
    sum_w += partial_w[c * cols + j];
    sum_b += partial_b[c * cols + j];
  }
  grad_weight[j] = sum_w;
  grad_bias[j] = sum_b;
}

constexpr std::size_t kRowShared = sizeof(float) * 2 * (kMaxWarps + 1);

// Partial sums per parameter: chunks of rows (segment 1) or one per sample (segment > 1).
int64_t parameter_chunks(const normmath::RowGeometry& g) {
  const int64_t samples = g.rows / g.groups;
  if (g.segment > 1) return samples;
  return std::clamp<int64_t>((samples + kRowsPerChunk - 1) / kRowsPerChunk, 1, kMaxBlocks);
}

}  // namespace

void row_norm_forward(const normmath::RowGeometry& g, const float* x, const float* weight, const float* bias,
                      float eps, float* y, float* mean, float* rstd, cudaStream_t stream) {
  if (g.rows * g.length == 0) return;
  NORMRT_LAUNCH(row_norm_forward_kernel, dim3(capped_blocks(g.rows)), dim3(row_threads(g.length)), kRowShared, stream,
                g, x, weight, bias, eps, y, mean, rstd);
  NORMRT_CHECK_LAUNCH();
}

int64_t row_norm_backward_workspace_floats(const normmath::RowGeometry& g) {
  return 2 * parameter_chunks(g) * g.parameters();
}

void row_norm_backward(const normmath::RowGeometry& g, const float* dy, const float* x, const float* mean,
                       const float* rstd, const float* weight, float* dx, float* grad_weight, float* grad_bias,
                       float* workspace, cudaStream_t stream) {
  if (g.rows * g.length == 0) return;
  NORMRT_LAUNCH(row_norm_backward_kernel, dim3(capped_blocks(g.rows)), dim3(row_threads(g.length)), kRowShared,
                stream, g, dy, x, mean, rstd, weight, dx);
  NORMRT_CHECK_LAUNCH();
  if (grad_weight == nullptr) return;
  const int64_t cols = g.parameters(), chunks = parameter_chunks(g);
  float *partial_w = workspace, *partial_b = workspace + chunks * cols;
  if (g.segment == 1) {
    const int64_t chunk_rows = (g.rows / g.groups + chunks - 1) / chunks;
    const dim3 grid(static_cast<unsigned>((cols + kColumnTile - 1) / kColumnTile), static_cast<unsigned>(chunks));
    NORMRT_LAUNCH(parameter_chunk_kernel, grid, dim3(kColumnTile, kRowLanes),
                  sizeof(float) * 2 * kRowLanes * (kColumnTile + 1), stream, g, dy, x, mean, rstd, partial_w,
                  partial_b, chunk_rows);
  } else {
    const int64_t warps_per_block = kMaxThreads / 32;
    const unsigned blocks = capped_blocks((chunks * cols + warps_per_block - 1) / warps_per_block);
    NORMRT_LAUNCH(parameter_segment_kernel, dim3(blocks), dim3(kMaxThreads), 0, stream, g, dy, x, mean, rstd,
                  partial_w, partial_b);
  }
  NORMRT_CHECK_LAUNCH();
  NORMRT_LAUNCH(parameter_total_kernel, dim3(static_cast<unsigned>((cols + kMaxThreads - 1) / kMaxThreads)),
                dim3(kMaxThreads), 0, stream, partial_w, partial_b, grad_weight, grad_bias, chunks, cols);
  NORMRT_CHECK_LAUNCH();
}

}  // namespace normrt::NORMRT_KERNEL_NS
