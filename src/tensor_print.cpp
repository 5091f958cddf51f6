// operator<< for tensors, laid out as PyTorch 1.13's torch._tensor_str does (precision 4, line width 80, summary
// with "..." past 1000 elements, 3 edge items): one formatter for the whole tensor picks integer, fixed or
// scientific notation and a common width, then rows nest with PyTorch's indentation and blank lines.
#include <cmath>
#include <cstdio>
#include <sstream>

#include "normrt/tensor.h"

namespace normrt {

namespace {

constexpr int kPrecision = 4, kLineWidth = 80;
constexpr int64_t kThreshold = 1000, kEdgeItems = 3;

std::string nonfinite(double v) { return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf"); }

class Formatter {
 public:
  enum class Kind { Integral, Floating, Boolean };
  Formatter(const std::vector<double>& values, Kind kind)
      : floating_(kind == Kind::Floating), boolean_(kind == Kind::Boolean) {
    if (boolean_) {  // right-aligned to the widest word: "[ True, False]"
      for (double v : values) width_ = std::max(width_, v != 0 ? 4 : 5);
      return;
    }
    if (!floating_) {
      for (double v : values)
        width_ = std::max(width_, static_cast<int>(std::to_string(static_cast<int64_t>(v)).size()));
      return;
    }
    double lo = INFINITY, hi = 0;
    bool any = false;
    for (double v : values) {
      if (!std::isfinite(v) || v == 0) continue;
      any = true;
      lo = std::min(lo, std::fabs(v));
      hi = std::max(hi, std::fabs(v));
      if (v != std::ceil(v)) int_mode_ = false;
    }
    if (!any) return;
    sci_mode_ = hi / lo > 1000.0 || hi > 1e8 || (!int_mode_ && lo < 1e-4);
    for (double v : values)
      if (std::isfinite(v) && v != 0) width_ = std::max(width_, static_cast<int>(plain(v).size()));
  }

  int width() const { return width_; }

  std::string format(double v) const {
    std::string s = plain(v);
    return std::string(static_cast<std::size_t>(std::max(0, width_ - static_cast<int>(s.size()))), ' ') + s;
  }

 private:
  std::string plain(double v) const {
    if (boolean_) return v != 0 ? "True" : "False";
    if (!floating_) return std::to_string(static_cast<int64_t>(v));
    if (!std::isfinite(v)) return nonfinite(v);
    char buf[64];
    if (sci_mode_) {
      std::snprintf(buf, sizeof buf, "%.*e", kPrecision, v);
    } else if (int_mode_) {
      std::snprintf(buf, sizeof buf, "%.0f.", v);
    } else {
      std::snprintf(buf, sizeof buf, "%.*f", kPrecision, v);
    }
    return buf;
  }

  bool floating_, boolean_;
  bool int_mode_ = true, sci_mode_ = false;
  int width_ = 1;
};

// The values the formatter sees: all of them, or the edge items of every dimension when summarising.
void collect(const std::vector<double>& v, const Shape& shape, std::size_t dim, int64_t offset, bool summarize,
             std::vector<double>& out) {
  if (dim == shape.size()) {
    out.push_back(v[static_cast<std::size_t>(offset)]);
    return;
  }
  int64_t stride = 1;
  for (std::size_t d = dim + 1; d < shape.size(); ++d) stride *= shape[d];
  const int64_t n = shape[dim];
  for (int64_t i = 0; i < n; ++i) {
    if (summarize && n > 2 * kEdgeItems && i == kEdgeItems) i = n - kEdgeItems;
    collect(v, shape, dim + 1, offset + i * stride, summarize, out);
  }
}

std::string nested(const std::vector<double>& v, const Shape& shape, std::size_t dim, int64_t offset, int indent,
                   bool summarize, const Formatter& f) {
  const int64_t n = shape[dim];
  const bool cut = summarize && n > 2 * kEdgeItems;
  if (dim + 1 == shape.size()) {
    std::vector<std::string> items;
    for (int64_t i = 0; i < n; ++i) {
      if (cut && i == kEdgeItems) {
        items.push_back(" ...");
        i = n - kEdgeItems;
      }
      items.push_back(f.format(v[static_cast<std::size_t>(offset + i)]));
    }
    const int per_line = std::max(1, (kLineWidth - indent) / (f.width() + 2));
    std::string out = "[";
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i > 0) out += i % static_cast<std::size_t>(per_line) == 0 ? ",\n" + std::string(indent + 1, ' ') : ", ";
      out += items[i];
    }
    return out + "]";
  }
  int64_t stride = 1;
  for (std::size_t d = dim + 1; d < shape.size(); ++d) stride *= shape[d];
  const std::string separator = "," + std::string(shape.size() - dim - 1, '\n') + std::string(indent + 1, ' ');
  std::string out = "[";
  for (int64_t i = 0; i < n; ++i) {
    if (i > 0) out += separator;
    if (cut && i == kEdgeItems) {
      out += "..." + separator;
      i = n - kEdgeItems;
    }
    out += nested(v, shape, dim + 1, offset + i * stride, indent + 1, summarize, f);
  }
  return out + "]";
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const Tensor& tensor) {
  if (!tensor.defined()) return os << "[ Tensor (undefined) ]";
  std::vector<double> values;
  if (tensor.dtype() == DType::Int64) {
    for (int64_t x : tensor.to_vector<int64_t>()) values.push_back(static_cast<double>(x));
  } else if (tensor.dtype() == DType::Bool) {
    for (bool x : tensor.to_vector<bool>()) values.push_back(x ? 1.0 : 0.0);
  } else {
    for (float x : tensor.to(DType::Float32).to_vector<float>()) values.push_back(x);
  }
  const std::string prefix = "tensor(";
  const int indent = static_cast<int>(prefix.size());
  std::vector<std::string> suffixes;
  std::string body;
  if (tensor.numel() == 0) {
    if (tensor.dim() != 1) {
      std::string size = "size=(";
      for (int64_t i = 0; i < tensor.dim(); ++i) size += (i ? ", " : "") + std::to_string(tensor.size(i));
      suffixes.push_back(size + (tensor.dim() == 1 ? ",)" : ")"));
    }
    if (tensor.dtype() != DType::Float32) suffixes.push_back(std::string("dtype=torch.") + dtype_name(tensor.dtype()));
    body = "[]";
  } else {
    const bool summarize = tensor.numel() > kThreshold;
    std::vector<double> shown;
    collect(values, tensor.sizes(), 0, 0, summarize, shown);
    const Formatter f(shown, tensor.dtype() == DType::Int64  ? Formatter::Kind::Integral
                             : tensor.dtype() == DType::Bool ? Formatter::Kind::Boolean
                                                             : Formatter::Kind::Floating);
    body = tensor.dim() == 0 ? f.format(values[0]) : nested(values, tensor.sizes(), 0, 0, indent, summarize, f);
    // PyTorch names the dtype unless the values show it (float32, int64 and bool).
    if (tensor.dtype() == DType::Float16 || tensor.dtype() == DType::BFloat16)
      suffixes.push_back(std::string("dtype=torch.") + dtype_name(tensor.dtype()));
  }
  if (tensor.device().is_cuda()) suffixes.insert(suffixes.begin(), "device='" + tensor.device().str() + "'");
  std::string out = prefix + body;
  // As PyTorch counts it: len(s) - s.rfind('\n') + 1, where rfind gives -1 without a newline.
  const std::size_t newline = out.rfind('\n');
  std::size_t last_line = newline == std::string::npos ? out.size() + 2 : out.size() - newline + 1;
  for (const std::string& suffix : suffixes) {
    if (last_line + suffix.size() + 2 > kLineWidth) {
      out += ",\n" + std::string(indent, ' ') + suffix;
      last_line = indent + suffix.size();
    } else {
      out += ", " + suffix;
      last_line += suffix.size() + 2;
    }
  }
  return os << out << ')';
}

}  // namespace normrt
