// nn::BatchNorm1d/2d/3d with torch.nn.BatchNorm*'s semantics, on one implementation (BatchNormBase).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "normrt/arg.h"
#include "normrt/nn/module.h"
#include "normrt/ops/batchnorm.h"

namespace normrt::nn {

class BatchNormOptions {
 public:
  explicit BatchNormOptions(int64_t num_features) : num_features_(num_features) {}
  NORMRT_ARG(int64_t, num_features);
  NORMRT_ARG(double, eps) = 1e-5;
  // nullopt: cumulative moving average, factor 1 / num_batches_tracked.
  NORMRT_ARG(std::optional<double>, momentum) = 0.1;
  NORMRT_ARG(bool, affine) = true;
  NORMRT_ARG(bool, track_running_stats) = true;
  // BatchNorm followed by ReLU, fused: the module's output is relu(bn(x)), written once; its backward takes the ReLU's
  // mask from that output (no mask is stored). The parameters and state_dict are those of the plain module.
  NORMRT_ARG(bool, relu) = false;
  // Implementation on CUDA tensors; nullopt: normrt::default_backend() ($NORMRT_BN_BACKEND, else Auto).
  NORMRT_ARG(std::optional<Backend>, backend) = std::nullopt;
};

// torch.nn.modules.batchnorm._NormBase: the parameters and running statistics that BatchNorm and InstanceNorm share,
// with PyTorch's state_dict keys (weight, bias, running_mean, running_var, num_batches_tracked).
class NormBase : public Module {
 public:
  // Sets running_mean to 0, running_var to 1 and num_batches_tracked to 0.
  void reset_running_stats();
  // reset_running_stats(), weight 1 and bias 0.
  void reset_parameters();

  // Undefined when affine=False / track_running_stats=False respectively, as in PyTorch.
  Tensor weight, bias;
  Tensor running_mean, running_var, num_batches_tracked;

 protected:
  // Checks num_features and eps (messages prefixed by `name`).
  NormBase(const std::string& name, int64_t num_features, double eps, bool affine, bool track_running_stats);
  // num_batches_tracked (with track_running_stats): 0 for checkpoints without it, as PyTorch's _NormBase.
  NamedTensors state_defaults() const override;

 private:
  int64_t num_features_;
};

class BatchNormBase : public NormBase {
 public:

  const BatchNormOptions& options() const { return options_; }
  // module.momentum = ... in PyTorch (nullopt: the cumulative average), for the following forwards.
  void set_momentum(std::optional<double> momentum) { options_.momentum(momentum); }

  // ResNet's block end, fused: relu(bn(input) + residual) (relu = false: no ReLU), the output written once. Beside
  // forward() (options().relu() is forward()'s): each call fills `ctx`, whose backward_add returns the gradients of
  // input and residual.
  Tensor forward_add(const Tensor& input, const Tensor& residual, Context& ctx, bool relu = true);
  struct AddGradients {
    Tensor input, residual;
  };
  AddGradients backward_add(const Tensor& grad_output, Context& ctx);
  std::string name() const override { return name_; }
  std::string extra_repr() const override;

 protected:
  BatchNormBase(const BatchNormOptions& options, std::string name);
  // Throws "expected 4D input (got 3D input)" style errors for a rank this module does not take.
  virtual void check_input_dim(const Tensor& input) const = 0;
  // The op of a forward with batch statistics (running statistics undefined when not updated) and its backward:
  // ops::batch_norm_forward_training / batch_norm_backward(training=true) here, their synchronised forms in
  // SyncBatchNorm.
  virtual ops::BatchNormForwardResult batch_statistics_forward(const Tensor& input, const Tensor& running_mean,
                                                               const Tensor& running_var,
                                                               const Tensor& num_batches_tracked,
                                                               const ops::BatchNormEpilogue& epilogue);
  virtual ops::BatchNormBackwardResult batch_statistics_backward(const Tensor& grad_output, const Tensor& input,
                                                                 const Tensor& saved_weight, const Tensor& save_mean,
                                                                 const Tensor& save_invstd,
                                                                 const ops::BatchNormBackwardEpilogue& epilogue);

 private:
  // ctx.tensors: input, weight, saved mean and invstd, and the output when the ReLU is fused; ctx.values: whether the
  // forward used batch statistics, whether it added a residual, whether it applied the ReLU.
  Tensor forward_impl(const Tensor& input, Context& ctx) override;
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
  Tensor run_forward(const Tensor& input, const Tensor& residual, bool relu, Context& ctx);
  ops::BatchNormBackwardResult run_backward(const Tensor& grad_output, Context& ctx);
  BatchNormOptions options_;
  std::string name_;
};

class BatchNorm1d : public BatchNormBase {
 public:
  explicit BatchNorm1d(const BatchNormOptions& options) : BatchNormBase(options, "BatchNorm1d") {}
  explicit BatchNorm1d(int64_t num_features) : BatchNorm1d(BatchNormOptions(num_features)) {}

 private:
  void check_input_dim(const Tensor& input) const override;
};

class BatchNorm2d : public BatchNormBase {
 public:
  explicit BatchNorm2d(const BatchNormOptions& options) : BatchNormBase(options, "BatchNorm2d") {}
  explicit BatchNorm2d(int64_t num_features) : BatchNorm2d(BatchNormOptions(num_features)) {}

 private:
  void check_input_dim(const Tensor& input) const override;
};

class BatchNorm3d : public BatchNormBase {
 public:
  explicit BatchNorm3d(const BatchNormOptions& options) : BatchNormBase(options, "BatchNorm3d") {}
  explicit BatchNorm3d(int64_t num_features) : BatchNorm3d(BatchNormOptions(num_features)) {}

 private:
  void check_input_dim(const Tensor& input) const override;
};

// torch.nn.SyncBatchNorm: BatchNorm over (N, C, ...) input whose training statistics are the global batch's, every
// rank of `group` running its replica of the module on its share of the batch, in step
// (ops::sync_batch_norm_forward/backward; CPU or CUDA tensors). Eval mode, and training without running statistics
// too, behave as torch's: running statistics when tracked, batch statistics (synchronised) otherwise. One rank gives
// BatchNorm's bits, the fused ReLU and forward_add included. The group must outlive the module.
class SyncBatchNorm : public BatchNormBase {
 public:
  SyncBatchNorm(const BatchNormOptions& options, dist::ProcessGroup& group);
  dist::ProcessGroup& group() const { return *group_; }

 private:
  void check_input_dim(const Tensor& input) const override;
  ops::BatchNormForwardResult batch_statistics_forward(const Tensor& input, const Tensor& running_mean,
                                                       const Tensor& running_var, const Tensor& num_batches_tracked,
                                                       const ops::BatchNormEpilogue& epilogue) override;
  ops::BatchNormBackwardResult batch_statistics_backward(const Tensor& grad_output, const Tensor& input,
                                                         const Tensor& saved_weight, const Tensor& save_mean,
                                                         const Tensor& save_invstd,
                                                         const ops::BatchNormBackwardEpilogue& epilogue) override;
  dist::ProcessGroup* group_;
};

// torch.nn.SyncBatchNorm.convert_sync_batchnorm: every BatchNorm1d/2d/3d of the tree becomes a SyncBatchNorm on
// `group` with the same options, the same parameter and buffer tensors (an optimizer built before keeps stepping
// them) and the same training mode. Returns the module to use from now on: `module`, or its replacement when it is
// itself a BatchNorm.
std::shared_ptr<Module> convert_sync_batchnorm(std::shared_ptr<Module> module, dist::ProcessGroup& group);

}  // namespace normrt::nn
