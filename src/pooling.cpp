// normrt::ops pooling: argument checks (PyTorch's messages, before anything runs), the CPU loops and dispatch to
// the CUDA kernels. Both run poolmath's per-element functions. float16 / bfloat16 go through float32 copies on the
// CPU and as they are to the CUDA kernels (the same bits).
#include "normrt/ops/pooling.h"

#include <algorithm>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "normrt/cuda_check.h"
#include "cpu_threads.h"
#include "line_lanes.h"
#include "memory_layout.h"
#include "nvtx.h"
#include "op_util.h"
#include "pooling_math.cuh"
#if NORMRT_WITH_CUDA
#include "pooling.cuh"
#endif

namespace normrt::ops {

namespace {

const char* kDimWords[] = {"", "one", "two", "three"};

std::string op_name(const char* family, int spatial) { return std::string(family) + std::to_string(spatial) + "d"; }

// A per-dimension parameter spelled out over the three geometry dimensions (leading ones filled with `fill`).
void expand(const std::vector<int64_t>& values, int spatial, int64_t fill, int64_t* out, const std::string& message) {
  NORMRT_CHECK(values.size() == 1 || values.size() == static_cast<std::size_t>(spatial), message);
  for (int d = 0; d < 3; ++d) out[d] = fill;
  for (int d = 0; d < spatial; ++d) out[3 - spatial + d] = values.size() == 1 ? values[0] : values[d];
}

// "CxHxW"; a 1-d pooling as "Cx1xW", as PyTorch reports it (its 1-d poolings run as 2-d ones of height 1).
std::string joined(const int64_t* v, int spatial, int64_t lead) {
  std::ostringstream os;
  os << lead << (spatial == 1 ? "x1" : "");
  for (int d = 3 - spatial; d < 3; ++d) os << 'x' << v[d];
  return os.str();
}

// PyTorch's refusal of an input of another rank than (N, C, *spatial) or (C, *spatial) by torch.nn.functional's 1-d
// ops (their argument check).
void check_rank_1d(const Tensor& input, const std::string& op) {
  NORMRT_CHECK(input.dim() == 2 || input.dim() == 3, "Expected 2 to 3 dimensions, but got ", input.dim(),
               "-dimensional tensor for argument #1 'self' (while checking arguments for ", op, ")");
}

// PyTorch's refusals of the input's rank (before the window's values) and of empty non-batch dimensions (after them,
// `after_values`), in its words for each op. 1-d poolings run as 2-d ones of the input with a unit height (the with-
// indices path of max_pool1d, which training takes), after their own rank check.
void check_input(const Tensor& input, int spatial, bool max, bool after_values) {
  const int64_t dim = input.dim();
  if (!after_values) {
    if (spatial == 1) return check_rank_1d(input, max ? "max_pool1d" : "avg_pool1d");
    if (spatial == 2 && !max) {
      input.size(-3);  // avg_pool2d reads the planes first: PyTorch's words below 3 dimensions
      return;
    }
    NORMRT_CHECK(dim == spatial + 1 || dim == spatial + 2, "non-empty ", spatial + 1, "D or ", spatial + 2,
                 "D (batch mode) tensor expected for input");
    return;
  }
  bool shaped = dim == spatial + 1 || dim == spatial + 2;
  for (int64_t d = dim == spatial + 2 ? 1 : 0; shaped && d < dim; ++d) shaped = input.size(d) > 0;
  if (spatial == 3) {  // PyTorch prints the empty dimension's size where it means its index
    NORMRT_CHECK(shaped, max ? (input.device().is_cuda() ? "max_pool3d_with_indices_out_cuda_template"
                                                         : "max_pool3d_with_indices_out_cpu_template")
                             : "avg_pool3d",
                 "(): Expected input's non-batch dimensions to have positive length, but input has a shape of ",
                 shape_str(input.sizes()), " and non-batch dimension 0 has length zero!");
    return;
  }
  Shape named = input.sizes();
  if (spatial == 1) named.insert(named.end() - 1, 1);
  NORMRT_CHECK(shaped, "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but got:",
               shape_str(named));
}

// The geometry of a (non-adaptive) pooling, every argument checked.
poolmath::PoolGeometry resolve_pool(const Tensor& input, int spatial, const PoolParams& p, bool max) {
  const std::string op = op_name(max ? "max_pool" : "avg_pool", spatial);
  util::check_floating(input, "input");
  NORMRT_CHECK(spatial >= 1 && spatial <= 3, op, ": pooling is over 1, 2 or 3 spatial dimensions");
  if (spatial == 1) check_input(input, spatial, max, false);
  // The arguments' counts in each op's words (typos included): the 1-d ops' Python argument parser's, the others'.
  const std::string words = kDimWords[spatial];
  const bool avg3d = !max && spatial == 3;
  const auto count_words = [&](const char* name, const std::vector<int64_t>& values, const std::string& words_2d_3d) {
    return spatial == 1 ? op + "() argument '" + name + "' should contain one int (got " +
                              std::to_string(values.size()) + ")"
                        : op + ": " + name + words_2d_3d + words + " ints";
  };
  poolmath::PoolGeometry g;
  expand(p.kernel_size, spatial, 1, g.kernel,
         count_words("kernel_size", p.kernel_size,
                     avg3d ? " must be a single int, or a tuple of " : " must either be a single int, or a tuple of "));
  expand(p.stride.empty() ? p.kernel_size : p.stride, spatial, 1, g.stride,
         count_words("stride", p.stride,
                     avg3d ? " must be omitted, a single int, or a tuple of "
                           : " must either be omitted, a single int, or a tuple of "));
  expand(p.padding, spatial, 0, g.pad,
         count_words("padding", p.padding,
                     avg3d ? " must be a single int, or a tuple of "
                     : max ? " must be either be a single int, or a tuple of "
                           : " must either be a single int, or a tuple of "));
  if (max)
    expand(p.dilation, spatial, 1, g.dilation,
           count_words("dilation", p.dilation, " must be either a single int, or a tuple of "));
  g.count_include_pad = p.count_include_pad;
  if (avg3d) check_input(input, spatial, max, false);  // avg_pool3d checks the rank before the divisor, others after
  if (!max && p.divisor_override) {
    NORMRT_CHECK(*p.divisor_override != 0, "divisor must be not zero");
    g.divisor_override = *p.divisor_override;
  }
  if (spatial > 1 && !avg3d) check_input(input, spatial, max, false);
  // PyTorch's pooling_output_shape, one dimension after the other (a 1-d pooling's unit height first).
  for (int d = 0; d < 3; ++d) {
    NORMRT_CHECK(g.stride[d] != 0, "stride should not be zero");
    NORMRT_CHECK(g.pad[d] >= 0, "pad must be non-negative, but got pad: ", g.pad[d]);
    NORMRT_CHECK(g.pad[d] <= g.kernel[d] / 2, "pad should be at most half of kernel size, but got pad=", g.pad[d],
                 " and kernel_size=", g.kernel[d]);
  }
  // Then its shape check, every dimension at once ("kH: 0 kW: 3"; a 1-d pooling as a 2-d one).
  const auto named = [&](const char* prefix, const int64_t* v) {
    std::string out;
    for (int d = spatial == 3 ? 0 : 1; d < 3; ++d)
      out += std::string(out.empty() ? "" : " ") + prefix + "THW"[d] + ": " + std::to_string(v[d]);
    return out;
  };
  const auto positive = [](const int64_t* v) { return v[0] > 0 && v[1] > 0 && v[2] > 0; };
  NORMRT_CHECK(positive(g.kernel), "kernel size should be greater than zero, but got ", named("k", g.kernel));
  NORMRT_CHECK(positive(g.stride), "stride should be greater than zero, but got ", named("d", g.stride));
  NORMRT_CHECK(positive(g.dilation), "dilation should be greater than zero, but got ", named("dilation", g.dilation));
  check_input(input, spatial, max, true);
  const int64_t first_spatial = input.dim() - spatial;
  g.planes = 1;
  for (int64_t d = 0; d < first_spatial; ++d) g.planes *= input.size(d);
  for (int d = 0; d < spatial; ++d) g.in[3 - spatial + d] = input.size(first_spatial + d);
  if (!max && spatial == 3)  // PyTorch's avg_pool3d takes no window larger than the unpadded input
    NORMRT_CHECK(g.in[0] >= g.kernel[0] && g.in[1] >= g.kernel[1] && g.in[2] >= g.kernel[2],
                 "input image (T: ", g.in[0], " H: ", g.in[1], " W: ", g.in[2],
                 ") smaller than kernel size (kT: ", g.kernel[0], " kH: ", g.kernel[1], " kW: ", g.kernel[2], ")");
  bool too_small = false;
  for (int d = 0; d < 3; ++d) {
    // PyTorch's pooling_output_shape: the last window must start inside the input or its left padding.
    const int64_t span =
        g.in[d] + 2 * g.pad[d] - g.dilation[d] * (g.kernel[d] - 1) - 1 + (p.ceil_mode ? g.stride[d] - 1 : 0);
    int64_t out = (span >= 0 ? span / g.stride[d] : -((-span + g.stride[d] - 1) / g.stride[d])) + 1;
    if (p.ceil_mode && (out - 1) * g.stride[d] >= g.in[d] + g.pad[d]) --out;
    g.out[d] = out;
    too_small = too_small || out < 1;
  }
  const int64_t channels = input.size(first_spatial - 1);
  NORMRT_CHECK(!too_small, "Given input size: (", joined(g.in, spatial, channels),
               "). Calculated output size: (", joined(g.out, spatial, channels), "). Output size is too small");
  return g;
}

Shape output_shape(const Tensor& input, int spatial, const poolmath::PoolGeometry& g) {
  Shape out(input.sizes().begin(), input.sizes().end() - spatial);
  for (int d = 3 - spatial; d < 3; ++d) out.push_back(g.out[d]);
  return out;
}

#if NORMRT_WITH_CUDA
cuda::PoolKind cuda_kind(bool max, bool adaptive) {
  if (max) return adaptive ? cuda::PoolKind::AdaptiveMax : cuda::PoolKind::Max;
  return adaptive ? cuda::PoolKind::AdaptiveAverage : cuda::PoolKind::Average;
}
#endif

// Calls fn(coordinates) for every output position of a plane, in order.
template <typename Fn>
void for_each_output(const poolmath::PoolGeometry& g, Fn fn) {
  int64_t oc[3];
  for (oc[0] = 0; oc[0] < g.out[0]; ++oc[0])
    for (oc[1] = 0; oc[1] < g.out[1]; ++oc[1])
      for (oc[2] = 0; oc[2] < g.out[2]; ++oc[2]) fn(oc);
}

using cpu::add_lanes;
using cpu::divided;
using cpu::kLanes;
using cpu::LaneDivisor;
using cpu::LaneFloats;
using cpu::LaneSums;

// y[p] = the average of plane p when one window covers the whole plane (a global average pool). Each plane's sum is
// tmath::line_sum's (the bits of window_average). Planes of many groups go kPlanes at a time through their whole
// groups, so that their lanes are independent chains of additions that overlap, where one plane's lanes would wait on
// the adder (56x56 planes: 1.40x); short planes go one at a time, the out-of-order core overlapping consecutive
// planes by itself (7x7 planes interleaved four at a time: 1.24x slower). A/B, 5-9 rounds, 2-core AMD EPYC.
template <int kPlanes>
void whole_plane_averages(const float* x, int64_t planes, int64_t plane_size, double divisor, float* y) {
  const int64_t groups = (planes + kPlanes - 1) / kPlanes;
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(planes * plane_size))
  for (int64_t group = 0; group < groups; ++group) {
    const int64_t first = group * kPlanes, count = std::min<int64_t>(kPlanes, planes - first);
    const float* base = x + first * plane_size;
    LaneSums lanes[kPlanes] = {};
    int64_t whole = 0;  // elements of every plane already in the lanes
    if (count == kPlanes) {
      for (; whole + kLanes <= plane_size; whole += kLanes)
        for (int p = 0; p < kPlanes; ++p) add_lanes(lanes[p], base + p * plane_size + whole);
    }
    for (int p = 0; p < count; ++p) {
      const float* plane = base + p * plane_size;
      int64_t r = whole;
      for (; r + kLanes <= plane_size; r += kLanes) add_lanes(lanes[p], plane + r);
      double sum = cpu::lanes_total(lanes[p]);
      for (; r < plane_size; ++r) sum += static_cast<double>(plane[r]);
      y[first + p] = static_cast<float>(sum / divisor);
    }
  }
}

void whole_plane_averages(const float* x, int64_t planes, int64_t plane_size, double divisor, float* y) {
  if (plane_size < 8 * kLanes)
    whole_plane_averages<1>(x, planes, plane_size, divisor, y);
  else
    whole_plane_averages<4>(x, planes, plane_size, divisor, y);
}

// The same averages of channels-last x (images, plane_size, channels): each channel's sum is line_sum's, as
// average_forward_channels_last sums a window of one run (0 + the lanes' tree + the rest), but the positions are walked
// in memory order, kChannelChunk channels of kLanes positions at a time, into lanes kept in L1: walked a window
// at a time over 32 channels, a global pool of 32x2048x7x7 read 128 bytes per 8 KB row and ran at 0.67x PyTorch's
// speed.
void whole_plane_averages_channels_last(const float* x, int64_t images, int64_t plane_size, int64_t channels,
                                        double divisor, float* y) {
  constexpr int64_t kChannelChunk = 256;  // kLanes rows of lanes: 16 KB
  const int64_t chunks = (channels + kChannelChunk - 1) / kChannelChunk;
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(images * plane_size * channels))
  for (int64_t task = 0; task < images * chunks; ++task) {
    const int64_t c0 = task % chunks * kChannelChunk, width = std::min(kChannelChunk, channels - c0);
    const float* image = x + task / chunks * plane_size * channels + c0;
    double lanes[kLanes][kChannelChunk];
    for (auto& lane : lanes) std::fill_n(lane, width, 0.0);  // only the chunk's width: few channels, few zeros
    int64_t r = 0;
    for (; r + kLanes <= plane_size; r += kLanes)
      for (int j = 0; j < kLanes; ++j) {
        const float* row = image + (r + j) * channels;
        for (int64_t c = 0; c < width; ++c) lanes[j][c] += static_cast<double>(row[c]);
      }
    for (int tree = kLanes / 2; tree > 0; tree /= 2)
      for (int j = 0; j < tree; ++j)
        for (int64_t c = 0; c < width; ++c) lanes[j][c] += lanes[j + tree][c];
    for (; r < plane_size; ++r) {
      const float* row = image + r * channels;
      for (int64_t c = 0; c < width; ++c) lanes[0][c] += static_cast<double>(row[c]);
    }
    float* averages = y + task / chunks * channels + c0;
    for (int64_t c = 0; c < width; ++c) averages[c] = static_cast<float>((0.0 + lanes[0][c]) / divisor);
  }
}

// Batched average and adaptive max pooling over at least this many channels run channels-last on the CPU (through
// copies for contiguous tensors), the channels as SIMD lanes.
constexpr int64_t kChannelsLastFrom = 16;
// The channels-last backward scatters kChannelBlock channels at a time (16 ran at half the speed on 32x64x56x56).
constexpr int64_t kChannelBlock = 64;

// A window's run (poolmath::for_each_run): `length` elements from flat position `first`.
struct Run {
  int64_t first, length;
};

// sum += line_sum's sum of a run of `length` >= kLanes positions, each kLanes adjacent channels of channels-last
// input.
inline void add_long_run_sum(LaneSums& sum, const float* base, int64_t length, int64_t channels) {
  LaneSums lanes[kLanes] = {};
  int64_t r = 0;
  for (; r + kLanes <= length; r += kLanes)
    for (int j = 0; j < kLanes; ++j) add_lanes(lanes[j], base + (r + j) * channels);
  for (int width = kLanes / 2; width > 0; width /= 2)
    for (int j = 0; j < width; ++j) lanes[j] += lanes[j + width];
  for (; r < length; ++r) add_lanes(lanes[0], base + r * channels);
  sum += lanes[0];
}

// The window sums of kVectors * kLanes adjacent channels of channels-last `image`, each as window_sum sums it: its
// runs in order, each in line_sum's lanes (a run shorter than the lanes from +0 in order). Every accumulator stays in
// a register: in stack arrays over a variable width, or captured by a per-run callback, the loads and stores of the
// partial sums bounded the loop.
template <int kVectors>
inline void block_window_sums(const std::vector<Run>& runs, const float* image, int64_t channels,
                              LaneSums (&sum)[kVectors]) {
  for (int v = 0; v < kVectors; ++v) sum[v] = LaneSums{};
  for (const Run& run : runs) {
    const float* base = image + run.first * channels;
    if (run.length >= kLanes) {
      for (int v = 0; v < kVectors; ++v) add_long_run_sum(sum[v], base + v * kLanes, run.length, channels);
      continue;
    }
    LaneSums part[kVectors] = {};
    for (int64_t r = 0; r < run.length; ++r)
      for (int v = 0; v < kVectors; ++v) add_lanes(part[v], base + r * channels + v * kLanes);
    for (int v = 0; v < kVectors; ++v) sum[v] += part[v];
  }
}

// Channels [c, c + kVectors * kLanes) of one output position: block_window_sums over the divisor.
template <int kVectors>
inline void block_averages(const std::vector<Run>& runs, const float* image, int64_t channels,
                           const LaneDivisor& divisor, float* averages) {
  LaneSums sum[kVectors];
  block_window_sums(runs, image, channels, sum);
  for (int v = 0; v < kVectors; ++v) {
    const LaneFloats average = __builtin_convertvector(divided(sum[v], divisor), LaneFloats);
    std::memcpy(averages + v * kLanes, &average, sizeof average);
  }
}

// Average pooling of channels-last x (N, S, C) on the CPU, the channels as SIMD lanes (block_averages: 32 at a time,
// then 8; the last C % 8 one by one in the same order), so with window_sum's bits. window_of(o) gives output o's
// window. A thread takes whole output positions, so their windows are found once for all channels.
template <typename WindowOf>
void average_forward_channels_last(const poolmath::PoolGeometry& g, int64_t channels, const float* x, float* y,
                                   const WindowOf& window_of) {
  constexpr int kWide = 4;  // vectors of a wide block: 1, 2, 4 and 8 ran within noise of each other on 32x64x56x56
  const int64_t images = g.planes / channels, in = g.in_size(), out = g.out_size();
#pragma omp parallel if (cpu::worth_parallel(g.planes * in))
  {
    const WindowOf window_at = window_of;  // each thread reads its own copy of what the functor holds
    thread_local std::vector<Run> runs;  // a position's window, kept per thread (no allocation per training step)
#pragma omp for schedule(static)
    for (int64_t position = 0; position < images * out; ++position) {
      const poolmath::AvgWindow w = window_at(position % out);
      runs.clear();
      poolmath::for_each_run(g, w.start, w.end,
                             [&](int64_t first, int64_t length) { runs.push_back({first, length}); });
      const float* image = x + position / out * in * channels;
      float* averages = y + position * channels;
      const LaneDivisor divisor(w.divisor);
      int64_t c = 0;
      for (; c + kWide * kLanes <= channels; c += kWide * kLanes)
        block_averages<kWide>(runs, image + c, channels, divisor, averages + c);
      for (; c + kLanes <= channels; c += kLanes) block_averages<1>(runs, image + c, channels, divisor, averages + c);
      for (; c < channels; ++c) averages[c] = poolmath::window_average(g, image + c, w, channels);
    }
  }
}

// Forward of every kind: y (and indices for max) from x; float32 on the CPU, any floating dtype on a GPU, where x
// may be channels-last (y and the indices then are too).
void run_forward(const poolmath::PoolGeometry& g, bool max, bool adaptive, const Tensor& x, Tensor& y,
                 Tensor* indices) {
  if (y.numel() == 0) return;  // an empty batch, or the empty channels average pooling takes
  int64_t* ip = indices != nullptr ? util::stored<int64_t>(*indices) : nullptr;
  if (x.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    const util::Launch launch(x);
    util::dispatch_element(x.dtype(), [&](auto element) {
      using T = decltype(element);
      const cuda::PoolForwardParams<T> p{g, cuda_kind(max, adaptive), util::stored<T>(x), util::stored<T>(y), ip,
                                         x.is_contiguous() ? 0 : x.size(1)};
      cuda::pool_forward(p, launch.sms, launch.stream);
    });
#else
    util::no_cuda("pooling");
#endif
    return;
  }
  const float* xp = util::stored<float>(x);
  float* yp = util::stored<float>(y);
  const int64_t in = g.in_size(), out = g.out_size();
  const bool plain_2x2 = max && !adaptive && poolmath::is_plain_2x2(g);
  const bool plain_2d = max && !adaptive && poolmath::is_plain_2d(g);
  // Every plane has the same windows: up to kListedWindows of them are found once (each costs divisions), not per
  // plane; more are found as they come (a list would grow with the output). The list's memory is kept per thread
  // (no allocation per training step).
  constexpr int64_t kListedWindows = 4096;
  const bool listed = !max && out <= kListedWindows;
  auto window_of = [&](const int64_t* oc) {
    return adaptive ? poolmath::adaptive_avg_pool_window(g, oc) : poolmath::avg_pool_window(g, oc);
  };
  thread_local std::vector<poolmath::AvgWindow> window_memory;
  std::vector<poolmath::AvgWindow>& windows = window_memory;  // the calling thread's, shared with the team below
  windows.clear();
  if (listed) for_each_output(g, [&](const int64_t* oc) { windows.push_back(window_of(oc)); });
  const bool whole_plane = listed && out == 1 && windows[0].end[0] - windows[0].start[0] == g.in[0] &&
                           windows[0].end[1] - windows[0].start[1] == g.in[1] &&
                           windows[0].end[2] - windows[0].start[2] == g.in[2];
  if (whole_plane) {
    if (x.is_contiguous()) whole_plane_averages(xp, g.planes, in, windows[0].divisor, yp);
    else whole_plane_averages_channels_last(xp, g.planes / x.size(1), in, x.size(1), windows[0].divisor, yp);
    return;
  }
  // The list by its address, not through `windows`: that vector lives in the calling thread's thread-local block,
  // beside the per-thread `runs` it writes at every position, and a team reading it position by position shared that
  // cache line with those writes (3x3 stride 2 on channels-last 32x64x56x56: 1.83x slower, A/B on the 2-core Xeon).
  const poolmath::AvgWindow* const window_list = windows.data();
  auto listed_window = [&, window_list](int64_t o) {
    if (listed) return window_list[o];
    int64_t oc[3];
    poolmath::unflatten(o, g.out, oc);
    return window_of(oc);
  };
  if (!x.is_contiguous()) {  // channels-last averages (max_forward_channels_last takes max pooling)
    average_forward_channels_last(g, x.size(1), xp, yp, listed_window);
    return;
  }
  // Batched averages over many channels go through channels-last copies: the channels as SIMD lanes beat the plane
  // by plane walk by more than the two transposes cost (3x3 stride 2 on 32x64x56x56: 6.6 against 25 ms).
  if (!max && x.dim() >= 4 && x.size(1) >= kChannelsLastFrom && g.planes == x.size(0) * x.size(1)) {
    const Tensor x_cl = x.to(normrt::detail::channels_last_format(x.dim()));
    Tensor y_cl = empty(y.sizes(), TensorOptions().memory_format(x_cl.memory_format()));
    average_forward_channels_last(g, x.size(1), util::stored<float>(x_cl), util::stored<float>(y_cl), listed_window);
    y = y_cl.contiguous();
    return;
  }
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(g.planes * in))
  for (int64_t plane = 0; plane < g.planes; ++plane) {
    const float* xpl = xp + plane * in;
    int64_t o = plane * out;
    if (plain_2x2) {
      for (int64_t oy = 0; oy < g.out[1]; ++oy, o += g.out[2]) poolmath::max_row_2x2(g, xpl, oy, yp + o, ip + o);
      continue;
    }
    if (plain_2d) {
      for (int64_t oy = 0; oy < g.out[1]; ++oy, o += g.out[2]) poolmath::max_row_2d(g, xpl, oy, yp + o, ip + o);
      continue;
    }
    if (listed) {
      for (const poolmath::AvgWindow& w : windows) yp[o++] = poolmath::window_average(g, xpl, w);
      continue;
    }
    for_each_output(g, [&](const int64_t* oc) {
      if (max && adaptive) {
        poolmath::adaptive_max_window(g, xpl, oc, yp[o], ip[o]);
      } else if (max) {
        poolmath::max_window(g, xpl, oc, yp[o], ip[o]);
      } else {
        yp[o] = poolmath::window_average(g, xpl, window_of(oc));
      }
      ++o;
    });
  }
}

// The backward of average_forward_channels_last: dy and dx channels-last, the channels kChannelBlock at a time as
// SIMD lanes, each output's share added to its window output by output (the contiguous scatter's terms, in its
// order). `whole`: a global pool's window, whose share every element gets once.
void average_backward_channels_last(const poolmath::PoolGeometry& g, bool adaptive, int64_t channels, const float* dy,
                                    float* dx, const poolmath::AvgWindow* whole) {
  const int64_t images = g.planes / channels, in = g.in_size(), out = g.out_size();
  const int64_t blocks = (channels + kChannelBlock - 1) / kChannelBlock;
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(g.planes * in))
  for (int64_t task = 0; task < images * blocks; ++task) {
    const int64_t n = task / blocks, c0 = task % blocks * kChannelBlock;
    const int64_t width = std::min(kChannelBlock, channels - c0);
    const float* dy_image = dy + n * out * channels + c0;
    float* dx_image = dx + n * in * channels + c0;
    float share[kChannelBlock];
    if (whole != nullptr) {
      for (int64_t c = 0; c < width; ++c) share[c] = 0.0f + poolmath::adaptive_avg_share(dy_image[c], *whole);
      for (int64_t s = 0; s < in; ++s) std::copy(share, share + width, dx_image + s * channels);
      continue;
    }
    for (int64_t s = 0; s < in; ++s) std::fill(dx_image + s * channels, dx_image + s * channels + width, 0.0f);
    int64_t o = 0;
    for_each_output(g, [&](const int64_t* oc) {
      const poolmath::AvgWindow w =
          adaptive ? poolmath::adaptive_avg_pool_window(g, oc) : poolmath::avg_pool_window(g, oc);
      for (int64_t c = 0; c < width; ++c) {
        const float grad = dy_image[o * channels + c];
        share[c] = adaptive ? poolmath::adaptive_avg_share(grad, w) : poolmath::avg_share(grad, w);
      }
      for (int64_t z = w.start[0]; z < w.end[0]; ++z)
        for (int64_t y = w.start[1]; y < w.end[1]; ++y)
          for (int64_t x = w.start[2]; x < w.end[2]; ++x) {
            float* element = dx_image + ((z * g.in[1] + y) * g.in[2] + x) * channels;
            for (int64_t c = 0; c < width; ++c) element[c] += share[c];
          }
      ++o;
    });
  }
}

// Indices of a max pooling's backward on the CPU, which scatters by them: one out of the plane would be a write past
// dx. The scatters clamp each index into the plane, without a branch, and keep the largest as unsigned (a negative
// one the largest of all); a plane whose largest is out of range records it, and the call throws once the loop is
// done, dx discarded. The check costs 15-30% of a contiguous 2x2 backward (4x64x112x112: 443 -> 510-580 us), about
// as much as a test in the loop or a pass over the indices before it did; the clamp keeps the loop one SIMD scatter
// in the channels-last case. (The CUDA kernels gather: an index outside its window matches no element there and adds
// nothing.)
class IndexCheck {
 public:
  explicit IndexCheck(int64_t plane_size) : plane_size_(plane_size) {}
  // The index to write through, into the plane; `largest` takes the index as given.
  static int64_t clamped(int64_t index, int64_t plane_size, uint64_t& largest) {
    const auto given = static_cast<uint64_t>(index);
    largest = std::max(largest, given);
    return static_cast<int64_t>(std::min(given, static_cast<uint64_t>(plane_size - 1)));
  }
  // After a plane's scatter: records its first index out of the plane, if `largest` says there is one.
  void check(uint64_t largest, const int64_t* indices, int64_t n) {
    if (largest < static_cast<uint64_t>(plane_size_)) return;
    const int64_t* bad = std::find_if(indices, indices + n, [this](int64_t index) {
      return static_cast<uint64_t>(index) >= static_cast<uint64_t>(plane_size_);
    });
#pragma omp critical(normrt_pool_index_check)
    if (!failed_) {
      failed_ = true;
      bad_index_ = *bad;
    }
  }
  void throw_if_failed() const {
    NORMRT_CHECK(!failed_, "max_pool_backward: Found an invalid max index: ", bad_index_, " (input planes hold ",
                 plane_size_, " elements)");
  }

 private:
  int64_t plane_size_, bad_index_ = 0;
  bool failed_ = false;
};

// Backward of every kind: dx of the input's shape from dy (and the indices for max), in dy's memory format: on a GPU
// channels-last dy (with the indices channels-last too) gives channels-last dx.
Tensor run_backward(const poolmath::PoolGeometry& g, bool max, bool adaptive, const Tensor& dy, const Tensor* indices,
                    const Tensor& input) {
  Tensor dx = empty(input.sizes(), TensorOptions(input.device()).dtype(dy.dtype()).memory_format(dy.memory_format()));
  if (dx.numel() == 0) return dx;
  const int64_t* ip = indices != nullptr ? util::stored<int64_t>(*indices) : nullptr;
  if (input.device().is_cuda()) {
#if NORMRT_WITH_CUDA
    const util::Launch launch(input);
    util::dispatch_element(dy.dtype(), [&](auto element) {
      using T = decltype(element);
      const cuda::PoolBackwardParams<T> p{g, cuda_kind(max, adaptive), util::stored<T>(dy), ip, util::stored<T>(dx),
                                          dy.is_contiguous() ? 0 : input.size(1)};
      cuda::pool_backward(p, launch.sms, launch.stream);
    });
#else
    util::no_cuda("pooling");
#endif
    return dx;
  }
  // Scatter, output by output, as PyTorch's CPU kernels: the same terms in the same order as the GPU's gather.
  const float* dyp = util::stored<float>(dy);
  float* dxp = util::stored<float>(dx);
  const int64_t in = g.in_size(), out = g.out_size();
  // Global average pooling (one window, the whole plane): every element gets 0 + the plane's share, written once.
  const bool global = adaptive && !max && out == 1;
  const int64_t origin[3] = {0, 0, 0};
  const poolmath::AvgWindow whole = global ? poolmath::adaptive_avg_pool_window(g, origin) : poolmath::AvgWindow{};
  if (!dy.is_contiguous()) {  // channels-last averages (max_backward_channels_last takes max pooling)
    average_backward_channels_last(g, adaptive, input.size(1), dyp, dxp, global ? &whole : nullptr);
    return dx;
  }
  // As the forward: batched averages over many channels through channels-last copies (3x3 stride 2 on
  // 32x64x56x56: 28 ms plane by plane).
  if (!max && !global && input.dim() >= 4 && input.size(1) >= kChannelsLastFrom &&
      g.planes == input.size(0) * input.size(1)) {
    const Tensor dy_cl = dy.to(normrt::detail::channels_last_format(dy.dim()));
    Tensor dx_cl = empty(input.sizes(), TensorOptions().memory_format(dy_cl.memory_format()));
    average_backward_channels_last(g, adaptive, input.size(1), util::stored<float>(dy_cl), util::stored<float>(dx_cl),
                                   nullptr);
    return dx_cl.contiguous();
  }
  IndexCheck check(in);
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(g.planes * in))
  for (int64_t plane = 0; plane < g.planes; ++plane) {
    const float* dypl = dyp + plane * out;
    float* dxpl = dxp + plane * in;
    if (global) {
      std::fill(dxpl, dxpl + in, 0.0f + poolmath::adaptive_avg_share(dypl[0], whole));
      continue;
    }
    std::fill(dxpl, dxpl + in, 0.0f);
    if (max) {
      const int64_t* ipl = ip + plane * out;
      uint64_t largest = 0;
      for (int64_t o = 0; o < out; ++o) dxpl[IndexCheck::clamped(ipl[o], in, largest)] += dypl[o];
      check.check(largest, ipl, out);
      continue;
    }
    int64_t o = 0;
    for_each_output(g, [&](const int64_t* oc) {
      if (adaptive) poolmath::adaptive_avg_backward_scatter(g, dypl[o], oc, dxpl);
      else poolmath::avg_backward_scatter(g, dypl[o], oc, dxpl);
      ++o;
    });
  }
  check.throw_if_failed();
  return dx;
}

// Max pooling (adaptive: adaptive max pooling) of channels-last x on the CPU: each output position's window walked
// as max_window (adaptive_max_window) walks it (scan order, NaN wins, the first of equal values, a window of -inf
// reporting its first element), every step over the channels as SIMD lanes; y and the indices channels-last too.
// The values and indices are max_window's (adaptive_max_window's).
void max_forward_channels_last(const poolmath::PoolGeometry& g, bool adaptive, int64_t channels, const float* x,
                               float* y, int64_t* indices) {
  const int64_t images = g.planes / channels, in = g.in_size(), out = g.out_size();
  const int64_t unit[3] = {1, 1, 1};
  const int64_t* dilation = adaptive ? unit : g.dilation;
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(g.planes * in))
  for (int64_t task = 0; task < images * out; ++task) {
    const int64_t n = task / out;
    int64_t oc[3], start[3], end[3];
    poolmath::unflatten(task % out, g.out, oc);
    if (adaptive) {
      for (int d = 0; d < 3; ++d) {
        start[d] = poolmath::adaptive_start(oc[d], g.in[d], g.out[d]);
        end[d] = poolmath::adaptive_end(oc[d], g.in[d], g.out[d]);
      }
    } else {
      poolmath::max_window_bounds(g, oc, start, end);
    }
    float* best = y + task * channels;
    int64_t* best_index = indices + task * channels;
    const int64_t first = (start[0] * g.in[1] + start[1]) * g.in[2] + start[2];
    for (int64_t c = 0; c < channels; ++c) {
      best[c] = -INFINITY;
      best_index[c] = first;
    }
    for (int64_t z = start[0]; z < end[0]; z += dilation[0])
      for (int64_t yy = start[1]; yy < end[1]; yy += dilation[1])
        for (int64_t xx = start[2]; xx < end[2]; xx += dilation[2]) {
          const int64_t i = (z * g.in[1] + yy) * g.in[2] + xx;
          const float* v = x + (n * in + i) * channels;
#pragma omp simd
          for (int64_t c = 0; c < channels; ++c) {
            const bool take = v[c] > best[c] || v[c] != v[c];
            best[c] = take ? v[c] : best[c];
            best_index[c] = take ? i : best_index[c];
          }
        }
  }
}

// Its backward: channels-last dx of `shape` from channels-last dy and indices, each image's outputs scattered in order
// (per channel the terms of the contiguous scatter, in its order: the same bits). An output's channels scatter as
// SIMD lanes (gather, add, scatter): their targets index * C + c differ, as their channels c do.
Tensor max_backward_channels_last(const poolmath::PoolGeometry& g, const Tensor& dy, const Tensor& indices,
                                  const Shape& shape) {
  const int64_t channels = shape[1], images = g.planes / channels, in = g.in_size(), out = g.out_size();
  Tensor dx = zeros(shape, TensorOptions().memory_format(dy.memory_format()));
  const float* dyp = util::stored<float>(dy);
  const int64_t* ip = util::stored<int64_t>(indices);
  float* dxp = util::stored<float>(dx);
  IndexCheck check(in);
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(g.planes * in))
  for (int64_t n = 0; n < images; ++n) {
    float* dxn = dxp + n * in * channels;
    uint64_t largest = 0;
    for (int64_t o = n * out; o < (n + 1) * out; ++o)
#pragma omp simd reduction(max : largest)
      for (int64_t c = 0; c < channels; ++c)
        dxn[IndexCheck::clamped(ip[o * channels + c], in, largest) * channels + c] += dyp[o * channels + c];
    check.check(largest, ip + n * out * channels, out * channels);
  }
  check.throw_if_failed();
  return dx;
}

void check_grad(const Tensor& grad_output, const Tensor& input, const Shape& expected, const char* op) {
  util::check_floating(grad_output, "grad_output");
  util::check_same_device(grad_output, input);
  NORMRT_CHECK(grad_output.sizes() == expected, op, ": grad_output shape ", shape_str(grad_output.sizes()),
               " does not match the output shape ", shape_str(expected));
}

// The backward of max pooling, adaptive or not, once its geometry is known: the operands checked, then channels-last
// ones natively where `native` (dy and the indices brought to the input's layout), the others as they are. The
// scatter by index serves both kinds on the CPU.
Tensor max_backward(const poolmath::PoolGeometry& g, bool adaptive, const Shape& shape, const Tensor& grad_output,
                    const Tensor& input, const Tensor& indices, bool native) {
  const char* op = adaptive ? "adaptive_max_pool_backward" : "max_pool_backward";
  check_grad(grad_output, input, shape, op);
  NORMRT_CHECK(indices.defined() && indices.dtype() == DType::Int64 && indices.sizes() == shape &&
                   indices.device() == input.device(),
               op, ": indices must be the int64 ", shape_str(shape), " tensor ",
               adaptive ? "adaptive_max_pool" : "max_pool", " returned");
  if (native) {
    const MemoryFormat layout = normrt::detail::channels_last_format(input.dim());
    const Tensor dy = grad_output.to(layout), laid_out_indices = indices.to(layout);
    const Tensor dx = input.device().is_cuda() ? run_backward(g, true, adaptive, dy, &laid_out_indices, input)
                                               : max_backward_channels_last(g, dy, laid_out_indices, input.sizes());
    return dx.to(input.memory_format());
  }
  return run_backward(g, true, adaptive, grad_output, &indices, input);
}

// Whether a channels-last pooling runs natively: with a batch dimension, on a GPU (every dtype) or in float32 on the
// CPU (the 16-bit dtypes go through contiguous float32 copies there).
bool native_channels_last(const Tensor& input, int spatial) {
  return input.dim() == spatial + 2 && (input.device().is_cuda() || input.dtype() == DType::Float32);
}

// The geometry of an adaptive pooling (max: adaptive_max_pool's words), every argument checked.
poolmath::PoolGeometry resolve_adaptive(const Tensor& input, int spatial, const std::vector<int64_t>& output_size,
                                        bool max = false) {
  const std::string op = op_name(max ? "adaptive_max_pool" : "adaptive_avg_pool", spatial);
  util::check_floating(input, "input");
  NORMRT_CHECK(spatial >= 1 && spatial <= 3, op, ": pooling is over 1, 2 or 3 spatial dimensions");
  if (spatial == 1) check_rank_1d(input, op);
  NORMRT_CHECK(input.dim() == spatial + 1 || input.dim() == spatial + 2, op, "(): Expected ", spatial + 1, "D or ",
               spatial + 2, "D tensor, but got", max ? ": " : " ", shape_str(input.sizes()));
  NORMRT_CHECK(output_size.size() == 1 || output_size.size() == static_cast<std::size_t>(spatial), op,
               ": output_size must be ", spatial);
  poolmath::PoolGeometry g;
  expand(output_size, spatial, 1, g.out, "");
  // PyTorch's words, quirks included: a 1-d pooling is the 2-d one of the input with a unit height, and that input
  // and the 2-d op are named; 3-d average pooling words its output sizes as 2-d; average pooling refuses a negative
  // output size first, max pooling only where it creates its output; 1-d and 2-d average pooling need non-empty
  // spatial dimensions only, the others every dimension after the first (an unbatched input's channels excepted).
  Shape named = input.sizes();
  if (spatial == 1) named.insert(named.end() - 1, 1);
  const std::string named_op = op_name(max ? "adaptive_max_pool" : "adaptive_avg_pool", spatial == 3 ? 3 : 2);
  const bool negative = std::any_of(g.out, g.out + 3, [](int64_t v) { return v < 0; });
  if (!max)
    NORMRT_CHECK(!negative,
                 "adaptive_avg_pool2d: elements of output_size must be greater than or equal to 0 but "
                 "received {",
                 spatial == 3 ? std::to_string(g.out[0]) + ", " : "", g.out[1], spatial == 3 ? "," : ", ", g.out[2],
                 "}");
  const auto rank = static_cast<int64_t>(named.size());
  for (int64_t d = !max && spatial < 3 ? rank - 2 : 1; d < rank; ++d)
    NORMRT_CHECK(named[static_cast<std::size_t>(d)] > 0, named_op,
                 "(): Expected input to have non-zero size for "
                 "non-batch dimensions, but input has sizes ",
                 shape_str(named), " with dimension ", d, " being empty");
  if (negative) {
    Shape out(named.begin(), named.end() - (spatial == 1 ? 2 : spatial));
    out.insert(out.end(), g.out + (spatial == 3 ? 0 : 1), g.out + 3);
    const int64_t first = *std::find_if(out.begin(), out.end(), [](int64_t v) { return v < 0; });
    NORMRT_THROW("Trying to create tensor with negative dimension ", first, ": ", shape_str(out));
  }
  const int64_t first_spatial = input.dim() - spatial;
  g.planes = 1;
  for (int64_t d = 0; d < first_spatial; ++d) g.planes *= input.size(d);
  for (int d = 0; d < spatial; ++d) g.in[3 - spatial + d] = input.size(first_spatial + d);
  return g;
}

// 16-bit operands go through float32 copies on the CPU only: the CUDA kernels take them as they are.
bool through_float32(const std::optional<DType>& reduced, const Tensor& input) {
  return reduced && !(input.defined() && input.device().is_cuda());
}

// Whether any operand is channels-last. Such calls run natively where native_channels_last says so and otherwise on
// contiguous copies; their results take the input's memory format (as PyTorch's do).
bool any_channels_last(std::initializer_list<const Tensor*> operands) {
  for (const Tensor* t : operands)
    if (t->defined() && !t->is_contiguous()) return true;
  return false;
}

// The backward passes read only the input's shape, dtype and device: a contiguous tensor with those, its elements
// left unset, stands in for a channels-last input without a transpose.
Tensor contiguous_stand_in(const Tensor& input) {
  return input.is_contiguous() ? input : empty(input.sizes(), TensorOptions(input.device()).dtype(input.dtype()));
}

}  // namespace

MaxPoolResult max_pool(const Tensor& input, int spatial, const PoolParams& params) {
  const normrt::detail::NvtxRange range("max_pool");
  const auto h = util::reduced_dtype("max_pool", {&input});
  if (through_float32(h, input)) {
    MaxPoolResult r = max_pool(util::widened(input), spatial, params);
    return {r.output.to(*h), r.indices};
  }
  const bool channels_last = any_channels_last({&input});
  if (channels_last && !native_channels_last(input, spatial)) {
    MaxPoolResult r = max_pool(input.contiguous(), spatial, params);
    return {r.output.to(input.memory_format()), r.indices.to(input.memory_format())};
  }
  const poolmath::PoolGeometry g = resolve_pool(input, spatial, params, true);
  const Shape shape = output_shape(input, spatial, g);
  const TensorOptions options = TensorOptions(input.device()).memory_format(input.memory_format());
  MaxPoolResult r{empty(shape, TensorOptions(options).dtype(input.dtype())),
                  empty(shape, TensorOptions(options).dtype(DType::Int64))};
  if (channels_last && input.device().is_cpu()) {
    max_forward_channels_last(g, false, input.size(1), util::stored<float>(input), util::stored<float>(r.output),
                              util::stored<int64_t>(r.indices));
  } else {
    run_forward(g, true, false, input, r.output, &r.indices);
  }
  return r;
}

Tensor max_pool_backward(const Tensor& grad_output, const Tensor& input, const Tensor& indices, int spatial,
                         const PoolParams& params) {
  const normrt::detail::NvtxRange range("max_pool_backward");
  const auto h = util::reduced_dtype("max_pool_backward", {&grad_output, &input});
  if (through_float32(h, input))
    return max_pool_backward(util::widened(grad_output), util::widened(input), indices, spatial, params).to(*h);
  const bool channels_last = any_channels_last({&grad_output, &input, &indices});
  const bool native = channels_last && native_channels_last(input, spatial);
  if (channels_last && !native)
    return max_pool_backward(grad_output.contiguous(), contiguous_stand_in(input), indices.contiguous(), spatial,
                             params)
        .to(input.memory_format());
  const poolmath::PoolGeometry g = resolve_pool(input, spatial, params, true);
  return max_backward(g, false, output_shape(input, spatial, g), grad_output, input, indices, native);
}

Tensor avg_pool(const Tensor& input, int spatial, const PoolParams& params) {
  const normrt::detail::NvtxRange range("avg_pool");
  if (any_channels_last({&input}) && !native_channels_last(input, spatial))
    return avg_pool(input.contiguous(), spatial, params).to(input.memory_format());
  const auto h = util::reduced_dtype("avg_pool", {&input});
  if (through_float32(h, input))
    return avg_pool(util::widened(input), spatial, params).to(*h);
  const poolmath::PoolGeometry g = resolve_pool(input, spatial, params, false);
  Tensor y = empty(output_shape(input, spatial, g),
                   TensorOptions(input.device()).dtype(input.dtype()).memory_format(input.memory_format()));
  run_forward(g, false, false, input, y, nullptr);
  return y;
}

Tensor avg_pool_backward(const Tensor& grad_output, const Tensor& input, int spatial, const PoolParams& params) {
  const normrt::detail::NvtxRange range("avg_pool_backward");
  const bool channels_last = any_channels_last({&grad_output, &input});
  if (channels_last && !native_channels_last(input, spatial))
    return avg_pool_backward(grad_output.contiguous(), contiguous_stand_in(input), spatial, params)
        .to(input.memory_format());
  const auto h = util::reduced_dtype("avg_pool_backward", {&grad_output, &input});
  if (through_float32(h, input))
    return avg_pool_backward(util::widened(grad_output), util::widened(input), spatial, params).to(*h);
  const poolmath::PoolGeometry g = resolve_pool(input, spatial, params, false);
  check_grad(grad_output, input, output_shape(input, spatial, g), "avg_pool_backward");
  const Tensor dy = channels_last ? grad_output.to(normrt::detail::channels_last_format(input.dim())) : grad_output;
  return run_backward(g, false, false, dy, nullptr, input).to(input.memory_format());
}

Tensor adaptive_avg_pool(const Tensor& input, int spatial, const std::vector<int64_t>& output_size) {
  const normrt::detail::NvtxRange range("adaptive_avg_pool");
  if (any_channels_last({&input}) && !native_channels_last(input, spatial))
    return adaptive_avg_pool(input.contiguous(), spatial, output_size).to(input.memory_format());
  const auto h = util::reduced_dtype("adaptive_avg_pool", {&input});
  if (through_float32(h, input))
    return adaptive_avg_pool(util::widened(input), spatial, output_size).to(*h);
  const poolmath::PoolGeometry g = resolve_adaptive(input, spatial, output_size);
  Tensor y = empty(output_shape(input, spatial, g),
                   TensorOptions(input.device()).dtype(input.dtype()).memory_format(input.memory_format()));
  run_forward(g, false, true, input, y, nullptr);
  return y;
}

Tensor adaptive_avg_pool_backward(const Tensor& grad_output, const Tensor& input, int spatial) {
  const normrt::detail::NvtxRange range("adaptive_avg_pool_backward");
  const bool channels_last = any_channels_last({&grad_output, &input});
  if (channels_last && !native_channels_last(input, spatial))
    return adaptive_avg_pool_backward(grad_output.contiguous(), contiguous_stand_in(input), spatial)
        .to(input.memory_format());
  const auto h = util::reduced_dtype("adaptive_avg_pool_backward", {&grad_output, &input});
  if (through_float32(h, input))
    return adaptive_avg_pool_backward(util::widened(grad_output), util::widened(input), spatial).to(*h);
  std::vector<int64_t> output_size(grad_output.sizes().end() - std::min<int64_t>(spatial, grad_output.dim()),
                                   grad_output.sizes().end());
  const poolmath::PoolGeometry g = resolve_adaptive(input, spatial, output_size);
  check_grad(grad_output, input, output_shape(input, spatial, g), "adaptive_avg_pool_backward");
  const Tensor dy = channels_last ? grad_output.to(normrt::detail::channels_last_format(input.dim())) : grad_output;
  return run_backward(g, false, true, dy, nullptr, input).to(input.memory_format());
}

MaxPoolResult adaptive_max_pool(const Tensor& input, int spatial, const std::vector<int64_t>& output_size) {
  const normrt::detail::NvtxRange range("adaptive_max_pool");
  const auto h = util::reduced_dtype("adaptive_max_pool", {&input});
  if (through_float32(h, input)) {
    MaxPoolResult r = adaptive_max_pool(util::widened(input), spatial, output_size);
    return {r.output.to(*h), r.indices};
  }
  const bool channels_last = any_channels_last({&input});
  if (channels_last && !native_channels_last(input, spatial)) {
    MaxPoolResult r = adaptive_max_pool(input.contiguous(), spatial, output_size);
    return {r.output.to(input.memory_format()), r.indices.to(input.memory_format())};
  }
  const poolmath::PoolGeometry g = resolve_adaptive(input, spatial, output_size, true);
  const Shape shape = output_shape(input, spatial, g);
  // On the CPU, channels-last input runs with the channels as SIMD lanes, and so does batched contiguous input over
  // many channels, through channels-last copies: each window's walk is a chain of dependent selects, which lanes
  // of channels run side by side (global max pooling of 32x2048x7x7: 3.1 ms plane by plane on two cores).
  const bool many_channels = input.dim() >= 4 && input.dim() == spatial + 2 && input.size(1) >= kChannelsLastFrom;
  if (input.device().is_cpu() && (channels_last || many_channels)) {
    const MemoryFormat layout = normrt::detail::channels_last_format(input.dim());
    const Tensor x = input.to(layout);
    MaxPoolResult r{empty(shape, TensorOptions().memory_format(layout)),
                    empty(shape, TensorOptions().dtype(DType::Int64).memory_format(layout))};
    max_forward_channels_last(g, true, input.size(1), util::stored<float>(x), util::stored<float>(r.output),
                              util::stored<int64_t>(r.indices));
    return {r.output.to(input.memory_format()), r.indices.to(input.memory_format())};
  }
  const TensorOptions options = TensorOptions(input.device()).memory_format(input.memory_format());
  MaxPoolResult r{empty(shape, TensorOptions(options).dtype(input.dtype())),
                  empty(shape, TensorOptions(options).dtype(DType::Int64))};
  run_forward(g, true, true, input, r.output, &r.indices);
  return r;
}

Tensor adaptive_max_pool_backward(const Tensor& grad_output, const Tensor& input, const Tensor& indices, int spatial) {
  const normrt::detail::NvtxRange range("adaptive_max_pool_backward");
  const auto h = util::reduced_dtype("adaptive_max_pool_backward", {&grad_output, &input});
  if (through_float32(h, input))
    return adaptive_max_pool_backward(util::widened(grad_output), util::widened(input), indices, spatial).to(*h);
  const bool channels_last = any_channels_last({&grad_output, &input, &indices});
  const bool native = channels_last && native_channels_last(input, spatial);
  if (channels_last && !native)
    return adaptive_max_pool_backward(grad_output.contiguous(), contiguous_stand_in(input), indices.contiguous(),
                                      spatial)
        .to(input.memory_format());
  NORMRT_CHECK(grad_output.defined(), "adaptive_max_pool_backward: grad_output is undefined");
  const std::vector<int64_t> output_size(grad_output.sizes().end() - std::min<int64_t>(spatial, grad_output.dim()),
                                         grad_output.sizes().end());
  const poolmath::PoolGeometry g = resolve_adaptive(input, spatial, output_size, true);
  return max_backward(g, true, output_shape(input, spatial, g), grad_output, input, indices, native);
}

}  // namespace normrt::ops
