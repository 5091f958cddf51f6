// Training and evaluation of the Fashion-MNIST MLPs (784-256-256-10, with or without BatchNorm1d), the main job
// behind normrt-train.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data_loader.h"
#include "fashion_mnist.h"
#include "normrt/nn/layers.h"
#include "normrt/ops/batchnorm.h"
#include "normrt/optim.h"

namespace normrt::app {

struct TrainConfig {
  std::string model = "mlp-bn";  // mlp | mlp-bn
  int epochs = 10;
  int64_t batch_size = 128;
  std::string optimizer = "adam";  // sgd | adam | adadelta
  double lr = 1e-3;
  std::string lr_schedule = "cosine";  // cosine (annealed to 0 over `epochs`) | none
  double momentum = 0.9;  // SGD
  double weight_decay = 0.0;
  double dropout = 0.0;
  std::string device = "auto";      // auto | cpu | cuda
  std::string bn_backend = "native";  // native | cudnn
  uint64_t seed = 0;
  bool normalize = false;
  double val_split = 0.0;
  int early_stopping = 0;  // patience in epochs; 0: off
  std::string save_path;   // checkpoint after every epoch
  std::string resume_path;
  int64_t limit_train = 0;  // use only the first N training / test samples (0: all)
  int64_t limit_test = 0;
  bool progress = true;
};

struct EpochMetrics {
  int epoch = 0;
  double train_loss = 0, train_accuracy = 0, test_loss = 0, test_accuracy = 0;
  double val_loss = -1;  // -1 without a validation split
  double seconds = 0, samples_per_second = 0;
};

struct RunResult {
  std::string model;
  std::vector<EpochMetrics> epochs;
  std::vector<float> batch_losses;     // every training batch's loss, in order (resume-equality checks)
  double test_accuracy_train_mode = -1;  // BN nets: test accuracy with batch statistics (model.train())
  std::string best_checkpoint;
};

// Throws unless `kind` names a model build_model makes.
void check_model_name(const std::string& kind);

// The network for `kind` ("mlp" or "mlp-bn"; "cnn-bn" is refused until convolutions exist), initialised from
// `gen`, with Dropout(p) after each hidden activation when dropout > 0.
std::shared_ptr<nn::Sequential> build_model(const std::string& kind, double dropout, Generator& gen,
                                            std::optional<Backend> bn_backend);
Device resolve_device(const std::string& name);

class Trainer {
 public:
  Trainer(TrainConfig config, const Dataset& train, const Dataset& test);
  // Trains (resuming from config.resume_path when set) and returns per-epoch metrics.
  RunResult run();
  // Loss and accuracy of the current model on `loader`'s samples, in eval mode (train_mode: batch statistics,
  // leaving every parameter and buffer as it was).
  std::pair<double, double> evaluate(DataLoader& loader, bool train_mode);
  // Everything a resumed run needs: model, optimizer, generators, epoch and early-stopping state.
  nn::NamedTensors checkpoint_state(int epochs_done) const;
  // Restores checkpoint_state(); checks every part before changing anything. Returns the epochs done.
  int restore(const nn::NamedTensors& state);
  nn::Sequential& model() { return *model_; }

 private:
  TrainConfig config_;
  const Dataset& train_;
  const Dataset& test_;
  Device device_;
  Generator init_generator_;
  std::shared_ptr<nn::Sequential> model_;
  std::unique_ptr<optim::Optimizer> optimizer_;
  std::unique_ptr<DataLoader> train_loader_, val_loader_, test_loader_;
  double best_val_loss_ = 1e300;
  int bad_epochs_ = 0;
};

// Writes an SVG with loss (train, test) and test-accuracy curves of every run.
void write_curves_svg(const std::string& path, const std::vector<RunResult>& runs);
void write_metrics(const std::string& dir, const std::vector<RunResult>& runs);

}  // namespace normrt::app
