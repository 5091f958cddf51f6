// CUB behind the emulated device: the loss sums of kernels/reduce.cu as plain host loops with double accumulation,
// queued on the current stream like the kernels (emulated_device.h), so that the losses around them run on the
// emulated device; kernels/reduce.cu itself runs only on a real GPU. cuBLASLt and cuDNN are stood in for at their C
// APIs (emulated_cublaslt.cpp, emulated_cudnn.cpp, emulated_cudnn_conv.cpp), so that normrt's own calls of them run
// here too. Test-only.
#include <cstdint>

#include "emulated_device.h"
#include "reduce.cuh"

namespace normrt {
namespace {

template <typename T, typename Acc>
void host_sum(const T* in, T* out, int64_t n) {
  Acc total = 0;
  for (int64_t i = 0; i < n; ++i) total += in[i];
  *out = static_cast<T>(total);
}

}  // namespace

void cuda::sum(const float* in, float* out, int64_t n, cudaStream_t stream) {
  emu::enqueue(stream, [=] { host_sum<float, double>(in, out, n); });
}
void cuda::sum(const int64_t* in, int64_t* out, int64_t n, cudaStream_t stream) {
  emu::enqueue(stream, [=] { host_sum<int64_t, int64_t>(in, out, n); });
}

}  // namespace normrt
