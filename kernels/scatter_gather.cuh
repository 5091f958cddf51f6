// CUDA kernels of gather and scatter (scatter_gather_math.cuh's index arithmetic). A scatter is deterministic
// without atomics: the positions are sorted by the element they write with device_groups.cuh's stable sort
// (scatter_targets gives it each position's target), then one thread per run of equal targets applies its positions
// in index order, as the CPU loop does.
#pragma once
#include <cstdint>

#include "cuda_compat.cuh"
#include "scatter_gather_math.cuh"

namespace normrt::NORMRT_KERNEL_NS {

// out[p] = input[target_offset(g, p, index[p])] for the g.n positions; `fill` where index[p] is out of range (the
// device does not stop to report it). T: an unsigned integer of the element's size (the bits are copied).
template <typename T>
void gather(const T* input, const int64_t* index, const scattermath::Geometry& g, T fill, T* out, int sm_count,
            cudaStream_t stream);

// targets[p] = target_offset(g, p, index[p]), or -1 where index[p] is out of range: the keys sort_by_row sorts by.
void scatter_targets(const int64_t* index, const scattermath::Geometry& g, int64_t* targets, int sm_count,
                     cudaStream_t stream);

struct ScatterParams {
  void* self;                   // `elements` elements, updated in place
  const void* src;              // read at source_offset(g, p)
  const int64_t *keys, *order;  // sort_by_row's: the positions sorted by target (stably), keys >= elements left out
  int64_t elements;
  scattermath::Geometry g;  // g.n positions
  scattermath::Reduce reduce = scattermath::Reduce::Sum;  // scatter_reduce's
  bool include_self = true;                               // scatter_reduce's: reduce from the element, or the identity
};
// Each element of self with positions: the last one's src value (PyTorch's CPU loop writes them in index order). T:
// an unsigned integer of the element's size.
template <typename T>
void scatter_assign(const ScatterParams& p, int sm_count, cudaStream_t stream);
// Each element of self with positions: its positions' src values reduced into it in index order (scattermath::combine
// from the element, or from scattermath::identity without include_self; a mean divided by the count at the end). T:
// float, Half, BFloat16 or int64_t.
template <typename T>
void scatter_reduce(const ScatterParams& p, int sm_count, cudaStream_t stream);

}  // namespace normrt::NORMRT_KERNEL_NS
