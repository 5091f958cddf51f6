#include "normrt/ops/ternary.h"

#include <initializer_list>
#include <optional>
#include <type_traits>

#include "broadcast_plan.h"
#include "normrt/error.h"
#include "normrt/ops/elementwise.h"
#include "op_util.h"
#include "ternary_math.cuh"
#if NORMRT_WITH_CUDA
#include "ternary.cuh"
#endif

namespace normrt::ops {

namespace {

using detail::check_defined_on_one_device;
using tmath::computed_t;
using tmath::Ternary;

// PyTorch's result_type of several tensors: the dimensioned ones' promoted dtype, unless the 0-dim ones' is of a
// higher category (util::result_type's rule for two).
DType result_type_of(std::initializer_list<const Tensor*> operands) {
  std::optional<DType> dimensioned, zero_dim;
  for (const Tensor* t : operands) {
    std::optional<DType>& kind = t->dim() > 0 ? dimensioned : zero_dim;
    kind = kind ? util::promote_types(*kind, t->dtype()) : t->dtype();
  }
  if (!dimensioned) return *zero_dim;
  if (!zero_dim || util::dtype_category(*zero_dim) <= util::dtype_category(*dimensioned)) return *dimensioned;
  return util::promote_types(*dimensioned, *zero_dim);
}

// The C++ type names PyTorch's lerp prints in its dtype checks.
const char* cpp_type_name(DType dtype) {
  switch (dtype) {
    case DType::Float32: return "float";
    case DType::Float16: return "c10::Half";
    case DType::BFloat16: return "c10::BFloat16";
    case DType::Int64: return "long int";
    case DType::Bool: return "bool";
  }
  return "unknown";
}

// PyTorch's name of the op's kernel, as its dtype refusals name it.
const char* kernel_name(Ternary op, const Device& device) {
  const bool cuda = device.is_cuda();
  switch (op) {
    case Ternary::Addcmul: return cuda ? "addcmul_cuda" : "addcmul_cpu_out";
    case Ternary::Addcdiv: return cuda ? "addcdiv_cuda" : "addcdiv_cpu_out";
    case Ternary::Lerp: return cuda ? "lerp_cuda" : "lerp_kernel_scalar";
    case Ternary::LerpTensor: return cuda ? "lerp_cuda" : "lerp_kernel_tensor";
    case Ternary::Clamp: return cuda ? "clamp_cuda" : "clamp_cpu";
  }
  return "unknown";
}

void check_kernel_dtype(Ternary op, DType dtype, const Device& device) {
  const bool has = op == Ternary::Addcmul || op == Ternary::Clamp ? dtype != DType::Bool : is_floating(dtype);
  NORMRT_CHECK(has, "\"", kernel_name(op, device), "\" not implemented for '", util::scalar_type_name(dtype), "'");
}

// The shape the operands broadcast to, in place (out) their first's own.
Shape checked_shape(std::initializer_list<const Tensor*> operands, bool in_place) {
  Shape shape = (*operands.begin())->sizes();
  for (const Tensor* t : operands) shape = broadcast_shape(shape, t->sizes());
  const Shape& own = (*operands.begin())->sizes();
  NORMRT_CHECK(!in_place || shape == own, "output with shape ", shape_str(own), " doesn't match the broadcast shape ",
               shape_str(shape));
  return shape;
}

bool integral(const Tensor& t) { return t.dtype() == DType::Int64 || t.dtype() == DType::Bool; }

void check_addcdiv_operands(const Tensor& tensor1, const Tensor& tensor2) {
  NORMRT_CHECK(!(integral(tensor1) && integral(tensor2)),
               "Integer division with addcdiv is no longer supported, and in a future  release addcdiv will perform a "
               "true division of tensor1 and tensor2. The historic addcdiv behavior can be implemented as (input + "
               "value * torch.trunc(tensor1 / tensor2)).to(input.dtype) for integer inputs and as (input + value * "
               "tensor1 / tensor2) for float inputs. The future addcdiv behavior is just the latter implementation: "
               "(input + value * tensor1 / tensor2), for all dtypes.");
}

// The value (or lerp's weight) is converted to the type a `result` is computed in (int64 truncated, as PyTorch's
// Scalar::to<int64_t>; floating dtypes' float), refused past its range as PyTorch refuses it.
void check_value(Scalar value, DType result) {
  if (result == DType::Int64) {
    value.to_int64();
  } else {
    ::normrt::detail::check_fits(value, DType::Float32);
  }
}

template <typename C>
C computed_value(Scalar value) {  // checked (check_value)
  if constexpr (std::is_same_v<C, int64_t>) {
    return value.to_int64();
  } else {
    return static_cast<float>(value.to_double());
  }
}

// out[i] = tmath::ternary(x[i], y(i), z(i)) for i < n, y and z each an operand's elements or one value of it: a loop
// that vectorises.
template <Ternary K, typename T, typename Y, typename Z>
void dense_run(const T* x, Y y, Z z, T* out, int64_t n, computed_t<T> value) {
  using C = computed_t<T>;
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(tmath::ternary<K>(static_cast<C>(x[i]), y(i), z(i), value));
}

// out[i] = tmath::ternary(x[i * x_step], y[i * y_step], z[i * z_step]) for i < n (z unused by Lerp, whose third operand
// is the value): a dense x with y and z each dense or one value along the run (a per-channel operand) in loops of
// their own, which vectorise; other steps through the general loop.
template <Ternary K, typename T>
void ternary_run(const T* x, int64_t x_step, const T* y, int64_t y_step, const T* z, int64_t z_step, T* out, int64_t n,
                 computed_t<T> value) {
  using C = computed_t<T>;
  const auto each = [](const T* v) { return [v](int64_t i) { return static_cast<C>(v[i]); }; };
  const auto one = [](C v) { return [v](int64_t) { return v; }; };
  if (K == Ternary::Lerp) z_step = 0;
  const auto third = [&] { return K == Ternary::Lerp ? value : static_cast<C>(z[0]); };
  if (x_step == 1 && y_step <= 1 && z_step <= 1) {
    if (y_step == 1 && z_step == 1) return dense_run<K>(x, each(y), each(z), out, n, value);
    if (y_step == 1) return dense_run<K>(x, each(y), one(third()), out, n, value);
    if (z_step == 1) return dense_run<K>(x, one(static_cast<C>(y[0])), each(z), out, n, value);
    return dense_run<K>(x, one(static_cast<C>(y[0])), one(third()), out, n, value);
  }
  for (int64_t i = 0; i < n; ++i) {
    const C third_value = K == Ternary::Lerp ? value : static_cast<C>(z[i * z_step]);
    out[i] = static_cast<T>(
        tmath::ternary<K>(static_cast<C>(x[i * x_step]), static_cast<C>(y[i * y_step]), third_value, value));
  }
}

template <typename Body>
void with_op(Ternary op, Body body) {
  switch (op) {
    case Ternary::Addcmul: return body(std::integral_constant<Ternary, Ternary::Addcmul>());
    case Ternary::Addcdiv: return body(std::integral_constant<Ternary, Ternary::Addcdiv>());
    case Ternary::Lerp: return body(std::integral_constant<Ternary, Ternary::Lerp>());
    case Ternary::LerpTensor: return body(std::integral_constant<Ternary, Ternary::LerpTensor>());
    case Ternary::Clamp: return body(std::integral_constant<Ternary, Ternary::Clamp>());
  }
}

// out = op(x, y, z) with x, y and z (z undefined for Lerp) of out's dtype, broadcast to out's shape and memory format;
// out may be x.
void run(Ternary op, const Tensor& x, const Tensor& y, const Tensor& z, Scalar value, Tensor& out) {
  const cmpmath::Plan p = z.defined() ? detail::broadcast_plan(out.sizes(), out.memory_format(), {&x, &y, &z})
                                      : detail::broadcast_plan(out.sizes(), out.memory_format(), {&x, &y});
  const auto with_type = [&](auto type) {
    using T = decltype(type);
    using C = computed_t<T>;
    const C v = computed_value<C>(value);
    const T* xs = static_cast<const T*>(x.raw_data());
    const T* ys = static_cast<const T*>(y.raw_data());
    const T* zs = z.defined() ? static_cast<const T*>(z.raw_data()) : nullptr;
    T* os = static_cast<T*>(out.raw_data());
    if (out.device().is_cuda()) {
#if NORMRT_WITH_CUDA
      const util::Launch l(out);
      cuda::ternary(op, xs, ys, zs, os, v, p, l.sms, l.stream);
#else
      util::no_cuda(kernel_name(op, out.device()));
#endif
      return;
    }
    with_op(op, [&](auto kind) {
      constexpr Ternary K = decltype(kind)::value;
      if constexpr (tmath::has_ternary<T>(K)) {
        detail::for_each_run(p, [&](const int64_t* at, const int64_t* steps, int64_t o, int64_t n) {
          ternary_run<K>(xs + at[0], steps[0], ys + at[1], steps[1], zs == nullptr ? nullptr : zs + at[2], steps[2],
                         os + o, n, v);
        });
      }
    });
  };
  switch (out.dtype()) {
    case DType::Float32: return with_type(float{});
    case DType::Float16: return with_type(Half{});
    case DType::BFloat16: return with_type(BFloat16{});
    case DType::Int64: return with_type(int64_t{});
    case DType::Bool: break;  // refused by the callers
  }
  NORMRT_THROW("\"", kernel_name(op, out.device()), "\" not implemented for 'Bool'");
}

// addcmul, addcdiv and clamp with both bounds (tensor1 and tensor2; no value), out of place or (in_place) into self.
Tensor addc(Ternary op, const Tensor& self, const Tensor& tensor1, const Tensor& tensor2, Scalar value, bool in_place) {
  const char* name = op == Ternary::Addcmul ? "addcmul" : op == Ternary::Addcdiv ? "addcdiv" : "clamp";
  for (const Tensor* t : {&self, &tensor1, &tensor2}) NORMRT_CHECK(t->defined(), name, ": an operand is undefined");
  if (op == Ternary::Addcdiv) check_addcdiv_operands(tensor1, tensor2);
  check_defined_on_one_device({&self, &tensor1, &tensor2}, name);
  const Shape shape = checked_shape({&self, &tensor1, &tensor2}, in_place);
  const DType result = result_type_of({&self, &tensor1, &tensor2});
  NORMRT_CHECK(!in_place || util::dtype_category(result) <= util::dtype_category(self.dtype()), "result type ",
               util::scalar_type_name(result), " can't be cast to the desired output type ",
               util::scalar_type_name(self.dtype()));
  check_kernel_dtype(op, result, self.device());
  check_value(value, result);
  const Tensor x = self.to(result), y = tensor1.to(result), z = tensor2.to(result);
  if (in_place && result == self.dtype()) {
    Tensor out = self;
    run(op, x, y, z, value, out);
    out.bump_version();
    return out;
  }
  Tensor out = empty(shape, TensorOptions(self.device())
                                .dtype(result)
                                .memory_format(util::result_format(shape, {&self, &tensor1, &tensor2})));
  run(op, x, y, z, value, out);
  return out;
}

void check_lerp_dtype(const Tensor& start, const Tensor& other, const char* what) {
  NORMRT_CHECK(other.dtype() == start.dtype(), "expected dtype ", cpp_type_name(start.dtype()), " for `", what,
               "` but got dtype ", cpp_type_name(other.dtype()));
}

// lerp, the weight a number (weight undefined) or a tensor, out of place or (in_place) into start.
Tensor lerp_of(const Tensor& start, const Tensor& end, const Tensor& weight, Scalar weight_value, bool in_place) {
  const bool tensor_weight = weight.defined();
  NORMRT_CHECK(start.defined() && end.defined(), "lerp: an operand is undefined");
  check_lerp_dtype(start, end, "end");
  if (tensor_weight) check_lerp_dtype(start, weight, "weight");
  const Ternary op = tensor_weight ? Ternary::LerpTensor : Ternary::Lerp;
  Shape shape;
  if (tensor_weight) {
    check_defined_on_one_device({&start, &end, &weight}, "lerp");
    shape = checked_shape({&start, &end, &weight}, in_place);
  } else {
    check_defined_on_one_device({&start, &end}, "lerp");
    shape = checked_shape({&start, &end}, in_place);
  }
  check_kernel_dtype(op, start.dtype(), start.device());
  check_value(weight_value, start.dtype());
  Tensor out = in_place ? start
                        : empty(shape, TensorOptions(start.device())
                                           .dtype(start.dtype())
                                           .memory_format(util::result_format(shape, {&start, &end, &weight})));
  run(op, start, end, weight, weight_value, out);
  if (in_place) out.bump_version();
  return out;
}

}  // namespace

Tensor addcmul(const Tensor& self, const Tensor& tensor1, const Tensor& tensor2, Scalar value) {
  return addc(Ternary::Addcmul, self, tensor1, tensor2, value, false);
}
Tensor addcdiv(const Tensor& self, const Tensor& tensor1, const Tensor& tensor2, Scalar value) {
  return addc(Ternary::Addcdiv, self, tensor1, tensor2, value, false);
}

Tensor& addcmul_(Tensor& self, const Tensor& tensor1, const Tensor& tensor2, Scalar value) {
  const Tensor result = addc(Ternary::Addcmul, self, tensor1, tensor2, value, true);
  if (!result.is_same(self)) self.copy_(result.to(self.dtype()));
  return self;
}
Tensor& addcdiv_(Tensor& self, const Tensor& tensor1, const Tensor& tensor2, Scalar value) {
  const Tensor result = addc(Ternary::Addcdiv, self, tensor1, tensor2, value, true);
  if (!result.is_same(self)) self.copy_(result.to(self.dtype()));
  return self;
}

Tensor clamp(const Tensor& t, const Tensor& min, const Tensor& max) {
  NORMRT_CHECK(t.defined(), "clamp of an undefined tensor");
  NORMRT_CHECK(min.defined() || max.defined(), "torch.clamp: At least one of 'min' or 'max' must not be None");
  if (!max.defined()) return binary(BinaryOp::Maximum, t, min);  // PyTorch's kernels for one bound
  if (!min.defined()) return binary(BinaryOp::Minimum, t, max);
  return addc(Ternary::Clamp, t, min, max, 0, false);
}
Tensor& clamp_(Tensor& t, const Tensor& min, const Tensor& max) {
  NORMRT_CHECK(t.defined(), "clamp of an undefined tensor");
  NORMRT_CHECK(min.defined() || max.defined(), "torch.clamp: At least one of 'min' or 'max' must not be None");
  if (!max.defined()) return binary_(BinaryOp::Maximum, t, min);
  if (!min.defined()) return binary_(BinaryOp::Minimum, t, max);
  const Tensor result = addc(Ternary::Clamp, t, min, max, 0, true);
  if (!result.is_same(t)) t.copy_(result.to(t.dtype()));
  return t;
}

Tensor lerp(const Tensor& start, const Tensor& end, Scalar weight) {
  return lerp_of(start, end, Tensor(), weight, false);
}
Tensor lerp(const Tensor& start, const Tensor& end, const Tensor& weight) {
  NORMRT_CHECK(weight.defined(), "lerp: an operand is undefined");
  return lerp_of(start, end, weight, 0, false);
}
Tensor& lerp_(Tensor& start, const Tensor& end, Scalar weight) {
  lerp_of(start, end, Tensor(), weight, true);
  return start;
}
Tensor& lerp_(Tensor& start, const Tensor& end, const Tensor& weight) {
  NORMRT_CHECK(weight.defined(), "lerp: an operand is undefined");
  lerp_of(start, end, weight, 0, true);
  return start;
}

}  // namespace normrt::ops
