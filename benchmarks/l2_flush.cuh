// L2 flushing for the GPU benchmarks.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>

namespace normrt::bench {

// Reads `floats` floats of `buffer` (sized above the L2) on `stream`. Afterwards L2 holds only clean lines of the
// buffer: unlike a memset, it leaves no dirty lines whose write-back would land inside the next timed call. `sink`
// is written only if the sum is NaN (never, for a zeroed buffer), so that the loads cannot be optimised away.
void read_through(const float* buffer, std::size_t floats, float* sink, cudaStream_t stream);

}  // namespace normrt::bench
