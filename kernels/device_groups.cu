// Positions grouped by key on a device (device_groups.cuh): an LSD radix sort of (key, position) pairs, 8 bits a pass.
// The positions start ascending and every pass is stable, so each row's positions end ascending: the order the
// consumers add in, the CPU's. A pass is three launches: each tile of kTile positions counts its digits; one block
// turns the counts (digit-major, then tile) into starts; each tile writes its pairs to their places, ranked in
// position order by warp ballots (the lanes sharing a digit found bit by bit, a multisplit) and per-warp counts in
// shared memory. No atomics: the same order every run. Where every row's group is wanted (the embedding's backward
// writes every row), it is found in the sorted keys by binary search, a thread per row; the scatters walk the sorted
// keys instead (a thread per run of equal keys), so that their cost follows the positions, not the tensor. The
// single-block counting sort this replaced was serial in both the positions and the rows (one SM for a whole
// scatter).
#include "device_groups.cuh"

namespace normrt::NORMRT_KERNEL_NS {

namespace {
constexpr int kThreads = 256, kWarps = kThreads / 32, kBits = 8, kDigits = 1 << kBits;
static_assert(kThreads == kDigits, "a thread per digit turns the digits' counts into places");
constexpr int kChunks = 8;  // of kThreads positions in a tile
constexpr int64_t kTile = int64_t{kThreads} * kChunks;

int64_t tiles_of(int64_t n) { return (n + kTile - 1) / kTile; }

// keys[i] = indices[i], or rows (sorted after every row) where it is outside [0, rows); values[i] = i.
__global__ void make_keys_kernel(const int64_t* indices, int64_t n, int64_t rows, int64_t* keys, int64_t* values) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const int64_t k = indices[i];
    keys[i] = k >= 0 && k < rows ? k : rows;
    values[i] = i;
  }
}

// The active lanes of the calling warp whose digit is the caller's (all 32 lanes call).
__device__ unsigned same_digit_lanes(unsigned digit, bool active) {
  unsigned lanes = __ballot_sync(0xffffffffu, active);
  for (int b = 0; b < kBits; ++b) {
    const bool set = ((digit >> b) & 1u) != 0u;
    const unsigned with_bit = __ballot_sync(0xffffffffu, set);
    lanes &= set ? with_bit : ~with_bit;
  }
  return lanes;
}

// counts[d * tiles + tile]: the tile's keys whose digit at `shift` is d.
__global__ void __launch_bounds__(kThreads)
    digit_counts_kernel(const int64_t* keys, int64_t n, int shift, int64_t tiles, int64_t* counts) {
  NORMRT_DYNAMIC_SHARED(int, warp_counts);  // [kWarps][kDigits]
  const int t = static_cast<int>(threadIdx.x), lane = t % 32, warp = t / 32;
  for (int e = t; e < kWarps * kDigits; e += kThreads) warp_counts[e] = 0;
  __syncthreads();
  const int64_t tile = blockIdx.x;
  for (int c = 0; c < kChunks; ++c) {
    const int64_t i = tile * kTile + c * kThreads + t;
    const bool active = i < n;
    const unsigned digit = active ? static_cast<unsigned>(keys[i] >> shift) % kDigits : 0u;
    const unsigned lanes = same_digit_lanes(digit, active);
    if (active && (lanes & ((1u << lane) - 1u)) == 0u) warp_counts[warp * kDigits + digit] += NORMRT_POPC(lanes);
    __syncwarp();
  }
  __syncthreads();
  int64_t total = 0;
  for (int w = 0; w < kWarps; ++w) total += warp_counts[w * kDigits + t];
  counts[t * tiles + tile] = total;
}

// values[0, n) replaced by their exclusive prefix sums, by one block.
__global__ void __launch_bounds__(kThreads) exclusive_scan_kernel(int64_t* values, int64_t n) {
  NORMRT_DYNAMIC_SHARED(int64_t, warp_sums);  // [kWarps]
  const int t = static_cast<int>(threadIdx.x), lane = t % 32, warp = t / 32;
  int64_t carry = 0;  // the sum of the earlier chunks, kept by every thread
  for (int64_t base = 0; base < n; base += kThreads) {
    const int64_t i = base + t, value = i < n ? values[i] : 0;
    int64_t inclusive = value;
    for (int d = 1; d < 32; d *= 2) {
      const int64_t up = __shfl_up_sync(0xffffffffu, inclusive, d);
      if (lane >= d) inclusive += up;
    }
    if (lane == 31) warp_sums[warp] = inclusive;
    __syncthreads();
    int64_t before = carry;
    for (int w = 0; w < kWarps; ++w) {
      if (w < warp) before += warp_sums[w];
      carry += warp_sums[w];
    }
    if (i < n) values[i] = before + inclusive - value;
    __syncthreads();
  }
}

// Each pair of the tile to its place: starts[d * tiles + tile] (exclusive_scan_kernel over digit_counts_kernel's
// counts) plus the tile's earlier pairs of the same digit, in position order.
__global__ void __launch_bounds__(kThreads)
    digit_scatter_kernel(const int64_t* keys, const int64_t* values, int64_t n, int shift, int64_t tiles,
                         const int64_t* starts, int64_t* keys_out, int64_t* values_out) {
  NORMRT_DYNAMIC_SHARED(int64_t, shared);
  int64_t* next = shared;                                       // [kDigits]: each digit's next place
  int* warp_counts = reinterpret_cast<int*>(shared + kDigits);  // [kWarps][kDigits]: counts, then offsets in the chunk
  const int t = static_cast<int>(threadIdx.x), lane = t % 32, warp = t / 32;
  const int64_t tile = blockIdx.x;
  next[t] = starts[t * tiles + tile];
  for (int c = 0; c < kChunks; ++c) {
    for (int e = t; e < kWarps * kDigits; e += kThreads) warp_counts[e] = 0;
    __syncthreads();
    const int64_t i = tile * kTile + c * kThreads + t;
    const bool active = i < n;
    const int64_t key = active ? keys[i] : 0;
    const unsigned digit = static_cast<unsigned>(key >> shift) % kDigits;
    const unsigned lanes = same_digit_lanes(digit, active);
    const unsigned below = lanes & ((1u << lane) - 1u);  // the warp's earlier lanes of the digit
    if (active && below == 0u) warp_counts[warp * kDigits + digit] = NORMRT_POPC(lanes);
    __syncthreads();
    // Thread t: digit t's count per warp becomes the warp's offset among the chunk's pairs of the digit.
    int run = 0;
    for (int w = 0; w < kWarps; ++w) {
      const int count = warp_counts[w * kDigits + t];
      warp_counts[w * kDigits + t] = run;
      run += count;
    }
    __syncthreads();
    if (active) {
      const int64_t place = next[digit] + warp_counts[warp * kDigits + digit] + NORMRT_POPC(below);
      keys_out[place] = key;
      values_out[place] = values[i];
    }
    __syncthreads();
    next[t] += run;
  }
}

// The first of keys[0, n) (ascending) not below k.
__device__ int64_t lower_bound(const int64_t* keys, int64_t n, int64_t k) {
  int64_t low = 0, high = n;
  while (low < high) {
    const int64_t middle = low + (high - low) / 2;
    if (keys[middle] < k)
      low = middle + 1;
    else
      high = middle;
  }
  return low;
}

__global__ void group_bounds_kernel(const int64_t* keys, int64_t n, int64_t rows, int64_t* count, int64_t* offset) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < rows; k += stride) {
    const int64_t first = lower_bound(keys, n, k);
    offset[k] = first;
    count[k] = lower_bound(keys, n, k + 1) - first;
  }
}
}  // namespace

int64_t group_scratch_elements(int64_t n) { return 3 * n + kDigits * tiles_of(n); }

const int64_t* sort_by_row(const int64_t* indices, int64_t n, int64_t rows, int64_t* scratch, int64_t* order,
                           int sm_count, cudaStream_t stream) {
  int bits = 0;  // of the keys, [0, rows]
  while (bits < 63 && (rows >> bits) != 0) ++bits;
  const int passes = (bits + kBits - 1) / kBits;
  const int64_t tiles = tiles_of(n);
  // Pass p reads buffer p % 2 and writes the other; the last writes the positions into `order`.
  int64_t* keys[2] = {scratch, scratch + n};
  int64_t* values[2];
  values[passes % 2] = order;
  values[(passes + 1) % 2] = scratch + 2 * n;
  int64_t* tile_counts = scratch + 3 * n;
  if (n == 0) return keys[passes % 2];
  NORMRT_LAUNCH(make_keys_kernel, dim3(grid_stride_blocks(n, kThreads, sm_count)), dim3(kThreads), 0, stream, indices,
                n, rows, keys[0], values[0]);
  NORMRT_CHECK_LAUNCH();
  for (int p = 0; p < passes; ++p) {
    const int shift = p * kBits;
    NORMRT_LAUNCH(digit_counts_kernel, dim3(static_cast<unsigned>(tiles)), dim3(kThreads),
                  kWarps * kDigits * sizeof(int), stream, keys[p % 2], n, shift, tiles, tile_counts);
    NORMRT_CHECK_LAUNCH();
    exclusive_scan(tile_counts, kDigits * tiles, stream);
    NORMRT_LAUNCH(digit_scatter_kernel, dim3(static_cast<unsigned>(tiles)), dim3(kThreads),
                  kDigits * sizeof(int64_t) + kWarps * kDigits * sizeof(int), stream, keys[p % 2], values[p % 2], n,
                  shift, tiles, tile_counts, keys[(p + 1) % 2], values[(p + 1) % 2]);
    NORMRT_CHECK_LAUNCH();
  }
  return keys[passes % 2];
}

void exclusive_scan(int64_t* values, int64_t n, cudaStream_t stream) {
  NORMRT_LAUNCH(exclusive_scan_kernel, dim3(1), dim3(kThreads), kWarps * sizeof(int64_t), stream, values, n);
  NORMRT_CHECK_LAUNCH();
}

void row_bounds(const int64_t* sorted_keys, int64_t n, int64_t rows, int64_t* count, int64_t* offset, int sm_count,
                cudaStream_t stream) {
  if (rows == 0) return;
  NORMRT_LAUNCH(group_bounds_kernel, dim3(grid_stride_blocks(rows, kThreads, sm_count)), dim3(kThreads), 0, stream,
                sorted_keys, n, rows, count, offset);
  NORMRT_CHECK_LAUNCH();
}

}  // namespace normrt::NORMRT_KERNEL_NS
