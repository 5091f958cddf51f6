// Pooling modules with torch.nn's semantics and reprs: MaxPool1d/2d/3d, AvgPool1d/2d/3d, AdaptiveAvgPool1d/2d/3d,
// AdaptiveMaxPool1d/2d/3d.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "normrt/nn/conv.h"
#include "normrt/nn/module.h"
#include "normrt/ops/pooling.h"

namespace normrt::nn {

class MaxPoolOptions {
 public:
  MaxPoolOptions(IntList kernel_size) : kernel_size_(std::move(kernel_size)) {}  // NOLINT: MaxPool2d(2)
  const IntList& kernel_size() const { return kernel_size_; }
  // Unset: the kernel size, as PyTorch's stride=None.
  MaxPoolOptions& stride(IntList v) { stride_ = std::move(v); return *this; }
  const std::optional<IntList>& stride() const { return stride_; }
  MaxPoolOptions& padding(IntList v) { padding_ = std::move(v); return *this; }
  const IntList& padding() const { return padding_; }
  MaxPoolOptions& dilation(IntList v) { dilation_ = std::move(v); return *this; }
  const IntList& dilation() const { return dilation_; }
  MaxPoolOptions& ceil_mode(bool v) { ceil_mode_ = v; return *this; }
  bool ceil_mode() const { return ceil_mode_; }

 private:
  IntList kernel_size_;
  std::optional<IntList> stride_;
  IntList padding_ = 0, dilation_ = 1;
  bool ceil_mode_ = false;
};

class AvgPoolOptions {
 public:
  AvgPoolOptions(IntList kernel_size) : kernel_size_(std::move(kernel_size)) {}  // NOLINT: AvgPool2d(2)
  const IntList& kernel_size() const { return kernel_size_; }
  AvgPoolOptions& stride(IntList v) { stride_ = std::move(v); return *this; }
  const std::optional<IntList>& stride() const { return stride_; }
  AvgPoolOptions& padding(IntList v) { padding_ = std::move(v); return *this; }
  const IntList& padding() const { return padding_; }
  AvgPoolOptions& ceil_mode(bool v) { ceil_mode_ = v; return *this; }
  bool ceil_mode() const { return ceil_mode_; }
  AvgPoolOptions& count_include_pad(bool v) { count_include_pad_ = v; return *this; }
  bool count_include_pad() const { return count_include_pad_; }
  // Divide every window's sum by this (AvgPool2d/3d's divisor_override; not 0).
  AvgPoolOptions& divisor_override(int64_t v) { divisor_override_ = v; return *this; }
  const std::optional<int64_t>& divisor_override() const { return divisor_override_; }

 private:
  IntList kernel_size_;
  std::optional<IntList> stride_;
  IntList padding_ = 0;
  bool ceil_mode_ = false, count_include_pad_ = true;
  std::optional<int64_t> divisor_override_;
};

class MaxPoolBase : public Module {
 public:
  std::string name() const override { return "MaxPool" + std::to_string(spatial_) + "d"; }
  std::string extra_repr() const override;
  const ops::PoolParams& params() const { return params_; }

 protected:
  MaxPoolBase(int spatial, const MaxPoolOptions& options);

 private:
  // ctx.tensors: input, indices.
  Tensor forward_impl(const Tensor& input, Context& ctx) override;
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
  int spatial_;
  ops::PoolParams params_;
};

class MaxPool1d : public MaxPoolBase {
 public:
  explicit MaxPool1d(const MaxPoolOptions& options) : MaxPoolBase(1, options) {}
  explicit MaxPool1d(IntList kernel_size) : MaxPool1d(MaxPoolOptions(std::move(kernel_size))) {}
};
class MaxPool2d : public MaxPoolBase {
 public:
  explicit MaxPool2d(const MaxPoolOptions& options) : MaxPoolBase(2, options) {}
  explicit MaxPool2d(IntList kernel_size) : MaxPool2d(MaxPoolOptions(std::move(kernel_size))) {}
};
class MaxPool3d : public MaxPoolBase {
 public:
  explicit MaxPool3d(const MaxPoolOptions& options) : MaxPoolBase(3, options) {}
  explicit MaxPool3d(IntList kernel_size) : MaxPool3d(MaxPoolOptions(std::move(kernel_size))) {}
};

class AvgPoolBase : public Module {
 public:
  std::string name() const override { return "AvgPool" + std::to_string(spatial_) + "d"; }
  std::string extra_repr() const override;
  const ops::PoolParams& params() const { return params_; }

 protected:
  AvgPoolBase(int spatial, const AvgPoolOptions& options);

 private:
  // ctx.tensors: input.
  Tensor forward_impl(const Tensor& input, Context& ctx) override;
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
  int spatial_;
  ops::PoolParams params_;
};

class AvgPool1d : public AvgPoolBase {
 public:
  explicit AvgPool1d(const AvgPoolOptions& options) : AvgPoolBase(1, options) {}
  explicit AvgPool1d(IntList kernel_size) : AvgPool1d(AvgPoolOptions(std::move(kernel_size))) {}
};
class AvgPool2d : public AvgPoolBase {
 public:
  explicit AvgPool2d(const AvgPoolOptions& options) : AvgPoolBase(2, options) {}
  explicit AvgPool2d(IntList kernel_size) : AvgPool2d(AvgPoolOptions(std::move(kernel_size))) {}
};
class AvgPool3d : public AvgPoolBase {
 public:
  explicit AvgPool3d(const AvgPoolOptions& options) : AvgPoolBase(3, options) {}
  explicit AvgPool3d(IntList kernel_size) : AvgPool3d(AvgPoolOptions(std::move(kernel_size))) {}
};

class AdaptiveAvgPoolBase : public Module {
 public:
  std::string name() const override { return "AdaptiveAvgPool" + std::to_string(spatial_) + "d"; }
  std::string extra_repr() const override;

 protected:
  AdaptiveAvgPoolBase(int spatial, IntList output_size);

 private:
  // ctx.tensors: input.
  Tensor forward_impl(const Tensor& input, Context& ctx) override;
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
  int spatial_;
  IntList output_size_;
};

class AdaptiveAvgPool1d : public AdaptiveAvgPoolBase {
 public:
  explicit AdaptiveAvgPool1d(IntList output_size) : AdaptiveAvgPoolBase(1, std::move(output_size)) {}
};
class AdaptiveAvgPool2d : public AdaptiveAvgPoolBase {
 public:
  explicit AdaptiveAvgPool2d(IntList output_size) : AdaptiveAvgPoolBase(2, std::move(output_size)) {}
};
class AdaptiveAvgPool3d : public AdaptiveAvgPoolBase {
 public:
  explicit AdaptiveAvgPool3d(IntList output_size) : AdaptiveAvgPoolBase(3, std::move(output_size)) {}
};

// torch.nn.AdaptiveMaxPool1d/2d/3d (ops::adaptive_max_pool); the argmax indices stay in the call's context for the
// backward.
class AdaptiveMaxPoolBase : public Module {
 public:
  std::string name() const override { return "AdaptiveMaxPool" + std::to_string(spatial_) + "d"; }
  std::string extra_repr() const override;

 protected:
  AdaptiveMaxPoolBase(int spatial, IntList output_size);

 private:
  // ctx.tensors: input, indices.
  Tensor forward_impl(const Tensor& input, Context& ctx) override;
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
  int spatial_;
  IntList output_size_;
};

class AdaptiveMaxPool1d : public AdaptiveMaxPoolBase {
 public:
  explicit AdaptiveMaxPool1d(IntList output_size) : AdaptiveMaxPoolBase(1, std::move(output_size)) {}
};
class AdaptiveMaxPool2d : public AdaptiveMaxPoolBase {
 public:
  explicit AdaptiveMaxPool2d(IntList output_size) : AdaptiveMaxPoolBase(2, std::move(output_size)) {}
};
class AdaptiveMaxPool3d : public AdaptiveMaxPoolBase {
 public:
  explicit AdaptiveMaxPool3d(IntList output_size) : AdaptiveMaxPoolBase(3, std::move(output_size)) {}
};

}  // namespace normrt::nn
