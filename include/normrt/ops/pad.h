// torch.nn.functional.pad: constant, reflect, replicate and circular padding of the last dimensions, and its
// backward. Float32, float16 or bfloat16 (a copy: any dtype's bits; the backward sums in float32 and rounds once),
// on the CPU or a GPU; the result is contiguous. The CPU loops and CUDA kernels share one arithmetic
// (kernels/pad_math.cuh); the backward gathers in a fixed order, so both repeat bit for bit and agree.
#pragma once
#include <cstdint>
#include <vector>

#include "normrt/tensor.h"

namespace normrt::ops {

// Constant fills with `value`; Reflect mirrors about the edge element (pads < the dimension's size); Replicate
// repeats the edge element; Circular wraps around (pads <= the size). As PyTorch's F.pad, the modes but Constant
// pad the last 1, 2 or 3 dimensions of an input with one or two dimensions more (reflect and replicate: all but a
// batch non-empty), and take no value.
enum class PadMode { Constant, Reflect, Replicate, Circular };

// `pad` holds (left, right) pairs from the last dimension backwards, as PyTorch's: {1, 2} pads the last dimension by
// 1 before and 2 after, {1, 1, 2, 2} also the one before it by 2 on each side. Negative values crop. Checked as
// PyTorch 1.13 checks them, in its order and words (the kernels' quirks included: "2input (W: 2)is too small...");
// where it departs: circular padding takes an unbatched input (as PyTorch 2), and refuses a wrap beyond what a crop
// on the other side leaves (PyTorch 1.13 reads uninitialised memory there); a negative output size is refused in
// the words of the tensor's creation ("Trying to create tensor with negative dimension"), never as an overflow.
Tensor pad(const Tensor& input, const std::vector<int64_t>& pad, PadMode mode = PadMode::Constant,
           double value = 0.0);
// The gradient of pad(input, pad, mode) for an input of `input_sizes`: each input element's sum over the output
// elements that copy it. grad_output has the padded shape; the result has grad_output's dtype.
Tensor pad_backward(const Tensor& grad_output, const Shape& input_sizes, const std::vector<int64_t>& pad,
                    PadMode mode);

const char* pad_mode_name(PadMode mode);  // PyTorch's spelling: "constant", "reflect", ...

}  // namespace normrt::ops
