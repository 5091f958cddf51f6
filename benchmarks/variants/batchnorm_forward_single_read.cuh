// Experimental BatchNorm variant 1: forward training that reads x from DRAM once. Not part of the library until
// bench_batchnorm on a GPU shows where it wins (see the .cu file).
#pragma once
#include <cstddef>

#include "batchnorm_params.h"
#include "cuda_compat.cuh"

namespace normrt::bn::NORMRT_KERNEL_NS::variants {

// Whether one block can keep a whole channel (N * S floats) in `max_shared_bytes` of shared memory; S > 1 only.
bool single_read_supported(const Geometry& g, std::size_t max_shared_bytes);
// Same contract as forward_training (kernels/batchnorm.cuh), one launch; requires single_read_supported(). `workspace` holds one unsigned int (zero
// before the first call; each call leaves it zero).
void forward_training_single_read(const ForwardTrainingParams& p, unsigned* workspace,
                                  std::size_t max_shared_bytes, cudaStream_t stream);

}  // namespace normrt::bn::NORMRT_KERNEL_NS::variants
