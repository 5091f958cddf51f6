// torch.nn's padding layers over ops::pad: ReflectionPad1d/2d/3d, ReplicationPad1d/2d/3d, ConstantPad1d/2d/3d and
// ZeroPad2d, with PyTorch's reprs. `padding` is one value for every side, or (left, right[, top, bottom[, front,
// back]]): the last dimension's pair first, as PyTorch's tuples.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "normrt/nn/conv.h"
#include "normrt/nn/module.h"
#include "normrt/ops/pad.h"

namespace normrt::nn {

class PadBase : public Module {
 public:
  std::string name() const override { return name_; }
  std::string extra_repr() const override;
  // ops::pad's pairs, spelled out for every side.
  const std::vector<int64_t>& padding() const { return padding_; }

 protected:
  // dims: the padded trailing dimensions. The input is checked by ops::pad, as PyTorch's layers leave it to F.pad:
  // reflection and replication take (dims + 1)-d (unbatched) or (dims + 2)-d input, constant padding any input with
  // at least dims dimensions.
  PadBase(std::string name, int dims, const IntList& padding, ops::PadMode mode, double value);

 private:
  Tensor forward_impl(const Tensor& input, Context& ctx) override;  // ctx.values: the input's sizes
  Tensor backward_impl(const Tensor& grad_output, Context& ctx) override;
  std::string name_;
  std::vector<int64_t> padding_;
  ops::PadMode mode_;
  double value_;
};

class ReflectionPad1d : public PadBase {
 public:
  explicit ReflectionPad1d(const IntList& padding)
      : PadBase("ReflectionPad1d", 1, padding, ops::PadMode::Reflect, 0.0) {}
};

class ReflectionPad2d : public PadBase {
 public:
  explicit ReflectionPad2d(const IntList& padding)
      : PadBase("ReflectionPad2d", 2, padding, ops::PadMode::Reflect, 0.0) {}
};

class ReflectionPad3d : public PadBase {
 public:
  explicit ReflectionPad3d(const IntList& padding)
      : PadBase("ReflectionPad3d", 3, padding, ops::PadMode::Reflect, 0.0) {}
};

class ReplicationPad1d : public PadBase {
 public:
  explicit ReplicationPad1d(const IntList& padding)
      : PadBase("ReplicationPad1d", 1, padding, ops::PadMode::Replicate, 0.0) {}
};

class ReplicationPad2d : public PadBase {
 public:
  explicit ReplicationPad2d(const IntList& padding)
      : PadBase("ReplicationPad2d", 2, padding, ops::PadMode::Replicate, 0.0) {}
};

class ReplicationPad3d : public PadBase {
 public:
  explicit ReplicationPad3d(const IntList& padding)
      : PadBase("ReplicationPad3d", 3, padding, ops::PadMode::Replicate, 0.0) {}
};

class ConstantPad1d : public PadBase {
 public:
  ConstantPad1d(const IntList& padding, double value)
      : PadBase("ConstantPad1d", 1, padding, ops::PadMode::Constant, value) {}
};

class ConstantPad2d : public PadBase {
 public:
  ConstantPad2d(const IntList& padding, double value)
      : PadBase("ConstantPad2d", 2, padding, ops::PadMode::Constant, value) {}
};

class ConstantPad3d : public PadBase {
 public:
  ConstantPad3d(const IntList& padding, double value)
      : PadBase("ConstantPad3d", 3, padding, ops::PadMode::Constant, value) {}
};

class ZeroPad2d : public PadBase {
 public:
  explicit ZeroPad2d(const IntList& padding) : PadBase("ZeroPad2d", 2, padding, ops::PadMode::Constant, 0.0) {}
};

}  // namespace normrt::nn
