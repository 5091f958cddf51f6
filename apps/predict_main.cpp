// normrt-predict: classifies Fashion-MNIST test images with a checkpoint written by normrt-train --save. The
// checkpoint carries its model's configuration (model, dropout, input normalisation): no flags to repeat. BatchNorm
// is folded into the preceding Linear for inference.
#include <cstdio>
#include <numeric>

#include "checkpoint.h"
#include "command_line.h"
#include "normrt/error.h"
#include "normrt/grad_mode.h"
#include "normrt/nn/fold.h"
#include "trainer.h"

using namespace normrt;
using namespace normrt::app;

int main(int argc, char** argv) {
  CLI::App cli{"Classify Fashion-MNIST test images with a normrt-train checkpoint"};
  std::string checkpoint, data_dir = kDefaultDataDir, device = "auto";
  int64_t first = 0, count = 10;
  cli.add_option("checkpoint", checkpoint, "checkpoint file (normrt-train --save)")->required();
  cli.add_option("--first", first, "index of the first test image")->capture_default_str();
  cli.add_option("--count", count, "number of images")->capture_default_str();
  cli.add_option("--data-dir", data_dir, "folder with the IDX files")->capture_default_str();
  cli.add_option("--device", device, "auto | cpu | cuda")->capture_default_str();
  if (const auto status = parse_command_line(cli, argc, argv, "normrt-predict")) return *status;
  try {
    NORMRT_CHECK(first >= 0, "--first must be non-negative, got ", first);
    NORMRT_CHECK(count >= 1, "--count must be positive, got ", count);
    const Device dev = resolve_device(device);
    TrainConfig config;
    // Inference: BatchNorm folded into the Linear before it, and nothing kept for a backward.
    const auto model = nn::fold_batchnorm(*load_model(load_checkpoint(checkpoint), checkpoint, config));
    NoGradGuard no_grad;
    const Dataset test = load_dataset(data_dir, false);
    NORMRT_CHECK(first < test.count && count <= test.count - first, "--first ", first, " --count ", count,
                 " asks for images outside the test set (", test.count, " images)");
    NORMRT_CHECK(test.pixels_per_image() == 784, data_dir, ": the test images are ", test.rows, "x", test.cols,
                 " pixels; the model takes 28x28");
    model->to(dev);
    // The training run's input pipeline: the loader scales (and normalises, when the run did) the same way.
    std::vector<int64_t> indices(static_cast<std::size_t>(count));
    std::iota(indices.begin(), indices.end(), first);
    LoaderOptions options;
    options.shuffle = false;
    options.normalize = config.normalize ? std::optional(kFashionMnistNormalize) : std::nullopt;
    DataLoader loader(test, indices, options, 0, dev);
    loader.start_epoch();
    int64_t index = first, correct = 0;
    while (auto batch = loader.next()) {
      const auto logits = model->forward(batch->images).to_vector();
      const auto labels = batch->labels.to_vector<int64_t>();
      for (std::size_t i = 0; i < labels.size(); ++i, ++index) {
        std::size_t best = 0;
        for (std::size_t c = 1; c < 10; ++c)
          if (logits[i * 10 + c] > logits[i * 10 + best]) best = c;
        correct += static_cast<int64_t>(best) == labels[i];
        std::printf("test image %5lld: %-10s (label: %s)%s\n", static_cast<long long>(index), kClassNames[best],
                    kClassNames[static_cast<std::size_t>(labels[i])],
                    static_cast<int64_t>(best) == labels[i] ? "" : "  <- wrong");
      }
    }
    std::printf("%lld of %lld correct\n", static_cast<long long>(correct), static_cast<long long>(count));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "normrt-predict: %s\n", e.what());
    return 1;
  }
  return 0;
}
