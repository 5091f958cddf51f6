// Convolution over 1, 2 or 3 spatial dimensions (torch.nn.functional.conv1d/2d/3d), float32 NCHW-style layouts:
// input (N, C, *spatial) or unbatched (C, *spatial), weight (O, C / groups, *kernel), bias (O) or undefined.
// CUDA: cuDNN, the algorithm chosen per shape by cuDNN's heuristics (or its timed search: set_conv_benchmark), cached;
// CPU: im2col + OpenBLAS sgemm. Every argument is checked, with PyTorch's messages, before anything runs.
// float16/bfloat16 operands (all of one dtype) are computed in float32 and each output rounded once to their dtype;
// gradient accumulators keep their own dtype.
#pragma once
#include <cstdint>
#include <vector>

#include "normrt/tensor.h"

namespace normrt::ops {

// PyTorch's padding strings: "valid" is no padding, "same" pads so the output has the input's size (stride 1 only),
// (dilation * (kernel - 1)) / 2 before and the rest after, as F.conv2d(padding="same").
enum class PaddingMode { Explicit, Valid, Same };

struct ConvParams {
  // One value for every spatial dimension, or one per dimension.
  std::vector<int64_t> stride{1};
  std::vector<int64_t> padding{0};  // zero padding on both sides (PaddingMode::Explicit)
  std::vector<int64_t> dilation{1};
  int64_t groups = 1;
  PaddingMode padding_mode = PaddingMode::Explicit;
};

Tensor conv(const Tensor& input, const Tensor& weight, const Tensor& bias, const ConvParams& params = {});

// Returns grad_input (undefined when need_input_grad is false); adds the weight gradient into *grad_weight and the
// bias gradient into *grad_bias (when non-null), creating them when undefined, as linear_backward does.
Tensor conv_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight, const ConvParams& params,
                     Tensor* grad_weight, Tensor* grad_bias, bool need_input_grad = true);

// The output shape conv() gives for these arguments (checked as conv() checks them).
Shape conv_output_shape(const Shape& input, const Shape& weight, const ConvParams& params);

// The input gradient alone (torch.nn.grad.conv2d_input): d loss / d input of a convolution of an input of
// `input_shape` given grad_output, without an input tensor or a weight gradient. Contiguous result.
Tensor conv_input_grad(const Tensor& grad_output, const Shape& input_shape, const Tensor& weight,
                       const ConvParams& params);

// Transposed convolution (F.conv_transpose1d/2d/3d), the adjoint of conv() with the same stride, padding, dilation and
// groups: input (N, C_in, *spatial) or unbatched, weight (C_in, C_out / groups, *kernel), bias (C_out) or undefined.
// Output size per dimension (in - 1) stride - 2 padding + dilation (kernel - 1) + output_padding + 1, where
// output_padding (the extra positions on the far side) must be smaller than the stride or the dilation.
struct ConvTransposeParams {
  std::vector<int64_t> stride{1};
  std::vector<int64_t> padding{0};
  std::vector<int64_t> output_padding{0};
  std::vector<int64_t> dilation{1};
  int64_t groups = 1;
};
Tensor conv_transpose(const Tensor& input, const Tensor& weight, const Tensor& bias,
                      const ConvTransposeParams& params = {});
// As conv_backward: returns grad_input (undefined when need_input_grad is false), adds the weight and bias gradients
// into *grad_weight and *grad_bias (when non-null), creating them when undefined.
Tensor conv_transpose_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight,
                               const ConvTransposeParams& params, Tensor* grad_weight, Tensor* grad_bias,
                               bool need_input_grad = true);
Shape conv_transpose_output_shape(const Shape& input, const Shape& weight, const ConvTransposeParams& params);

// CUDA: determinism and TF32, as torch.backends.cudnn.deterministic / allow_tf32. Deterministic by default (unlike
// PyTorch): only algorithms cuDNN reports deterministic, so that a step repeats bit for bit (eager or replayed as a
// graph); set_conv_deterministic(false) also admits the faster ones that sum with atomics, in a varying order (seen
// on an H200: graph replays and eager steps drifting apart in the last bits within two steps). TF32 off: exact FP32.
void set_conv_deterministic(bool on);
bool conv_deterministic();
void set_conv_allow_tf32(bool allow);
bool conv_allow_tf32();
// CUDA: how each new problem's algorithm is chosen, as torch.backends.cudnn.benchmark. Off (the default): cuDNN's
// heuristics, the same choice in every process, so that a run repeats bit for bit. On: cuDNN's timed search of every
// algorithm, the fastest on this run; timing noise can choose differently in another process (and two deterministic
// algorithms need not sum in the same order), so runs of one configuration may differ in the last bits.
void set_conv_benchmark(bool on);
bool conv_benchmark();

// CPU: whether convolutions may run through oneDNN (as torch.backends.mkldnn.enabled; on by default). oneDNN takes
// the kernels larger than 1x1 with enough input channels per group (4 forward, 12 backward), where it beats im2col
// + BLAS; the others, and every layer in a build without oneDNN (NORMRT_WITH_ONEDNN, normrt/config.h), run im2col +
// BLAS. Either is deterministic run to run on one machine with one thread count; they differ in the last bits.
void set_conv_use_onednn(bool on);
bool conv_use_onednn();  // false in a build without oneDNN
// How many algorithms have been chosen in this process (one per new problem; cached problems need none), and how many
// of those choices were cuDNN's timed search (set_conv_benchmark) rather than its heuristics.
int64_t conv_algorithm_choices();
int64_t conv_algorithm_searches();

}  // namespace normrt::ops
