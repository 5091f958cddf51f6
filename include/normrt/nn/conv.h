// nn::Conv1d / Conv2d / Conv3d with torch.nn.Conv*d's semantics: options as libtorch's
// Conv2dOptions(in, out, kernel).stride(..).padding(..), PyTorch's initialisation and repr, state_dict keys
// "weight" (out, in / groups, *kernel) and "bias".
#pragma once
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "normrt/generator.h"
#include "normrt/nn/module.h"
#include "normrt/ops/conv.h"
#include "normrt/ops/pad.h"

namespace normrt::nn {

// One value for every spatial dimension (3) or one per dimension ({3, 1}).
class IntList : public std::vector<int64_t> {
 public:
  IntList(int64_t value) : std::vector<int64_t>{value} {}  // NOLINT: 3 means 3 in every dimension, as in PyTorch
  IntList(std::initializer_list<int64_t> values) : std::vector<int64_t>(values) {}
  IntList(std::vector<int64_t> values) : std::vector<int64_t>(std::move(values)) {}  // NOLINT
};

class ConvOptions {
 public:
  ConvOptions(int64_t in_channels, int64_t out_channels, IntList kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(std::move(kernel_size)) {}
  int64_t in_channels() const { return in_channels_; }
  int64_t out_channels() const { return out_channels_; }
  const IntList& kernel_size() const { return kernel_size_; }
  ConvOptions& stride(IntList v) { stride_ = std::move(v); return *this; }
  const IntList& stride() const { return stride_; }
  // Padding on both sides, or PyTorch's "same" / "valid" (padding_rule()); zeros unless padding_mode says otherwise.
  ConvOptions& padding(IntList v) { padding_ = std::move(v); padding_rule_ = ops::PaddingMode::Explicit; return *this; }
  ConvOptions& padding(ops::PaddingMode rule) { padding_rule_ = rule; return *this; }
  const IntList& padding() const { return padding_; }
  ops::PaddingMode padding_rule() const { return padding_rule_; }
  // PyTorch's padding_mode: zeros (PadMode::Constant, the default), reflect, replicate or circular. The modes but
  // zeros pad the input with ops::pad and convolve it unpadded, as PyTorch.
  ConvOptions& padding_mode(ops::PadMode mode) { padding_mode_ = mode; return *this; }
  ops::PadMode padding_mode() const { return padding_mode_; }
  ConvOptions& dilation(IntList v) { dilation_ = std::move(v); return *this; }
  const IntList& dilation() const { return dilation_; }
  ConvOptions& groups(int64_t v) { groups_ = v; return *this; }
  int64_t groups() const { return groups_; }
  ConvOptions& bias(bool v) { bias_ = v; return *this; }
  bool bias() const { return bias_; }

 private:
  int64_t in_channels_, out_channels_;
  IntList kernel_size_;
  IntList stride_ = 1, padding_ = 0, dilation_ = 1;
  ops::PaddingMode padding_rule_ = ops::PaddingMode::Explicit;
  ops::PadMode padding_mode_ = ops::PadMode::Constant;
  int64_t groups_ = 1;
  bool bias_ = true;
};

class ConvBase : public Module {
 public:
  const ConvOptions& options() const { return options_; }
  // The op's parameters (stride, padding, dilation, groups) for ops::conv.
  const ops::ConvParams& params() const { return params_; }
  std::string name() const override { return "Conv" + std::to_string(spatial_) + "d"; }
  std::string extra_repr() const override;
  // PyTorch's initialisation: weight kaiming_uniform_(a = sqrt(5)), bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
  // fan_in = in_channels / groups * prod(kernel_size); values from `gen`.
  void reset_parameters(Generator& gen);

  Tensor weight, bias;  // bias undefined with bias(false)

 protected:
  // Checks the options as PyTorch's constructor does; draws the initial values from `gen` (default_generator()
  // when null).
  ConvBase(int spatial, const ConvOptions& options, Generator* gen);

 private:
  // ctx.tensors: input (padded, with a padding_mode), weight.
  Tensor forward_impl(const Tensor& input, Context& ctx) override;
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
  int spatial_;
  ConvOptions options_;
  ops::ConvParams params_;
  // With a padding_mode other than zeros: ops::pad's pairs, and params_ without padding for the padded input.
  std::vector<int64_t> pads_;
  ops::ConvParams unpadded_params_;
};

class Conv1d : public ConvBase {
 public:
  explicit Conv1d(const ConvOptions& options, Generator* gen = nullptr) : ConvBase(1, options, gen) {}
  Conv1d(int64_t in, int64_t out, IntList kernel_size) : Conv1d(ConvOptions(in, out, std::move(kernel_size))) {}
};

class Conv2d : public ConvBase {
 public:
  explicit Conv2d(const ConvOptions& options, Generator* gen = nullptr) : ConvBase(2, options, gen) {}
  Conv2d(int64_t in, int64_t out, IntList kernel_size) : Conv2d(ConvOptions(in, out, std::move(kernel_size))) {}
};

class Conv3d : public ConvBase {
 public:
  explicit Conv3d(const ConvOptions& options, Generator* gen = nullptr) : ConvBase(3, options, gen) {}
  Conv3d(int64_t in, int64_t out, IntList kernel_size) : Conv3d(ConvOptions(in, out, std::move(kernel_size))) {}
};

// torch.nn.ConvTranspose1d/2d/3d's options (zeros padding only, as PyTorch's).
class ConvTransposeOptions {
 public:
  ConvTransposeOptions(int64_t in_channels, int64_t out_channels, IntList kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(std::move(kernel_size)) {}
  int64_t in_channels() const { return in_channels_; }
  int64_t out_channels() const { return out_channels_; }
  const IntList& kernel_size() const { return kernel_size_; }
  ConvTransposeOptions& stride(IntList v) { stride_ = std::move(v); return *this; }
  const IntList& stride() const { return stride_; }
  ConvTransposeOptions& padding(IntList v) { padding_ = std::move(v); return *this; }
  const IntList& padding() const { return padding_; }
  ConvTransposeOptions& output_padding(IntList v) { output_padding_ = std::move(v); return *this; }
  const IntList& output_padding() const { return output_padding_; }
  ConvTransposeOptions& dilation(IntList v) { dilation_ = std::move(v); return *this; }
  const IntList& dilation() const { return dilation_; }
  ConvTransposeOptions& groups(int64_t v) { groups_ = v; return *this; }
  int64_t groups() const { return groups_; }
  ConvTransposeOptions& bias(bool v) { bias_ = v; return *this; }
  bool bias() const { return bias_; }

 private:
  int64_t in_channels_, out_channels_;
  IntList kernel_size_;
  IntList stride_ = 1, padding_ = 0, output_padding_ = 0, dilation_ = 1;
  int64_t groups_ = 1;
  bool bias_ = true;
};

// Transposed convolution (ops::conv_transpose): weight (in_channels, out_channels / groups, *kernel), PyTorch's
// initialisation (kaiming_uniform_(a = sqrt(5)) and the bias bound over fan_in = out_channels / groups *
// prod(kernel_size), the weight's dimension 1), repr and state_dict keys.
class ConvTransposeBase : public Module {
 public:
  const ConvTransposeOptions& options() const { return options_; }
  const ops::ConvTransposeParams& params() const { return params_; }
  std::string name() const override { return "ConvTranspose" + std::to_string(spatial_) + "d"; }
  std::string extra_repr() const override;
  void reset_parameters(Generator& gen);

  using Module::forward;
  // PyTorch's forward(input, output_size): the output's spatial size (or its whole size, batch and channels
  // included) picks this call's output padding in place of options().output_padding(); any size from the smallest
  // output up to stride - 1 more in each dimension.
  Tensor forward(const Tensor& input, const std::vector<int64_t>& output_size);
  Tensor forward(const Tensor& input, const std::vector<int64_t>& output_size, Context& ctx);
  // The output padding that forward(input, output_size) uses (PyTorch's _output_padding), checked as PyTorch does.
  std::vector<int64_t> output_padding_for(const Shape& input, const std::vector<int64_t>& output_size) const;

  Tensor weight, bias;  // bias undefined with bias(false)

 protected:
  ConvTransposeBase(int spatial, const ConvTransposeOptions& options, Generator* gen);

 private:
  // ctx.tensors: input, weight; ctx.values: the output padding.
  Tensor forward_impl(const Tensor& input, Context& ctx) override;
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
  // forward_call() (a plain forward) with the output padding of output_size.
  Tensor forward_sized(const Tensor& input, const std::vector<int64_t>& output_size,
                       const std::function<Tensor()>& forward_call);
  int spatial_;
  ConvTransposeOptions options_;
  ops::ConvTransposeParams params_;
  std::optional<std::vector<int64_t>> call_output_padding_;  // set for the duration of forward(input, output_size)
};

class ConvTranspose1d : public ConvTransposeBase {
 public:
  explicit ConvTranspose1d(const ConvTransposeOptions& options, Generator* gen = nullptr)
      : ConvTransposeBase(1, options, gen) {}
  ConvTranspose1d(int64_t in, int64_t out, IntList kernel_size)
      : ConvTranspose1d(ConvTransposeOptions(in, out, std::move(kernel_size))) {}
};

class ConvTranspose2d : public ConvTransposeBase {
 public:
  explicit ConvTranspose2d(const ConvTransposeOptions& options, Generator* gen = nullptr)
      : ConvTransposeBase(2, options, gen) {}
  ConvTranspose2d(int64_t in, int64_t out, IntList kernel_size)
      : ConvTranspose2d(ConvTransposeOptions(in, out, std::move(kernel_size))) {}
};

class ConvTranspose3d : public ConvTransposeBase {
 public:
  explicit ConvTranspose3d(const ConvTransposeOptions& options, Generator* gen = nullptr)
      : ConvTransposeBase(3, options, gen) {}
  ConvTranspose3d(int64_t in, int64_t out, IntList kernel_size)
      : ConvTranspose3d(ConvTransposeOptions(in, out, std::move(kernel_size))) {}
};

}  // namespace normrt::nn
