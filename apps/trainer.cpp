#include "trainer.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <numeric>

#include <nlohmann/json.hpp>

#include "checkpoint.h"
#include "normrt/cuda.h"
#include "normrt/error.h"
#include "normrt/nn/batchnorm.h"
#include "normrt/ops/elementwise.h"

namespace normrt::app {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int model_code(const std::string& kind) { return kind == "mlp-bn" ? 1 : 0; }

std::unique_ptr<optim::Optimizer> make_optimizer(const TrainConfig& c, std::vector<Tensor> params) {
  if (c.optimizer == "sgd")
    return std::make_unique<optim::SGD>(std::move(params),
                                        optim::SGDOptions(c.lr).momentum(c.momentum).weight_decay(c.weight_decay));
  if (c.optimizer == "adam")
    return std::make_unique<optim::Adam>(std::move(params), optim::AdamOptions(c.lr).weight_decay(c.weight_decay));
  if (c.optimizer == "adadelta")
    return std::make_unique<optim::Adadelta>(std::move(params),
                                             optim::AdadeltaOptions(c.lr).weight_decay(c.weight_decay));
  NORMRT_THROW("unknown optimizer '", c.optimizer, "' (sgd, adam, adadelta)");
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
  for (std::size_t i = 0; i < model.size(); ++i)
    if (auto* d = dynamic_cast<nn::Dropout*>(&model[i])) out.push_back(d);
  return out;
}

Tensor generator_state(const Generator& g) {
  return from_vector(std::vector<int64_t>{static_cast<int64_t>(g.seed()), static_cast<int64_t>(g.offset())}, {2});
}

void set_generator_state(Generator& g, const Tensor& t) {
  const auto v = t.to_vector<int64_t>();
  g.set_state(static_cast<uint64_t>(v[0]), static_cast<uint64_t>(v[1]));
}

}  // namespace

void check_model_name(const std::string& kind) {
  NORMRT_CHECK(kind != "cnn-bn", "--model cnn-bn needs convolution layers, which normrt does not have yet; use mlp or "
                                 "mlp-bn");
  NORMRT_CHECK(kind == "mlp" || kind == "mlp-bn", "unknown model '", kind, "' (mlp, mlp-bn)");
}

std::shared_ptr<nn::Sequential> build_model(const std::string& kind, double dropout, Generator& gen,
                                            std::optional<Backend> bn_backend) {
  check_model_name(kind);
  const bool bn = kind == "mlp-bn";
  auto model = std::make_shared<nn::Sequential>();
  int64_t width = 784;
  for (int layer = 0; layer < 2; ++layer) {
    // With BatchNorm after it, the Linear's bias would be cancelled by the mean subtraction: off, as in the seed.
    model->push_back(std::make_shared<nn::Linear>(width, 256, !bn, &gen));
    if (bn) model->push_back(std::make_shared<nn::BatchNorm1d>(nn::BatchNormOptions(256).backend(bn_backend)));
    model->push_back(std::make_shared<nn::ReLU>());
    if (dropout > 0) model->push_back(std::make_shared<nn::Dropout>(dropout, &gen));
    width = 256;
  }
  model->push_back(std::make_shared<nn::Linear>(256, 10, true, &gen));
  return model;
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

Trainer::Trainer(TrainConfig config, const Dataset& train, const Dataset& test)
    : config_(std::move(config)), train_(train), test_(test), device_(resolve_device(config_.device)),
      init_generator_(config_.seed) {
  NORMRT_CHECK(config_.epochs >= 0, "--epochs must be non-negative");
  NORMRT_CHECK(config_.val_split >= 0 && config_.val_split < 1, "--val-split must be in [0, 1), got ", config_.val_split);
  model_ = build_model(config_.model, config_.dropout, init_generator_, parse_backend(config_.bn_backend));
  model_->to(device_);
  optimizer_ = make_optimizer(config_, model_->parameters());

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
  if (config_.normalize) options.normalize = std::make_pair(0.2860f, 0.3530f);  // Fashion-MNIST training set
  train_loader_ = std::make_unique<DataLoader>(train, train_idx, options, config_.seed + 1, device_);
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
  std::vector<Tensor> losses, correct;
  loader.start_epoch();
  while (auto batch = loader.next()) {
    const Tensor logits = model_->forward(batch->images);
    losses.push_back(ops::cross_entropy(logits, batch->labels, ops::Reduction::Sum).loss);
    correct.push_back(ops::count_correct(logits, batch->labels));
  }
  if (train_mode) model_->load_state_dict(snapshot);
  const double n = static_cast<double>(std::max<int64_t>(loader.size(), 1));
  return {drain(losses) / n, drain(correct) / n};
}

nn::NamedTensors Trainer::checkpoint_state(int epochs_done) const {
  nn::NamedTensors out;
  for (const auto& [key, value] : model_->state_dict()) out.emplace_back("model." + key, value);
  for (const auto& [key, value] : optimizer_->state()) out.emplace_back("optim." + key, value);
  out.emplace_back("rng.loader", generator_state(train_loader_->generator()));
  const auto dropouts = dropout_layers(*model_);
  for (std::size_t i = 0; i < dropouts.size(); ++i)
    out.emplace_back("rng.dropout." + std::to_string(i), generator_state(dropouts[i]->generator()));
  out.emplace_back("meta.epoch", from_vector(std::vector<int64_t>{epochs_done}, {}));
  out.emplace_back("meta.model", from_vector(std::vector<int64_t>{model_code(config_.model)}, {}));
  out.emplace_back("meta.best_val_loss", from_vector(std::vector<float>{static_cast<float>(best_val_loss_)}, {}));
  out.emplace_back("meta.bad_epochs", from_vector(std::vector<int64_t>{bad_epochs_}, {}));
  return out;
}

int Trainer::restore(const nn::NamedTensors& state) {
  std::map<std::string, Tensor> by_name(state.begin(), state.end());
  auto require = [&](const std::string& key) -> const Tensor& {
    const auto it = by_name.find(key);
    NORMRT_CHECK(it != by_name.end(), "checkpoint: missing '", key, "'");
    return it->second;
  };
  const int64_t code = require("meta.model").item<int64_t>();
  NORMRT_CHECK(code == model_code(config_.model), "checkpoint holds an ", code == 1 ? "mlp-bn" : "mlp",
               " model but --model is ", config_.model);
  nn::NamedTensors model_state, optim_state;
  for (const auto& [key, value] : state) {
    if (key.rfind("model.", 0) == 0) model_state.emplace_back(key.substr(6), value);
    if (key.rfind("optim.", 0) == 0) optim_state.emplace_back(key.substr(6), value);
  }
  const auto dropouts = dropout_layers(*model_);
  const Tensor& loader_rng = require("rng.loader");
  std::vector<Tensor> dropout_rng;
  for (std::size_t i = 0; i < dropouts.size(); ++i) dropout_rng.push_back(require("rng.dropout." + std::to_string(i)));
  const int epochs_done = static_cast<int>(require("meta.epoch").item<int64_t>());
  const double best = require("meta.best_val_loss").item<float>();
  const int bad = static_cast<int>(require("meta.bad_epochs").item<int64_t>());
  // Checks that can fail come first; load_state_dict checks everything before it changes anything.
  NORMRT_CHECK(optim_state.size() == optimizer_->state().size(), "checkpoint: optimizer state does not match --optimizer ",
               config_.optimizer);
  optimizer_->check_state(optim_state);
  model_->load_state_dict(model_state);
  optimizer_->load_state(optim_state);
  set_generator_state(train_loader_->generator(), loader_rng);
  for (std::size_t i = 0; i < dropouts.size(); ++i) set_generator_state(dropouts[i]->generator(), dropout_rng[i]);
  best_val_loss_ = best;
  bad_epochs_ = bad;
  return epochs_done;
}

RunResult Trainer::run() {
  RunResult result;
  result.model = config_.model;
  int start = 0;
  if (!config_.resume_path.empty()) {
    start = restore(load_checkpoint(config_.resume_path));
    std::printf("[%s] resumed from %s after epoch %d\n", config_.model.c_str(), config_.resume_path.c_str(), start);
  }
  const bool tty = config_.progress && ::isatty(STDOUT_FILENO);
  nn::CrossEntropyLoss criterion;
  NORMRT_CHECK(config_.lr_schedule == "cosine" || config_.lr_schedule == "none", "unknown --lr-schedule '",
               config_.lr_schedule, "' (cosine, none)");
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
    std::vector<Tensor> pending_loss, pending_correct;
    std::vector<int64_t> pending_sizes;
    double loss_sum = 0, correct = 0;
    int64_t seen = 0, done = 0;
    // Device values are read only at refresh points: every batch on the CPU, a few times an epoch on a GPU.
    const int64_t refresh = device_.is_cpu() ? 1 : std::max<int64_t>(1, batches / (tty ? 50 : 4));
    int64_t next_report = std::max<int64_t>(1, batches / 4);
    while (auto batch = train_loader_->next()) {
      optimizer_->zero_grad();
      const Tensor logits = model_->forward(batch->images);
      const Tensor loss = criterion.forward(logits, batch->labels);
      model_->backward(criterion.backward());
      optimizer_->step();
      pending_loss.push_back(loss);
      pending_correct.push_back(ops::count_correct(logits, batch->labels));
      pending_sizes.push_back(batch->labels.numel());
      seen += batch->labels.numel();
      ++done;
      if (done % refresh == 0 || done == batches) {
        std::vector<float> each;
        drain(pending_loss, &each);
        for (std::size_t i = 0; i < each.size(); ++i) loss_sum += each[i] * static_cast<double>(pending_sizes[i]);
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
                      static_cast<long long>(batches), loss_sum / static_cast<double>(seen), rate, eta);
          std::fflush(stdout);
        } else if (config_.progress && done >= next_report && done < batches) {
          std::printf("[%s] epoch %d/%d: %lld/%lld batches, loss %.4f, %.0f samples/s, ETA %.0fs\n",
                      config_.model.c_str(), epoch + 1, config_.epochs, static_cast<long long>(done),
                      static_cast<long long>(batches), loss_sum / static_cast<double>(seen), rate, eta);
          next_report += std::max<int64_t>(1, batches / 4);
        }
      }
    }
    if (tty) std::printf("\n");
    EpochMetrics m;
    m.epoch = epoch + 1;
    m.seconds = seconds_since(t0);
    m.samples_per_second = static_cast<double>(seen) / std::max(m.seconds, 1e-9);
    m.train_loss = loss_sum / std::max<double>(static_cast<double>(seen), 1);
    m.train_accuracy = correct / std::max<double>(static_cast<double>(seen), 1);
    std::tie(m.test_loss, m.test_accuracy) = evaluate(*test_loader_, false);
    if (val_loader_) m.val_loss = evaluate(*val_loader_, false).first;
    char val[48] = "";
    if (val_loader_) std::snprintf(val, sizeof val, " | val loss %.4f", m.val_loss);
    std::printf("[%s] epoch %d/%d  train loss %.4f acc %.4f | test loss %.4f acc %.4f%s | %.2f s, %.0f samples/s\n",
                config_.model.c_str(), m.epoch, config_.epochs, m.train_loss, m.train_accuracy, m.test_loss,
                m.test_accuracy, val, m.seconds, m.samples_per_second);
    std::fflush(stdout);
    result.epochs.push_back(m);
    if (schedule) schedule->step();
    if (!config_.save_path.empty()) save_checkpoint(config_.save_path, checkpoint_state(epoch + 1));
    if (val_loader_) {
      if (m.val_loss < best_val_loss_) {
        best_val_loss_ = m.val_loss;
        bad_epochs_ = 0;
        result.best_checkpoint = (config_.save_path.empty() ? std::string("best") : config_.save_path) + ".best";
        save_checkpoint(result.best_checkpoint, checkpoint_state(epoch + 1));
      } else if (config_.early_stopping > 0 && ++bad_epochs_ >= config_.early_stopping) {
        std::printf("[%s] early stopping: validation loss has not improved for %d epochs (best %.4f kept in %s)\n",
                    config_.model.c_str(), bad_epochs_, best_val_loss_, result.best_checkpoint.c_str());
        break;
      }
    }
  }
  if (config_.model == "mlp-bn") result.test_accuracy_train_mode = evaluate(*test_loader_, true).second;
  return result;
}

void write_metrics(const std::string& dir, const std::vector<RunResult>& runs) {
  {
    std::ofstream csv(dir + "/metrics.csv");
    NORMRT_CHECK(csv, dir, "/metrics.csv: cannot open for writing");
    csv << "model,epoch,train_loss,train_accuracy,test_loss,test_accuracy,val_loss,seconds,samples_per_second\n";
    for (const auto& run : runs)
      for (const auto& m : run.epochs)
        csv << run.model << ',' << m.epoch << ',' << m.train_loss << ',' << m.train_accuracy << ',' << m.test_loss << ','
            << m.test_accuracy << ',' << m.val_loss << ',' << m.seconds << ',' << m.samples_per_second << '\n';
  }
  nlohmann::json j;
  for (const auto& run : runs) {
    nlohmann::json r;
    r["model"] = run.model;
    for (const auto& m : run.epochs)
      r["epochs"].push_back({{"epoch", m.epoch}, {"train_loss", m.train_loss}, {"train_accuracy", m.train_accuracy},
                             {"test_loss", m.test_loss}, {"test_accuracy", m.test_accuracy}, {"val_loss", m.val_loss},
                             {"seconds", m.seconds}, {"samples_per_second", m.samples_per_second}});
    if (run.test_accuracy_train_mode >= 0) r["test_accuracy_train_mode"] = run.test_accuracy_train_mode;
    if (!run.best_checkpoint.empty()) r["best_checkpoint"] = run.best_checkpoint;
    j["runs"].push_back(r);
  }
  std::ofstream out(dir + "/metrics.json");
  NORMRT_CHECK(out, dir, "/metrics.json: cannot open for writing");
  out << j.dump(1) << '\n';
}

void write_curves_svg(const std::string& path, const std::vector<RunResult>& runs) {
  const int panel_w = 420, panel_h = 300, margin = 50, width = 2 * panel_w + 3 * margin, height = panel_h + 2 * margin + 40;
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
  std::ofstream svg(path);
  NORMRT_CHECK(svg, path, ": cannot open for writing");
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
    svg << "<rect x='" << margin + 160 * r << "' y='" << height - 22 << "' width='14' height='4' fill='" << colors[r % 4]
        << "'/><text x='" << margin + 160 * r + 20 << "' y='" << height - 16 << "'>" << runs[r].model << "</text>\n";
  svg << "</svg>\n";
}

}  // namespace normrt::app
