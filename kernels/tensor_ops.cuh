// CUDA kernels of the general tensor ops (arithmetic with broadcasting).
#pragma once
#include <cstdint>

#include "cuda_compat.cuh"
#include "tensor_math.cuh"

namespace normrt::NORMRT_KERNEL_NS {

// out[i] = a[ia] op b[ib] over p.numel output elements (out may be a when a is not broadcast: in place).
void binary(tmath::Binary op, const float* a, const float* b, float* out, const tmath::Broadcast& p, int sm_count,
            cudaStream_t stream);

}  // namespace normrt::NORMRT_KERNEL_NS
