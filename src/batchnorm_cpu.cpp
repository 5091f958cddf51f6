// CPU BatchNorm backend. Each channel's N*S elements are cut into pieces fixed by the shape alone (never by the
// thread count), so results are identical however many threads run. Inside a piece, elements are dealt
// round-robin to kLanes independent Welford accumulators (a vectorisable inner loop, the CPU image of a warp's
// threads: 32 doubles are four AVX-512 vectors, whose update chains overlap instead of waiting on one another);
// lanes, then pieces, are combined by the same pairwise Chan tree the CUDA kernels use.
// Accumulation is in double, as PyTorch's CPU kernels do.
#include <omp.h>

#include <algorithm>
#include <vector>

#include "batchnorm_backend.h"
#include "bn_math.cuh"

namespace normrt::bn {

namespace {

using Acc = double;
constexpr int kLanes = 32;
constexpr int64_t kPieceElements = int64_t{1} << 16;
constexpr int64_t kChannelBlock = 64;
constexpr int64_t kGatherBelow = 8 * kLanes;  // spatial sizes whose runs are gathered (channel_statistics)
constexpr int64_t kGathered = 2048;
// Below this many elements an op runs on one thread: waking OpenMP's team costs more than it saves, and its
// spinning workers would compete with OpenBLAS's threads in the GEMMs around a BatchNorm layer.
constexpr int64_t kParallelElements = int64_t{1} << 18;

bool parallel(const Geometry& g) { return g.numel() >= kParallelElements; }

// Merges items[0..n) pairwise (stride 1, 2, 4, ...) into items[0].
template <typename T, typename Merge>
T tree_reduce(std::vector<T>& items, Merge merge) {
  const std::size_t n = items.size();
  for (std::size_t stride = 1; stride < n; stride *= 2)
    for (std::size_t i = 0; i + stride < n; i += 2 * stride) items[i] = merge(items[i], items[i + stride]);
  return items[0];
}

// For (N, C) input the pieces are row ranges over blocks of kChannelBlock channels, so they are sized by the
// block's elements rather than one channel's.
int64_t pieces_per_channel(const Geometry& g) {
  const int64_t m = g.per_channel();
  const int64_t elements_per_piece = g.S == 1 ? std::max<int64_t>(1, kPieceElements / kChannelBlock) : kPieceElements;
  return std::max<int64_t>(1, (m + elements_per_piece - 1) / elements_per_piece);
}

// Calls run(offset, length) for each contiguous stretch of channel c's flat elements [lo, hi).
template <typename Run>
void for_each_run(const Geometry& g, int64_t c, int64_t lo, int64_t hi, Run run) {
  int64_t n = lo / g.S, s = lo % g.S;
  for (int64_t pos = lo; pos < hi; ++n, s = 0) {
    const int64_t length = std::min(g.S - s, hi - pos);
    run((n * g.C + c) * g.S + s, length);
    pos += length;
  }
}

class LaneWelford {
 public:
  void add(const float* x, int64_t length, Acc pivot) {
    int64_t i = 0;
    for (; cursor_ != 0 && i < length; ++i) add_one(x[i], pivot);
    // With the cursor at lane 0 every lane holds the same count, so one reciprocal serves the whole group.
    for (; i + kLanes <= length; i += kLanes) {
      const Acc count = lanes_count_ + 1;
      const Acc inv_count = Acc(1) / count;
      for (int j = 0; j < kLanes; ++j) {
        const Acc v = static_cast<Acc>(x[i + j]) - pivot;
        const Acc delta = v - mean_[j];
        mean_[j] += delta * inv_count;
        m2_[j] += delta * (v - mean_[j]);
      }
      lanes_count_ = count;
    }
    for (; i < length; ++i) add_one(x[i], pivot);
  }

  Welford<Acc> result() const {
    std::vector<Welford<Acc>> lanes(kLanes);
    for (int j = 0; j < kLanes; ++j) lanes[j] = {mean_[j], m2_[j], lanes_count_ + (j < cursor_ ? 1 : 0)};
    return tree_reduce(lanes, welford_merge<Acc>);
  }

 private:
  void add_one(float x, Acc pivot) {
    Welford<Acc> s{mean_[cursor_], m2_[cursor_], lanes_count_};
    welford_add(s, static_cast<Acc>(x) - pivot);
    mean_[cursor_] = s.mean;
    m2_[cursor_] = s.m2;
    if (++cursor_ == kLanes) {
      cursor_ = 0;
      lanes_count_ += 1;
    }
  }

  Acc mean_[kLanes] = {};
  Acc m2_[kLanes] = {};
  Acc lanes_count_ = 0;  // count of lanes >= cursor_; lanes below it hold one more
  int cursor_ = 0;
};

// Channel c's first element; see bn_math.cuh for why the data are shifted.
inline Acc pivot_of(const Geometry& g, const float* x, int64_t c) { return static_cast<Acc>(x[c * g.S]); }

// (N, C) input (S == 1): channels are contiguous, so a task owns a block of channels over a range of rows and
// runs one Welford per channel, vectorised across the channels (every channel has the same count per row).
void row_layout_statistics(const Geometry& g, const float* x, int64_t pieces, std::vector<Welford<Acc>>& partial) {
  const int64_t blocks = (g.C + kChannelBlock - 1) / kChannelBlock;
#pragma omp parallel for schedule(static) if (parallel(g))
  for (int64_t task = 0; task < blocks * pieces; ++task) {
    const int64_t c0 = task / pieces * kChannelBlock, k = task % pieces;
    const int64_t width = std::min(kChannelBlock, g.C - c0);
    const int64_t n0 = k * g.N / pieces, n1 = (k + 1) * g.N / pieces;
    Acc pivot[kChannelBlock], mean[kChannelBlock] = {}, m2[kChannelBlock] = {};
    for (int64_t j = 0; j < width; ++j) pivot[j] = pivot_of(g, x, c0 + j);
    for (int64_t n = n0; n < n1; ++n) {
      const Acc inv_count = Acc(1) / static_cast<Acc>(n - n0 + 1);
      const float* row = x + n * g.C + c0;
      for (int64_t j = 0; j < width; ++j) {
        const Acc v = static_cast<Acc>(row[j]) - pivot[j];
        const Acc delta = v - mean[j];
        mean[j] += delta * inv_count;
        m2[j] += delta * (v - mean[j]);
      }
    }
    for (int64_t j = 0; j < width; ++j)
      partial[(c0 + j) * pieces + k] = {mean[j], m2[j], static_cast<Acc>(n1 - n0)};
  }
}

// Per-channel Welford statistics of the unshifted data: mean, m2, count.
std::vector<Welford<Acc>> channel_statistics(const Geometry& g, const float* x) {
  const int64_t pieces = pieces_per_channel(g), m = g.per_channel();
  std::vector<Welford<Acc>> partial(static_cast<std::size_t>(g.C * pieces));
  if (g.S == 1) {
    row_layout_statistics(g, x, pieces, partial);
  } else {
#pragma omp parallel for schedule(static) if (parallel(g))
    for (int64_t task = 0; task < g.C * pieces; ++task) {
      const int64_t c = task / pieces, k = task % pieces;
      LaneWelford acc;
      const Acc p = pivot_of(g, x, c);
      if (g.S >= kGatherBelow) {
        for_each_run(g, c, k * m / pieces, (k + 1) * m / pieces,
                     [&](int64_t offset, int64_t length) { acc.add(x + offset, length, p); });
      } else {
        // Short runs (7x7 images) gathered into long ones: the lanes see the same elements in the same order, but
        // whole groups of kLanes instead of mostly the one-element path.
        float gathered[kGathered];
        int64_t filled = 0;
        for_each_run(g, c, k * m / pieces, (k + 1) * m / pieces, [&](int64_t offset, int64_t length) {
          while (length > 0) {
            const int64_t take = std::min(length, kGathered - filled);
            std::copy(x + offset, x + offset + take, gathered + filled);
            filled += take;
            offset += take;
            length -= take;
            if (filled == kGathered) {
              acc.add(gathered, filled, p);
              filled = 0;
            }
          }
        });
        acc.add(gathered, filled, p);
      }
      partial[task] = acc.result();
    }
  }
  std::vector<Welford<Acc>> stats(static_cast<std::size_t>(g.C));
#pragma omp parallel for schedule(static) if (parallel(g))
  for (int64_t c = 0; c < g.C; ++c) {
    std::vector<Welford<Acc>> pieces_of_c(partial.begin() + c * pieces, partial.begin() + (c + 1) * pieces);
    stats[c] = tree_reduce(pieces_of_c, welford_merge<Acc>);
    stats[c].mean += pivot_of(g, x, c);
  }
  return stats;
}

// Calls op(index, channel) for every element, vectorisable along the contiguous dimension.
template <typename Op>
void for_each_element(const Geometry& g, Op op) {
  if (g.S == 1) {
#pragma omp parallel for schedule(static) if (parallel(g))
    for (int64_t n = 0; n < g.N; ++n)
      for (int64_t c = 0; c < g.C; ++c) op(n * g.C + c, c);
    return;
  }
#pragma omp parallel for collapse(2) schedule(static) if (parallel(g))
  for (int64_t n = 0; n < g.N; ++n) {
    for (int64_t c = 0; c < g.C; ++c) {
      const int64_t base = (n * g.C + c) * g.S;
      for (int64_t s = 0; s < g.S; ++s) op(base + s, c);
    }
  }
}

// y = (x - mean[c]) * scale[c] + shift[c] over the whole tensor.
void normalize_all(const Geometry& g, const float* x, const float* mean, const float* scale, const float* shift,
                   float* y) {
  for_each_element(g, [=](int64_t i, int64_t c) { y[i] = normalize(x[i], mean[c], scale[c], shift[c]); });
}

void affine_coefficients(const Geometry& g, const float* invstd, const float* weight, const float* bias,
                         std::vector<float>& scale, std::vector<float>& shift) {
  scale.resize(g.C);
  shift.resize(g.C);
  for (int64_t c = 0; c < g.C; ++c) {
    scale[c] = invstd[c] * (weight ? weight[c] : 1.0f);
    shift[c] = bias ? bias[c] : 0.0f;
  }
}

struct GradSums {
  Acc dy = 0;
  Acc dy_xmu = 0;
};

GradSums add_sums(const GradSums& a, const GradSums& b) { return {a.dy + b.dy, a.dy_xmu + b.dy_xmu}; }

// Per channel: sum(dy) and sum(dy * (x - mean)), in lanes (or, for (N, C) input, across a block of channels).
std::vector<GradSums> gradient_sums(const Geometry& g, const float* dy, const float* x, const float* mean) {
  const int64_t pieces = pieces_per_channel(g), m = g.per_channel();
  std::vector<GradSums> partial(static_cast<std::size_t>(g.C * pieces));
  if (g.S == 1) {
    const int64_t blocks = (g.C + kChannelBlock - 1) / kChannelBlock;
#pragma omp parallel for schedule(static) if (parallel(g))
    for (int64_t task = 0; task < blocks * pieces; ++task) {
      const int64_t c0 = task / pieces * kChannelBlock, k = task % pieces;
      const int64_t width = std::min(kChannelBlock, g.C - c0);
      Acc mu[kChannelBlock], sum_dy[kChannelBlock] = {}, sum_dy_xmu[kChannelBlock] = {};
      for (int64_t j = 0; j < width; ++j) mu[j] = mean[c0 + j];
      for (int64_t n = k * g.N / pieces; n < (k + 1) * g.N / pieces; ++n) {
        const float* dy_row = dy + n * g.C + c0;
        const float* x_row = x + n * g.C + c0;
        for (int64_t j = 0; j < width; ++j) {
          sum_dy[j] += dy_row[j];
          sum_dy_xmu[j] += static_cast<Acc>(dy_row[j]) * (static_cast<Acc>(x_row[j]) - mu[j]);
        }
      }
      for (int64_t j = 0; j < width; ++j) partial[(c0 + j) * pieces + k] = {sum_dy[j], sum_dy_xmu[j]};
    }
  } else {
#pragma omp parallel for schedule(static) if (parallel(g))
    for (int64_t task = 0; task < g.C * pieces; ++task) {
      const int64_t c = task / pieces, k = task % pieces;
      const Acc mu = mean[c];
      Acc sum_dy[kLanes] = {}, sum_dy_xmu[kLanes] = {};
      for_each_run(g, c, k * m / pieces, (k + 1) * m / pieces, [&](int64_t offset, int64_t length) {
        const float *dy_run = dy + offset, *x_run = x + offset;
        int64_t i = 0;
        for (; i + kLanes <= length; i += kLanes) {
          for (int j = 0; j < kLanes; ++j) {
            sum_dy[j] += dy_run[i + j];
            sum_dy_xmu[j] += static_cast<Acc>(dy_run[i + j]) * (static_cast<Acc>(x_run[i + j]) - mu);
          }
        }
        for (int j = 0; i < length; ++i, ++j) {
          sum_dy[j] += dy_run[i];
          sum_dy_xmu[j] += static_cast<Acc>(dy_run[i]) * (static_cast<Acc>(x_run[i]) - mu);
        }
      });
      std::vector<GradSums> lanes(kLanes);
      for (int j = 0; j < kLanes; ++j) lanes[j] = {sum_dy[j], sum_dy_xmu[j]};
      partial[task] = tree_reduce(lanes, add_sums);
    }
  }
  std::vector<GradSums> sums(static_cast<std::size_t>(g.C));
  for (int64_t c = 0; c < g.C; ++c) {
    std::vector<GradSums> pieces_of_c(partial.begin() + c * pieces, partial.begin() + (c + 1) * pieces);
    sums[c] = tree_reduce(pieces_of_c, add_sums);
  }
  return sums;
}

}  // namespace

void cpu_forward_training(const ForwardTrainingParams& p) {
  const Geometry& g = p.geometry;
  if (p.num_batches_tracked != nullptr) *p.num_batches_tracked += 1;
  const int64_t m = g.per_channel();
  if (m == 0) {
    std::fill(p.save_mean, p.save_mean + g.C, 0.0f);
    std::fill(p.save_invstd, p.save_invstd + g.C, 0.0f);
    return;
  }
  const std::vector<Welford<Acc>> stats = channel_statistics(g, p.x);
  const Acc factor = p.running_mean != nullptr
                         ? running_factor(p.cumulative_average, p.momentum,
                                          p.num_batches_tracked ? *p.num_batches_tracked : 0)
                         : 0;
  for (int64_t c = 0; c < g.C; ++c) {
    const Acc count = static_cast<Acc>(m);
    p.save_mean[c] = static_cast<float>(stats[c].mean);
    p.save_invstd[c] = static_cast<float>(invstd_from_var(stats[c].m2 / count, static_cast<Acc>(p.eps)));
    if (p.running_mean != nullptr) {
      p.running_mean[c] = static_cast<float>(running_update<Acc>(p.running_mean[c], stats[c].mean, factor));
      p.running_var[c] =
          static_cast<float>(running_update<Acc>(p.running_var[c], unbiased_var(stats[c].m2, count), factor));
    }
  }
  std::vector<float> scale, shift;
  affine_coefficients(g, p.save_invstd, p.weight, p.bias, scale, shift);
  normalize_all(g, p.x, p.save_mean, scale.data(), shift.data(), p.y);
}

void cpu_forward_inference(const ForwardInferenceParams& p) {
  const Geometry& g = p.geometry;
  for (int64_t c = 0; c < g.C; ++c) {
    p.save_mean[c] = p.running_mean[c];
    p.save_invstd[c] =
        static_cast<float>(invstd_from_var(static_cast<Acc>(p.running_var[c]), static_cast<Acc>(p.eps)));
  }
  std::vector<float> scale, shift;
  affine_coefficients(g, p.save_invstd, p.weight, p.bias, scale, shift);
  normalize_all(g, p.x, p.save_mean, scale.data(), shift.data(), p.y);
}

void cpu_backward(const BackwardParams& p) {
  const Geometry& g = p.geometry;
  if (g.per_channel() == 0) {  // sums over nothing; dx, if asked for, is empty
    if (p.dweight != nullptr) std::fill(p.dweight, p.dweight + g.C, 0.0f);
    if (p.dbias != nullptr) std::fill(p.dbias, p.dbias + g.C, 0.0f);
    return;
  }
  const bool need_sums = p.training || p.dweight != nullptr || p.dbias != nullptr;
  std::vector<GradSums> sums;
  if (need_sums) sums = gradient_sums(g, p.dy, p.x, p.mean);
  for (int64_t c = 0; c < g.C && need_sums; ++c) {
    if (p.dweight != nullptr) p.dweight[c] = static_cast<float>(sums[c].dy_xmu * p.invstd[c]);
    if (p.dbias != nullptr) p.dbias[c] = static_cast<float>(sums[c].dy);
  }
  if (p.dx == nullptr) return;
  // Coefficients by kind in their own arrays, so that the (N, C) layout's loop over channels loads them as vectors.
  std::vector<float> grad_mean(static_cast<std::size_t>(g.C)), projection(grad_mean.size()), scale(grad_mean.size());
  for (int64_t c = 0; c < g.C; ++c) {
    const float w = p.weight ? p.weight[c] : 1.0f;
    if (p.training) {
      const auto kd = backward_coefficients<Acc>(sums[c].dy, sums[c].dy_xmu, p.invstd[c], w,
                                                 static_cast<Acc>(g.per_channel()));
      grad_mean[c] = static_cast<float>(kd.grad_mean);
      projection[c] = static_cast<float>(kd.projection);
      scale[c] = static_cast<float>(kd.scale);
    } else {
      scale[c] = p.invstd[c] * w;
    }
  }
  const float *dy = p.dy, *x = p.x, *mean = p.mean, *gm = grad_mean.data(), *pr = projection.data(), *sc = scale.data();
  float* dx = p.dx;
  if (p.training) {
    for_each_element(g, [=](int64_t i, int64_t c) {
      dx[i] = backward_training(dy[i], x[i], BackwardCoefficients<float>{gm[c], pr[c], sc[c]}, mean[c]);
    });
  } else {
    for_each_element(g, [=](int64_t i, int64_t c) { dx[i] = dy[i] * sc[c]; });
  }
}

}  // namespace normrt::bn
