// CPU convolution: im2col + OpenBLAS sgemm, a few images and one group at a time, image batches in parallel (OpenMP;
// the BLAS single-threaded inside, see cpu_threads.h).
//
// Per image n and group g, the input patches become a (C/groups * kernel) x (output positions) matrix ("col"), so
// forward is one GEMM W_g * col, the input gradient is W_g^T * dY followed by col2im (scatter-add back into the
// padded input grid), and the weight gradient is dY * col^T summed over the images. Where an image has few output
// positions (a ResNet's 14x14 and 7x7 stages), that GEMM is too thin for the BLAS to run well, so images_per_gemm()
// images share one: their col blocks side by side, dY gathered alike, the output scattered back. A 1x1 convolution
// with stride 1 and no padding of a single image uses the input itself as col. Results are deterministic and
// independent of the thread count: the image batches are set by the shape alone, each batch's GEMMs run whole on one
// thread, and the weight gradient sums fixed chunks of images into per-chunk partials that are added in chunk order.
// Buffers are kept per thread (no allocation per step once warm).
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

// A second per-thread buffer: a batch's output or output gradient, gathered by image.
float* staging_buffer(std::size_t elements) {
  thread_local std::vector<float> buffer;
  if (buffer.size() < elements) buffer.resize(elements);
  return buffer.data();
}

// Images whose output positions share one GEMM: enough for about kMinColumns GEMM columns.
int64_t images_per_gemm(const ConvGeometry& g) {
  constexpr int64_t kMinColumns = 512;
  const int64_t L = std::max<int64_t>(g.out_size(), 1);
  return std::clamp<int64_t>((kMinColumns + L - 1) / L, 1, std::max<int64_t>(g.n, 1));
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

// Calls fn(in_offset, col_offset, rows, first, last) over every (channel, kernel offset, output depth) of one group's
// patches, for stretches of `rows` output rows along the height: their input rows start at x[in_offset] (which may
// be negative: the padding before the first column) and their patch-matrix rows at col[col_offset], `ld` floats
// apart per patch row; along the width, outputs [first, last) read the input (none for rows in the padding). With
// stride 1 and an output as wide as the input (ResNet's padded 3x3 convolutions), consecutive output rows read
// consecutive input rows W apart and write ow = W apart, so all of a kernel offset's inside rows are one stretch;
// otherwise a stretch is one row.
template <typename Fn>
void for_each_patch_block(const ConvGeometry& g, int64_t ld, Fn fn) {
  const int64_t D = g.in[0], H = g.in[1], W = g.in[2];
  const int64_t oh = g.out[1], ow = g.out[2];
  const bool stretches = g.stride[1] == 1 && g.stride[2] == 1 && ow == W;
  int64_t row = 0;
  for (int64_t ci = 0; ci < g.c_per_group(); ++ci)
    for (int64_t a = 0; a < g.kernel[0]; ++a)
      for (int64_t b = 0; b < g.kernel[1]; ++b)
        for (int64_t e = 0; e < g.kernel[2]; ++e, ++row) {
          const int64_t offset_h = b * g.dilation[1], offset_w = e * g.dilation[2];
          int64_t x_first = 0, x_last = 0, y_first = 0, y_last = 0;
          valid_range(W, ow, g.stride[2], g.pad_before[2], offset_w, x_first, x_last);
          valid_range(H, oh, g.stride[1], g.pad_before[1], offset_h, y_first, y_last);
          for (int64_t z = 0; z < g.out[0]; ++z) {
            const int64_t iz = z * g.stride[0] - g.pad_before[0] + a * g.dilation[0];
            const int64_t col_plane = row * ld + z * oh * ow;
            if (iz < 0 || iz >= D) {
              fn(0, col_plane, oh, 0, 0);
              continue;
            }
            if (y_first > 0) fn(0, col_plane, y_first, 0, 0);
            auto in_offset = [&](int64_t y) {
              const int64_t iy = y * g.stride[1] - g.pad_before[1] + offset_h;
              return ((ci * D + iz) * H + iy) * W - g.pad_before[2] + offset_w;
            };
            if (stretches && y_last > y_first) {
              fn(in_offset(y_first), col_plane + y_first * ow, y_last - y_first, x_first, x_last);
            } else {
              for (int64_t y = y_first; y < y_last; ++y) fn(in_offset(y), col_plane + y * ow, 1, x_first, x_last);
            }
            if (y_last < oh) fn(0, col_plane + y_last * ow, oh - y_last, 0, 0);
          }
        }
}

// col (patch_size x L, rows `ld` apart) from one group's input channels.
void im2col(const ConvGeometry& g, const float* x, float* col, int64_t ld) {
  const int64_t ow = g.out[2], sw = g.stride[2];
  for_each_patch_block(g, ld, [&](int64_t in_offset, int64_t col_offset, int64_t rows, int64_t first, int64_t last) {
    float* dst = col + col_offset;
    if (first >= last) {
      std::fill(dst, dst + rows * ow, 0.0f);
    } else if (sw == 1) {
      // One copy from the first row's first read to the last row's last; what it put into the columns that read
      // the padding (the neighbouring rows' ends) is cleared after.
      std::copy(x + in_offset + first, x + in_offset + (rows - 1) * ow + last, dst + first);
      for (int64_t r = 0; r < rows; ++r) {
        std::fill(dst + r * ow, dst + r * ow + first, 0.0f);
        std::fill(dst + r * ow + last, dst + (r + 1) * ow, 0.0f);
      }
    } else {
      std::fill(dst, dst + first, 0.0f);
      for (int64_t i = first; i < last; ++i) dst[i] = x[in_offset + i * sw];
      std::fill(dst + last, dst + ow, 0.0f);
    }
  });
}

// Adds col (rows `ld` apart) back into one group's input-gradient channels (dx must start at zero).
void col2im(const ConvGeometry& g, const float* col, float* dx, int64_t ld) {
  const int64_t ow = g.out[2], sw = g.stride[2];
  for_each_patch_block(g, ld, [&](int64_t in_offset, int64_t col_offset, int64_t rows, int64_t first, int64_t last) {
    if (first >= last) return;
    for (int64_t r = 0; r < rows; ++r) {  // rows > 1 only with stride 1, the input rows ow apart
      const float* src = col + col_offset + r * ow;
      float* target = dx + in_offset + r * ow;
      if (sw == 1) {
        for (int64_t i = first; i < last; ++i) target[i] += src[i];
      } else {
        for (int64_t i = first; i < last; ++i) target[i * sw] += src[i];
      }
    }
  });
}

// The patch matrix of `count` images' group `grp` (columns image by image, rows cols = count * L apart): for one
// image of a pointwise convolution the input itself, else built in `col`.
const float* batch_patches(const ConvGeometry& g, const float* x, int64_t first, int64_t count, int64_t grp,
                           float* col) {
  const int64_t L = g.out_size(), Cg = g.c_per_group(), cols = count * L;
  const float* x_group = x + (first * g.c + grp * Cg) * g.in_size();
  if (g.is_pointwise()) {
    if (count == 1) return x_group;
    for (int64_t b = 0; b < count; ++b)
      for (int64_t ci = 0; ci < Cg; ++ci)
        std::memcpy(col + ci * cols + b * L, x_group + (b * g.c + ci) * L, sizeof(float) * L);
    return col;
  }
  for (int64_t b = 0; b < count; ++b) im2col(g, x_group + b * g.c * g.in_size(), col + b * L, cols);
  return col;
}

// The Og x (count * L) matrix of group `grp`'s rows of `count` images of a (N, O, L) tensor: the tensor itself for
// one image, else gathered into `staging`.
const float* batch_rows(const ConvGeometry& g, const float* t, int64_t first, int64_t count, int64_t grp,
                        float* staging) {
  const int64_t L = g.out_size(), Og = g.o_per_group(), cols = count * L;
  const float* t_group = t + (first * g.o + grp * Og) * L;
  if (count == 1) return t_group;
  for (int64_t b = 0; b < count; ++b)
    for (int64_t o = 0; o < Og; ++o)
      std::memcpy(staging + o * cols + b * L, t_group + (b * g.o + o) * L, sizeof(float) * L);
  return staging;
}

}  // namespace

void cpu_conv_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y) {
  cpu::prepare_blas();
  const int64_t L = g.out_size(), K = g.patch_size(), Og = g.o_per_group();
  const int64_t per_gemm = images_per_gemm(g), batches = (g.n + per_gemm - 1) / per_gemm;
  const int k = as_int(K, "patch size"), og = as_int(Og, "channel count");
  as_int(per_gemm * L, "output size");
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(g.n * g.o * L * K))
  for (int64_t batch = 0; batch < batches; ++batch) {
    const int64_t first = batch * per_gemm, count = std::min(per_gemm, g.n - first), cols = count * L;
    const int c = static_cast<int>(cols);
    if (K == 0) {
      for (int64_t j = 0; j < count * g.o; ++j)
        std::fill(y + (first * g.o + j) * L, y + (first * g.o + j + 1) * L, bias != nullptr ? bias[j % g.o] : 0.0f);
      continue;
    }
    float* col = g.is_pointwise() && count == 1 ? nullptr : column_buffer(static_cast<std::size_t>(K * cols));
    float* out = count == 1 ? nullptr : staging_buffer(static_cast<std::size_t>(Og * cols));
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const float* patches = batch_patches(g, x, first, count, grp, col);
      // The bias first, then the product added (beta 1): the same sums as one image at a time. Without a bias the
      // GEMM writes the product (beta 0), with no pass to clear the output first.
      float* target = count == 1 ? y + (first * g.o + grp * Og) * L : out;
      if (bias != nullptr) {
        for (int64_t j = 0; j < Og; ++j) std::fill(target + j * cols, target + (j + 1) * cols, bias[grp * Og + j]);
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, og, c, k, 1.0f, w + grp * Og * K, k, patches, c,
                  bias != nullptr ? 1.0f : 0.0f, target, c);
      if (count == 1) continue;
      for (int64_t b = 0; b < count; ++b)
        for (int64_t j = 0; j < Og; ++j)
          std::memcpy(y + ((first + b) * g.o + grp * Og + j) * L, out + j * cols + b * L, sizeof(float) * L);
    }
  }
}

void cpu_conv_backward_data(const ConvGeometry& g, const float* dy, const float* w, float* dx) {
  cpu::prepare_blas();
  const int64_t L = g.out_size(), K = g.patch_size(), Og = g.o_per_group(), Cg = g.c_per_group();
  const int64_t per_gemm = images_per_gemm(g), batches = (g.n + per_gemm - 1) / per_gemm;
  const int k = as_int(K, "patch size"), og = as_int(Og, "channel count");
  as_int(per_gemm * L, "output size");
  const bool pointwise = g.is_pointwise();
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(g.n * g.o * L * K))
  for (int64_t batch = 0; batch < batches; ++batch) {
    const int64_t first = batch * per_gemm, count = std::min(per_gemm, g.n - first), cols = count * L;
    const int c = static_cast<int>(cols);
    const bool direct = pointwise && count == 1;  // the GEMM writes the input gradient itself
    float* col = direct ? nullptr : column_buffer(static_cast<std::size_t>(K * cols));
    float* staging = count == 1 ? nullptr : staging_buffer(static_cast<std::size_t>(Og * cols));
    if (!pointwise) std::fill(dx + first * g.c * g.in_size(), dx + (first + count) * g.c * g.in_size(), 0.0f);
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      float* dx_group = dx + (first * g.c + grp * Cg) * g.in_size();
      const float* dy_rows = batch_rows(g, dy, first, count, grp, staging);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, c, og, 1.0f, w + grp * Og * K, k, dy_rows, c, 0.0f,
                  direct ? dx_group : col, c);
      if (direct) continue;
      for (int64_t b = 0; b < count; ++b) {
        float* dx_image = dx_group + b * g.c * g.in_size();
        if (pointwise) {
          for (int64_t ci = 0; ci < Cg; ++ci)
            std::memcpy(dx_image + ci * L, col + ci * cols + b * L, sizeof(float) * L);
        } else {
          col2im(g, col + b * L, dx_image, cols);
        }
      }
    }
  }
}

void cpu_conv_backward_filter(const ConvGeometry& g, const float* x, const float* dy, float* dw, bool accumulate) {
  cpu::prepare_blas();
  const int64_t L = g.out_size(), K = g.patch_size(), Og = g.o_per_group();
  const int k = as_int(K, "patch size"), og = as_int(Og, "channel count");
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
  const int64_t per_gemm = images_per_gemm(g);
  as_int(per_gemm * L, "output size");
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(g.n * g.o * L * K))
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    float* partial = partials + chunk * weights;
    const int64_t first = g.n * chunk / chunks, last = g.n * (chunk + 1) / chunks;
    const int64_t most = std::min(per_gemm, last - first);
    float* col = pointwise && most == 1 ? nullptr : column_buffer(static_cast<std::size_t>(K * most * L));
    float* staging = most == 1 ? nullptr : staging_buffer(static_cast<std::size_t>(Og * most * L));
    for (int64_t n = first; n < last; n += per_gemm) {
      const int64_t count = std::min(per_gemm, last - n);
      const int c = static_cast<int>(count * L);
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        const float* patches = batch_patches(g, x, n, count, grp, col);
        const float* dy_rows = batch_rows(g, dy, n, count, grp, staging);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, og, k, c, 1.0f, dy_rows, c, patches, c,
                    n > first ? 1.0f : 0.0f, partial + grp * Og * K, k);
      }
    }
  }
  for (int64_t i = 0; i < weights; ++i) {
    float sum = accumulate ? dw[i] : 0.0f;
    for (int64_t chunk = 0; chunk < chunks; ++chunk) sum += partials[chunk * weights + i];
    dw[i] = sum;
  }
}

}  // namespace normrt::ops::detail
