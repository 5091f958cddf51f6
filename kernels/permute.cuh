// CUDA kernel of the dimension permutation (permute_math.cuh): one thread per output element, a gather.
#pragma once
#include <cstdint>

#include "cuda_compat.cuh"
#include "permute_math.cuh"

namespace normrt::NORMRT_KERNEL_NS {

// out[i] = in[permute_source(g, i)] for every output element; T: an unsigned integer of the element's size (2, 4 or
// 8 bytes: the bits are copied whatever the dtype).
template <typename T>
void permute_copy(const permmath::PermuteGeometry& g, const T* in, T* out, int sm_count, cudaStream_t stream);

}  // namespace normrt::NORMRT_KERNEL_NS
