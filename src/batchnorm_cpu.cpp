// CPU BatchNorm backend.
//
// Work is cut by the shape alone (never by the thread count), so results are identical however many threads run:
// a unit is one channel (input (N, C, S), S > 1) or a block of kChannelBlock channels (input (N, C), whose channels
// are the contiguous dimension), and a unit's elements are cut into pieces of at most kPieceElements.
//  * Statistics: two passes per piece, the piece re-read from L2: a sum for a pivot (the mean rounded to float), then
//    the sums of x - pivot and of its square, corrected for the pivot's miss (piece_statistics); the pieces combined
//    by the pairwise Chan tree of bn_math.cuh. PyTorch's CPU algorithm (exact two-pass in double) made parallel
//    and summed as the backward's sums are (below): cheaper per element than a Welford update and without its
//    dependency chain, and faster than exact double passes (forward training of (N, C, S) shapes on the 2-core Xeon,
//    A/B: 1.02-1.29x, medians of the rounds 1.08-1.29x); a piece whose float sums are not finite is summed again
//    exactly, so that its infinities and NaNs are PyTorch's. (N, C) pieces (at most kPieceElements / kChannelBlock
//    rows) are read once instead: double sums of x - pivot and of its square, the pivot the piece's first row
//    (welford_from_shifted_sums: at most log2(rows + 1) of double's bits lost). There the re-read strides a page per
//    row and cost as much as the first read (measured: a quarter of the forward's time on 256x1024, one thread).
//  * Inside a contiguous run elements are dealt round-robin to kLanes independent accumulators (a vectorisable
//    inner loop, the CPU image of a warp's threads), combined by a fixed tree; short runs (7x7 planes) are gathered
//    first. (N, C) input walks a block's columns down its rows (column_moments, column_gradient_sums).
//  * Fused units: for tensors larger than the last-level cache keeps (and from 4 MB for channels of (N, C, S)
//    input), when a unit's operands fit in a core's L2 and there are enough units to keep every thread busy, one
//    task computes the unit's statistics (or gradient sums) and then its elementwise pass, so the second read comes
//    from L2 instead of memory (or L3); the arithmetic is the unfused path's, bit for bit. (Measured on the 2-core
//    build machines: the backward's gain; the forward's is within its noise on the AMD, up to 16% on the Xeon.)
//    Each thread takes a contiguous range of units; where planes are short, a unit's elementwise pass prefetches
//    the next channel, which would otherwise be read plane by plane, each plane a stream the hardware starts anew.
//  * Elementwise passes walk the flat tensor in fixed slices; for (N, C) input the per-channel tables repeat so
//    that a run covers many short rows.
//  * Operands: float32 and bfloat16 tensors are read where they lie, bfloat16 converted in the loops (a shift), and
//    the backward of a fused ReLU masks dy as it reads it (Reading::DirectMasked); float16 elements, and the
//    16-bit or masked rows that (N, C) input's sums walk, are converted (and masked) block by block into L1 as the
//    passes read them (Operand::stage). 16-bit outputs are rounded once as they are written, so a 16-bit tensor
//    moves its own bytes, and the sums are those of float32 tensors of the same values, bit for bit.
// Accumulation is in double, as PyTorch's CPU kernels do; the channel statistics and the backward sums add each
// lane's terms in float over blocks of at most kFloatTerms first (lane_accumulate_floats, ColumnGradientSums; a
// narrower last block's RowSweep stays in double).
// The whole file asks for 512-bit vectors where the build has AVX-512 (src/wide_vectors.h): the double accumulators
// and the 16-bit conversions are arithmetic. A/B on the 2-core Xeon (bench_batchnorm, every CPU row): training
// forward 1.06-1.27x faster, float16/bfloat16 rows 1.1-1.4x, eval unchanged (memory-bound), backward 0.97-1.10x.
#include <omp.h>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "batchnorm_backend.h"
#include "bn_math.cuh"
#include "element_convert.h"
#include "wide_vectors.h"

NORMRT_WIDE_VECTORS_BEGIN

namespace normrt::bn {

namespace {

using Acc = double;
constexpr int kLanes = 32;
constexpr int64_t kPieceElements = int64_t{1} << 16;
constexpr int64_t kChannelBlock = 64;
constexpr int64_t kGatherBelow = 8 * kLanes;  // spatial sizes whose runs are gathered (PieceSpans)
constexpr int64_t kGathered = 2048;
// Below this many elements an op runs on one thread: waking OpenMP's team costs more than it saves, and its
// spinning workers would compete with OpenBLAS's threads in the GEMMs around a BatchNorm layer.
constexpr int64_t kParallelElements = int64_t{1} << 18;
// A unit whose operands (x, and dy for the backward) take at most this many bytes may be fused: a 1 MB L2 holds
// it while the outputs stream out.
constexpr int64_t kFusedBytes = int64_t{1} << 20;
// Fusing pays for operands beyond what the last-level cache keeps between the two passes (16 MB: half of a
// typical server's L3 share; not from sysconf, as virtual machines report the host's whole L3).
constexpr int64_t kFuseAbove = int64_t{16} << 20;
// Channels of (N, C, S) input are fused from kFuseChannelsAbove on: the second read then comes from L2 instead of L3,
// as in PyTorch's per-channel backward. Measured on two 2-core build machines, whose L3s differ:
//  * 4x32x16x32x32 backward, four runs of 64 KB per channel: 451 -> 390 us (AMD EPYC, 32 MB L3 at up to 180 GB/s);
//  * 4 KB runs, where the AMD's L3 fed the flat pass faster than fusing saved (32x64x1000 backward: 481 us flat,
//    571 us fused), but an Emerald Rapids Xeon's L3 (about its memory's 45 GB/s for two cores) did not
//    (32x64x1000 backward 897 -> 641 us, 16x64x1000 418 -> 300 us, forward training 738 -> 638 us). Fused, the
//    worse of the two machines' ratios to PyTorch rises (0.8x -> about 1.1x on the Xeon; 1.56x -> about 1.3x on
//    the AMD).
constexpr int64_t kFuseChannelsAbove = int64_t{4} << 20;
// A fused unit's pass prefetches the next channel (Layout::prefetches_next) when its planes take at most this many
// bytes. A/B on the 2-core AMD build machine (benchmarks/ab_binaries.py, 7 rounds, per-round median ratios): 4 KB
// planes (32x64x1000) backward 1.22x; 12.5 KB planes (32x64x56x56) forward training 1.24x, backward 1.08x, float16
// backward 1.42x, bfloat16 + ReLU backward 1.41x. Prefetching 64 KB planes (4x32x16x32x32) lost, 0.89x forward and
// 0.94x backward: the hardware's prefetchers already stream such planes.
constexpr int64_t kPrefetchPlanesUpTo = int64_t{16} << 10;
constexpr int64_t kTableSpan = 512;  // elements a run of an (N, C) elementwise op may cover (repeated tables)

bool parallel(const Geometry& g) { return g.numel() >= kParallelElements; }

// Merges items[0..n) pairwise (stride 1, 2, 4, ...) into items[0].
template <typename T, typename Merge>
T tree_reduce(T* items, std::size_t n, Merge merge) {
  for (std::size_t stride = 1; stride < n; stride *= 2)
    for (std::size_t i = 0; i + stride < n; i += 2 * stride) items[i] = merge(items[i], items[i + stride]);
  return items[0];
}

Acc add(Acc a, Acc b) { return a + b; }

// ---------------------------------------------------------------------------------------------------------------
// Units and pieces.

struct Layout {
  Geometry g;
  int64_t element_bytes;  // of the per-element tensors: 4, or 2 for float16/bfloat16
  bool rows;  // (N, C) input: units are channel blocks over row ranges
  int64_t units, pieces;

  Layout(const Geometry& geometry, int64_t element_size)
      : g(geometry), element_bytes(element_size), rows(geometry.S == 1) {
    units = rows ? (g.C + kChannelBlock - 1) / kChannelBlock : g.C;
    const int64_t per_piece = rows                ? std::max<int64_t>(1, kPieceElements / kChannelBlock)
                              : g.S < kGatherBelow ? kGathered
                                                   : kPieceElements;
    const int64_t length = rows ? g.N : g.per_channel();
    pieces = std::max<int64_t>(1, (length + per_piece - 1) / per_piece);
  }
  int64_t first_channel(int64_t unit) const { return rows ? unit * kChannelBlock : unit; }
  int64_t width(int64_t unit) const { return rows ? std::min(kChannelBlock, g.C - unit * kChannelBlock) : 1; }
  // Piece k's range: rows for (N, C) input, the channel's flat elements otherwise.
  int64_t piece_begin(int64_t k) const { return k * (rows ? g.N : g.per_channel()) / pieces; }
  // Fusing pays where the second read would otherwise come from memory (or L3, for channels): tensors beyond what
  // the last-level cache keeps, units whose data fit a core's L2, and channels whose planes are not gathered
  // (gathering 7x7 planes one channel at a time defeats the prefetchers that the flat elementwise pass keeps busy).
  bool fused(int64_t operands) const {
    const int64_t unit_elements = rows ? g.N * std::min(kChannelBlock, g.C) : g.per_channel();
    const int64_t bytes = g.numel() * operands * element_bytes, unit_bytes = unit_elements * operands * element_bytes;
    const int64_t threads = parallel(g) ? omp_get_max_threads() : 1;
    return (bytes > kFuseAbove || (!rows && bytes > kFuseChannelsAbove)) && (rows || g.S >= kGatherBelow) &&
           unit_bytes <= kFusedBytes && units >= 4 * threads;
  }
  // Whether a fused unit's pass prefetches what the thread's next unit reads first (elementwise_unit): channels of
  // short planes, where the next unit's first phase would otherwise start each plane's stream anew.
  bool prefetches_next() const { return !rows && g.S * element_bytes <= kPrefetchPlanesUpTo; }
};

// Calls run(offset, length) for each contiguous stretch of channel c's flat elements [lo, hi) (S > 1).
template <typename Run>
void for_each_run(const Geometry& g, int64_t c, int64_t lo, int64_t hi, Run run) {
  int64_t n = lo / g.S, s = lo % g.S;
  for (int64_t pos = lo; pos < hi; ++n, s = 0) {
    const int64_t length = std::min(g.S - s, hi - pos);
    run((n * g.C + c) * g.S + s, length);
    pos += length;
  }
}

// Element types that the loops read where they lie (value_at): float32, and bfloat16, whose conversion is a shift
// that costs a loop less than staging through L1 (a store and a load per element). bfloat16 32x64x56x56 on the 2-core
// Xeon, A/B against staging (median rounds): forward training 1.08x, backward 1.14x, backward of BatchNorm + ReLU
// with dy masked in the loop 1.17x.
template <typename T>
constexpr bool kReadsDirectly = std::is_same_v<T, float> || std::is_same_v<T, BFloat16>;

// An operand of the per-element passes (x, dy, the residual), which the arithmetic reads as float: where it lies
// (kReadsDirectly types, through value_at), else staged into an L1 buffer first: float16 elements converted (so a
// 16-bit tensor moves its own bytes, not a float32 copy's), dy masked by a fused forward's ReLU output.
template <typename T>
struct Operand {
  const T* data = nullptr;         // null: no such operand (an optional residual)
  const T* relu_output = nullptr;  // dy's mask: the gradient passes where relu_output is not <= 0
  bool defined() const { return data != nullptr; }
  bool in_place() const { return std::is_same_v<T, float> && relu_output == nullptr; }
  // Whether the loops read the elements where they lie (value_at), and whether through the mask.
  bool read_directly() const { return kReadsDirectly<T> && relu_output == nullptr; }
  bool read_masked_directly() const { return kReadsDirectly<T> && relu_output != nullptr; }
  // The elements from offset on, read where they lie (in_place only).
  const float* at(int64_t offset) const {
    if constexpr (std::is_same_v<T, float>) return data + offset;
    else return nullptr;
  }
  // out[0, length) = the operand's elements [offset, offset + length) as the arithmetic reads them.
  void stage(float* out, int64_t offset, int64_t length) const {
    detail::convert_elements(data + offset, out, length);
    if (relu_output != nullptr) mask(out, offset, length);
  }
  // Out of line, so that stage stays small enough to inline where it gathers 7x7 planes.
  [[gnu::noinline]] void mask(float* out, int64_t offset, int64_t length) const {
    constexpr int64_t kBlock = 256;
    alignas(64) float y[kBlock];
    for (int64_t i = 0; i < length; i += kBlock) {
      const int64_t n = std::min(kBlock, length - i);
      detail::convert_elements(relu_output + offset + i, y, n);
      for (int64_t j = 0; j < n; ++j) out[i + j] = relu_gradient(out[i + j], y[j]);
    }
  }
  // Asks for the elements [offset, offset + length) (and their mask) to be brought into L2.
  void prefetch(int64_t offset, int64_t length) const {
    prefetch_lines(data, offset, length);
    if (relu_output != nullptr) prefetch_lines(relu_output, offset, length);
  }
  static void prefetch_lines(const T* array, int64_t offset, int64_t length) {
    const char* end = reinterpret_cast<const char*>(array + offset + length);
    for (const char* line = reinterpret_cast<const char*>(array + offset); line < end; line += 64) {
#if defined(__SSE2__)
      // Not _mm_prefetch: GCC 12 deleted the loop of prefetch builtins once inlined here (no prefetch instruction
      // was left in the object).
      asm volatile("prefetcht1 %0" : : "m"(*line));
#else
      __builtin_prefetch(line, 0, 2);
#endif
    }
  }
  // The elements from offset on as float, staged into `buffer`.
  const float* read(float* buffer, int64_t offset, int64_t length) const {
    if (!defined()) return nullptr;
    stage(buffer, offset, length);
    return buffer;
  }
};

inline float value_at(const float* elements, int64_t i) { return elements[i]; }
inline float value_at(const BFloat16* elements, int64_t i) {
  return half_bits::from_bfloat16_to_float(elements[i].bits);
}

// dy past a fused forward's ReLU, masked as the loops read it.
template <typename T>
struct MaskedElements {
  const T* dy;
  const T* relu_output;
};

template <typename T>
inline float value_at(const MaskedElements<T>& elements, int64_t i) {
  return relu_gradient(value_at(elements.dy, i), value_at(elements.relu_output, i));
}

// How the loops read an op's operands (only the first, dy, may be masked): where they lie (Direct), the first through
// its mask (DirectMasked), or staged (Staged).
enum class Reading { Direct, DirectMasked, Staged };

template <typename T, std::size_t K>
Reading reading(const std::array<Operand<T>, K>& operands) {
  for (std::size_t a = 1; a < K; ++a)
    if (operands[a].defined() && !operands[a].read_directly()) return Reading::Staged;
  if (operands[0].read_directly()) return Reading::Direct;
  return operands[0].read_masked_directly() ? Reading::DirectMasked : Reading::Staged;
}

// The operands' elements from `offset` on as the loops read them directly: a tuple of pointers (null for an undefined
// operand), the first as MaskedElements when kMasked.
template <bool kMasked, typename T, std::size_t K, std::size_t... A>
auto direct_spans(const std::array<Operand<T>, K>& operands, int64_t offset, std::index_sequence<A...>) {
  auto at = [&](std::size_t a) -> const T* { return operands[a].defined() ? operands[a].data + offset : nullptr; };
  if constexpr (kMasked) {
    return std::make_tuple(MaskedElements<T>{operands[0].data + offset, operands[0].relu_output + offset},
                           at(A + 1)...);
  } else {
    return std::make_tuple(at(0), at(A + 1)...);
  }
}

template <bool kMasked, typename T, std::size_t K>
auto direct_spans(const std::array<Operand<T>, K>& operands, int64_t offset) {
  return direct_spans<kMasked>(operands, offset, std::make_index_sequence<K - 1>{});
}

template <typename T, std::size_t K>
bool all_in_place(const std::array<Operand<T>, K>& operands) {
  for (const Operand<T>& o : operands)
    if (o.defined() && !o.in_place()) return false;
  return true;
}

// A piece of channel c (S > 1) as contiguous float spans of each of the K operands: the runs themselves or, for
// short runs (7x7 planes; such pieces hold at most kGathered elements), the runs gathered once into buffers, so that
// the lanes get whole groups instead of mostly remainders, and every pass after the first reads L1. Staged operands
// (Operand::stage) go through the buffers in chunks of kGathered, a whole number of lane_accumulate_floats' blocks: the
// sums are those of the same elements as float32 tensors, bit for bit.
template <typename T, int K>
class PieceSpans {
 public:
  PieceSpans(const Geometry& g, int64_t c, int64_t lo, int64_t hi, const std::array<Operand<T>, K>& operands)
      : g_(g), c_(c), lo_(lo), hi_(hi), operands_(operands), gathered_(g.S < kGatherBelow) {
    if (!gathered_) return;
    int64_t filled = 0;
    for_each_run(g, c, lo, hi, [&](int64_t offset, int64_t length) {
      for (int a = 0; a < K; ++a) operands[a].stage(buffers_[a] + filled, offset, length);
      filled += length;
    });
  }

  // f(spans, length) for each span, in a fixed order: spans of float, or of the operands' own elements where the
  // loops read them directly (direct_spans); f reads each span a through value_at(std::get<a>(spans), i).
  template <typename F>
  void for_each(F f) const {
    std::array<const float*, K> spans;
    if (gathered_) {
      for (int a = 0; a < K; ++a) spans[a] = buffers_[a];
      f(spans, hi_ - lo_);
      return;
    }
    if constexpr (kReadsDirectly<T>) {
      const Reading how = reading(operands_);
      if (how != Reading::Staged) {
        for_each_run(g_, c_, lo_, hi_, [&](int64_t offset, int64_t length) {
          how == Reading::Direct ? f(direct_spans<false>(operands_, offset), length)
                                 : f(direct_spans<true>(operands_, offset), length);
        });
        return;
      }
    }
    for_each_run(g_, c_, lo_, hi_, [&](int64_t offset, int64_t length) {
      for (int64_t i = 0; i < length; i += kGathered) {
        const int64_t n = std::min(kGathered, length - i);
        for (int a = 0; a < K; ++a) spans[a] = operands_[a].read(buffers_[a], offset + i, n);
        f(spans, n);
      }
    });
  }

 private:
  const Geometry& g_;
  int64_t c_, lo_, hi_;
  std::array<Operand<T>, K> operands_;
  bool gathered_;
  alignas(64) mutable float buffers_[K][kGathered];
};

// acc[j] += f(i) for i in [0, length) dealt round-robin to the lanes (a run's tail restarts at lane 0).
template <typename F>
inline void lane_accumulate(Acc (&acc)[kLanes], int64_t length, F f) {
  int64_t i = 0;
  for (; i + kLanes <= length; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += f(i + j);
  const int64_t rest = std::min<int64_t>(length - i, kLanes);
  for (int64_t j = 0; j < rest; ++j) acc[j] += f(i + j);
}

// K sums in one pass, f(i) returning the K float terms of element i. Each lane adds at most kFloatTerms of its terms
// in float, then that block's sums to its double accumulators (a run's tail restarts at lane 0): a block's rounding
// is at most kFloatTerms float ulps of its terms' magnitudes, and the per-term float-to-double conversions and double
// additions, which bounded these passes on the build machine, shrink kFloatTerms-fold (backward 32x64x1000:
// 534 -> 405 us, 4x32x16x32x32: 391 -> 285 us, A/B). PyTorch's CPU backward sums whole planes in float.
constexpr int64_t kFloatTerms = 8;

// acc[j] += block[j]: a float block's sums into their double accumulators.
template <int N>
inline void add_block(Acc (&acc)[N], const float (&block)[N]) {
  for (int j = 0; j < N; ++j) acc[j] += block[j];
}

template <int K, typename F>
inline void lane_accumulate_floats(Acc (&acc)[K][kLanes], int64_t length, F f) {
  constexpr int64_t kBlock = kLanes * kFloatTerms;
  float block[K][kLanes];
  auto clear = [&] {
    for (int k = 0; k < K; ++k) std::fill_n(block[k], kLanes, 0.0f);
  };
  auto add_term = [&](int j, int64_t i) {
    const std::array<float, K> terms = f(i);
    for (int k = 0; k < K; ++k) block[k][j] += terms[k];
  };
  auto flush = [&] {
    for (int k = 0; k < K; ++k) add_block(acc[k], block[k]);
  };
  int64_t i = 0;
  // Whole blocks in a loop of fixed trip counts, so that the block sums stay in registers.
  for (; i + kBlock <= length; i += kBlock) {
    clear();
    for (int64_t r = 0; r < kBlock; r += kLanes)
      for (int j = 0; j < kLanes; ++j) add_term(j, i + r + j);
    flush();
  }
  if (i == length) return;
  clear();
  for (; i + kLanes <= length; i += kLanes)
    for (int j = 0; j < kLanes; ++j) add_term(j, i + j);
  for (int j = 0; i + j < length; ++j) add_term(j, i + j);
  flush();
}

Acc lane_total(Acc (&acc)[kLanes]) { return tree_reduce(acc, kLanes, add); }

// (N, C) input: per-column sums over rows [lo, hi) of a block's columns [0, width), row stride `stride`, the
// lanes added in a fixed order. Two traversals:
//  * columns held in registers down the rows: groups of kColumnGroup (then single columns) of a block that is the
//    whole row (C <= kChannelBlock), and a whole block of a wider row (kChannelBlock columns: a row's 256 bytes
//    per load, where a narrower group would stride a row per line). A group of few columns deals rows round-robin
//    to kRowLanes accumulators, so that consecutive rows' additions to a column do not wait on one another; a whole
//    block has enough independent columns per row and keeps one.
//  * the narrower last block of a wider row sweeps its rows in order into accumulator rows kept in L1 (RowSweep).
constexpr int kColumnGroup = 16;
constexpr int kRowLanes = 4;

template <int W>
constexpr int row_lanes() {
  return W >= kChannelBlock ? 1 : kRowLanes;
}

// Whether a block of `width` columns of rows `stride` apart is walked in registers (else swept by RowSweep).
bool columns_in_registers(int64_t width, int64_t stride) { return stride <= width || width == kChannelBlock; }

// Calls group.template run<W>(j0) over the column groups of such a block.
template <typename Group>
void for_each_column_group(int64_t width, int64_t stride, const Group& group) {
  if (width == kChannelBlock && stride > width) return group.template run<kChannelBlock>(0);
  int64_t j0 = 0;
  for (; j0 + kColumnGroup <= width; j0 += kColumnGroup) group.template run<kColumnGroup>(j0);
  for (; j0 < width; ++j0) group.template run<1>(j0);
}

// add_row(lane, n) for the rows [lo, hi), dealt round-robin to L lanes.
template <int L, typename AddRow>
inline void deal_rows(int64_t lo, int64_t hi, AddRow add_row) {
  int64_t n = lo;
  for (; n + L <= hi; n += L)
    for (int r = 0; r < L; ++r) add_row(r, n + r);
  for (int r = 0; n < hi; ++n, ++r) add_row(r, n);
}

template <int L, int W>
inline void add_lanes(const Acc (&acc)[L][W], Acc* out) {
  for (int j = 0; j < W; ++j) {
    if constexpr (L == 1) out[j] = acc[0][j];
    else out[j] = (acc[0][j] + acc[1][j]) + (acc[2][j] + acc[3][j]);
  }
}

// sum[j] = sum of d, sum_sq[j] = sum of d^2, d = x - pivot[j] (welford_from_shifted_sums).
struct ColumnMoments {
  const float* x;
  int64_t stride, lo, hi;
  const Acc* pivot;
  Acc *sum, *sum_sq;
  template <int W>
  void run(int64_t j0) const {
    constexpr int L = row_lanes<W>();
    Acc s[L][W] = {}, q[L][W] = {};
    Acc k[W];
    for (int j = 0; j < W; ++j) k[j] = pivot[j0 + j];
    deal_rows<L>(lo, hi, [&](int r, int64_t n) {
      const float* row = x + n * stride + j0;
      for (int j = 0; j < W; ++j) {
        const Acc d = static_cast<Acc>(row[j]) - k[j];
        s[r][j] += d;
        q[r][j] += d * d;
      }
    });
    add_lanes<L, W>(s, sum + j0);
    add_lanes<L, W>(q, sum_sq + j0);
  }
};

// sum_dy[j] = sum of dy, sum_dy_xmu[j] = sum of dy * (x - mean[j]).
struct ColumnGradientSums {
  const float *dy, *x;
  int64_t stride, lo, hi;
  const float* mean;
  Acc *sum_dy, *sum_dy_xmu;
  template <int W>
  void run(int64_t j0) const {
    constexpr int L = row_lanes<W>();
    Acc a[L][W] = {}, b[L][W] = {};
    float mu[W];
    for (int j = 0; j < W; ++j) mu[j] = mean[j0 + j];
    // As lane_accumulate_floats: each lane's float terms over blocks of at most kFloatTerms rows, then in double.
    for (int64_t block = lo; block < hi; block += kFloatTerms * L) {
      float block_a[L][W] = {}, block_b[L][W] = {};
      deal_rows<L>(block, std::min(hi, block + kFloatTerms * L), [&](int r, int64_t n) {
        const float *d = dy + n * stride + j0, *in = x + n * stride + j0;
        for (int j = 0; j < W; ++j) {
          block_a[r][j] += d[j];
          block_b[r][j] += d[j] * (in[j] - mu[j]);
        }
      });
      for (int r = 0; r < L; ++r) {
        add_block(a[r], block_a[r]);
        add_block(b[r], block_b[r]);
      }
    }
    add_lanes<L, W>(a, sum_dy + j0);
    add_lanes<L, W>(b, sum_dy_xmu + j0);
  }
};

// Accumulator rows for the whole-row sweeps; deal(lo, hi, add) calls add(lane, n) for each row n in order.
struct RowSweep {
  alignas(64) Acc lane[kRowLanes][kChannelBlock] = {};
  template <typename AddRow>
  static void deal(int64_t lo, int64_t hi, AddRow add) {
    for (int64_t n = lo; n < hi; ++n) add(static_cast<int>((n - lo) % kRowLanes), n);
  }
  void total(int64_t width, Acc* out) const {
    for (int64_t j = 0; j < width; ++j) out[j] = (lane[0][j] + lane[1][j]) + (lane[2][j] + lane[3][j]);
  }
};

// The column walks over `rows` rows `stride` apart, their traversal chosen by the tensor's row length C (so that a
// staged copy of a block's columns is summed as the tensor itself).
// sum[j] = sum of d, sum_sq[j] = sum of d^2, d = x - pivot[j].
void column_moments(const float* x, int64_t stride, int64_t row_length, int64_t rows, int64_t width,
                    const Acc* pivot, Acc* sum, Acc* sum_sq) {
  if (columns_in_registers(width, row_length))
    return for_each_column_group(width, row_length, ColumnMoments{x, stride, 0, rows, pivot, sum, sum_sq});
  RowSweep s, q;
  RowSweep::deal(0, rows, [&](int r, int64_t n) {
    Acc *first = s.lane[r], *second = q.lane[r];
    const float* in = x + n * stride;
    for (int64_t j = 0; j < width; ++j) {
      const Acc d = static_cast<Acc>(in[j]) - pivot[j];
      first[j] += d;
      second[j] += d * d;
    }
  });
  s.total(width, sum);
  q.total(width, sum_sq);
}

// sum_dy[j] = sum of dy, sum_dy_xmu[j] = sum of dy * (x - mean[j]).
void column_gradient_sums(const float* dy, const float* x, int64_t stride, int64_t row_length, int64_t rows,
                          int64_t width, const float* mean, Acc* sum_dy, Acc* sum_dy_xmu) {
  if (columns_in_registers(width, row_length)) {
    return for_each_column_group(width, row_length,
                                 ColumnGradientSums{dy, x, stride, 0, rows, mean, sum_dy, sum_dy_xmu});
  }
  RowSweep a, b;
  Acc mu[kChannelBlock];
  for (int64_t j = 0; j < width; ++j) mu[j] = mean[j];
  RowSweep::deal(0, rows, [&](int r, int64_t n) {
    Acc *first = a.lane[r], *second = b.lane[r];
    const float *d = dy + n * stride, *in = x + n * stride;
    for (int64_t j = 0; j < width; ++j) {
      first[j] += d[j];
      second[j] += static_cast<Acc>(d[j]) * (static_cast<Acc>(in[j]) - mu[j]);
    }
  });
  a.total(width, sum_dy);
  b.total(width, sum_dy_xmu);
}

// A buffer of the calling thread's for staged (N, C) pieces, grown once to the largest asked for (at most two
// operands of kPieceElements floats: it stays in L2, where the column walks read it).
float* staging_buffer(std::size_t floats) {
  thread_local std::vector<float> buffer;
  if (buffer.size() < floats) buffer.resize(floats);
  return buffer.data();
}

// Rows [lo, hi) of the columns [c0, c0 + width) of (N, C) operands as float, f(spans, stride) with the spans at row
// lo: the operands where they lie (stride C), or the piece staged (stride width) into the thread's staging buffer.
// The column walks choose their traversal by C either way, so the sums are those of float32 tensors of the same
// values, bit for bit.
template <typename T, int K, typename F>
void with_rows(const Geometry& g, const std::array<Operand<T>, K>& operands, int64_t c0, int64_t width, int64_t lo,
               int64_t hi, F f) {
  std::array<const float*, K> spans;
  if (all_in_place(operands)) {
    for (int a = 0; a < K; ++a) spans[a] = operands[a].at(lo * g.C + c0);
    return f(spans, g.C);
  }
  const int64_t elements = (hi - lo) * width;
  float* staging = staging_buffer(static_cast<std::size_t>(K * elements));
  for (int a = 0; a < K; ++a) {
    float* buffer = staging + a * elements;
    if (width == g.C) {
      operands[a].stage(buffer, lo * g.C, elements);
    } else {
      for (int64_t n = lo; n < hi; ++n) operands[a].stage(buffer + (n - lo) * width, n * g.C + c0, width);
    }
    spans[a] = buffer;
  }
  f(spans, width);
}

// ---------------------------------------------------------------------------------------------------------------
// Forward statistics. partial[c * pieces + k] is piece k of channel c.

template <typename T>
void piece_statistics(const Layout& l, const Operand<T>& x, int64_t unit, int64_t k, Welford<Acc>* partial) {
  const Geometry& g = l.g;
  const int64_t lo = l.piece_begin(k), hi = l.piece_begin(k + 1), c0 = l.first_channel(unit);
  if (l.rows) {
    const int64_t width = l.width(unit);
    Acc pivot[kChannelBlock], sum[kChannelBlock], sum_sq[kChannelBlock];
    with_rows<T, 1>(g, {x}, c0, width, lo, hi, [&](const std::array<const float*, 1>& rows, int64_t stride) {
      for (int64_t j = 0; j < width; ++j) pivot[j] = rows[0][j];
      column_moments(rows[0], stride, g.C, hi - lo, width, pivot, sum, sum_sq);
    });
    const Acc count = static_cast<Acc>(hi - lo);
    for (int64_t j = 0; j < width; ++j)
      partial[(c0 + j) * l.pieces + k] = welford_from_shifted_sums(pivot[j], sum[j], sum_sq[j], count);
    return;
  }
  const PieceSpans<T, 1> spans(g, c0, lo, hi, {x});
  const Acc count = static_cast<Acc>(hi - lo);
  // The corrected two-pass algorithm in float blocks (lane_accumulate_floats): the first pass's mean rounded to float
  // is a pivot, the second sums d = x - pivot (exact where x is within a factor of two of it) and d^2, and
  // welford_from_shifted_sums takes out what the pivot misses (mean = pivot + sum d / n, M2 = sum d^2 - (sum d)^2 / n),
  // its terms the deviations themselves: a constant channel gets its value and M2 = 0 exactly. Where a sum is not
  // finite (an infinity or NaN among the inputs, or sums past float's range), the piece is summed again exactly in
  // double as PyTorch's CPU kernel does, so that those keep PyTorch's results.
  Acc sum[1][kLanes] = {}, shifted[2][kLanes] = {};
  spans.for_each([&](const auto& span, int64_t length) {
    const auto run = std::get<0>(span);
    lane_accumulate_floats<1>(sum, length, [run](int64_t i) { return std::array<float, 1>{value_at(run, i)}; });
  });
  const float pivot = static_cast<float>(lane_total(sum[0]) / count);
  spans.for_each([&](const auto& span, int64_t length) {
    const auto run = std::get<0>(span);
    lane_accumulate_floats<2>(shifted, length, [run, pivot](int64_t i) {
      const float d = value_at(run, i) - pivot;
      return std::array<float, 2>{d, d * d};
    });
  });
  const Acc sum_d = lane_total(shifted[0]), sum_d2 = lane_total(shifted[1]);
  if (std::isfinite(sum_d) && std::isfinite(sum_d2)) {
    partial[c0 * l.pieces + k] = welford_from_shifted_sums(static_cast<Acc>(pivot), sum_d, sum_d2, count);
    return;
  }
  Acc exact_sum[kLanes] = {}, m2[kLanes] = {};
  spans.for_each([&](const auto& span, int64_t length) {
    const auto run = std::get<0>(span);
    lane_accumulate(exact_sum, length, [run](int64_t i) { return static_cast<Acc>(value_at(run, i)); });
  });
  const Acc mean = lane_total(exact_sum) / count;
  spans.for_each([&](const auto& span, int64_t length) {
    const auto run = std::get<0>(span);
    lane_accumulate(m2, length, [run, mean](int64_t i) {
      const Acc d = static_cast<Acc>(value_at(run, i)) - mean;
      return d * d;
    });
  });
  partial[c0 * l.pieces + k] = {mean, lane_total(m2), count};
}

// ---------------------------------------------------------------------------------------------------------------
// Backward sums: sum(dy) and sum(dy * (x - mean)).

struct GradSums {
  Acc dy = 0;
  Acc dy_xmu = 0;
};

GradSums add_sums(const GradSums& a, const GradSums& b) { return {a.dy + b.dy, a.dy_xmu + b.dy_xmu}; }

template <typename T>
void piece_gradient_sums(const Layout& l, const Operand<T>& dy, const Operand<T>& x, const float* mean, int64_t unit,
                         int64_t k, GradSums* partial) {
  const Geometry& g = l.g;
  const int64_t lo = l.piece_begin(k), hi = l.piece_begin(k + 1), c0 = l.first_channel(unit);
  if (l.rows) {
    const int64_t width = l.width(unit);
    Acc sum_dy[kChannelBlock], sum_dy_xmu[kChannelBlock];
    with_rows<T, 2>(g, {dy, x}, c0, width, lo, hi, [&](const std::array<const float*, 2>& rows, int64_t stride) {
      column_gradient_sums(rows[0], rows[1], stride, g.C, hi - lo, width, mean + c0, sum_dy, sum_dy_xmu);
    });
    for (int64_t j = 0; j < width; ++j) partial[(c0 + j) * l.pieces + k] = {sum_dy[j], sum_dy_xmu[j]};
    return;
  }
  const float mu = mean[c0];
  Acc sums[2][kLanes] = {};  // dy, dy (x - mean)
  PieceSpans<T, 2>(g, c0, lo, hi, {dy, x}).for_each([&](const auto& span, int64_t length) {
    const auto dy_run = std::get<0>(span);
    const auto x_run = std::get<1>(span);
    lane_accumulate_floats<2>(sums, length, [dy_run, x_run, mu](int64_t i) {
      const float d = value_at(dy_run, i);
      return std::array<float, 2>{d, d * (value_at(x_run, i) - mu)};
    });
  });
  partial[c0 * l.pieces + k] = {lane_total(sums[0]), lane_total(sums[1])};
}

// ---------------------------------------------------------------------------------------------------------------
// Elementwise passes. An op computes out[0..length) for the input elements at [offset, offset + length) of
// channel c (c_step 0) or of channels c, c + 1, ... (c_step 1: rows of (N, C) input, over repeated tables).

// Per-channel tables of the elementwise ops. For (N, C) input a table repeats its C values up to about kTableSpan
// entries, so that one run of an op spans whole rows (a 16-channel row alone is one vector: per-run overhead would
// dominate); repeat_rows fills the copies once the first C entries are final.
int64_t table_length(const Geometry& g) {
  return g.S == 1 && g.C > 0 ? g.C * std::max<int64_t>(1, kTableSpan / g.C) : g.C;
}

// A call's working memory (per-channel tables, per-piece partials), owned by the calling thread and reused by its
// next call: once the shapes have been seen, a training step allocates nothing here. A call takes it once, on the
// thread that made it, and hands references to its parallel region (which must not name the thread_local itself: a
// worker thread would find its own).
struct Workspace {
  std::array<std::vector<float>, 4> tables;
  std::vector<Welford<Acc>> statistics;
  std::vector<GradSums> sums;

  // Table k, zeroed, of the length table_length(g).
  std::vector<float>& table(std::size_t k, const Geometry& g) {
    tables[k].assign(static_cast<std::size_t>(table_length(g)), 0.0f);
    return tables[k];
  }
};

Workspace& workspace() {
  thread_local Workspace memory;
  return memory;
}

void repeat_rows(const Geometry& g, std::vector<float>& table) {
  for (std::size_t i = static_cast<std::size_t>(g.C); i < table.size(); ++i) table[i] = table[i - g.C];
}

// Whether an elementwise pass stores non-temporally (store_run), by what it would otherwise evict. A fused unit's
// pass streams when it touches (operands + output) more than kStreamFusedAbove: its stores then leave the L2 that
// holds the unit's operands for their second read, and the last-level cache the operands that the next call's first
// read wants (measured on the build machine, forward training 32x64x56x56: 1494 us streaming, 2171 us not; A/B on the
// 2-core AMD, 32 MB L3, best of 9 rounds / median round: backward 8x32x128x128, 16 MB per array, 1.44x / 1.36x faster
// streaming, 4x32x16x32x32 and 32x64x1000, 8 MB per array, 1.06x / 1.29x and 0.95x / 1.15x, forward training
// 8x32x128x128 1.26x / 1.29x; the forward of the 8 MB shapes, 16 MB touched, ran 0.85-1.12x streaming and does not).
// An unfused pass streams only when it touches (reads + writes) more than kStreamPassAbove: below that the
// last-level cache still keeps much of its operands between calls and the read-for-ownership of plain stores costs
// less than the bandwidth cap of streaming ones (benchmarks/bench_cpu_memory on the 2-core build machine, 32 MB L3:
// plain stores faster up to 24 MB per array, 8-25% slower from 32 MB per array on; A/B of bench_batchnorm there:
// eval 32x64x56x56, 26 MB per array, 1.13x / 1.23x faster streaming, channels-last forward training 1.48x / 1.45x,
// while eval 8x32x128x128, 17 MB per array, ran the same either way). Not lowered where a pass alone would gain: on
// the 2-core Emerald Rapids Xeon streaming wins alone from 4 MB per array (bench_cpu_memory: 8 MB 240 / 313 us), but
// the op reading the output then loses more, up to 48 MB per array (affine_*_then_read, 8 MB: 697 us streaming,
// 608 plain); streaming from the L2s' size on ran eval 1.1-1.25x faster alone and the backward of BatchNorm + add +
// ReLU in 16 bits, whose passed gradient the normalisation reads at once, 0.53-0.62x (session 49's results).
constexpr int64_t kStreamFusedAbove = int64_t{20} << 20;
constexpr int64_t kStreamPassAbove = int64_t{40} << 20;

// An unfused pass over `arrays` tensors of g's size (its inputs and its output).
bool streaming_pass(const Geometry& g, int64_t element_bytes, int arrays) {
  return g.numel() * element_bytes * arrays > kStreamPassAbove;
}

// run_phases' elementwise pass: fused units (operands read by the first phase) or one unfused pass.
bool streaming_phase(const Layout& l, int operands, int arrays) {
  return l.fused(operands) ? l.g.numel() * l.element_bytes * arrays > kStreamFusedAbove
                           : streaming_pass(l.g, l.element_bytes, arrays);
}

// Writes out[lo, hi) through fill(dst, a, b), which computes the outputs of flat elements [a, b) into dst[0, b - a).
// `streaming`: the whole 64-byte lines are computed in blocks of at most kStreamBlock into an L1 buffer and stored
// non-temporally, only the partial lines at the two ends plainly (storing what was left after the last whole block
// plainly, up to 255 elements of every 4000-byte plane, cost the backward of 32x64x1000 1.07x / 1.04x, best / median
// round, A/B on the 2-core Xeon). A block may span runs and channels: streaming each run on its own left the runs'
// unaligned ends to plain stores, mixing both kinds in the same lines (eval 32x64x1000, 4000-byte runs, streaming
// forced, on a 2-core Xeon: 482 us run by run, 373 us by slices, 390 us with plain stores). The caller orders the
// streamed stores (store_fence) once it has written all it writes in its phase, not per call: an sfence waits until the
// write-combining buffers have drained, and a fused unit calls once per plane (a fence per call, A/B on the 2-core
// Xeon, best / median round: forward training 32x64x56x56 1.16x / 1.16x slower, backward 32x64x1000, 2048 planes of
// 4000 bytes, 1.07x / 1.06x).
constexpr int64_t kStreamBlock = 256;

// Orders the streamed stores of store_elements before whatever the thread does next.
inline void store_fence() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

template <typename T, typename Fill>
void store_elements(T* out, int64_t lo, int64_t hi, bool streaming, const Fill& fill) {
#if defined(__SSE2__)
  if (streaming) {
    constexpr int64_t kLine = 64 / sizeof(T);
    const int64_t misaligned = static_cast<int64_t>(reinterpret_cast<uintptr_t>(out + lo) % 64 / sizeof(T));
    const int64_t head = std::min(hi, misaligned == 0 ? lo : lo + kLine - misaligned);
    if (head > lo) fill(out + lo, lo, head);
    alignas(64) T block[kStreamBlock];
    // Whole lines [pos, end), at most a block of them, computed into L1 and streamed.
    auto stream_lines = [&](int64_t pos, int64_t end) {
      fill(block, pos, end);
      const auto* src = reinterpret_cast<const char*>(block);
      auto* dst = reinterpret_cast<char*>(out + pos);
      const auto bytes = static_cast<std::size_t>(end - pos) * sizeof(T);
#if defined(__AVX512F__)
      for (std::size_t j = 0; j < bytes; j += 64)
        _mm512_stream_si512(reinterpret_cast<__m512i*>(dst + j), _mm512_load_si512(src + j));
#else
      for (std::size_t j = 0; j < bytes; j += 16)
        _mm_stream_si128(reinterpret_cast<__m128i*>(dst + j),
                         _mm_load_si128(reinterpret_cast<const __m128i*>(src + j)));
#endif
    };
    // Whole blocks first, the last lines apart: a whole block's fixed size lets the compiler keep it in registers
    // (one loop over blocks of variable size ran the backward of 32x64x1000 0.94x, A/B on the 2-core Xeon).
    int64_t pos = head;
    for (; pos + kStreamBlock <= hi; pos += kStreamBlock) stream_lines(pos, pos + kStreamBlock);
    const int64_t lines_end = pos + (hi - pos) / kLine * kLine;
    if (lines_end > pos) stream_lines(pos, lines_end);
    if (lines_end < hi) fill(out + lines_end, lines_end, hi);
    return;
  }
#endif
  if (hi > lo) fill(out + lo, lo, hi);
}

// op(dst, offset, length, c, c_step) for the runs of the flat elements [lo, hi), dst receiving [lo, hi). Channel
// indices advance with the walk: a division per run would cost more than a 7x7 plane's arithmetic.
template <typename T, typename Op>
void for_each_elementwise_run(const Geometry& g, int64_t lo, int64_t hi, T* dst, const Op& op) {
  if (g.S == 1) {
    const int64_t span = table_length(g);
    for (int64_t pos = lo, c = lo % g.C; pos < hi; c = 0) {
      const int64_t length = std::min(span - c, hi - pos);
      op(dst + (pos - lo), pos, length, c, 1);
      pos += length;
    }
    return;
  }
  for (int64_t pos = lo, s = lo % g.S, c = lo / g.S % g.C; pos < hi; s = 0, c = c + 1 == g.C ? 0 : c + 1) {
    const int64_t length = std::min(g.S - s, hi - pos);
    op(dst + (pos - lo), pos, length, c, 0);
    pos += length;
  }
}

// Applies op to the flat elements [lo, hi) of the tensor.
template <typename T, typename Op>
void elementwise_range(const Geometry& g, int64_t lo, int64_t hi, T* out, bool streaming, const Op& op) {
  store_elements(out, lo, hi, streaming,
                 [&](T* dst, int64_t a, int64_t b) { for_each_elementwise_run(g, a, b, dst, op); });
  if (streaming) store_fence();
}

// The whole tensor in fixed slices, shared among the threads of the enclosing parallel region (if any).
template <typename T, typename Op>
void elementwise_slices(const Geometry& g, T* out, bool streaming, const Op& op) {
  const int64_t total = g.numel();
  if (total == 0) return;
  const int64_t slices = parallel(g) ? (total + kPieceElements - 1) / kPieceElements : 1;
#pragma omp for schedule(static)
  for (int64_t k = 0; k < slices; ++k)
    elementwise_range(g, k * total / slices, (k + 1) * total / slices, out, streaming, op);
}

// The whole tensor, in parallel over fixed slices.
template <typename T, typename Op>
void elementwise_all(const Geometry& g, T* out, bool streaming, const Op& op) {
#pragma omp parallel if (parallel(g))
  elementwise_slices(g, out, streaming, op);
}

// run_phases' unfused elementwise pass, called by every thread of its region once the channels are finished: the
// tables' repeated rows, then the slices.
template <typename T, typename Op>
void elementwise_after_finish(const Geometry& g, std::initializer_list<std::vector<float>*> tables, T* out,
                              bool streaming, const Op& op) {
#pragma omp single
  for (auto* table : tables) repeat_rows(g, *table);
  elementwise_slices(g, out, streaming, op);
}

// One unit's elements: its channel's planes, or its block's columns of every row. When the thread's next unit is
// the next channel and Layout::prefetches_next, each block of the pass then calls prefetch(offset, length) for the
// next channel's same block (its plane n follows this channel's plane n), which the next unit's first phase reads.
template <typename T, typename Op, typename Prefetch>
void elementwise_unit(const Layout& l, int64_t unit, T* out, bool streaming, bool next_is_ours, const Op& op,
                      const Prefetch& prefetch) {
  const Geometry& g = l.g;
  const int64_t c0 = l.first_channel(unit);
  if (l.rows) {
    const int64_t width = l.width(unit);
    for (int64_t n = 0; n < g.N; ++n) op(out + n * g.C + c0, n * g.C + c0, width, c0, 1);
    return;
  }
  const bool prefetch_next = next_is_ours && l.prefetches_next();
  for (int64_t n = 0; n < g.N; ++n) {
    const int64_t offset = (n * g.C + c0) * g.S;
    store_elements(out, offset, offset + g.S, streaming, [&](T* dst, int64_t a, int64_t b) {
      op(dst, a, b - a, c0, 0);
      if (prefetch_next) prefetch(a + g.S, b - a);
    });
  }
  if (streaming) store_fence();
}

// The elementwise ops run through one of two wrappers, chosen once per pass (with_elementwise): Direct hands compute
// the operands where they lie (float32 and bfloat16, dy through its mask: converted, masked and rounded in the loop),
// Staged (float16) converts (and masks) them in L1 chunk by chunk and rounds the outputs once. A single wrapper
// choosing per run kept the compiler from inlining it into the run loops: called per 7x7 plane, that cost up to a
// third of the eval pass (64x512x7x7: 375 us inlined, 409-537 us not).
template <typename Op, bool kMasked>
struct Direct {
  using T = typename Op::Element;
  const Op& op;
  void operator()(T* out, int64_t offset, int64_t length, int64_t c, int c_step) const {
    op.compute(out, direct_spans<kMasked>(op.operands, offset), length, c, c_step);
  }
};

template <typename Op>
struct Staged {
  using T = typename Op::Element;
  const Op& op;
  void operator()(T* out, int64_t offset, int64_t length, int64_t c, int c_step) const {
    constexpr std::size_t kOperands = std::tuple_size_v<decltype(Op::operands)>;
    alignas(64) float staged[kOperands][kStreamBlock];
    alignas(64) float result[kStreamBlock];
    std::array<const float*, kOperands> spans;
    for (int64_t i = 0; i < length; i += kStreamBlock) {
      const int64_t n = std::min(kStreamBlock, length - i);
      for (std::size_t a = 0; a < kOperands; ++a) spans[a] = op.operands[a].read(staged[a], offset + i, n);
      const int64_t channel = c_step == 0 ? c : c + i;
      op.compute(result, spans, n, channel, c_step);
      detail::convert_elements(result, out + i, n);
    }
  }
};

// Calls body with op wrapped as its operands are read (reading()).
template <typename Op, typename Body>
void with_elementwise(const Op& op, Body body) {
  if constexpr (kReadsDirectly<typename Op::Element>) {
    const Reading how = reading(op.operands);
    if (how == Reading::Direct) return body(Direct<Op, false>{op});
    if constexpr (Op::kMaskable) {
      if (how == Reading::DirectMasked) return body(Direct<Op, true>{op});
    }
  }
  body(Staged<Op>{op});
}

// Stores v as element i of out, rounded to out's type.
inline void put(float* out, int64_t i, float v) { out[i] = v; }
inline void put(BFloat16* out, int64_t i, float v) { out[i].bits = detail::bfloat16_bits(v); }

// out[i] = f(i) for i in [0, length): a plain loop, which the compiler vectorises.
template <typename Out, typename F>
inline void store_run(Out* out, int64_t length, F f) {
  for (int64_t i = 0; i < length; ++i) put(out, i, f(i));
}

// store_run of value(i) through the fused epilogue: + residual[i] (when not null), then the ReLU (when relu). The
// choice is made per run, so that each loop stays a plain vectorisable one.
template <typename Out, typename In, typename F>
inline void store_with_epilogue(Out* out, int64_t length, const In* residual, bool relu, F value) {
  if (residual != nullptr) {
    if (relu) {
      return store_run(out, length, [=](int64_t i) { return epilogue<true>(value(i), value_at(residual, i)); });
    }
    return store_run(out, length, [=](int64_t i) { return epilogue<false>(value(i), value_at(residual, i)); });
  }
  if (relu) return store_run(out, length, [=](int64_t i) { return epilogue<true>(value(i), 0.0f); });
  store_run(out, length, value);
}

// Each op's compute(out, spans, length, c, c_step) reads float arrays (Staged) or direct_spans (Direct). kMaskable:
// whether its first operand (dy) may be masked.

// out = epilogue((x - mean[c]) * scale[c] + shift[c], residual): the training forward's shift is compensated_shift's
// (bn_math.cuh), centred on the batch mean itself.
template <typename T>
struct NormalizeOp {
  using Element = T;
  static constexpr bool kMaskable = false;
  std::array<Operand<T>, 2> operands;  // x, and the residual (undefined: none)
  const float *mean, *scale, *shift;
  bool relu;
  template <typename Out, typename Spans>
  void compute(Out* out, const Spans& in, int64_t length, int64_t c, int c_step) const {
    const auto x = std::get<0>(in);
    const auto z = std::get<1>(in);
    if (c_step == 0) {
      const float m = mean[c], a = scale[c], b = shift[c];
      store_with_epilogue(out, length, z, relu, [=](int64_t i) { return normalize(value_at(x, i), m, a, b); });
    } else {
      const float *m = mean + c, *a = scale + c, *b = shift + c;
      store_with_epilogue(out, length, z, relu, [=](int64_t i) { return normalize(value_at(x, i), m[i], a[i], b[i]); });
    }
  }
};

// Training-mode input gradient.
template <typename T>
struct InputGradientOp {
  using Element = T;
  static constexpr bool kMaskable = true;
  std::array<Operand<T>, 2> operands;  // dy, x
  const float *mean, *grad_mean, *projection, *scale;
  template <typename Out, typename Spans>
  void compute(Out* out, const Spans& in, int64_t length, int64_t c, int c_step) const {
    const auto d = std::get<0>(in);
    const auto x = std::get<1>(in);
    if (c_step == 0) {
      const BackwardCoefficients<float> k{grad_mean[c], projection[c], scale[c]};
      const float m = mean[c];
      store_run(out, length, [=](int64_t i) { return backward_training(value_at(d, i), value_at(x, i), k, m); });
    } else {
      for (int64_t i = 0; i < length; ++i) {
        const BackwardCoefficients<float> k{grad_mean[c + i], projection[c + i], scale[c + i]};
        put(out, i, backward_training(value_at(d, i), value_at(x, i), k, mean[c + i]));
      }
    }
  }
};

// Eval-mode input gradient: dy * scale[c].
template <typename T>
struct ScaleOp {
  using Element = T;
  static constexpr bool kMaskable = true;
  std::array<Operand<T>, 1> operands;  // dy
  const float* scale;
  template <typename Out, typename Spans>
  void compute(Out* out, const Spans& in, int64_t length, int64_t c, int c_step) const {
    const auto d = std::get<0>(in);
    if (c_step == 0) {
      const float a = scale[c];
      store_run(out, length, [=](int64_t i) { return value_at(d, i) * a; });
    } else {
      for (int64_t i = 0; i < length; ++i) put(out, i, value_at(d, i) * scale[c + i]);
    }
  }
};

// The gradient past a fused forward's ReLU as it is (its operand masks dy): the residual's gradient.
template <typename T>
struct PassedGradientOp {
  using Element = T;
  static constexpr bool kMaskable = true;
  std::array<Operand<T>, 1> operands;  // dy, masked by the ReLU's output
  template <typename Out, typename Spans>
  void compute(Out* out, const Spans& in, int64_t length, int64_t, int) const {
    const auto d = std::get<0>(in);
    store_run(out, length, [=](int64_t i) { return value_at(d, i); });
  }
};

// ---------------------------------------------------------------------------------------------------------------
// The two-phase skeleton: per-piece partials, per-channel finish (merge + coefficients), elementwise pass; either
// one task per unit (fused: each thread takes a contiguous range of units) or each phase in parallel over the whole
// tensor. elementwise_of_unit(unit, next_is_ours) is a fused unit's pass, next_is_ours whether the thread's next unit
// is unit + 1; elementwise_of_unit(-1, false) the unfused pass, called by every thread of the region
// (elementwise_after_finish).

template <typename Partial, typename Merge, typename PieceFn, typename FinishFn, typename ElementwiseFn>
void run_phases(const Layout& l, int operands, std::vector<Partial>& partial, Merge merge, PieceFn piece,
                FinishFn finish, ElementwiseFn elementwise_of_unit, bool with_elementwise) {
  const Geometry& g = l.g;
  partial.assign(static_cast<std::size_t>(g.C * l.pieces), Partial{});
  auto finish_channel = [&](int64_t c) { finish(c, tree_reduce(partial.data() + c * l.pieces, l.pieces, merge)); };
  if (l.fused(operands)) {
#pragma omp parallel if (parallel(g))
    {
      const int64_t threads = omp_get_num_threads(), thread = omp_get_thread_num();
      const int64_t first = l.units * thread / threads, end = l.units * (thread + 1) / threads;
      for (int64_t unit = first; unit < end; ++unit) {
        for (int64_t k = 0; k < l.pieces; ++k) piece(unit, k);
        for (int64_t j = 0; j < l.width(unit); ++j) finish_channel(l.first_channel(unit) + j);
        if (with_elementwise) elementwise_of_unit(unit, unit + 1 < end);
      }
    }
    return;
  }
  // One region for the three phases: a fork and join cost more than the barriers between them on small tensors.
#pragma omp parallel if (parallel(g))
  {
#pragma omp for schedule(static)
    for (int64_t task = 0; task < l.units * l.pieces; ++task) piece(task / l.pieces, task % l.pieces);
#pragma omp for schedule(static)
    for (int64_t c = 0; c < g.C; ++c) finish_channel(c);
    if (with_elementwise) elementwise_of_unit(-1, false);
  }
}

}  // namespace

template <typename T>
void cpu_forward_training(const ForwardTrainingParamsOf<T>& p) {
  const Geometry& g = p.geometry;
  if (p.num_batches_tracked != nullptr) *p.num_batches_tracked += 1;
  const int64_t m = g.per_channel();
  if (m == 0) {
    std::fill(p.save_mean, p.save_mean + g.C, 0.0f);
    std::fill(p.save_invstd, p.save_invstd + g.C, 0.0f);
    if (p.save_mean_low != nullptr) std::fill(p.save_mean_low, p.save_mean_low + g.C, 0.0f);
    return;
  }
  const Acc factor = p.running_mean != nullptr
                         ? running_factor(p.cumulative_average, p.momentum,
                                          p.num_batches_tracked ? *p.num_batches_tracked : 0)
                         : 0;
  Workspace& memory = workspace();
  std::vector<float> &mean = memory.table(0, g), &scale = memory.table(1, g), &shift = memory.table(2, g);
  const Layout l(g, sizeof(T));
  std::vector<Welford<Acc>>& partial = memory.statistics;
  const Operand<T> x{p.x};
  const NormalizeOp<T> normalize_op{{x, Operand<T>{p.residual}}, mean.data(), scale.data(), shift.data(), p.relu};
  const bool streaming = streaming_phase(l, 1, p.residual ? 3 : 2);
  run_phases(
      l, 1, partial, welford_merge<Acc>,
      [&](int64_t unit, int64_t k) { piece_statistics(l, x, unit, k, partial.data()); },
      [&](int64_t c, const Welford<Acc>& s) {
        const Acc count = static_cast<Acc>(m);
        p.save_mean[c] = mean[c] = static_cast<float>(s.mean);
        const float mean_low = static_cast<float>(s.mean - static_cast<Acc>(mean[c]));
        if (p.save_mean_low != nullptr) p.save_mean_low[c] = mean_low;
        p.save_invstd[c] = static_cast<float>(invstd_from_var(s.m2 / count, static_cast<Acc>(p.eps)));
        scale[c] = p.save_invstd[c] * (p.weight ? p.weight[c] : 1.0f);
        shift[c] = compensated_shift(p.bias ? p.bias[c] : 0.0f, mean_low, scale[c]);
        if (p.running_mean != nullptr) {
          p.running_mean[c] = static_cast<float>(running_update<Acc>(p.running_mean[c], s.mean, factor));
          p.running_var[c] =
              static_cast<float>(running_update<Acc>(p.running_var[c], unbiased_var(s.m2, count), factor));
        }
      },
      [&](int64_t unit, bool next_is_ours) {
        with_elementwise(normalize_op, [&](const auto& op) {
          if (unit >= 0) {
            return elementwise_unit(l, unit, p.y, streaming, next_is_ours, op,
                                    [&](int64_t offset, int64_t length) { x.prefetch(offset, length); });
          }
          elementwise_after_finish(g, {&mean, &scale, &shift}, p.y, streaming, op);
        });
      },
      true);
}

template <typename T>
void cpu_forward_inference(const ForwardInferenceParamsOf<T>& p) {
  const Geometry& g = p.geometry;
  Workspace& memory = workspace();
  std::vector<float> &mean = memory.table(0, g), &scale = memory.table(1, g), &shift = memory.table(2, g);
  for (int64_t c = 0; c < g.C; ++c) {
    p.save_mean[c] = mean[c] = p.running_mean[c];
    p.save_invstd[c] =
        static_cast<float>(invstd_from_running_var(static_cast<Acc>(p.running_var[c]), static_cast<Acc>(p.eps)));
    scale[c] = p.save_invstd[c] * (p.weight ? p.weight[c] : 1.0f);
    shift[c] = p.bias ? p.bias[c] : 0.0f;
    // A channel whose scale or mean is not finite (a zero running variance with eps = 0, infinite or NaN statistics)
    // takes PyTorch's CPU formula, x * scale + (bias - mean * scale), so its infinities and NaNs are PyTorch's; where
    // all is finite, subtracting the mean first keeps the precision (normalize in bn_math.cuh).
    if (!std::isfinite(scale[c]) || !std::isfinite(mean[c])) {
      shift[c] -= mean[c] * scale[c];
      mean[c] = 0.0f;
    }
  }
  for (auto* table : {&mean, &scale, &shift}) repeat_rows(g, *table);
  const NormalizeOp<T> normalize_op{{Operand<T>{p.x}, Operand<T>{p.residual}}, mean.data(), scale.data(),
                                    shift.data(), p.relu};
  with_elementwise(normalize_op, [&](const auto& op) {
    elementwise_all(g, p.y, streaming_pass(g, sizeof(T), p.residual ? 3 : 2), op);
  });
}

template <typename T>
void cpu_relu_gradient(const T* dy, const T* y, T* out, int64_t n) {
  const Geometry flat{1, 1, n};
  with_elementwise(PassedGradientOp<T>{{Operand<T>{dy, y}}}, [&](const auto& op) {
    elementwise_all(flat, out, streaming_pass(flat, sizeof(T), 3), op);
  });
}

template <typename T>
void cpu_backward(const BackwardParamsOf<T>& p) {
  const Geometry& g = p.geometry;
  if (g.per_channel() == 0) {  // sums over nothing; dx, if asked for, is empty
    if (p.dweight != nullptr) std::fill(p.dweight, p.dweight + g.C, 0.0f);
    if (p.dbias != nullptr) std::fill(p.dbias, p.dbias + g.C, 0.0f);
    return;
  }
  // dy as the normalisation sees it: masked by a fused forward's ReLU where one is given.
  const Operand<T> dy{p.dy, p.relu_output}, x{p.x};
  // Coefficients by kind in their own tables, so that the (N, C) layout's loop over channels loads them as vectors.
  Workspace& memory = workspace();
  std::vector<float> &mean = memory.table(0, g), &grad_mean = memory.table(1, g), &projection = memory.table(2, g),
                     &scale = memory.table(3, g);
  const bool need_sums = p.training || p.dweight != nullptr || p.dbias != nullptr;
  if (!need_sums) {
    for (int64_t c = 0; c < g.C; ++c) scale[c] = p.invstd[c] * (p.weight ? p.weight[c] : 1.0f);
    repeat_rows(g, scale);
    with_elementwise(ScaleOp<T>{{dy}, scale.data()}, [&](const auto& op) {
      elementwise_all(g, p.dx, streaming_pass(g, sizeof(T), p.relu_output ? 3 : 2), op);
    });
    return;
  }
  const Layout l(g, sizeof(T));
  std::vector<GradSums>& partial = memory.sums;
  std::copy(p.mean, p.mean + g.C, mean.begin());
  const InputGradientOp<T> gradient_op{{dy, x}, mean.data(), grad_mean.data(), projection.data(), scale.data()};
  const ScaleOp<T> scale_op{{dy}, scale.data()};
  const int masked = p.relu_output ? 1 : 0;
  const bool streaming = streaming_phase(l, 2 + masked, (p.training ? 3 : 2) + masked);
  run_phases(
      l, 2 + masked, partial, add_sums,
      [&](int64_t unit, int64_t k) { piece_gradient_sums(l, dy, x, p.mean, unit, k, partial.data()); },
      [&](int64_t c, const GradSums& s) {
        // Centred on the batch mean itself where the forward kept its low part (bn_math.cuh).
        const Acc low = p.training && p.mean_low != nullptr ? p.mean_low[c] : 0.0f;
        const Acc dy_xmu = compensated_dy_xmu(s.dy, s.dy_xmu, low);
        if (p.dweight != nullptr) p.dweight[c] = static_cast<float>(dy_xmu * p.invstd[c]);
        if (p.dbias != nullptr) p.dbias[c] = static_cast<float>(s.dy);
        const float w = p.weight ? p.weight[c] : 1.0f;
        if (p.training) {
          const auto k = compensated_coefficients<Acc>(s.dy, dy_xmu, p.invstd[c], w, static_cast<Acc>(g.per_channel()),
                                                       low);
          grad_mean[c] = static_cast<float>(k.grad_mean);
          projection[c] = static_cast<float>(k.projection);
          scale[c] = static_cast<float>(k.scale);
        } else {
          scale[c] = p.invstd[c] * w;
        }
      },
      [&](int64_t unit, bool next_is_ours) {
        auto pass = [&](const auto& op) {
          if (unit >= 0) {
            return elementwise_unit(l, unit, p.dx, streaming, next_is_ours, op, [&](int64_t offset, int64_t length) {
              dy.prefetch(offset, length);
              x.prefetch(offset, length);
            });
          }
          elementwise_after_finish(g, {&mean, &grad_mean, &projection, &scale}, p.dx, streaming, op);
        };
        p.training ? with_elementwise(gradient_op, pass) : with_elementwise(scale_op, pass);
      },
      p.dx != nullptr);
}

#define NORMRT_CPU_BATCHNORM(T)                                                    \
  template void cpu_forward_training(const ForwardTrainingParamsOf<T>&);           \
  template void cpu_forward_inference(const ForwardInferenceParamsOf<T>&);         \
  template void cpu_backward(const BackwardParamsOf<T>&);                          \
  template void cpu_relu_gradient(const T*, const T*, T*, int64_t);
NORMRT_CPU_BATCHNORM(float)
NORMRT_CPU_BATCHNORM(Half)
NORMRT_CPU_BATCHNORM(BFloat16)
#undef NORMRT_CPU_BATCHNORM

template <typename T>
void cpu_local_statistics(const T* x, const Geometry& g, double* mean, double* m2) {
  if (g.per_channel() == 0) {
    std::fill(mean, mean + g.C, 0.0);
    std::fill(m2, m2 + g.C, 0.0);
    return;
  }
  const Layout l(g, sizeof(T));
  std::vector<Welford<Acc>>& partial = workspace().statistics;
  run_phases(
      l, 1, partial, welford_merge<Acc>,
      [&](int64_t unit, int64_t k) { piece_statistics(l, Operand<T>{x}, unit, k, partial.data()); },
      [&](int64_t c, const Welford<Acc>& s) {
        mean[c] = s.mean;
        m2[c] = s.m2;
      },
      [](int64_t, bool) {}, false);
}

template <typename T>
void cpu_normalize(const T* x, const Geometry& g, const float* mean, const float* mean_low, const float* invstd,
                   const float* weight, const float* bias, const T* residual, bool relu, T* y) {
  Workspace& memory = workspace();
  std::vector<float> &means = memory.table(0, g), &scale = memory.table(1, g), &shift = memory.table(2, g);
  for (int64_t c = 0; c < g.C; ++c) {
    means[c] = mean[c];
    scale[c] = invstd[c] * (weight ? weight[c] : 1.0f);
    shift[c] = bias ? bias[c] : 0.0f;
    if (mean_low) shift[c] = compensated_shift(shift[c], mean_low[c], scale[c]);
  }
  for (auto* table : {&means, &scale, &shift}) repeat_rows(g, *table);
  const NormalizeOp<T> normalize_op{{Operand<T>{x}, Operand<T>{residual}}, means.data(), scale.data(), shift.data(),
                                    relu};
  with_elementwise(normalize_op, [&](const auto& op) {
    elementwise_all(g, y, streaming_pass(g, sizeof(T), residual ? 3 : 2), op);
  });
}

template <typename T>
void cpu_local_gradient_sums(const T* dy, const T* relu_output, const T* x, const float* mean, const Geometry& g,
                             double* sum_dy, double* sum_dy_xmu) {
  if (g.per_channel() == 0) {
    std::fill(sum_dy, sum_dy + g.C, 0.0);
    std::fill(sum_dy_xmu, sum_dy_xmu + g.C, 0.0);
    return;
  }
  const Layout l(g, sizeof(T));
  const int masked = relu_output ? 1 : 0;
  std::vector<GradSums>& partial = workspace().sums;
  run_phases(
      l, 2 + masked, partial, add_sums,
      [&](int64_t unit, int64_t k) {
        piece_gradient_sums(l, Operand<T>{dy, relu_output}, Operand<T>{x}, mean, unit, k, partial.data());
      },
      [&](int64_t c, const GradSums& s) {
        sum_dy[c] = s.dy;
        sum_dy_xmu[c] = s.dy_xmu;
      },
      [](int64_t, bool) {}, false);
}

template <typename T>
void cpu_input_gradient(const T* dy, const T* relu_output, const T* x, const Geometry& g, const float* mean,
                        const float* mean_low, const float* invstd, const float* weight, const double* sum_dy,
                        const double* sum_dy_xmu, double count, T* dx) {
  Workspace& memory = workspace();
  std::vector<float> &means = memory.table(0, g), &grad_mean = memory.table(1, g), &projection = memory.table(2, g),
                     &scale = memory.table(3, g);
  for (int64_t c = 0; c < g.C; ++c) {
    const auto k = compensated_coefficients<Acc>(sum_dy[c], sum_dy_xmu[c], invstd[c], weight ? weight[c] : 1.0f, count,
                                                 mean_low ? mean_low[c] : 0.0f);
    means[c] = mean[c];
    grad_mean[c] = static_cast<float>(k.grad_mean);
    projection[c] = static_cast<float>(k.projection);
    scale[c] = static_cast<float>(k.scale);
  }
  for (auto* table : {&means, &grad_mean, &projection, &scale}) repeat_rows(g, *table);
  const InputGradientOp<T> gradient_op{{Operand<T>{dy, relu_output}, Operand<T>{x}}, means.data(), grad_mean.data(),
                                       projection.data(), scale.data()};
  with_elementwise(gradient_op, [&](const auto& op) {
    elementwise_all(g, dx, streaming_pass(g, sizeof(T), relu_output ? 4 : 3), op);
  });
}

#define NORMRT_CPU_SYNC_BATCHNORM(T)                                                                                \
  template void cpu_local_statistics(const T*, const Geometry&, double*, double*);                                \
  template void cpu_normalize(const T*, const Geometry&, const float*, const float*, const float*, const float*,   \
                              const float*, const T*, bool, T*);                                                   \
  template void cpu_local_gradient_sums(const T*, const T*, const T*, const float*, const Geometry&, double*,       \
                                        double*);                                                                  \
  template void cpu_input_gradient(const T*, const T*, const T*, const Geometry&, const float*, const float*,      \
                                   const float*, const float*, const double*, const double*, double, T*);
NORMRT_CPU_SYNC_BATCHNORM(float)
NORMRT_CPU_SYNC_BATCHNORM(Half)
NORMRT_CPU_SYNC_BATCHNORM(BFloat16)
#undef NORMRT_CPU_SYNC_BATCHNORM

}  // namespace normrt::bn
NORMRT_WIDE_VECTORS_END
