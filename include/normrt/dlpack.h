// Tensors shared with other libraries (PyTorch, CuPy, JAX, ...) through DLPack 0.6, without copies, as
// torch.utils.dlpack does. Needs <dlpack/dlpack.h> (Debian's libdlpack-dev); not part of normrt/normrt.h.
#pragma once
#include <dlpack/dlpack.h>

#include "normrt/tensor.h"

namespace normrt {

// A DLPack view of `tensor` (CPU: kDLCPU, CUDA: kDLCUDA with the device index; float32, float16, bfloat16 or int64:
// a bool tensor is refused, as PyTorch 1.13 refuses it; row-major strides). It keeps the tensor's memory alive until
// the consumer calls its deleter.
DLManagedTensor* to_dlpack(const Tensor& tensor);

// A tensor over a DLPack tensor's memory: float32, float16, bfloat16 or int64, on kDLCPU, kDLCUDAHost (as CPU) or
// kDLCUDA, compact row-major (strides null or row-major; size-1 dimensions may have any stride), any byte_offset. The
// producer's deleter runs when the last normrt handle dies. Anything else is refused with a normrt::Error naming it,
// and then `managed` still belongs to the caller.
Tensor from_dlpack(DLManagedTensor* managed);

}  // namespace normrt
