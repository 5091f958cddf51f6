#include "normrt/nn/upsampling.h"

#include <utility>

#include "normrt/error.h"

namespace normrt::nn {

Upsample::Upsample(std::string name, const UpsampleOptions& options) : name_(std::move(name)), options_(options) {
  NORMRT_CHECK(options.has_size() != options.has_scale_factor(),
               options.has_size() ? "only one of size or scale_factor should be defined"
                                  : "either size or scale_factor should be defined");
}

std::string Upsample::extra_repr() const {
  std::string out;
  if (options_.has_size()) {
    out = "size=";
    if (options_.broadcast()) {
      out += std::to_string(options_.size()[0]);
    } else {
      out += "(";
      for (std::size_t i = 0; i < options_.size().size(); ++i)
        out += (i > 0 ? ", " : "") + std::to_string(options_.size()[i]);
      out += options_.size().size() == 1 ? ",)" : ")";
    }
  } else {
    out = "scale_factor=";
    if (options_.broadcast()) {
      out += python_float_repr(options_.scale_factor()[0]);
    } else {
      out += "(";
      for (std::size_t i = 0; i < options_.scale_factor().size(); ++i)
        out += (i > 0 ? ", " : "") + python_float_repr(options_.scale_factor()[i]);
      out += options_.scale_factor().size() == 1 ? ",)" : ")";
    }
  }
  return out + ", mode=" + ops::interpolate_mode_name(options_.mode());
}

Tensor Upsample::forward_impl(const Tensor& input, Context& ctx) {
  Tensor output = ops::interpolate(input, options_);
  ctx.values = input.sizes();
  return output;
}

Tensor Upsample::backward_impl(const Tensor& grad_output, Context& ctx) {
  return ops::interpolate_backward(grad_output, ctx.values, options_);
}

}  // namespace normrt::nn
