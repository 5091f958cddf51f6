// Training and evaluation of the Fashion-MNIST MLPs (784-256-256-10, with or without BatchNorm1d), the main job
// behind normrt-train.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "checkpoint.h"
#include "normrt/amp.h"
#include "normrt/data.h"
#include "normrt/dist.h"
#include "normrt/nn/layers.h"
#include "normrt/nn/parallel.h"
#include "normrt/ops/batchnorm.h"
#include "normrt/optim.h"

namespace normrt::app {

// The data API the app uses (normrt/data.h).
using data::Batch;
using data::DataLoader;
using data::Dataset;
using data::IdxArray;
using data::LoaderOptions;
using data::decode_idx;
using data::kClassNames;
using data::kDefaultDataDir;
using data::kFashionMnistNormalize;
using data::load_dataset;
using data::read_idx;

struct TrainConfig {
  std::string model = "mlp-bn";  // mlp | mlp-bn | cnn | cnn-bn | resnet
  int epochs = 10;               // the run's length (and the cosine schedule's)
  int stop_after = 0;            // stop this invocation after that epoch (0: run to `epochs`); resume continues
  int64_t batch_size = 128;
  // -1 / empty: the model's recipe. resnet: SGD, lr 0.1, momentum 0.9, weight decay 5e-4 (chosen by PyTorch runs of
  // both recipes, benchmarks/results/2026-11-29-cpu-cnn.md); every other model: Adam, lr 1e-3, no weight decay.
  std::string optimizer;  // sgd | adam | adadelta | rmsprop | adagrad | adamax | radam
  double lr = -1.0;
  std::string lr_schedule = "cosine";  // cosine (annealed to 0 over `epochs`) | none
  double momentum = 0.9;  // SGD
  double weight_decay = -1.0;
  double dropout = 0.0;
  std::string device = "auto";      // auto | cpu | cuda
  std::string bn_backend = "native";  // native | cudnn
  // The convolutional models' activations: contiguous (NCHW) or channels_last (NHWC). How the run computes, not
  // what it learns (values agree up to rounding), so not recorded in checkpoints.
  std::string memory_format = "contiguous";
  // fp32, or mixed precision: fp16 / bf16 autocast (amp.h) with float32 master weights and BatchNorm statistics;
  // fp16 with dynamic loss scaling (amp::GradScaler's defaults).
  std::string precision = "fp32";
  uint64_t seed = 0;
  bool normalize = false;
  // Training augmentation (data::LoaderOptions): random crop with this zero padding, horizontal flip with this
  // probability. -1: the model's default (resnet: 2 and 0.5, as its recipe; the other models: none).
  int64_t crop_padding = -1;
  double flip = -1.0;
  double val_split = 0.0;
  int early_stopping = 0;  // patience in epochs; 0: off
  std::string save_path;   // checkpoint after every epoch
  std::string resume_path;
  // On a GPU, capture the training step (forward, backward, optimizer step) into a CUDA graph once and replay it
  // for every full batch; results are the same bits as without (the eager path). Not recorded in checkpoints.
  bool cuda_graph = true;
  int64_t limit_train = 0;  // use only the first N training / test samples (0: all)
  int64_t limit_test = 0;
  bool progress = true;
  // Data-parallel runs (a Trainer given a process group): BatchNorm layers become SyncBatchNorm (global batch
  // statistics). Recorded in checkpoints, so that a resumed run keeps it; on one process it is plain BatchNorm.
  bool sync_bn = false;
};

struct EpochMetrics {
  int epoch = 0;
  double train_loss = 0, train_accuracy = 0, test_loss = 0, test_accuracy = 0;
  double val_loss = -1;  // -1 without a validation split
  double seconds = 0, samples_per_second = 0;
  // fp16: steps whose loss was inf or NaN, which the loss scaler skipped; train_loss averages the others.
  int64_t skipped_steps = 0;
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
// Whether the model `kind` has BatchNorm layers (mlp-bn, cnn-bn, resnet).
bool has_batchnorm(const std::string& kind);
// `c` with the model-dependent defaults (-1 values) replaced by the model's own.
TrainConfig with_model_defaults(TrainConfig c);
// Throws normrt::Error naming the first option that is out of range (negative counts, NaN rates, unknown names).
void validate_config(const TrainConfig& config);

// The configuration a checkpoint records (everything that defines the run, keyed by option name with '_' for
// '-': "model", "epochs", "lr", ...), and back (strictly parsed and validated; `name` labels the errors).
std::map<std::string, std::string> config_metadata(const TrainConfig& config);
TrainConfig config_from_metadata(const std::map<std::string, std::string>& metadata, const std::string& name);

// What a resumed run uses: the checkpoint's configuration, with the options the user gave explicitly (`given`,
// metadata keys) taken from `cli`. Options that define the run's identity (model, optimizer, seed, val_split,
// dropout on/off) must agree with the checkpoint; any other difference is allowed and described in `notices`
// (the run then no longer repeats the uninterrupted one). Options not in the checkpoint (device, bn_backend,
// memory_format, save_path, stop_after, progress) come from `cli`.
TrainConfig resolve_resume_config(const TrainConfig& cli, const std::set<std::string>& given,
                                  const Checkpoint& checkpoint, const std::string& name,
                                  std::vector<std::string>& notices);

// The network a normrt-train checkpoint holds, on the CPU in eval mode, built from the checkpoint's own
// configuration (model and dropout); `config` receives that configuration.
std::shared_ptr<nn::Sequential> load_model(const Checkpoint& checkpoint, const std::string& name, TrainConfig& config);

// Creates `dir` if needed and throws unless files can be written into it (checked before training starts).
void prepare_output_dir(const std::string& dir);
// Throws unless a file can be written at `path` (its directory exists and is writable, it is not a directory).
void check_output_file(const std::string& path);

// The network for `kind` (mlp, mlp-bn, cnn, cnn-bn, resnet), initialised from `gen`, with Dropout(p) after each
// hidden fully connected activation (before the resnet's classifier) when dropout > 0. Every model takes (N, 784)
// images; the convolutional ones unflatten them to (N, 1, 28, 28), in `activations`' memory format.
std::shared_ptr<nn::Sequential> build_model(const std::string& kind, double dropout, Generator& gen,
                                            std::optional<Backend> bn_backend,
                                            MemoryFormat activations = MemoryFormat::Contiguous);
// The memory format --memory-format names (contiguous, channels_last).
MemoryFormat parse_memory_format(const std::string& name);
Device resolve_device(const std::string& name);

class Trainer {
 public:
  // With a group of more than one rank, data-parallel: every rank runs a Trainer with the same configuration; the
  // model is wrapped in nn::DistributedDataParallel, each rank trains on its shard of every epoch (LoaderOptions
  // shards; batch_size is per rank, so the global batch is size() times it), epoch metrics are the ranks' totals,
  // and only rank 0 prints and writes checkpoints. Steps run eagerly (no CUDA graph). The group must outlive it.
  Trainer(TrainConfig config, const Dataset& train, const Dataset& test, dist::ProcessGroup* group = nullptr);
  ~Trainer();
  // Trains (resuming from config.resume_path when set) and returns per-epoch metrics. Stops with a normrt::Error,
  // writing no checkpoint, when the training loss turns NaN or infinite.
  RunResult run();
  // Loss and accuracy of the current model on `loader`'s samples, in eval mode (train_mode: batch statistics,
  // leaving every parameter and buffer as it was).
  std::pair<double, double> evaluate(DataLoader& loader, bool train_mode);
  // Everything a resumed run needs: configuration, model, optimizer, generators, epoch and early-stopping state.
  Checkpoint checkpoint(int epochs_done) const;
  // Restores checkpoint(): validates every entry (names, shapes, dtypes, finite values, counters in range) and
  // only then changes anything. Returns the epochs done.
  int restore(const Checkpoint& checkpoint, const std::string& name);
  nn::Sequential& model() { return *model_; }
  // The test set's loader (the run's batch size and normalisation, no shuffling).
  DataLoader& test_loader() { return *test_loader_; }

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
  std::unique_ptr<class GraphStep> graph_step_;  // --cuda-graph on a GPU
  std::optional<DType> autocast_;                 // --precision fp16 / bf16
  std::unique_ptr<amp::GradScaler> scaler_;       // --precision fp16
  dist::ProcessGroup* group_ = nullptr;            // data-parallel runs
  std::unique_ptr<nn::DistributedDataParallel> ddp_;
  bool leader_ = true;                             // prints and writes: rank 0
};

// Writes an SVG with loss (train, test) and test-accuracy curves of every run (atomically).
void write_curves_svg(const std::string& path, const std::vector<RunResult>& runs);
// Writes dir/metrics.csv and dir/metrics.json (atomically).
void write_metrics(const std::string& dir, const std::vector<RunResult>& runs);

}  // namespace normrt::app
