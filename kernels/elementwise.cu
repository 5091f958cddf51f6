// Elementwise kernels (float32; fill also int64, 16-bit and bool; dtype conversion): grid-stride loops with 64-bit
// indices (memory-bound; no tuning needed yet), and the memory-format conversion's batched transpose in shared-memory
// tiles.
#include "elementwise.cuh"

#include "tensor_math.cuh"

#include <algorithm>
#include <type_traits>

namespace normrt::NORMRT_KERNEL_NS {

namespace {
constexpr int kThreads = 256;

__global__ void axpy_kernel(float* a, const float* b, float alpha, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    a[i] = a[i] + alpha * b[i];
}
__global__ void add_kernel(int64_t* value, int64_t delta, const float* unless) {
  if (unless == nullptr || *unless == 0.0f) *value += delta;
}

template <typename T>
__global__ void fill_kernel(T* out, T value, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) out[i] = value;
}

// Every conversion goes through float, which holds every float16 and bfloat16 value exactly; an int64 is rounded to
// float first, as PyTorch's conversions of int64 to the 16-bit types.
template <typename To>
__device__ To from_float(float v) {
  if constexpr (std::is_same_v<To, bool>) return v != 0.0f;  // NaN too; no non-zero int64 rounds to zero
  else if constexpr (std::is_same_v<To, float>) return v;
  else if constexpr (std::is_same_v<To, int64_t>) return tmath::truncated_int64(v);
  else return To(v);
}

template <typename From, typename To>
__global__ void convert_kernel(const From* in, To* out, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    out[i] = from_float<To>(static_cast<float>(in[i]));
}

// 32x32 tiles through shared memory, a block of 32x8 threads per tile: each warp reads a tile row along the
// matrix's columns and writes one along its rows, so both sides are coalesced (a thread per output element read with
// a stride of `cols` bytes times the element size, one transaction per element); the tile's extra column keeps a
// column's reads off a single shared-memory bank. Blocks stride over the tiles of every matrix. The tile is dynamic
// shared memory, the emulator's per-block kind (tests/simt/simt.h).
constexpr int kTile = 32, kTileRows = 8, kTileStride = kTile + 1;

template <typename T>
__global__ void transpose_batched_kernel(const T* in, T* out, int64_t rows, int64_t cols, int64_t row_tiles,
                                         int64_t col_tiles, int64_t tiles) {
  NORMRT_DYNAMIC_SHARED(T, tile);  // [kTile][kTileStride]
  const int x = static_cast<int>(threadIdx.x);
  for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    const int64_t matrix = t / (row_tiles * col_tiles), within = t % (row_tiles * col_tiles);
    const int64_t r0 = within / col_tiles * kTile, c0 = within % col_tiles * kTile;
    const T* from = in + matrix * rows * cols;
    T* to = out + matrix * rows * cols;
    for (int i = static_cast<int>(threadIdx.y); i < kTile; i += kTileRows)
      if (r0 + i < rows && c0 + x < cols) tile[i * kTileStride + x] = from[(r0 + i) * cols + c0 + x];
    __syncthreads();
    for (int i = static_cast<int>(threadIdx.y); i < kTile; i += kTileRows)
      if (c0 + i < cols && r0 + x < rows) to[(c0 + i) * rows + r0 + x] = tile[x * kTileStride + i];
    __syncthreads();  // the tile is refilled for the block's next one
  }
}

int64_t grid_for(int64_t n, int sm_count) {
  return std::min<int64_t>((n + kThreads - 1) / kThreads, 16 * static_cast<int64_t>(std::max(sm_count, 1)));
}

template <typename T>
void fill_impl(T* out, T value, int64_t n, int sm_count, cudaStream_t stream) {
  if (n == 0) return;
  NORMRT_LAUNCH(fill_kernel<T>, dim3(static_cast<unsigned>(grid_for(n, sm_count))), dim3(kThreads), 0, stream, out,
                value, n);
  NORMRT_CHECK_LAUNCH();
}
}  // namespace

void add(int64_t* value, int64_t delta, cudaStream_t stream, const float* unless) {
  NORMRT_LAUNCH(add_kernel, dim3(1), dim3(1), 0, stream, value, delta, unless);
  NORMRT_CHECK_LAUNCH();
}

void increment(int64_t* value, cudaStream_t stream) { add(value, 1, stream); }

void axpy(float* a, const float* b, float alpha, int64_t n, int sm_count, cudaStream_t stream) {
  if (n == 0) return;
  NORMRT_LAUNCH(axpy_kernel, dim3(static_cast<unsigned>(grid_for(n, sm_count))), dim3(kThreads), 0, stream, a, b,
                alpha, n);
  NORMRT_CHECK_LAUNCH();
}

void fill(float* out, float value, int64_t n, int sm_count, cudaStream_t stream) {
  fill_impl(out, value, n, sm_count, stream);
}

void fill(int64_t* out, int64_t value, int64_t n, int sm_count, cudaStream_t stream) {
  fill_impl(out, value, n, sm_count, stream);
}

void fill(uint16_t* out, uint16_t value, int64_t n, int sm_count, cudaStream_t stream) {
  fill_impl(out, value, n, sm_count, stream);
}

void fill(uint8_t* out, uint8_t value, int64_t n, int sm_count, cudaStream_t stream) {
  fill_impl(out, value, n, sm_count, stream);
}

template <typename From, typename To>
void convert(const From* in, To* out, int64_t n, int sm_count, cudaStream_t stream) {
  if (n == 0) return;
  NORMRT_LAUNCH((convert_kernel<From, To>), dim3(static_cast<unsigned>(grid_for(n, sm_count))), dim3(kThreads), 0,
                stream, in, out, n);
  NORMRT_CHECK_LAUNCH();
}

template <typename T>
void transpose_batched(const T* in, T* out, int64_t batch, int64_t rows, int64_t cols, int sm_count,
                       cudaStream_t stream) {
  if (batch * rows * cols == 0) return;
  const int64_t row_tiles = (rows + kTile - 1) / kTile, col_tiles = (cols + kTile - 1) / kTile;
  const int64_t tiles = batch * row_tiles * col_tiles;
  const int64_t grid = std::min<int64_t>(tiles, 32 * static_cast<int64_t>(std::max(sm_count, 1)));
  NORMRT_LAUNCH(transpose_batched_kernel<T>, dim3(static_cast<unsigned>(grid)), dim3(kTile, kTileRows),
                kTile * kTileStride * sizeof(T), stream, in, out, rows, cols, row_tiles, col_tiles, tiles);
  NORMRT_CHECK_LAUNCH();
}

template void transpose_batched(const uint8_t*, uint8_t*, int64_t, int64_t, int64_t, int, cudaStream_t);
template void transpose_batched(const uint16_t*, uint16_t*, int64_t, int64_t, int64_t, int, cudaStream_t);
template void transpose_batched(const uint32_t*, uint32_t*, int64_t, int64_t, int64_t, int, cudaStream_t);
template void transpose_batched(const uint64_t*, uint64_t*, int64_t, int64_t, int64_t, int, cudaStream_t);

template void convert(const float*, Half*, int64_t, int, cudaStream_t);
template void convert(const float*, BFloat16*, int64_t, int, cudaStream_t);
template void convert(const Half*, float*, int64_t, int, cudaStream_t);
template void convert(const BFloat16*, float*, int64_t, int, cudaStream_t);
template void convert(const Half*, BFloat16*, int64_t, int, cudaStream_t);
template void convert(const BFloat16*, Half*, int64_t, int, cudaStream_t);
template void convert(const int64_t*, float*, int64_t, int, cudaStream_t);
template void convert(const int64_t*, Half*, int64_t, int, cudaStream_t);
template void convert(const int64_t*, BFloat16*, int64_t, int, cudaStream_t);
template void convert(const float*, int64_t*, int64_t, int, cudaStream_t);
template void convert(const Half*, int64_t*, int64_t, int, cudaStream_t);
template void convert(const BFloat16*, int64_t*, int64_t, int, cudaStream_t);
template void convert(const bool*, float*, int64_t, int, cudaStream_t);
template void convert(const bool*, Half*, int64_t, int, cudaStream_t);
template void convert(const bool*, BFloat16*, int64_t, int, cudaStream_t);
template void convert(const bool*, int64_t*, int64_t, int, cudaStream_t);
template void convert(const float*, bool*, int64_t, int, cudaStream_t);
template void convert(const Half*, bool*, int64_t, int, cudaStream_t);
template void convert(const BFloat16*, bool*, int64_t, int, cudaStream_t);
template void convert(const int64_t*, bool*, int64_t, int, cudaStream_t);

}  // namespace normrt::NORMRT_KERNEL_NS
