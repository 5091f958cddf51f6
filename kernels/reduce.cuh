// Whole-array sums into device memory (CUB on the given stream): the loss and accuracy reductions, which are not
// hot kernels. GPU-only: not part of the SIMT emulator build.
#pragma once
#include <cstdint>

#include <cuda_runtime_api.h>

namespace normrt::cuda {

void sum(const float* in, float* out, int64_t n, cudaStream_t stream);
void sum(const int64_t* in, int64_t* out, int64_t n, cudaStream_t stream);

}  // namespace normrt::cuda
