#include "normrt/nn/fold.h"

#include <cmath>

#include "normrt/error.h"
#include "normrt/nn/batchnorm.h"

namespace normrt::nn {

namespace {

// Per output channel: scale = gamma / sqrt(running_var + eps), shift = beta - running_mean * scale; the folded layer
// is W' = W * scale (each output row), b' = b * scale + shift. Computed in double on the host.
struct FoldedChannels {
  std::vector<double> scale, shift;
};

FoldedChannels fold_channels(const BatchNormBase& bn, int64_t channels, const std::string& layer) {
  NORMRT_CHECK(bn.running_mean.defined(), bn.name(), ": only BatchNorm with running statistics can be folded");
  NORMRT_CHECK(bn.options().num_features() == channels, "fold: ", bn.name(), "(", bn.options().num_features(),
               ") cannot follow a ", layer, " with ", channels, " outputs");
  const auto mean = bn.running_mean.to_vector(), var = bn.running_var.to_vector();
  const auto gamma = bn.weight.defined() ? bn.weight.to_vector() : std::vector<float>(channels, 1.0f);
  const auto beta = bn.bias.defined() ? bn.bias.to_vector() : std::vector<float>(channels, 0.0f);
  FoldedChannels f;
  for (int64_t o = 0; o < channels; ++o) {
    const double scale = gamma[o] / std::sqrt(static_cast<double>(var[o]) + bn.options().eps());
    f.scale.push_back(scale);
    f.shift.push_back(beta[o] - mean[o] * scale);
  }
  return f;
}

// Writes the folded weight and bias of a layer into `weight` and `bias`, laid out as the layer's weight (a
// channels-last convolution stays channels-last) on its device. The weight is (out, ...), or with `transposed_groups`
// a transposed convolution's (in, out / groups, ...), whose output channel of group g is g * out / groups plus its
// index in dimension 1.
void apply_fold(const FoldedChannels& f, const Tensor& old_weight, const Tensor& old_bias, Tensor& weight,
                Tensor& bias, int64_t transposed_groups = 0) {
  const int64_t rows = old_weight.size(0), cols = old_weight.size(1);
  const int64_t out = transposed_groups > 0 ? cols * transposed_groups : rows;
  const int64_t per_col = rows * cols > 0 ? old_weight.numel() / (rows * cols) : 0;
  const int64_t rows_per_group = transposed_groups > 0 ? rows / transposed_groups : 1;
  const auto w = old_weight.contiguous().to_vector();
  const auto b = old_bias.defined() ? old_bias.to_vector() : std::vector<float>(out, 0.0f);
  std::vector<float> folded_w(w.size()), folded_b(out);
  for (std::size_t i = 0; i < w.size(); ++i) {
    const int64_t row = static_cast<int64_t>(i) / (cols * per_col), col = static_cast<int64_t>(i) / per_col % cols;
    const int64_t o = transposed_groups > 0 ? row / rows_per_group * cols + col : row;
    folded_w[i] = static_cast<float>(w[i] * f.scale[o]);
  }
  for (int64_t o = 0; o < out; ++o) folded_b[o] = static_cast<float>(b[o] * f.scale[o] + f.shift[o]);
  weight.set_data(from_vector(folded_w, old_weight.sizes()).to(old_weight.memory_format()).to(old_weight.device()));
  bias.set_data(from_vector(folded_b, {out}).to(old_weight.device()));
}

// Whether bn is the BatchNorm of a layer whose weight has `weight_dims` dimensions (a convolution's 3 to 5).
bool same_rank(int64_t weight_dims, const BatchNormBase& bn) {
  return bn.name() == "BatchNorm" + std::to_string(weight_dims - 2) + "d";
}

std::shared_ptr<Module> fold_module(const std::shared_ptr<Module>& module);

std::shared_ptr<Sequential> fold_sequential(Sequential& model) {
  auto out = std::make_shared<Sequential>();
  for (std::size_t i = 0; i < model.size(); ++i) {
    auto* bn = i + 1 < model.size() ? dynamic_cast<BatchNormBase*>(&model[i + 1]) : nullptr;
    const bool foldable = bn != nullptr && bn->running_mean.defined();
    auto* linear = dynamic_cast<Linear*>(&model[i]);
    auto* conv = dynamic_cast<ConvBase*>(&model[i]);
    auto* transposed = dynamic_cast<ConvTransposeBase*>(&model[i]);
    if (foldable && linear != nullptr && bn->name() == "BatchNorm1d") {
      out->push_back(fold_linear_batchnorm(*linear, *bn));
    } else if (foldable && conv != nullptr && same_rank(conv->weight.dim(), *bn)) {
      out->push_back(fold_conv_batchnorm(*conv, *bn));
    } else if (foldable && transposed != nullptr && same_rank(transposed->weight.dim(), *bn)) {
      out->push_back(fold_conv_batchnorm(*transposed, *bn));
    } else {
      out->push_back(fold_module(model.ptr(i)));
      continue;
    }
    ++i;
    if (bn->options().relu()) out->push_back(ReLU());  // the fused ReLU outlives the folded BatchNorm
  }
  out->eval();
  return out;
}

// Containers are rebuilt with their contents folded; every other module is shared.
std::shared_ptr<Module> fold_module(const std::shared_ptr<Module>& module) {
  if (auto* seq = dynamic_cast<Sequential*>(module.get())) return fold_sequential(*seq);
  if (dynamic_cast<Residual*>(module.get()) != nullptr) {
    std::shared_ptr<Module> body, shortcut;
    for (const auto& [name, child] : module->named_children()) (name == "body" ? body : shortcut) = fold_module(child);
    auto folded = std::make_shared<Residual>(body, shortcut);
    folded->relu(static_cast<Residual&>(*module).has_relu());
    folded->eval();
    return folded;
  }
  if (auto* concat = dynamic_cast<Concat*>(module.get())) {
    auto folded = std::make_shared<Concat>(concat->dim());
    for (const auto& entry : module->named_children()) folded->push_back(fold_module(entry.second));
    folded->eval();
    return folded;
  }
  return module;
}

}  // namespace

std::shared_ptr<Linear> fold_linear_batchnorm(const Linear& linear, const BatchNormBase& bn) {
  const int64_t out = linear.weight.size(0), in = linear.weight.size(1);
  const FoldedChannels f = fold_channels(bn, out, "Linear");
  Generator unused(0);
  auto folded = std::make_shared<Linear>(in, out, true, &unused);
  apply_fold(f, linear.weight, linear.bias, folded->weight, folded->bias);
  folded->eval();
  return folded;
}

std::shared_ptr<ConvBase> fold_conv_batchnorm(const ConvBase& conv, const BatchNormBase& bn) {
  NORMRT_CHECK(same_rank(conv.weight.dim(), bn), "fold: ", bn.name(), " cannot follow a ", conv.name());
  const FoldedChannels f = fold_channels(bn, conv.weight.size(0), conv.name());
  Generator unused(0);
  const ConvOptions options = ConvOptions(conv.options()).bias(true);
  std::shared_ptr<ConvBase> folded;
  switch (conv.weight.dim()) {
    case 3: folded = std::make_shared<Conv1d>(options, &unused); break;
    case 4: folded = std::make_shared<Conv2d>(options, &unused); break;
    default: folded = std::make_shared<Conv3d>(options, &unused); break;
  }
  apply_fold(f, conv.weight, conv.bias, folded->weight, folded->bias);
  folded->eval();
  return folded;
}

std::shared_ptr<ConvTransposeBase> fold_conv_batchnorm(const ConvTransposeBase& conv, const BatchNormBase& bn) {
  NORMRT_CHECK(same_rank(conv.weight.dim(), bn), "fold: ", bn.name(), " cannot follow a ", conv.name());
  const int64_t groups = conv.options().groups();
  const FoldedChannels f = fold_channels(bn, conv.weight.size(1) * groups, conv.name());
  Generator unused(0);
  const ConvTransposeOptions options = ConvTransposeOptions(conv.options()).bias(true);
  std::shared_ptr<ConvTransposeBase> folded;
  switch (conv.weight.dim()) {
    case 3: folded = std::make_shared<ConvTranspose1d>(options, &unused); break;
    case 4: folded = std::make_shared<ConvTranspose2d>(options, &unused); break;
    default: folded = std::make_shared<ConvTranspose3d>(options, &unused); break;
  }
  apply_fold(f, conv.weight, conv.bias, folded->weight, folded->bias, groups);
  folded->eval();
  return folded;
}

std::shared_ptr<Sequential> fold_batchnorm(Sequential& model) {
  NORMRT_CHECK(!model.is_training(), "fold_batchnorm: the model must be in eval mode (call eval() first): folding "
                                     "uses the running statistics");
  return fold_sequential(model);
}

}  // namespace normrt::nn
