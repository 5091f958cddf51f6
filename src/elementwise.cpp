#include "normrt/ops/elementwise.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>
#include <type_traits>

#include "normrt/ops/comparison.h"
#include "normrt/ops/nn.h"

#include "cpu_threads.h"
#include "memory_layout.h"
#include "cuda_launch.h"
#include "op_util.h"
#include "normrt/cuda.h"
#include "normrt/error.h"
#if NORMRT_WITH_CUDA
#include "elementwise.cuh"
#include "graph_pool.h"
#include "tensor_ops.cuh"
#endif
#include "tensor_math.cuh"

namespace normrt::ops {

namespace {

tmath::Binary kernel_op(BinaryOp op) { return static_cast<tmath::Binary>(static_cast<int>(op)); }

void check_operands(const Tensor& a, const Tensor& b) {
  NORMRT_CHECK(a.defined() && b.defined(), "arithmetic on an undefined tensor");
  NORMRT_CHECK(a.device() == b.device(), "Expected all tensors to be on the same device, but found at least two ",
               "devices, ", a.device().str(), " and ", b.device().str(), "!");
}

// PyTorch's result type of a op b (util::result_type), but true division and copysign of integers (and bools) are
// float32.
DType result_dtype(BinaryOp op, const Tensor& a, const Tensor& b) {
  const DType r = util::result_type(a, b);
  return (op == BinaryOp::Div || op == BinaryOp::Copysign) && !is_floating(r) ? DType::Float32 : r;
}

// The integer divisions and remainders.
bool divides(BinaryOp op) {
  return op == BinaryOp::Remainder || op == BinaryOp::Fmod || op == BinaryOp::FloorDivide ||
         op == BinaryOp::TruncDivide;
}

// PyTorch's name of a division's kernel, as its refusals name it.
std::string division_kernel(BinaryOp op, const Device& device) {
  const char* name = op == BinaryOp::Remainder     ? "remainder"
                     : op == BinaryOp::Fmod        ? "fmod"
                     : op == BinaryOp::FloorDivide ? "div_floor"
                                                   : "div_trunc";
  return std::string(name) + (device.is_cuda() ? "_cuda" : "_cpu");
}

// PyTorch's refusals of bool arithmetic it has no meaning for.
void check_bool_arithmetic(BinaryOp op, const Tensor& a, const Tensor& b) {
  const bool a_bool = a.dtype() == DType::Bool, b_bool = b.dtype() == DType::Bool;
  NORMRT_CHECK(!(op == BinaryOp::Sub && a_bool && b_bool), "Subtraction, the `-` operator, with two bool tensors is ",
               "not supported. Use the `^` or `logical_xor()` operator instead.");
  NORMRT_CHECK(!(op == BinaryOp::Sub && (a_bool || b_bool)), "Subtraction, the `-` operator, with a bool tensor is not "
               "supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.");
  if (op == BinaryOp::Pow && a_bool && b_bool) {  // PyTorch's kernel refuses it, after the shapes are checked
    broadcast_shape(a.sizes(), b.sizes());
    NORMRT_THROW("\"pow\" not implemented for 'Bool'");
  }
  if (divides(op) && a_bool && b_bool) {
    broadcast_shape(a.sizes(), b.sizes());
    NORMRT_THROW("\"", division_kernel(op, a.device()), "\" not implemented for 'Bool'");
  }
}

// PyTorch refuses an integer division by zero (where an element is computed: an empty result divides nothing). On a GPU
// finding one reads a flag back: a synchronisation, which an int64 division pays and nothing else.
void check_divisor(BinaryOp op, const Tensor& divisor, DType result, int64_t numel) {
  if (result != DType::Int64 || !divides(op) || numel == 0) return;
  NORMRT_CHECK(all(divisor).item<bool>(), "ZeroDivisionError");
}

// Operands the kernels take as they are: both of the result's dtype, float32 or int64 anywhere, float16 / bfloat16 on
// a GPU or for an op that rounds its steps to the dtype (widened, computed in float and rounded, element by element:
// tmath::element). Others are computed in float32 (as_computed) and rounded once to the result's dtype: the same
// bits.
bool native(BinaryOp op, const Tensor& a, const Tensor& b, DType result) {
  return a.dtype() == result && b.dtype() == result &&
         (result == DType::Float32 || result == DType::Int64 ||
          (result != DType::Bool && (a.device().is_cuda() || tmath::rounds_steps(kernel_op(op)))));
}

// An operand as the float32 the arithmetic of a `result`-dtype op is computed in: first in the result's dtype, as
// PyTorch 1.13 casts every operand (a 0-dim one and a Python scalar too) to the common dtype.
Tensor as_computed(const Tensor& t, DType result) { return t.to(result).to(DType::Float32); }

// The index map of out = a op b, out dense in `out_format` and each operand dense in its own memory format: the
// dimensions are walked in out's memory order, so that out is written in storage order whatever the operands' formats.
tmath::Broadcast plan(const Shape& out_shape, MemoryFormat out_format, const Tensor& a, const Tensor& b) {
  tmath::Broadcast p;
  p.ndim = static_cast<int>(out_shape.size());
  p.numel = shape_numel(out_shape);
  const detail::DimOrder order = detail::memory_order(p.ndim, out_format);
  for (const auto& [t, strides] : {std::make_pair(&a, p.a_strides), std::make_pair(&b, p.b_strides)}) {
    const Shape& shape = t->sizes();
    const int rank = static_cast<int>(shape.size());
    const detail::DimStrides own = detail::dense_strides(shape, detail::memory_order(rank, t->memory_format()));
    for (int i = 0; i < p.ndim; ++i) {
      const int k = order[static_cast<std::size_t>(i)] - (p.ndim - rank);
      strides[i] = k < 0 || shape[static_cast<std::size_t>(k)] == 1 ? 0 : own[static_cast<std::size_t>(k)];
    }
  }
  for (int i = 0; i < p.ndim; ++i)
    p.sizes[i] = out_shape[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])];
  // Coalesced: size-1 dimensions dropped, and each dimension merged into the next where both operands step through
  // them as through one ((N, C, H, W) + (C, 1, 1) is (N, C, H * W) + (C, 1)): fewer coordinates per element, and
  // longer runs along the last one.
  int kept = 0;
  for (int d = 0; d < p.ndim; ++d) {
    if (p.sizes[d] == 1) continue;
    const bool merges = kept > 0 && p.a_strides[kept - 1] == p.a_strides[d] * p.sizes[d] &&
                        p.b_strides[kept - 1] == p.b_strides[d] * p.sizes[d];
    const int to = merges ? kept - 1 : kept++;
    p.sizes[to] = merges ? p.sizes[to] * p.sizes[d] : p.sizes[d];
    p.a_strides[to] = p.a_strides[d];
    p.b_strides[to] = p.b_strides[d];
  }
  p.ndim = kept;
  return p;
}

// z[i] = x(i) op y(i) for i < n, op one of fmod's family on float32 (tmath::takes_fmod): each block of elements with
// tmath::fmod_by_quotient, which vectorises, into a buffer (z may be x), and with fmodf (a libm call per element)
// where it does not cover one of them.
template <tmath::Binary K, typename X, typename Y>
void fmod_family_run(X x, Y y, float* z, int64_t n) {
  constexpr int64_t kBlock = 256;
  float block[kBlock];
  for (int64_t lo = 0; lo < n; lo += kBlock) {
    const int64_t length = std::min(kBlock, n - lo);
    int covered = 1;
#pragma omp simd reduction(& : covered)
    for (int64_t i = 0; i < length; ++i) {
      const float a = x(lo + i), b = y(lo + i);
      const tmath::QuotientFmod mod = tmath::fmod_by_quotient(a, b);
      block[i] = tmath::from_fmod(K, a, b, mod.mod);
      covered &= static_cast<int>(mod.exact);
    }
    if (covered == 0)
      for (int64_t i = 0; i < length; ++i) block[i] = tmath::apply(K, x(lo + i), y(lo + i));
    std::copy_n(block, length, z + lo);
  }
}

// z[i] = x[i * x_step] op y[i * y_step] for i < n: a run along the last dimension of a broadcast. Steps 0 (a
// broadcast value) and 1 each get a plain loop; other steps (operands of another memory format than the result's)
// the general one; fmod's family its own blocks.
template <tmath::Binary K, typename T>
void broadcast_run(const T* x, int64_t x_step, const T* y, int64_t y_step, T* z, int64_t n) {
  if constexpr (tmath::takes_fmod(K) && std::is_same_v<T, float>) {
    const auto at = [](const float* v, int64_t step) { return [v, step](int64_t i) { return v[i * step]; }; };
    const auto each = [](const float* v) { return [v](int64_t i) { return v[i]; }; };
    const auto one = [](const float* v) { return [value = v[0]](int64_t) { return value; }; };
    if (x_step == 1 && y_step == 1) return fmod_family_run<K>(each(x), each(y), z, n);
    if (x_step == 1 && y_step == 0) return fmod_family_run<K>(each(x), one(y), z, n);
    if (x_step == 0 && y_step == 1) return fmod_family_run<K>(one(x), each(y), z, n);
    return fmod_family_run<K>(at(x, x_step), at(y, y_step), z, n);
  }
  if (x_step == 1 && y_step == 1) {
    for (int64_t i = 0; i < n; ++i) z[i] = tmath::element(K, x[i], y[i]);
  } else if (x_step == 1 && y_step == 0) {
    const T v = y[0];
    for (int64_t i = 0; i < n; ++i) z[i] = tmath::element(K, x[i], v);
  } else if (x_step == 0 && y_step == 1) {
    const T v = x[0];
    for (int64_t i = 0; i < n; ++i) z[i] = tmath::element(K, v, y[i]);
  } else if (x_step == 0 && y_step == 0) {
    std::fill_n(z, n, tmath::element(K, x[0], y[0]));
  } else {
    for (int64_t i = 0; i < n; ++i) z[i] = tmath::element(K, x[i * x_step], y[i * y_step]);
  }
}

// Broadcast arithmetic over a coalesced plan: the operands' offsets once per run of the last dimension, long runs
// cut into pieces so that a scalar operand's single run still spreads over the threads.
template <tmath::Binary K, typename T>
void broadcast(const tmath::Broadcast& p, const T* x, const T* y, T* z) {
  constexpr int64_t kPiece = int64_t{1} << 14;
  const int64_t length = p.sizes[p.ndim - 1], runs = p.numel / length, pieces = (length + kPiece - 1) / kPiece;
  const int64_t x_step = p.a_strides[p.ndim - 1], y_step = p.b_strides[p.ndim - 1];
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(p.numel))
  for (int64_t task = 0; task < runs * pieces; ++task) {
    const int64_t r = task / pieces, lo = task % pieces * kPiece;
    int64_t ia, ib;
    tmath::broadcast_offsets(p, r * length, ia, ib);
    broadcast_run<K>(x + ia + lo * x_step, x_step, y + ib + lo * y_step, y_step, z + r * length + lo,
                     std::min(kPiece, length - lo));
  }
}

// z = x op y elementwise. A function of its own: inside run's lambda the loop read x and y through the closure at
// every element and GCC left it scalar (x + x on 32x64x56x56: 1.6-2.5 ms, 0.5x PyTorch's time).
template <tmath::Binary K, typename T>
void same_shape(const T* x, const T* y, T* z, int64_t n) {
  if constexpr (tmath::takes_fmod(K) && std::is_same_v<T, float>) {
    constexpr int64_t kPiece = int64_t{1} << 14;
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(n))
    for (int64_t lo = 0; lo < n; lo += kPiece) broadcast_run<K>(x + lo, 1, y + lo, 1, z + lo, std::min(kPiece, n - lo));
    return;
  }
#pragma omp parallel for simd schedule(static) if (cpu::worth_parallel(n))
  for (int64_t i = 0; i < n; ++i) z[i] = tmath::element(K, x[i], y[i]);
}

void run(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  const tmath::Broadcast p = plan(out.sizes(), out.memory_format(), a, b);
  if (out.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    const util::Launch l(out);
    if (out.dtype() == DType::Int64) {
      normrt::cuda::binary(kernel_op(op), util::stored<int64_t>(a), util::stored<int64_t>(b),
                           util::stored<int64_t>(out), p, l.sms, l.stream);
      return;
    }
    util::dispatch_element(out.dtype(), [&](auto element) {
      using T = decltype(element);
      normrt::cuda::binary(kernel_op(op), util::stored<T>(a), util::stored<T>(b), util::stored<T>(out), p, l.sms,
                           l.stream);
    });
    return;
#else
    NORMRT_THROW("arithmetic on ", out.device().str(), " needs a build with CUDA (NORMRT_WITH_CUDA)");
#endif
  }
  // The operator as a compile-time constant, so that each loop is specialised and vectorised; same-shape operands (a
  // ResNet's residual sum) take one flat loop, the rest (scalar and per-channel operands too) runs along the
  // coalesced plan's last dimension.
  const int64_t n = p.numel;
  // One flat pass where both operands run through memory as the result does (or there is at most one element).
  const bool same = p.ndim == 0 || (p.ndim == 1 && p.a_strides[0] == 1 && p.b_strides[0] == 1);
  const auto in = [&](const auto* x, const auto* y, auto* z, auto op_constant) {
    constexpr tmath::Binary k = decltype(op_constant)::value;
    if (same) {
      same_shape<k>(x, y, z, n);
    } else if (n > 0) {
      broadcast<k>(p, x, y, z);
    }
  };
  const auto each = [&](auto op_constant) {
    if (out.dtype() == DType::Int64)
      return in(util::stored<int64_t>(a), util::stored<int64_t>(b), util::stored<int64_t>(out), op_constant);
    if constexpr (tmath::rounds_steps(decltype(op_constant)::value)) {
      if (out.dtype() == DType::Float16)
        return in(util::stored<Half>(a), util::stored<Half>(b), util::stored<Half>(out), op_constant);
      if (out.dtype() == DType::BFloat16)
        return in(util::stored<BFloat16>(a), util::stored<BFloat16>(b), util::stored<BFloat16>(out), op_constant);
    }
    in(util::stored<float>(a), util::stored<float>(b), util::stored<float>(out), op_constant);
  };
  using B = tmath::Binary;
  switch (kernel_op(op)) {
    case B::Add: return each(std::integral_constant<B, B::Add>());
    case B::Sub: return each(std::integral_constant<B, B::Sub>());
    case B::Mul: return each(std::integral_constant<B, B::Mul>());
    case B::Div: return each(std::integral_constant<B, B::Div>());
    case B::Maximum: return each(std::integral_constant<B, B::Maximum>());
    case B::Minimum: return each(std::integral_constant<B, B::Minimum>());
    case B::Pow: return each(std::integral_constant<B, B::Pow>());
    case B::Remainder: return each(std::integral_constant<B, B::Remainder>());
    case B::Fmod: return each(std::integral_constant<B, B::Fmod>());
    case B::FloorDivide: return each(std::integral_constant<B, B::FloorDivide>());
    case B::TruncDivide: return each(std::integral_constant<B, B::TruncDivide>());
    case B::Copysign: return each(std::integral_constant<B, B::Copysign>());
  }
}

// sin, cos and tan: a block with every element below fmath::kNearAngle (as a tensor of angles has) takes the near
// reduction alone; a block with an element past it, an infinity or a NaN, takes both, blended by each element's size.
template <tmath::Unary K, typename T>
void angle_loop(const T* x, T* y, int64_t n) {
  constexpr int64_t kBlock = 256;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(n))
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t first = b * kBlock, last = std::min(n, first + kBlock);
    int near = 1;
#pragma omp simd reduction(& : near)
    for (int64_t i = first; i < last; ++i) near &= std::fabs(static_cast<float>(x[i])) < fmath::kNearAngle;
    if (near) {
#pragma omp simd
      for (int64_t i = first; i < last; ++i) {
        const float v = static_cast<float>(x[i]);
        y[i] = T(tmath::angle_function(K, v, fmath::quarter_turns_near(std::fabs(v))));
      }
    } else {
#pragma omp simd
      for (int64_t i = first; i < last; ++i) {
        const float v = static_cast<float>(x[i]);
        y[i] = T(tmath::angle_function(K, v, fmath::quarter_turns_blended(std::fabs(v))));
      }
    }
  }
}

// y = op(x) over the storage of x (y is dense in x's memory format, or x itself), float32 or int64 on the CPU (and
// float16 or bfloat16 for an op that rounds its steps); float32, float16, bfloat16 or int64 on a GPU. `args` are
// Clamp's bounds, Pow's exponent or a rounding's power of ten, in the dtype's computation type.
template <tmath::Unary K, typename T, typename A>
void unary_loop(const T* x, T* y, int64_t n, A args) {
  if constexpr (tmath::reduces_angles(K) && !std::is_same_v<T, int64_t>) {
    angle_loop<K>(x, y, n);
  } else {
#pragma omp parallel for simd schedule(static) if (cpu::worth_parallel(n))
    for (int64_t i = 0; i < n; ++i) y[i] = tmath::element(K, x[i], args);
  }
}

void run_unary(tmath::Unary op, const Tensor& x, Tensor& y, tmath::UnaryArgs<float> args,
               tmath::UnaryArgs<int64_t> int_args) {
  const int64_t n = x.numel();
  if (y.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    const util::Launch l(y);
    if (y.dtype() == DType::Int64) {
      normrt::cuda::unary(op, util::stored<int64_t>(x), util::stored<int64_t>(y), n, int_args, l.sms, l.stream);
      return;
    }
    util::dispatch_element(y.dtype(), [&](auto element) {
      using T = decltype(element);
      normrt::cuda::unary(op, util::stored<T>(x), util::stored<T>(y), n, args, l.sms, l.stream);
    });
    return;
#else
    NORMRT_THROW("elementwise functions on ", y.device().str(), " need a build with CUDA (NORMRT_WITH_CUDA)");
#endif
  }
  const auto each = [&](auto op_constant) {
    constexpr tmath::Unary k = decltype(op_constant)::value;
    if (y.dtype() == DType::Int64)
      return unary_loop<k>(util::stored<int64_t>(x), util::stored<int64_t>(y), n, int_args);
    if constexpr (tmath::rounds_steps(k)) {
      if (y.dtype() == DType::Float16) return unary_loop<k>(util::stored<Half>(x), util::stored<Half>(y), n, args);
      if (y.dtype() == DType::BFloat16)
        return unary_loop<k>(util::stored<BFloat16>(x), util::stored<BFloat16>(y), n, args);
    }
    unary_loop<k>(util::stored<float>(x), util::stored<float>(y), n, args);
  };
  using U = tmath::Unary;
  switch (op) {
    case U::Neg: return each(std::integral_constant<U, U::Neg>());
    case U::Abs: return each(std::integral_constant<U, U::Abs>());
    case U::Sqrt: return each(std::integral_constant<U, U::Sqrt>());
    case U::Exp: return each(std::integral_constant<U, U::Exp>());
    case U::Log: return each(std::integral_constant<U, U::Log>());
    case U::Clamp: return each(std::integral_constant<U, U::Clamp>());
    case U::Pow: return each(std::integral_constant<U, U::Pow>());
    case U::Square: return each(std::integral_constant<U, U::Square>());
    case U::Cube: return each(std::integral_constant<U, U::Cube>());
    case U::InverseSquare: return each(std::integral_constant<U, U::InverseSquare>());
    case U::Rsqrt: return each(std::integral_constant<U, U::Rsqrt>());
    case U::Reciprocal: return each(std::integral_constant<U, U::Reciprocal>());
    case U::Floor: return each(std::integral_constant<U, U::Floor>());
    case U::Ceil: return each(std::integral_constant<U, U::Ceil>());
    case U::Round: return each(std::integral_constant<U, U::Round>());
    case U::Trunc: return each(std::integral_constant<U, U::Trunc>());
    case U::Frac: return each(std::integral_constant<U, U::Frac>());
    case U::Sign: return each(std::integral_constant<U, U::Sign>());
    case U::RoundDecimals: return each(std::integral_constant<U, U::RoundDecimals>());
    case U::RoundTens: return each(std::integral_constant<U, U::RoundTens>());
    case U::NanToNum: return each(std::integral_constant<U, U::NanToNum>());
    case U::Log1p: return each(std::integral_constant<U, U::Log1p>());
    case U::Expm1: return each(std::integral_constant<U, U::Expm1>());
    case U::Log2: return each(std::integral_constant<U, U::Log2>());
    case U::Log10: return each(std::integral_constant<U, U::Log10>());
    case U::Exp2: return each(std::integral_constant<U, U::Exp2>());
    case U::Sigmoid: return each(std::integral_constant<U, U::Sigmoid>());
    case U::Tanh: return each(std::integral_constant<U, U::Tanh>());
    case U::Erf: return each(std::integral_constant<U, U::Erf>());
    case U::Erfc: return each(std::integral_constant<U, U::Erfc>());
    case U::Sin: return each(std::integral_constant<U, U::Sin>());
    case U::Cos: return each(std::integral_constant<U, U::Cos>());
    case U::Tan: return each(std::integral_constant<U, U::Tan>());
  }
}

// Clamp's bounds as the op compares them, refused where the result's dtype cannot hold them (PyTorch converts each to
// the tensor's scalar type; rounding a bound to a 16-bit dtype first changes no result, as no element of that dtype
// lies between a number and its rounding), an absent one the lowest or highest value of the computation type. A NaN
// bound alone clamps nothing; beside another it makes every element NaN, and the other goes unchecked (PyTorch 1.13
// fills the result with NaN before its clamp kernel converts a bound).
struct ClampBounds {
  tmath::UnaryArgs<float> floats;
  tmath::UnaryArgs<int64_t> ints;
};

ClampBounds clamp_bounds(const std::optional<Scalar>& min, const std::optional<Scalar>& max, DType dtype) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  ClampBounds b{{-kInf, kInf, 0.0f}, {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), 0}};
  const auto is_nan = [](const std::optional<Scalar>& bound) { return bound && std::isnan(bound->to_double()); };
  if (min && max && (is_nan(min) || is_nan(max))) {
    b.floats = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::quiet_NaN(), 0.0f};
    return b;
  }
  for (const auto& [bound, f, i] :
       {std::tuple(&min, &b.floats.lo, &b.ints.lo), std::tuple(&max, &b.floats.hi, &b.ints.hi)}) {
    if (!bound->has_value() || is_nan(*bound)) continue;
    detail::check_fits(**bound, dtype);
    if (dtype == DType::Int64) {
      *i = (*bound)->to_int64();
    } else {
      *f = (*bound)->to_float();
    }
  }
  return b;
}

// The result's dtype of clamp: the bounds are wrapped numbers, so a floating one makes an int64 tensor's float32.
DType clamp_dtype(const Tensor& t, const std::optional<Scalar>& min, const std::optional<Scalar>& max) {
  DType result = t.dtype();
  for (const auto& bound : {min, max})
    if (bound) result = util::promote_types(result, util::dtype_beside(t.dtype(), *bound));
  return result;
}

void check_clamp(const Tensor& t, const std::optional<Scalar>& min, const std::optional<Scalar>& max) {
  NORMRT_CHECK(t.defined(), "clamp of an undefined tensor");
  NORMRT_CHECK(min || max, "torch.clamp: At least one of 'min' or 'max' must not be None");
}

// floor, ceil, round and trunc.
bool rounds(UnaryOp op) {
  return op == UnaryOp::Floor || op == UnaryOp::Ceil || op == UnaryOp::Round || op == UnaryOp::Trunc;
}

// PyTorch's name of a rounding's kernel, as its refusals name it: "floor_vml_cpu", "floor_cuda".
std::string rounding_kernel(UnaryOp op, const Device& device) {
  const char* name = op == UnaryOp::Floor   ? "floor"
                     : op == UnaryOp::Ceil  ? "ceil"
                     : op == UnaryOp::Round ? "round"
                                            : "trunc";
  return std::string(name) + (device.is_cuda() ? "_cuda" : "_vml_cpu");
}

// sqrt, reciprocal and the transcendental functions of an int64 or bool tensor are float32, as PyTorch's floating
// functions of integers; the rest keep the dtype. PyTorch refuses a bool tensor's negation, absolute value, frac and
// roundings, and an int64 tensor's frac.
DType unary_dtype(UnaryOp op, const Tensor& t) {
  const DType dtype = t.dtype();
  const char* device = t.device().is_cuda() ? "cuda" : "cpu";
  NORMRT_CHECK(!(dtype == DType::Bool && op == UnaryOp::Neg), "Negation, the `-` operator, on a bool tensor is not "
               "supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.");
  NORMRT_CHECK(!(dtype == DType::Bool && op == UnaryOp::Abs), "\"abs_", device, "\" not implemented for 'Bool'");
  NORMRT_CHECK(!(dtype == DType::Bool && rounds(op)), "\"", rounding_kernel(op, t.device()),
               "\" not implemented for 'Bool'");
  NORMRT_CHECK(!(op == UnaryOp::Frac && !is_floating(dtype)), "\"frac_", device, "\" not implemented for '",
               util::scalar_type_name(dtype), "'");
  const bool keeps = op == UnaryOp::Neg || op == UnaryOp::Abs || op == UnaryOp::Sign || rounds(op);
  return !keeps && !is_floating(dtype) ? DType::Float32 : dtype;
}

tmath::Unary kernel_op(UnaryOp op) {
  using U = tmath::Unary;
  switch (op) {
    case UnaryOp::Neg: return U::Neg;
    case UnaryOp::Abs: return U::Abs;
    case UnaryOp::Sqrt: return U::Sqrt;
    case UnaryOp::Exp: return U::Exp;
    case UnaryOp::Log: return U::Log;
    case UnaryOp::Floor: return U::Floor;
    case UnaryOp::Ceil: return U::Ceil;
    case UnaryOp::Round: return U::Round;
    case UnaryOp::Trunc: return U::Trunc;
    case UnaryOp::Frac: return U::Frac;
    case UnaryOp::Sign: return U::Sign;
    case UnaryOp::Rsqrt: return U::Rsqrt;
    case UnaryOp::Log1p: return U::Log1p;
    case UnaryOp::Expm1: return U::Expm1;
    case UnaryOp::Log2: return U::Log2;
    case UnaryOp::Log10: return U::Log10;
    case UnaryOp::Exp2: return U::Exp2;
    case UnaryOp::Sigmoid: return U::Sigmoid;
    case UnaryOp::Tanh: return U::Tanh;
    case UnaryOp::Erf: return U::Erf;
    case UnaryOp::Erfc: return U::Erfc;
    case UnaryOp::Sin: return U::Sin;
    case UnaryOp::Cos: return U::Cos;
    case UnaryOp::Tan: return U::Tan;
    case UnaryOp::Reciprocal: break;
  }
  return U::Reciprocal;
}

// An op that changes nothing: an integer's roundings, a bool's sign.
bool identity(UnaryOp op, DType dtype) {
  return (rounds(op) && dtype == DType::Int64) || (op == UnaryOp::Sign && dtype == DType::Bool);
}

// Whether the storage loop takes t as it is: float32 and int64 anywhere, 16-bit types on a GPU or for an op that
// rounds its steps. Otherwise the op is computed in float32 and rounded once to t's dtype.
bool native(const Tensor& t, tmath::Unary op = tmath::Unary::Neg) {
  return !util::is_16bit(t.dtype()) || t.device().is_cuda() || tmath::rounds_steps(op);
}

Tensor same_layout(const Tensor& t, DType dtype) {
  return empty(t.sizes(), TensorOptions(t.device()).dtype(dtype).memory_format(t.memory_format()));
}
Tensor same_layout(const Tensor& t) { return same_layout(t, t.dtype()); }

// op(t) in t's dtype: computed in float32 and rounded once where the storage loop does not take t as it is.
Tensor unary_with(tmath::Unary op, const Tensor& t, tmath::UnaryArgs<float> args, tmath::UnaryArgs<int64_t> int_args) {
  if (!native(t, op)) return unary_with(op, t.to(DType::Float32), args, int_args).to(t.dtype());
  Tensor out = same_layout(t);
  run_unary(op, t, out, args, int_args);
  return out;
}

// round(t, decimals) for decimals != 0: the op, and 10^|decimals| rounded to t's dtype (PyTorch 1.13 converts the
// double power to the tensor's scalar type).
struct DecimalRounding {
  tmath::Unary op;
  float scale;
};

DecimalRounding decimal_rounding(const Tensor& t, int64_t decimals) {
  NORMRT_CHECK(t.defined(), "round of an undefined tensor");
  NORMRT_CHECK(is_floating(t.dtype()), "\"round_", t.device().is_cuda() ? "cuda" : "cpu", "\" not implemented for '",
               util::scalar_type_name(t.dtype()), "'");
  const auto power = static_cast<float>(std::pow(10.0, std::fabs(static_cast<double>(decimals))));
  const float scale = t.dtype() == DType::BFloat16  ? static_cast<float>(BFloat16(power))
                      : t.dtype() == DType::Float16 ? static_cast<float>(Half(power))
                                                    : power;
  return {decimals > 0 ? tmath::Unary::RoundDecimals : tmath::Unary::RoundTens, scale};
}

// round(t, 0) takes PyTorch's rounding kernel itself, which no integer passes ("\"round_vml_cpu\" not implemented for
// 'Long'") though round(t) returns an integer tensor's copy.
void check_round_decimals_0(const Tensor& t) {
  NORMRT_CHECK(t.defined(), "round of an undefined tensor");
  NORMRT_CHECK(is_floating(t.dtype()), "\"", rounding_kernel(UnaryOp::Round, t.device()), "\" not implemented for '",
               util::scalar_type_name(t.dtype()), "'");
}

// t^exponent's dtype: the exponent is a wrapped number.
DType pow_dtype(const Tensor& t, const Scalar& exponent) { return util::dtype_beside(t.dtype(), exponent); }

void check_pow(const Tensor& t, const Scalar& exponent) {
  NORMRT_CHECK(t.defined(), "pow of an undefined tensor");
  NORMRT_CHECK(!(!is_floating(t.dtype()) && exponent.is_integral() && exponent.to_int64() < 0),
               "Integers to negative integer powers are not allowed.");
}

// The op PyTorch 1.13's CPU kernel runs for x^exponent, exponents 0 and 1 aside, and the exponent it passes. float32
// and bfloat16 take sqrt, 1 / sqrt and 1 / x for 0.5, -0.5 and -1; then, with the exponent compared as a double for
// float32 and rounded to the dtype first for bfloat16 (and refused where it does not fit), x*x, x*x*x and 1 / (x*x)
// for 2, 3 and -2; the rest pow. float16 has no special case but 2 (x*x: the same bits as its pow, as the square of a
// float16 is exact in float), and its exponent is rounded to float16.
struct PowPlan {
  tmath::Unary op;
  float exponent;
};

PowPlan pow_plan(DType dtype, const Scalar& exponent) {
  using U = tmath::Unary;
  const double e = exponent.to_double();
  if (dtype != DType::Float16) {
    if (e == 0.5) return {U::Sqrt, 0.5f};
    if (e == -0.5) return {U::Rsqrt, -0.5f};
    if (e == -1.0) return {U::Reciprocal, -1.0f};
  }
  if (dtype != DType::Float32) detail::check_fits(exponent, dtype);
  const float rounded = dtype == DType::BFloat16  ? static_cast<float>(BFloat16(exponent.to_float()))
                        : dtype == DType::Float16 ? static_cast<float>(Half(exponent.to_float()))
                                                  : exponent.to_float();
  const double compared = dtype == DType::Float32 ? e : rounded;
  if (compared == 2.0) return {U::Square, 2.0f};
  if (dtype != DType::Float16 && compared == 3.0) return {U::Cube, 3.0f};
  if (dtype != DType::Float16 && compared == -2.0) return {U::InverseSquare, -2.0f};
  return {U::Pow, rounded};
}

// bfloat16 arithmetic, as PyTorch's: x*x is rounded to bfloat16 before the third factor or the reciprocal, so these
// plans take two passes.
bool rounds_square_first(DType dtype, const PowPlan& plan) {
  return dtype == DType::BFloat16 && (plan.op == tmath::Unary::Cube || plan.op == tmath::Unary::InverseSquare);
}

// t^exponent for t of the result's dtype and an exponent other than 0 and 1.
Tensor powered(const Tensor& t, const Scalar& exponent) {
  if (t.dtype() == DType::Int64) return unary_with(tmath::Unary::Pow, t, {}, {0, 0, exponent.to_int64()});
  const PowPlan plan = pow_plan(t.dtype(), exponent);
  if (rounds_square_first(t.dtype(), plan)) {
    const Tensor square = unary_with(tmath::Unary::Square, t, {}, {});
    return plan.op == tmath::Unary::Cube ? binary(BinaryOp::Mul, square, t)
                                         : unary_with(tmath::Unary::Reciprocal, square, {}, {});
  }
  return unary_with(plan.op, t, {0.0f, 0.0f, plan.exponent}, {});
}

// nan_to_num's replacements in t's dtype (given ones converted as PyTorch converts them, to float and then the dtype:
// past the range, an infinity), as the kernel's arguments: -inf's, +inf's and NaN's.
tmath::UnaryArgs<float> replacements(DType dtype, std::optional<double> nan, std::optional<double> posinf,
                                     std::optional<double> neginf) {
  const float largest = dtype == DType::Float16    ? 65504.0f
                        : dtype == DType::BFloat16 ? static_cast<float>(BFloat16::from_bits(0x7f7f))
                                                   : std::numeric_limits<float>::max();
  const auto in_dtype = [dtype](double v) {
    // 2^128 - 2^103, halfway between float's largest value and the next power of two: from there on, infinity.
    const float f = std::fabs(v) >= 3.4028235677973366e38 ? std::copysign(INFINITY, v) : static_cast<float>(v);
    return dtype == DType::Float16    ? static_cast<float>(Half(f))
           : dtype == DType::BFloat16 ? static_cast<float>(BFloat16(f))
                                      : f;
  };
  return {neginf ? in_dtype(*neginf) : -largest, posinf ? in_dtype(*posinf) : largest, nan ? in_dtype(*nan) : 0.0f};
}

// div's op for a rounding mode, refused before anything else is looked at (as PyTorch's).
BinaryOp division_op(std::optional<std::string_view> rounding_mode) {
  if (!rounding_mode) return BinaryOp::Div;
  if (*rounding_mode == "trunc") return BinaryOp::TruncDivide;
  NORMRT_CHECK(*rounding_mode == "floor",
               "div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '", *rounding_mode, "'");
  return BinaryOp::FloorDivide;
}

// A number is one of PyTorch's wrapped numbers: it takes the tensor's dtype, except that an integer beside a bool
// tensor is int64 and a floating number beside an int64 or bool tensor float32 (so the result is). Rounding it to that
// dtype first is what PyTorch 1.13's CPU kernels do.
Tensor number_beside(const Tensor& t, Scalar number) {
  return detail::wrapped_number(number, util::dtype_beside(t.dtype(), number), t.device());
}

}  // namespace

Shape broadcast_shape(const Shape& a, const Shape& b) {
  const std::size_t n = std::max(a.size(), b.size());
  Shape out(n);
  // From the last dimension, as PyTorch's infer_size: the mismatch named is the innermost one.
  for (std::size_t i = n; i-- > 0;) {
    const int64_t x = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t y = i < n - b.size() ? 1 : b[i - (n - b.size())];
    NORMRT_CHECK(x == y || x == 1 || y == 1, "The size of tensor a (", x, ") must match the size of tensor b (", y,
                 ") at non-singleton dimension ", i);
    out[i] = x == 1 ? y : x;
  }
  return out;
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  check_operands(a, b);
  check_bool_arithmetic(op, a, b);
  const DType result = result_dtype(op, a, b);
  // int64 beside a bool is exact as int64, and a division that rounds its steps in a 16-bit result's dtype takes its
  // operands in that dtype; the rest is computed in float32 and rounded once to the result's dtype.
  const bool converted = result == DType::Int64 || (util::is_16bit(result) && tmath::rounds_steps(kernel_op(op)));
  if (!native(op, a, b, result) && converted) return binary(op, a.to(result), b.to(result));
  if (!native(op, a, b, result)) return binary(op, as_computed(a, result), as_computed(b, result)).to(result);
  const Shape shape = broadcast_shape(a.sizes(), b.sizes());
  const MemoryFormat format = util::result_format(shape, {&a, &b});
  Tensor out = empty(shape, TensorOptions(a.device()).dtype(a.dtype()).memory_format(format));
  check_divisor(op, b, result, out.numel());
  run(op, a, b, out);
  return out;
}

Tensor& binary_(BinaryOp op, Tensor& a, const Tensor& b) {
  check_operands(a, b);
  const Shape shape = broadcast_shape(a.sizes(), b.sizes());
  NORMRT_CHECK(shape == a.sizes(), "output with shape ", shape_str(a.sizes()),
               " doesn't match the broadcast shape ", shape_str(shape));
  check_bool_arithmetic(op, a, b);
  const DType result = result_dtype(op, a, b);
  NORMRT_CHECK(util::dtype_category(result) <= util::dtype_category(a.dtype()), "result type ",
               util::scalar_type_name(result), " can't be cast to the desired output type ",
               util::scalar_type_name(a.dtype()));
  if (a.dtype() == DType::Bool) {  // computed in float32 (bool results only: checked above)
    a.copy_(binary(op, a, b));
    return a;
  }
  if (a.dtype() == DType::Int64 && b.dtype() == DType::Bool) return binary_(op, a, b.to(DType::Int64));
  if (result == a.dtype() && b.dtype() != result && util::is_16bit(result) && tmath::rounds_steps(kernel_op(op)))
    return binary_(op, a, b.to(result));
  if (!native(op, a, b, a.dtype())) {  // computed in float32 and stored in a's dtype, as PyTorch's in-place ops
    Tensor wide = util::widened(a);
    binary_(op, wide, as_computed(b, result));
    if (!wide.is_same(a)) a.copy_(wide.to(a.dtype()));
    return a;
  }
  if (op == BinaryOp::Add && a.sizes() == b.sizes() && a.memory_format() == b.memory_format() &&
      a.dtype() == DType::Float32) {
    add_scaled_(a, b, 1.0);  // the plain axpy pass (gradient accumulation takes this path)
    return a;
  }
  check_divisor(op, b, result, a.numel());
  run(op, a, b, a);
  a.bump_version();
  return a;
}

Tensor maximum(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Maximum, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Minimum, a, b); }

Tensor unary(UnaryOp op, const Tensor& t) {
  NORMRT_CHECK(t.defined(), "elementwise function of an undefined tensor");
  const DType result = unary_dtype(op, t);
  if (identity(op, t.dtype())) return t.clone();
  if (result != t.dtype()) return unary(op, t.to(result));
  if (!native(t)) return unary(op, t.to(DType::Float32)).to(t.dtype());
  Tensor out = same_layout(t);
  run_unary(kernel_op(op), t, out, {}, {});
  return out;
}

Tensor& unary_(UnaryOp op, Tensor& t) {
  NORMRT_CHECK(t.defined(), "elementwise function of an undefined tensor");
  const DType result = unary_dtype(op, t);
  NORMRT_CHECK(result == t.dtype(), "result type ", util::scalar_type_name(result),
               " can't be cast to the desired output type ", util::scalar_type_name(t.dtype()));
  if (identity(op, t.dtype())) return t;
  if (!native(t)) {
    t.copy_(unary(op, t));
    return t;
  }
  run_unary(kernel_op(op), t, t, {}, {});
  t.bump_version();
  return t;
}

Tensor neg(const Tensor& t) { return unary(UnaryOp::Neg, t); }
Tensor abs(const Tensor& t) { return unary(UnaryOp::Abs, t); }
Tensor sqrt(const Tensor& t) { return unary(UnaryOp::Sqrt, t); }
Tensor exp(const Tensor& t) { return unary(UnaryOp::Exp, t); }
Tensor log(const Tensor& t) { return unary(UnaryOp::Log, t); }
Tensor& neg_(Tensor& t) { return unary_(UnaryOp::Neg, t); }
Tensor& abs_(Tensor& t) { return unary_(UnaryOp::Abs, t); }
Tensor& sqrt_(Tensor& t) { return unary_(UnaryOp::Sqrt, t); }
Tensor& exp_(Tensor& t) { return unary_(UnaryOp::Exp, t); }
Tensor& log_(Tensor& t) { return unary_(UnaryOp::Log, t); }
Tensor floor(const Tensor& t) { return unary(UnaryOp::Floor, t); }
Tensor ceil(const Tensor& t) { return unary(UnaryOp::Ceil, t); }
Tensor round(const Tensor& t) { return unary(UnaryOp::Round, t); }
Tensor trunc(const Tensor& t) { return unary(UnaryOp::Trunc, t); }
Tensor frac(const Tensor& t) { return unary(UnaryOp::Frac, t); }
Tensor sign(const Tensor& t) { return unary(UnaryOp::Sign, t); }
Tensor reciprocal(const Tensor& t) { return unary(UnaryOp::Reciprocal, t); }
Tensor& floor_(Tensor& t) { return unary_(UnaryOp::Floor, t); }
Tensor& ceil_(Tensor& t) { return unary_(UnaryOp::Ceil, t); }
Tensor& round_(Tensor& t) { return unary_(UnaryOp::Round, t); }
Tensor& trunc_(Tensor& t) { return unary_(UnaryOp::Trunc, t); }
Tensor& frac_(Tensor& t) { return unary_(UnaryOp::Frac, t); }
Tensor& sign_(Tensor& t) { return unary_(UnaryOp::Sign, t); }
Tensor& reciprocal_(Tensor& t) { return unary_(UnaryOp::Reciprocal, t); }
Tensor rsqrt(const Tensor& t) { return unary(UnaryOp::Rsqrt, t); }
Tensor log1p(const Tensor& t) { return unary(UnaryOp::Log1p, t); }
Tensor expm1(const Tensor& t) { return unary(UnaryOp::Expm1, t); }
Tensor log2(const Tensor& t) { return unary(UnaryOp::Log2, t); }
Tensor log10(const Tensor& t) { return unary(UnaryOp::Log10, t); }
Tensor exp2(const Tensor& t) { return unary(UnaryOp::Exp2, t); }
Tensor sigmoid(const Tensor& t) { return unary(UnaryOp::Sigmoid, t); }
Tensor tanh(const Tensor& t) { return unary(UnaryOp::Tanh, t); }
Tensor erf(const Tensor& t) { return unary(UnaryOp::Erf, t); }
Tensor erfc(const Tensor& t) { return unary(UnaryOp::Erfc, t); }
Tensor sin(const Tensor& t) { return unary(UnaryOp::Sin, t); }
Tensor cos(const Tensor& t) { return unary(UnaryOp::Cos, t); }
Tensor tan(const Tensor& t) { return unary(UnaryOp::Tan, t); }
Tensor& rsqrt_(Tensor& t) { return unary_(UnaryOp::Rsqrt, t); }
Tensor& log1p_(Tensor& t) { return unary_(UnaryOp::Log1p, t); }
Tensor& expm1_(Tensor& t) { return unary_(UnaryOp::Expm1, t); }
Tensor& log2_(Tensor& t) { return unary_(UnaryOp::Log2, t); }
Tensor& log10_(Tensor& t) { return unary_(UnaryOp::Log10, t); }
Tensor& exp2_(Tensor& t) { return unary_(UnaryOp::Exp2, t); }
Tensor& sigmoid_(Tensor& t) { return unary_(UnaryOp::Sigmoid, t); }
Tensor& tanh_(Tensor& t) { return unary_(UnaryOp::Tanh, t); }
Tensor& erf_(Tensor& t) { return unary_(UnaryOp::Erf, t); }
Tensor& erfc_(Tensor& t) { return unary_(UnaryOp::Erfc, t); }
Tensor& sin_(Tensor& t) { return unary_(UnaryOp::Sin, t); }
Tensor& cos_(Tensor& t) { return unary_(UnaryOp::Cos, t); }
Tensor& tan_(Tensor& t) { return unary_(UnaryOp::Tan, t); }

Tensor round(const Tensor& t, int64_t decimals) {
  if (decimals == 0) {
    check_round_decimals_0(t);
    return round(t);
  }
  const DecimalRounding r = decimal_rounding(t, decimals);
  return unary_with(r.op, t, {0.0f, 0.0f, r.scale}, {});
}

Tensor& round_(Tensor& t, int64_t decimals) {
  if (decimals == 0) {
    check_round_decimals_0(t);
    return round_(t);
  }
  const DecimalRounding r = decimal_rounding(t, decimals);
  if (!native(t, r.op)) {
    t.copy_(round(t, decimals));
    return t;
  }
  run_unary(r.op, t, t, {0.0f, 0.0f, r.scale}, {});
  t.bump_version();
  return t;
}

Tensor clamp(const Tensor& t, std::optional<Scalar> min, std::optional<Scalar> max) {
  check_clamp(t, min, max);
  const DType result = clamp_dtype(t, min, max);
  const ClampBounds bounds = clamp_bounds(min, max, result);
  return unary_with(tmath::Unary::Clamp, t.to(result), bounds.floats, bounds.ints);
}

Tensor& clamp_(Tensor& t, std::optional<Scalar> min, std::optional<Scalar> max) {
  check_clamp(t, min, max);
  const DType result = clamp_dtype(t, min, max);
  // PyTorch's words for this one cast name the C++ type.
  NORMRT_CHECK(result == t.dtype(), "result type ", util::scalar_type_name(result),
               " can't be cast to the desired output type ", t.dtype() == DType::Bool ? "bool" : "long int");
  const ClampBounds bounds = clamp_bounds(min, max, result);
  if (!native(t)) {
    t.copy_(clamp(t, min, max));
    return t;
  }
  run_unary(tmath::Unary::Clamp, t, t, bounds.floats, bounds.ints);
  t.bump_version();
  return t;
}

Tensor clamp_min(const Tensor& t, Scalar min) { return clamp(t, min, std::nullopt); }
Tensor clamp_max(const Tensor& t, Scalar max) { return clamp(t, std::nullopt, max); }

Tensor pow(const Tensor& t, Scalar exponent) {
  check_pow(t, exponent);
  const DType result = pow_dtype(t, exponent);
  const double e = exponent.to_double();
  if (e == 0.0) return same_layout(t, result).fill_(1);
  if (e == 1.0) return result == t.dtype() ? t.clone() : t.to(result);
  return powered(t.to(result), exponent);
}

Tensor& pow_(Tensor& t, Scalar exponent) {
  check_pow(t, exponent);
  const DType result = pow_dtype(t, exponent);
  NORMRT_CHECK(result == t.dtype(), "Found dtype ", util::scalar_type_name(t.dtype()), " but expected ",
               util::scalar_type_name(result));
  const double e = exponent.to_double();
  if (e == 0.0) return t.fill_(1);
  if (e == 1.0) return t;
  if (t.dtype() == DType::Int64) {
    run_unary(tmath::Unary::Pow, t, t, {}, {0, 0, exponent.to_int64()});
    t.bump_version();
    return t;
  }
  const PowPlan plan = pow_plan(t.dtype(), exponent);  // refuses an exponent before t changes
  if (!native(t) || rounds_square_first(t.dtype(), plan)) {
    t.copy_(powered(t, exponent));
    return t;
  }
  run_unary(plan.op, t, t, {0.0f, 0.0f, plan.exponent}, {});
  t.bump_version();
  return t;
}

Tensor pow(const Tensor& base, const Tensor& exponent) { return binary(BinaryOp::Pow, base, exponent); }
Tensor& pow_(Tensor& base, const Tensor& exponent) { return binary_(BinaryOp::Pow, base, exponent); }

Tensor pow(Scalar base, const Tensor& exponent) {
  NORMRT_CHECK(exponent.defined(), "pow of an undefined tensor");
  const Tensor wrapped = number_beside(exponent, base);
  if (base.to_double() == 1.0) return same_layout(exponent, wrapped.dtype()).fill_(1);
  return binary(BinaryOp::Pow, wrapped, exponent);
}

Tensor add(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Div, a, b); }
Tensor& add_(Tensor& a, const Tensor& b) { return binary_(BinaryOp::Add, a, b); }
Tensor& sub_(Tensor& a, const Tensor& b) { return binary_(BinaryOp::Sub, a, b); }
Tensor& mul_(Tensor& a, const Tensor& b) { return binary_(BinaryOp::Mul, a, b); }
Tensor& div_(Tensor& a, const Tensor& b) { return binary_(BinaryOp::Div, a, b); }

Tensor copysign(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Copysign, a, b); }
Tensor copysign(const Tensor& a, Scalar b) { return copysign(a, number_beside(a, b)); }
Tensor& copysign_(Tensor& a, const Tensor& b) { return binary_(BinaryOp::Copysign, a, b); }
Tensor& copysign_(Tensor& a, Scalar b) { return copysign_(a, number_beside(a, b)); }

Tensor nan_to_num(const Tensor& t, std::optional<double> nan, std::optional<double> posinf,
                  std::optional<double> neginf) {
  NORMRT_CHECK(t.defined(), "nan_to_num of an undefined tensor");
  if (!is_floating(t.dtype())) return t.clone();
  return unary_with(tmath::Unary::NanToNum, t, replacements(t.dtype(), nan, posinf, neginf), {});
}

Tensor& nan_to_num_(Tensor& t, std::optional<double> nan, std::optional<double> posinf, std::optional<double> neginf) {
  NORMRT_CHECK(t.defined(), "nan_to_num of an undefined tensor");
  if (!is_floating(t.dtype())) return t;
  const tmath::UnaryArgs<float> args = replacements(t.dtype(), nan, posinf, neginf);
  if (!native(t)) {
    t.copy_(unary_with(tmath::Unary::NanToNum, t, args, {}));
    return t;
  }
  run_unary(tmath::Unary::NanToNum, t, t, args, {});
  t.bump_version();
  return t;
}

Tensor remainder(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Remainder, a, b); }
Tensor remainder(const Tensor& a, Scalar b) { return remainder(a, number_beside(a, b)); }
Tensor remainder(Scalar a, const Tensor& b) { return remainder(number_beside(b, a), b); }
Tensor fmod(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Fmod, a, b); }
Tensor fmod(const Tensor& a, Scalar b) { return fmod(a, number_beside(a, b)); }
Tensor floor_divide(const Tensor& a, const Tensor& b) { return binary(BinaryOp::FloorDivide, a, b); }
Tensor floor_divide(const Tensor& a, Scalar b) { return floor_divide(a, number_beside(a, b)); }
Tensor& remainder_(Tensor& a, const Tensor& b) { return binary_(BinaryOp::Remainder, a, b); }
Tensor& remainder_(Tensor& a, Scalar b) { return remainder_(a, number_beside(a, b)); }
Tensor& fmod_(Tensor& a, const Tensor& b) { return binary_(BinaryOp::Fmod, a, b); }
Tensor& fmod_(Tensor& a, Scalar b) { return fmod_(a, number_beside(a, b)); }
Tensor& floor_divide_(Tensor& a, const Tensor& b) { return binary_(BinaryOp::FloorDivide, a, b); }
Tensor& floor_divide_(Tensor& a, Scalar b) { return floor_divide_(a, number_beside(a, b)); }

Tensor div(const Tensor& a, const Tensor& b, std::optional<std::string_view> rounding_mode) {
  return binary(division_op(rounding_mode), a, b);
}
Tensor div(const Tensor& a, Scalar b, std::optional<std::string_view> rounding_mode) {
  const BinaryOp op = division_op(rounding_mode);
  return binary(op, a, number_beside(a, b));
}
Tensor& div_(Tensor& a, const Tensor& b, std::optional<std::string_view> rounding_mode) {
  return binary_(division_op(rounding_mode), a, b);
}
Tensor& div_(Tensor& a, Scalar b, std::optional<std::string_view> rounding_mode) {
  const BinaryOp op = division_op(rounding_mode);
  return binary_(op, a, number_beside(a, b));
}

void add_scaled_(Tensor& a, const Tensor& b, double alpha) {
  NORMRT_CHECK(a.sizes() == b.sizes(), "add: shape mismatch, ", shape_str(a.sizes()), " vs ", shape_str(b.sizes()));
  NORMRT_CHECK(a.device() == b.device(), "Expected all tensors to be on the same device, but found at least two ",
               "devices, ", a.device().str(), " and ", b.device().str(), "!");
  const Tensor source = b.to(a.memory_format());
  float* out = util::stored<float>(a);
  const float* in = util::stored<float>(source);
  const int64_t n = a.numel();
  const auto scale = static_cast<float>(alpha);
  a.bump_version();
  if (a.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    const int device = a.device().index();
    cuda::DeviceGuard guard(device);
    normrt::cuda::axpy(out, in, scale, n, cuda::sm_count(device), cuda::current_stream(device));
    return;
#else
    NORMRT_THROW("add on ", a.device().str(), " needs a build with CUDA (NORMRT_WITH_CUDA)");
#endif
  }
  for (int64_t i = 0; i < n; ++i) out[i] = out[i] + scale * in[i];
}

#if NORMRT_WITH_CUDA
void util::advance_device_counter(Tensor& counter, int64_t delta, const Tensor& unless) {
  NORMRT_CHECK(counter.defined() && counter.device().is_cuda() && counter.dtype() == DType::Int64 &&
                   counter.numel() == 1,
               "advance_device_counter: expected one int64 on a CUDA device");
  NORMRT_CHECK(!unless.defined() ||
                   (unless.device() == counter.device() && unless.dtype() == DType::Float32 && unless.numel() == 1),
               "advance_device_counter: expected the flag as one float32 on the counter's device");
  const util::Launch l(counter);
  normrt::cuda::add(counter.data<int64_t>(), delta, l.stream, unless.defined() ? unless.data<float>() : nullptr);
  counter.bump_version();
}

bool util::capturing(const Device& device) {
  return device.is_cuda() &&
         cuda::detail::capturing_pool(device.index(), cuda::current_stream(device.index())) != nullptr;
}
#endif

void accumulate_grad(Tensor& tensor, const Tensor& gradient) {
  Tensor& grad = tensor.mutable_grad();
  if (!grad.defined()) {
    grad = gradient.clone();
  } else {
    add_(grad, gradient);
  }
}

}  // namespace normrt::ops

namespace normrt {

using ops::BinaryOp;

using ops::number_beside;

Tensor operator-(const Tensor& t) { return ops::neg(t); }
Tensor operator+(const Tensor& a, const Tensor& b) { return ops::binary(BinaryOp::Add, a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return ops::binary(BinaryOp::Sub, a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return ops::binary(BinaryOp::Mul, a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return ops::binary(BinaryOp::Div, a, b); }
Tensor operator+(const Tensor& a, Scalar b) { return a + number_beside(a, b); }
Tensor operator-(const Tensor& a, Scalar b) { return a - number_beside(a, b); }
Tensor operator*(const Tensor& a, Scalar b) { return a * number_beside(a, b); }
Tensor operator/(const Tensor& a, Scalar b) { return a / number_beside(a, b); }
Tensor operator+(Scalar a, const Tensor& b) { return number_beside(b, a) + b; }
Tensor operator-(Scalar a, const Tensor& b) { return number_beside(b, a) - b; }
Tensor operator*(Scalar a, const Tensor& b) { return number_beside(b, a) * b; }
Tensor operator/(Scalar a, const Tensor& b) { return number_beside(b, a) / b; }
Tensor& operator+=(Tensor& a, const Tensor& b) { return ops::binary_(BinaryOp::Add, a, b); }
Tensor& operator-=(Tensor& a, const Tensor& b) { return ops::binary_(BinaryOp::Sub, a, b); }
Tensor& operator*=(Tensor& a, const Tensor& b) { return ops::binary_(BinaryOp::Mul, a, b); }
Tensor& operator/=(Tensor& a, const Tensor& b) { return ops::binary_(BinaryOp::Div, a, b); }
Tensor& operator+=(Tensor& a, Scalar b) { return a += number_beside(a, b); }
Tensor& operator-=(Tensor& a, Scalar b) { return a -= number_beside(a, b); }
Tensor& operator*=(Tensor& a, Scalar b) { return a *= number_beside(a, b); }
Tensor& operator/=(Tensor& a, Scalar b) { return a /= number_beside(a, b); }
Tensor operator%(const Tensor& a, const Tensor& b) { return ops::remainder(a, b); }
Tensor operator%(const Tensor& a, Scalar b) { return ops::remainder(a, b); }
Tensor operator%(Scalar a, const Tensor& b) { return ops::remainder(a, b); }
Tensor& operator%=(Tensor& a, const Tensor& b) { return ops::remainder_(a, b); }
Tensor& operator%=(Tensor& a, Scalar b) { return ops::remainder_(a, b); }

}  // namespace normrt
