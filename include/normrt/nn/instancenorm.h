// nn::InstanceNorm1d/2d/3d with torch.nn.InstanceNorm*'s semantics (ops::instance_norm_forward/backward): each
// (sample, channel) normalised by its own statistics, in training and, unless running statistics are tracked, in
// eval too. With track_running_stats the running statistics are updated in training (the batch mean of each
// instance's update) and used in eval; num_batches_tracked is a buffer, as PyTorch's, that instance norm never
// counts. An unbatched input (no N: (C, L), (C, H, W) or (C, D, H, W)) is one sample.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "normrt/arg.h"
#include "normrt/nn/batchnorm.h"

namespace normrt::nn {

class InstanceNormOptions {
 public:
  explicit InstanceNormOptions(int64_t num_features) : num_features_(num_features) {}
  NORMRT_ARG(int64_t, num_features);
  NORMRT_ARG(double, eps) = 1e-5;
  NORMRT_ARG(double, momentum) = 0.1;
  NORMRT_ARG(bool, affine) = false;
  NORMRT_ARG(bool, track_running_stats) = false;
  // Implementation on CUDA tensors (that of the BatchNorm it runs on); nullopt: normrt::default_backend().
  NORMRT_ARG(std::optional<Backend>, backend) = std::nullopt;
};

// weight, bias and the running statistics: NormBase's (undefined without affine / track_running_stats).
class InstanceNormBase : public NormBase {
 public:
  const InstanceNormOptions& options() const { return options_; }
  std::string name() const override { return name_; }
  std::string extra_repr() const override;

 protected:
  // spatial_dims: 1, 2 or 3; the module takes inputs of spatial_dims + 1 (unbatched) or + 2 dimensions.
  InstanceNormBase(const InstanceNormOptions& options, std::string name, int64_t spatial_dims);

 private:
  // ctx.tensors: the (batched) input, weight, saved mean and invstd; ctx.values: whether the forward used the
  // input's statistics, whether the input was unbatched.
  Tensor forward_impl(const Tensor& input, Context& ctx) override;
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
  InstanceNormOptions options_;
  std::string name_;
  int64_t spatial_dims_;
};

class InstanceNorm1d : public InstanceNormBase {
 public:
  explicit InstanceNorm1d(const InstanceNormOptions& options) : InstanceNormBase(options, "InstanceNorm1d", 1) {}
  explicit InstanceNorm1d(int64_t num_features) : InstanceNorm1d(InstanceNormOptions(num_features)) {}
};

class InstanceNorm2d : public InstanceNormBase {
 public:
  explicit InstanceNorm2d(const InstanceNormOptions& options) : InstanceNormBase(options, "InstanceNorm2d", 2) {}
  explicit InstanceNorm2d(int64_t num_features) : InstanceNorm2d(InstanceNormOptions(num_features)) {}
};

class InstanceNorm3d : public InstanceNormBase {
 public:
  explicit InstanceNorm3d(const InstanceNormOptions& options) : InstanceNormBase(options, "InstanceNorm3d", 3) {}
  explicit InstanceNorm3d(int64_t num_features) : InstanceNorm3d(InstanceNormOptions(num_features)) {}
};

}  // namespace normrt::nn
