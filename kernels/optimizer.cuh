// Optimizer steps over many parameter tensors in one launch (up to kMaxTensors per launch).
#pragma once
#include <cstddef>
#include <cstdint>

#include "cuda_compat.cuh"
#include "nn_math.cuh"

namespace normrt::NORMRT_KERNEL_NS {

constexpr int kMaxTensors = 40;

// Tensor t covers global elements [end[t-1], end[t]). Unused state pointers may be null.
struct TensorList {
  float* param[kMaxTensors];
  const float* grad[kMaxTensors];
  float* state1[kMaxTensors];
  float* state2[kMaxTensors];
  float* state3[kMaxTensors];
  int64_t end[kMaxTensors];
  int count = 0;
};

// Host side: n tensors in lists of at most kMaxTensors, each list handed to launch(list) when full or at the end.
// fill(list, k, t) sets entry k's pointers for tensor t and returns its element count (the ends follow from it).
template <typename Fill, typename Launch>
void for_each_tensor_list(std::size_t n, Fill fill, Launch launch) {
  TensorList list;
  int64_t end = 0;
  for (std::size_t t = 0; t < n; ++t) {
    const int k = list.count++;
    end += fill(list, k, t);
    list.end[k] = end;
    if (list.count == kMaxTensors || t + 1 == n) {
      launch(list);
      list = TensorList{};
      end = 0;
    }
  }
}

// A step's hyperparameters: `value`, or, when `table` is set, table[*index] read on the device (a CUDA graph's
// captured step replays with the hyperparameters of the step it stands for; see Optimizer::plan_steps). When `skip`
// is set and the device finds it non-zero (a GradScaler's found_inf), the step changes nothing.
template <typename Hyper>
struct HyperSource {
  HyperSource(const Hyper& h) : value(h) {}  // NOLINT: a plain value is the common case
  HyperSource(const Hyper& h, const Hyper* t, const int64_t* i, const float* s = nullptr)
      : value(h), table(t), index(i), skip(s) {}
  Hyper value;
  const Hyper* table = nullptr;
  const int64_t* index = nullptr;
  const float* skip = nullptr;
};

void sgd_step(const TensorList& list, const HyperSource<nnmath::SgdHyper>& h, int sm_count, cudaStream_t stream);
void adam_step(const TensorList& list, const HyperSource<nnmath::AdamHyper>& h, int sm_count, cudaStream_t stream);
void adadelta_step(const TensorList& list, const HyperSource<nnmath::AdadeltaHyper>& h, int sm_count,
                   cudaStream_t stream);
void rmsprop_step(const TensorList& list, const HyperSource<nnmath::RmspropHyper>& h, int sm_count,
                  cudaStream_t stream);
void adagrad_step(const TensorList& list, const HyperSource<nnmath::AdagradHyper>& h, int sm_count,
                  cudaStream_t stream);
void adamax_step(const TensorList& list, const HyperSource<nnmath::AdamaxHyper>& h, int sm_count,
                 cudaStream_t stream);
void radam_step(const TensorList& list, const HyperSource<nnmath::RadamHyper>& h, int sm_count, cudaStream_t stream);

// GradScaler: the gradients (list.param; grad and state slots unused) multiplied by inverse_scale(*scale), and
// *found_inf set to 1 if any of them was inf or NaN (left as it is otherwise).
void unscale_grads(const TensorList& list, const float* scale, float* found_inf, int sm_count, cudaStream_t stream);
// nnmath::update_loss_scale on the device-resident scale and growth tracker, from *found_inf.
void update_loss_scale(float* scale, int64_t* growth_tracker, const float* found_inf, const nnmath::LossScaleHyper& h,
                       cudaStream_t stream);

}  // namespace normrt::NORMRT_KERNEL_NS
