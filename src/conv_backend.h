// Internal: a convolution's resolved geometry (every argument checked) and the per-backend entry points.
#pragma once
#include <array>
#include <cstdint>

#include "normrt/device.h"
#include "normrt/ops/conv.h"

namespace normrt::ops::detail {

// Spatial extents are kept as three dimensions (depth, height, width); a 1-d or 2-d convolution fills the leading
// ones with size 1, kernel 1, stride 1, padding 0, dilation 1, so one set of loops serves every rank.
struct ConvGeometry {
  int spatial = 0;  // 1, 2 or 3
  int64_t n = 0, c = 0, o = 0, groups = 1;
  std::array<int64_t, 3> in{1, 1, 1}, kernel{1, 1, 1}, out{1, 1, 1};
  std::array<int64_t, 3> stride{1, 1, 1}, pad_before{0, 0, 0}, pad_after{0, 0, 0}, dilation{1, 1, 1};

  int64_t c_per_group() const { return c / groups; }
  int64_t o_per_group() const { return o / groups; }
  int64_t in_size() const { return in[0] * in[1] * in[2]; }
  int64_t out_size() const { return out[0] * out[1] * out[2]; }
  int64_t kernel_size() const { return kernel[0] * kernel[1] * kernel[2]; }
  // Rows of the im2col matrix: one per (input channel of a group, kernel offset).
  int64_t patch_size() const { return c_per_group() * kernel_size(); }
  bool symmetric_padding() const { return pad_before == pad_after; }
  // A 1x1 convolution with stride 1 and no padding reads its input as the im2col matrix itself.
  bool is_pointwise() const;
};

// Checks input (batched: N, C, *spatial), weight and bias (undefined allowed) against each other and the params
// and returns the geometry; throws PyTorch's messages.
ConvGeometry resolve_conv(const Shape& input, const Shape& weight, const Shape* bias, const ConvParams& params);

// CPU (src/conv_cpu.cpp). grad_weight is added into when accumulate is set.
void cpu_conv_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y);
void cpu_conv_backward_data(const ConvGeometry& g, const float* dy, const float* w, float* dx);
void cpu_conv_backward_filter(const ConvGeometry& g, const float* x, const float* dy, float* dw, bool accumulate);

// CPU through oneDNN (src/conv_onednn.cpp; NORMRT_WITH_ONEDNN), same contracts, the activations (x, y, dx, dy)
// channels-last when asked; the backward computes dx (unless null) and dw together. Each returns false, having done
// nothing, where oneDNN has no implementation for g.
bool onednn_conv_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y,
                         bool channels_last);
bool onednn_conv_backward(const ConvGeometry& g, const float* x, const float* dy, const float* w, float* dx, float* dw,
                          bool accumulate, bool channels_last);

// CUDA (src/conv_cudnn.cpp): on `device`'s current stream; bias is added by the caller. Every operand of `dtype`:
// float32, or float16/bfloat16 with float32 accumulation (tensor-core algorithms allowed), each output rounded once.
// channels_last: the activations (x, y, dx, dy) are channels-last memory and the filter (w, dw) is in NHWC layout,
// (O, spatial..., C / groups): the weight's channels-last memory. Each returns false, having written nothing, where
// cuDNN has no usable algorithm for the problem (its search is cached either way).
bool cudnn_conv_forward(const ConvGeometry& g, DType dtype, bool channels_last, const void* x, const void* w, void* y,
                        const Device& device);
bool cudnn_conv_backward_data(const ConvGeometry& g, DType dtype, bool channels_last, const void* dy, const void* w,
                              void* dx, const Device& device);
bool cudnn_conv_backward_filter(const ConvGeometry& g, DType dtype, bool channels_last, const void* x, const void* dy,
                                void* dw, bool accumulate, const Device& device);

}  // namespace normrt::ops::detail
