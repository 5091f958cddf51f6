// searchsorted / bucketize: one thread per value, a binary search of its row of boundaries (PyTorch's, so that unsorted
// boundaries and NaNs give its answers): log2(n) dependent loads per value, which the grid hides behind each other;
// the boundaries of a row are shared by many values and stay in cache.
#include <algorithm>
#include <type_traits>

#include "bucketize.cuh"
#include "bucketize_math.cuh"

namespace normrt::NORMRT_KERNEL_NS {

namespace {
constexpr int kThreads = 256;

template <typename T>
using compared_t = std::conditional_t<std::is_same_v<T, int64_t>, int64_t, float>;

template <typename T>
__global__ void searchsorted_kernel(const T* boundaries, const int64_t* sorter, const T* values, int64_t* out,
                                    SearchParams p) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.numel; i += stride) {
    const int64_t row = i / p.row_length * p.boundaries;
    out[i] = bmath::insertion_index(boundaries + row, sorter == nullptr ? nullptr : sorter + row, p.boundaries,
                                    static_cast<compared_t<T>>(values[i]), p.right);
  }
}
}  // namespace

template <typename T>
void searchsorted(const T* boundaries, const int64_t* sorter, const T* values, int64_t* out, const SearchParams& p,
                  int sm_count, cudaStream_t stream) {
  if (p.numel == 0) return;
  const int64_t grid = std::min<int64_t>((p.numel + kThreads - 1) / kThreads, 16 * int64_t{std::max(sm_count, 1)});
  NORMRT_LAUNCH(searchsorted_kernel<T>, dim3(static_cast<unsigned>(grid)), dim3(kThreads), 0, stream, boundaries,
                sorter, values, out, p);
  NORMRT_CHECK_LAUNCH();
}

template void searchsorted(const float*, const int64_t*, const float*, int64_t*, const SearchParams&, int,
                           cudaStream_t);
template void searchsorted(const Half*, const int64_t*, const Half*, int64_t*, const SearchParams&, int, cudaStream_t);
template void searchsorted(const BFloat16*, const int64_t*, const BFloat16*, int64_t*, const SearchParams&, int,
                           cudaStream_t);
template void searchsorted(const int64_t*, const int64_t*, const int64_t*, int64_t*, const SearchParams&, int,
                           cudaStream_t);

}  // namespace normrt::NORMRT_KERNEL_NS
