// addcmul, addcdiv, lerp and clamp with tensor bounds: memory-bound elementwise maps over up to three broadcast
// operands, a grid-stride loop of one thread per output element (each computing its operands' offsets from the plan, as
// the comparisons' kernels do), the op a template parameter so that each kernel is a plain load-compute-store.
#include <algorithm>

#include "ternary.cuh"

namespace normrt::NORMRT_KERNEL_NS {

namespace {
constexpr int kThreads = 256;

int64_t grid_for(int64_t n, int sm_count) {
  return std::min<int64_t>((n + kThreads - 1) / kThreads, 16 * static_cast<int64_t>(std::max(sm_count, 1)));
}

template <tmath::Ternary K, typename T>
__global__ void ternary_kernel(const T* x, const T* y, const T* z, T* out, tmath::computed_t<T> value,
                               cmpmath::Plan p) {
  using C = tmath::computed_t<T>;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.numel; i += stride) {
    int64_t at[cmpmath::kOperands];
    cmpmath::offsets(p, i, at);
    C third = value;  // Lerp's weight
    if constexpr (K != tmath::Ternary::Lerp) third = static_cast<C>(z[at[2]]);
    out[i] = static_cast<T>(tmath::ternary<K>(static_cast<C>(x[at[0]]), static_cast<C>(y[at[1]]), third, value));
  }
}

template <tmath::Ternary K, typename T>
void launch(const T* x, const T* y, const T* z, T* out, tmath::computed_t<T> value, const cmpmath::Plan& p,
            int sm_count, cudaStream_t stream) {
  NORMRT_LAUNCH((ternary_kernel<K, T>), dim3(static_cast<unsigned>(grid_for(p.numel, sm_count))), dim3(kThreads), 0,
                stream, x, y, z, out, value, p);
  NORMRT_CHECK_LAUNCH();
}
}  // namespace

template <typename T>
void ternary(tmath::Ternary op, const T* x, const T* y, const T* z, T* out, tmath::computed_t<T> value,
             const cmpmath::Plan& p, int sm_count, cudaStream_t stream) {
  if (p.numel == 0) return;
  if constexpr (std::is_same_v<T, int64_t>) {  // addcmul and clamp only (the caller's check)
    if (op == tmath::Ternary::Clamp) return launch<tmath::Ternary::Clamp>(x, y, z, out, value, p, sm_count, stream);
    launch<tmath::Ternary::Addcmul>(x, y, z, out, value, p, sm_count, stream);
  } else {
    switch (op) {
      case tmath::Ternary::Addcmul: return launch<tmath::Ternary::Addcmul>(x, y, z, out, value, p, sm_count, stream);
      case tmath::Ternary::Addcdiv: return launch<tmath::Ternary::Addcdiv>(x, y, z, out, value, p, sm_count, stream);
      case tmath::Ternary::Lerp: return launch<tmath::Ternary::Lerp>(x, y, z, out, value, p, sm_count, stream);
      case tmath::Ternary::LerpTensor:
        return launch<tmath::Ternary::LerpTensor>(x, y, z, out, value, p, sm_count, stream);
      case tmath::Ternary::Clamp: return launch<tmath::Ternary::Clamp>(x, y, z, out, value, p, sm_count, stream);
    }
  }
}

template void ternary(tmath::Ternary, const float*, const float*, const float*, float*, float, const cmpmath::Plan&,
                      int, cudaStream_t);
template void ternary(tmath::Ternary, const Half*, const Half*, const Half*, Half*, float, const cmpmath::Plan&, int,
                      cudaStream_t);
template void ternary(tmath::Ternary, const BFloat16*, const BFloat16*, const BFloat16*, BFloat16*, float,
                      const cmpmath::Plan&, int, cudaStream_t);
template void ternary(tmath::Ternary, const int64_t*, const int64_t*, const int64_t*, int64_t*, int64_t,
                      const cmpmath::Plan&, int, cudaStream_t);

}  // namespace normrt::NORMRT_KERNEL_NS
