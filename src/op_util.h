// Internal: argument checks and CUDA launch context shared by the ops' dispatch files.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>

#include "normrt/config.h"
#include "normrt/error.h"
#include "normrt/ops/nn.h"
#include "normrt/tensor.h"
#if NORMRT_WITH_CUDA
#include "cuda_launch.h"
#include "normrt/cuda.h"
#endif

namespace normrt::ops::util {

// dim in [-rank, rank) made non-negative, or PyTorch's "Dimension out of range" error.
inline int64_t wrap_dim(int64_t dim, int64_t rank) {
  NORMRT_CHECK(dim >= -rank && dim < rank, "Dimension out of range (expected to be in range of [", -rank, ", ",
               rank - 1, "], but got ", dim, ")");
  return dim < 0 ? dim + rank : dim;
}

// The (outer, length, inner) view of a row-major shape around `dim`.
struct Around {
  int64_t outer = 1, length, inner = 1;
};
inline Around around(const Shape& shape, int64_t dim) {
  Around a{1, shape[static_cast<std::size_t>(dim)], 1};
  for (int64_t d = 0; d < dim; ++d) a.outer *= shape[static_cast<std::size_t>(d)];
  for (std::size_t d = static_cast<std::size_t>(dim) + 1; d < shape.size(); ++d) a.inner *= shape[d];
  return a;
}

// How PyTorch's Python checks print an input's size: "torch.Size([1, 3])".
inline std::string torch_size_str(const Shape& sizes) { return "torch.Size(" + shape_str(sizes) + ")"; }

// PyTorch's name of a dtype in its type errors ("expected scalar type Long but found Float").
inline const char* scalar_type_name(DType dtype) {
  switch (dtype) {
    case DType::Float32: return "Float";
    case DType::Float16: return "Half";
    case DType::BFloat16: return "BFloat16";
    case DType::Int64: return "Long";
    case DType::Bool: return "Bool";
  }
  return "unknown";
}

// The legacy type name PyTorch's argument checks print: "torch.FloatTensor", "torch.cuda.HalfTensor",
// "torch.LongTensor", and for bfloat16, which has none, ATen's "CPUBFloat16Type" / "CUDABFloat16Type".
inline std::string legacy_type_name(DType dtype, const Device& device) {
  const bool cuda = device.is_cuda();
  if (dtype == DType::BFloat16) return cuda ? "CUDABFloat16Type" : "CPUBFloat16Type";
  const char* name = dtype == DType::Float16 ? "HalfTensor"
                     : dtype == DType::Int64 ? "LongTensor"
                     : dtype == DType::Bool  ? "BoolTensor"
                                             : "FloatTensor";
  return std::string(cuda ? "torch.cuda." : "torch.") + name;
}

// PyTorch's promote_types: a dtype with itself; bool with another, that one; int64 with a floating dtype, that one;
// two floating dtypes, float32.
inline DType promote_types(DType x, DType y) {
  if (x == y || y == DType::Bool) return x;
  if (x == DType::Bool) return y;
  if (y == DType::Int64) return x;
  return x == DType::Int64 ? y : DType::Float32;
}

// PyTorch's categories of dtypes in type promotion: bool < integral < floating.
inline int dtype_category(DType dtype) { return dtype == DType::Bool ? 0 : dtype == DType::Int64 ? 1 : 2; }

// PyTorch's result_type of two tensors: promote_types, except that a 0-dim operand (a scalar) beside a dimensioned one
// counts only by its category: a 0-dim float32 beside a float16 tensor gives float16, but a 0-dim floating operand
// makes an int64 result floating (and a 0-dim int64 beside a bool tensor, int64).
inline DType result_type(const Tensor& a, const Tensor& b) {
  if ((a.dim() == 0) == (b.dim() == 0)) return promote_types(a.dtype(), b.dtype());
  const DType higher = (a.dim() > 0 ? a : b).dtype(), lower = (a.dim() > 0 ? b : a).dtype();
  return dtype_category(lower) > dtype_category(higher) ? promote_types(higher, lower) : higher;
}

// The dtype of a tensor op a number (PyTorch's wrapped number): the tensor's, unless the number is of a higher
// category (an integer beside a bool tensor: int64; a floating number beside an integral one: float32).
inline DType dtype_beside(DType tensor, const Scalar& number) {
  if ((number.is_integral() ? 1 : 2) <= dtype_category(tensor)) return tensor;
  return number.is_integral() ? DType::Int64 : DType::Float32;
}

// A target no class index equals: cross_entropy's ignore_index when none is asked for.
constexpr int64_t kNoIgnoredIndex = std::numeric_limits<int64_t>::min();

// cross_entropy without a class weight (src/nn_ops.cpp): fused per row for class indices, where rows whose target is
// ignore_index count for nothing; class probabilities take no ignore_index. The caller has checked label_smoothing
// and, for probabilities, ignore_index.
LossResult unweighted_cross_entropy(const Tensor& logits, const Tensor& targets, Reduction reduction,
                                    double label_smoothing, int64_t ignore_index);
// The same for a contiguous float32 (N, C, d1, ...) input on the CPU against CPU class indices of the shape
// (N, d1, ...) (checked by the caller), computed where the classes lie, without transposing.
LossResult spatial_cross_entropy_cpu(const Tensor& logits, const Tensor& targets, Reduction reduction,
                                     double label_smoothing, int64_t ignore_index);

inline void check_float(const Tensor& t, const char* what) {
  NORMRT_CHECK(t.defined(), what, " is undefined");
  NORMRT_CHECK(t.dtype() == DType::Float32, what, " must be float32, got ", dtype_name(t.dtype()));
}

// float16 / bfloat16 operands of the ops without 16-bit kernels of their own go through the float32 implementation:
// widened exactly, computed in float32, each floating output rounded once to the operands' dtype (what PyTorch's
// kernels for these types do element by element, and a GEMM with float32 accumulation does for its sums).
inline bool is_16bit(DType dtype) { return dtype == DType::Float16 || dtype == DType::BFloat16; }

// The 16-bit dtype the defined floating operands share, or nullopt when none is 16-bit. Operands of two floating
// dtypes are refused, naming both: "linear: expected all floating operands to have one dtype, got float16 and
// float32".
inline std::optional<DType> reduced_dtype(const char* op, std::initializer_list<const Tensor*> operands) {
  const Tensor* first = nullptr;
  for (const Tensor* t : operands) {
    if (!t->defined() || !is_floating(t->dtype())) continue;
    if (first == nullptr) first = t;
    NORMRT_CHECK(t->dtype() == first->dtype(), op, ": expected all floating operands to have one dtype, got ",
                 dtype_name(first->dtype()), " and ", dtype_name(t->dtype()));
  }
  if (first == nullptr || !is_16bit(first->dtype())) return std::nullopt;
  return first->dtype();
}

// A floating operand (float32, float16 or bfloat16), for the ops that take the 16-bit dtypes natively somewhere.
inline void check_floating(const Tensor& t, const char* what) {
  NORMRT_CHECK(t.defined(), what, " is undefined");
  NORMRT_CHECK(is_floating(t.dtype()), what, " must be float32, float16 or bfloat16, got ", dtype_name(t.dtype()));
}

// The elements of a floating tensor, checked by data<T>() for its dtype (and a layout data<T>() accepts).
inline void* elements(Tensor t) {  // a handle: the elements are shared
  switch (t.dtype()) {
    case DType::Float16: return t.data<Half>();
    case DType::BFloat16: return t.data<BFloat16>();
    default: return t.data<float>();
  }
}

// The elements of a dense tensor of dtype T in its own memory order, whatever its memory format: for the ops that
// work element by element in storage order (operands of one memory format share it).
template <typename T>
T* stored(const Tensor& t) {
  NORMRT_CHECK(t.dtype() == dtype_of<T>(), "expected a tensor of dtype ", dtype_name(dtype_of<T>()), " but got ",
               dtype_name(t.dtype()));
  return static_cast<T*>(t.raw_data());
}

// The memory format the result of an elementwise op on these operands takes, as PyTorch's: the first operand's
// with the result's shape (so x + bias keeps x's), contiguous when none has it.
inline MemoryFormat result_format(const Shape& result, std::initializer_list<const Tensor*> operands) {
  for (const Tensor* t : operands)
    if (t->defined() && t->sizes() == result) return t->memory_format();
  return MemoryFormat::Contiguous;
}

// Calls body(T{}) with the element type of a floating dtype, as the CUDA kernels take it: Half, BFloat16 or float.
template <typename Body>
void dispatch_element(DType dtype, Body body) {
  switch (dtype) {
    case DType::Float16: return body(Half{});
    case DType::BFloat16: return body(BFloat16{});
    default: return body(float{});
  }
}

// Calls body(fill) with fill an unsigned integer of dtype's element size holding the dtype's NaN (0 for int64 and
// bool): for the kernels that copy elements as bits and fill what a device cannot read (an index out of range).
template <typename Body>
void dispatch_bits(DType dtype, Body body) {
  switch (dtype) {
    case DType::Bool: return body(uint8_t{0});
    case DType::Float16: return body(uint16_t{0x7e00});
    case DType::BFloat16: return body(uint16_t{0x7fc0});
    case DType::Float32: return body(uint32_t{0x7fc00000});
    case DType::Int64: return body(uint64_t{0});
  }
}

inline Tensor widened(const Tensor& t) { return t.defined() && is_16bit(t.dtype()) ? t.to(DType::Float32) : t; }
inline Tensor narrowed(const Tensor& t, DType dtype) { return t.defined() ? t.to(dtype) : t; }

// Whether the backward of a GEMM-like op (Linear, convolutions) on 16-bit operands runs on them natively: on a GPU,
// with gradient accumulators (*grad_weight, *grad_bias; null or undefined ones too) of the operands' dtype.
inline bool native_16bit_backward(const Tensor& input, DType operands, const Tensor* grad_weight,
                                  const Tensor* grad_bias) {
  const auto of_dtype = [&](const Tensor* acc) {
    return acc == nullptr || !acc->defined() || acc->dtype() == operands;
  };
  return input.device().is_cuda() && of_dtype(grad_weight) && of_dtype(grad_bias);
}

// Otherwise it goes through float32: run(wide_weight, wide_bias) is the float32 backward on the widened operands,
// accumulating into float32 copies of the accumulators (null where the caller passed null), whose sums are then
// rounded once into each accumulator's own dtype (the operands' when it starts undefined); returns the input
// gradient rounded to the operands' dtype.
template <typename Run>
Tensor backward_through_float32(DType operands, Tensor* grad_weight, Tensor* grad_bias, Run run) {
  const auto dtype_of_sum = [&](const Tensor* acc) {
    return acc != nullptr && acc->defined() ? acc->dtype() : operands;
  };
  Tensor wide_weight = grad_weight != nullptr ? widened(*grad_weight) : Tensor();
  Tensor wide_bias = grad_bias != nullptr ? widened(*grad_bias) : Tensor();
  const DType weight_dtype = dtype_of_sum(grad_weight), bias_dtype = dtype_of_sum(grad_bias);
  const Tensor dx = run(grad_weight != nullptr ? &wide_weight : nullptr, grad_bias != nullptr ? &wide_bias : nullptr);
  if (grad_weight != nullptr) *grad_weight = wide_weight.to(weight_dtype);
  if (grad_bias != nullptr) *grad_bias = wide_bias.to(bias_dtype);
  return narrowed(dx, operands);
}

inline void check_same_device(const Tensor& a, const Tensor& b) {
  NORMRT_CHECK(a.device() == b.device(), "Expected all tensors to be on the same device, but found at least two ",
               "devices, ", a.device().str(), " and ", b.device().str(), "!");
}

inline void check_same_shape(const Tensor& a, const char* an, const Tensor& b, const char* bn) {
  NORMRT_CHECK(a.sizes() == b.sizes(), an, " shape ", shape_str(a.sizes()), " does not match ", bn, " shape ",
               shape_str(b.sizes()));
}

// Two float32 tensors of one shape on one device (a gradient and the tensor it belongs to, an input and a target).
inline void check_pair(const Tensor& a, const char* an, const Tensor& b, const char* bn) {
  check_float(a, an);
  check_float(b, bn);
  check_same_shape(a, an, b, bn);
  check_same_device(a, b);
}

// The options of an elementwise result of t: its device, dtype and memory format.
inline TensorOptions like(const Tensor& t) {
  return TensorOptions(t.device()).dtype(t.dtype()).memory_format(t.memory_format());
}

#if NORMRT_WITH_CUDA
// The device of `t` made current, its current stream and SM count.
struct Launch {
  explicit Launch(const Tensor& t)
      : device(t.device().index()), guard(device), stream(cuda::current_stream(device)), sms(cuda::sm_count(device)) {}
  int device;
  cuda::DeviceGuard guard;
  cudaStream_t stream;
  int sms;
};
// counter (one int64 on a CUDA device) += delta, queued on the device's current stream; a CUDA graph that captures
// it advances the counter at every replay. With `unless` (one float32 beside it), only where that flag is zero, as
// the device reads it then.
void advance_device_counter(Tensor& counter, int64_t delta, const Tensor& unless = Tensor());
// Whether the current stream of `device` is being captured into a cuda::Graph.
bool capturing(const Device& device);
#else
[[noreturn]] inline void no_cuda(const char* op) { NORMRT_THROW(op, " on CUDA tensors needs a build with CUDA"); }
#endif

}  // namespace normrt::ops::util
