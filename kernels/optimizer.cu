// Multi-tensor optimizer steps: the parameter list travels in the kernel's arguments, a grid-stride loop covers
// all elements of all tensors, and each element finds its tensor by binary search over the tensors' end offsets.
// One launch per kMaxTensors tensors, no host synchronisation; the hyperparameters come by value or, for CUDA
// graphs, from a device table (HyperSource). Update formulas: nn_math.cuh.
#include "optimizer.cuh"

#include <algorithm>

namespace normrt::NORMRT_KERNEL_NS {

namespace {

constexpr int kThreads = 256;

__device__ int tensor_of(const TensorList& list, int64_t i) {
  int lo = 0, hi = list.count - 1;
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (i < list.end[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

struct SgdUpdate {
  nnmath::SgdHyper h;
  __device__ void operator()(float& p, float g, float* s1, float*, float*) const {
    if (s1 != nullptr) {
      nnmath::sgd_update(p, g, *s1, h);
      return;
    }
    // Without momentum there is no buffer; a register stands in (one reference to either would take local memory).
    float no_buffer = 0.0f;
    nnmath::sgd_update(p, g, no_buffer, h);
  }
};

struct AdamUpdate {
  nnmath::AdamHyper h;
  __device__ void operator()(float& p, float g, float* s1, float* s2, float* s3) const {
    if (h.amsgrad)
      nnmath::adam_amsgrad_update(p, g, *s1, *s2, *s3, h);
    else
      nnmath::adam_update(p, g, *s1, *s2, h);
  }
};

struct AdadeltaUpdate {
  nnmath::AdadeltaHyper h;
  __device__ void operator()(float& p, float g, float* s1, float* s2, float*) const {
    nnmath::adadelta_update(p, g, *s1, *s2, h);
  }
};

// RMSprop's slots: square_avg, then grad_avg when centered, then the momentum buffer when any group has momentum.
struct RmspropUpdate {
  nnmath::RmspropHyper h;
  // A register stands in for each slot the step does not have (as SgdUpdate's: a reference to either would take
  // local memory), so each combination is its own call.
  __device__ void operator()(float& p, float g, float* s1, float* s2, float* s3) const {
    float unused = 0.0f;
    if (h.centered && h.use_buffer) nnmath::rmsprop_update(p, g, *s1, *s2, *s3, h);
    else if (h.centered) nnmath::rmsprop_update(p, g, *s1, *s2, unused, h);
    else if (h.use_buffer) nnmath::rmsprop_update(p, g, *s1, unused, *s2, h);
    else nnmath::rmsprop_update(p, g, *s1, unused, unused, h);
  }
};

struct AdagradUpdate {
  nnmath::AdagradHyper h;
  __device__ void operator()(float& p, float g, float* s1, float*, float*) const {
    nnmath::adagrad_update(p, g, *s1, h);
  }
};

struct AdamaxUpdate {
  nnmath::AdamaxHyper h;
  __device__ void operator()(float& p, float g, float* s1, float* s2, float*) const {
    nnmath::adamax_update(p, g, *s1, *s2, h);
  }
};

struct RadamUpdate {
  nnmath::RadamHyper h;
  __device__ void operator()(float& p, float g, float* s1, float* s2, float*) const {
    nnmath::radam_update(p, g, *s1, *s2, h);
  }
};

template <typename Update, typename Hyper>
__global__ void multi_tensor_kernel(TensorList list, HyperSource<Hyper> source) {
  if (source.skip != nullptr && *source.skip != 0.0f) return;
  const Update update{source.table != nullptr ? source.table[*source.index] : source.value};
  const int64_t total = list.end[list.count - 1];
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int t = tensor_of(list, i);
    const int64_t k = i - (t == 0 ? 0 : list.end[t - 1]);
    update(list.param[t][k], list.grad[t][k], list.state1[t] ? list.state1[t] + k : nullptr,
           list.state2[t] ? list.state2[t] + k : nullptr, list.state3[t] ? list.state3[t] + k : nullptr);
  }
}

template <typename Update, typename Hyper>
void launch(const TensorList& list, const HyperSource<Hyper>& source, int sm_count, cudaStream_t stream) {
  if (list.count == 0 || list.end[list.count - 1] == 0) return;
  const int64_t total = list.end[list.count - 1];
  const auto blocks = static_cast<unsigned>(
      std::min<int64_t>((total + kThreads - 1) / kThreads, 8 * static_cast<int64_t>(std::max(sm_count, 1))));
  void (*const kernel)(TensorList, HyperSource<Hyper>) = multi_tensor_kernel<Update, Hyper>;
  NORMRT_LAUNCH(kernel, dim3(blocks), dim3(kThreads), 0, stream, list, source);
  NORMRT_CHECK_LAUNCH();
}

// Every writer of found_inf writes the same 1, so the flag needs no atomics and ends the same in any order.
__global__ void __launch_bounds__(kThreads) unscale_kernel(TensorList list, const float* scale, float* found_inf) {
  const float inverse = nnmath::inverse_scale(*scale);
  const int64_t total = list.end[list.count - 1];
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int t = tensor_of(list, i);
    float& g = list.param[t][i - (t == 0 ? 0 : list.end[t - 1])];
    if (!nnmath::is_finite(g)) *found_inf = 1.0f;
    g *= inverse;
  }
}

__global__ void update_scale_kernel(float* scale, int64_t* growth_tracker, const float* found_inf,
                                    nnmath::LossScaleHyper h) {
  nnmath::update_loss_scale(*scale, *growth_tracker, *found_inf != 0.0f, h);
}

}  // namespace

void unscale_grads(const TensorList& list, const float* scale, float* found_inf, int sm_count, cudaStream_t stream) {
  if (list.count == 0 || list.end[list.count - 1] == 0) return;
  const int64_t total = list.end[list.count - 1];
  const auto blocks = static_cast<unsigned>(
      std::min<int64_t>((total + kThreads - 1) / kThreads, 8 * static_cast<int64_t>(std::max(sm_count, 1))));
  NORMRT_LAUNCH(unscale_kernel, dim3(blocks), dim3(kThreads), 0, stream, list, scale, found_inf);
  NORMRT_CHECK_LAUNCH();
}

void update_loss_scale(float* scale, int64_t* growth_tracker, const float* found_inf, const nnmath::LossScaleHyper& h,
                       cudaStream_t stream) {
  NORMRT_LAUNCH(update_scale_kernel, dim3(1), dim3(1), 0, stream, scale, growth_tracker, found_inf, h);
  NORMRT_CHECK_LAUNCH();
}

void sgd_step(const TensorList& list, const HyperSource<nnmath::SgdHyper>& h, int sm_count, cudaStream_t stream) {
  launch<SgdUpdate>(list, h, sm_count, stream);
}

void adam_step(const TensorList& list, const HyperSource<nnmath::AdamHyper>& h, int sm_count, cudaStream_t stream) {
  launch<AdamUpdate>(list, h, sm_count, stream);
}

void adadelta_step(const TensorList& list, const HyperSource<nnmath::AdadeltaHyper>& h, int sm_count,
                   cudaStream_t stream) {
  launch<AdadeltaUpdate>(list, h, sm_count, stream);
}

void rmsprop_step(const TensorList& list, const HyperSource<nnmath::RmspropHyper>& h, int sm_count,
                  cudaStream_t stream) {
  launch<RmspropUpdate>(list, h, sm_count, stream);
}

void adagrad_step(const TensorList& list, const HyperSource<nnmath::AdagradHyper>& h, int sm_count,
                  cudaStream_t stream) {
  launch<AdagradUpdate>(list, h, sm_count, stream);
}

void adamax_step(const TensorList& list, const HyperSource<nnmath::AdamaxHyper>& h, int sm_count,
                 cudaStream_t stream) {
  launch<AdamaxUpdate>(list, h, sm_count, stream);
}

void radam_step(const TensorList& list, const HyperSource<nnmath::RadamHyper>& h, int sm_count, cudaStream_t stream) {
  launch<RadamUpdate>(list, h, sm_count, stream);
}

}  // namespace normrt::NORMRT_KERNEL_NS
