// Elementwise layer kernels: activations, dropout, and the deterministic column sum used for bias gradients.
#pragma once
#include <cstdint>

#include "activation_math.cuh"
#include "cuda_compat.cuh"
#include "nn_math.cuh"
#include "normrt/half.h"

namespace normrt::NORMRT_KERNEL_NS {

// T: float, Half or BFloat16 (values widened to float, each output rounded once: the float32 path's results,
// without its conversion passes).
template <typename T>
void activation_forward(nnmath::Activation a, const T* x, T* y, int64_t n, int sm_count, cudaStream_t stream);
template <typename T>
void activation_backward(nnmath::Activation a, const T* dy, const T* y, T* dx, int64_t n, int sm_count,
                         cudaStream_t stream);
// The activations whose gradient needs their input (activation_math.cuh); T as above.
template <typename T>
void input_activation_forward(nnmath::InputActivation kind, nnmath::ActivationCoefficients k, const T* x, T* y,
                              int64_t n, int sm_count, cudaStream_t stream);
template <typename T>
void input_activation_backward(nnmath::InputActivation kind, nnmath::ActivationCoefficients k, const T* dy,
                               const T* x, T* dx, int64_t n, int sm_count, cudaStream_t stream);
// PReLU over n elements of an (N, C, spatial) tensor in memory order (g: the layout, and whether the weight w is
// shared); the backward also writes each element's term of the weight's gradient (float32), summed by the caller. T
// as for the activations; the weight is float32.
template <typename T>
void prelu_forward(const nnmath::PReLUChannels& g, const T* x, const float* w, T* y, int64_t n, int sm_count,
                   cudaStream_t stream);
template <typename T>
void prelu_backward(const nnmath::PReLUChannels& g, const T* dy, const T* x, const float* w, T* dx,
                    float* weight_terms, int64_t n, int sm_count, cudaStream_t stream);
// y = keep ? x / (1 - p) : 0 with nnmath::dropout_keep's mask; the backward regenerates the same mask.
// The offset is read from device memory when `device_offset` is set (a CUDA graph replays the launch at later offsets).
// channels > 0: x and y are channels-last memory of (N, channels, spatial) tensors, each element drawn by its logical
// index. T as for the activations.
template <typename T>
void dropout(const T* x, T* y, int64_t n, float p, uint64_t seed, uint64_t offset, const int64_t* device_offset,
             int64_t channels, int64_t spatial, int sm_count, cudaStream_t stream);
// out[j] = sum_i m[i * cols + j] (+ out[j] when accumulate), in an order fixed by the shape: deterministic.
// workspace: column_sum_workspace_floats(rows, cols) floats (none for up to 256 rows).
int64_t column_sum_workspace_floats(int64_t rows, int64_t cols);
void column_sum(const float* m, float* out, int64_t rows, int64_t cols, bool accumulate, float* workspace,
                cudaStream_t stream);

}  // namespace normrt::NORMRT_KERNEL_NS
