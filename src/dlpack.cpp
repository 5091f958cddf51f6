#include "normrt/dlpack.h"

#include <vector>

#include "memory_layout.h"
#include "normrt/error.h"

namespace normrt {

namespace {

using detail::channels_last_format;
using detail::dense_strides;
using detail::memory_order;

// Whether `strides` describe a dense layout in `order` (size-1 dimensions may have any stride).
bool has_strides(const Shape& shape, const int64_t* strides, const detail::DimOrder& order) {
  const detail::DimStrides expected = dense_strides(shape, order);
  for (std::size_t d = 0; d < shape.size(); ++d)
    if (shape[d] != 1 && strides[d] != expected[d]) return false;
  return true;
}

// What a DLManagedTensor handed out by to_dlpack owns: the tensor (its storage) and the shape and strides arrays.
struct Exported {
  Tensor tensor;
  std::vector<int64_t> shape, strides;
  DLManagedTensor managed{};
};

}  // namespace

DLManagedTensor* to_dlpack(const Tensor& tensor) {
  NORMRT_CHECK(tensor.defined(), "to_dlpack: the tensor is undefined");
  NORMRT_CHECK(tensor.dtype() != DType::Bool, "Bool type is not supported by dlpack");  // PyTorch 1.13's words
  const detail::DimStrides strides =
      dense_strides(tensor.sizes(), memory_order(static_cast<int>(tensor.dim()), tensor.memory_format()));
  auto* e = new Exported{tensor, tensor.sizes(), std::vector<int64_t>(strides.begin(), strides.begin() + tensor.dim()),
                         {}};
  DLTensor& t = e->managed.dl_tensor;
  t.data = tensor.raw_data();
  t.device = tensor.device().is_cuda() ? DLDevice{kDLCUDA, tensor.device().index()} : DLDevice{kDLCPU, 0};
  t.ndim = static_cast<int32_t>(e->shape.size());
  switch (tensor.dtype()) {
    case DType::Int64: t.dtype = DLDataType{kDLInt, 64, 1}; break;
    case DType::Float16: t.dtype = DLDataType{kDLFloat, 16, 1}; break;
    case DType::BFloat16: t.dtype = DLDataType{kDLBfloat, 16, 1}; break;
    case DType::Float32: t.dtype = DLDataType{kDLFloat, 32, 1}; break;
    case DType::Bool: break;  // refused above
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
  // Row-major, or channels-last for 4-d and 5-d tensors (row-major wins where both fit, e.g. C = 1).
  MemoryFormat format = MemoryFormat::Contiguous;
  if (t.strides != nullptr && !has_strides(shape, t.strides, memory_order(t.ndim, MemoryFormat::Contiguous))) {
    const MemoryFormat channels_last = channels_last_format(t.ndim);
    NORMRT_CHECK((t.ndim == 4 || t.ndim == 5) && has_strides(shape, t.strides, memory_order(t.ndim, channels_last)),
                 "from_dlpack: only dense row-major or channels-last tensors are supported; strides ",
                 shape_str(Shape(t.strides, t.strides + t.ndim)), " for shape ", shape_str(shape));
    format = channels_last;
  }
  void* data = static_cast<char*>(t.data) + t.byte_offset;
  return from_blob(data, shape, TensorOptions(device).dtype(dtype).memory_format(format), [managed](void*) {
    if (managed->deleter != nullptr) managed->deleter(managed);
  });
}

}  // namespace normrt
