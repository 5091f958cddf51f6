// normrt-predict: classifies Fashion-MNIST test images with a checkpoint written by normrt-train --save.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "checkpoint.h"
#include "normrt/error.h"
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
  CLI11_PARSE(cli, argc, argv);
  try {
    const auto state = load_checkpoint(checkpoint);
    int64_t code = -1;
    for (const auto& [key, value] : state)
      if (key == "meta.model") code = value.item<int64_t>();
    NORMRT_CHECK(code >= 0, checkpoint, ": not a normrt-train checkpoint (no meta.model)");
    const Dataset test = load_dataset(data_dir, false);
    NORMRT_CHECK(first >= 0 && count >= 0 && first + count <= test.count, "images ", first, "..", first + count - 1,
                 " are outside the test set (", test.count, " images)");
    const Device dev = resolve_device(device);
    Generator gen(0);
    auto model = build_model(code == 1 ? "mlp-bn" : "mlp", 0.0, gen, std::nullopt);
    nn::NamedTensors model_state;
    for (const auto& [key, value] : state)
      if (key.rfind("model.", 0) == 0) model_state.emplace_back(key.substr(6), value);
    model->load_state_dict(model_state);
    model->to(dev);
    model->eval();
    std::vector<float> pixels(static_cast<std::size_t>(count * test.pixels_per_image()));
    for (std::size_t i = 0; i < pixels.size(); ++i)
      pixels[i] = test.pixels[static_cast<std::size_t>(first * test.pixels_per_image()) + i] / 255.0f;
    const auto logits = model->forward(from_vector(pixels, {count, test.pixels_per_image()}, dev)).to_vector();
    int correct = 0;
    for (int64_t i = 0; i < count; ++i) {
      int64_t best = 0;
      for (int64_t c = 1; c < 10; ++c)
        if (logits[i * 10 + c] > logits[i * 10 + best]) best = c;
      const int64_t label = test.labels[static_cast<std::size_t>(first + i)];
      correct += best == label;
      std::printf("test image %5lld: %-10s (label: %s)%s\n", static_cast<long long>(first + i), kClassNames[best],
                  kClassNames[label], best == label ? "" : "  <- wrong");
    }
    std::printf("%d of %lld correct\n", correct, static_cast<long long>(count));
  } catch (const Error& e) {
    std::fprintf(stderr, "normrt-predict: %s\n", e.what());
    return 1;
  }
  return 0;
}
