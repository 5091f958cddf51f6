#include "normrt/ops/comparison.h"

#include <algorithm>
#include <initializer_list>
#include <string>
#include <type_traits>

#include "broadcast_plan.h"
#include "comparison_math.cuh"
#include "cpu_threads.h"
#include "memory_layout.h"
#include "normrt/ops/elementwise.h"
#include "normrt/ops/tensor_ops.h"
#include "op_util.h"
#if NORMRT_WITH_CUDA
#include "comparison.cuh"
#endif

namespace normrt::detail {

cmpmath::Plan broadcast_plan(const Shape& out_shape, MemoryFormat out_format,
                             std::initializer_list<const Tensor*> operands) {
  cmpmath::Plan p;
  const int ndim = static_cast<int>(out_shape.size());
  p.numel = shape_numel(out_shape);
  const detail::DimOrder order = detail::memory_order(ndim, out_format);
  int k = 0;
  for (const Tensor* t : operands) {
    const Shape& shape = t->sizes();
    const int rank = static_cast<int>(shape.size());
    const detail::DimStrides own = detail::dense_strides(shape, detail::memory_order(rank, t->memory_format()));
    for (int i = 0; i < ndim; ++i) {
      const int d = order[static_cast<std::size_t>(i)] - (ndim - rank);
      p.strides[k][i] = d < 0 || shape[static_cast<std::size_t>(d)] == 1 ? 0 : own[static_cast<std::size_t>(d)];
    }
    ++k;
  }
  for (int i = 0; i < ndim; ++i) p.sizes[i] = out_shape[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])];
  int kept = 0;
  for (int d = 0; d < ndim; ++d) {
    if (p.sizes[d] == 1) continue;
    bool merges = kept > 0;
    for (int o = 0; o < cmpmath::kOperands && merges; ++o)
      merges = p.strides[o][kept - 1] == p.strides[o][d] * p.sizes[d];
    const int to = merges ? kept - 1 : kept++;
    p.sizes[to] = merges ? p.sizes[to] * p.sizes[d] : p.sizes[d];
    for (int o = 0; o < cmpmath::kOperands; ++o) p.strides[o][to] = p.strides[o][d];
  }
  p.ndim = kept;
  return p;
}

Shape expanded_sizes(const Tensor& t, const Shape& sizes) {
  const int64_t rank = t.dim(), ndim = static_cast<int64_t>(sizes.size());
  // t's legacy type name ("torch.FloatTensor"), or ATen's where there is none ("CPUBoolType", "CPUBFloat16Type").
  const std::string type = t.dtype() == DType::Bool ? (t.device().is_cuda() ? "CUDABoolType" : "CPUBoolType")
                                                    : ops::util::legacy_type_name(t.dtype(), t.device());
  NORMRT_CHECK(rank <= ndim, "expand(", type, "{", shape_str(t.sizes()), "}, size=", shape_str(sizes),
               "): the number of sizes provided (", ndim, ") must be greater or equal to the number of dimensions in ",
               "the tensor (", rank, ")");
  Shape expanded = sizes;
  for (int64_t d = ndim - 1; d >= 0; --d) {
    const int64_t offset = d - (ndim - rank), target = sizes[static_cast<std::size_t>(d)];
    if (offset < 0) {
      NORMRT_CHECK(target >= 0, "The expanded size of the tensor (", target,
                   ") isn't allowed in a leading, non-existing dimension ", d);
      continue;
    }
    const int64_t existing = t.size(offset);
    if (target == -1) {
      expanded[static_cast<std::size_t>(d)] = existing;
      continue;
    }
    NORMRT_CHECK(target >= 0, "expand: a size must be non-negative or -1 (keep the tensor's), got ", shape_str(sizes));
    NORMRT_CHECK(existing == target || existing == 1, "The expanded size of the tensor (", target,
                 ") must match the existing size (", existing, ") at non-singleton dimension ", d,
                 ".  Target sizes: ", shape_str(sizes), ".  Tensor sizes: ", shape_str(t.sizes()));
  }
  return expanded;
}

}  // namespace normrt::detail

namespace normrt::ops {

namespace {

using cmpmath::Compare;

using detail::check_defined_on_one_device;
using detail::for_each_run;

// The operator as a compile-time constant, so that each CPU loop is specialised.
template <typename Body>
void with_op(Compare op, Body body) {
  switch (op) {
    case Compare::Eq: return body(std::integral_constant<Compare, Compare::Eq>());
    case Compare::Ne: return body(std::integral_constant<Compare, Compare::Ne>());
    case Compare::Lt: return body(std::integral_constant<Compare, Compare::Lt>());
    case Compare::Le: return body(std::integral_constant<Compare, Compare::Le>());
    case Compare::Gt: return body(std::integral_constant<Compare, Compare::Gt>());
    case Compare::Ge: return body(std::integral_constant<Compare, Compare::Ge>());
    case Compare::And: return body(std::integral_constant<Compare, Compare::And>());
    case Compare::Or: return body(std::integral_constant<Compare, Compare::Or>());
    case Compare::Xor: return body(std::integral_constant<Compare, Compare::Xor>());
  }
}

template <Compare K, typename T>
void compare_run(const T* x, int64_t x_step, const T* y, int64_t y_step, bool* z, int64_t n) {
  if (x_step == 1 && y_step == 1) {
    for (int64_t i = 0; i < n; ++i) z[i] = cmpmath::apply(K, x[i], y[i]);
  } else if (x_step == 1 && y_step == 0) {
    const T v = y[0];
    for (int64_t i = 0; i < n; ++i) z[i] = cmpmath::apply(K, x[i], v);
  } else {
    for (int64_t i = 0; i < n; ++i) z[i] = cmpmath::apply(K, x[i * x_step], y[i * y_step]);
  }
}

// z[i] = c[i * c_step] ? x[i * x_step] : y[i * y_step] for i < n, selected by a mask of the condition's bit, so that
// both values load unconditionally and the loops vectorise (a branch per element, mispredicted on a random mask, took
// 16x an addition's time); dense operands and a number on either side (a masked_fill) get loops of their own.
template <typename Bits>
inline Bits select(bool c, Bits x, Bits y) {
  const Bits mask = Bits(0) - static_cast<Bits>(c);
  return static_cast<Bits>((x & mask) | (y & static_cast<Bits>(~mask)));
}

template <typename Bits>
void where_run(const bool* c, int64_t c_step, const Bits* x, int64_t x_step, const Bits* y, int64_t y_step, Bits* z,
               int64_t n) {
  if (c_step == 1 && x_step == 1 && y_step == 1) {
    for (int64_t i = 0; i < n; ++i) z[i] = select(c[i], x[i], y[i]);
  } else if (c_step == 1 && x_step == 0 && y_step == 1) {
    const Bits v = x[0];
    for (int64_t i = 0; i < n; ++i) z[i] = select(c[i], v, y[i]);
  } else if (c_step == 1 && x_step == 1 && y_step == 0) {
    const Bits v = y[0];
    for (int64_t i = 0; i < n; ++i) z[i] = select(c[i], x[i], v);
  } else {
    for (int64_t i = 0; i < n; ++i) z[i] = select(c[i * c_step], x[i * x_step], y[i * y_step]);
  }
}

// Calls body(T{}) with the element type the comparison of `dtype` operands runs on: the dtype's own, 16-bit ones
// on a GPU only (the CPU compares them widened to float32, which is exact).
template <typename Body>
void dispatch_compared(DType dtype, Body body) {
  switch (dtype) {
    case DType::Float32: return body(float{});
    case DType::Float16: return body(Half{});
    case DType::BFloat16: return body(BFloat16{});
    case DType::Int64: return body(int64_t{});
    case DType::Bool: return body(bool{});
  }
}

// a op b, broadcast, in the operands' promoted dtype: a bool tensor.
Tensor compared(Compare op, const Tensor& a, const Tensor& b) {
  check_defined_on_one_device({&a, &b}, "comparison");
  const Shape shape = broadcast_shape(a.sizes(), b.sizes());
  const MemoryFormat format = util::result_format(shape, {&a, &b});
  const DType common = util::result_type(a, b);
  const DType computed = util::is_16bit(common) && !a.device().is_cuda() ? DType::Float32 : common;
  const Tensor x = a.to(common).to(computed), y = b.to(common).to(computed);
  Tensor out = empty(shape, TensorOptions(a.device()).dtype(DType::Bool).memory_format(format));
  const cmpmath::Plan p = detail::broadcast_plan(shape, format, {&x, &y});
  dispatch_compared(computed, [&](auto element) {
    using T = decltype(element);
    const T* xs = static_cast<const T*>(x.raw_data());
    const T* ys = static_cast<const T*>(y.raw_data());
    bool* zs = static_cast<bool*>(out.raw_data());
    if (out.device().is_cuda()) {
#if NORMRT_WITH_CUDA
      const util::Launch l(out);
      cuda::compare(op, xs, ys, zs, p, l.sms, l.stream);
#else
      util::no_cuda("comparison");
#endif
      return;
    }
    if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
      NORMRT_THROW("comparison: 16-bit operands reach the CPU loop");  // widened above
    } else {
      with_op(op, [&](auto op_constant) {
        for_each_run(p, [&](const int64_t* at, const int64_t* steps, int64_t o, int64_t n) {
          compare_run<decltype(op_constant)::value>(xs + at[0], steps[0], ys + at[1], steps[1], zs + o, n);
        });
      });
    }
  });
  return out;
}

Tensor wrapped_beside(const Tensor& t, Scalar number) {
  NORMRT_CHECK(t.defined(), "comparison: an operand is undefined");
  return detail::wrapped_number(number, util::dtype_beside(t.dtype(), number), t.device());
}

Compare kernel_op(CompareOp op) { return static_cast<Compare>(static_cast<int>(op)); }

// A number as where's 0-dim operand: int64 if integral, else float32.
Tensor where_operand(Scalar number, const Tensor& condition) {
  NORMRT_CHECK(condition.defined(), "where: the condition is undefined");
  return detail::wrapped_number(number, number.is_integral() ? DType::Int64 : DType::Float32, condition.device());
}

}  // namespace

Tensor compare(CompareOp op, const Tensor& a, const Tensor& b) { return compared(kernel_op(op), a, b); }
Tensor compare(CompareOp op, const Tensor& a, Scalar b) { return compared(kernel_op(op), a, wrapped_beside(a, b)); }

Tensor eq(const Tensor& a, const Tensor& b) { return compare(CompareOp::Eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare(CompareOp::Ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare(CompareOp::Lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return compare(CompareOp::Le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare(CompareOp::Gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare(CompareOp::Ge, a, b); }
Tensor eq(const Tensor& a, Scalar b) { return compare(CompareOp::Eq, a, b); }
Tensor ne(const Tensor& a, Scalar b) { return compare(CompareOp::Ne, a, b); }
Tensor lt(const Tensor& a, Scalar b) { return compare(CompareOp::Lt, a, b); }
Tensor le(const Tensor& a, Scalar b) { return compare(CompareOp::Le, a, b); }
Tensor gt(const Tensor& a, Scalar b) { return compare(CompareOp::Gt, a, b); }
Tensor ge(const Tensor& a, Scalar b) { return compare(CompareOp::Ge, a, b); }

Tensor logical_and(const Tensor& a, const Tensor& b) { return compared(Compare::And, a, b); }
Tensor logical_or(const Tensor& a, const Tensor& b) { return compared(Compare::Or, a, b); }
Tensor logical_xor(const Tensor& a, const Tensor& b) { return compared(Compare::Xor, a, b); }
Tensor logical_not(const Tensor& t) { return compared(Compare::Eq, t, wrapped_beside(t, 0)); }

}  // namespace normrt::ops

namespace normrt::detail {

void where_into(const Tensor& condition, const Tensor& a, const Tensor& b, Tensor& out) {
  const cmpmath::Plan p = broadcast_plan(out.sizes(), out.memory_format(), {&a, &b, &condition});
  const bool* cs = static_cast<const bool*>(condition.raw_data());
  auto with_bits = [&](auto bits) {
    using Bits = decltype(bits);
    const Bits* xs = static_cast<const Bits*>(a.raw_data());
    const Bits* ys = static_cast<const Bits*>(b.raw_data());
    Bits* zs = static_cast<Bits*>(out.raw_data());
    if (out.device().is_cuda()) {
#if NORMRT_WITH_CUDA
      const ops::util::Launch l(out);
      cuda::where(cs, xs, ys, zs, p, l.sms, l.stream);
#else
      ops::util::no_cuda("where");
#endif
      return;
    }
    for_each_run(p, [&](const int64_t* at, const int64_t* steps, int64_t o, int64_t n) {
      ops::where_run(cs + at[2], steps[2], xs + at[0], steps[0], ys + at[1], steps[1], zs + o, n);
    });
  };
  switch (element_size(out.dtype())) {
    case 1: with_bits(uint8_t{}); break;
    case 2: with_bits(uint16_t{}); break;
    case 4: with_bits(uint32_t{}); break;
    default: with_bits(uint64_t{}); break;
  }
}

}  // namespace normrt::detail

namespace normrt::ops {

Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) {
  check_defined_on_one_device({&condition, &a, &b}, "where");
  NORMRT_CHECK(condition.dtype() == DType::Bool, "where expected condition to be a boolean tensor, but got a tensor ",
               "with dtype ", util::scalar_type_name(condition.dtype()));
  const Shape shape = broadcast_shape(broadcast_shape(condition.sizes(), a.sizes()), b.sizes());
  const MemoryFormat format = util::result_format(shape, {&condition, &a, &b});
  const DType common = util::result_type(a, b);
  Tensor out = empty(shape, TensorOptions(a.device()).dtype(common).memory_format(format));
  detail::where_into(condition, a.to(common), b.to(common), out);
  return out;
}

Tensor where(const Tensor& condition, Scalar a, const Tensor& b) {
  return where(condition, where_operand(a, condition), b);
}
Tensor where(const Tensor& condition, const Tensor& a, Scalar b) {
  return where(condition, a, where_operand(b, condition));
}

namespace {
// masked_fill's checks, in PyTorch's order: the shapes (broadcast as mask with t, or in place as t with mask, which
// must give t's own shape), the mask's dtype and device, then the value, converted to t's dtype as fill_ converts it.
Tensor checked_fill_value(const Tensor& t, const Tensor& mask, Scalar value, bool in_place) {
  NORMRT_CHECK(t.defined() && mask.defined(), "masked_fill: self and mask must be defined");
  const Shape shape = in_place ? broadcast_shape(t.sizes(), mask.sizes()) : broadcast_shape(mask.sizes(), t.sizes());
  NORMRT_CHECK(!in_place || shape == t.sizes(), "output with shape ", shape_str(t.sizes()),
               " doesn't match the broadcast shape ", shape_str(shape));
  NORMRT_CHECK(mask.dtype() == DType::Bool, "masked_fill_ only supports boolean masks, but got mask with dtype ",
               util::scalar_type_name(mask.dtype()));
  util::check_same_device(t, mask);
  return full({}, value, TensorOptions(t.device()).dtype(t.dtype()));
}
}  // namespace

Tensor masked_fill(const Tensor& t, const Tensor& mask, Scalar value) {
  return where(mask, checked_fill_value(t, mask, value, false), t);
}

// In place: where's kernel writes t over itself, each element read where it is written.
Tensor& masked_fill_(Tensor& t, const Tensor& mask, Scalar value) {
  detail::where_into(mask, checked_fill_value(t, mask, value, true), t, t);
  t.bump_version();
  return t;
}

Tensor any(const Tensor& t) { return gt(count_nonzero(t), 0); }
Tensor all(const Tensor& t) {
  const Tensor count = count_nonzero(t);  // checks t first
  return eq(count, t.numel());
}
Tensor any(const Tensor& t, int64_t dim, bool keepdim) { return gt(sum(ne(t, 0), dim, keepdim), 0); }
Tensor all(const Tensor& t, int64_t dim, bool keepdim) { return eq(sum(eq(t, 0), dim, keepdim), 0); }
Tensor count_nonzero(const Tensor& t, int64_t dim) { return sum(ne(t, 0), dim); }

namespace {
// A bitwise op in the operands' promoted dtype: bool operands take the logical op (shifts have none), int64 ones
// their bits' op, and floating ones are refused, after the shapes, in PyTorch's words.
Tensor bitwise(cmpmath::BitOp op, const Tensor& a, const Tensor& b, const char* name) {
  check_defined_on_one_device({&a, &b}, name);
  const Shape shape = broadcast_shape(a.sizes(), b.sizes());
  const DType common = util::result_type(a, b);
  const bool shift = op == cmpmath::BitOp::ShiftLeft || op == cmpmath::BitOp::ShiftRight;
  NORMRT_CHECK(common == DType::Int64 || (common == DType::Bool && !shift), "\"", name,
               a.device().is_cuda() ? "_cuda" : "_cpu", "\" not implemented for '", util::scalar_type_name(common),
               "'");
  if (common == DType::Bool) {
    const Compare logical = op == cmpmath::BitOp::And  ? Compare::And
                            : op == cmpmath::BitOp::Or ? Compare::Or
                                                       : Compare::Xor;
    return compared(logical, a, b);
  }
  const MemoryFormat format = util::result_format(shape, {&a, &b});
  const Tensor x = a.to(common), y = b.to(common);
  Tensor out = empty(shape, TensorOptions(a.device()).dtype(common).memory_format(format));
  const cmpmath::Plan p = detail::broadcast_plan(shape, format, {&x, &y});
  const auto* xs = static_cast<const uint64_t*>(x.raw_data());
  const auto* ys = static_cast<const uint64_t*>(y.raw_data());
  auto* zs = static_cast<uint64_t*>(out.raw_data());
  if (out.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    const util::Launch l(out);
    cuda::bitwise(op, xs, ys, zs, p, l.sms, l.stream);
#else
    util::no_cuda(name);
#endif
    return out;
  }
  for_each_run(p, [&](const int64_t* at, const int64_t* steps, int64_t o, int64_t n) {
    for (int64_t i = 0; i < n; ++i)
      zs[o + i] = cmpmath::apply_bits(op, xs[at[0] + i * steps[0]], ys[at[1] + i * steps[1]]);
  });
  return out;
}
}  // namespace

Tensor bitwise_and(const Tensor& a, const Tensor& b) { return bitwise(cmpmath::BitOp::And, a, b, "bitwise_and"); }
Tensor bitwise_or(const Tensor& a, const Tensor& b) { return bitwise(cmpmath::BitOp::Or, a, b, "bitwise_or"); }
Tensor bitwise_xor(const Tensor& a, const Tensor& b) { return bitwise(cmpmath::BitOp::Xor, a, b, "bitwise_xor"); }
Tensor bitwise_and(const Tensor& a, Scalar b) { return bitwise_and(a, wrapped_beside(a, b)); }
Tensor bitwise_or(const Tensor& a, Scalar b) { return bitwise_or(a, wrapped_beside(a, b)); }
Tensor bitwise_xor(const Tensor& a, Scalar b) { return bitwise_xor(a, wrapped_beside(a, b)); }

// ~x is x ^ -1 (every bit flipped); a bool's is logical_not.
Tensor bitwise_not(const Tensor& t) {
  NORMRT_CHECK(t.defined(), "bitwise_not: the tensor is undefined");
  NORMRT_CHECK(t.dtype() == DType::Int64 || t.dtype() == DType::Bool, "\"bitwise_not",
               t.device().is_cuda() ? "_cuda" : "_cpu", "\" not implemented for '", util::scalar_type_name(t.dtype()),
               "'");
  return t.dtype() == DType::Bool ? logical_not(t) : bitwise_xor(t, -1);
}

// PyTorch names the shifts' kernels lshift and rshift.
Tensor bitwise_left_shift(const Tensor& a, const Tensor& b) {
  return bitwise(cmpmath::BitOp::ShiftLeft, a, b, "lshift");
}
Tensor bitwise_right_shift(const Tensor& a, const Tensor& b) {
  return bitwise(cmpmath::BitOp::ShiftRight, a, b, "rshift");
}
Tensor bitwise_left_shift(const Tensor& a, Scalar b) { return bitwise_left_shift(a, wrapped_beside(a, b)); }
Tensor bitwise_right_shift(const Tensor& a, Scalar b) { return bitwise_right_shift(a, wrapped_beside(a, b)); }
Tensor bitwise_left_shift(Scalar a, const Tensor& b) { return bitwise_left_shift(wrapped_beside(b, a), b); }
Tensor bitwise_right_shift(Scalar a, const Tensor& b) { return bitwise_right_shift(wrapped_beside(b, a), b); }

namespace {
// self = op(self, other) after PyTorch's in-place checks: the broadcast shape is self's, then self's dtype holds the
// result's (a bool holds only bools), then op's own checks.
Tensor& bitwise_in_place(Tensor& self, const Tensor& other, Tensor (*op)(const Tensor&, const Tensor&),
                         const char* name) {
  check_defined_on_one_device({&self, &other}, name);
  const Shape shape = broadcast_shape(self.sizes(), other.sizes());
  NORMRT_CHECK(shape == self.sizes(), "output with shape ", shape_str(self.sizes()),
               " doesn't match the broadcast shape ", shape_str(shape));
  const DType result = util::result_type(self, other);
  NORMRT_CHECK(util::dtype_category(result) <= util::dtype_category(self.dtype()), "result type ",
               util::scalar_type_name(result), " can't be cast to the desired output type ",
               util::scalar_type_name(self.dtype()));
  self.copy_(op(self, other));
  return self;
}
}  // namespace

Tensor& bitwise_and_(Tensor& self, const Tensor& other) {
  return bitwise_in_place(self, other, bitwise_and, "bitwise_and_");
}
Tensor& bitwise_or_(Tensor& self, const Tensor& other) {
  return bitwise_in_place(self, other, bitwise_or, "bitwise_or_");
}
Tensor& bitwise_xor_(Tensor& self, const Tensor& other) {
  return bitwise_in_place(self, other, bitwise_xor, "bitwise_xor_");
}
Tensor& bitwise_left_shift_(Tensor& self, const Tensor& other) {
  return bitwise_in_place(self, other, bitwise_left_shift, "bitwise_left_shift_");
}
Tensor& bitwise_right_shift_(Tensor& self, const Tensor& other) {
  return bitwise_in_place(self, other, bitwise_right_shift, "bitwise_right_shift_");
}
Tensor& bitwise_and_(Tensor& self, Scalar other) { return bitwise_and_(self, wrapped_beside(self, other)); }
Tensor& bitwise_or_(Tensor& self, Scalar other) { return bitwise_or_(self, wrapped_beside(self, other)); }
Tensor& bitwise_xor_(Tensor& self, Scalar other) { return bitwise_xor_(self, wrapped_beside(self, other)); }
Tensor& bitwise_left_shift_(Tensor& self, Scalar other) {
  return bitwise_left_shift_(self, wrapped_beside(self, other));
}
Tensor& bitwise_right_shift_(Tensor& self, Scalar other) {
  return bitwise_right_shift_(self, wrapped_beside(self, other));
}
Tensor& bitwise_not_(Tensor& self) {
  self.copy_(bitwise_not(self));
  return self;
}

namespace {
// A bool tensor of t's shape and memory format, every element `value`: an integral tensor's NaN and infinity tests.
Tensor every(const Tensor& t, bool value) {
  return full(t.sizes(), value, TensorOptions(t.device()).dtype(DType::Bool).memory_format(t.memory_format()));
}

// Each element's class read from its bits in one pass (bool, t's shape and memory format); an int64 or bool tensor
// has only finite values.
Tensor classified(const Tensor& t, cmpmath::FloatClass c, const char* op) {
  NORMRT_CHECK(t.defined(), op, ": the tensor is undefined");
  if (!is_floating(t.dtype())) return every(t, c == cmpmath::FloatClass::Finite);
  Tensor out = empty(t.sizes(), TensorOptions(t.device()).dtype(DType::Bool).memory_format(t.memory_format()));
  const cmpmath::Plan p = detail::broadcast_plan(t.sizes(), t.memory_format(), {&t});
  bool* z = static_cast<bool*>(out.raw_data());
  const auto run = [&](auto exponent, auto fraction) {
    using U = decltype(exponent);
    const auto* x = static_cast<const U*>(t.raw_data());
    if (t.device().is_cuda()) {
#if NORMRT_WITH_CUDA
      const util::Launch l(t);
      cuda::classify(c, x, exponent, fraction, z, p, l.sms, l.stream);
#else
      util::no_cuda(op);
#endif
      return;
    }
    for_each_run(p, [&](const int64_t* at, const int64_t* steps, int64_t o, int64_t n) {
      for (int64_t i = 0; i < n; ++i) z[o + i] = cmpmath::in_class(c, x[at[0] + i * steps[0]], exponent, fraction);
    });
  };
  switch (t.dtype()) {
    case DType::Float16: run(uint16_t{0x7c00}, uint16_t{0x03ff}); break;
    case DType::BFloat16: run(uint16_t{0x7f80}, uint16_t{0x007f}); break;
    default: run(uint32_t{0x7f800000}, uint32_t{0x007fffff}); break;
  }
  return out;
}
}  // namespace

Tensor isnan(const Tensor& t) { return classified(t, cmpmath::FloatClass::NaN, "isnan"); }
Tensor isinf(const Tensor& t) { return classified(t, cmpmath::FloatClass::Inf, "isinf"); }
Tensor isfinite(const Tensor& t) { return classified(t, cmpmath::FloatClass::Finite, "isfinite"); }

Tensor isclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan) {
  check_defined_on_one_device({&a, &b}, "isclose");
  NORMRT_CHECK(a.dtype() == b.dtype(), util::scalar_type_name(a.dtype()), " did not match ",
               util::scalar_type_name(b.dtype()));
  NORMRT_CHECK(rtol >= 0, "rtol must be greater than or equal to zero, but got ", rtol);
  NORMRT_CHECK(atol >= 0, "atol must be greater than or equal to zero, but got ", atol);
  Tensor close = eq(a, b);
  if (equal_nan && is_floating(a.dtype())) {
    // PyTorch's isnan(a) &= isnan(b) runs in place on a's shape, which must hold the broadcast.
    const Shape shape = close.sizes();
    NORMRT_CHECK(shape == a.sizes(), "output with shape ", shape_str(a.sizes()), " doesn't match the broadcast shape ",
                 shape_str(shape));
    close = logical_or(close, logical_and(isnan(a), isnan(b)));
  }
  if (rtol == 0 && atol == 0) return close;
  // As PyTorch's: each step rounded to the operands' dtype, bools as float32.
  const Tensor x = a.dtype() == DType::Bool ? a.to(DType::Float32) : a;
  const Tensor y = b.dtype() == DType::Bool ? b.to(DType::Float32) : b;
  const Tensor allowed = atol + abs(rtol * y), actual = abs(x - y);
  return logical_or(close, logical_and(isfinite(actual), le(actual, allowed)));
}

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan) {
  return all(isclose(a, b, rtol, atol, equal_nan)).item<bool>();
}

bool equal(const Tensor& a, const Tensor& b) {
  check_defined_on_one_device({&a, &b}, "equal");
  return a.sizes() == b.sizes() && all(eq(a, b)).item<bool>();
}

}  // namespace normrt::ops

namespace normrt {
Tensor operator==(const Tensor& a, const Tensor& b) { return ops::eq(a, b); }
Tensor operator!=(const Tensor& a, const Tensor& b) { return ops::ne(a, b); }
Tensor operator<(const Tensor& a, const Tensor& b) { return ops::lt(a, b); }
Tensor operator<=(const Tensor& a, const Tensor& b) { return ops::le(a, b); }
Tensor operator>(const Tensor& a, const Tensor& b) { return ops::gt(a, b); }
Tensor operator>=(const Tensor& a, const Tensor& b) { return ops::ge(a, b); }
Tensor operator==(const Tensor& a, Scalar b) { return ops::eq(a, b); }
Tensor operator!=(const Tensor& a, Scalar b) { return ops::ne(a, b); }
Tensor operator<(const Tensor& a, Scalar b) { return ops::lt(a, b); }
Tensor operator<=(const Tensor& a, Scalar b) { return ops::le(a, b); }
Tensor operator>(const Tensor& a, Scalar b) { return ops::gt(a, b); }
Tensor operator>=(const Tensor& a, Scalar b) { return ops::ge(a, b); }

Tensor operator~(const Tensor& t) { return ops::bitwise_not(t); }
Tensor operator&(const Tensor& a, const Tensor& b) { return ops::bitwise_and(a, b); }
Tensor operator|(const Tensor& a, const Tensor& b) { return ops::bitwise_or(a, b); }
Tensor operator^(const Tensor& a, const Tensor& b) { return ops::bitwise_xor(a, b); }
Tensor operator&(const Tensor& a, Scalar b) { return ops::bitwise_and(a, b); }
Tensor operator|(const Tensor& a, Scalar b) { return ops::bitwise_or(a, b); }
Tensor operator^(const Tensor& a, Scalar b) { return ops::bitwise_xor(a, b); }
Tensor operator<<(const Tensor& a, const Tensor& b) { return ops::bitwise_left_shift(a, b); }
Tensor operator>>(const Tensor& a, const Tensor& b) { return ops::bitwise_right_shift(a, b); }
Tensor operator<<(const Tensor& a, Scalar b) { return ops::bitwise_left_shift(a, b); }
Tensor operator>>(const Tensor& a, Scalar b) { return ops::bitwise_right_shift(a, b); }
Tensor& operator&=(Tensor& a, const Tensor& b) { return ops::bitwise_and_(a, b); }
Tensor& operator|=(Tensor& a, const Tensor& b) { return ops::bitwise_or_(a, b); }
Tensor& operator^=(Tensor& a, const Tensor& b) { return ops::bitwise_xor_(a, b); }
Tensor& operator<<=(Tensor& a, const Tensor& b) { return ops::bitwise_left_shift_(a, b); }
Tensor& operator>>=(Tensor& a, const Tensor& b) { return ops::bitwise_right_shift_(a, b); }
Tensor& operator&=(Tensor& a, Scalar b) { return ops::bitwise_and_(a, b); }
Tensor& operator|=(Tensor& a, Scalar b) { return ops::bitwise_or_(a, b); }
Tensor& operator^=(Tensor& a, Scalar b) { return ops::bitwise_xor_(a, b); }
Tensor& operator<<=(Tensor& a, Scalar b) { return ops::bitwise_left_shift_(a, b); }
Tensor& operator>>=(Tensor& a, Scalar b) { return ops::bitwise_right_shift_(a, b); }
}  // namespace normrt
