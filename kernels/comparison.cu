// Comparisons and where: memory-bound elementwise maps with up to three broadcast operands, a grid-stride loop of
// one thread per output element (the general-tensor-op shape of kernels/tensor_ops.cu's binary kernel). 16-bit values
// are compared after widening to float, which is exact, so the result is the CPU's.
#include <algorithm>
#include <type_traits>

#include "comparison.cuh"

namespace normrt::NORMRT_KERNEL_NS {

namespace {
constexpr int kThreads = 256;

template <typename T>
__device__ bool compare_element(cmpmath::Compare op, T x, T y) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>)
    return cmpmath::apply(op, static_cast<float>(x), static_cast<float>(y));
  else
    return cmpmath::apply(op, x, y);
}

template <typename T>
__global__ void compare_kernel(cmpmath::Compare op, const T* a, const T* b, bool* out, cmpmath::Plan p) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.numel; i += stride) {
    int64_t at[cmpmath::kOperands];
    cmpmath::offsets(p, i, at);
    out[i] = compare_element(op, a[at[0]], b[at[1]]);
  }
}

template <typename Bits>
__global__ void where_kernel(const bool* condition, const Bits* a, const Bits* b, Bits* out, cmpmath::Plan p) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.numel; i += stride) {
    int64_t at[cmpmath::kOperands];
    cmpmath::offsets(p, i, at);
    out[i] = condition[at[2]] ? a[at[0]] : b[at[1]];
  }
}

__global__ void bitwise_kernel(cmpmath::BitOp op, const uint64_t* a, const uint64_t* b, uint64_t* out,
                               cmpmath::Plan p) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.numel; i += stride) {
    int64_t at[cmpmath::kOperands];
    cmpmath::offsets(p, i, at);
    out[i] = cmpmath::apply_bits(op, a[at[0]], b[at[1]]);
  }
}

template <typename U>
__global__ void classify_kernel(cmpmath::FloatClass c, const U* x, U exponent, U fraction, bool* out, cmpmath::Plan p) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.numel; i += stride) {
    int64_t at[cmpmath::kOperands];
    cmpmath::offsets(p, i, at);
    out[i] = cmpmath::in_class(c, x[at[0]], exponent, fraction);
  }
}

int64_t grid_for(int64_t n, int sm_count) {
  return std::min<int64_t>((n + kThreads - 1) / kThreads, 16 * static_cast<int64_t>(std::max(sm_count, 1)));
}
}  // namespace

template <typename T>
void compare(cmpmath::Compare op, const T* a, const T* b, bool* out, const cmpmath::Plan& p, int sm_count,
             cudaStream_t stream) {
  if (p.numel == 0) return;
  NORMRT_LAUNCH(compare_kernel<T>, dim3(static_cast<unsigned>(grid_for(p.numel, sm_count))), dim3(kThreads), 0, stream,
                op, a, b, out, p);
  NORMRT_CHECK_LAUNCH();
}

template <typename Bits>
void where(const bool* condition, const Bits* a, const Bits* b, Bits* out, const cmpmath::Plan& p, int sm_count,
           cudaStream_t stream) {
  if (p.numel == 0) return;
  NORMRT_LAUNCH(where_kernel<Bits>, dim3(static_cast<unsigned>(grid_for(p.numel, sm_count))), dim3(kThreads), 0, stream,
                condition, a, b, out, p);
  NORMRT_CHECK_LAUNCH();
}

void bitwise(cmpmath::BitOp op, const uint64_t* a, const uint64_t* b, uint64_t* out, const cmpmath::Plan& p,
             int sm_count, cudaStream_t stream) {
  if (p.numel == 0) return;
  NORMRT_LAUNCH(bitwise_kernel, dim3(static_cast<unsigned>(grid_for(p.numel, sm_count))), dim3(kThreads), 0, stream, op,
                a, b, out, p);
  NORMRT_CHECK_LAUNCH();
}

template <typename U>
void classify(cmpmath::FloatClass c, const U* x, U exponent, U fraction, bool* out, const cmpmath::Plan& p,
              int sm_count, cudaStream_t stream) {
  if (p.numel == 0) return;
  NORMRT_LAUNCH(classify_kernel<U>, dim3(static_cast<unsigned>(grid_for(p.numel, sm_count))), dim3(kThreads), 0, stream,
                c, x, exponent, fraction, out, p);
  NORMRT_CHECK_LAUNCH();
}

template void compare(cmpmath::Compare, const float*, const float*, bool*, const cmpmath::Plan&, int, cudaStream_t);
template void compare(cmpmath::Compare, const Half*, const Half*, bool*, const cmpmath::Plan&, int, cudaStream_t);
template void compare(cmpmath::Compare, const BFloat16*, const BFloat16*, bool*, const cmpmath::Plan&, int,
                      cudaStream_t);
template void compare(cmpmath::Compare, const int64_t*, const int64_t*, bool*, const cmpmath::Plan&, int, cudaStream_t);
template void compare(cmpmath::Compare, const bool*, const bool*, bool*, const cmpmath::Plan&, int, cudaStream_t);
template void where(const bool*, const uint8_t*, const uint8_t*, uint8_t*, const cmpmath::Plan&, int, cudaStream_t);
template void where(const bool*, const uint16_t*, const uint16_t*, uint16_t*, const cmpmath::Plan&, int, cudaStream_t);
template void where(const bool*, const uint32_t*, const uint32_t*, uint32_t*, const cmpmath::Plan&, int, cudaStream_t);
template void where(const bool*, const uint64_t*, const uint64_t*, uint64_t*, const cmpmath::Plan&, int, cudaStream_t);
template void classify(cmpmath::FloatClass, const uint16_t*, uint16_t, uint16_t, bool*, const cmpmath::Plan&, int,
                       cudaStream_t);
template void classify(cmpmath::FloatClass, const uint32_t*, uint32_t, uint32_t, bool*, const cmpmath::Plan&, int,
                       cudaStream_t);

}  // namespace normrt::NORMRT_KERNEL_NS
