#include "normrt/nn/padding.h"

#include <utility>

#include "normrt/error.h"

namespace normrt::nn {

PadBase::PadBase(std::string name, int dims, const IntList& padding, ops::PadMode mode, double value)
    : name_(std::move(name)), mode_(mode), value_(value) {
  const std::size_t sides = 2 * static_cast<std::size_t>(dims);
  NORMRT_CHECK(padding.size() == 1 || padding.size() == sides, name_, ": expected padding to be a single integer "
               "value or a list of ", sides, " values, but got padding=", shape_str(padding));
  padding_ = padding.size() == 1 ? std::vector<int64_t>(sides, padding[0]) : std::vector<int64_t>(padding);
}

std::string PadBase::extra_repr() const {
  std::string sides = "(";
  for (std::size_t i = 0; i < padding_.size(); ++i) sides += (i ? ", " : "") + std::to_string(padding_[i]);
  sides += ")";
  if (mode_ != ops::PadMode::Constant || name_ == "ZeroPad2d") return sides;
  return "padding=" + sides + ", value=" + python_float_repr(value_);
}

Tensor PadBase::forward_impl(const Tensor& input, Context& ctx) {
  NORMRT_CHECK(input.defined(), name_, ": input is undefined");
  ctx.values = input.sizes();
  return ops::pad(input, padding_, mode_, value_);
}

Tensor PadBase::backward_impl(const Tensor& grad_output, Context& ctx) {
  return ops::pad_backward(grad_output, ctx.values, padding_, mode_);
}

}  // namespace normrt::nn
