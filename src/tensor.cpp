#include "normrt/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <type_traits>

#include "cpu_threads.h"
#include "element_convert.h"
#include "normrt/error.h"
#include "normrt/generator.h"
#include "op_util.h"
#include "transpose_cpu.h"
#if NORMRT_WITH_CUDA
#include "elementwise.cuh"
#endif

namespace normrt {

struct Tensor::Impl {
  std::shared_ptr<Storage> storage;
  std::size_t offset = 0;  // bytes into the storage: a view's first element (detail::leading_rows)
  Shape sizes;
  DType dtype = DType::Float32;
  MemoryFormat memory_format = MemoryFormat::Contiguous;
  Tensor grad;
};

std::size_t element_size(DType dtype) {
  switch (dtype) {
    case DType::Float32: return 4;
    case DType::Float16: return 2;
    case DType::BFloat16: return 2;
    case DType::Int64: return 8;
    case DType::Bool: return 1;
  }
  return 0;
}

bool is_floating(DType dtype) { return dtype != DType::Int64 && dtype != DType::Bool; }

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::Float32: return "float32";
    case DType::Float16: return "float16";
    case DType::BFloat16: return "bfloat16";
    case DType::Int64: return "int64";
    case DType::Bool: return "bool";
  }
  return "unknown";
}

std::string shape_str(const Shape& shape) {
  std::ostringstream os;
  os << '[';
  for (std::size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  bool overflow = false;
  for (int64_t s : shape) {
    if (s == 0) return 0;  // an empty tensor, however large its other dimensions
    overflow = overflow || __builtin_mul_overflow(n, s, &n);
  }
  NORMRT_CHECK(!overflow, "tensor of shape ", shape_str(shape),
               " is too large (its element count does not fit in 64 bits)");
  return n;
}

namespace {
void check_shape(const Shape& shape) {
  NORMRT_CHECK(static_cast<int64_t>(shape.size()) <= kMaxDims, "tensors have at most ", kMaxDims,
               " dimensions, got shape ", shape_str(shape));
  for (int64_t s : shape)
    NORMRT_CHECK(s >= 0, "Trying to create tensor with negative dimension ", s, ": ", shape_str(shape));
}

// Bytes of a tensor of `shape`, refused (before anything is allocated) when they cannot be addressed.
std::size_t checked_nbytes(const Shape& shape, DType dtype) {
  check_shape(shape);
  const int64_t numel = shape_numel(shape);
  const auto max_elements = std::numeric_limits<int64_t>::max() / static_cast<int64_t>(element_size(dtype));
  NORMRT_CHECK(numel <= max_elements, "tensor of ", numel, " elements is too large (", numel, " x ",
               element_size(dtype), " bytes do not fit in 64 bits)");
  return static_cast<std::size_t>(numel) * element_size(dtype);
}
}  // namespace

const Tensor::Impl& Tensor::impl() const {
  NORMRT_CHECK(impl_ != nullptr, "operation on an undefined tensor");
  return *impl_;
}

const Shape& Tensor::sizes() const { return impl().sizes; }

int64_t Tensor::size(int64_t dim) const {
  const int64_t d = this->dim();
  NORMRT_CHECK(d > 0, "Dimension specified as ", dim, " but tensor has no dimensions");
  NORMRT_CHECK(dim >= -d && dim < d, "Dimension out of range (expected to be in range of [", -d, ", ", d - 1,
               "], but got ", dim, ")");
  return sizes()[dim < 0 ? dim + d : dim];
}

int64_t Tensor::numel() const { return shape_numel(sizes()); }
DType Tensor::dtype() const { return impl().dtype; }
const Device& Tensor::device() const { return impl().storage->device(); }
MemoryFormat Tensor::memory_format() const { return impl().memory_format; }
void* Tensor::raw_data() const {
  void* data = impl().storage->data();
  return data == nullptr ? nullptr : static_cast<char*>(data) + impl().offset;
}

const char* memory_format_name(MemoryFormat format) {
  switch (format) {
    case MemoryFormat::Contiguous: return "contiguous";
    case MemoryFormat::ChannelsLast: return "channels_last";
    case MemoryFormat::ChannelsLast3d: return "channels_last_3d";
  }
  return "unknown";
}

void Tensor::check_contiguous(const char* op) const {
  NORMRT_CHECK(is_contiguous(), op ? op : "this operation", ": expected a contiguous tensor, got ",
               memory_format_name(memory_format()), " memory format (call contiguous() first)");
}

void Tensor::check_access(DType expected) const {
  check_dtype(expected);
  check_contiguous(nullptr);
}

void Tensor::check_dtype(DType expected) const {
  NORMRT_CHECK(dtype() == expected, "expected a tensor of dtype ", dtype_name(expected), " but got ",
               dtype_name(dtype()));
}

namespace {
void check_format_rank(const Shape& shape, MemoryFormat format) {
  NORMRT_CHECK(format != MemoryFormat::ChannelsLast || shape.size() == 4,
               "required rank 4 tensor to use channels_last format");
  NORMRT_CHECK(format != MemoryFormat::ChannelsLast3d || shape.size() == 5,
               "required rank 5 tensor to use channels_last_3d format");
}
}  // namespace

Tensor empty(const Shape& shape, const TensorOptions& options) {
  const std::size_t nbytes = checked_nbytes(shape, options.dtype());
  check_format_rank(shape, options.memory_format());
  auto impl = std::make_shared<Tensor::Impl>();
  impl->sizes = shape;
  impl->dtype = options.dtype();
  impl->memory_format = options.memory_format();
  impl->storage = std::make_shared<Storage>(nbytes, options.device());
  return Tensor(std::move(impl));
}

namespace {
// The (N, C, S) view of a 4-d or 5-d shape.
struct ChannelView {
  int64_t n, c, s;
};
ChannelView channel_view(const Shape& shape) {
  int64_t s = 1;
  for (std::size_t d = 2; d < shape.size(); ++d) s *= shape[d];
  return {shape[0], shape[1], s};
}

// Calls body(T{}) with an unsigned integer type of the dtype's element size (layout moves copy bits).
template <typename Body>
void dispatch_element_bits(DType dtype, Body&& body) {
  switch (element_size(dtype)) {
    case 1: return body(uint8_t{});
    case 2: return body(uint16_t{});
    case 4: return body(uint32_t{});
    default: return body(uint64_t{});
  }
}

}  // namespace

Tensor Tensor::to(MemoryFormat format) const {
  if (memory_format() == format) return *this;
  check_format_rank(sizes(), format);
  if (!is_contiguous() && format != MemoryFormat::Contiguous) return contiguous().to(format);
  Tensor out = empty(sizes(), TensorOptions(device()).dtype(dtype()).memory_format(format));
  if (numel() == 0) return out;
  // Contiguous (N, C, S) -> channels-last (N, S, C), and back: a transpose of each sample's matrix.
  const ChannelView v = channel_view(sizes());
  const bool to_channels_last = format != MemoryFormat::Contiguous;
  const int64_t rows = to_channels_last ? v.c : v.s, cols = to_channels_last ? v.s : v.c;
  dispatch_element_bits(dtype(), [&](auto bits) {
    using T = decltype(bits);
    const auto* in = static_cast<const T*>(raw_data());
    auto* to = static_cast<T*>(out.raw_data());
    if (device().is_cuda()) {
#if NORMRT_WITH_CUDA
      impl().storage->order_reads_on(device().index());
      const ops::util::Launch l(out);
      cuda::transpose_batched(in, to, v.n, rows, cols, l.sms, l.stream);
      return;
#else
      NORMRT_THROW("memory format conversion on ", device().str(), " needs a build with CUDA (NORMRT_WITH_CUDA)");
#endif
    }
    cpu::transpose_batched(in, to, v.n, rows, cols);
  });
  return out;
}

Tensor Tensor::to(const Device& device) const {
  if (this->device() == device) return *this;
  Tensor out = empty(sizes(), TensorOptions(device).dtype(dtype()).memory_format(memory_format()));
  out.copy_(*this);
  return out;
}

namespace {
// In fixed slices, in parallel above 2^18 elements.
template <typename From, typename To>
void convert_on_host(const void* in, void* out, int64_t n) {
  const auto* from = static_cast<const From*>(in);
  auto* to = static_cast<To*>(out);
  constexpr int64_t kSlice = int64_t{1} << 16;
  const int64_t slices = n >= (int64_t{1} << 18) ? (n + kSlice - 1) / kSlice : 1;
#pragma omp parallel for schedule(static) if (slices > 1)
  for (int64_t k = 0; k < slices; ++k) {
    const int64_t begin = k * n / slices, end = (k + 1) * n / slices;
    detail::convert_elements(from + begin, to + begin, end - begin);
  }
}

// Calls body(From{}, To{}) with the element types of a conversion.
template <typename Body>
void dispatch_conversion(DType from, DType to, Body&& body) {
  auto with_to = [&](auto from_tag) {
    switch (to) {
      case DType::Float32: return body(from_tag, float{});
      case DType::Float16: return body(from_tag, Half{});
      case DType::BFloat16: return body(from_tag, BFloat16{});
      case DType::Int64: return body(from_tag, int64_t{});
      case DType::Bool: return body(from_tag, bool{});
    }
  };
  switch (from) {
    case DType::Float32: return with_to(float{});
    case DType::Float16: return with_to(Half{});
    case DType::BFloat16: return with_to(BFloat16{});
    case DType::Int64: return with_to(int64_t{});
    case DType::Bool: return with_to(bool{});
  }
}
}  // namespace

Tensor Tensor::to(DType dtype) const {
  if (this->dtype() == dtype) return *this;
  Tensor out = empty(sizes(), TensorOptions(device()).dtype(dtype).memory_format(memory_format()));
  if (numel() == 0) return out;
  dispatch_conversion(this->dtype(), dtype, [&](auto from, auto to) {
    using From = decltype(from);
    using To = decltype(to);
    if constexpr (!std::is_same_v<From, To>) {  // same dtypes returned above
#if NORMRT_WITH_CUDA
      if (device().is_cuda()) {
        impl().storage->order_reads_on(device().index());
        const ops::util::Launch l(out);
        cuda::convert(static_cast<const From*>(raw_data()), static_cast<To*>(out.raw_data()), numel(), l.sms,
                      l.stream);
        return;
      }
#endif
      convert_on_host<From, To>(raw_data(), out.raw_data(), numel());
    }
  });
  return out;
}

Tensor Tensor::clone() const {
  Tensor out = empty(sizes(), TensorOptions(device()).dtype(dtype()).memory_format(memory_format()));
  out.copy_(*this);
  return out;
}

Tensor& Tensor::copy_(const Tensor& src) {
  NORMRT_CHECK(sizes() == src.sizes(), "copy_: shape mismatch, destination ", shape_str(sizes()), " vs source ",
               shape_str(src.sizes()));
  NORMRT_CHECK(dtype() == src.dtype(), "copy_: dtype mismatch, destination ", dtype_name(dtype()), " vs source ",
               dtype_name(src.dtype()));
  if (src.memory_format() != memory_format()) return copy_(src.to(memory_format()));
  // The copy runs on the current stream of the GPU side (the destination's between GPUs): order it after the
  // source's last write, wherever that was queued.
  src.impl().storage->order_reads_on(device().is_cuda() ? device().index() : src.device().index());
  copy_bytes(raw_data(), device(), src.raw_data(), src.device(), nbytes());
  bump_version();
  return *this;
}

void Tensor::set_data(const Tensor& src) {
  NORMRT_CHECK(impl_ != nullptr && src.defined(), "set_data: both tensors must be defined");
  if (impl_ == src.impl_) return;
  impl_->storage = src.impl_->storage;
  impl_->offset = src.impl_->offset;
  impl_->sizes = src.impl_->sizes;
  impl_->dtype = src.impl_->dtype;
  impl_->memory_format = src.impl_->memory_format;
  impl_->grad = Tensor();
}

uint64_t Tensor::version() const { return impl().storage->version(); }
void Tensor::bump_version() const { impl().storage->bump_version(); }
void Tensor::record_stream() const { impl().storage->record_stream(); }

Tensor Tensor::reshape(const Shape& shape) const {
  if (!is_contiguous()) return contiguous().reshape(shape);  // a copy, as PyTorch's reshape of a channels-last tensor
  // PyTorch's infer_size, in its order and words.
  NORMRT_CHECK(static_cast<int64_t>(shape.size()) <= kMaxDims, "tensors have at most ", kMaxDims,
               " dimensions, got shape ", shape_str(shape));
  Shape resolved = shape;
  int64_t inferred = -1, known = 1;
  bool overflow = false;
  for (std::size_t i = 0; i < resolved.size(); ++i) {
    if (resolved[i] == -1) {
      NORMRT_CHECK(inferred < 0, "only one dimension can be inferred");
      inferred = static_cast<int64_t>(i);
    } else {
      NORMRT_CHECK(resolved[i] >= 0, "invalid shape dimension ", resolved[i]);
      overflow |= __builtin_mul_overflow(known, resolved[i], &known);
    }
  }
  const bool fits = !overflow && (numel() == known || (inferred >= 0 && known > 0 && numel() % known == 0));
  NORMRT_CHECK(fits, "shape '", shape_str(shape), "' is invalid for input of size ", numel());
  if (inferred >= 0) {
    NORMRT_CHECK(known != 0, "cannot reshape tensor of 0 elements into shape ", shape_str(shape),
                 " because the unspecified dimension size -1 can be any value and is ambiguous");
    resolved[inferred] = numel() / known;
  }
  auto impl = std::make_shared<Impl>(this->impl());
  impl->sizes = resolved;
  impl->grad = Tensor();
  return Tensor(std::move(impl));
}

Tensor detail::leading_rows(const Tensor& t, int64_t start, int64_t length) {
  NORMRT_CHECK(t.dim() > 0, "leading_rows: a 0-dim tensor has no rows");
  const int64_t rows = t.size(0);
  NORMRT_CHECK(start >= 0 && length >= 0 && start <= rows - length, "leading_rows: rows [", start, ", ", start + length,
               ") of a tensor with ", rows);
  auto impl = std::make_shared<Tensor::Impl>(t.impl());
  impl->sizes[0] = length;
  if (rows > 0) impl->offset += static_cast<std::size_t>(start) * (t.nbytes() / static_cast<std::size_t>(rows));
  impl->grad = Tensor();
  return Tensor(std::move(impl));
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  check_dtype(dtype_of<T>());
  if (!is_contiguous()) return contiguous().to_vector<T>();
  std::vector<T> out(static_cast<std::size_t>(numel()));
  if (device().is_cuda()) impl().storage->order_reads_on(device().index());
  copy_bytes(out.data(), Device::cpu(), raw_data(), device(), nbytes());
  return out;
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;
template std::vector<Half> Tensor::to_vector<Half>() const;
template std::vector<BFloat16> Tensor::to_vector<BFloat16>() const;
// std::vector<bool> packs its bits: the bytes go through a buffer.
template <>
std::vector<bool> Tensor::to_vector<bool>() const {
  check_dtype(DType::Bool);
  if (!is_contiguous()) return contiguous().to_vector<bool>();
  std::vector<uint8_t> bytes(static_cast<std::size_t>(numel()));
  if (device().is_cuda()) impl().storage->order_reads_on(device().index());
  copy_bytes(bytes.data(), Device::cpu(), raw_data(), device(), nbytes());
  return std::vector<bool>(bytes.begin(), bytes.end());
}

template <typename T>
T Tensor::item() const {
  NORMRT_CHECK(numel() == 1, "a Tensor with ", numel(), " elements cannot be converted to Scalar");
  // As libtorch's item().to<T>(): the value as a Scalar, converted with fill_'s range checks.
  const Scalar value = dtype() == DType::Int64  ? Scalar(to_vector<int64_t>()[0])
                       : dtype() == DType::Bool ? Scalar(int64_t{to_vector<bool>()[0]})
                                                : Scalar(static_cast<double>(to(DType::Float32).to_vector()[0]));
  if constexpr (std::is_same_v<T, double>) {
    return value.to_double();
  } else if constexpr (std::is_same_v<T, int64_t>) {
    return value.to_int64();
  } else if constexpr (std::is_same_v<T, bool>) {
    return value.to_double() != 0.0;
  } else {
    detail::check_fits(value, dtype_of<T>());
    return T(value.to_float());
  }
}
template float Tensor::item<float>() const;
template double Tensor::item<double>() const;
template int64_t Tensor::item<int64_t>() const;
template Half Tensor::item<Half>() const;
template BFloat16 Tensor::item<BFloat16>() const;
template bool Tensor::item<bool>() const;

const Tensor& Tensor::grad() const { return impl().grad; }
Tensor& Tensor::mutable_grad() {
  NORMRT_CHECK(impl_ != nullptr, "operation on an undefined tensor");
  return impl_->grad;
}

template <typename T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, const TensorOptions& options) {
  NORMRT_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "from_vector: ", values.size(),
               " values do not fill shape ", shape_str(shape));
  Tensor out = empty(shape, TensorOptions(options.device()).dtype(dtype_of<T>()));
  copy_bytes(out.raw_data(), out.device(), values.data(), Device::cpu(), out.nbytes());
  return out;
}
template Tensor from_vector<float>(const std::vector<float>&, const Shape&, const TensorOptions&);
template Tensor from_vector<int64_t>(const std::vector<int64_t>&, const Shape&, const TensorOptions&);
template Tensor from_vector<Half>(const std::vector<Half>&, const Shape&, const TensorOptions&);
template Tensor from_vector<BFloat16>(const std::vector<BFloat16>&, const Shape&, const TensorOptions&);
template <>
Tensor from_vector<bool>(const std::vector<bool>& values, const Shape& shape, const TensorOptions& options) {
  NORMRT_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "from_vector: ", values.size(),
               " values do not fill shape ", shape_str(shape));
  const std::vector<uint8_t> bytes(values.begin(), values.end());  // std::vector<bool> packs its bits
  Tensor out = empty(shape, TensorOptions(options.device()).dtype(DType::Bool));
  copy_bytes(out.raw_data(), out.device(), bytes.data(), Device::cpu(), out.nbytes());
  return out;
}

namespace {
// Factories compute on the host and copy once: it keeps values identical on every device.
// (Host tensors rather than std::vectors: an allocation that fails is a normrt::Error, not std::bad_alloc.)
// Float16 and bfloat16 values are computed in float32 and rounded, as PyTorch's factories give.
template <typename Fill>
Tensor make_filled(const Shape& shape, const TensorOptions& options, Fill fill) {
  const DType computed = options.dtype() == DType::Int64 ? DType::Int64 : DType::Float32;
  Tensor host = empty(shape, TensorOptions().dtype(computed));
  const auto n = static_cast<std::size_t>(host.numel());
  if (computed == DType::Int64) {
    int64_t* out = host.data<int64_t>();
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<int64_t>(fill(i));
  } else {
    float* out = host.data<float>();
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(fill(i));
  }
  return host.to(options.dtype()).to(options.device()).to(options.memory_format());
}

// rand/randn: float32 values from the generator, rounded to a 16-bit dtype (the same numbers as float32 draws).
// The dtype is checked before drawing, so a refused call leaves the generator where it was.
template <typename Draw>
Tensor float_draws(const Shape& shape, const char* what, const TensorOptions& options, Draw draw) {
  NORMRT_CHECK(is_floating(options.dtype()), what, ": dtype ", dtype_name(options.dtype()),
               " is not a floating dtype");
  Tensor host = empty(shape);
  draw(host.data<float>(), host.numel());
  return host.to(options.dtype()).to(options.device());
}
}  // namespace

Tensor zeros(const Shape& shape, const TensorOptions& options) { return full(shape, 0.0, options); }

Tensor ones(const Shape& shape, const TensorOptions& options) { return full(shape, 1.0, options); }

namespace {
// A constant is written where it lies, the same memory in every memory format: on a GPU by a fill kernel (no host
// buffer, no copy to wait for, capturable), on the host in parallel (no contiguous buffer and no copy into the
// format: zeros of a channels-last gradient cost a fill and a transpose). Values are converted as PyTorch converts a
// number: an integer straight to the dtype, 16-bit dtypes through float32.
void fill_elements(const Tensor& out, Scalar value) {
  const int64_t n = out.numel();
  if (n == 0) return;
  auto fill = [&out, n](auto* elements, auto constant) {
    if (out.device().is_cuda()) {
#if NORMRT_WITH_CUDA
      const ops::util::Launch l(out);
      cuda::fill(elements, constant, n, l.sms, l.stream);
#endif
      return;
    }
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(n))
    for (int64_t i = 0; i < n; ++i) elements[i] = constant;
  };
  const float v = value.to_float();
  switch (out.dtype()) {
    case DType::Int64: fill(static_cast<int64_t*>(out.raw_data()), value.to_int64()); break;
    case DType::Float16: fill(static_cast<uint16_t*>(out.raw_data()), Half(v).bits); break;
    case DType::BFloat16: fill(static_cast<uint16_t*>(out.raw_data()), BFloat16(v).bits); break;
    case DType::Float32: fill(static_cast<float*>(out.raw_data()), v); break;
    case DType::Bool: fill(static_cast<uint8_t*>(out.raw_data()), uint8_t{value.to_double() != 0.0}); break;
  }
}

TensorOptions options_of(const Tensor& t) {
  return TensorOptions(t.device()).dtype(t.dtype()).memory_format(t.memory_format());
}
}  // namespace

// The dtype's largest finite value decides, as PyTorch's checked conversion; to_int64() refuses what int64 cannot hold.
void detail::check_fits(Scalar value, DType dtype) {
  const double magnitude = std::fabs(value.to_double());
  const auto refuse_beyond = [&](double largest, const char* type) {
    NORMRT_CHECK(!(std::isfinite(magnitude) && magnitude > largest), "value cannot be converted to type ", type,
                 " without overflow");
  };
  switch (dtype) {
    case DType::Int64: value.to_int64(); break;
    case DType::Float32: refuse_beyond(std::numeric_limits<float>::max(), "float"); break;
    case DType::Float16: refuse_beyond(65504.0, "at::Half"); break;
    case DType::BFloat16: refuse_beyond(3.3895313892515355e38, "at::BFloat16"); break;
    case DType::Bool: break;  // every number is true or false
  }
}

Tensor full(const Shape& shape, Scalar value, const TensorOptions& options) {
  detail::check_fits(value, options.dtype());
  Tensor out = empty(shape, options);
  fill_elements(out, value);
  return out;
}

Tensor full_like(const Tensor& t, Scalar value) { return full(t.sizes(), value, options_of(t)); }
Tensor zeros_like(const Tensor& t) { return full_like(t, 0); }
Tensor ones_like(const Tensor& t) { return full_like(t, 1); }

Tensor& Tensor::fill_(Scalar value) {
  NORMRT_CHECK(defined(), "fill_: the tensor is undefined");
  detail::check_fits(value, dtype());
  fill_elements(*this, value);
  bump_version();
  return *this;
}

Tensor detail::wrapped_number(Scalar value, DType dtype, Device device) {
  Tensor out = empty({}, TensorOptions(device).dtype(dtype));
  fill_elements(out, value);
  return out;
}

Tensor arange(double start, double end, double step, const TensorOptions& options) {
  NORMRT_CHECK(step != 0, "arange: step must be nonzero");
  NORMRT_CHECK(std::isfinite(start) && std::isfinite(end), "arange: unsupported range: ", start, " -> ", end);
  NORMRT_CHECK((step > 0 && end >= start) || (step < 0 && end <= start),
               "arange: upper bound and larger bound inconsistent with step sign");
  const double steps = std::ceil((end - start) / step);
  NORMRT_CHECK(steps < 9.2e18, "arange: ", steps, " elements are too many");
  const auto n = static_cast<int64_t>(steps);
  return make_filled({n}, options, [start, step](std::size_t i) { return start + static_cast<double>(i) * step; });
}

Tensor arange(int64_t end, const TensorOptions& options) {
  return arange(0.0, static_cast<double>(end), 1.0, options);
}

Tensor rand(const Shape& shape, Generator& gen, const TensorOptions& options) {
  return float_draws(shape, "rand", options, [&gen](float* out, int64_t n) { gen.uniform(out, n); });
}

Tensor rand(const Shape& shape, const TensorOptions& options) { return rand(shape, default_generator(), options); }
Tensor randn(const Shape& shape, const TensorOptions& options) { return randn(shape, default_generator(), options); }

Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator& gen, const TensorOptions& options) {
  NORMRT_CHECK(low < high, "random_ expects 'from' to be less than 'to', but got from=", low, " >= to=", high);
  Tensor host = empty(shape, TensorOptions().dtype(DType::Int64));
  const auto n = static_cast<std::size_t>(host.numel());
  std::vector<uint32_t> bits(2 * n);
  gen.random_u32(bits.data(), static_cast<int64_t>(bits.size()));
  const uint64_t range = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);
  int64_t* out = host.data<int64_t>();
  for (std::size_t i = 0; i < n; ++i) {
    const uint64_t r = (static_cast<uint64_t>(bits[2 * i]) << 32) | bits[2 * i + 1];
    out[i] = static_cast<int64_t>(static_cast<uint64_t>(low) + r % range);  // bias below 2^-32 for ranges < 2^32
  }
  return host.to(options.device());
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, const TensorOptions& options) {
  return randint(low, high, shape, default_generator(), options);
}

Tensor from_blob(void* data, const Shape& shape, const TensorOptions& options, std::function<void(void*)> deleter) {
  const std::size_t nbytes = checked_nbytes(shape, options.dtype());
  NORMRT_CHECK(data != nullptr || nbytes == 0, "from_blob: null data for ", nbytes, " bytes");
  check_format_rank(shape, options.memory_format());
  auto impl = std::make_shared<Tensor::Impl>();
  impl->sizes = shape;
  impl->dtype = options.dtype();
  impl->memory_format = options.memory_format();
  impl->storage = std::make_shared<Storage>(data, nbytes, options.device(), std::move(deleter));
  return Tensor(std::move(impl));
}

Tensor randn(const Shape& shape, Generator& gen, const TensorOptions& options) {
  return float_draws(shape, "randn", options, [&gen](float* out, int64_t n) { gen.normal(out, n); });
}

}  // namespace normrt
