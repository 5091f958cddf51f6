// The emulated cuDNN's handle, tensor descriptor and element access, shared by its batch norm (emulated_cudnn.cpp)
// and its convolutions (emulated_cudnn_conv.cpp). Test-only.
#pragma once
#include <cudnn.h>

#include <cstdint>
#include <functional>
#include <utility>

#include "emulated_device.h"
#include "normrt/half.h"

struct cudnnContext {
  cudaStream_t stream = nullptr;
};

// What cudnnSetTensor4dDescriptor sets (batch norm's descriptors: a format and four sizes) or, from
// cudnnSetTensorNdDescriptor (the convolutions'), a rank with sizes and strides in elements.
struct cudnnTensorStruct {
  cudnnTensorFormat_t format = CUDNN_TENSOR_NCHW;
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  int n = 0, c = 0, h = 0, w = 0;
  int rank = 0;
  int dims[CUDNN_DIM_MAX] = {}, strides[CUDNN_DIM_MAX] = {};
};

namespace emu_cudnn {

inline bool supported_type(cudnnDataType_t t) {
  return t == CUDNN_DATA_FLOAT || t == CUDNN_DATA_HALF || t == CUDNN_DATA_BFLOAT16;
}

// Element i of an array of `type`, widened exactly.
inline double read(cudnnDataType_t type, const void* p, int64_t i) {
  switch (type) {
    case CUDNN_DATA_HALF: return static_cast<float>(static_cast<const normrt::Half*>(p)[i]);
    case CUDNN_DATA_BFLOAT16: return static_cast<float>(static_cast<const normrt::BFloat16*>(p)[i]);
    default: return static_cast<const float*>(p)[i];
  }
}

// Stores v rounded once to `type` (through float, as cuDNN's float32 compute type).
inline void write(cudnnDataType_t type, void* p, int64_t i, double v) {
  const float f = static_cast<float>(v);
  switch (type) {
    case CUDNN_DATA_HALF: static_cast<normrt::Half*>(p)[i] = normrt::Half(f); break;
    case CUDNN_DATA_BFLOAT16: static_cast<normrt::BFloat16*>(p)[i] = normrt::BFloat16(f); break;
    default: static_cast<float*>(p)[i] = f;
  }
}

// The Create/Destroy calls of every descriptor kind (and the handle): a default object on the heap.
template <typename S>
cudnnStatus_t create(S** object) {
  *object = new S;
  return CUDNN_STATUS_SUCCESS;
}

template <typename S>
cudnnStatus_t destroy(S* object) {
  delete object;
  return CUDNN_STATUS_SUCCESS;
}

// Queues work on the handle's stream, as the kernels are (emulated_device.h).
inline cudnnStatus_t enqueue(cudnnHandle_t handle, std::function<void()> work) {
  emu::enqueue(handle->stream, std::move(work));
  return CUDNN_STATUS_SUCCESS;
}

}  // namespace emu_cudnn
