#include "normrt/dlpack.h"

#include <vector>

#include "normrt/error.h"

namespace normrt {

namespace {

// What a DLManagedTensor handed out by to_dlpack owns: the tensor (its storage) and the shape and strides arrays.
struct Exported {
  Tensor tensor;
  std::vector<int64_t> shape, strides;
  DLManagedTensor managed{};
};

}  // namespace

DLManagedTensor* to_dlpack(const Tensor& tensor) {
  NORMRT_CHECK(tensor.defined(), "to_dlpack: the tensor is undefined");
  auto* e = new Exported{tensor, tensor.sizes(), std::vector<int64_t>(tensor.sizes().size()), {}};
  int64_t stride = 1;
  for (std::size_t d = e->shape.size(); d-- > 0;) {
    e->strides[d] = stride;
    stride *= e->shape[d];
  }
  DLTensor& t = e->managed.dl_tensor;
  t.data = tensor.raw_data();
  t.device = tensor.device().is_cuda() ? DLDevice{kDLCUDA, tensor.device().index()} : DLDevice{kDLCPU, 0};
  t.ndim = static_cast<int32_t>(e->shape.size());
  switch (tensor.dtype()) {
    case DType::Int64: t.dtype = DLDataType{kDLInt, 64, 1}; break;
    case DType::Float16: t.dtype = DLDataType{kDLFloat, 16, 1}; break;
    case DType::BFloat16: t.dtype = DLDataType{kDLBfloat, 16, 1}; break;
    case DType::Float32: t.dtype = DLDataType{kDLFloat, 32, 1}; break;
  }
  t.shape = e->shape.data();
  t.strides = e->strides.data();
  t.byte_offset = 0;
  e->managed.manager_ctx = e;
  e->managed.deleter = [](DLManagedTensor* self) { delete static_cast<Exported*>(self->manager_ctx); };
  return &e->managed;
}

Tensor from_dlpack(DLManagedTensor* managed) {
  NORMRT_CHECK(managed != nullptr, "from_dlpack: null DLManagedTensor");
  const DLTensor& t = managed->dl_tensor;
  DType dtype;
  if (t.dtype.code == kDLFloat && t.dtype.bits == 32 && t.dtype.lanes == 1) {
    dtype = DType::Float32;
  } else if (t.dtype.code == kDLInt && t.dtype.bits == 64 && t.dtype.lanes == 1) {
    dtype = DType::Int64;
  } else if (t.dtype.code == kDLFloat && t.dtype.bits == 16 && t.dtype.lanes == 1) {
    dtype = DType::Float16;
  } else if (t.dtype.code == kDLBfloat && t.dtype.bits == 16 && t.dtype.lanes == 1) {
    dtype = DType::BFloat16;
  } else {
    NORMRT_THROW("from_dlpack: dtype (code ", int(t.dtype.code), ", ", int(t.dtype.bits), " bits, ",
                 int(t.dtype.lanes), " lanes) is not supported (float32, float16, bfloat16 and int64 are)");
  }
  Device device = Device::cpu();
  if (t.device.device_type == kDLCUDA) {
    device = Device::cuda(t.device.device_id);
  } else {
    NORMRT_CHECK(t.device.device_type == kDLCPU || t.device.device_type == kDLCUDAHost,
                 "from_dlpack: device type ", int(t.device.device_type), " is not supported (CPU and CUDA are)");
  }
  NORMRT_CHECK(t.ndim >= 0 && t.ndim <= kMaxDims, "from_dlpack: ", t.ndim, " dimensions, at most ", kMaxDims,
               " are supported");
  Shape shape(t.shape, t.shape + t.ndim);
  if (t.strides != nullptr) {
    int64_t expected = 1;
    for (int32_t d = t.ndim; d-- > 0;) {
      NORMRT_CHECK(shape[d] == 1 || t.strides[d] == expected, "from_dlpack: only contiguous (row-major) tensors "
                   "are supported; dimension ", d, " has stride ", t.strides[d], ", expected ", expected);
      expected *= shape[d];
    }
  }
  void* data = static_cast<char*>(t.data) + t.byte_offset;
  return from_blob(data, shape, TensorOptions(device).dtype(dtype), [managed](void*) {
    if (managed->deleter != nullptr) managed->deleter(managed);
  });
}

}  // namespace normrt
