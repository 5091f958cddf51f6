// Elementwise arithmetic, CPU and CUDA, with NumPy/PyTorch broadcasting and type promotion: the result's dtype is
// PyTorch's result_type (the operands' when they share it; the dimensioned one's against a 0-dim tensor of the same
// category; a floating dtype beats int64, even a 0-dim one's; float32 where two floating dtypes meet; true division
// of int64 operands is float32). float16/bfloat16 are computed in float32 and rounded once to the result's dtype,
// int64 exactly (sums, differences and products wrap around as PyTorch's); in-place ops keep the destination's
// dtype and refuse a floating result for an int64 destination. Shapes are aligned at their last dimensions and a
// dimension of size 1 (or a missing one) stretches to the other's size, so a per-channel vector of shape (C, 1, 1)
// scales an (N, C, H, W) batch. A number (Scalar) is one of PyTorch's wrapped numbers: it takes the tensor's dtype
// (an integer keeps an int64 tensor int64) except that a floating number makes an int64 tensor's result float32. A
// number on the left is the same wrapped number: 2 / i is float32 and 2.5 - i too (Python's types; libtorch fills an
// int64 tensor with the number first), and n / t divides once (Python multiplies by t's reciprocal, rounding twice).
#pragma once
#include <optional>
#include <string_view>

#include "normrt/tensor.h"

namespace normrt::ops {

enum class BinaryOp { Add, Sub, Mul, Div, Maximum, Minimum, Pow, Remainder, Fmod, FloorDivide, TruncDivide, Copysign };

// a op b, broadcast; a and b on one device.
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
// a op= b in place; b must broadcast to a's shape ("output with shape [..] doesn't match the broadcast shape [..]").
Tensor& binary_(BinaryOp op, Tensor& a, const Tensor& b);

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor& add_(Tensor& a, const Tensor& b);
Tensor& sub_(Tensor& a, const Tensor& b);
Tensor& mul_(Tensor& a, const Tensor& b);
Tensor& div_(Tensor& a, const Tensor& b);

// torch.maximum / torch.minimum: elementwise, broadcast, with the arithmetic's result type; NaN if either is NaN.
// Where the two compare equal the result is a's (maximum(0.0, -0.0) is 0.0, as PyTorch's scalar loop; its vectorised
// one returns b's zero).
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);

// Functions of each element, in the tensor's memory format. neg and abs keep the dtype (int64 exactly: -INT64_MIN
// wraps to itself, as PyTorch's); sqrt, exp, log and reciprocal make an int64 or bool tensor float32 (in place, they
// refuse it: "result type Float can't be cast to the desired output type Long"). float16/bfloat16 are computed in
// float32 and rounded once; exp and log are normrt's own (float_math.cuh: within an ulp, the same bits on the CPU and
// a GPU), sqrt and reciprocal are correctly rounded. floor, ceil, round (to the nearest integer, ties to even), trunc
// and sign keep the dtype, an integer being its own floor, ceiling, rounding and truncation; frac is x - trunc(x) for
// floating dtypes (inf gives NaN); sign is -1, 0 or 1 (0 for NaN and both zeros; a bool tensor's is itself). A bool
// tensor has none of these but sign, sqrt, exp, log and reciprocal, and int64 no frac, refused in PyTorch's words
// ("\"floor_vml_cpu\" not implemented for 'Bool'", "\"frac_cpu\" not implemented for 'Long'"; on a GPU
// "floor_cuda", "frac_cuda"). PyTorch 1.13's CPU has no float16 rounding (its GPU's results are these).
enum class UnaryOp {
  Neg,
  Abs,
  Sqrt,
  Exp,
  Log,
  Floor,
  Ceil,
  Round,
  Trunc,
  Frac,
  Sign,
  Reciprocal,
  Rsqrt,
  Log1p,
  Expm1,
  Log2,
  Log10,
  Exp2,
  Sigmoid,
  Tanh,
  Erf,
  Erfc,
  Sin,
  Cos,
  Tan
};
Tensor unary(UnaryOp op, const Tensor& t);
Tensor& unary_(UnaryOp op, Tensor& t);

Tensor neg(const Tensor& t);
Tensor abs(const Tensor& t);
Tensor sqrt(const Tensor& t);
Tensor exp(const Tensor& t);
Tensor log(const Tensor& t);
Tensor& neg_(Tensor& t);
Tensor& abs_(Tensor& t);
Tensor& sqrt_(Tensor& t);
Tensor& exp_(Tensor& t);
Tensor& log_(Tensor& t);
Tensor floor(const Tensor& t);
Tensor ceil(const Tensor& t);
Tensor round(const Tensor& t);
Tensor trunc(const Tensor& t);
Tensor frac(const Tensor& t);
Tensor sign(const Tensor& t);
Tensor reciprocal(const Tensor& t);
Tensor& floor_(Tensor& t);
Tensor& ceil_(Tensor& t);
Tensor& round_(Tensor& t);
Tensor& trunc_(Tensor& t);
Tensor& frac_(Tensor& t);
Tensor& sign_(Tensor& t);
Tensor& reciprocal_(Tensor& t);

// More floating functions of each element, with sqrt's dtypes (an int64 or bool tensor's result is float32; in place
// refused) and its computation (float16/bfloat16 in float32, rounded once). rsqrt is 1 / sqrt(x), two correctly
// rounded steps as PyTorch's vectorised CPU loop (its scalar loop, which takes a bfloat16 run's last elements past a
// multiple of 32, rounds the root to bfloat16 first, as its pow by -0.5). The others are normrt's own (float_math.cuh:
// the same bits on the CPU and a GPU), each within the ulps its FloatMath test states of the exact value over every
// float (PyTorch's CPU ones are SLEEF's, within 1 ulp, so the two can differ in the last bits): log1p = ln(1 + x)
// (past 1e38 too, where SLEEF's is +inf; PyTorch's GPU one is not), expm1 = e^x - 1, log2 and log10 (exact at powers
// of two and ten), exp2 = 2^x (exact at integers), sigmoid = 1 / (1 + e^-x) as PyTorch computes it (0 below
// x = -88.7, where e^-x overflows), tanh, erf and erfc (the error function and 1 - erf, accurate in the tail too).
// Special values as C's: a logarithm of 0 is -inf, of a negative number NaN.
Tensor rsqrt(const Tensor& t);
Tensor log1p(const Tensor& t);
Tensor expm1(const Tensor& t);
Tensor log2(const Tensor& t);
Tensor log10(const Tensor& t);
Tensor exp2(const Tensor& t);
Tensor sigmoid(const Tensor& t);
Tensor tanh(const Tensor& t);
Tensor erf(const Tensor& t);
Tensor erfc(const Tensor& t);
Tensor& rsqrt_(Tensor& t);
Tensor& log1p_(Tensor& t);
Tensor& expm1_(Tensor& t);
Tensor& log2_(Tensor& t);
Tensor& log10_(Tensor& t);
Tensor& exp2_(Tensor& t);
Tensor& sigmoid_(Tensor& t);
Tensor& tanh_(Tensor& t);
Tensor& erf_(Tensor& t);
Tensor& erfc_(Tensor& t);

// sin, cos and tan of angles in radians, with sqrt's dtypes and computation (as the functions above): normrt's own
// (float_math.cuh), within 0.80, 0.80 and 1.18 ulps of the exact values over every float, huge arguments included
// (reduced with 96 bits of 2/pi, exactly, as glibc's, SLEEF's and CUDA's are), infinities and NaN giving NaN; the same
// bits on the CPU and a GPU. PyTorch's CPU ones are SLEEF's (within 1 ulp), its GPU ones CUDA's (2, 2 and 4 ulps);
// PyTorch 1.13's CPU has no float16 ones.
Tensor sin(const Tensor& t);
Tensor cos(const Tensor& t);
Tensor tan(const Tensor& t);
Tensor& sin_(Tensor& t);
Tensor& cos_(Tensor& t);
Tensor& tan_(Tensor& t);

// torch.round(t, decimals): floating tensors rounded to `decimals` decimal places as PyTorch 1.13 computes it,
// nearbyint(x * 10^d) / 10^d, or nearbyint(x / 10^-d) * 10^-d for negative d, with 10^|d| rounded to the dtype (inf
// past its range, which makes every element NaN). bfloat16 rounds x * 10^d to its dtype before nearbyint, as PyTorch's
// CPU kernel, and so does float16 (not on PyTorch 1.13's CPU; its GPU computes both in float and rounds once).
// Integer and bool tensors are refused ("\"round_cpu\" not implemented for 'Long'"; decimals = 0, PyTorch's plain
// rounding kernel: "round_vml_cpu").
Tensor round(const Tensor& t, int64_t decimals);
Tensor& round_(Tensor& t, int64_t decimals);

// torch.clamp(t, min, max) = min(max(t, min), max) elementwise, with either bound absent (not both: "torch.clamp: At
// least one of 'min' or 'max' must not be None"). As PyTorch 1.13: a NaN element stays NaN, min > max gives max, and
// a NaN bound makes every element NaN beside another bound but clamps nothing alone (clamp_min, clamp_max). The bounds
// are wrapped numbers (t + n's rules): a floating bound makes an int64 tensor's result float32 (clamp_ then refuses, in
// PyTorch's words: "... desired output type long int"); a bound the result's dtype cannot hold is refused as fill_
// refuses it.
Tensor clamp(const Tensor& t, std::optional<Scalar> min, std::optional<Scalar> max);
Tensor& clamp_(Tensor& t, std::optional<Scalar> min, std::optional<Scalar> max);
Tensor clamp_min(const Tensor& t, Scalar min);
Tensor clamp_max(const Tensor& t, Scalar max);

// torch.pow as PyTorch 1.13 computes it. t^n: n is a wrapped number (a floating n makes an int64 tensor's result
// float32; pow_ then refuses: "Found dtype Long but expected Float"); an int64 tensor to a negative integer power is
// refused ("Integers to negative integer powers are not allowed."). n = 0 gives ones and n = 1 a copy, NaN elements
// included; float32 and bfloat16 take sqrt, 1 / sqrt, 1 / x, x*x, x*x*x and 1 / (x*x) for n = 0.5, -0.5, -1, 2, 3,
// -2 (so (-0)^0.5 is -0 and (-inf)^0.5 NaN there, as sqrt's), bfloat16 rounding x*x before its third factor or
// reciprocal as its arithmetic does, and the exponent rounded to bfloat16 first for 2, 3, -2 and pow; float16 takes
// pow with the exponent rounded to float16 (a 16-bit exponent the dtype cannot hold is refused, as fill_ refuses a
// value). pow itself is C's powf, correctly rounded (float_math.cuh); int64 powers are exact, wrapping around. Every
// element is computed as PyTorch's vectorised CPU loop computes it; its scalar loop, which takes the last elements of
// a run (past a multiple of 16 or 32), differs for float32 powers by an exponent float cannot hold (a double there:
// x^(2^31 + 1) is odd there, as 2^31 it is even) and for bfloat16's 1 / sqrt (the root rounded to bfloat16 first).
// base^exponent for two tensors broadcasts with the arithmetic's result type, pow elementwise (no special cases);
// int64 negative powers are 1 for 1, +-1 for -1 and 0 otherwise. n^t is the tensor-tensor form with n wrapped, but
// 1^t is ones (NaN exponents included).
Tensor pow(const Tensor& t, Scalar exponent);
Tensor& pow_(Tensor& t, Scalar exponent);
Tensor pow(const Tensor& base, const Tensor& exponent);
Tensor& pow_(Tensor& base, const Tensor& exponent);
Tensor pow(Scalar base, const Tensor& exponent);

// Division that rounds, and remainders, broadcast with the arithmetic's result type (int64 operands stay int64), as
// PyTorch 1.13: floor_divide (Python's //: the quotient rounded toward -inf, as div's rounding_mode "floor"), div
// with rounding_mode "trunc" (toward zero) or none (true division; another mode is refused: "div expected
// rounding_mode to be one of None, 'trunc', or 'floor' but found 'x'"), remainder (Python's %: the sign of b) and
// fmod (C's: the sign of a). Floating results follow PyTorch's algorithms (floor division is Python's, from fmod:
// exact where the quotient is; division by zero gives inf or NaN; remainder(x, inf) is x or inf by sign), float16 and
// bfloat16 rounding each step of the divisions to their dtype as PyTorch's CPU kernels do. Integer results are exact;
// a zero divisor is refused ("ZeroDivisionError"; on a GPU finding one reads a flag back, a synchronisation, where
// PyTorch's GPU returns garbage), and INT64_MIN divided by -1 wraps around to INT64_MIN, remainder 0 (PyTorch's CPU
// process dies of SIGFPE). Bool results are refused ("\"remainder_cpu\" not implemented for 'Bool'"; "div_floor",
// "div_trunc", "fmod"). A number is wrapped as in a + n; remainder also takes one on the left.
Tensor remainder(const Tensor& a, const Tensor& b);
Tensor remainder(const Tensor& a, Scalar b);
Tensor remainder(Scalar a, const Tensor& b);
Tensor fmod(const Tensor& a, const Tensor& b);
Tensor fmod(const Tensor& a, Scalar b);
Tensor floor_divide(const Tensor& a, const Tensor& b);
Tensor floor_divide(const Tensor& a, Scalar b);
Tensor div(const Tensor& a, const Tensor& b, std::optional<std::string_view> rounding_mode);
Tensor div(const Tensor& a, Scalar b, std::optional<std::string_view> rounding_mode);
Tensor& remainder_(Tensor& a, const Tensor& b);
Tensor& remainder_(Tensor& a, Scalar b);
Tensor& fmod_(Tensor& a, const Tensor& b);
Tensor& fmod_(Tensor& a, Scalar b);
Tensor& floor_divide_(Tensor& a, const Tensor& b);
Tensor& floor_divide_(Tensor& a, Scalar b);
Tensor& div_(Tensor& a, const Tensor& b, std::optional<std::string_view> rounding_mode);
Tensor& div_(Tensor& a, Scalar b, std::optional<std::string_view> rounding_mode);

// torch.copysign: a's magnitude with b's sign bit (-0 and NaN's sign bit count), broadcast; floating as true division
// is (int64 and bool operands give float32; copysign_ then refuses: "result type Float can't be cast to the desired
// output type Long").
Tensor copysign(const Tensor& a, const Tensor& b);
Tensor copysign(const Tensor& a, Scalar b);
Tensor& copysign_(Tensor& a, const Tensor& b);
Tensor& copysign_(Tensor& a, Scalar b);

// torch.nan_to_num: NaN replaced by `nan`, +inf by `posinf` and -inf by `neginf` (absent ones: the dtype's largest and
// lowest finite values), each converted to the tensor's dtype first as PyTorch converts them (a value past its range
// becomes an infinity). Integer and bool tensors are returned as they are (a copy; in place, untouched).
Tensor nan_to_num(const Tensor& t, std::optional<double> nan = 0.0, std::optional<double> posinf = std::nullopt,
                  std::optional<double> neginf = std::nullopt);
Tensor& nan_to_num_(Tensor& t, std::optional<double> nan = 0.0, std::optional<double> posinf = std::nullopt,
                    std::optional<double> neginf = std::nullopt);

// The shape a and b broadcast to; throws PyTorch's "The size of tensor a (3) must match the size of tensor b (4)
// at non-singleton dimension 1".
Shape broadcast_shape(const Shape& a, const Shape& b);

// Adds `gradient` into tensor.grad(), which starts as a copy of the first gradient.
void accumulate_grad(Tensor& tensor, const Tensor& gradient);

}  // namespace normrt::ops

namespace normrt {

// Operators as in libtorch: t + u, t * 2.0, 1 / t, t -= u, i += 1 (i int64), -t, ...; t % u is Python's (remainder).
Tensor operator-(const Tensor& t);
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, Scalar b);
Tensor operator-(const Tensor& a, Scalar b);
Tensor operator*(const Tensor& a, Scalar b);
Tensor operator/(const Tensor& a, Scalar b);
Tensor operator+(Scalar a, const Tensor& b);
Tensor operator-(Scalar a, const Tensor& b);
Tensor operator*(Scalar a, const Tensor& b);
Tensor operator/(Scalar a, const Tensor& b);
Tensor& operator+=(Tensor& a, const Tensor& b);
Tensor& operator-=(Tensor& a, const Tensor& b);
Tensor& operator*=(Tensor& a, const Tensor& b);
Tensor& operator/=(Tensor& a, const Tensor& b);
Tensor& operator+=(Tensor& a, Scalar b);
Tensor& operator-=(Tensor& a, Scalar b);
Tensor& operator*=(Tensor& a, Scalar b);
Tensor& operator/=(Tensor& a, Scalar b);
Tensor operator%(const Tensor& a, const Tensor& b);
Tensor operator%(const Tensor& a, Scalar b);
Tensor operator%(Scalar a, const Tensor& b);
Tensor& operator%=(Tensor& a, const Tensor& b);
Tensor& operator%=(Tensor& a, Scalar b);

}  // namespace normrt
