// Elementwise ops of three operands (addcmul, addcdiv, lerp, clamp with tensor bounds), CPU and CUDA, broadcast as the
// arithmetic broadcasts (normrt/ops/elementwise.h), with PyTorch 1.13's semantics, error words and CPU bits:
//
// addcmul(self, t1, t2, value) = self + value * t1 * t2 and addcdiv(self, t1, t2, value) = self + value * t1 / t2, in
// the three tensors' result type (PyTorch's result_type: a 0-dim operand counts by its category only). addcmul is
// fma(value * t1, t2, self) (one rounding for the last product and the sum, as PyTorch's CPU computes it); addcdiv
// rounds each step. int64 addcmul wraps around, its value truncated to an integer (2.5 is 2); bool is refused
// ("\"addcmul_cpu_out\" not implemented for 'Bool'"; on a GPU "addcmul_cuda"), and so is addcdiv of two integral
// tensors ("Integer division with addcdiv is no longer supported, ..."). The value is converted to the result's
// computation type (float for the floating dtypes, refused past its range: "value cannot be converted to type float
// without overflow").
//
// lerp(start, end, weight) = start + weight * (end - start), for floating tensors of one dtype ("expected dtype float
// for `end` but got dtype c10::Half"; integers: "\"lerp_kernel_scalar\" not implemented for 'Long'", with a weight
// tensor "lerp_kernel_tensor", on a GPU "lerp_cuda"), the weight a number (converted to float as the value is) or a
// tensor of that dtype broadcast with the others. Computed as PyTorch 1.13 computes it: start + weight * (end - start)
// for weight < 0.5 (negative weights too), otherwise end - (end - start) * (1 - weight), each multiply-add rounded once
// (its compiler contracts them), so that weights 0 and 1 give start and end exactly.
//
// float16 and bfloat16 are computed in float and rounded once (PyTorch 1.13's CPU has no float16 kernels of these;
// its GPU computes them so). The in-place forms keep self's shape ("output with shape [3] doesn't match the broadcast
// shape [2, 3]") and dtype, refusing a result of a higher category ("result type Float can't be cast to the desired
// output type Long"); a result computed in another floating dtype than self's is rounded once into it (PyTorch 1.13's
// CPU fails an internal assert there). A GPU computes the CPU's bits.
#pragma once
#include "normrt/scalar.h"
#include "normrt/tensor.h"

namespace normrt::ops {

Tensor addcmul(const Tensor& self, const Tensor& tensor1, const Tensor& tensor2, Scalar value = 1);
Tensor& addcmul_(Tensor& self, const Tensor& tensor1, const Tensor& tensor2, Scalar value = 1);
Tensor addcdiv(const Tensor& self, const Tensor& tensor1, const Tensor& tensor2, Scalar value = 1);
Tensor& addcdiv_(Tensor& self, const Tensor& tensor1, const Tensor& tensor2, Scalar value = 1);

// torch.clamp(t, min, max) with tensor bounds (an undefined one absent; not both: "torch.clamp: At least one of 'min'
// or 'max' must not be None"), broadcast, in the three tensors' result type: min(max(t, min), max) as PyTorch 1.13's
// scalar loop computes it (a NaN bound gives NaN, a NaN element stays NaN, min > max gives max; where a bound equals an
// element, the element's zero, where PyTorch's vectorised loop takes the bound's); bool refused ("\"clamp_cpu\" not
// implemented for 'Bool'"; on a GPU "clamp_cuda"). One bound alone is PyTorch's maximum / minimum (ops::maximum).
Tensor clamp(const Tensor& t, const Tensor& min, const Tensor& max);
Tensor& clamp_(Tensor& t, const Tensor& min, const Tensor& max);

Tensor lerp(const Tensor& start, const Tensor& end, Scalar weight);
Tensor lerp(const Tensor& start, const Tensor& end, const Tensor& weight);
Tensor& lerp_(Tensor& start, const Tensor& end, Scalar weight);
Tensor& lerp_(Tensor& start, const Tensor& end, const Tensor& weight);

}  // namespace normrt::ops
