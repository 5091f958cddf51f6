// BatchNorm demo: the PyTorch documentation's first example, run on the CPU (and on the GPU when one is present),
// printing the normalised output, the running statistics after training steps, and the eval-mode output.
#include <cstdio>
#include <vector>

#include "normrt/normrt.h"

using namespace normrt;

namespace {
void print(const char* label, const Tensor& t) {
  const std::vector<float> v = t.to_vector();
  std::printf("%-22s %s [", label, shape_str(t.sizes()).c_str());
  for (std::size_t i = 0; i < v.size(); ++i) std::printf("%s%.4f", i ? ", " : "", v[i]);
  std::printf("]\n");
}

void demo(const Device& device) {
  std::printf("== BatchNorm1d(3) on %s\n", device.str().c_str());
  nn::BatchNorm1d bn(nn::BatchNormOptions(3));
  bn.to(device);
  const Tensor x = arange(9, device).reshape({3, 3});
  print("x", x);
  print("train-mode output", bn.forward(x));
  print("running_mean (1 step)", bn.running_mean);
  print("running_var (1 step)", bn.running_var);
  bn.forward(x);
  print("running_mean (2 steps)", bn.running_mean);
  std::printf("%-22s %lld\n", "num_batches_tracked", static_cast<long long>(bn.num_batches_tracked.item<int64_t>()));
  bn.eval();
  print("eval-mode output", bn.forward(x));

  std::printf("== BatchNorm2d(2, momentum=None) on %s, x ~ 1e4 + 1e-2 * N(0, 1)\n", device.str().c_str());
  Generator gen(42);
  nn::BatchNorm2d bn2(nn::BatchNormOptions(2).momentum(std::nullopt));
  bn2.to(device);
  Tensor noise = randn({8, 2, 5, 5}, gen);
  std::vector<float> v = noise.to_vector();
  for (float& e : v) e = 1e4f + 1e-2f * e;
  const Tensor big = from_vector(v, noise.sizes(), device);
  const auto out = bn2.forward(big).to_vector();
  double mean = 0, sq = 0;
  for (float e : out) mean += e;
  mean /= static_cast<double>(out.size());
  for (float e : out) sq += (e - mean) * (e - mean);
  std::printf("output mean %.2e, variance %.6f (expected var/(var+eps) = 1e-4/(1e-4+1e-5) = 0.9091)\n", mean,
              sq / static_cast<double>(out.size()));
  print("running_var", bn2.running_var);
}
}  // namespace

int main() {
  try {
    demo(Device::cpu());
    if (cuda::is_available()) {
      demo(Device::cuda(0));
    } else {
      std::printf("(no CUDA device: the GPU part of the demo was skipped)\n");
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
