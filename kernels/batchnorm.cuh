// Launchers of the custom CUDA BatchNorm kernels (kernels/batchnorm.cu). Pointers are device pointers (host
// pointers in the SIMT emulator build); every launcher only enqueues work on `stream`: no allocation, no host
// synchronisation. The caller provides a workspace of workspace_floats() floats.
#pragma once
#include <cstddef>
#include <cstdint>

#include "batchnorm_params.h"
#include "cuda_compat.cuh"

namespace normrt::bn::NORMRT_KERNEL_NS {

// How launches are sized. sm_count comes from the device; the other fields exist for tests, which use them to
// force several blocks per channel and the 64-bit index path on small shapes, and for bench_batchnorm, which
// measures the training passes in flat order beside the library's L2-reuse order, the column layout's elementwise
// passes flat beside by columns, and the training steps' launches beside the designs they replaced.
struct LaunchTuning {
  int sm_count = 1;
  int64_t min_split_elements = 16384;  // a channel is split over more blocks only in pieces at least this large
  bool force_index64 = false;
  bool l2_reuse_order = true;      // training elementwise passes on the reduction's partition (see batchnorm.cu)
  bool cooperative = true;         // split channels as one cooperative launch where the device allows it
  bool column_elementwise = true;  // S == 1: elementwise passes by columns where the units allow (else flat)
  bool column_steps = true;        // S == 1: training steps as column_step_kernel launches (else reduce, finalize,
                                   // elementwise)
  int column_blocks_per_sm = 4;    // S == 1: the column reduction splits rows until its blocks fill this many per SM
};

std::size_t workspace_floats(const Geometry& g, const LaunchTuning& tuning);

// T: float, Half or BFloat16 (the element type of x, y, dy, dx and the residual; statistics are float32). The
// forward applies the fused epilogue (p.residual, p.relu) where it writes y.
template <typename T>
void forward_training(const ForwardTrainingParamsOf<T>& p, float* workspace, const LaunchTuning& tuning,
                      cudaStream_t stream);
// One launch, no workspace.
template <typename T>
void forward_inference(const ForwardInferenceParamsOf<T>& p, const LaunchTuning& tuning, cudaStream_t stream);
template <typename T>
void backward(const BackwardParamsOf<T>& p, float* workspace, const LaunchTuning& tuning, cudaStream_t stream);

// SyncBatchNorm's stages: the training step cut where the ranks of a process group exchange per-channel values
// (src/sync_batchnorm.cpp), with the reductions, finishing arithmetic and elementwise passes of the ones above.
// Forward: sync_local_statistics writes this rank's C states (kSyncStateFloats floats each: the Welford state's mean,
// m2 and count, shifted by the channel's first element, then that element) to `states`; the ranks
// all-gather them; sync_forward_from_states merges the `ranks` x C gathered states in a fixed order (the same bits on
// every rank), finishes the channels with the merged count (save_mean, save_invstd, running statistics) and writes y
// (the fused epilogue applied); it counts the batch even when this rank's share is empty.
constexpr int kSyncStateFloats = 4;
template <typename T>
void sync_local_statistics(const ForwardTrainingParamsOf<T>& p, float* states, float* workspace,
                           const LaunchTuning& tuning, cudaStream_t stream);
template <typename T>
void sync_forward_from_states(const ForwardTrainingParamsOf<T>& p, const float* gathered, int64_t ranks,
                              float* workspace, const LaunchTuning& tuning, cudaStream_t stream);
// Backward: sync_local_gradient_sums writes this rank's sums, [sum dy (C), sum dy * (x - mean) (C), count] (2 C + 1
// floats), and dweight/dbias from them (local, as PyTorch's SyncBatchNorm); the ranks all-reduce them;
// sync_backward_from_sums writes dx (and grad_residual) from the group's sums.
template <typename T>
void sync_local_gradient_sums(const BackwardParamsOf<T>& p, float* sums, float* workspace, const LaunchTuning& tuning,
                              cudaStream_t stream);
template <typename T>
void sync_backward_from_sums(const BackwardParamsOf<T>& p, const float* sums, float* workspace,
                             const LaunchTuning& tuning, cudaStream_t stream);

// The fused epilogue as a pass of its own (after cuDNN): y = epilogue(y, residual) over n elements (residual may be
// null).
void apply_epilogue(float* y, const float* residual, int64_t n, bool relu, const LaunchTuning& tuning,
                    cudaStream_t stream);
// out = relu_gradient(dy, y) over n elements: the gradient past a fused forward's ReLU, as a pass of its own before
// cuDNN's backward (the custom kernels mask dy as they read it).
void apply_relu_gradient(const float* dy, const float* y, float* out, int64_t n, const LaunchTuning& tuning,
                         cudaStream_t stream);

// Writes only save_mean (= running_mean) and save_invstd (from running_var) of an inference forward, for a
// forward computed elsewhere (cuDNN).
void save_inference_statistics(const ForwardInferenceParams& p, cudaStream_t stream);

}  // namespace normrt::bn::NORMRT_KERNEL_NS
