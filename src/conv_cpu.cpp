// CPU convolution: im2col + OpenBLAS sgemm, one image and group at a time, images in parallel (OpenMP; the BLAS
// single-threaded inside, see cpu_threads.h).
//
// Per image n and group g, the input patches become a (C/groups * kernel) x (output positions) matrix ("col"), so
// forward is one GEMM W_g * col, the input gradient is W_g^T * dY followed by col2im (scatter-add back into the
// padded input grid), and the weight gradient is dY * col^T summed over the images. A 1x1 convolution with stride 1
// and no padding uses the input itself as col. Results are deterministic and independent of the thread count: each
// image's GEMMs run whole on one thread, and the weight gradient sums fixed chunks of images (set by the batch size
// alone) into per-chunk partials that are added in chunk order. Column buffers are kept per thread (no allocation
// per step once warm).
#include <cblas.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <vector>

#include "conv_backend.h"
#include "cpu_threads.h"
#include "normrt/error.h"

namespace normrt::ops::detail {

namespace {

int as_int(int64_t v, const char* what) {
  NORMRT_CHECK(v <= INT_MAX, "conv: ", what, " of ", v, " is beyond the CPU backend's GEMM limit");
  return static_cast<int>(v);
}

float* column_buffer(std::size_t elements) {
  thread_local std::vector<float> buffer;
  if (buffer.size() < elements) buffer.resize(elements);
  return buffer.data();
}

// First and one-past-last output index o along a dimension whose input index o * stride - pad + offset lies in
// [0, size).
void valid_range(int64_t size, int64_t out, int64_t stride, int64_t pad, int64_t offset, int64_t& first,
                 int64_t& last) {
  const int64_t lo = pad - offset;  // o * stride >= lo
  const int64_t hi = size + pad - offset;  // o * stride < hi
  first = lo <= 0 ? 0 : (lo + stride - 1) / stride;
  last = hi <= 0 ? 0 : (hi + stride - 1) / stride;
  first = std::min(first, out);
  last = std::clamp(last, first, out);
}

// Calls fn(input row pointer or null for padding, output row pointer-offset, first, last) for every
// (channel, kernel offset, output depth, output row) of one group's patches; the row runs along the width.
template <typename Fn>
void for_each_patch_row(const ConvGeometry& g, Fn fn) {
  const int64_t L = g.out_size();
  const auto& [D, H, W] = g.in;
  int64_t row = 0;
  for (int64_t ci = 0; ci < g.c_per_group(); ++ci)
    for (int64_t a = 0; a < g.kernel[0]; ++a)
      for (int64_t b = 0; b < g.kernel[1]; ++b)
        for (int64_t e = 0; e < g.kernel[2]; ++e, ++row) {
          const int64_t offset_w = e * g.dilation[2];
          int64_t x_first = 0, x_last = 0;
          valid_range(W, g.out[2], g.stride[2], g.pad_before[2], offset_w, x_first, x_last);
          for (int64_t z = 0; z < g.out[0]; ++z) {
            const int64_t iz = z * g.stride[0] - g.pad_before[0] + a * g.dilation[0];
            for (int64_t y = 0; y < g.out[1]; ++y) {
              const int64_t iy = y * g.stride[1] - g.pad_before[1] + b * g.dilation[1];
              const int64_t col_offset = row * L + (z * g.out[1] + y) * g.out[2];
              const bool inside = iz >= 0 && iz < D && iy >= 0 && iy < H;
              const int64_t in_offset = inside ? ((ci * D + iz) * H + iy) * W - g.pad_before[2] + offset_w : -1;
              fn(in_offset, col_offset, inside ? x_first : 0, inside ? x_last : 0);
            }
          }
        }
}

// col (patch_size x L) from one group's input channels.
void im2col(const ConvGeometry& g, const float* x, float* col) {
  const int64_t ow = g.out[2], sw = g.stride[2];
  for_each_patch_row(g, [&](int64_t in_offset, int64_t col_offset, int64_t first, int64_t last) {
    float* dst = col + col_offset;
    std::fill(dst, dst + first, 0.0f);
    if (sw == 1) {
      if (last > first) std::memcpy(dst + first, x + in_offset + first, sizeof(float) * (last - first));
    } else {
      for (int64_t i = first; i < last; ++i) dst[i] = x[in_offset + i * sw];
    }
    std::fill(dst + last, dst + ow, 0.0f);
  });
}

// Adds col back into one group's input-gradient channels (dx must start at zero).
void col2im(const ConvGeometry& g, const float* col, float* dx) {
  const int64_t sw = g.stride[2];
  for_each_patch_row(g, [&](int64_t in_offset, int64_t col_offset, int64_t first, int64_t last) {
    const float* src = col + col_offset;
    for (int64_t i = first; i < last; ++i) dx[in_offset + i * sw] += src[i];
  });
}

// The patch matrix of one group's input: the input itself for a pointwise convolution (col null), else im2col's.
const float* patches_of(const ConvGeometry& g, const float* x_group, float* col) {
  if (col == nullptr) return x_group;
  im2col(g, x_group, col);
  return col;
}

}  // namespace

void cpu_conv_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y) {
  cpu::single_threaded_blas();
  const int64_t L = g.out_size(), K = g.patch_size(), Og = g.o_per_group(), Cg = g.c_per_group();
  const int l = as_int(L, "output size"), k = as_int(K, "patch size"), og = as_int(Og, "channel count");
  const bool pointwise = g.is_pointwise();
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(g.n * g.o * L * K))
  for (int64_t n = 0; n < g.n; ++n) {
    float* y_img = y + n * g.o * L;
    for (int64_t j = 0; j < g.o; ++j) std::fill(y_img + j * L, y_img + (j + 1) * L, bias != nullptr ? bias[j] : 0.0f);
    if (K == 0) continue;
    float* col = pointwise ? nullptr : column_buffer(static_cast<std::size_t>(K * L));
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const float* patches = patches_of(g, x + (n * g.c + grp * Cg) * g.in_size(), col);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, og, l, k, 1.0f, w + grp * Og * K, k, patches, l, 1.0f,
                  y_img + grp * Og * L, l);
    }
  }
}

void cpu_conv_backward_data(const ConvGeometry& g, const float* dy, const float* w, float* dx) {
  cpu::single_threaded_blas();
  const int64_t L = g.out_size(), K = g.patch_size(), Og = g.o_per_group(), Cg = g.c_per_group();
  const int l = as_int(L, "output size"), k = as_int(K, "patch size"), og = as_int(Og, "channel count");
  const bool pointwise = g.is_pointwise();
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(g.n * g.o * L * K))
  for (int64_t n = 0; n < g.n; ++n) {
    float* col = pointwise ? nullptr : column_buffer(static_cast<std::size_t>(K * L));
    if (!pointwise) std::fill(dx + n * g.c * g.in_size(), dx + (n + 1) * g.c * g.in_size(), 0.0f);
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      float* dx_grp = dx + (n * g.c + grp * Cg) * g.in_size();
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, l, og, 1.0f, w + grp * Og * K, k,
                  dy + (n * g.o + grp * Og) * L, l, 0.0f, pointwise ? dx_grp : col, l);
      if (!pointwise) col2im(g, col, dx_grp);
    }
  }
}

void cpu_conv_backward_filter(const ConvGeometry& g, const float* x, const float* dy, float* dw, bool accumulate) {
  cpu::single_threaded_blas();
  const int64_t L = g.out_size(), K = g.patch_size(), Og = g.o_per_group(), Cg = g.c_per_group();
  const int l = as_int(L, "output size"), k = as_int(K, "patch size"), og = as_int(Og, "channel count");
  const bool pointwise = g.is_pointwise();
  // Images in kChunks fixed runs; each run's gradient in its own partial, the partials added in run order.
  constexpr int64_t kChunks = 8;
  const int64_t chunks = std::min(g.n, kChunks), weights = g.o * K;
  // Kept per calling thread, like the column buffers: a fresh multi-megabyte vector per call faulted its pages in
  // every step.
  // The pointer is taken here: inside the parallel loop the name would be each worker's own (empty) buffer.
  thread_local std::vector<float> partial_buffer;
  if (partial_buffer.size() < static_cast<std::size_t>(chunks * weights))
    partial_buffer.resize(static_cast<std::size_t>(chunks * weights));
  float* const partials = partial_buffer.data();
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(g.n * g.o * L * K))
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    float* partial = partials + chunk * weights;
    float* col = pointwise ? nullptr : column_buffer(static_cast<std::size_t>(K * L));
    const int64_t first = g.n * chunk / chunks, last = g.n * (chunk + 1) / chunks;
    for (int64_t n = first; n < last; ++n)
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        const float* patches = patches_of(g, x + (n * g.c + grp * Cg) * g.in_size(), col);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, og, k, l, 1.0f, dy + (n * g.o + grp * Og) * L, l,
                    patches, l, n > first ? 1.0f : 0.0f, partial + grp * Og * K, k);
      }
  }
  for (int64_t i = 0; i < weights; ++i) {
    float sum = accumulate ? dw[i] : 0.0f;
    for (int64_t chunk = 0; chunk < chunks; ++chunk) sum += partials[chunk * weights + i];
    dw[i] = sum;
  }
}

}  // namespace normrt::ops::detail
