#include "trainer.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <numeric>
#include <sstream>
#include <variant>

#include <nlohmann/json.hpp>

#include "checkpoint.h"
#include "normrt/cuda.h"
#include "normrt/cuda_graph.h"
#include "normrt/error.h"
#include "normrt/file_io.h"
#include "normrt/grad_mode.h"
#include "normrt/nn/batchnorm.h"
#include "normrt/nn/conv.h"
#include "normrt/nn/pooling.h"
#include "normrt/ops/elementwise.h"

namespace normrt::app {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

constexpr const char* kOptimizers = "sgd, adam, adadelta, rmsprop, adagrad, adamax, radam";

std::unique_ptr<optim::Optimizer> make_optimizer(const TrainConfig& c, std::vector<Tensor> params) {
  if (c.optimizer == "sgd")
    return std::make_unique<optim::SGD>(std::move(params),
                                        optim::SGDOptions(c.lr).momentum(c.momentum).weight_decay(c.weight_decay));
  if (c.optimizer == "adam")
    return std::make_unique<optim::Adam>(std::move(params), optim::AdamOptions(c.lr).weight_decay(c.weight_decay));
  if (c.optimizer == "adadelta")
    return std::make_unique<optim::Adadelta>(std::move(params),
                                             optim::AdadeltaOptions(c.lr).weight_decay(c.weight_decay));
  if (c.optimizer == "rmsprop")
    return std::make_unique<optim::RMSprop>(std::move(params),
                                            optim::RMSpropOptions(c.lr).weight_decay(c.weight_decay));
  if (c.optimizer == "adagrad")
    return std::make_unique<optim::Adagrad>(std::move(params),
                                            optim::AdagradOptions(c.lr).weight_decay(c.weight_decay));
  if (c.optimizer == "adamax")
    return std::make_unique<optim::Adamax>(std::move(params), optim::AdamaxOptions(c.lr).weight_decay(c.weight_decay));
  if (c.optimizer == "radam")
    return std::make_unique<optim::RAdam>(std::move(params), optim::RAdamOptions(c.lr).weight_decay(c.weight_decay));
  NORMRT_THROW("unknown optimizer '", c.optimizer, "' (", kOptimizers, ")");
}

// Sums 0-dim tensors (float or int64) on the host: the only place a training epoch reads device values.
double drain(std::vector<Tensor>& pending, std::vector<float>* each = nullptr) {
  double total = 0;
  for (const Tensor& t : pending) {
    const double v = t.dtype() == DType::Int64 ? static_cast<double>(t.item<int64_t>()) : t.item<float>();
    if (each) each->push_back(static_cast<float>(v));
    total += v;
  }
  pending.clear();
  return total;
}

std::vector<nn::Dropout*> dropout_layers(nn::Sequential& model) {
  std::vector<nn::Dropout*> out;
  for (nn::Module* m : model.modules())
    if (auto* d = dynamic_cast<nn::Dropout*>(m)) out.push_back(d);
  return out;
}

Tensor generator_state(const Generator& g) {
  return from_vector(std::vector<int64_t>{static_cast<int64_t>(g.seed()), static_cast<int64_t>(g.offset())}, {2});
}

void set_generator_state(Generator& g, const Tensor& t) {
  const auto v = t.to_vector<int64_t>();
  g.set_state(static_cast<uint64_t>(v[0]), static_cast<uint64_t>(v[1]));
}

// The options a checkpoint records, by metadata key.
using Member = std::variant<std::string TrainConfig::*, int TrainConfig::*, int64_t TrainConfig::*,
                            uint64_t TrainConfig::*, double TrainConfig::*, bool TrainConfig::*>;
const std::vector<std::pair<std::string, Member>>& recorded_options() {
  static const std::vector<std::pair<std::string, Member>> fields = {
      {"model", &TrainConfig::model},         {"epochs", &TrainConfig::epochs},
      {"batch_size", &TrainConfig::batch_size}, {"optimizer", &TrainConfig::optimizer},
      {"lr", &TrainConfig::lr},               {"lr_schedule", &TrainConfig::lr_schedule},
      {"momentum", &TrainConfig::momentum},   {"weight_decay", &TrainConfig::weight_decay},
      {"dropout", &TrainConfig::dropout},     {"seed", &TrainConfig::seed},
      {"normalize", &TrainConfig::normalize}, {"val_split", &TrainConfig::val_split},
      {"early_stopping", &TrainConfig::early_stopping}, {"limit_train", &TrainConfig::limit_train},
      {"limit_test", &TrainConfig::limit_test}, {"crop_padding", &TrainConfig::crop_padding},
      {"flip", &TrainConfig::flip},           {"precision", &TrainConfig::precision},
      {"sync_bn", &TrainConfig::sync_bn}};
  return fields;
}

std::string format_value(const std::string& v) { return v; }
std::string format_value(bool v) { return v ? "true" : "false"; }
std::string format_value(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);  // round-trips exactly
  return buf;
}
template <typename Int>
std::string format_value(Int v) { return std::to_string(v); }

bool parse_value(const std::string& text, std::string& out) { out = text; return true; }
bool parse_value(const std::string& text, bool& out) {
  if (text != "true" && text != "false") return false;
  out = text == "true";
  return true;
}
template <typename Number>
bool parse_value(const std::string& text, Number& out) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end && !text.empty();
}

std::string format_member(const TrainConfig& c, const Member& m) {
  return std::visit([&](auto member) { return format_value(c.*member); }, m);
}

const char* const kMetadataFormat = "normrt-train";

// Values read back from a file: every float finite, and the counters and variances non-negative.
void check_values(const std::string& name, const std::string& key, const Tensor& t) {
  if (t.dtype() == DType::Float32) {
    const float* v = t.data<float>();
    const bool variance = key.size() >= 11 && key.compare(key.size() - 11, 11, "running_var") == 0;
    for (int64_t i = 0; i < t.numel(); ++i) {
      NORMRT_CHECK(std::isfinite(v[i]), name, ": '", key, "' holds a non-finite value (", v[i], " at index ", i, ")");
      NORMRT_CHECK(!variance || v[i] >= 0, name, ": '", key, "' holds a negative variance (", v[i], ")");
    }
  } else {
    const int64_t* v = t.data<int64_t>();
    for (int64_t i = 0; i < t.numel(); ++i)
      NORMRT_CHECK(v[i] >= 0, name, ": '", key, "' holds a negative count (", v[i], ")");
  }
}

// Model entries ("model." prefix removed) of a checkpoint, checked for values; the structure is checked by the
// module that loads them.
nn::NamedTensors model_entries(const Checkpoint& checkpoint, const std::string& name) {
  nn::NamedTensors out;
  for (const auto& [key, value] : checkpoint.tensors) {
    if (key.rfind("model.", 0) != 0) continue;
    check_values(name, key, value);
    out.emplace_back(key.substr(6), value);
  }
  return out;
}

int64_t metadata_int(const std::map<std::string, std::string>& metadata, const std::string& key,
                     const std::string& name, int64_t lo, int64_t hi) {
  const auto it = metadata.find(key);
  NORMRT_CHECK(it != metadata.end(), name, ": checkpoint metadata lacks '", key, "'");
  int64_t v = 0;
  NORMRT_CHECK(parse_value(it->second, v) && v >= lo && v <= hi, name, ": checkpoint metadata '", key, "' = '",
               it->second.substr(0, 40), "' is not an integer in [", lo, ", ", hi, "]");
  return v;
}

bool is_mlp(const std::string& kind) { return kind == "mlp" || kind == "mlp-bn"; }

}  // namespace

void check_model_name(const std::string& kind) {
  NORMRT_CHECK(kind == "mlp" || kind == "mlp-bn" || kind == "cnn" || kind == "cnn-bn" || kind == "resnet",
               "unknown model '", kind, "' (mlp, mlp-bn, cnn, cnn-bn, resnet)");
}

bool has_batchnorm(const std::string& kind) { return kind != "mlp" && kind != "cnn"; }

MemoryFormat parse_memory_format(const std::string& name) {
  NORMRT_CHECK(name == "contiguous" || name == "channels_last", "unknown memory format '", name,
               "' (contiguous, channels_last)");
  return name == "contiguous" ? MemoryFormat::Contiguous : MemoryFormat::ChannelsLast;
}

TrainConfig with_model_defaults(TrainConfig c) {
  if (c.crop_padding < 0) c.crop_padding = c.model == "resnet" ? 2 : 0;
  if (c.flip < 0) c.flip = c.model == "resnet" ? 0.5 : 0.0;
  if (c.optimizer.empty()) c.optimizer = c.model == "resnet" ? "sgd" : "adam";
  const bool resnet_recipe = c.model == "resnet" && c.optimizer == "sgd";
  if (c.lr < 0) c.lr = resnet_recipe ? 0.1 : 1e-3;
  if (c.weight_decay < 0) c.weight_decay = resnet_recipe ? 5e-4 : 0.0;
  return c;
}

constexpr int kMaxEpochs = 1000000;

void validate_config(const TrainConfig& c) {
  check_model_name(c.model);
  auto non_negative = [](double v, const char* option) {
    NORMRT_CHECK(std::isfinite(v) && v >= 0, option, " must be a non-negative number, got ", v);
  };
  NORMRT_CHECK(c.epochs >= 0 && c.epochs <= kMaxEpochs, "--epochs must be in [0, ", kMaxEpochs, "], got ", c.epochs);
  NORMRT_CHECK(c.stop_after >= 0, "--stop-after must be non-negative, got ", c.stop_after);
  NORMRT_CHECK(c.batch_size >= 1, "--batch-size must be positive, got ", c.batch_size);
  NORMRT_CHECK(c.batch_size >= 2 || !has_batchnorm(c.model), "--batch-size 1 cannot train ", c.model,
               " (BatchNorm: Expected more than 1 value per channel when training)");
  NORMRT_CHECK(c.optimizer.empty() || c.optimizer == "sgd" || c.optimizer == "adam" || c.optimizer == "adadelta" ||
                   c.optimizer == "rmsprop" || c.optimizer == "adagrad" || c.optimizer == "adamax" ||
                   c.optimizer == "radam",
               "unknown optimizer '", c.optimizer, "' (", kOptimizers, ")");
  // -1: the model's default.
  if (c.lr != -1.0) non_negative(c.lr, "--lr");
  NORMRT_CHECK(c.lr_schedule == "cosine" || c.lr_schedule == "none", "unknown --lr-schedule '", c.lr_schedule,
               "' (cosine, none)");
  non_negative(c.momentum, "--momentum");
  if (c.weight_decay != -1.0) non_negative(c.weight_decay, "--weight-decay");
  NORMRT_CHECK(c.dropout >= 0 && c.dropout <= 1, "--dropout: dropout probability has to be between 0 and 1, but got ",
               c.dropout);
  NORMRT_CHECK(c.device == "auto" || c.device == "cpu" || c.device == "cuda", "unknown device '", c.device,
               "' (auto, cpu, cuda)");
  parse_backend(c.bn_backend);
  NORMRT_CHECK(parse_memory_format(c.memory_format) == MemoryFormat::Contiguous || !is_mlp(c.model), "--memory-format ",
               c.memory_format, " needs a convolutional model (cnn, cnn-bn, resnet), got ", c.model);
  NORMRT_CHECK(c.crop_padding >= -1 && c.crop_padding <= 27, "--crop-padding must be in [0, 27] (-1: the model's "
               "default), got ", c.crop_padding);
  NORMRT_CHECK(c.flip == -1.0 || (c.flip >= 0 && c.flip <= 1), "--flip must be a probability in [0, 1] (-1: the "
               "model's default), got ", c.flip);
  NORMRT_CHECK(c.val_split >= 0 && c.val_split < 1, "--val-split must be in [0, 1), got ", c.val_split);
  NORMRT_CHECK(c.early_stopping >= 0, "--early-stopping must be non-negative, got ", c.early_stopping);
  NORMRT_CHECK(c.early_stopping == 0 || c.val_split > 0, "--early-stopping needs --val-split");
  NORMRT_CHECK(c.limit_train >= 0 && c.limit_test >= 0, "--limit-train and --limit-test must be non-negative");
  NORMRT_CHECK(c.precision == "fp32" || c.precision == "fp16" || c.precision == "bf16", "unknown --precision '",
               c.precision, "' (fp32, fp16, bf16)");
  NORMRT_CHECK(c.stop_after == 0 || !c.save_path.empty(), "--stop-after needs --save (the checkpoint to resume from)");
}

std::map<std::string, std::string> config_metadata(const TrainConfig& config) {
  std::map<std::string, std::string> out;
  for (const auto& [key, member] : recorded_options()) out[key] = format_member(config, member);
  out["format"] = kMetadataFormat;
  return out;
}

TrainConfig config_from_metadata(const std::map<std::string, std::string>& metadata, const std::string& name) {
  const auto format = metadata.find("format");
  NORMRT_CHECK(format != metadata.end() && format->second == kMetadataFormat, name,
               ": not a normrt-train checkpoint (no 'format: normrt-train' in its metadata)");
  TrainConfig c;
  for (const auto& [key, member] : recorded_options()) {
    const auto it = metadata.find(key);
    if (it == metadata.end() && (key == "crop_padding" || key == "flip" || key == "precision" || key == "sync_bn"))
      continue;  // older checkpoints: none
    NORMRT_CHECK(it != metadata.end(), name, ": checkpoint metadata lacks '", key, "'");
    const bool ok = std::visit([&](auto m) { return parse_value(it->second, c.*m); }, member);
    NORMRT_CHECK(ok, name, ": checkpoint metadata '", key, "' has a malformed value '", it->second.substr(0, 40), "'");
  }
  try {
    validate_config(c);
  } catch (const Error& e) {
    NORMRT_THROW(name, ": the checkpoint's configuration is invalid: ", e.what());
  }
  return c;
}

TrainConfig resolve_resume_config(const TrainConfig& cli, const std::set<std::string>& given,
                                  const Checkpoint& checkpoint, const std::string& name,
                                  std::vector<std::string>& notices) {
  const TrainConfig stored = config_from_metadata(checkpoint.metadata, name);
  TrainConfig out = stored;
  for (const auto& [key, member] : recorded_options()) {
    if (!given.count(key)) continue;
    const std::string was = format_member(stored, member), now = format_member(cli, member);
    if (was == now) continue;
    std::string option = "--" + key;
    std::replace(option.begin(), option.end(), '_', '-');
    if (key == "model")
      NORMRT_THROW(name, ": checkpoint holds an ", stored.model, " model but --model is ", cli.model);
    NORMRT_CHECK(key != "optimizer" && key != "seed" && key != "val_split", name, ": the checkpoint's run has ",
                 option, " ", was, "; a resumed run cannot change it (got ", now, ")");
    NORMRT_CHECK(key != "dropout" || ((stored.dropout > 0) == (cli.dropout > 0)), name,
                 ": the checkpoint's model has ", stored.dropout > 0 ? "dropout layers" : "no dropout layers",
                 "; --dropout ", now, " would change its layers");
    std::visit([&](auto m) { out.*m = cli.*m; }, member);
    notices.push_back(key == "epochs"
                          ? "--epochs " + now + " replaces the checkpoint's " + was +
                                ": the remaining epochs follow the learning-rate schedule of an " + now +
                                "-epoch run"
                          : option + " " + now + " replaces the checkpoint's " + was +
                                ": the run no longer repeats the uninterrupted one");
  }
  out.device = cli.device;
  out.bn_backend = cli.bn_backend;
  out.memory_format = cli.memory_format;
  out.save_path = cli.save_path;
  out.resume_path = cli.resume_path;
  out.stop_after = cli.stop_after;
  out.progress = cli.progress;
  validate_config(out);
  return out;
}

std::shared_ptr<nn::Sequential> load_model(const Checkpoint& checkpoint, const std::string& name, TrainConfig& config) {
  config = config_from_metadata(checkpoint.metadata, name);
  Generator gen(config.seed);
  auto model = build_model(config.model, config.dropout, gen, std::nullopt);
  const nn::NamedTensors state = model_entries(checkpoint, name);
  try {
    model->load_state_dict(state);
  } catch (const Error& e) {
    NORMRT_THROW(name, ": ", e.what());
  }
  model->eval();
  return model;
}

void prepare_output_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  NORMRT_CHECK(!ec, "--out ", dir, ": cannot create the directory (", ec.message(), ")");
  NORMRT_CHECK(std::filesystem::is_directory(dir, ec), "--out ", dir, ": not a directory");
  NORMRT_CHECK(::access(dir.c_str(), W_OK | X_OK) == 0, "--out ", dir, ": cannot write into it (",
               std::strerror(errno), ")");
}

void check_output_file(const std::string& path) {
  std::error_code ec;
  NORMRT_CHECK(!path.empty() && !std::filesystem::is_directory(path, ec), "'", path,
               "' is a directory, not a file name");
  const auto status = std::filesystem::symlink_status(path, ec);
  NORMRT_CHECK(!std::filesystem::exists(status) || std::filesystem::is_regular_file(status) ||
                   std::filesystem::is_symlink(status),
               path, ": is a device, FIFO or socket, not a file normrt may replace");
  const auto parent = std::filesystem::path(path).parent_path();
  const std::string dir = parent.empty() ? "." : parent.string();
  NORMRT_CHECK(std::filesystem::is_directory(dir, ec), path, ": directory '", dir, "' does not exist");
  NORMRT_CHECK(::access(dir.c_str(), W_OK | X_OK) == 0, path, ": cannot write into directory '", dir, "' (",
               std::strerror(errno), ")");
}

namespace {

// Dropout(p) when p > 0, drawing its seed from gen.
void maybe_dropout(nn::Sequential& model, double p, Generator& gen) {
  if (p > 0) model.push_back(std::make_shared<nn::Dropout>(p, &gen));
}

std::shared_ptr<nn::Sequential> build_mlp(bool bn, double dropout, Generator& gen, std::optional<Backend> backend) {
  auto model = std::make_shared<nn::Sequential>();
  int64_t width = 784;
  for (int layer = 0; layer < 2; ++layer) {
    // With BatchNorm after it, the Linear's bias would be cancelled by the mean subtraction: off, as in the seed.
    model->push_back(std::make_shared<nn::Linear>(width, 256, !bn, &gen));
    if (bn) model->push_back(std::make_shared<nn::BatchNorm1d>(nn::BatchNormOptions(256).backend(backend)));
    model->push_back(std::make_shared<nn::ReLU>());
    maybe_dropout(*model, dropout, gen);
    width = 256;
  }
  model->push_back(std::make_shared<nn::Linear>(256, 10, true, &gen));
  return model;
}

// The tutorials' network: Conv2d(1,32,3) -> [BN2d] -> ReLU -> Conv2d(32,64,3) -> [BN2d] -> ReLU -> MaxPool2d(2) ->
// Dropout(0.25) -> Flatten -> Linear(9216,128) -> [BN1d] -> ReLU -> [Dropout(p)] -> Linear(128,10). Biases are off
// where BatchNorm follows (its mean subtraction cancels them).
std::shared_ptr<nn::Sequential> build_cnn(bool bn, double dropout, Generator& gen, std::optional<Backend> backend,
                                          MemoryFormat activations) {
  auto model = std::make_shared<nn::Sequential>();
  model->push_back(std::make_shared<nn::Unflatten>(1, Shape{1, 28, 28}, activations));
  int64_t channels = 1;
  for (int64_t width : {32, 64}) {
    model->push_back(std::make_shared<nn::Conv2d>(nn::ConvOptions(channels, width, 3).bias(!bn), &gen));
    if (bn) model->push_back(std::make_shared<nn::BatchNorm2d>(nn::BatchNormOptions(width).backend(backend)));
    model->push_back(std::make_shared<nn::ReLU>());
    channels = width;
  }
  model->push_back(std::make_shared<nn::MaxPool2d>(2));
  model->push_back(std::make_shared<nn::Dropout>(0.25, &gen));
  model->push_back(std::make_shared<nn::Flatten>());
  model->push_back(std::make_shared<nn::Linear>(9216, 128, !bn, &gen));
  if (bn) model->push_back(std::make_shared<nn::BatchNorm1d>(nn::BatchNormOptions(128).backend(backend)));
  model->push_back(std::make_shared<nn::ReLU>());
  maybe_dropout(*model, dropout, gen);
  model->push_back(std::make_shared<nn::Linear>(128, 10, true, &gen));
  return model;
}

std::shared_ptr<nn::Module> conv_bn(int64_t in, int64_t out, int64_t kernel, int64_t stride, Generator& gen,
                                    std::optional<Backend> backend) {
  return std::make_shared<nn::Sequential>(
      std::make_shared<nn::Conv2d>(nn::ConvOptions(in, out, kernel).stride(stride).padding(kernel / 2).bias(false),
                                   &gen),
      std::make_shared<nn::BatchNorm2d>(nn::BatchNormOptions(out).backend(backend)));
}

// A ResNet basic block: ReLU(BN(conv3x3(ReLU(BN(conv3x3(x))))) + shortcut(x)), the shortcut a 1x1 convolution with
// BatchNorm where the shape changes.
void basic_block(nn::Sequential& model, int64_t in, int64_t out, int64_t stride, Generator& gen,
                 std::optional<Backend> backend) {
  auto body = std::make_shared<nn::Sequential>(conv_bn(in, out, 3, stride, gen, backend), std::make_shared<nn::ReLU>(),
                                               conv_bn(out, out, 3, 1, gen, backend));
  auto shortcut = in != out || stride != 1 ? conv_bn(in, out, 1, stride, gen, backend) : nullptr;
  model.push_back(std::make_shared<nn::Residual>(body, shortcut));
  model.push_back(std::make_shared<nn::ReLU>());
}

// A small ResNet for 28x28 images: a 3x3 stem, three stages of two basic blocks (16, 32, 64 channels; the second
// and third stages halve the resolution), global average pooling and a Linear classifier.
std::shared_ptr<nn::Sequential> build_resnet(double dropout, Generator& gen, std::optional<Backend> backend,
                                             MemoryFormat activations) {
  auto model = std::make_shared<nn::Sequential>();
  model->push_back(std::make_shared<nn::Unflatten>(1, Shape{1, 28, 28}, activations));
  model->push_back(conv_bn(1, 16, 3, 1, gen, backend));
  model->push_back(std::make_shared<nn::ReLU>());
  int64_t channels = 16;
  for (int64_t width : {16, 32, 64}) {
    basic_block(*model, channels, width, width == channels ? 1 : 2, gen, backend);
    basic_block(*model, width, width, 1, gen, backend);
    channels = width;
  }
  model->push_back(std::make_shared<nn::AdaptiveAvgPool2d>(1));
  model->push_back(std::make_shared<nn::Flatten>());
  maybe_dropout(*model, dropout, gen);
  model->push_back(std::make_shared<nn::Linear>(64, 10, true, &gen));
  return model;
}

}  // namespace

std::shared_ptr<nn::Sequential> build_model(const std::string& kind, double dropout, Generator& gen,
                                            std::optional<Backend> bn_backend, MemoryFormat activations) {
  check_model_name(kind);
  NORMRT_CHECK(activations == MemoryFormat::Contiguous || !is_mlp(kind), "build_model: ", kind,
               " has no convolutional activations to lay out in ", memory_format_name(activations));
  if (is_mlp(kind)) return build_mlp(kind == "mlp-bn", dropout, gen, bn_backend);
  if (kind == "cnn" || kind == "cnn-bn") return build_cnn(kind == "cnn-bn", dropout, gen, bn_backend, activations);
  return build_resnet(dropout, gen, bn_backend, activations);
}

Device resolve_device(const std::string& name) {
  if (name == "cpu") return Device::cpu();
  if (name == "cuda") {
    cuda::check_device(Device::cuda(0));
    return Device::cuda(0);
  }
  NORMRT_CHECK(name == "auto", "unknown device '", name, "' (auto, cpu, cuda)");
  return cuda::is_available() ? Device::cuda(0) : Device::cpu();
}

namespace {

// The network's forward under the run's autocast (none for fp32).
Tensor forward_in_precision(nn::Module& model, const Tensor& images, std::optional<DType> autocast) {
  std::optional<amp::AutocastGuard> guard;
  if (autocast) guard.emplace(*autocast);
  return model.forward(images);
}

// One training step after the gradients are zeroed: forward, the loss in float32, the backward of its gradient
// (multiplied by the loss scale for fp16), and the optimizer's step (which the scaler skips after inf/NaN
// gradients; decided on the device with `skip_on_device`, as a CUDA graph needs). Returns the loss and the logits.
std::pair<Tensor, Tensor> train_step(nn::Module& model, nn::CrossEntropyLoss& criterion, optim::Optimizer& optimizer,
                                     const Tensor& images, const Tensor& labels, std::optional<DType> autocast,
                                     amp::GradScaler* scaler, bool skip_on_device = false) {
  Tensor logits = forward_in_precision(model, images, autocast);
  Tensor loss = criterion.forward(logits, labels);
  const Tensor grad = criterion.backward();
  model.backward_parameters(scaler != nullptr ? scaler->scale(grad) : grad);
  if (scaler != nullptr) {
    if (skip_on_device)
      scaler->step_on_device(optimizer);
    else
      scaler->step(optimizer);
    scaler->update();
  } else {
    optimizer.step();
  }
  return {loss, logits};
}

}  // namespace

#if NORMRT_WITH_CUDA
// The training step as a CUDA graph (--cuda-graph): the first full batch runs eagerly (it creates the gradients,
// the optimizer state, the library handles, workspaces and algorithm choices), the second is captured and replayed,
// every later one refills the static input tensors and replays. Gradients are zeroed in place and the optimizer
// runs from a per-epoch plan (Optimizer::plan_steps), the dropout layers keep their offsets on the device, and
// fp16's loss scaler skips steps on the device (GradScaler::step_on_device), so a replay is the step it stands for,
// bit for bit. Batches of another size (an epoch's last) run eagerly on the same gradients and plan.
class GraphStep {
 public:
  GraphStep(nn::Sequential& model, optim::Optimizer& optimizer, const Device& device, int64_t batch_size,
            std::optional<DType> autocast, amp::GradScaler* scaler)
      : model_(model),
        optimizer_(optimizer),
        device_(device),
        batch_size_(batch_size),
        autocast_(autocast),
        scaler_(scaler) {
    for (nn::Module* m : model_.modules())
      if (auto* dropout = dynamic_cast<nn::Dropout*>(m)) {
        dropout->track_offset_on(device_);
        dropouts_.push_back(dropout);
      }
  }
  ~GraphStep() {
    for (nn::Dropout* dropout : dropouts_) dropout->track_offset_on(Device::cpu());
  }
  GraphStep(const GraphStep&) = delete;
  GraphStep& operator=(const GraphStep&) = delete;

  // The optimizer's plan for an epoch of `steps` steps, after its learning rates are set.
  void start_epoch(int64_t steps) { optimizer_.plan_steps(steps); }

  // One training step; returns its loss and logits (the graph's are overwritten by the next replay: copies).
  std::pair<Tensor, Tensor> run(const Batch& batch, nn::CrossEntropyLoss& criterion) {
    if (batch.images.size(0) != batch_size_ || !warmed_up_) {
      warmed_up_ = warmed_up_ || batch.images.size(0) == batch_size_;
      return eager(batch.images, batch.labels, criterion);
    }
    if (!graph_) {
      images_ = batch.images.clone();
      labels_ = batch.labels.clone();
      graph_ = std::make_unique<cuda::Graph>(device_.index());
      graph_->capture_begin();
      std::tie(loss_, logits_) = eager(images_, labels_, criterion);
      graph_->capture_end();
      graph_->replay();  // the capture ran nothing; its host bookkeeping is this step's
    } else {
      images_.copy_(batch.images);
      labels_.copy_(batch.labels);
      graph_->replay();
      optimizer_.replayed(1);
      for (nn::Dropout* dropout : dropouts_) dropout->replayed(1);
    }
    return {loss_.clone(), logits_};  // the caller reads the logits before the next replay (stream order)
  }

 private:
  std::pair<Tensor, Tensor> eager(const Tensor& images, const Tensor& labels, nn::CrossEntropyLoss& criterion) {
    optimizer_.zero_grad(false);
    return train_step(model_, criterion, optimizer_, images, labels, autocast_, scaler_, true);
  }

  nn::Sequential& model_;
  optim::Optimizer& optimizer_;
  Device device_;
  int64_t batch_size_;
  std::optional<DType> autocast_;
  amp::GradScaler* scaler_;  // fp16, else null
  bool warmed_up_ = false;  // a full batch has run eagerly
  std::vector<nn::Dropout*> dropouts_;
  std::unique_ptr<cuda::Graph> graph_;
  Tensor images_, labels_, loss_, logits_;  // the graph's inputs and outputs
};
#else
// Without CUDA there is no device to capture on: normrt-train never makes a GraphStep.
class GraphStep {
 public:
  void start_epoch(int64_t) {}
  std::pair<Tensor, Tensor> run(const Batch&, nn::CrossEntropyLoss&) {
    NORMRT_THROW("CUDA graphs need a build with CUDA");
  }
};
#endif

Trainer::Trainer(TrainConfig config, const Dataset& train, const Dataset& test, dist::ProcessGroup* group)
    : config_((validate_config(config), with_model_defaults(std::move(config)))), train_(train), test_(test),
      device_(resolve_device(config_.device)), init_generator_(config_.seed),
      group_(group != nullptr && group->size() > 1 ? group : nullptr), leader_(group == nullptr || group->rank() == 0) {
  for (const Dataset* d : {&train, &test})
    NORMRT_CHECK(d->rows == 28 && d->cols == 28, "the data set's images are ", d->rows, "x", d->cols,
                 " pixels; the models take 28x28 (Fashion-MNIST, MNIST)");
  if (config_.sync_bn) {
    NORMRT_CHECK(has_batchnorm(config_.model), "--sync-bn: ", config_.model, " has no BatchNorm");
    NORMRT_CHECK(config_.precision == "fp32", "--sync-bn: normrt-train runs SyncBatchNorm in fp32 only (pass ",
                 "--precision fp32)");
  }
  // One GPU per process, chosen by the launcher's local rank.
  if (group_ != nullptr && device_.is_cuda())
    device_ = Device::cuda(dist::launch_environment().local_rank % std::max(cuda::device_count(), 1));
  const MemoryFormat activations = parse_memory_format(config_.memory_format);
  model_ = build_model(config_.model, config_.dropout, init_generator_, parse_backend(config_.bn_backend),
                       activations);
  model_->to(device_);
  // A channels-last run on a GPU lays the convolution weights out channels-last too, as PyTorch's
  // model.to(memory_format=...) does, so that cuDNN reads them as they lie. On the CPU oneDNN reads weights through
  // its own layout anyway: they stay contiguous there.
  if (device_.is_cuda()) model_->to(activations);
  if (group_ != nullptr) {
    if (config_.sync_bn) model_ = std::static_pointer_cast<nn::Sequential>(nn::convert_sync_batchnorm(model_, *group_));
    ddp_ = std::make_unique<nn::DistributedDataParallel>(model_, *group_);
  }
  optimizer_ = make_optimizer(config_, model_->parameters());
  if (config_.precision != "fp32") autocast_ = config_.precision == "fp16" ? DType::Float16 : DType::BFloat16;
  if (config_.precision == "fp16") scaler_ = std::make_unique<amp::GradScaler>();

  const int64_t n_train = config_.limit_train > 0 ? std::min(config_.limit_train, train.count) : train.count;
  std::vector<int64_t> train_idx(static_cast<std::size_t>(n_train));
  std::iota(train_idx.begin(), train_idx.end(), 0);
  std::vector<int64_t> val_idx;
  if (config_.val_split > 0) {
    Generator split(config_.seed ^ 0x5eedULL);
    std::vector<uint32_t> bits(train_idx.size());
    split.random_u32(bits.data(), static_cast<int64_t>(bits.size()));
    for (std::size_t i = train_idx.size(); i > 1; --i) std::swap(train_idx[i - 1], train_idx[bits[i - 1] % i]);
    const auto n_val = static_cast<std::size_t>(std::llround(config_.val_split * static_cast<double>(n_train)));
    val_idx.assign(train_idx.end() - static_cast<std::ptrdiff_t>(n_val), train_idx.end());
    train_idx.resize(train_idx.size() - n_val);
    NORMRT_CHECK(!train_idx.empty() && !val_idx.empty(), "--val-split ", config_.val_split, " leaves an empty split");
  }
  LoaderOptions options;
  options.batch_size = config_.batch_size;
  if (config_.normalize) options.normalize = kFashionMnistNormalize;
  LoaderOptions train_options = options;  // augmentation for training only
  train_options.crop_padding = config_.crop_padding;
  train_options.flip_probability = config_.flip;
  if (group_ != nullptr) {
    train_options.shards = group_->size();
    train_options.shard = group_->rank();
  }
  // BatchNorm cannot train on a batch of one sample: a training set (a rank's shard) that would end every epoch with
  // one is trained without it (a different sample each epoch, as the order is reshuffled).
  const bool batchnorm = has_batchnorm(config_.model);
  const auto n = static_cast<int64_t>((train_idx.size() + train_options.shards - 1) / train_options.shards);
  NORMRT_CHECK(!batchnorm || n >= 2, config_.model, " needs at least 2 training samples (BatchNorm: Expected more "
               "than 1 value per channel when training), got ", n);
  options.drop_last = batchnorm && n > options.batch_size && n % options.batch_size == 1;
  train_options.drop_last = options.drop_last;
  train_loader_ = std::make_unique<DataLoader>(train, train_idx, train_options, config_.seed + 1, device_);
  LoaderOptions eval_options = options;
  eval_options.shuffle = false;
  if (!val_idx.empty()) val_loader_ = std::make_unique<DataLoader>(train, val_idx, eval_options, 0, device_);
  const int64_t n_test = config_.limit_test > 0 ? std::min(config_.limit_test, test.count) : test.count;
  std::vector<int64_t> test_idx(static_cast<std::size_t>(n_test));
  std::iota(test_idx.begin(), test_idx.end(), 0);
  test_loader_ = std::make_unique<DataLoader>(test, test_idx, eval_options, 0, device_);
}

std::pair<double, double> Trainer::evaluate(DataLoader& loader, bool train_mode) {
  nn::NamedTensors snapshot;
  if (train_mode) {
    for (const auto& [key, value] : model_->state_dict()) snapshot.emplace_back(key, value.clone());
  }
  model_->train(train_mode);
  const NoGradGuard no_grad;  // forward only: no activations kept
  std::vector<Tensor> losses, correct;
  loader.start_epoch();
  while (auto batch = loader.next()) {
    const Tensor logits = forward_in_precision(*model_, batch->images, autocast_);
    losses.push_back(ops::cross_entropy(logits, batch->labels, ops::Reduction::Sum).loss);
    correct.push_back(ops::count_correct(logits, batch->labels));
  }
  if (train_mode) model_->load_state_dict(snapshot);
  const double n = static_cast<double>(std::max<int64_t>(loader.size(), 1));
  return {drain(losses) / n, drain(correct) / n};
}

Checkpoint Trainer::checkpoint(int epochs_done) const {
  Checkpoint out;
  out.metadata = config_metadata(config_);
  out.metadata["epochs_done"] = std::to_string(epochs_done);
  out.metadata["best_val_loss"] = format_value(best_val_loss_);
  out.metadata["bad_epochs"] = std::to_string(bad_epochs_);
  out.metadata["processes"] = std::to_string(group_ != nullptr ? group_->size() : 1);
  for (const auto& [key, value] : model_->state_dict()) out.tensors.emplace_back("model." + key, value);
  for (const auto& [key, value] : optimizer_->state()) out.tensors.emplace_back("optim." + key, value);
  out.tensors.emplace_back("rng.loader", generator_state(train_loader_->generator()));
  const auto dropouts = dropout_layers(*model_);
  for (std::size_t i = 0; i < dropouts.size(); ++i)
    out.tensors.emplace_back("rng.dropout." + std::to_string(i), generator_state(dropouts[i]->generator()));
  if (scaler_) {
    const amp::GradScalerState s = scaler_->state_dict();
    out.tensors.emplace_back("amp.scale", full({1}, s.scale));
    out.tensors.emplace_back("amp.growth_tracker", full({1}, static_cast<double>(s.growth_tracker),
                                                        TensorOptions().dtype(DType::Int64)));
  }
  return out;
}

int Trainer::restore(const Checkpoint& checkpoint, const std::string& name) {
  // Everything is validated first; nothing below the marked line can fail.
  const TrainConfig stored = config_from_metadata(checkpoint.metadata, name);
  NORMRT_CHECK(stored.model == config_.model, "checkpoint holds an ", stored.model, " model but --model is ",
               config_.model);
  NORMRT_CHECK(stored.optimizer == config_.optimizer, name, ": checkpoint's optimizer is ", stored.optimizer,
               " but --optimizer is ", config_.optimizer);
  NORMRT_CHECK((stored.dropout > 0) == (config_.dropout > 0), name, ": the checkpoint's model ",
               stored.dropout > 0 ? "has" : "has no", " dropout layers, this one ",
               config_.dropout > 0 ? "has" : "has none");
  const int epochs_done = static_cast<int>(metadata_int(checkpoint.metadata, "epochs_done", name, 0, stored.epochs));
  const int bad_epochs = static_cast<int>(metadata_int(checkpoint.metadata, "bad_epochs", name, 0, stored.epochs));
  double best_val_loss = 0;
  const auto best = checkpoint.metadata.find("best_val_loss");
  NORMRT_CHECK(best != checkpoint.metadata.end() && parse_value(best->second, best_val_loss) &&
                   !std::isnan(best_val_loss) && best_val_loss >= 0,
               name, ": checkpoint metadata 'best_val_loss' is missing or not a non-negative number");

  const nn::NamedTensors model_state = model_entries(checkpoint, name);
  nn::NamedTensors optim_state;
  std::map<std::string, Tensor> rng;
  std::optional<amp::GradScalerState> scaler_state;
  const auto dropouts = dropout_layers(*model_);
  for (const auto& [key, value] : checkpoint.tensors) {
    if (key.rfind("model.", 0) == 0) continue;
    if (key.rfind("optim.", 0) == 0) {
      optim_state.emplace_back(key.substr(6), value);
    } else if (key == "amp.scale" || key == "amp.growth_tracker") {  // fp16 runs: the loss scaler
      if (!scaler_state) scaler_state = scaler_ ? scaler_->state_dict() : amp::GradScalerState{};
      if (key == "amp.scale") {
        NORMRT_CHECK(value.dtype() == DType::Float32 && value.sizes() == Shape{1}, name,
                     ": 'amp.scale' must be one float32, got ", dtype_name(value.dtype()), " of shape ",
                     shape_str(value.sizes()));
        scaler_state->scale = value.to(Device::cpu()).data<float>()[0];
        NORMRT_CHECK(std::isfinite(scaler_state->scale) && scaler_state->scale > 0, name,
                     ": 'amp.scale' must be a positive finite number, got ", scaler_state->scale);
      } else {
        NORMRT_CHECK(value.dtype() == DType::Int64 && value.sizes() == Shape{1}, name,
                     ": 'amp.growth_tracker' must be one int64, got ", dtype_name(value.dtype()), " of shape ",
                     shape_str(value.sizes()));
        scaler_state->growth_tracker = value.to(Device::cpu()).data<int64_t>()[0];
        NORMRT_CHECK(scaler_state->growth_tracker >= 0, name, ": 'amp.growth_tracker' must be non-negative, got ",
                     scaler_state->growth_tracker);
      }
    } else {
      bool known = key == "rng.loader";
      for (std::size_t i = 0; i < dropouts.size(); ++i) known = known || key == "rng.dropout." + std::to_string(i);
      NORMRT_CHECK(known, name, ": unexpected entry '", key.substr(0, 60), "'");
      NORMRT_CHECK(value.dtype() == DType::Int64 && value.sizes() == Shape{2}, name, ": '", key,
                   "' must be a generator state (int64 of shape [2]), got ", dtype_name(value.dtype()), " of shape ",
                   shape_str(value.sizes()));
      rng[key] = value;
    }
  }
  NORMRT_CHECK(rng.size() == dropouts.size() + 1, name, ": the checkpoint lacks generator states (",
               rng.size(), " of ", dropouts.size() + 1, ")");
  try {
    model_->check_state_dict(model_state);
    optimizer_->check_state(optim_state);
  } catch (const Error& e) {
    NORMRT_THROW(name, ": ", e.what());
  }
  // ---- validated: apply.
  model_->load_state_dict(model_state);
  optimizer_->load_state(optim_state);
  set_generator_state(train_loader_->generator(), rng.at("rng.loader"));
  for (std::size_t i = 0; i < dropouts.size(); ++i)
    set_generator_state(dropouts[i]->generator(), rng.at("rng.dropout." + std::to_string(i)));
  if (scaler_ && scaler_state) scaler_->load_state_dict(*scaler_state);
  best_val_loss_ = best_val_loss;
  bad_epochs_ = bad_epochs;
  return epochs_done;
}

Trainer::~Trainer() = default;

RunResult Trainer::run() {
  RunResult result;
  result.model = config_.model;
  int start = 0;
  if (!config_.resume_path.empty()) {
    start = restore(load_checkpoint(config_.resume_path), config_.resume_path);
    NORMRT_CHECK(start < config_.epochs, config_.resume_path, ": the checkpoint has ", start, " epochs done, --epochs ",
                 config_.epochs, " leaves nothing to train (pass a larger --epochs to continue)");
    if (leader_)
      std::printf("[%s] resumed from %s after epoch %d\n", config_.model.c_str(), config_.resume_path.c_str(), start);
  }
  const bool tty = leader_ && config_.progress && ::isatty(STDOUT_FILENO);
  nn::Module& net = ddp_ ? static_cast<nn::Module&>(*ddp_) : *model_;
  nn::CrossEntropyLoss criterion;
#if NORMRT_WITH_CUDA
  // Data-parallel steps run eagerly (their collectives go through the host).
  if (config_.cuda_graph && device_.is_cuda() && !graph_step_ && !ddp_)
    graph_step_ =
        std::make_unique<GraphStep>(*model_, *optimizer_, device_, config_.batch_size, autocast_, scaler_.get());
#endif
  std::optional<optim::CosineAnnealingLR> schedule;
  if (config_.lr_schedule == "cosine" && config_.epochs > 0) {
    schedule.emplace(*optimizer_, config_.epochs);
    schedule->set_epoch(start);
  }
  for (int epoch = start; epoch < config_.epochs; ++epoch) {
    const auto t0 = Clock::now();
    model_->train();
    train_loader_->start_epoch();
    const int64_t batches = train_loader_->batches_per_epoch();
    if (graph_step_) graph_step_->start_epoch(batches);
    std::vector<Tensor> pending_loss, pending_correct;
    std::vector<int64_t> pending_sizes;
    double loss_sum = 0, correct = 0;
    int64_t seen = 0, done = 0, counted = 0, skipped = 0;
    // Device values are read only at refresh points: every batch on the CPU, a few times an epoch on a GPU.
    const int64_t refresh = device_.is_cpu() ? 1 : std::max<int64_t>(1, batches / (tty ? 50 : 4));
    int64_t next_report = std::max<int64_t>(1, batches / 4);
    while (auto batch = train_loader_->next()) {
      Tensor logits, loss;
      if (graph_step_) {
        std::tie(loss, logits) = graph_step_->run(*batch, criterion);
      } else {
        optimizer_->zero_grad();
        std::tie(loss, logits) =
            train_step(net, criterion, *optimizer_, batch->images, batch->labels, autocast_, scaler_.get());
      }
      pending_loss.push_back(loss);
      pending_correct.push_back(ops::count_correct(logits, batch->labels));
      pending_sizes.push_back(batch->labels.numel());
      seen += batch->labels.numel();
      ++done;
      if (done % refresh == 0 || done == batches) {
        std::vector<float> each;
        drain(pending_loss, &each);
        for (std::size_t i = 0; i < each.size(); ++i) {
          // With a loss scaler, a step whose loss overflowed had inf/NaN gradients and was skipped (as PyTorch's):
          // it does not count towards the epoch's loss. Without one, it does (and stops the run below).
          if (scaler_ && !std::isfinite(each[i])) {
            ++skipped;
            continue;
          }
          loss_sum += each[i] * static_cast<double>(pending_sizes[i]);
          counted += pending_sizes[i];
        }
        pending_sizes.clear();
        result.batch_losses.insert(result.batch_losses.end(), each.begin(), each.end());
        correct += drain(pending_correct);
        const double elapsed = seconds_since(t0);
        const double rate = static_cast<double>(seen) / std::max(elapsed, 1e-9);
        const double eta = static_cast<double>(train_loader_->size() - seen) / std::max(rate, 1e-9);
        if (tty) {
          const int width = 30, filled = static_cast<int>(width * done / std::max<int64_t>(batches, 1));
          std::printf("\r[%s] epoch %d/%d [%s%s] %lld/%lld loss %.4f %.0f samples/s ETA %.0fs ",
                      config_.model.c_str(), epoch + 1, config_.epochs, std::string(filled, '#').c_str(),
                      std::string(width - filled, '.').c_str(), static_cast<long long>(done),
                      static_cast<long long>(batches), loss_sum / static_cast<double>(std::max<int64_t>(counted, 1)),
                      rate, eta);
          std::fflush(stdout);
        } else if (leader_ && config_.progress && done >= next_report && done < batches) {
          std::printf("[%s] epoch %d/%d: %lld/%lld batches, loss %.4f, %.0f samples/s, ETA %.0fs\n",
                      config_.model.c_str(), epoch + 1, config_.epochs, static_cast<long long>(done),
                      static_cast<long long>(batches), loss_sum / static_cast<double>(std::max<int64_t>(counted, 1)),
                      rate, eta);
          next_report += std::max<int64_t>(1, batches / 4);
        }
      }
    }
    if (tty) std::printf("\n");
    if (group_ != nullptr) {  // the epoch's totals over the ranks
      Tensor sums = from_vector(std::vector<float>{static_cast<float>(loss_sum), static_cast<float>(correct)}, {2});
      Tensor counts = from_vector(std::vector<int64_t>{counted, seen, skipped}, {3});
      group_->all_reduce(sums);
      group_->all_reduce(counts);
      loss_sum = sums.to_vector()[0];
      correct = sums.to_vector()[1];
      std::tie(counted, seen, skipped) = std::make_tuple(counts.to_vector<int64_t>()[0], counts.to_vector<int64_t>()[1],
                                                         counts.to_vector<int64_t>()[2]);
    }
    EpochMetrics m;
    m.epoch = epoch + 1;
    m.seconds = seconds_since(t0);
    m.samples_per_second = static_cast<double>(seen) / std::max(m.seconds, 1e-9);
    m.skipped_steps = skipped;
    // Every step skipped: no loss to report, and the run has diverged.
    m.train_loss = counted > 0 || seen == 0 ? loss_sum / std::max<double>(static_cast<double>(counted), 1) : NAN;
    m.train_accuracy = correct / std::max<double>(static_cast<double>(seen), 1);
    std::tie(m.test_loss, m.test_accuracy) = evaluate(*test_loader_, false);
    if (val_loader_) m.val_loss = evaluate(*val_loader_, false).first;
    char val[48] = "", skips[64] = "";
    if (val_loader_) std::snprintf(val, sizeof val, " | val loss %.4f", m.val_loss);
    if (skipped > 0)
      std::snprintf(skips, sizeof skips, " | %lld steps skipped (inf/NaN)", static_cast<long long>(skipped));
    if (leader_)
      std::printf("[%s] epoch %d/%d  train loss %.4f acc %.4f | test loss %.4f acc %.4f%s%s | %.2f s, %.0f samples/s\n",
                  config_.model.c_str(), m.epoch, config_.epochs, m.train_loss, m.train_accuracy, m.test_loss,
                  m.test_accuracy, val, skips, m.seconds, m.samples_per_second);
    std::fflush(stdout);
    result.epochs.push_back(m);
    NORMRT_CHECK(std::isfinite(m.train_loss), "[", config_.model, "] training diverged: epoch ", m.epoch,
                 "'s training loss is ", m.train_loss, "; no checkpoint was written",
                 config_.save_path.empty() ? "" : " (" + config_.save_path + " keeps the last good epoch)");
    if (schedule) schedule->step();
    if (leader_ && !config_.save_path.empty()) save_checkpoint(config_.save_path, checkpoint(epoch + 1));
    if (val_loader_) {
      if (m.val_loss < best_val_loss_) {
        best_val_loss_ = m.val_loss;
        bad_epochs_ = 0;
        result.best_checkpoint = (config_.save_path.empty() ? std::string("best") : config_.save_path) + ".best";
        if (leader_) save_checkpoint(result.best_checkpoint, checkpoint(epoch + 1));
      } else if (config_.early_stopping > 0 && ++bad_epochs_ >= config_.early_stopping) {
        if (leader_)
          std::printf("[%s] early stopping: validation loss has not improved for %d epochs (best %.4f kept in %s)\n",
                      config_.model.c_str(), bad_epochs_, best_val_loss_, result.best_checkpoint.c_str());
        break;
      }
    }
    if (config_.stop_after > 0 && m.epoch >= config_.stop_after && m.epoch < config_.epochs) {
      if (leader_)
        std::printf("[%s] stopping after epoch %d of %d (--stop-after); --resume %s continues the run\n",
                    config_.model.c_str(), m.epoch, config_.epochs, config_.save_path.c_str());
      break;
    }
  }
  if (has_batchnorm(config_.model)) result.test_accuracy_train_mode = evaluate(*test_loader_, true).second;
  return result;
}

void write_metrics(const std::string& dir, const std::vector<RunResult>& runs) {
  {
    std::ostringstream csv;
    csv << "model,epoch,train_loss,train_accuracy,test_loss,test_accuracy,val_loss,seconds,samples_per_second\n";
    for (const auto& run : runs)
      for (const auto& m : run.epochs)
        csv << run.model << ',' << m.epoch << ',' << m.train_loss << ',' << m.train_accuracy << ',' << m.test_loss
            << ',' << m.test_accuracy << ',' << m.val_loss << ',' << m.seconds << ',' << m.samples_per_second << '\n';
    write_file_atomic(dir + "/metrics.csv", csv.str());
  }
  nlohmann::json j;
  for (const auto& run : runs) {
    nlohmann::json r;
    r["model"] = run.model;
    for (const auto& m : run.epochs)
      r["epochs"].push_back({{"epoch", m.epoch}, {"train_loss", m.train_loss}, {"train_accuracy", m.train_accuracy},
                             {"test_loss", m.test_loss}, {"test_accuracy", m.test_accuracy}, {"val_loss", m.val_loss},
                             {"seconds", m.seconds}, {"samples_per_second", m.samples_per_second},
                             {"skipped_steps", m.skipped_steps}});
    if (run.test_accuracy_train_mode >= 0) r["test_accuracy_train_mode"] = run.test_accuracy_train_mode;
    if (!run.best_checkpoint.empty()) r["best_checkpoint"] = run.best_checkpoint;
    j["runs"].push_back(r);
  }
  write_file_atomic(dir + "/metrics.json", j.dump(1) + "\n");
}

void write_curves_svg(const std::string& path, const std::vector<RunResult>& runs) {
  const int panel_w = 420, panel_h = 300, margin = 50, width = 2 * panel_w + 3 * margin,
            height = panel_h + 2 * margin + 40;
  const char* colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd"};
  int max_epoch = 1;
  double max_loss = 0, min_acc = 1, max_acc = 0;
  for (const auto& r : runs)
    for (const auto& m : r.epochs) {
      max_epoch = std::max(max_epoch, m.epoch);
      max_loss = std::max({max_loss, m.train_loss, m.test_loss});
      min_acc = std::min({min_acc, m.train_accuracy, m.test_accuracy});
      max_acc = std::max({max_acc, m.train_accuracy, m.test_accuracy});
    }
  min_acc = std::floor(min_acc * 20) / 20;
  max_acc = std::min(1.0, std::ceil(max_acc * 20) / 20 + 1e-9);
  std::ostringstream svg;
  svg << "<svg xmlns='http://www.w3.org/2000/svg' width='" << width << "' height='" << height
      << "' font-family='sans-serif' font-size='12'>\n<rect width='100%' height='100%' fill='white'/>\n";
  auto panel = [&](int x0, const char* title, double lo, double hi, bool loss) {
    const int y0 = margin;
    svg << "<text x='" << x0 + panel_w / 2 << "' y='" << y0 - 15 << "' text-anchor='middle' font-size='14'>" << title
        << "</text>\n<rect x='" << x0 << "' y='" << y0 << "' width='" << panel_w << "' height='" << panel_h
        << "' fill='none' stroke='#444'/>\n";
    for (int t = 0; t <= 4; ++t) {
      const double v = lo + (hi - lo) * t / 4;
      const double y = y0 + panel_h - panel_h * t / 4.0;
      svg << "<line x1='" << x0 << "' x2='" << x0 + panel_w << "' y1='" << y << "' y2='" << y
          << "' stroke='#ddd'/><text x='" << x0 - 5 << "' y='" << y + 4 << "' text-anchor='end'>" << std::fixed;
      svg.precision(loss ? 2 : 3);
      svg << v << "</text>\n";
    }
    for (int e = 1; e <= max_epoch; ++e)
      svg << "<text x='" << x0 + panel_w * (e - 0.5) / max_epoch << "' y='" << y0 + panel_h + 15
          << "' text-anchor='middle'>" << e << "</text>\n";
    svg << "<text x='" << x0 + panel_w / 2 << "' y='" << y0 + panel_h + 32 << "' text-anchor='middle'>epoch</text>\n";
    for (std::size_t r = 0; r < runs.size(); ++r) {
      for (int series = 0; series < 2; ++series) {  // 0: train, 1: test
        svg << "<polyline fill='none' stroke='" << colors[r % 4] << "' stroke-width='2'"
            << (series == 0 ? " stroke-dasharray='5,4'" : "") << " points='";
        for (const auto& m : runs[r].epochs) {
          const double v = loss ? (series == 0 ? m.train_loss : m.test_loss)
                                : (series == 0 ? m.train_accuracy : m.test_accuracy);
          const double x = x0 + panel_w * (m.epoch - 0.5) / max_epoch;
          const double y = y0 + panel_h - panel_h * (v - lo) / std::max(hi - lo, 1e-9);
          svg << x << ',' << y << ' ';
        }
        svg << "'/>\n";
      }
    }
  };
  panel(margin, "loss (dashed: train, solid: test)", 0.0, max_loss * 1.05, true);
  panel(2 * margin + panel_w, "accuracy (dashed: train, solid: test)", min_acc, max_acc, false);
  for (std::size_t r = 0; r < runs.size(); ++r)
    svg << "<rect x='" << margin + 160 * r << "' y='" << height - 22 << "' width='14' height='4' fill='"
        << colors[r % 4] << "'/><text x='" << margin + 160 * r + 20 << "' y='" << height - 16 << "'>" << runs[r].model
        << "</text>\n";
  svg << "</svg>\n";
  write_file_atomic(path, svg.str());
}

}  // namespace normrt::app
