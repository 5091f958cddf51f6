// normrt::Tensor: a shared handle to a dense, contiguous array on the host or a CUDA device.
// Copying a Tensor shares its storage (like torch::Tensor); clone() copies the data.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "normrt/device.h"
#include "normrt/half.h"
#include "normrt/scalar.h"
#include "normrt/storage.h"

namespace normrt {

class Generator;

using Shape = std::vector<int64_t>;

// Float16 and BFloat16 elements are normrt::Half and normrt::BFloat16 (normrt/half.h): tensors of them are created,
// converted (to(DType)), copied, printed and saved; ops that do not take them refuse them by name. Bool elements are
// C++ bools (one byte, 0 or 1): the results of comparisons (normrt/ops/comparison.h) and the masks of where and
// masked_fill; converted to a number they are 0 and 1, and a number converts to true where it is not zero (NaN too).
enum class DType { Float32, Float16, BFloat16, Int64, Bool };
// How a tensor's elements lie in memory; sizes are always logical (N, C, H, W) / (N, C, D, H, W). Contiguous:
// row-major (NCHW). ChannelsLast (4-d) and ChannelsLast3d (5-d): channels innermost (NHWC, NDHWC), as PyTorch's
// torch.channels_last / channels_last_3d. Ops that do not take a channels-last tensor refuse it (data<T>() does);
// to_vector(), printing and saving give logical order.
enum class MemoryFormat { Contiguous, ChannelsLast, ChannelsLast3d };
const char* memory_format_name(MemoryFormat format);

std::size_t element_size(DType dtype);
const char* dtype_name(DType dtype);
// "[2, 3, 4]", as PyTorch prints sizes in its messages.
std::string shape_str(const Shape& shape);
int64_t shape_numel(const Shape& shape);

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::Float32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::Int64; }
template <> constexpr DType dtype_of<Half>() { return DType::Float16; }
template <> constexpr DType dtype_of<BFloat16>() { return DType::BFloat16; }
template <> constexpr DType dtype_of<bool>() { return DType::Bool; }
// float32, float16 and bfloat16.
bool is_floating(DType dtype);

class TensorOptions {
 public:
  TensorOptions() = default;
  TensorOptions(Device device) : device_(device) {}  // NOLINT: Device converts implicitly, as in libtorch
  TensorOptions& device(Device d) { device_ = d; return *this; }
  TensorOptions& dtype(DType t) { dtype_ = t; return *this; }
  // How empty() and from_blob() lay out (or find) the elements; channels-last needs a 4-d or 5-d shape.
  TensorOptions& memory_format(MemoryFormat f) { memory_format_ = f; return *this; }
  const Device& device() const { return device_; }
  DType dtype() const { return dtype_; }
  MemoryFormat memory_format() const { return memory_format_; }

 private:
  Device device_ = Device::cpu();
  DType dtype_ = DType::Float32;
  MemoryFormat memory_format_ = MemoryFormat::Contiguous;
};

constexpr int64_t kMaxDims = 5;

class Tensor;
namespace detail {
// Entries [start, start + length) of t's dim 0 as a view: the same storage (and version counter) at an offset; in
// every memory format they are one block of memory. For normrt's own code (a BatchNorm call's per-channel outputs
// are views of one allocation); the public ops::narrow copies.
Tensor leading_rows(const Tensor& t, int64_t start, int64_t length);
// A 0-dim tensor of `value` as PyTorch converts a number in arithmetic: without full()'s range check, so 1e6 becomes
// a float16 infinity.
Tensor wrapped_number(Scalar value, DType dtype, Device device);
// What full() and fill_ refuse: a finite value beyond the dtype's largest ("value cannot be converted to type at::Half
// without overflow"; infinities and NaN fill floating dtypes), or one int64 cannot hold.
void check_fits(Scalar value, DType dtype);
}  // namespace detail

class Tensor {
 public:
  Tensor() = default;  // undefined: holds no storage

  bool defined() const { return impl_ != nullptr; }
  const Shape& sizes() const;
  int64_t size(int64_t dim) const;  // negative dims count from the end
  int64_t dim() const { return static_cast<int64_t>(sizes().size()); }
  int64_t numel() const;
  DType dtype() const;
  const Device& device() const;
  MemoryFormat memory_format() const;
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * element_size(dtype()); }

  // The elements, for contiguous tensors of dtype T (refused otherwise).
  template <typename T> T* data() { check_access(dtype_of<T>()); return static_cast<T*>(raw_data()); }
  template <typename T> const T* data() const { check_access(dtype_of<T>()); return static_cast<const T*>(raw_data()); }
  // The memory, in memory_format()'s order.
  void* raw_data() const;
  bool is_contiguous() const { return memory_format() == MemoryFormat::Contiguous; }
  // Throws unless contiguous, naming `op`: "op: expected a contiguous tensor, got channels_last memory format ...".
  void check_contiguous(const char* op) const;

  // A tensor on `device` with the same values (this tensor itself when it already lives there).
  Tensor to(const Device& device) const;
  // The same values with memory in `format` (this tensor itself when already so), as PyTorch's
  // .to(memory_format=...): ChannelsLast needs a 4-d tensor, ChannelsLast3d a 5-d one.
  Tensor to(MemoryFormat format) const;
  Tensor contiguous() const { return to(MemoryFormat::Contiguous); }
  // The values converted to `dtype` on the same device (this tensor itself when it has that dtype already), as
  // PyTorch's .to(dtype) on a CPU: to a floating dtype rounded to nearest, ties to even (an int64 through float32);
  // to int64 truncated toward zero, NaN and values beyond int64's range giving INT64_MIN.
  Tensor to(DType dtype) const;
  Tensor clone() const;
  // Every element `value`, in place (memory format kept), converted and refused as full() does. Returns *this.
  Tensor& fill_(Scalar value);
  Tensor& zero_() { return fill_(0); }
  // Copies src's values into this tensor (same shape and dtype; any devices). Returns *this.
  Tensor& copy_(const Tensor& src);
  // Makes this tensor object (and so every handle to it: an optimizer's, a module's) refer to `src`'s storage,
  // shape and dtype, as `param.data = src` in PyTorch. The gradient is dropped. Module::to moves parameters so.
  void set_data(const Tensor& src);
  // The number of in-place modifications of this tensor's storage (PyTorch's _version). normrt's in-place
  // operations bump it; code that writes through data<T>() into a tensor a module may have saved calls
  // bump_version() itself.
  uint64_t version() const;
  void bump_version() const;
  // Marks the storage as used by work queued on its device's current stream (PyTorch's record_stream): use it when
  // a tensor allocated on one stream is read by work on another, so that freeing it waits for that work. In-place
  // writes (bump_version) record their stream themselves. No-op on the CPU.
  void record_stream() const;
  // Same storage, new shape with the same number of elements; one dim may be -1.
  Tensor reshape(const Shape& shape) const;
  // Reads the values to the host (synchronises with the device for CUDA tensors).
  template <typename T = float> std::vector<T> to_vector() const;
  // The single value of a one-element tensor as T (float, double, int64_t, Half, BFloat16), from any dtype, as
  // libtorch's item<T>(): a floating value to int64 truncated, and one T cannot hold refused ("value cannot be
  // converted to type int64_t without overflow").
  template <typename T = float> T item() const;

  // The gradient slot filled by modules' backward (undefined until then). Shared by all copies of this handle.
  const Tensor& grad() const;
  Tensor& mutable_grad();

  // True when both handles refer to the same tensor object (not merely the same values).
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }

 private:
  struct Impl;
  explicit Tensor(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  const Impl& impl() const;
  void check_dtype(DType expected) const;
  void check_access(DType expected) const;

  std::shared_ptr<Impl> impl_;

  friend Tensor empty(const Shape& shape, const TensorOptions& options);
  friend Tensor detail::leading_rows(const Tensor& t, int64_t start, int64_t length);
  friend Tensor from_blob(void* data, const Shape& shape, const TensorOptions& options,
                          std::function<void(void*)> deleter);
};

Tensor empty(const Shape& shape, const TensorOptions& options = {});
Tensor zeros(const Shape& shape, const TensorOptions& options = {});
Tensor ones(const Shape& shape, const TensorOptions& options = {});
// Every element `value`, converted to options' dtype (float32 unless named: libtorch would make an integer's int64):
// an integer exactly to int64, a floating value truncated; one the dtype cannot hold is refused as by PyTorch's
// fill_ ("value cannot be converted to type at::Half without overflow"; infinities and NaN fill floating dtypes).
Tensor full(const Shape& shape, Scalar value, const TensorOptions& options = {});
// As full/zeros/ones with t's shape, dtype, device and memory format (PyTorch's preserve_format).
Tensor full_like(const Tensor& t, Scalar value);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
// [start, end) with `step`, as torch.arange.
Tensor arange(double start, double end, double step = 1.0, const TensorOptions& options = {});
Tensor arange(int64_t end, const TensorOptions& options = {});
// Values come from `gen` on the host, so a seed gives the same numbers on every device; without one, from
// default_generator() (manual_seed sets it).
Tensor rand(const Shape& shape, Generator& gen, const TensorOptions& options = {});
Tensor randn(const Shape& shape, Generator& gen, const TensorOptions& options = {});
Tensor rand(const Shape& shape, const TensorOptions& options = {});
Tensor randn(const Shape& shape, const TensorOptions& options = {});
// int64 values uniform in [low, high), as torch.randint.
Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator& gen, const TensorOptions& options = {});
Tensor randint(int64_t low, int64_t high, const Shape& shape, const TensorOptions& options = {});
// A tensor over memory the caller owns, host or device (options.device() says which), without a copy, as
// torch::from_blob: `deleter(data)` runs when the last handle dies; with no deleter the memory must outlive the
// tensor. The memory must hold shape's elements of options.dtype(), dense in options.memory_format()'s order.
Tensor from_blob(void* data, const Shape& shape, const TensorOptions& options = {},
                 std::function<void(void*)> deleter = {});
// As PyTorch prints tensors: tensor([[ 1.0000, -2.5000], ...]), summarised with "..." past 1000 elements, with
// the device and a non-default dtype named.
std::ostream& operator<<(std::ostream& os, const Tensor& tensor);
template <typename T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, const TensorOptions& options = {});

}  // namespace normrt
