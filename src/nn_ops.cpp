// normrt::ops layers and losses: checks, the CPU implementations, and dispatch to the CUDA kernels/cuBLAS.
#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "cuda_launch.h"
#include "nn_math.cuh"
#include "tensor_math.cuh"
#include "normrt/cuda.h"
#include "normrt/error.h"
#include "normrt/ops/elementwise.h"
#include "normrt/ops/tensor_ops.h"
#include "nvtx.h"
#include "cpu_threads.h"
#include "line_lanes.h"
#include "op_util.h"
#include "philox_cpu.h"
#include "normrt/ops/nn.h"
#include "wide_vectors.h"
#if NORMRT_WITH_CUDA
#include "activation.cuh"
#include "linear_cuda.h"
#include "reduce.cuh"
#include "softmax.cuh"
#endif

namespace normrt::ops {

using util::check_float;
using util::check_pair;
using util::check_same_device;
using util::check_same_shape;
using util::like;
#if NORMRT_WITH_CUDA
using util::Launch;
#else
using util::no_cuda;
#endif

namespace {

std::atomic<bool> g_allow_tf32{false};

// The CPU GEMMs of Linear, split into fixed blocks of rows (set by the shape alone, so results do not depend on the
// thread count) run in parallel, each block one single-threaded GEMM (see cpu_threads.h).
template <typename Fn>
void for_row_blocks(int64_t rows, int64_t work, Fn fn) {
  cpu::prepare_blas();
  constexpr int64_t kBlocks = 2;
  const int64_t blocks = std::min(rows, kBlocks);
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(work))
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t first = rows * b / blocks, last = rows * (b + 1) / blocks;
    if (last > first) fn(first, last - first);
  }
}

}  // namespace

void set_allow_tf32(bool allow) { g_allow_tf32 = allow; }
bool allow_tf32() { return g_allow_tf32; }

NORMRT_WIDE_VECTORS_BEGIN
namespace {

// tmath::shifted_exponentials of a contiguous row, its bits, in one pass: sixteen exponentials at a time (one vector
// at 512 bits), each half added to line_sum's lanes as it is computed. Summed by line_sum after the row is stored,
// the lanes are one chain of additions that waits on the adder (the fused pass: softmax 4096x1000 1.18x faster on
// one core of the Xeon build machine, 10 columns 1.29x).
double row_shifted_exponentials(const float* x, int64_t length, float m, float* e) {
  constexpr int kBlock = 2 * cpu::kLanes;
  cpu::LaneSums lanes = {};
  int64_t r = 0;
  for (; r + kBlock <= length; r += kBlock) {
    float block[kBlock];
    for (int j = 0; j < kBlock; ++j) block[j] = fmath::exp(x[r + j] - m);
    cpu::add_lanes(lanes, block);
    cpu::add_lanes(lanes, block + cpu::kLanes);
    std::memcpy(e + r, block, sizeof block);
  }
  if (r + cpu::kLanes <= length) {
    for (int j = 0; j < cpu::kLanes; ++j) e[r + j] = fmath::exp(x[r + j] - m);
    cpu::add_lanes(lanes, e + r);
    r += cpu::kLanes;
  }
  double sum = cpu::lanes_total(lanes);
  for (; r < length; ++r) {
    e[r] = fmath::exp(x[r] - m);
    sum += e[r];
  }
  return sum;
}

// tmath::softmax_line of a contiguous row, its bits.
void softmax_row(const float* x, int64_t length, float* y, bool log_softmax) {
  const float m = tmath::line_max(x, length, 1);
  const double sum = row_shifted_exponentials(x, length, m, y);
  if (log_softmax) {
    const double log_sum = std::log(sum);
    for (int64_t r = 0; r < length; ++r) y[r] = static_cast<float>(static_cast<double>(x[r]) - m - log_sum);
    return;
  }
  const double inverse = 1.0 / sum;
  int64_t r = 0;
  for (; r + cpu::kLanes <= length; r += cpu::kLanes) cpu::scale_group(y + r, inverse);
  for (; r < length; ++r) y[r] = static_cast<float>(y[r] * inverse);
}

}  // namespace

Tensor softmax(const Tensor& input, bool log) {
  const detail::NvtxRange range("softmax");
  if (const auto h = util::reduced_dtype("softmax", {&input})) return softmax(util::widened(input), log).to(*h);
  check_float(input, "input");
  NORMRT_CHECK(input.dim() == 2, log ? "log_softmax" : "softmax", ": expected a 2-D (N, C) input, got shape ",
               shape_str(input.sizes()));
  const int64_t rows = input.size(0), cols = input.size(1);
  Tensor out = empty(input.sizes(), input.device());
  const float* x = input.data<float>();
  float* y = out.data<float>();
  if (input.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    Launch l(input);
    cuda::softmax_forward(x, y, rows, cols, log, l.stream);
#else
    no_cuda("softmax");
#endif
    return out;
  }
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(rows * cols))
  for (int64_t r = 0; r < rows; ++r) softmax_row(x + r * cols, cols, y + r * cols, log);
  return out;
}

Tensor softmax_backward(const Tensor& grad_output, const Tensor& output, bool log) {
  const detail::NvtxRange range("softmax_backward");
  if (const auto h = util::reduced_dtype("softmax_backward", {&grad_output, &output}))
    return softmax_backward(util::widened(grad_output), util::widened(output), log).to(*h);
  check_pair(grad_output, "grad_output", output, "output");
  NORMRT_CHECK(output.dim() == 2, "softmax_backward: expected a 2-D (N, C) output, got shape ",
               shape_str(output.sizes()));
  const int64_t rows = output.size(0), cols = output.size(1);
  Tensor out = empty(output.sizes(), output.device());
  const float *dy = grad_output.data<float>(), *y = output.data<float>();
  float* dx = out.data<float>();
  if (output.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    Launch l(output);
    cuda::softmax_backward(dy, y, dx, rows, cols, log, l.stream);
#else
    no_cuda("softmax_backward");
#endif
    return out;
  }
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(rows * cols))
  for (int64_t r = 0; r < rows; ++r)
    tmath::softmax_backward_line(dy + r * cols, y + r * cols, cols, 1, dx + r * cols, log);
  return out;
}
NORMRT_WIDE_VECTORS_END

namespace {

Shape with_last(const Shape& shape, int64_t last) {
  Shape out = shape;
  out.back() = last;
  return out;
}

// Linear takes (*, in) as PyTorch: the leading dimensions are rows of one (rows, in) product. Shapes that do not
// multiply are refused in PyTorch's words (F.linear's weight.t() and matmul); a 1-D weight, which PyTorch's matmul
// takes as a vector, in normrt's.
int64_t linear_rows(const Tensor& input, const Tensor& weight) {
  NORMRT_CHECK(weight.dim() <= 2, "t() expects a tensor with <= 2 dimensions, but self is ", weight.dim(), "D");
  NORMRT_CHECK(input.dim() >= 1 && weight.dim() >= 1, "both arguments to matmul need to be at least 1D, but they are ",
               input.dim(), "D and ", weight.dim(), "D");
  NORMRT_CHECK(weight.dim() == 2, "linear: expected a 2-D weight (out, in), got shape ", shape_str(weight.sizes()));
  int64_t rows = 1;
  for (int64_t d = 0; d + 1 < input.dim(); ++d) rows *= input.size(d);
  NORMRT_CHECK(input.size(-1) == weight.size(1), "mat1 and mat2 shapes cannot be multiplied (", rows, "x",
               input.size(-1), " and ", weight.size(1), "x", weight.size(0), ")");
  return rows;
}

// A bias of another shape than (out) refused as PyTorch refuses it: expanded to (rows, out) for addmm where the input
// is (N, in) or (N, L, in), added in place to the output otherwise. normrt takes only (out): the other shapes that
// PyTorch broadcasts it refuses in its own words.
void check_linear_bias(const Tensor& input, const Tensor& bias, int64_t rows, int64_t out) {
  if (bias.sizes() == Shape{out}) return;
  if ((input.dim() == 2 || input.dim() == 3) && bias.dim() <= 2) {
    const Shape target = {rows, out};
    for (int64_t i = 1; i >= 0; --i) {
      const int64_t from_end = 1 - i, existing = from_end < bias.dim() ? bias.size(-1 - from_end) : 1;
      NORMRT_CHECK(existing == target[i] || existing == 1, "The expanded size of the tensor (", target[i],
                   ") must match the existing size (", existing, ") at non-singleton dimension ", i,
                   ".  Target sizes: ", shape_str(target), ".  Tensor sizes: ", shape_str(bias.sizes()));
    }
  } else if (input.dim() != 2 && input.dim() != 3) {
    const Shape y = with_last(input.sizes(), out), sum = broadcast_shape(y, bias.sizes());
    NORMRT_CHECK(sum == y, "output with shape ", shape_str(y), " doesn't match the broadcast shape ", shape_str(sum));
  }
  NORMRT_THROW("linear: expected a bias of shape [", out, "], got ", shape_str(bias.sizes()));
}

}  // namespace

Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias) {
  const detail::NvtxRange range("linear");
  // 16-bit operands: cuBLASLt takes them as they are on a GPU; the CPU computes them in float32.
  const auto h = util::reduced_dtype("linear", {&input, &weight, &bias});
  if (h && !input.device().is_cuda())
    return linear(util::widened(input), util::widened(weight), util::widened(bias)).to(*h);
  util::check_floating(input, "input");
  util::check_floating(weight, "weight");
  if (!input.is_contiguous()) return linear(input.contiguous(), weight, bias);  // rows in logical order, as PyTorch
  const int64_t n = linear_rows(input, weight), in = weight.size(1), out = weight.size(0);
  check_same_device(input, weight);
  if (bias.defined()) {
    util::check_floating(bias, "bias");
    check_linear_bias(input, bias, n, out);
    check_same_device(input, bias);
  }
  Tensor y = empty(with_last(input.sizes(), out), TensorOptions(input.device()).dtype(input.dtype()));
  if (n == 0 || out == 0) return y;
  if (input.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    Launch l(input);
    detail::cuda_linear_forward(input.dtype(), util::elements(input), util::elements(weight),
                                bias.defined() ? util::elements(bias) : nullptr, util::elements(y), n, in, out,
                                l.device, allow_tf32());
#else
    no_cuda("linear");
#endif
    return y;
  }
  const float *x = input.data<float>(), *w = weight.data<float>(), *b = bias.defined() ? bias.data<float>() : nullptr;
  float* yp = y.data<float>();
  if (b != nullptr) {
    for (int64_t r = 0; r < n; ++r)
      for (int64_t j = 0; j < out; ++j) yp[r * out + j] = b[j];
  }
  if (in > 0) {
    for_row_blocks(n, n * in * out, [&](int64_t r0, int64_t rows) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows), static_cast<int>(out),
                  static_cast<int>(in), 1.0f, x + r0 * in, static_cast<int>(in), w, static_cast<int>(in),
                  b ? 1.0f : 0.0f, yp + r0 * out, static_cast<int>(out));
    });
  } else if (b == nullptr)
    for (int64_t i = 0; i < n * out; ++i) yp[i] = 0.0f;
  return y;
}

Tensor linear_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight, Tensor* grad_weight,
                       Tensor* grad_bias, bool need_input_grad) {
  const detail::NvtxRange range("linear_backward");
  // 16-bit operands: cuBLASLt takes them as they are on a GPU (with accumulators of their dtype); otherwise they are
  // computed in float32.
  const auto h = util::reduced_dtype("linear_backward", {&grad_output, &input, &weight});
  if (h && !util::native_16bit_backward(input, *h, grad_weight, grad_bias)) {
    return util::backward_through_float32(*h, grad_weight, grad_bias, [&](Tensor* dw, Tensor* db) {
      return linear_backward(util::widened(grad_output), util::widened(input), util::widened(weight), dw, db,
                             need_input_grad);
    });
  }
  util::check_floating(grad_output, "grad_output");
  util::check_floating(input, "input");
  util::check_floating(weight, "weight");
  NORMRT_CHECK(grad_weight != nullptr, "linear_backward: grad_weight is required");
  if (!grad_output.is_contiguous() || !input.is_contiguous())
    return linear_backward(grad_output.contiguous(), input.contiguous(), weight, grad_weight, grad_bias,
                           need_input_grad);
  const int64_t n = linear_rows(input, weight), in = weight.size(1), out = weight.size(0);
  NORMRT_CHECK(grad_output.sizes() == with_last(input.sizes(), out), "linear_backward: grad_output shape ",
               shape_str(grad_output.sizes()), " does not match output shape ",
               shape_str(with_last(input.sizes(), out)));
  check_same_device(grad_output, input);
  check_same_device(input, weight);
  const Device device = input.device();
  const TensorOptions options = TensorOptions(device).dtype(input.dtype());
  const bool accumulate_w = grad_weight->defined();
  if (accumulate_w) {
    check_same_shape(*grad_weight, "grad_weight", weight, "weight");
    NORMRT_CHECK(grad_weight->dtype() == input.dtype(), "linear_backward: grad_weight is ",
                 dtype_name(grad_weight->dtype()), ", the operands ", dtype_name(input.dtype()));
  } else {
    *grad_weight = empty(weight.sizes(), options);
  }
  const bool accumulate_b = grad_bias != nullptr && grad_bias->defined();
  if (grad_bias != nullptr && !accumulate_b) *grad_bias = empty({out}, options);

  Tensor dx = need_input_grad ? empty(input.sizes(), options) : Tensor();
  if (device.is_cuda()) {
#if NORMRT_WITH_CUDA
    Launch l(input);
    void* dxp = need_input_grad ? util::elements(dx) : nullptr;
    if (n > 0 && in > 0 && out > 0) {
      detail::cuda_linear_backward(input.dtype(), util::elements(grad_output), util::elements(input),
                                   util::elements(weight), dxp, util::elements(*grad_weight), accumulate_w, n, in, out,
                                   l.device, allow_tf32());
    } else {
      if (!accumulate_w)
        NORMRT_CUDA_CHECK(cudaMemsetAsync(grad_weight->raw_data(), 0, grad_weight->nbytes(), l.stream));
      if (need_input_grad) NORMRT_CUDA_CHECK(cudaMemsetAsync(dxp, 0, dx.nbytes(), l.stream));
    }
    if (grad_bias != nullptr) {
      // The bias gradient is a column sum in float32 (of the 16-bit dy widened), rounded once into the accumulator.
      const Tensor dy = util::widened(grad_output);
      const bool wide = grad_bias->dtype() == DType::Float32;
      Tensor sums = wide ? *grad_bias : empty({out}, device);
      Tensor workspace = empty({cuda::column_sum_workspace_floats(n, out)}, device);
      cuda::column_sum(dy.data<float>(), sums.data<float>(), n, out, accumulate_b && wide,
                       workspace.numel() > 0 ? workspace.data<float>() : nullptr, l.stream);
      if (!wide) {
        if (accumulate_b) ops::add_(*grad_bias, sums);
        else *grad_bias = sums.to(grad_bias->dtype());
      }
    }
#else
    no_cuda("linear_backward");
#endif
    return dx;
  }
  const float *dy = grad_output.data<float>(), *x = input.data<float>(), *w = weight.data<float>();
  float *dxp = need_input_grad ? dx.data<float>() : nullptr, *dw = grad_weight->data<float>();
  float* db = grad_bias != nullptr ? grad_bias->data<float>() : nullptr;
  const int N = static_cast<int>(n), I = static_cast<int>(in), O = static_cast<int>(out);
  if (n > 0 && in > 0 && out > 0) {
    if (need_input_grad) {
      for_row_blocks(n, n * in * out, [&](int64_t r0, int64_t rows) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(rows), I, O, 1.0f, dy + r0 * out, O,
                    w, I, 0.0f, dxp + r0 * in, I);
      });
    }
    // dW's rows (output features) are independent sums over the batch: blocks of them, each summed whole.
    for_row_blocks(out, n * in * out, [&](int64_t o0, int64_t rows) {
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(rows), I, N, 1.0f, dy + o0, O, x, I,
                  accumulate_w ? 1.0f : 0.0f, dw + o0 * in, I);
    });
  } else {
    if (need_input_grad) std::fill(dxp, dxp + n * in, 0.0f);
    if (!accumulate_w)
      for (int64_t i = 0; i < out * in; ++i) dw[i] = 0.0f;
  }
  if (db != nullptr) {
    for (int64_t j = 0; j < out; ++j) {
      float sum = 0.0f;
      for (int64_t r = 0; r < n; ++r) sum += dy[r * out + j];
      db[j] = accumulate_b ? db[j] + sum : sum;
    }
  }
  return dx;
}

namespace {
// Where consecutive logical elements of a dense (N, C, S) tensor lie in memory, from element `first` on: the index
// itself (contiguous), or (n S + s) C + c for element (n, c, s) (channels-last), stepped without divisions.
template <bool kChannelsLast>
class Positions {
 public:
  Positions(int64_t channels, int64_t spatial, int64_t first) : channels_(channels), spatial_(spatial), index_(first) {
    if (!kChannelsLast) return;
    const int64_t plane = first / spatial_;
    n_ = plane / channels_;
    c_ = plane % channels_;
    s_ = first % spatial_;
  }
  int64_t at() const { return kChannelsLast ? (n_ * spatial_ + s_) * channels_ + c_ : index_; }
  void next() {
    if (!kChannelsLast) {
      ++index_;
    } else if (++s_ == spatial_) {
      s_ = 0;
      if (++c_ == channels_) c_ = 0, ++n_;
    }
  }

 private:
  int64_t channels_, spatial_, index_, n_ = 0, c_ = 0, s_ = 0;
};

// y = x * mask, mask = scale where element i's draw is kept (nnmath::dropout_keep: word i % 4 of Philox block
// offset + i / 4, the kernel's mask element for element i, i the logical index), else 0; `mask` may be null. The
// blocks are drawn kBlocks at a time (philox_blocks). x, y and mask are (N, C, S), contiguous or channels-last.
template <bool kChannelsLast>
void cpu_dropout(const float* x, float* y, float* mask, int64_t n, int64_t channels, int64_t spatial, double p,
                 uint64_t seed, uint64_t offset) {
  const float scale = p < 1.0 ? static_cast<float>(1.0 / (1.0 - p)) : 0.0f, pf = static_cast<float>(p);
  constexpr int kBlocks = 16;
  constexpr int64_t kChunk = 4 * kBlocks;
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(n))
  for (int64_t chunk = 0; chunk < (n + kChunk - 1) / kChunk; ++chunk) {
    uint32_t words[kChunk];
    cpu::philox_blocks<kBlocks>(seed, offset + static_cast<uint64_t>(chunk * kBlocks), words);
    const int64_t begin = chunk * kChunk, length = std::min(kChunk, n - begin);
    Positions<kChannelsLast> position(channels, spatial, begin);
    for (int64_t j = 0; j < length; ++j, position.next()) {
      const int64_t at = position.at();
      const bool keep = nnmath::unit_float(words[j]) >= pf;
      if (mask != nullptr) mask[at] = keep ? scale : 0.0f;
      y[at] = keep ? x[at] * scale : 0.0f;
    }
  }
}

// A channels-last tensor's channel count and spatial size, (N, C, S); (0, 0) for a contiguous one.
std::pair<int64_t, int64_t> channels_and_spatial(const Tensor& x) {
  if (x.is_contiguous()) return {0, 0};
  const int64_t channels = x.size(1), images = x.size(0);
  return {channels, channels * images == 0 ? 1 : x.numel() / (channels * images)};
}

// cpu_dropout on the CPU tensors x, y and mask (undefined: none), all of x's memory format.
void cpu_dropout(const Tensor& x, Tensor& y, Tensor* mask, double p, uint64_t seed, uint64_t offset) {
  const float* xp = util::stored<float>(x);
  float* yp = util::stored<float>(y);
  float* mp = mask != nullptr ? util::stored<float>(*mask) : nullptr;
  if (x.is_contiguous()) return cpu_dropout<false>(xp, yp, mp, x.numel(), 1, 1, p, seed, offset);
  const auto [channels, spatial] = channels_and_spatial(x);
  cpu_dropout<true>(xp, yp, mp, x.numel(), channels, spatial, p, seed, offset);
}
}  // namespace

Tensor dropout(const Tensor& input, double p, uint64_t seed, uint64_t offset) {
  return dropout(input, p, seed, offset, Tensor());
}

Tensor dropout(const Tensor& input, double p, uint64_t seed, uint64_t offset, const Tensor& device_offset) {
  const detail::NvtxRange range("dropout");
  // Each element's draw follows its logical index, so that a memory format does not change which elements drop: the
  // CPU loop steps channels-last memory in logical order, the kernel maps each element to its logical index.
  const auto h = util::reduced_dtype("dropout", {&input});
  const bool on_gpu = input.defined() && input.device().is_cuda();  // the kernel takes float16 and bfloat16 as they are
  if (h && !on_gpu) return dropout(util::widened(input), p, seed, offset, device_offset).to(*h);
  if (!h) check_float(input, "input");
  NORMRT_CHECK(!device_offset.defined() || (device_offset.device() == input.device() && input.device().is_cuda() &&
                                            device_offset.dtype() == DType::Int64 && device_offset.numel() == 1),
               "dropout: device_offset must be one int64 on the input's CUDA device");
  NORMRT_CHECK(p >= 0.0 && p <= 1.0, "dropout probability has to be between 0 and 1, but got ", p);
  Tensor out = empty(input.sizes(), like(input));
  const int64_t n = input.numel();
  const auto pf = static_cast<float>(p);
  if (on_gpu) {
#if NORMRT_WITH_CUDA
    Launch l(input);
    util::dispatch_element(input.dtype(), [&](auto element) {
      using T = decltype(element);
      const auto [channels, spatial] = channels_and_spatial(input);
      cuda::dropout(util::stored<T>(input), util::stored<T>(out), n, pf, seed, offset,
                    device_offset.defined() ? device_offset.data<int64_t>() : nullptr, channels, spatial, l.sms,
                    l.stream);
    });
#else
    no_cuda("dropout");
#endif
    return out;
  }
  cpu_dropout(input, out, nullptr, p, seed, offset);
  return out;
}

DropoutResult dropout_with_mask(const Tensor& input, double p, uint64_t seed, uint64_t offset) {
  const detail::NvtxRange range("dropout");
  if (const auto h = util::reduced_dtype("dropout", {&input})) {
    DropoutResult r = dropout_with_mask(util::widened(input), p, seed, offset);
    return {r.output.to(*h), r.mask};
  }
  check_float(input, "input");
  NORMRT_CHECK(input.device().is_cpu(), "dropout_with_mask: a CPU path (on a GPU the backward regenerates the mask)");
  NORMRT_CHECK(p >= 0.0 && p <= 1.0, "dropout probability has to be between 0 and 1, but got ", p);
  DropoutResult r{empty(input.sizes(), like(input)), empty(input.sizes(), like(input))};
  cpu_dropout(input, r.output, &r.mask, p, seed, offset);
  return r;
}

Tensor dropout_backward(const Tensor& grad_output, const Tensor& mask) {
  if (const auto h = util::reduced_dtype("dropout_backward", {&grad_output}))
    return dropout_backward(util::widened(grad_output), mask).to(*h);
  check_pair(grad_output, "grad_output", mask, "mask");
  NORMRT_CHECK(mask.device().is_cpu(), "dropout_backward: a CPU path");
  // In the mask's memory format (the input's), element by element in storage order.
  const Tensor dy_in_format = grad_output.to(mask.memory_format());
  Tensor dx = empty(grad_output.sizes(), like(mask));
  const float *dy = util::stored<float>(dy_in_format), *m = util::stored<float>(mask);
  float* out = util::stored<float>(dx);
  const int64_t n = grad_output.numel();
#pragma omp parallel for simd schedule(static) if (cpu::worth_parallel(n))
  for (int64_t i = 0; i < n; ++i) out[i] = m[i] != 0.0f ? dy[i] * m[i] : 0.0f;
  return dx;
}

namespace {
// Cross-entropy against class probabilities p (PyTorch's soft targets), composed from the row softmax and the
// tensor ops: loss_n = -sum_c p_nc log_softmax(x)_nc, d/dx = softmax(x) sum_c p_nc - p, with p smoothed as
// p (1 - e) + e / C.
LossResult cross_entropy_probabilities(const Tensor& logits, const Tensor& probabilities, Reduction reduction,
                                       double label_smoothing) {
  NORMRT_CHECK(probabilities.sizes() == logits.sizes(), "cross_entropy: a float32 target holds class probabilities "
               "and must have the input's shape ", shape_str(logits.sizes()), ", got ",
               shape_str(probabilities.sizes()), " (class indices are an int64 tensor)");
  NORMRT_CHECK(probabilities.device() == logits.device(), "cross_entropy: input and target must be on one device");
  const int64_t rows = logits.size(0), cols = logits.size(1);
  Tensor p = probabilities;
  if (label_smoothing > 0)
    p = ops::add(ops::mul(p, full({}, 1.0 - label_smoothing, logits.device())),
                 full({}, label_smoothing / static_cast<double>(cols), logits.device()));
  const double scale = reduction == Reduction::Mean ? 1.0 / static_cast<double>(rows) : 1.0;
  const Tensor row_losses = ops::sum(ops::mul(p, softmax(logits, true)), 1);  // -loss per row
  const Tensor loss = ops::mul(reduction == Reduction::None ? row_losses : ops::sum(row_losses, 0),
                               full({}, -scale, logits.device()));
  const Tensor mass = ops::sum(p, 1, true);  // (N, 1)
  Tensor grad = ops::sub(ops::mul(softmax(logits, false), mass), p);
  if (scale != 1.0) grad = ops::mul(grad, full({}, scale, logits.device()));
  return {loss, grad};
}

// How many class indices are not ignore_index (what a mean divides by); ops::cross_entropy checked them.
int64_t kept_targets(const int64_t* t, int64_t n, int64_t ignore_index) {
  int64_t kept = n;
  for (int64_t r = 0; r < n; ++r) kept -= t[r] == ignore_index;
  return kept;
}

// A loss over no elements, as PyTorch: the mean of nothing is NaN, the sum 0, the unreduced losses `unreduced`
// (an empty shape); the gradient is empty.
LossResult empty_loss(const Tensor& input, Reduction reduction, const Shape& unreduced) {
  if (reduction == Reduction::None) return {empty(unreduced, input.device()), empty(input.sizes(), input.device())};
  return {full({}, reduction == Reduction::Mean ? std::nan("") : 0.0, input.device()),
          empty(input.sizes(), input.device())};
}
}  // namespace

LossResult cross_entropy(const Tensor& logits, const Tensor& targets, Reduction reduction, double label_smoothing) {
  CrossEntropyOptions options;
  options.reduction = reduction;
  options.label_smoothing = label_smoothing;
  return cross_entropy(logits, targets, options);
}

NORMRT_WIDE_VECTORS_BEGIN
LossResult util::unweighted_cross_entropy(const Tensor& logits, const Tensor& targets, Reduction reduction,
                                          double label_smoothing, int64_t ignore_index) {
  const detail::NvtxRange range("cross_entropy");
  if (util::reduced_dtype("cross_entropy", {&logits}))
    return unweighted_cross_entropy(util::widened(logits), util::widened(targets), reduction, label_smoothing,
                                    ignore_index);
  check_float(logits, "input");
  NORMRT_CHECK(logits.dim() == 2, "cross_entropy: expected input of shape (N, C), got ", shape_str(logits.sizes()));
  if (targets.defined() && targets.dtype() == DType::Float32)
    return cross_entropy_probabilities(logits, targets, reduction, label_smoothing);
  NORMRT_CHECK(targets.defined() && targets.dtype() == DType::Int64,
               "cross_entropy: target must be an int64 tensor of class indices or float32 class probabilities");
  NORMRT_CHECK(targets.dim() == 1, "cross_entropy: expected target of shape (N), got ", shape_str(targets.sizes()));
  const int64_t rows = logits.size(0), cols = logits.size(1);
  NORMRT_CHECK(targets.size(0) == rows, "Expected input batch_size (", rows, ") to match target batch_size (",
               targets.size(0), ").");
  // The rows the mean divides by: known on the host only for targets there.
  int64_t kept = rows;
  if (targets.device().is_cpu())
    kept = kept_targets(targets.data<int64_t>(), rows, ignore_index);
  else
    check_same_device(logits, targets);
  if (rows == 0) return empty_loss(logits, reduction, {0});
  // Every row ignored: the mean is 0 * inf = NaN, and the gradient 0 (ignored rows are written as 0), as PyTorch's.
  const double loss_scale = reduction == Reduction::Mean ? 1.0 / static_cast<double>(kept) : 1.0;
  const float smoothing = static_cast<float>(label_smoothing);
  LossResult result{empty({}, logits.device()), empty(logits.sizes(), logits.device())};
  if (logits.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    const Tensor t = targets.to(logits.device());
    Launch l(logits);
    Tensor row_loss = empty({rows}, logits.device());
    cuda::CrossEntropyParams p{logits.data<float>(), t.data<int64_t>(), row_loss.data<float>(),
                               result.grad_input.data<float>(), rows, cols, ignore_index, smoothing,
                               static_cast<float>(loss_scale), static_cast<float>(loss_scale), nullptr};
    // Targets only the device holds: the mean's 1 / (rows kept) is counted there, as the scale of both.
    const bool count_on_device =
        reduction == Reduction::Mean && !targets.device().is_cpu() && ignore_index != util::kNoIgnoredIndex;
    Tensor inverse_kept;
    if (count_on_device) {
      inverse_kept = empty({}, logits.device());
      cuda::inverse_kept_count(p.targets, rows, ignore_index, inverse_kept.data<float>(), l.stream);
      p.loss_scale = p.grad_scale = 1.0f;
      p.device_scale = inverse_kept.data<float>();
    }
    cuda::cross_entropy(p, l.stream);
    if (reduction == Reduction::None) return {row_loss, result.grad_input};
    normrt::cuda::sum(row_loss.data<float>(), result.loss.data<float>(), rows, l.stream);
#else
    no_cuda("cross_entropy");
#endif
    return result;
  }
  const float* x = logits.data<float>();
  const int64_t* t = targets.data<int64_t>();
  float* grad = result.grad_input.data<float>();
  const double uniform = label_smoothing / static_cast<double>(cols);
  std::vector<double> row_loss(static_cast<std::size_t>(rows));
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(rows * cols))
  for (int64_t r = 0; r < rows; ++r) {
    // softmax_line's arithmetic, the exponentials e^(x - max) kept in the gradient's row until they are scaled
    const float* row = x + r * cols;
    float* grad_row = grad + r * cols;
    if (t[r] == ignore_index) {
      std::fill(grad_row, grad_row + cols, 0.0f);
      row_loss[static_cast<std::size_t>(r)] = 0.0;
      continue;
    }
    const float max = tmath::line_max(row, cols, 1);
    const double sum = row_shifted_exponentials(row, cols, max, grad_row);
    const double sum_x = tmath::line_sum(cols, [&](int64_t c) { return static_cast<double>(row[c]); });
    row_loss[static_cast<std::size_t>(r)] = nnmath::smoothed_cross_entropy<double>(
        max, row[t[r]], std::log(sum), sum_x, static_cast<double>(cols), label_smoothing, uniform);
    const double inverse = 1.0 / sum, target_exp = grad_row[t[r]];
    for (int64_t c = 0; c < cols; ++c) grad_row[c] = static_cast<float>(loss_scale * (grad_row[c] * inverse - uniform));
    grad_row[t[r]] = static_cast<float>(
        loss_scale * nnmath::smoothed_target_gradient(target_exp * inverse, label_smoothing, uniform));
  }
  if (reduction == Reduction::None) {
    result.loss = empty({rows});
    for (int64_t r = 0; r < rows; ++r)
      result.loss.data<float>()[r] = static_cast<float>(row_loss[static_cast<std::size_t>(r)]);
    return result;
  }
  double total = 0;  // in row order, whichever thread computed a row
  for (double loss : row_loss) total += loss;
  result.loss.data<float>()[0] = static_cast<float>(total * loss_scale);
  return result;
}
NORMRT_WIDE_VECTORS_END

// The classes of (N, C, d1, ...) lie `positions` apart: a tile of neighbouring positions is computed together, each
// step over the classes one contiguous run (vectorised across positions), as the row path's arithmetic: e^(x - max)
// summed in double, the loss and the target's gradient nnmath's, the other classes' gradient e / sum - s / C.
LossResult util::spatial_cross_entropy_cpu(const Tensor& logits, const Tensor& targets, Reduction reduction,
                                           double label_smoothing, int64_t ignore_index) {
  const detail::NvtxRange range("cross_entropy");
  const int64_t batch = logits.size(0), classes = logits.size(1);
  int64_t positions = 1;  // per sample
  for (int64_t d = 2; d < logits.dim(); ++d) positions *= logits.size(d);
  const int64_t* t = targets.data<int64_t>();
  const int64_t kept = kept_targets(t, batch * positions, ignore_index);
  if (batch * positions == 0) return empty_loss(logits, reduction, {0});
  const double loss_scale = reduction == Reduction::Mean ? 1.0 / static_cast<double>(kept) : 1.0;
  const double uniform = label_smoothing / static_cast<double>(classes);
  LossResult result{empty({}, logits.device()), empty(logits.sizes(), logits.device())};
  constexpr int64_t kTile = 64;
  const int64_t tiles_per_sample = (positions + kTile - 1) / kTile, tiles = batch * tiles_per_sample;
  std::vector<double> tile_loss(static_cast<std::size_t>(tiles), 0.0);
  if (reduction == Reduction::None) result.loss = empty({batch * positions});
  float* position_loss = reduction == Reduction::None ? result.loss.data<float>() : nullptr;
  const float* x_all = logits.data<float>();
  float* grad_all = result.grad_input.data<float>();
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(logits.numel()))
  for (int64_t tile = 0; tile < tiles; ++tile) {
    const int64_t n = tile / tiles_per_sample, first = tile % tiles_per_sample * kTile;
    const int64_t width = std::min(kTile, positions - first);
    const float* x = x_all + n * classes * positions + first;
    float* g = grad_all + n * classes * positions + first;
    const int64_t* target = t + n * positions + first;
    float max[kTile];
    double sum[kTile], sum_x[kTile], inverse[kTile], target_exp[kTile];
    for (int64_t j = 0; j < width; ++j) {
      max[j] = -INFINITY;
      sum[j] = sum_x[j] = 0.0;
    }
    for (int64_t c = 0; c < classes; ++c)
      for (int64_t j = 0; j < width; ++j) max[j] = x[c * positions + j] > max[j] ? x[c * positions + j] : max[j];
    for (int64_t c = 0; c < classes; ++c) {
      const float* xc = x + c * positions;
      float* gc = g + c * positions;
      for (int64_t j = 0; j < width; ++j) gc[j] = fmath::exp(xc[j] - max[j]);
      for (int64_t j = 0; j < width; ++j) sum[j] += gc[j];
      if (uniform != 0.0)
        for (int64_t j = 0; j < width; ++j) sum_x[j] += xc[j];
    }
    double loss = 0.0;  // in position order
    for (int64_t j = 0; j < width; ++j) {
      inverse[j] = 1.0 / sum[j];
      double position = 0.0;
      if (target[j] != ignore_index) {
        target_exp[j] = g[target[j] * positions + j];
        position =
            nnmath::smoothed_cross_entropy<double>(max[j], x[target[j] * positions + j], std::log(sum[j]), sum_x[j],
                                                   static_cast<double>(classes), label_smoothing, uniform);
      }
      if (position_loss != nullptr) position_loss[n * positions + first + j] = static_cast<float>(position);
      loss += position;
    }
    for (int64_t c = 0; c < classes; ++c) {
      float* gc = g + c * positions;
      for (int64_t j = 0; j < width; ++j) gc[j] = static_cast<float>(loss_scale * (gc[j] * inverse[j] - uniform));
    }
    for (int64_t j = 0; j < width; ++j) {
      if (target[j] == ignore_index) {
        for (int64_t c = 0; c < classes; ++c) g[c * positions + j] = 0.0f;
        continue;
      }
      g[target[j] * positions + j] = static_cast<float>(
          loss_scale * nnmath::smoothed_target_gradient(target_exp[j] * inverse[j], label_smoothing, uniform));
    }
    tile_loss[static_cast<std::size_t>(tile)] = loss;
  }
  if (reduction == Reduction::None) return result;
  double total = 0;  // in tile order, whichever thread computed a tile
  for (double loss : tile_loss) total += loss;
  result.loss.data<float>()[0] = static_cast<float>(total * loss_scale);
  return result;
}

Tensor count_correct(const Tensor& logits, const Tensor& targets) {
  if (util::reduced_dtype("count_correct", {&logits})) return count_correct(util::widened(logits), targets);
  check_float(logits, "input");
  NORMRT_CHECK(logits.dim() == 2 && targets.defined() && targets.dtype() == DType::Int64 && targets.dim() == 1 &&
                   targets.size(0) == logits.size(0),
               "count_correct: expected logits (N, C) and int64 targets (N), got ", shape_str(logits.sizes()), " and ",
               targets.defined() ? shape_str(targets.sizes()) : "undefined");
  const int64_t rows = logits.size(0), cols = logits.size(1);
  Tensor count = empty({}, TensorOptions(logits.device()).dtype(DType::Int64));
  if (logits.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    const Tensor t = targets.to(logits.device());
    Launch l(logits);
    Tensor flags = empty({rows}, TensorOptions(logits.device()).dtype(DType::Int64));
    cuda::argmax_matches(logits.data<float>(), t.data<int64_t>(), flags.data<int64_t>(), rows, cols, l.stream);
    normrt::cuda::sum(flags.data<int64_t>(), count.data<int64_t>(), rows, l.stream);
#else
    no_cuda("count_correct");
#endif
    return count;
  }
  const float* x = logits.data<float>();
  const int64_t* t = targets.data<int64_t>();
  int64_t correct = 0;
  for (int64_t r = 0; r < rows; ++r) {
    int64_t best = 0;
    for (int64_t c = 1; c < cols; ++c)
      if (x[r * cols + c] > x[r * cols + best]) best = c;
    correct += best == t[r];
  }
  count.data<int64_t>()[0] = correct;
  return count;
}

}  // namespace normrt::ops
