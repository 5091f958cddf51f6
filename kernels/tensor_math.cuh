// Arithmetic of the tensor ops shared by the CPU path and the CUDA kernels (tensor_ops.cu, elementwise.cu): the
// conversion to int64, the binary operators, the elementwise functions of one tensor, the NumPy/PyTorch broadcasting
// index map, reductions and softmax lines, so both devices compute the same bits.
//
// apply and element, which dispatch on the op, are inlined into every CPU loop whatever GCC's growth budget makes of
// them (NORMRT_FMATH_INLINE; floor_quotient_of too): each loop passes its op as a constant, which folds the switch
// away. Left to the budget, apply(Binary) and floor_quotient_of fell out of line as elementwise.cpp grew, a call per
// element, and apply(Unary) too when sin, cos and tan joined its switch (log1p, exp2 and erf ran 10-20x slower).
// Their helpers stay plain inline: forced as well, they left the fmod family's blocks (elementwise.cpp) scalar, floor
// division by a number at 0.08x PyTorch's speed.
#pragma once
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "bn_math.cuh"
#include "float_math.cuh"
#include "hd.h"

namespace normrt::tmath {

// float -> int64 as x86's conversion instruction (PyTorch's CPU result), on either device: truncated toward zero;
// NaN and values outside int64's range give INT64_MIN.
NORMRT_HD inline int64_t truncated_int64(float v) {
  return v >= -9223372036854775808.0f && v < 9223372036854775808.0f ? static_cast<int64_t>(v) : INT64_MIN;
}

enum class Binary : int {
  Add = 0,
  Sub = 1,
  Mul = 2,
  Div = 3,
  Maximum = 4,
  Minimum = 5,
  Pow = 6,
  Remainder = 7,
  Fmod = 8,
  FloorDivide = 9,
  TruncDivide = 10,
  Copysign = 11
};

// v as PyTorch's arithmetic in S rounds it: unchanged for float, rounded to S for float16 and bfloat16 (whose CPU
// scalar arithmetic computes each step in float and rounds it to the dtype).
template <typename S>
NORMRT_HD inline float rounded_to(float v) {
  if constexpr (std::is_same_v<S, float>)
    return v;
  else
    return static_cast<float>(S(v));
}

// trunc(v) and floor(v) exactly, by a conversion to int32 (GCC leaves truncf and floorf scalar in a CPU loop): a float
// of magnitude 2^23 or more (and inf, NaN) is its own; a zero result takes v's sign, as C's (trunc(-0.5) is -0).
NORMRT_HD inline float trunc_of(float v) {
  const bool small = fabsf(v) < 8388608.0f;
  const float truncated = static_cast<float>(static_cast<int32_t>(fmath::blend(small, v, 0.0f)));
  return fmath::blend(small, copysignf(truncated, v), v);
}
NORMRT_HD inline float floor_of(float v) {
  const float truncated = trunc_of(v);
  return fmath::blend(truncated > v, truncated - 1.0f, truncated);
}

// x // y as Python's floor division, which PyTorch 1.13's div_floor computes from mod = fmod(x, y): the quotient of
// x - mod, one less where the remainder's sign differs from y's, floored and then rounded to the nearest integer
// where the division left it over half below one; a zero quotient takes the sign of x / y, and y = 0 gives x / y
// (inf, -inf or NaN). Each step rounded in S, as PyTorch's 16-bit kernels (quotient - floored is exact: a float's
// fraction is a float). Blends rather than branches (and & rather than &&), so that a CPU loop of it vectorises.
template <typename S>
NORMRT_HD NORMRT_FMATH_INLINE float floor_quotient_of(float x, float y, float mod) {
  const float quotient = rounded_to<S>(rounded_to<S>(x - mod) / y);
  const bool signs_differ = (mod != 0.0f) & ((y < 0.0f) != (mod < 0.0f));
  const float lowered = fmath::blend(signs_differ, rounded_to<S>(quotient - 1.0f), quotient);
  const float floored = floor_of(lowered);
  const float nearest = fmath::blend(lowered - floored > 0.5f, floored + 1.0f, floored);
  return fmath::blend(y == 0.0f, x / y, fmath::blend(lowered == 0.0f, copysignf(0.0f, x / y), nearest));
}

// x mod y with y's sign, as Python's %, from mod = fmod(x, y) (exact): plus y where the signs differ (PyTorch's
// order of operations).
NORMRT_HD inline float remainder_of(float y, float mod) {
  return fmath::blend((mod != 0.0f) & ((y < 0.0f) != (mod < 0.0f)), mod + y, mod);
}

// The ops computed from fmod(x, y), and each from it.
NORMRT_HD constexpr bool takes_fmod(Binary op) {
  return op == Binary::Remainder || op == Binary::Fmod || op == Binary::FloorDivide;
}
NORMRT_HD inline float from_fmod(Binary op, float x, float y, float mod) {
  return op == Binary::Fmod        ? mod
         : op == Binary::Remainder ? remainder_of(y, mod)
                                   : floor_quotient_of<float>(x, y, mod);
}

// fmod(x, y) through one double-precision quotient, for CPU loops (C's fmodf is a libm call per element; this
// vectorises): |x| - trunc(|x| / |y|) |y|, exact where the double quotient is below 2^29. There a quotient of floats
// that is not an integer lies more than 2^-24 from every integer, beyond the reach of the division's rounding (2^-25
// at most), so trunc takes the exact quotient's integer part; that integer times |y| holds in 53 bits, and the
// difference is exact. `exact` is false elsewhere (y zero, infinite or NaN, x infinite or NaN, or a larger
// quotient): there fmodf's value is the answer. Both are exact, so the same value.
struct QuotientFmod {
  float mod;
  bool exact;
};
NORMRT_HD inline QuotientFmod fmod_by_quotient(float x, float y) {
  const double ax = fabs(static_cast<double>(x)), ay = fabs(static_cast<double>(y));
  const double quotient = ax / ay;
  const bool exact = (quotient < 536870912.0) & (ay < 3.5e38);
  const double whole = static_cast<double>(static_cast<int32_t>(fmath::blend(exact, quotient, 0.0)));
  return {copysignf(static_cast<float>(ax - whole * ay), x), exact};
}

// Maximum and minimum as PyTorch's CPU kernels: NaN if either operand is NaN, else std::max / std::min (x where the
// two compare equal, so maximum(0, -0) is 0 and maximum(-0, 0) is -0; PyTorch's vectorised loops return y there).
// Pow is float_math.cuh's powf (correctly rounded but within 1e-14 of a rounding boundary). Fmod is C's (exact), the
// truncating division rounds x / y and truncates it.
NORMRT_HD NORMRT_FMATH_INLINE float apply(Binary op, float x, float y) {
  switch (op) {
    case Binary::Add: return x + y;
    case Binary::Sub: return x - y;
    case Binary::Mul: return x * y;
    case Binary::Div: return x / y;
    case Binary::Maximum: return x != x || y != y ? x + y : x < y ? y : x;
    case Binary::Pow: return fmath::pow(x, y);
    case Binary::Remainder: return remainder_of(y, fmodf(x, y));
    case Binary::Fmod: return fmodf(x, y);
    case Binary::FloorDivide: return floor_quotient_of<float>(x, y, fmodf(x, y));
    case Binary::TruncDivide: return trunc_of(x / y);
    case Binary::Copysign: return copysignf(x, y);
    case Binary::Minimum: break;
  }
  return x != x || y != y ? x + y : y < x ? y : x;
}

// Whether a 16-bit op rounds an intermediate step to its dtype (PyTorch's CPU computes these in the dtype's scalar
// arithmetic): the rounding divisions; every other op of 16-bit operands is computed in float and rounded once.
NORMRT_HD constexpr bool rounds_steps(Binary op) { return op == Binary::FloorDivide || op == Binary::TruncDivide; }

// x^y for int64 as PyTorch's powi: by squaring, wrapping around; a negative power is 1 for x = 1, +-1 by its parity
// for x = -1 and 0 otherwise (0 too: integer division's truncation, not an error).
NORMRT_HD inline int64_t powi(int64_t x, int64_t y) {
  if (y < 0) return x == 1 ? 1 : x == -1 ? ((y & 1) != 0 ? -1 : 1) : 0;
  uint64_t result = 1, base = static_cast<uint64_t>(x);
  for (auto e = static_cast<uint64_t>(y); e != 0; e >>= 1) {
    if ((e & 1u) != 0) result *= base;
    base *= base;
  }
  return static_cast<int64_t>(result);
}

// The integer divisions, C's truncating one and Python's flooring one with their remainders. A zero divisor is refused
// before any kernel runs (ZeroDivisionError); here it gives 0 rather than trapping. INT64_MIN / -1 wraps around to
// INT64_MIN (x86 traps on it), its remainder is 0.
NORMRT_HD inline int64_t integer_division(Binary op, int64_t x, int64_t y) {
  if (y == 0) return 0;
  if (y == -1)
    return op == Binary::FloorDivide || op == Binary::TruncDivide ? static_cast<int64_t>(0 - static_cast<uint64_t>(x))
                                                                  : 0;
  const int64_t quotient = x / y, mod = x % y;
  const bool signs_differ = mod != 0 && (mod < 0) != (y < 0);
  switch (op) {
    case Binary::Remainder: return signs_differ ? mod + y : mod;
    case Binary::FloorDivide: return signs_differ ? quotient - 1 : quotient;
    case Binary::TruncDivide: return quotient;
    default: return mod;
  }
}

// int64 sums, differences and products wrap around as PyTorch's (two's complement, computed unsigned). Never called
// for Div and Copysign: ops::div divides int64 operands as float32, as PyTorch's true division, and copysign's result
// is floating.
NORMRT_HD NORMRT_FMATH_INLINE int64_t apply(Binary op, int64_t x, int64_t y) {
  if (op == Binary::Maximum) return x < y ? y : x;
  if (op == Binary::Minimum) return y < x ? y : x;
  if (op == Binary::Pow) return powi(x, y);
  if (op == Binary::Remainder || op == Binary::Fmod || op == Binary::FloorDivide || op == Binary::TruncDivide)
    return integer_division(op, x, y);
  const auto ux = static_cast<uint64_t>(x), uy = static_cast<uint64_t>(y);
  return static_cast<int64_t>(op == Binary::Add ? ux + uy : op == Binary::Sub ? ux - uy : ux * uy);
}

// One element of x op y stored as T: int64 and float as apply computes them; float16 and bfloat16 widened, computed
// in float (the rounding divisions' steps rounded to T) and rounded once to T.
template <typename T>
NORMRT_HD NORMRT_FMATH_INLINE T element(Binary op, T x, T y) {
  if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, float>) {
    return apply(op, x, y);
  } else {
    const float a = static_cast<float>(x), b = static_cast<float>(y);
    if (op == Binary::FloorDivide) return T(floor_quotient_of<T>(a, b, fmodf(a, b)));
    if (op == Binary::TruncDivide) return T(trunc_of(rounded_to<T>(a / b)));
    return T(apply(op, a, b));
  }
}

// Elementwise functions of one tensor, and their arguments in the type the op computes in (float, or int64_t for
// int64 tensors): Clamp's bounds (an absent one the type's lowest or highest value, which no element passes), Pow's
// exponent, RoundDecimals' and RoundTens' power of ten, NanToNum's replacements (lo for -inf, hi for +inf, exponent
// for NaN). Square to Reciprocal are PyTorch's float and bfloat16 special
// cases of pow(x, number), in its order of operations (1 / sqrt(x) rounds twice).
enum class Unary : int {
  Neg = 0,
  Abs = 1,
  Sqrt = 2,
  Exp = 3,
  Log = 4,
  Clamp = 5,
  Pow = 6,
  Square = 7,
  Cube = 8,
  InverseSquare = 9,
  Rsqrt = 10,
  Reciprocal = 11,
  Floor = 12,
  Ceil = 13,
  Round = 14,
  Trunc = 15,
  Frac = 16,
  Sign = 17,
  RoundDecimals = 18,
  RoundTens = 19,
  NanToNum = 20,
  Log1p = 21,
  Expm1 = 22,
  Log2 = 23,
  Log10 = 24,
  Exp2 = 25,
  Sigmoid = 26,
  Tanh = 27,
  Erf = 28,
  Erfc = 29,
  Sin = 30,
  Cos = 31,
  Tan = 32
};

template <typename T>
struct UnaryArgs {
  T lo, hi;
  T exponent;
};
// The type an elementwise op on T computes in: float for the floating types.
template <typename T>
using computed_t = std::conditional_t<std::is_same_v<T, int64_t>, int64_t, float>;

// e^x, ln x and the other transcendental functions are float_math.cuh's (the same bits on every device). Clamp is
// PyTorch 1.13's minimum(maximum(x, lo), hi): NaN stays NaN, a NaN bound makes every element NaN, and lo > hi gives hi.
// Round is to the nearest integer, ties to even (nearbyint); round(x, decimals) is PyTorch's nearbyint(x * 10^d) / 10^d
// (RoundDecimals) or, for negative d, nearbyint(x / 10^-d) * 10^-d (RoundTens). Sign is (0 < x) - (x < 0): 0 for
// NaN and for either zero.
NORMRT_HD NORMRT_FMATH_INLINE float apply(Unary op, float x, UnaryArgs<float> b) {
  switch (op) {
    case Unary::Neg: return -x;
    case Unary::Abs: return fabsf(x);
    case Unary::Sqrt: return sqrtf(x);
    case Unary::Exp: return fmath::exp(x);
    case Unary::Log: return fmath::log(x);
    case Unary::Log1p: return fmath::log1p(x);
    case Unary::Expm1: return fmath::expm1(x);
    case Unary::Log2: return fmath::log2(x);
    case Unary::Log10: return fmath::log10(x);
    case Unary::Exp2: return fmath::exp2(x);
    case Unary::Sigmoid: return fmath::sigmoid(x);
    case Unary::Tanh: return fmath::tanh(x);
    case Unary::Erf: return fmath::erf(x);
    case Unary::Erfc: return fmath::erfc(x);
    case Unary::Sin: return fmath::sin(x);
    case Unary::Cos: return fmath::cos(x);
    case Unary::Tan: return fmath::tan(x);
    case Unary::Pow: return fmath::pow(x, b.exponent);
    case Unary::Square: return x * x;
    case Unary::Cube: return x * x * x;
    case Unary::InverseSquare: return 1.0f / (x * x);
    case Unary::Rsqrt: return 1.0f / sqrtf(x);
    case Unary::Reciprocal: return 1.0f / x;
    case Unary::Floor: return floor_of(x);
    case Unary::Ceil: return -floor_of(-x);
    case Unary::Round: return rintf(x);
    case Unary::Trunc: return trunc_of(x);
    case Unary::Frac: return x - trunc_of(x);
    case Unary::Sign: return x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : 0.0f;
    case Unary::RoundDecimals: return rintf(x * b.exponent) / b.exponent;
    case Unary::RoundTens: return rintf(x / b.exponent) * b.exponent;
    case Unary::NanToNum:  // blends, so that a CPU loop of it vectorises
      return fmath::blend(x != x, b.exponent, fmath::blend(x == INFINITY, b.hi, fmath::blend(x == -INFINITY, b.lo, x)));
    case Unary::Clamp: break;
  }
  const float raised = x < b.lo ? b.lo : x;
  const float clamped = b.hi < raised ? b.hi : raised;
  return b.lo != b.lo || b.hi != b.hi ? b.lo + b.hi : clamped;
}

// Neg, Abs (both wrapping: -INT64_MIN is INT64_MIN, as PyTorch's), Pow (powi), Sign and Clamp; sqrt, exp and ln of
// int64 tensors, and their powers with a floating exponent, are computed as float32, and an integer is its own floor,
// ceiling, rounding and truncation.
NORMRT_HD NORMRT_FMATH_INLINE int64_t apply(Unary op, int64_t x, UnaryArgs<int64_t> b) {
  const uint64_t negated = 0 - static_cast<uint64_t>(x);
  if (op == Unary::Neg) return static_cast<int64_t>(negated);
  if (op == Unary::Abs) return x < 0 ? static_cast<int64_t>(negated) : x;
  if (op == Unary::Pow) return powi(x, b.exponent);
  if (op == Unary::Sign) return (0 < x) - (x < 0);
  if (op != Unary::Clamp) return x;
  const int64_t raised = x < b.lo ? b.lo : x;
  return b.hi < raised ? b.hi : raised;
}

// sin, cos and tan, whose CPU loop takes blocks below fmath::kNearAngle through the near reduction alone.
NORMRT_HD constexpr bool reduces_angles(Unary op) { return op == Unary::Sin || op == Unary::Cos || op == Unary::Tan; }

// sin, cos or tan of x from the reduction of |x|.
NORMRT_HD NORMRT_FMATH_INLINE float angle_function(Unary op, float x, fmath::QuarterTurns r) {
  return op == Unary::Sin ? fmath::sin_of(r, x) : op == Unary::Cos ? fmath::cos_of(r) : fmath::tan_of(r, x);
}

// Whether a 16-bit op rounds an intermediate step to its dtype: round(x, decimals) rounds x * 10^d (x / 10^-d) to it
// before nearbyint, as PyTorch's CPU bfloat16 kernel.
NORMRT_HD constexpr bool rounds_steps(Unary op) { return op == Unary::RoundDecimals || op == Unary::RoundTens; }

// One element of op(x) stored as T, as element(Binary) computes one.
template <typename T>
NORMRT_HD NORMRT_FMATH_INLINE T element(Unary op, T x, UnaryArgs<computed_t<T>> b) {
  if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, float>) {
    return apply(op, x, b);
  } else {
    const float v = static_cast<float>(x);
    if (op == Unary::RoundDecimals) return T(rintf(rounded_to<T>(v * b.exponent)) / b.exponent);
    if (op == Unary::RoundTens) return T(rintf(rounded_to<T>(v / b.exponent)) * b.exponent);
    return T(apply(op, v, b));
  }
}

constexpr int kMaxBroadcastDims = 5;

// The output's sizes (row-major) and, per output dimension, each operand's stride: 0 where it is broadcast.
struct Broadcast {
  int ndim = 0;
  int64_t numel = 0;
  int64_t sizes[kMaxBroadcastDims] = {};
  int64_t a_strides[kMaxBroadcastDims] = {};
  int64_t b_strides[kMaxBroadcastDims] = {};
};

// The operands' element offsets for output element i.
NORMRT_HD inline void broadcast_offsets(const Broadcast& p, int64_t i, int64_t& a, int64_t& b) {
  a = 0;
  b = 0;
  for (int d = p.ndim - 1; d >= 0; --d) {
    const int64_t coordinate = i % p.sizes[d];
    i /= p.sizes[d];
    a += coordinate * p.a_strides[d];
    b += coordinate * p.b_strides[d];
  }
}

enum class Reduce : int { Sum = 0, Mean = 1, Max = 2, Min = 3 };

NORMRT_HD inline bool is_extremum(Reduce kind) { return kind == Reduce::Max || kind == Reduce::Min; }

// Whether v, met after best, becomes the maximum (minimum): a larger (smaller) value, or the first NaN (which then
// stays).
NORMRT_HD inline bool extremum_replaces(Reduce kind, float best, float v) {
  return best == best && ((kind == Reduce::Min ? v < best : v > best) || v != v);
}
NORMRT_HD inline bool extremum_replaces(Reduce kind, int64_t best, int64_t v) {
  return kind == Reduce::Min ? v < best : v > best;
}

// A sum's accumulator: double for float elements; for int64 ones unsigned, so that a sum beyond the range wraps (as
// PyTorch's int64 sums, two's complement) rather than overflowing a signed integer.
template <typename T>
struct SumOf {
  using type = double;
};
template <>
struct SumOf<int64_t> {
  using type = uint64_t;
};

// A sum or mean's value from the double sum of `length` elements; an int64 sum's from its wrapped one.
NORMRT_HD inline float sum_value(Reduce kind, double sum, int64_t length) {
  return static_cast<float>(kind == Reduce::Mean ? sum / static_cast<double>(length) : sum);
}
NORMRT_HD inline int64_t sum_value(Reduce, uint64_t sum, int64_t) { return static_cast<int64_t>(sum); }

// Reduces the `length` elements x[0], x[stride], ... (one output of a reduction over a dimension) of float or int64
// elements: a sum (or a float mean) accumulated in index order (SumOf), or the maximum (minimum) with the index of its
// first occurrence, NaN winning as in PyTorch. length > 0 for Max and Min.
template <typename T>
NORMRT_HD inline void reduce_line(Reduce kind, const T* x, int64_t length, int64_t stride, T& value, int64_t& index) {
  index = 0;
  if (is_extremum(kind)) {
    T best = x[0];
    for (int64_t r = 1; r < length && best == best; ++r) {
      const T v = x[r * stride];
      if (extremum_replaces(kind, best, v)) {
        best = v;
        index = r;
      }
    }
    value = best;
    return;
  }
  typename SumOf<T>::type sum = 0;
  for (int64_t r = 0; r < length; ++r) sum += x[r * stride];
  value = sum_value(kind, sum, length);
}

// Running sums (products) of the `length` elements x[0], x[stride], ..., written to y at the same places: accumulated
// in Acc (PyTorch's CPU accumulation types: double for float32, float for float16 and bfloat16 widened to float, and
// uint64_t for int64, wrapping), each rounded once to T.
// cumulate_step takes the running value from before element x (cumulate_start before the first) to after it.
template <typename Acc>
NORMRT_HD inline Acc cumulate_start(bool product) {
  return product ? Acc(1) : Acc(0);
}
template <typename Acc, typename T>
NORMRT_HD inline Acc cumulate_step(Acc running, T x, bool product) {
  const Acc v = static_cast<Acc>(x);
  return product ? running * v : running + v;
}
template <typename Acc, typename T>
NORMRT_HD inline void cumulate_line(const T* x, int64_t length, int64_t stride, T* y, bool product) {
  Acc running = cumulate_start<Acc>(product);
  for (int64_t r = 0; r < length; ++r) {
    running = cumulate_step(running, x[r * stride], product);
    y[r * stride] = static_cast<T>(running);
  }
}

// Sorting order as unsigned integers: a float's key orders as the value ascending (descending), NaN above every
// number (last ascending, first descending), -0 equal to 0 and every NaN to every other; an int64's likewise.
NORMRT_HD inline uint32_t sort_key(float v, bool descending) {
  const uint32_t bits = v != v ? 0xffffffffu : v == 0.0f ? 0x80000000u : half_bits::bits_of(v);
  const uint32_t key = v != v || v == 0.0f ? bits : (bits >> 31) != 0 ? ~bits : bits | 0x80000000u;
  return descending ? ~key : key;
}
NORMRT_HD inline uint64_t sort_key(int64_t v, bool descending) {
  const uint64_t key = static_cast<uint64_t>(v) ^ (uint64_t{1} << 63);
  return descending ? ~key : key;
}

// Whether element a (at index ia of its line) goes before element b (at ib) in a sorted line: by sort_key, equal keys
// in index order, as PyTorch's stable sort. A strict total order, so every correct sorting algorithm gives one
// permutation.
template <typename T>
NORMRT_HD inline bool sorts_before(T a, int64_t ia, T b, int64_t ib, bool descending) {
  const auto ka = sort_key(a, descending), kb = sort_key(b, descending);
  return ka < kb || (ka == kb && ia < ib);
}

// Lines of softmax, cross-entropy and average pooling: their sums and maxima over whole groups of kLineLanes
// elements dealt round-robin to kLineLanes accumulators (double for sums), combined in a fixed tree, then the last
// length % kLineLanes elements one by one; exponentials in float (fmath::exp). So a CPU loop over a row vectorises
// (the lanes are its SIMD lanes) while the kernels, one line per thread, compute the same bits. (Dealing the last
// elements to the lanes too made GCC store them to lanes on the stack and reload the lanes as vectors, a
// store-forwarding stall: 7x7 planes' sums ran at half the speed.) A loop that computes exponentials only stores
// them (GCC 12 leaves a loop scalar that also converts them to double): the arithmetic that follows reads them back
// in a second loop.
constexpr int kLineLanes = 8;

// sum over r in [0, length) of term(r), in the lanes above.
template <typename Term>
NORMRT_HD inline double line_sum(int64_t length, Term term) {
  double lanes[kLineLanes] = {};
  int64_t r = 0;
  for (; r + kLineLanes <= length; r += kLineLanes)
    for (int j = 0; j < kLineLanes; ++j) lanes[j] += term(r + j);
  for (int width = kLineLanes / 2; width > 0; width /= 2)
    for (int j = 0; j < width; ++j) lanes[j] += lanes[j + width];
  double sum = lanes[0];
  for (; r < length; ++r) sum += term(r);
  return sum;
}

// The variance of the `length` elements x[0], x[stride], ... (one output of var or std over a dimension), in one pass
// without a division per element: the sums of d = x - x[0] and d^2 in double in the lanes above (so the CPU loop
// vectorises and a kernel's thread computes the same bits), then m2 from them (bn_math.cuh: shifted by one of the
// line's own values, the subtraction loses at most log2(length + 1) of double's 53 bits, at any mean); m2 / (length -
// correction), rounded once to float after the square root for std; NaN where length <= correction (PyTorch's, which
// warns).
NORMRT_HD inline float variance_line(const float* x, int64_t length, int64_t stride, int64_t correction,
                                     bool take_sqrt) {
  if (length - correction <= 0) return half_bits::float_of(0x7fc00000u);
  const double pivot = x[0];
  double sums[kLineLanes] = {}, squares[kLineLanes] = {};
  int64_t r = 0;
  for (; r + kLineLanes <= length; r += kLineLanes)
    for (int j = 0; j < kLineLanes; ++j) {
      const double d = static_cast<double>(x[(r + j) * stride]) - pivot;
      sums[j] += d;
      squares[j] += d * d;
    }
  for (int width = kLineLanes / 2; width > 0; width /= 2)
    for (int j = 0; j < width; ++j) {
      sums[j] += sums[j + width];
      squares[j] += squares[j + width];
    }
  double sum = sums[0], square = squares[0];
  for (; r < length; ++r) {
    const double d = static_cast<double>(x[r * stride]) - pivot;
    sum += d;
    square += d * d;
  }
  const double m2 = bn::welford_from_shifted_sums(pivot, sum, square, static_cast<double>(length)).m2;
  const double var = m2 / static_cast<double>(length - correction);
  return static_cast<float>(take_sqrt ? sqrt(var) : var);
}

// The largest of x[0], x[stride], ... that is not NaN (-inf if none), in the lanes above.
NORMRT_HD inline float line_max(const float* x, int64_t length, int64_t stride) {
  float lanes[kLineLanes];
  for (int j = 0; j < kLineLanes; ++j) lanes[j] = -INFINITY;
  int64_t r = 0;
  for (; r + kLineLanes <= length; r += kLineLanes)
    for (int j = 0; j < kLineLanes; ++j) lanes[j] = x[(r + j) * stride] > lanes[j] ? x[(r + j) * stride] : lanes[j];
  for (int width = kLineLanes / 2; width > 0; width /= 2)
    for (int j = 0; j < width; ++j) lanes[j] = lanes[j + width] > lanes[j] ? lanes[j + width] : lanes[j];
  float m = lanes[0];
  for (; r < length; ++r) m = x[r * stride] > m ? x[r * stride] : m;
  return m;
}

// e[r * stride] = e^(x[r * stride] - m) for r in [0, length), and their sum in double (line_sum).
NORMRT_HD inline double shifted_exponentials(const float* x, int64_t length, int64_t stride, float m, float* e) {
  for (int64_t r = 0; r < length; ++r) e[r * stride] = fmath::exp(x[r * stride] - m);
  return line_sum(length, [&](int64_t r) { return static_cast<double>(e[r * stride]); });
}

// Softmax (or log-softmax) of the `length` elements x[0], x[stride], ... into y (not x): max-shifted, e^(x - max)
// summed in double; softmax e^(x - max) / sum, log-softmax x - max - log(sum) in double.
NORMRT_HD inline void softmax_line(const float* x, int64_t length, int64_t stride, float* y, bool log_softmax) {
  const float m = line_max(x, length, stride);
  const double sum = shifted_exponentials(x, length, stride, m, y);
  if (log_softmax) {
    const double log_sum = ::log(sum);
    for (int64_t r = 0; r < length; ++r)
      y[r * stride] = static_cast<float>(static_cast<double>(x[r * stride]) - m - log_sum);
  } else {
    const double inverse = 1.0 / sum;
    for (int64_t r = 0; r < length; ++r) y[r * stride] = static_cast<float>(y[r * stride] * inverse);
  }
}

// The input gradient of softmax_line from its output y and the output gradient dy (dx is neither).
NORMRT_HD inline void softmax_backward_line(const float* dy, const float* y, int64_t length, int64_t stride, float* dx,
                                            bool log_softmax) {
  if (log_softmax) {  // dx = dy - e^y sum(dy)
    const double total = line_sum(length, [&](int64_t r) { return static_cast<double>(dy[r * stride]); });
    for (int64_t r = 0; r < length; ++r) dx[r * stride] = fmath::exp(y[r * stride]);
    for (int64_t r = 0; r < length; ++r) {
      const int64_t i = r * stride;
      dx[i] = static_cast<float>(dy[i] - dx[i] * total);
    }
  } else {  // dx = y (dy - sum(dy y))
    const double total =
        line_sum(length, [&](int64_t r) { return static_cast<double>(dy[r * stride]) * y[r * stride]; });
    for (int64_t r = 0; r < length; ++r) {
      const int64_t i = r * stride;
      dx[i] = static_cast<float>(y[i] * (dy[i] - total));
    }
  }
}

// Binary cross-entropy of a logit x against a target t, stable for any x, in float (fmath): max(x, 0) - x t as
// (1 - t) x for x >= 0 and -(t x) below, whose terms do not cancel for t in [0, 1], plus ln(1 + e^-|x|); and its
// derivative sigmoid(x) - t. In two steps, e = e^-|x| first: GCC vectorises a CPU loop over either step, not over
// the two together (it threads branches through exp's clamps).
NORMRT_HD inline float bce_exponential(float x) { return fmath::exp(-fmath::blend(x < 0.0f, -x, x)); }
NORMRT_HD inline float bce_with_logits(float x, float t, float exponential) {
  return fmath::blend(x >= 0.0f, (1.0f - t) * x, -(t * x)) + fmath::log1p(exponential);
}
NORMRT_HD inline float bce_with_logits(float x, float t) { return bce_with_logits(x, t, bce_exponential(x)); }
NORMRT_HD inline float bce_with_logits_grad(float x, float t) { return fmath::sigmoid(x) - t; }

// One row of the negative log-likelihood: loss = -logp[t] and grad[t] = -1 (the rest of the row 0), valid = 1;
// a row whose target is ignore_index gives 0, 0 and a zero row; a target outside [0, cols) gives a NaN loss.
NORMRT_HD inline void nll_row(const float* logp, int64_t target, int64_t ignore_index, int64_t cols, float* grad,
                              float& loss, float& valid) {
  for (int64_t c = 0; c < cols; ++c) grad[c] = 0.0f;
  loss = 0.0f;
  valid = 0.0f;
  if (target == ignore_index) return;
  valid = 1.0f;
  if (target < 0 || target >= cols) {
    loss = NAN;
    return;
  }
  loss = -logp[target];
  grad[target] = -1.0f;
}

}  // namespace normrt::tmath
