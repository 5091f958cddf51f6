#include "normrt/nn/fold.h"

#include <cmath>

#include "normrt/error.h"
#include "normrt/nn/batchnorm.h"

namespace normrt::nn {

std::shared_ptr<Linear> fold_linear_batchnorm(const Linear& linear, const BatchNormBase& bn) {
  NORMRT_CHECK(bn.running_mean.defined(), bn.name(), ": only BatchNorm with running statistics can be folded");
  const int64_t out = linear.weight.size(0), in = linear.weight.size(1);
  NORMRT_CHECK(bn.options().num_features() == out, "fold: ", bn.name(), "(", bn.options().num_features(),
               ") cannot follow a Linear with ", out, " outputs");
  const auto w = linear.weight.to_vector();
  const auto mean = bn.running_mean.to_vector(), var = bn.running_var.to_vector();
  const auto bias = linear.bias.defined() ? linear.bias.to_vector() : std::vector<float>(out, 0.0f);
  const auto gamma = bn.weight.defined() ? bn.weight.to_vector() : std::vector<float>(out, 1.0f);
  const auto beta = bn.bias.defined() ? bn.bias.to_vector() : std::vector<float>(out, 0.0f);
  std::vector<float> folded_w(w.size()), folded_b(out);
  for (int64_t o = 0; o < out; ++o) {
    const double scale = gamma[o] / std::sqrt(static_cast<double>(var[o]) + bn.options().eps());
    for (int64_t i = 0; i < in; ++i) folded_w[o * in + i] = static_cast<float>(w[o * in + i] * scale);
    folded_b[o] = static_cast<float>((static_cast<double>(bias[o]) - mean[o]) * scale + beta[o]);
  }
  Generator unused(0);
  auto folded = std::make_shared<Linear>(in, out, true, &unused);
  const Device device = linear.weight.device();
  folded->weight.copy_(from_vector(folded_w, {out, in}));
  folded->bias.copy_(from_vector(folded_b, {out}));
  folded->to(device);
  folded->eval();
  return folded;
}

std::shared_ptr<Sequential> fold_batchnorm(Sequential& model) {
  NORMRT_CHECK(!model.is_training(), "fold_batchnorm: the model must be in eval mode (call eval() first): folding "
                                     "uses the running statistics");
  auto out = std::make_shared<Sequential>();
  for (std::size_t i = 0; i < model.size(); ++i) {
    auto* linear = dynamic_cast<Linear*>(&model[i]);
    auto* bn = i + 1 < model.size() ? dynamic_cast<BatchNorm1d*>(&model[i + 1]) : nullptr;
    if (linear != nullptr && bn != nullptr && bn->running_mean.defined()) {
      out->push_back(fold_linear_batchnorm(*linear, *bn));
      ++i;
    } else if (auto* inner = dynamic_cast<Sequential*>(&model[i])) {
      out->push_back(fold_batchnorm(*inner));
    } else {
      out->push_back(model.ptr(i));
    }
  }
  out->eval();
  return out;
}

}  // namespace normrt::nn
