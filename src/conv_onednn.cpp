// CPU convolution through oneDNN, the library behind PyTorch's CPU convolutions: JIT-compiled direct kernels on
// blocked layouts (nChw16c with AVX-512), about twice im2col + OpenBLAS on ResNet's 16-64-channel 3x3 layers on the
// build machines (benchmarks/results/2026-12-01-cpu-session21.md). Tensors stay NCHW for the rest of normrt: each
// call reorders its operands into the layouts the primitive chose and its result back, through per-thread buffers
// kept between calls, and the primitive's scratchpad is one of those buffers too (no working memory is allocated
// per call once a shape has been seen). Primitives are built once per geometry and thread. CPU primitives are
// run-to-run deterministic for a fixed environment (oneDNN's promise, thread count included).
#include <dnnl.hpp>

#include <array>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "conv_backend.h"
#include "normrt/error.h"

namespace normrt::ops::detail {

namespace {

using dnnl::memory;
using Tag = memory::format_tag;

const dnnl::engine& cpu_engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& thread_stream() {
  thread_local dnnl::stream stream(cpu_engine());
  return stream;
}

// Growing 64-byte-aligned memory, kept by its owner between calls.
class Buffer {
 public:
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { std::free(data_); }
  void* get(std::size_t bytes) {
    if (bytes > capacity_) {
      const std::size_t rounded = (bytes + 63) / 64 * 64;
      void* grown = std::aligned_alloc(64, rounded);
      if (grown == nullptr) throw std::bad_alloc();
      std::free(data_);
      data_ = grown;
      capacity_ = rounded;
    }
    return data_;
  }

 private:
  void* data_ = nullptr;
  std::size_t capacity_ = 0;
};

// A thread's buffers: one per operand slot of a call (x or dx, w or dw, dy or y, dy in a second layout, a weight
// gradient before it is added), and the scratchpad. A slot is reused only once its previous content is consumed.
enum Slot { kSource, kWeights, kDestination, kOtherDestination, kAccumulated, kScratchpad, kSlots };
Buffer& buffer(Slot slot) {
  thread_local Buffer buffers[kSlots];
  return buffers[slot];
}

memory::dims trailing(const std::array<int64_t, 3>& values, int spatial, int64_t minus = 0) {
  memory::dims out;
  for (int d = 3 - spatial; d < 3; ++d) out.push_back(values[static_cast<std::size_t>(d)] - minus);
  return out;
}

// An activation's descriptor: plain (NCHW, or NHWC for channels-last tensors) or left to the primitive (any).
memory::desc activation_desc(const ConvGeometry& g, int64_t channels, const std::array<int64_t, 3>& extent, bool plain,
                             bool channels_last) {
  memory::dims dims{g.n, channels};
  for (int64_t e : trailing(extent, g.spatial)) dims.push_back(e);
  static constexpr Tag kPlain[] = {Tag::ncw, Tag::nchw, Tag::ncdhw};
  static constexpr Tag kChannelsLast[] = {Tag::nwc, Tag::nhwc, Tag::ndhwc};
  const Tag tag = !plain ? Tag::any : channels_last ? kChannelsLast[g.spatial - 1] : kPlain[g.spatial - 1];
  return memory::desc(dims, memory::data_type::f32, tag);
}

memory::desc weights_desc(const ConvGeometry& g, bool plain) {
  memory::dims dims;
  if (g.groups > 1) dims.push_back(g.groups);
  dims.push_back(g.o_per_group());
  dims.push_back(g.c_per_group());
  for (int64_t e : trailing(g.kernel, g.spatial)) dims.push_back(e);
  static constexpr Tag kPlain[] = {Tag::oiw, Tag::oihw, Tag::oidhw};
  static constexpr Tag kGrouped[] = {Tag::goiw, Tag::goihw, Tag::goidhw};
  const Tag tag = !plain ? Tag::any : g.groups > 1 ? kGrouped[g.spatial - 1] : kPlain[g.spatial - 1];
  return memory::desc(dims, memory::data_type::f32, tag);
}

// An operand of a primitive: normrt's plain layout, the layout the primitive chose, and the reorders between them
// where the two differ.
struct Operand {
  memory::desc plain, chosen;
  std::optional<dnnl::reorder> to_chosen, to_plain;

  Operand(const memory::desc& plain_desc, const memory::desc& chosen_desc, bool read, bool written)
      : plain(plain_desc), chosen(chosen_desc) {
    if (plain == chosen) return;
    const dnnl::engine& e = cpu_engine();
    if (read) to_chosen = dnnl::reorder(dnnl::reorder::primitive_desc(e, plain, e, chosen));
    if (written) to_plain = dnnl::reorder(dnnl::reorder::primitive_desc(e, chosen, e, plain));
  }
  bool reordered() const { return plain != chosen; }
};

// A read operand as the primitive wants it: `data` itself, or its copy in the slot's buffer.
memory input_memory(const Operand& op, const float* data, Slot slot) {
  memory user(op.plain, cpu_engine(), const_cast<float*>(data));
  if (!op.reordered()) return user;
  memory chosen(op.chosen, cpu_engine(), buffer(slot).get(op.chosen.get_size()));
  op.to_chosen->execute(thread_stream(), user, chosen);
  return chosen;
}

// Where the primitive writes an output for `data`: `data` itself, or the slot's buffer (then finish_output).
memory output_memory(const Operand& op, float* data, Slot slot) {
  if (!op.reordered()) return memory(op.plain, cpu_engine(), data);
  return memory(op.chosen, cpu_engine(), buffer(slot).get(op.chosen.get_size()));
}

void finish_output(const Operand& op, memory written, float* data) {
  if (!op.reordered()) return;
  memory user(op.plain, cpu_engine(), data);
  op.to_plain->execute(thread_stream(), written, user);
}

memory scratchpad(const dnnl::primitive_desc_base& pd) {
  const memory::desc desc = pd.scratchpad_desc();
  return memory(desc, cpu_engine(), buffer(kScratchpad).get(desc.get_size()));
}

dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// The primitives of one geometry (forward with or without bias; the backward ones built when first asked for).
struct Prepared {
  ConvGeometry g;
  bool channels_last;
  memory::dims strides, dilates, pad_l, pad_r;
  memory::desc bias_desc;  // zero: no bias
  dnnl::convolution_forward::primitive_desc forward_pd;
  dnnl::convolution_forward forward;
  Operand x, w, y;

  struct BackwardData {
    dnnl::convolution_backward_data::primitive_desc pd;
    dnnl::convolution_backward_data primitive;
    Operand dy, w, dx;
  };
  struct BackwardWeights {
    dnnl::convolution_backward_weights::primitive_desc pd;
    dnnl::convolution_backward_weights primitive;
    Operand x, dy, dw;
  };
  std::optional<BackwardData> backward_data;
  std::optional<BackwardWeights> backward_weights;

  Prepared(const ConvGeometry& geometry, bool with_bias, bool channels_last_activations)
      : g(geometry),
        channels_last(channels_last_activations),
        strides(trailing(g.stride, g.spatial)),
        dilates(trailing(g.dilation, g.spatial, 1)),
        pad_l(trailing(g.pad_before, g.spatial)),
        pad_r(trailing(g.pad_after, g.spatial)),
        bias_desc(with_bias ? memory::desc({g.o}, memory::data_type::f32, Tag::x) : memory::desc()),
        forward_pd(make_forward_pd()),
        forward(forward_pd),
        x(activation_desc(g, g.c, g.in, true, channels_last), forward_pd.src_desc(), true, false),
        w(weights_desc(g, true), forward_pd.weights_desc(), true, false),
        y(activation_desc(g, g.o, g.out, true, channels_last), forward_pd.dst_desc(), false, true) {}

  // The backward primitives, or null where oneDNN has none for g (the caller then uses im2col).
  BackwardData* data_gradient() {
    return built_once(backward_data, data_refused, [&] {
      const dnnl::convolution_backward_data::desc desc(dnnl::algorithm::convolution_direct, any_src(), any_weights(),
                                                       any_dst(), strides, dilates, pad_l, pad_r);
      const dnnl::convolution_backward_data::primitive_desc pd(desc, user_scratchpad(), cpu_engine(), forward_pd);
      return BackwardData{pd, dnnl::convolution_backward_data(pd), Operand(y.plain, pd.diff_dst_desc(), true, false),
                          Operand(w.plain, pd.weights_desc(), true, false),
                          Operand(x.plain, pd.diff_src_desc(), false, true)};
    });
  }

  BackwardWeights* weights_gradient() {
    return built_once(backward_weights, weights_refused, [&] {
      const dnnl::convolution_backward_weights::desc desc(dnnl::algorithm::convolution_direct, any_src(),
                                                          any_weights(), any_dst(), strides, dilates, pad_l, pad_r);
      const dnnl::convolution_backward_weights::primitive_desc pd(desc, user_scratchpad(), cpu_engine(), forward_pd);
      return BackwardWeights{pd, dnnl::convolution_backward_weights(pd), Operand(x.plain, pd.src_desc(), true, false),
                             Operand(y.plain, pd.diff_dst_desc(), true, false),
                             Operand(w.plain, pd.diff_weights_desc(), false, true)};
    });
  }

 private:
  // The operands in layouts left to the primitive, except channels-last activations: oneDNN has direct kernels for
  // NHWC, so those run as they are, without reorders.
  memory::desc any_src() const { return activation_desc(g, g.c, g.in, channels_last, channels_last); }
  memory::desc any_weights() const { return weights_desc(g, false); }
  memory::desc any_dst() const { return activation_desc(g, g.o, g.out, channels_last, channels_last); }

  dnnl::convolution_forward::primitive_desc make_forward_pd() const {
    const dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                               any_src(), any_weights(), bias_desc, any_dst(), strides, dilates,
                                               pad_l, pad_r);
    return dnnl::convolution_forward::primitive_desc(desc, user_scratchpad(), cpu_engine());
  }

  // slot's primitives, built by make() on the first call; null, then and later, if oneDNN refused them.
  template <typename Built, typename Make>
  static Built* built_once(std::optional<Built>& slot, bool& refused, const Make& make) {
    if (!slot && !refused) {
      try {
        slot.emplace(make());
      } catch (const dnnl::error&) {
        refused = true;
      }
    }
    return slot ? &*slot : nullptr;
  }

  bool data_refused = false, weights_refused = false;
};

using Key = std::tuple<int, int64_t, int64_t, int64_t, int64_t, std::array<int64_t, 3>, std::array<int64_t, 3>,
                       std::array<int64_t, 3>, std::array<int64_t, 3>, std::array<int64_t, 3>, std::array<int64_t, 3>,
                       bool, bool>;

// Geometries whose primitives a thread keeps: a training run has a few dozen; a program that sees ever new shapes
// (batch sizes, image sizes) starts over when it reaches this, rather than growing without bound.
constexpr std::size_t kKeptGeometries = 256;

// This thread's primitives for g, built on first use; null when oneDNN has no implementation for g (remembered).
Prepared* prepared(const ConvGeometry& g, bool with_bias, bool channels_last) {
  thread_local std::map<Key, std::unique_ptr<Prepared>> cache;
  const Key key{g.spatial, g.n,          g.c,          g.o,        g.groups,   g.in,     g.kernel,
                g.stride,  g.pad_before, g.pad_after, g.dilation, with_bias, channels_last};
  const auto found = cache.find(key);
  if (found != cache.end()) return found->second.get();
  if (cache.size() >= kKeptGeometries) cache.clear();
  std::unique_ptr<Prepared>& entry = cache[key];
  try {
    entry = std::make_unique<Prepared>(g, with_bias, channels_last);
  } catch (const dnnl::error&) {
    entry.reset();
  }
  return entry.get();
}

void execute(const dnnl::primitive& primitive, std::unordered_map<int, memory> args,
             const dnnl::primitive_desc_base& pd) {
  args.emplace(DNNL_ARG_SCRATCHPAD, scratchpad(pd));
  primitive.execute(thread_stream(), args);
  thread_stream().wait();
}

// Runs fn, reporting oneDNN's failures as normrt errors.
template <typename Fn>
bool run(const char* what, const Fn& fn) {
  try {
    return fn();
  } catch (const dnnl::error& e) {
    NORMRT_THROW("oneDNN convolution ", what, ": ", e.what(), " (status ", static_cast<int>(e.status), ")");
  }
}

}  // namespace

bool onednn_conv_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y,
                         bool channels_last) {
  return run("forward", [&] {
    Prepared* p = prepared(g, bias != nullptr, channels_last);
    if (p == nullptr) return false;
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, input_memory(p->x, x, kSource)},
                                         {DNNL_ARG_WEIGHTS, input_memory(p->w, w, kWeights)}};
    if (bias != nullptr) args.emplace(DNNL_ARG_BIAS, memory(p->bias_desc, cpu_engine(), const_cast<float*>(bias)));
    const memory out = output_memory(p->y, y, kDestination);
    args.emplace(DNNL_ARG_DST, out);
    execute(p->forward, std::move(args), p->forward_pd);
    finish_output(p->y, out, y);
    return true;
  });
}

bool onednn_conv_backward(const ConvGeometry& g, const float* x, const float* dy, const float* w, float* dx, float* dw,
                          bool accumulate, bool channels_last) {
  return run("backward", [&] {
    Prepared* p = prepared(g, false, channels_last);
    Prepared::BackwardData* data = p != nullptr && dx != nullptr ? p->data_gradient() : nullptr;
    Prepared::BackwardWeights* weights = p != nullptr ? p->weights_gradient() : nullptr;
    if (weights == nullptr || (dx != nullptr && data == nullptr)) return false;
    // dy is reordered once for both gradients where their primitives chose the same layout (they do on AVX-512).
    const memory dy_for_weights = input_memory(weights->dy, dy, kDestination);
    if (dx != nullptr) {
      const memory dy_for_data = data->dy.chosen == weights->dy.chosen
                                     ? dy_for_weights
                                     : input_memory(data->dy, dy, kOtherDestination);
      const memory out = output_memory(data->dx, dx, kSource);
      execute(data->primitive,
              {{DNNL_ARG_DIFF_DST, dy_for_data},
               {DNNL_ARG_WEIGHTS, input_memory(data->w, w, kWeights)},
               {DNNL_ARG_DIFF_SRC, out}},
              data->pd);
      finish_output(data->dx, out, dx);
    }
    // Accumulating: the weight gradient goes to a plain buffer first, then is added.
    float* target = accumulate ? static_cast<float*>(buffer(kAccumulated).get(weights->dw.plain.get_size())) : dw;
    const memory out = output_memory(weights->dw, target, kWeights);
    execute(weights->primitive,
            {{DNNL_ARG_SRC, input_memory(weights->x, x, kSource)},
             {DNNL_ARG_DIFF_DST, dy_for_weights},
             {DNNL_ARG_DIFF_WEIGHTS, out}},
            weights->pd);
    finish_output(weights->dw, out, target);
    if (accumulate) {
      const int64_t n = g.o * g.patch_size();
      for (int64_t i = 0; i < n; ++i) dw[i] += target[i];
    }
    return true;
  });
}

}  // namespace normrt::ops::detail
