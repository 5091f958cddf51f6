// Test-only: direct convolution in double precision over a resolved ConvGeometry, the reference the CPU and
// cuDNN paths are compared with, and the emulated device's stand-in for cuDNN (simt/emulated_libraries.cpp).
#pragma once
#include <vector>

#include "conv_backend.h"

namespace normrt::testing {

// Calls fn(x index, w index, y index) for every (image, output channel, output position, input channel of the
// group, kernel offset) whose input position is inside the unpadded input.
template <typename Fn>
void for_each_conv_term(const ops::detail::ConvGeometry& g, Fn fn) {
  const int64_t og = g.o_per_group(), cg = g.c_per_group();
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t o = 0; o < g.o; ++o)
      for (int64_t z = 0; z < g.out[0]; ++z)
        for (int64_t y = 0; y < g.out[1]; ++y)
          for (int64_t x = 0; x < g.out[2]; ++x) {
            const int64_t yi = (((n * g.o + o) * g.out[0] + z) * g.out[1] + y) * g.out[2] + x;
            for (int64_t ci = 0; ci < cg; ++ci)
              for (int64_t a = 0; a < g.kernel[0]; ++a)
                for (int64_t b = 0; b < g.kernel[1]; ++b)
                  for (int64_t e = 0; e < g.kernel[2]; ++e) {
                    const int64_t iz = z * g.stride[0] - g.pad_before[0] + a * g.dilation[0];
                    const int64_t iy = y * g.stride[1] - g.pad_before[1] + b * g.dilation[1];
                    const int64_t ix = x * g.stride[2] - g.pad_before[2] + e * g.dilation[2];
                    if (iz < 0 || iz >= g.in[0] || iy < 0 || iy >= g.in[1] || ix < 0 || ix >= g.in[2]) continue;
                    const int64_t c = (o / og) * cg + ci;
                    const int64_t xi = (((n * g.c + c) * g.in[0] + iz) * g.in[1] + iy) * g.in[2] + ix;
                    const int64_t wi = (((o * cg + ci) * g.kernel[0] + a) * g.kernel[1] + b) * g.kernel[2] + e;
                    fn(xi, wi, yi);
                  }
          }
}

inline std::vector<double> reference_conv_forward(const ops::detail::ConvGeometry& g, const float* x, const float* w) {
  std::vector<double> y(static_cast<std::size_t>(g.n * g.o * g.out_size()), 0.0);
  for_each_conv_term(g, [&](int64_t xi, int64_t wi, int64_t yi) { y[yi] += static_cast<double>(x[xi]) * w[wi]; });
  return y;
}

inline std::vector<double> reference_conv_backward_data(const ops::detail::ConvGeometry& g, const float* dy,
                                                        const float* w) {
  std::vector<double> dx(static_cast<std::size_t>(g.n * g.c * g.in_size()), 0.0);
  for_each_conv_term(g, [&](int64_t xi, int64_t wi, int64_t yi) { dx[xi] += static_cast<double>(dy[yi]) * w[wi]; });
  return dx;
}

inline std::vector<double> reference_conv_backward_filter(const ops::detail::ConvGeometry& g, const float* x,
                                                          const float* dy) {
  std::vector<double> dw(static_cast<std::size_t>(g.o * g.patch_size()), 0.0);
  for_each_conv_term(g, [&](int64_t xi, int64_t wi, int64_t yi) { dw[wi] += static_cast<double>(dy[yi]) * x[xi]; });
  return dw;
}

}  // namespace normrt::testing
