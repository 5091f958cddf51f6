// normrt-train: trains the Fashion-MNIST MLP with or without BatchNorm (or both with --compare), evaluates,
// checkpoints, and writes curves (SVG) and metrics (CSV, JSON) to --out. Every failure is one line on stderr and
// exit status 1; output paths are checked before training starts.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <set>

#include "checkpoint.h"
#include "command_line.h"
#include "normrt/error.h"
#include "normrt/ops/conv.h"
#include "normrt/serialize.h"
#include "trainer.h"

using namespace normrt;
using namespace normrt::app;

int main(int argc, char** argv) {
  CLI::App cli{"Train an MLP, a CNN or a small ResNet, with and without BatchNorm, on Fashion-MNIST (normrt)"};
  TrainConfig c;
  std::string data_dir = kDefaultDataDir, out_dir = "runs/latest";
  bool compare = false, eval_only = false, no_progress = false;
  cli.add_option("--model", c.model, "mlp | mlp-bn | cnn | cnn-bn | resnet")
      ->capture_default_str();
  cli.add_option("--epochs", c.epochs, "length of the run in epochs (and of the cosine schedule)")
      ->capture_default_str();
  cli.add_option("--stop-after", c.stop_after,
                 "stop after this epoch, keeping the --save checkpoint; --resume continues the run exactly");
  cli.add_option("--batch-size", c.batch_size, "samples per batch")->capture_default_str();
  cli.add_option("--optimizer", c.optimizer,
                 "sgd | adam | adadelta | rmsprop | adagrad | adamax | radam (default: the model's, sgd for resnet, "
                 "else adam)");
  cli.add_option("--lr", c.lr, "learning rate (-1: the model's default, 0.1 for resnet with sgd, else 1e-3)")
      ->capture_default_str();
  cli.add_option("--lr-schedule", c.lr_schedule, "cosine (annealed to 0 over --epochs) | none")->capture_default_str();
  cli.add_option("--momentum", c.momentum, "SGD momentum")->capture_default_str();
  cli.add_option("--weight-decay", c.weight_decay,
                 "weight decay (-1: the model's default, 5e-4 for resnet with sgd, else 0)")->capture_default_str();
  cli.add_option("--dropout", c.dropout, "dropout after each hidden layer (0: none)")->capture_default_str();
  cli.add_option("--device", c.device, "auto | cpu | cuda")->capture_default_str();
  cli.add_option("--bn-backend", c.bn_backend, "native | cudnn")->capture_default_str();
  cli.add_option("--memory-format", c.memory_format,
                 "contiguous | channels_last: the convolutional models' activations (NCHW or NHWC)")
      ->capture_default_str();
  cli.add_option("--precision", c.precision, "fp32 | fp16 | bf16 (mixed precision: autocast with float32 master "
                 "weights; fp16 with dynamic loss scaling)")->capture_default_str();
  cli.add_flag("--cuda-graph,!--no-cuda-graph", c.cuda_graph,
               "on a GPU, capture the training step into a CUDA graph and replay it (default on; same results)");
  bool cudnn_benchmark = false;
  cli.add_flag("--cudnn-benchmark", cudnn_benchmark,
               "on a GPU, choose each convolution's algorithm by timing them all (faster; the choice, and so the last "
               "bits of the results, may differ between runs) instead of cuDNN's heuristics (the same in every run)");
  cli.add_option("--seed", c.seed, "seed of initialisation, shuffling and dropout")->capture_default_str();
  cli.add_flag("--normalize", c.normalize, "Normalize(0.2860, 0.3530) after scaling pixels to [0, 1]");
  cli.add_option("--crop-padding", c.crop_padding,
                 "training augmentation: random 28x28 crop of the image zero-padded by this much (-1: the model's "
                 "default, 2 for resnet, else 0)")->capture_default_str();
  cli.add_option("--flip", c.flip, "training augmentation: horizontal flip probability (-1: the model's default, 0.5 "
                 "for resnet, else 0)")->capture_default_str();
  cli.add_flag("--compare", compare,
               "train the model without and with BatchNorm (mlp and mlp-bn, or cnn and cnn-bn for --model cnn/cnn-bn) "
               "from the same seed and report both");
  cli.add_option("--save", c.save_path, "checkpoint written after every epoch");
  cli.add_option("--resume", c.resume_path,
                 "checkpoint to continue from (or to evaluate with --eval); its configuration is the default for "
                 "every option");
  std::string export_path;
  cli.add_option("--export", export_path,
                 "write the trained model's state_dict as safetensors (loads with safetensors.torch.load_file)");
  cli.add_option("--out", out_dir, "directory for curves.svg, metrics.csv and metrics.json")->capture_default_str();
  cli.add_flag("--eval", eval_only, "only evaluate the --resume checkpoint on the test set");
  cli.add_option("--val-split", c.val_split, "fraction of the training set held out for validation");
  cli.add_option("--early-stopping", c.early_stopping,
                 "stop after this many epochs without a better validation loss (needs --val-split)");
  cli.add_option("--data-dir", data_dir, "folder with the (gzipped) IDX files")->capture_default_str();
  cli.add_option("--limit-train", c.limit_train, "use only the first N training images");
  cli.add_option("--limit-test", c.limit_test, "use only the first N test images");
  cli.add_flag("--no-progress", no_progress, "no progress output within epochs");
  bool distributed = false;
  cli.add_flag("--distributed", distributed, "data-parallel over the processes of this launch (mpirun -np N, or "
               "RANK/WORLD_SIZE/LOCAL_RANK as torchrun sets them with NORMRT_RENDEZVOUS naming a shared directory): "
               "each trains on its shard with --batch-size samples per step, gradients averaged (NCCL between GPUs, "
               "one per process by local rank); rank 0 prints and writes");
  cli.add_flag("--sync-bn", c.sync_bn, "with --distributed: BatchNorm statistics of the global batch (SyncBatchNorm; "
               "fp32)");
  double dist_timeout = 300;
  cli.add_option("--dist-timeout", dist_timeout, "with --distributed: seconds a collective waits for the other "
                 "processes before this one stops with an error")->capture_default_str();
  if (const auto status = parse_command_line(cli, argc, argv, "normrt-train")) return *status;
  c.progress = !no_progress;
  ops::set_conv_benchmark(cudnn_benchmark);

  try {
    NORMRT_CHECK(!c.sync_bn || distributed, "--sync-bn needs --distributed");
    NORMRT_CHECK(!distributed || !eval_only, "--eval runs on one process: drop --distributed");
    NORMRT_CHECK(std::isfinite(dist_timeout) && dist_timeout >= 0.001, "--dist-timeout must be at least 0.001 s, got ",
                 dist_timeout);
    const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(std::min(dist_timeout, 1e9) * 1000));
    const std::unique_ptr<dist::ProcessGroup> group =
        distributed ? dist::init_from_environment(resolve_device(c.device).is_cuda() ? "nccl" : "", timeout) : nullptr;
    const bool leader = group == nullptr || group->rank() == 0;
    if (!leader) c.progress = false;
    NORMRT_CHECK(!(compare && (eval_only || !c.resume_path.empty())),
                 "--compare trains from scratch: drop --resume/--eval");
    NORMRT_CHECK(!eval_only || !c.resume_path.empty(), "--eval needs --resume PATH");
    if (!c.resume_path.empty()) {
      // The checkpoint's configuration, with what the command line says explicitly on top.
      std::set<std::string> given;
      for (const auto& [key, value] : config_metadata(c)) {
        std::string option = "--" + key;
        std::replace(option.begin(), option.end(), '_', '-');
        if (key != "format" && cli.count(option) > 0) given.insert(key);
      }
      std::vector<std::string> notices;
      const Checkpoint checkpoint = load_checkpoint(c.resume_path);
      c = resolve_resume_config(c, given, checkpoint, c.resume_path, notices);
      const auto recorded = checkpoint.metadata.find("processes");
      const std::string was = recorded == checkpoint.metadata.end() ? "1" : recorded->second;
      const std::string now = std::to_string(group ? group->size() : 1);
      if (was != now)
        notices.push_back("the checkpoint's run had " + was + (was == "1" ? " process" : " processes") +
                          ", this one has " + now +
                          ": each step's global batch changes, and the run no longer repeats the uninterrupted one");
      if (leader)
        for (const auto& notice : notices) std::printf("resume: %s\n", notice.c_str());
    }
    validate_config(c);
    if (!eval_only && leader) {
      prepare_output_dir(out_dir);
      if (!c.save_path.empty()) check_output_file(c.save_path);
      if (!export_path.empty()) check_output_file(export_path);
    }
    const Dataset train = load_dataset(data_dir, true);
    const Dataset test = load_dataset(data_dir, false);
    if (leader)
      std::printf("Fashion-MNIST: %lld training and %lld test images from %s; device %s%s\n",
                  static_cast<long long>(train.count), static_cast<long long>(test.count), data_dir.c_str(),
                  resolve_device(c.device).str().c_str(),
                  group ? (", " + std::to_string(group->size()) + " processes (" + group->backend() + ")").c_str()
                        : "");
    if (eval_only) {
      Trainer trainer(c, train, test);
      trainer.restore(load_checkpoint(c.resume_path), c.resume_path);
      const auto [loss, accuracy] = trainer.evaluate(trainer.test_loader(), false);
      std::printf("%s on the test set: loss %.4f, accuracy %.4f\n", c.resume_path.c_str(), loss, accuracy);
      return 0;
    }
    std::vector<RunResult> runs;
    const bool convolutional = c.model == "cnn" || c.model == "cnn-bn";
    const std::vector<std::string> models = !compare        ? std::vector<std::string>{c.model}
                                            : convolutional ? std::vector<std::string>{"cnn", "cnn-bn"}
                                                            : std::vector<std::string>{"mlp", "mlp-bn"};
    NORMRT_CHECK(!compare || c.model != "resnet", "--compare pairs a model with its BatchNorm twin (mlp/mlp-bn, "
                 "cnn/cnn-bn); resnet has none");
    for (const std::string& model : models) {
      TrainConfig run_config = c;
      run_config.model = model;
      if (compare && !c.save_path.empty()) run_config.save_path = c.save_path + "." + model;
      Trainer trainer(run_config, train, test, group.get());
      runs.push_back(trainer.run());
      if (!export_path.empty() && leader) {
        const std::string path = compare ? export_path + "." + model : export_path;
        save(trainer.model(), path, config_metadata(run_config));
        std::printf("[%s] model exported to %s (safetensors)\n", model.c_str(), path.c_str());
      }
    }
    if (!leader) return 0;
    std::printf("\nSummary\n");
    for (const auto& r : runs) {
      if (r.epochs.empty()) continue;
      const auto& last = r.epochs.back();
      std::printf("  %-6s first-epoch train loss %.4f, final test accuracy %.4f (%d epochs, %.2f s/epoch)\n",
                  r.model.c_str(), r.epochs.front().train_loss, last.test_accuracy, last.epoch,
                  [&] { double s = 0; for (const auto& m : r.epochs) s += m.seconds; return s / r.epochs.size(); }());
      if (r.test_accuracy_train_mode >= 0)
        std::printf("  %-6s test accuracy in train mode (batch statistics) %.4f vs eval mode (running statistics) "
                    "%.4f (eval() makes predictions independent of the batch)\n",
                    r.model.c_str(), r.test_accuracy_train_mode, last.test_accuracy);
    }
    write_metrics(out_dir, runs);
    write_curves_svg(out_dir + "/curves.svg", runs);
    std::printf("curves: %s/curves.svg; metrics: %s/metrics.csv, %s/metrics.json\n", out_dir.c_str(), out_dir.c_str(),
                out_dir.c_str());
  } catch (const std::exception& e) {
    // normrt::Error and everything else the standard library may throw (bad_alloc, filesystem errors): one line.
    std::fprintf(stderr, "normrt-train: %s\n", e.what());
    return 1;
  }
  return 0;
}
