// Your own network with normrt, the libtorch way: data, a model, parameter groups, warm-up, gradient clipping,
// training, evaluation without gradient bookkeeping, weights saved as safetensors (PyTorch reads them), BatchNorm
// folded for inference. Built in CI as a consumer of the installed package (tests/consumer) and run: it exits
// non-zero unless the network learns and the folded model agrees with the trained one.
#include <cmath>
#include <cstdio>
#include <iostream>

#include <normrt/normrt.h>

using namespace normrt;

// 10x10 images of class L: bright bars that a horizontal flip leaves as they are (a pair of columns p and 9 - p for
// even L, row 2p for odd L, p = L / 2), on noise. (data::load_dataset reads MNIST / Fashion-MNIST IDX files into
// the same structure.)
data::Dataset bars(int64_t count, uint64_t seed) {
  Generator gen(seed);
  data::Dataset d;
  d.count = count;
  d.rows = d.cols = 10;
  std::vector<uint32_t> bits(static_cast<std::size_t>(count * 101));
  gen.random_u32(bits.data(), static_cast<int64_t>(bits.size()));
  for (int64_t i = 0; i < count; ++i) {
    const uint32_t* r = bits.data() + i * 101;
    const int64_t label = r[0] % 10, p = label / 2;
    for (int64_t y = 0; y < 10; ++y)
      for (int64_t x = 0; x < 10; ++x) {
        const bool bar = label % 2 == 0 ? (x == p || x == 9 - p) : y == 2 * p;
        d.pixels.push_back(static_cast<uint8_t>((bar ? 160 : 0) + r[1 + y * 10 + x] % 96));
      }
    d.labels.push_back(label);
  }
  return d;
}

int main() {
  manual_seed(0);
  const Device device = cuda::is_available() ? Device::cuda(0) : Device::cpu();
  const data::Dataset train = bars(2048, 1), test = bars(512, 2);

  // The loader shuffles, scales to [0, 1], normalises and augments (here: horizontal flips, which keep bars bars).
  data::LoaderOptions options;
  options.batch_size = 64;
  options.normalize = std::make_pair(0.2f, 0.3f);
  options.flip_probability = 0.5;
  data::DataLoader loader(train, {}, options, /*seed=*/1, device);

  // Modules by value (moved in), as in libtorch; shared_ptrs work too where you keep a handle to a layer.
  auto model = std::make_shared<nn::Sequential>(nn::Linear(100, 32, false), nn::BatchNorm1d(32), nn::ReLU(),
                                                nn::Linear(32, 10));
  std::cout << *model << '\n';  // as PyTorch prints it

  // Weight decay on the weight matrices only, not on BatchNorm's parameters or biases.
  std::vector<Tensor> decayed, not_decayed;
  for (const auto& [name, p] : model->named_parameters()) (p.dim() > 1 ? decayed : not_decayed).push_back(p);
  optim::AdamW opt({optim::ParamGroup(decayed), optim::ParamGroup(not_decayed).weight_decay(0.0)},
                   optim::AdamWOptions(1e-2));  // weight_decay 1e-2, AdamW's default
  model->to(device);  // after building the optimizer is fine: parameters keep their identity
  optim::LinearLR warmup(opt, 0.1, 1.0, 20);  // stepped per iteration
  nn::CrossEntropyLoss criterion;

  for (int epoch = 0; epoch < 4; ++epoch) {
    model->train();
    loader.start_epoch();
    double total = 0;
    int64_t batches = 0;
    while (auto batch = loader.next()) {
      opt.zero_grad();
      const Tensor loss = criterion.forward(model->forward(batch->images), batch->labels);
      model->backward(criterion.backward());
      nn::utils::clip_grad_norm_(model->parameters(), 5.0);
      opt.step();
      warmup.step();
      total += loss.item<float>();
      ++batches;
    }
    std::printf("epoch %d: training loss %.4f, lr %.4g\n", epoch + 1, total / static_cast<double>(batches), opt.lr());
  }

  // Evaluation: running statistics, and nothing kept for a backward.
  model->eval();
  auto accuracy = [&](nn::Module& net) {
    data::LoaderOptions eval_options = options;
    eval_options.shuffle = false;
    eval_options.flip_probability = 0.0;
    data::DataLoader test_loader(test, {}, eval_options, 0, device);
    test_loader.start_epoch();
    const NoGradGuard no_grad;
    int64_t correct = 0;
    while (auto batch = test_loader.next())
      correct += ops::count_correct(net.forward(batch->images), batch->labels).item<int64_t>();
    return static_cast<double>(correct) / static_cast<double>(test.count);
  };
  const double trained = accuracy(*model);

  // Weights for PyTorch (safetensors.torch.load_file gives the same state_dict keys), and back.
  save(*model, "your_network.safetensors", {{"model", "bars-mlp"}});
  auto reloaded = std::make_shared<nn::Sequential>(nn::Linear(100, 32, false), nn::BatchNorm1d(32), nn::ReLU(),
                                                   nn::Linear(32, 10));
  load(*reloaded, "your_network.safetensors");
  reloaded->to(device);
  reloaded->eval();

  // Inference: BatchNorm folded into the Linear before it.
  const auto folded = nn::fold_batchnorm(*reloaded);
  std::cout << *folded << '\n';
  const double folded_accuracy = accuracy(*folded);
  std::printf("test accuracy %.4f (trained), %.4f (reloaded and folded)\n", trained, folded_accuracy);
  if (trained < 0.9 || std::fabs(folded_accuracy - trained) > 0.01) {
    std::printf("FAILED: the network should learn the bars and the folded model should agree\n");
    return 1;
  }
  return 0;
}
