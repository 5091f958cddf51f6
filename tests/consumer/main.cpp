// A downstream project: BatchNorm1d through the installed package.
#include <cmath>
#include <cstdio>

#include <normrt/normrt.h>

int main() {
  normrt::nn::BatchNorm1d bn(normrt::nn::BatchNormOptions(3).momentum(0.1));
  const auto y = bn.forward(normrt::arange(9).reshape({3, 3})).to_vector();
  const double expected = -3.0 / std::sqrt(6.0 + 1e-5);
  if (std::fabs(y[0] - expected) > 1e-5) {
    std::printf("unexpected output %f (expected %f)\n", y[0], expected);
    return 1;
  }
  std::printf("normrt %s consumer ok\n", NORMRT_VERSION);
  return 0;
}
