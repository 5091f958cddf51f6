// cuDNN, cuBLAS and CUB are not emulated: in the emulated-device build their normrt wrappers throw, and the GPU
// tests that need them are left out of that build's run (tests/CMakeLists.txt). Test-only.
#include "batchnorm_backend.h"
#include "linear_cuda.h"
#include "normrt/cuda.h"
#include "normrt/error.h"
#include "reduce.cuh"

namespace normrt {
namespace {

[[noreturn]] void not_emulated(const char* library) {
  NORMRT_THROW(library, " is not part of the emulated CUDA device (tests/simt); this needs a real GPU");
}

}  // namespace

int cuda::cudnn_version() { return 0; }

void bn::cudnn_forward_training(const ForwardTrainingParams&, const Device&) { not_emulated("cuDNN"); }
void bn::cudnn_forward_inference(const ForwardInferenceParams&, const Device&) { not_emulated("cuDNN"); }
void bn::cudnn_backward(const BackwardParams&, double, const Device&) { not_emulated("cuDNN"); }

void detail::cuda_linear_forward(const float*, const float*, const float*, float*, int64_t, int64_t, int64_t, int,
                                 bool) {
  not_emulated("cuBLAS");
}
void detail::cuda_linear_backward(const float*, const float*, const float*, float*, float*, bool, int64_t, int64_t,
                                  int64_t, int, bool) {
  not_emulated("cuBLAS");
}

void cuda::sum(const float*, float*, int64_t, cudaStream_t) { not_emulated("CUB"); }
void cuda::sum(const int64_t*, int64_t*, int64_t, cudaStream_t) { not_emulated("CUB"); }

}  // namespace normrt
