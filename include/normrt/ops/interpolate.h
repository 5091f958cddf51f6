// torch.nn.functional.interpolate on (N, C, W), (N, C, H, W) and (N, C, D, H, W) tensors, CPU and CUDA: nearest,
// nearest-exact and area on any of them, linear / bilinear / trilinear on 3-d / 4-d / 5-d input and bicubic on 4-d
// (align_corners as PyTorch; bicubic's output is not clamped, as PyTorch's for floating input),
// float32 (float16 and bfloat16 through float32 copies), contiguous or channels-last (the result keeps the format).
// The source positions are PyTorch's, in its float arithmetic; the backward sums each input element's reaching
// outputs in a fixed order (deterministic, the same bits on every device).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "normrt/tensor.h"

namespace normrt::ops {

// Area: adaptive average pooling to the output size (PyTorch's mode="area").
enum class InterpolateMode { Nearest, NearestExact, Linear, Bilinear, Trilinear, Area, Bicubic };

const char* interpolate_mode_name(InterpolateMode mode);  // PyTorch's spelling: "nearest", "nearest-exact", ...

// Exactly one of size and scale_factor (an empty list is given, as PyTorch's size=()); a single value applies to every
// spatial dimension, a list has one per dimension. With a scale factor the output size is input size * factor,
// truncated (floored with recompute_scale_factor(true) and for area, as F.interpolate), and the positions use
// 1 / factor (as PyTorch with recompute_scale_factor unset) or, with recompute_scale_factor(true), input size /
// output size.
class InterpolateOptions {
 public:
  InterpolateOptions& size(int64_t s) { return size(std::vector<int64_t>{s}, true); }
  InterpolateOptions& size(std::vector<int64_t> s) { return size(std::move(s), false); }
  InterpolateOptions& scale_factor(double f) { return scale_factor(std::vector<double>{f}, true); }
  InterpolateOptions& scale_factor(std::vector<double> f) { return scale_factor(std::move(f), false); }
  InterpolateOptions& mode(InterpolateMode m) {
    mode_ = m;
    return *this;
  }
  // Only for the linear modes ("align_corners option can only be set with the interpolating modes: ...").
  InterpolateOptions& align_corners(bool a) {
    align_corners_ = a;
    return *this;
  }
  // With a scale factor, the positions from the output size it gives (as if that size had been asked for) rather
  // than from 1 / factor: PyTorch's recompute_scale_factor=True. Not with a size ("recompute_scale_factor is not
  // meaningful with an explicit size.").
  InterpolateOptions& recompute_scale_factor(bool r) {
    recompute_scale_factor_ = r;
    return *this;
  }

  const std::vector<int64_t>& size() const { return size_; }
  const std::vector<double>& scale_factor() const { return scale_factor_; }
  bool has_size() const { return has_size_; }
  bool has_scale_factor() const { return has_scale_factor_; }
  bool broadcast() const { return broadcast_; }  // one value for every dimension
  InterpolateMode mode() const { return mode_; }
  const std::optional<bool>& align_corners() const { return align_corners_; }
  bool recompute_scale_factor() const { return recompute_scale_factor_; }

 private:
  InterpolateOptions& size(std::vector<int64_t> s, bool broadcast) {
    size_ = std::move(s);
    has_size_ = true;
    broadcast_ = broadcast;
    return *this;
  }
  InterpolateOptions& scale_factor(std::vector<double> f, bool broadcast) {
    scale_factor_ = std::move(f);
    has_scale_factor_ = true;
    broadcast_ = broadcast;
    return *this;
  }
  std::vector<int64_t> size_;
  std::vector<double> scale_factor_;
  bool has_size_ = false, has_scale_factor_ = false;
  bool broadcast_ = false;
  InterpolateMode mode_ = InterpolateMode::Nearest;
  std::optional<bool> align_corners_;
  bool recompute_scale_factor_ = false;
};

Tensor interpolate(const Tensor& input, const InterpolateOptions& options);
// The gradient of interpolate(input, options) for an input of `input_sizes`, in grad_output's memory format.
Tensor interpolate_backward(const Tensor& grad_output, const Shape& input_sizes, const InterpolateOptions& options);

}  // namespace normrt::ops
