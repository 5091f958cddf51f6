#include "transpose_cpu.h"

#include <algorithm>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace normrt::cpu {

namespace {

// out[c * out_stride + r] = in[r * in_stride + c] for r, c < kSize: one register block, transposed with shuffles
// (SSE2, part of x86-64) instead of kSize^2 single loads and stores.
template <typename T>
struct RegisterBlock {
  static constexpr int64_t kSize = 0;  // no register block: the tiles go element by element
  static void transpose(const T*, int64_t, T*, int64_t) {}
};
#if defined(__SSE2__)
template <>
struct RegisterBlock<uint16_t> {
  static constexpr int64_t kSize = 8;
  static void transpose(const uint16_t* in, int64_t in_stride, uint16_t* out, int64_t out_stride) {
    __m128i a[8], b[8];
    for (int i = 0; i < 8; ++i) a[i] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i * in_stride));
    for (int i = 0; i < 4; ++i) {
      b[2 * i] = _mm_unpacklo_epi16(a[2 * i], a[2 * i + 1]);
      b[2 * i + 1] = _mm_unpackhi_epi16(a[2 * i], a[2 * i + 1]);
    }
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j) {
        a[4 * i + 2 * j] = _mm_unpacklo_epi32(b[4 * i + j], b[4 * i + j + 2]);
        a[4 * i + 2 * j + 1] = _mm_unpackhi_epi32(b[4 * i + j], b[4 * i + j + 2]);
      }
    for (int i = 0; i < 4; ++i) {
      b[2 * i] = _mm_unpacklo_epi64(a[i], a[i + 4]);
      b[2 * i + 1] = _mm_unpackhi_epi64(a[i], a[i + 4]);
    }
    for (int i = 0; i < 8; ++i) _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i * out_stride), b[i]);
  }
};
template <>
struct RegisterBlock<uint32_t> {
  static constexpr int64_t kSize = 4;
  static void transpose(const uint32_t* in, int64_t in_stride, uint32_t* out, int64_t out_stride) {
    __m128i a[4], b[4];
    for (int i = 0; i < 4; ++i) a[i] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i * in_stride));
    b[0] = _mm_unpacklo_epi32(a[0], a[1]);
    b[1] = _mm_unpacklo_epi32(a[2], a[3]);
    b[2] = _mm_unpackhi_epi32(a[0], a[1]);
    b[3] = _mm_unpackhi_epi32(a[2], a[3]);
    a[0] = _mm_unpacklo_epi64(b[0], b[1]);
    a[1] = _mm_unpackhi_epi64(b[0], b[1]);
    a[2] = _mm_unpacklo_epi64(b[2], b[3]);
    a[3] = _mm_unpackhi_epi64(b[2], b[3]);
    for (int i = 0; i < 4; ++i) _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i * out_stride), a[i]);
  }
};
#endif

// transpose_batched of matrices with K = 2, 3 or 4 rows (to channels-last: K channels, as images' 3) or K columns
// (back), interleaving or deinterleaving K planes a stretch at a time: with K known, the compiler vectorises them
// with shuffles.
template <int K, typename T>
void transpose_narrow(const T* in, T* out, int64_t batch, int64_t rows, int64_t cols) {
  const bool interleave = rows == K;
  const int64_t length = interleave ? cols : rows;  // each plane's
  constexpr int64_t kStretch = 4096;
  const int64_t stretches = (length + kStretch - 1) / kStretch;
#pragma omp parallel for schedule(static) if (batch * rows * cols >= (int64_t{1} << 18))
  for (int64_t t = 0; t < batch * stretches; ++t) {
    const int64_t b = t / stretches, i0 = t % stretches * kStretch, i1 = std::min(length, i0 + kStretch);
    const T* from = in + b * rows * cols;
    T* to = out + b * rows * cols;
    if (interleave) {
      for (int64_t i = i0; i < i1; ++i)
        for (int k = 0; k < K; ++k) to[i * K + k] = from[k * length + i];
    } else {
      for (int64_t i = i0; i < i1; ++i)
        for (int k = 0; k < K; ++k) to[k * length + i] = from[i * K + k];
    }
  }
}

}  // namespace

// out[b][c][r] = in[b][r][c] in square tiles, so that the lines a tile reads and the lines it writes stay in L1 while
// it is done (a row-at-a-time loop writes a column: one element per line, 3-18x slower on (C, H*W) matrices of
// C = 64-256), each tile in register blocks where whole ones fit. Tiles are dealt to the threads in row-major order,
// each thread a contiguous stretch.
template <typename T>
void transpose_batched(const T* in, T* out, int64_t batch, int64_t rows, int64_t cols) {
  if (rows == 1 || cols == 1) {  // a single row or column: its transpose lies as it does
    std::memcpy(out, in, static_cast<std::size_t>(batch * rows * cols) * sizeof(T));
    return;
  }
  switch (std::min(rows, cols)) {
    case 2: return transpose_narrow<2>(in, out, batch, rows, cols);
    case 3: return transpose_narrow<3>(in, out, batch, rows, cols);
    case 4: return transpose_narrow<4>(in, out, batch, rows, cols);
    default: break;
  }
  constexpr int64_t kTile = 32, kBlock = RegisterBlock<T>::kSize;
  const int64_t row_tiles = (rows + kTile - 1) / kTile, col_tiles = (cols + kTile - 1) / kTile;
  const int64_t tiles = batch * row_tiles * col_tiles;
#pragma omp parallel for schedule(static) if (batch * rows * cols >= (int64_t{1} << 18))
  for (int64_t t = 0; t < tiles; ++t) {
    const int64_t b = t / (row_tiles * col_tiles), r0 = t / col_tiles % row_tiles * kTile, c0 = t % col_tiles * kTile;
    const int64_t r1 = std::min(rows, r0 + kTile), c1 = std::min(cols, c0 + kTile);
    const T* from = in + b * rows * cols;
    T* to = out + b * rows * cols;
    // Whole register blocks up to (rb, cb), then the remaining strips element by element.
    auto whole_blocks_end = [](int64_t begin, int64_t end) {
      if constexpr (kBlock == 0) {  // no register block for this element size
        return begin;
      } else {
        return begin + (end - begin) / kBlock * kBlock;
      }
    };
    const int64_t rb = whole_blocks_end(r0, r1), cb = whole_blocks_end(c0, c1);
    for (int64_t c = c0; c < cb; c += kBlock)
      for (int64_t r = r0; r < rb; r += kBlock)
        RegisterBlock<T>::transpose(from + r * cols + c, cols, to + c * rows + r, rows);
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t r = c < cb ? rb : r0; r < r1; ++r) to[c * rows + r] = from[r * cols + c];
  }
}

template void transpose_batched(const uint8_t*, uint8_t*, int64_t, int64_t, int64_t);
template void transpose_batched(const uint16_t*, uint16_t*, int64_t, int64_t, int64_t);
template void transpose_batched(const uint32_t*, uint32_t*, int64_t, int64_t, int64_t);
template void transpose_batched(const uint64_t*, uint64_t*, int64_t, int64_t, int64_t);

}  // namespace normrt::cpu
