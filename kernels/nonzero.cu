// The selections on a device (nonzero.cuh): a block per tile of kTile flat indices, kChunks chunks of one element per
// thread. Counting sums each thread's selected elements over a warp shuffle and the block's warps; one block scans the
// tiles' counts into starts (device_groups.cuh's exclusive_scan); writing ranks each chunk's selected elements by a
// warp ballot (the lanes below) and the earlier warps' counts in shared memory, so that a tile places its elements in
// flat order from its start. Two reads of the flags and no atomics: the order, and so every result, is the same
// every run (cub's flagged select, which PyTorch uses, decouples its look-back for one pass instead).
#include "device_groups.cuh"
#include "nonzero.cuh"

namespace normrt::NORMRT_KERNEL_NS {

namespace {
constexpr int kThreads = 256, kWarps = kThreads / 32, kChunks = 8;
constexpr int64_t kTile = int64_t{kThreads} * kChunks;

template <typename U>
__global__ void __launch_bounds__(kThreads)
    count_tiles_kernel(const U* flags, U value_bits, cmpmath::Plan p, int64_t* counts) {
  NORMRT_DYNAMIC_SHARED(int, warp_counts);  // [kWarps]
  const int t = static_cast<int>(threadIdx.x), lane = t % 32, warp = t / 32;
  const int64_t tile = blockIdx.x;
  int selected = 0;
  for (int c = 0; c < kChunks; ++c) {
    const int64_t i = tile * kTile + c * kThreads + t;
    if (i >= p.numel) break;
    int64_t at[cmpmath::kOperands];
    cmpmath::offsets(p, i, at);
    selected += nzmath::nonzero_bits(flags[at[0]], value_bits) ? 1 : 0;
  }
  for (int d = 16; d > 0; d /= 2) selected += __shfl_down_sync(0xffffffffu, selected, d);
  if (lane == 0) warp_counts[warp] = selected;
  __syncthreads();
  if (t == 0) {
    int64_t total = 0;
    for (int w = 0; w < kWarps; ++w) total += warp_counts[w];
    counts[tile] = total;
  }
}

// The place of the calling thread's element among the selected ones (-1 if it is not selected), `next` being the
// place of the chunk's first selected element; advances `next` past the chunk. Every thread of the block calls it,
// once a chunk, in chunk order. warp_counts: kWarps ints of shared memory.
__device__ int64_t place_in_chunk(bool selected, int* warp_counts, int64_t& next) {
  const int t = static_cast<int>(threadIdx.x), lane = t % 32, warp = t / 32;
  const unsigned lanes = __ballot_sync(0xffffffffu, selected);
  if (lane == 0) warp_counts[warp] = NORMRT_POPC(lanes);
  __syncthreads();
  int64_t before = next;
  for (int w = 0; w < kWarps; ++w) {
    if (w < warp) before += warp_counts[w];
    next += warp_counts[w];
  }
  __syncthreads();  // every thread has read the counts before the next chunk writes them
  return selected ? before + NORMRT_POPC(lanes & ((1u << lane) - 1u)) : -1;
}

template <typename U>
__global__ void __launch_bounds__(kThreads)
    positions_kernel(const U* flags, U value_bits, cmpmath::Plan p, nzmath::Sizes s, const int64_t* starts,
                     int64_t* positions) {
  NORMRT_DYNAMIC_SHARED(int, warp_counts);
  const int64_t tile = blockIdx.x;
  int64_t next = starts[tile];
  if (starts[tile + 1] == next) return;  // nothing selected: the whole block leaves
  for (int c = 0; c < kChunks; ++c) {
    const int64_t i = tile * kTile + c * kThreads + threadIdx.x;
    int64_t at[cmpmath::kOperands];
    if (i < p.numel) cmpmath::offsets(p, i, at);
    const int64_t place =
        place_in_chunk(i < p.numel && nzmath::nonzero_bits(flags[at[0]], value_bits), warp_counts, next);
    if (place >= 0) nzmath::unravel(s, i, positions + place * s.ndim);
  }
}

// The j-th element whose mask[at[1]] is true moved: gathered (to[j] = from[at[0]]) or scattered (to[at[0]] = from[j]).
template <typename V>
__global__ void __launch_bounds__(kThreads)
    move_selected_kernel(const bool* mask, const V* from, cmpmath::Plan p, const int64_t* starts, V* to, bool scatter) {
  NORMRT_DYNAMIC_SHARED(int, warp_counts);
  const int64_t tile = blockIdx.x;
  int64_t next = starts[tile];
  if (starts[tile + 1] == next) return;
  for (int c = 0; c < kChunks; ++c) {
    const int64_t i = tile * kTile + c * kThreads + threadIdx.x;
    int64_t at[cmpmath::kOperands];
    if (i < p.numel) cmpmath::offsets(p, i, at);
    const int64_t place = place_in_chunk(i < p.numel && mask[at[1]], warp_counts, next);
    if (place < 0) continue;
    if (scatter)
      to[at[0]] = from[place];
    else
      to[place] = from[at[0]];
  }
}
}  // namespace

int64_t select_tiles(int64_t n) { return (n + kTile - 1) / kTile; }

template <typename U>
void count_selected(const U* flags, U value_bits, const cmpmath::Plan& p, int64_t* starts, cudaStream_t stream) {
  // A block past the last tile counts nothing: the zero that the scan turns into the total.
  const int64_t tiles = select_tiles(p.numel);
  NORMRT_LAUNCH(count_tiles_kernel<U>, dim3(static_cast<unsigned>(tiles + 1)), dim3(kThreads), kWarps * sizeof(int),
                stream, flags, value_bits, p, starts);
  NORMRT_CHECK_LAUNCH();
  exclusive_scan(starts, tiles + 1, stream);
}

template <typename U>
void selected_positions(const U* flags, U value_bits, const cmpmath::Plan& p, const nzmath::Sizes& s,
                        const int64_t* starts, int64_t* positions, cudaStream_t stream) {
  const int64_t tiles = select_tiles(p.numel);
  if (tiles == 0) return;
  NORMRT_LAUNCH(positions_kernel<U>, dim3(static_cast<unsigned>(tiles)), dim3(kThreads), kWarps * sizeof(int), stream,
                flags, value_bits, p, s, starts, positions);
  NORMRT_CHECK_LAUNCH();
}

template <typename V>
void move_selected(const bool* mask, const V* from, const cmpmath::Plan& p, const int64_t* starts, V* to, bool scatter,
                   cudaStream_t stream) {
  const int64_t tiles = select_tiles(p.numel);
  if (tiles == 0) return;
  NORMRT_LAUNCH(move_selected_kernel<V>, dim3(static_cast<unsigned>(tiles)), dim3(kThreads), kWarps * sizeof(int),
                stream, mask, from, p, starts, to, scatter);
  NORMRT_CHECK_LAUNCH();
}

#define NORMRT_SELECT_INSTANTIATIONS(U)                                                                               \
  template void count_selected(const U*, U, const cmpmath::Plan&, int64_t*, cudaStream_t);                            \
  template void selected_positions(const U*, U, const cmpmath::Plan&, const nzmath::Sizes&, const int64_t*, int64_t*, \
                                   cudaStream_t);                                                                     \
  template void move_selected(const bool*, const U*, const cmpmath::Plan&, const int64_t*, U*, bool, cudaStream_t);
NORMRT_SELECT_INSTANTIATIONS(uint8_t)
NORMRT_SELECT_INSTANTIATIONS(uint16_t)
NORMRT_SELECT_INSTANTIATIONS(uint32_t)
NORMRT_SELECT_INSTANTIATIONS(uint64_t)
#undef NORMRT_SELECT_INSTANTIATIONS

}  // namespace normrt::NORMRT_KERNEL_NS
