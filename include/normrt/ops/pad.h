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
// repeats the edge element; Circular wraps around (pads <= the size). The modes but Constant need non-empty padded
// dimensions.
enum class PadMode { Constant, Reflect, Replicate, Circular };

// `pad` holds (left, right) pairs from the last dimension backwards, as PyTorch's: {1, 2} pads the last dimension by
// 1 before and 2 after, {1, 1, 2, 2} also the one before it by 2 on each side. Negative values crop. Checked as
// PyTorch checks them, with its messages.
Tensor pad(const Tensor& input, const std::vector<int64_t>& pad, PadMode mode = PadMode::Constant,
           double value = 0.0);
// The gradient of pad(input, pad, mode) for an input of `input_sizes`: each input element's sum over the output
// elements that copy it. grad_output has the padded shape; the result has grad_output's dtype.
Tensor pad_backward(const Tensor& grad_output, const Shape& input_sizes, const std::vector<int64_t>& pad,
                    PadMode mode);

const char* pad_mode_name(PadMode mode);  // PyTorch's spelling: "constant", "reflect", ...

}  // namespace normrt::ops
