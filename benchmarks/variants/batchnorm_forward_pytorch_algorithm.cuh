// Experimental BatchNorm variant 2: PyTorch's own CUDA algorithm for fp32 NCHW training, as the reference the
// library's kernels are measured against (see the .cu file). Not part of the library.
#pragma once
#include "batchnorm_params.h"
#include "cuda_compat.cuh"

namespace normrt::bn::NORMRT_KERNEL_NS::variants {

// Whether the variant takes this input: S > 1 (PyTorch runs (N, C) input through its channels-last kernels).
bool pytorch_algorithm_supported(const Geometry& g);
// Same contract as forward_training (kernels/batchnorm.cuh) in PyTorch's three launches; requires
// pytorch_algorithm_supported(). `workspace` holds C floats (the biased variances, as PyTorch saves them).
void forward_training_pytorch_algorithm(const ForwardTrainingParams& p, float* workspace, cudaStream_t stream);

}  // namespace normrt::bn::NORMRT_KERNEL_NS::variants
