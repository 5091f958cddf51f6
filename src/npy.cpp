#include "normrt/npy.h"

#include <cctype>
#include <cstring>
#include <optional>

#include "normrt/error.h"
#include "normrt/file_io.h"

namespace normrt {

namespace {
constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicBytes = 6;

// The header is a Python dict literal, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }.
// One forward pass with no recursion and no backtracking: any header the file can hold parses in linear time
// and constant stack.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& name) : text_(text), name_(name) {}

  struct Header {
    std::string descr;
    bool fortran_order = false;
    Shape shape;
  };

  Header parse() {
    Header h;
    bool have_descr = false, have_order = false, have_shape = false;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = string_literal();
      expect(':');
      skip_space();
      if (key == "descr") {
        NORMRT_CHECK(!have_descr, name_, ": header repeats 'descr'");
        NORMRT_CHECK(peek() == '\'' || peek() == '"', name_,
                     ": unsupported descr (structured dtypes are not supported)");
        h.descr = string_literal();
        have_descr = true;
      } else if (key == "fortran_order") {
        NORMRT_CHECK(!have_order, name_, ": header repeats 'fortran_order'");
        h.fortran_order = boolean();
        have_order = true;
      } else if (key == "shape") {
        NORMRT_CHECK(!have_shape, name_, ": header repeats 'shape'");
        h.shape = shape_tuple();
        have_shape = true;
      } else {
        fail("unexpected key '" + printable(key) + "'");
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      NORMRT_CHECK(peek() == '}', name_, ": malformed .npy header (expected ',' or '}' at offset ", pos_, ")");
    }
    ++pos_;
    skip_space();
    NORMRT_CHECK(pos_ == text_.size(), name_, ": malformed .npy header (text after the dictionary)");
    NORMRT_CHECK(have_descr, name_, ": header has no descr");
    NORMRT_CHECK(have_order, name_, ": header has no fortran_order");
    NORMRT_CHECK(have_shape, name_, ": header has no shape");
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    NORMRT_THROW(name_, ": malformed .npy header (", what, " at offset ", pos_, ")");
  }
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }
  static std::string printable(const std::string& s) {
    std::string out;
    for (char c : s.substr(0, 40)) out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
    return s.size() > 40 ? out + "..." : out;
  }
  std::string string_literal() {
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected a quoted string");
    const std::size_t end = text_.find(quote, pos_ + 1);
    if (end == std::string_view::npos) fail("unterminated string");
    std::string s(text_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return s;
  }
  bool boolean() {
    for (const auto& [word, value] : {std::pair<std::string_view, bool>{"True", true}, {"False", false}}) {
      if (text_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        return value;
      }
    }
    fail("expected True or False");
  }
  Shape shape_tuple() {
    expect('(');
    Shape shape;
    while (true) {
      skip_space();
      if (peek() == ')') break;
      shape.push_back(dimension(shape.size()));
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != ')') fail("expected ',' or ')' in shape");
    }
    ++pos_;
    return shape;
  }
  int64_t dimension(std::size_t index) {
    NORMRT_CHECK(static_cast<int64_t>(index) < kMaxDims, name_, ": more than ", kMaxDims,
                 " dimensions, at most ", kMaxDims, " are supported");
    NORMRT_CHECK(peek() != '-', name_, ": negative dimension in shape");
    if (!std::isdigit(static_cast<unsigned char>(peek()))) fail("shape entries must be integers");
    int64_t value = 0;
    while (std::isdigit(static_cast<unsigned char>(peek()))) {
      const int digit = peek() - '0';
      NORMRT_CHECK(!__builtin_mul_overflow(value, 10, &value) && !__builtin_add_overflow(value, digit, &value), name_,
                   ": dimension ", index, " of the shape does not fit in 64 bits");
      ++pos_;
    }
    if (peek() == 'L') ++pos_;  // Python 2 long literal, as NumPy under Python 2 wrote them
    return value;
  }

  std::string_view text_;
  const std::string& name_;
  std::size_t pos_ = 0;
};

uint32_t read_le(std::string_view bytes, std::size_t offset, int width) {
  uint32_t value = 0;
  for (int i = width - 1; i >= 0; --i) value = value << 8 | static_cast<unsigned char>(bytes[offset + i]);
  return value;
}

}  // namespace

Tensor decode_npy(std::string_view bytes, const std::string& name) {
  NORMRT_CHECK(bytes.size() >= kMagicBytes && bytes.substr(0, kMagicBytes) == std::string_view(kMagic, kMagicBytes),
               name, ": not a .npy file (bad magic)");
  NORMRT_CHECK(bytes.size() >= kMagicBytes + 2, name, ": truncated .npy header");
  const int major = static_cast<unsigned char>(bytes[kMagicBytes]);
  NORMRT_CHECK(major >= 1 && major <= 3, name, ": unsupported .npy version ", major);
  const int length_width = major == 1 ? 2 : 4;
  const std::size_t header_start = kMagicBytes + 2 + static_cast<std::size_t>(length_width);
  NORMRT_CHECK(bytes.size() >= header_start, name, ": truncated .npy header");
  const std::size_t header_len = read_le(bytes, kMagicBytes + 2, length_width);
  NORMRT_CHECK(header_len <= bytes.size() - header_start, name, ": truncated .npy header (it claims ", header_len,
               " bytes, the file holds ", bytes.size() - header_start, " after the preamble)");
  const auto header = HeaderParser(bytes.substr(header_start, header_len), name).parse();

  DType dtype;
  if (header.descr == "<f4") {
    dtype = DType::Float32;
  } else if (header.descr == "<i8") {
    dtype = DType::Int64;
  } else if (header.descr == "<f2") {
    dtype = DType::Float16;
  } else if (header.descr == "<u2") {  // bfloat16 bits (NumPy has no bfloat16; see normrt/npy.h)
    dtype = DType::BFloat16;
  } else if (header.descr == "|b1") {
    dtype = DType::Bool;
  } else {
    std::string shown = header.descr.substr(0, 20);
    for (char& c : shown)
      if (!std::isprint(static_cast<unsigned char>(c))) c = '?';
    NORMRT_THROW(name, ": unsupported dtype '", shown, header.descr.size() > 20 ? "..." : "",
                 "' (expected '<f4', '<i8', '<f2', '<u2' or '|b1')");
  }
  NORMRT_CHECK(!header.fortran_order, name, ": Fortran-ordered arrays are not supported");

  // The data must be exactly what the shape needs; checked before anything is allocated.
  const std::size_t have = bytes.size() - header_start - header_len;
  const int64_t numel = shape_numel(header.shape);
  const auto element = static_cast<int64_t>(element_size(dtype));
  NORMRT_CHECK(numel <= static_cast<int64_t>(have) / element, name, ": truncated data, expected ", numel, " x ",
               element, " bytes for shape ", shape_str(header.shape), ", found ", have);
  const auto need = static_cast<std::size_t>(numel * element);
  NORMRT_CHECK(have == need, name, ": ", have - need, " unexpected bytes after the data of shape ",
               shape_str(header.shape));
  Tensor out = empty(header.shape, TensorOptions().dtype(dtype));
  if (need > 0) std::memcpy(out.raw_data(), bytes.data() + header_start + header_len, need);
  return out;
}

Tensor load_npy(const std::string& path) { return decode_npy(read_file(path), path); }

namespace {
const char* descr_of(DType dtype) {
  switch (dtype) {
    case DType::Float32: return "<f4";
    case DType::Int64: return "<i8";
    case DType::Float16: return "<f2";
    case DType::BFloat16: return "<u2";
    case DType::Bool: return "|b1";
  }
  return "";
}
}  // namespace

std::string encode_npy(const Tensor& tensor) {
  const Tensor host = tensor.contiguous().to(Device::cpu());
  std::string shape = "(";
  for (int64_t s : host.sizes()) shape += std::to_string(s) + ", ";
  if (host.dim() > 1) shape.resize(shape.size() - 2);  // (3,) keeps its comma, (2, 3) does not end with one
  if (host.dim() == 1) shape.resize(shape.size() - 1);
  shape += ")";
  std::string header = std::string("{'descr': '") + descr_of(host.dtype()) +
                       "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Magic (6) + version (2) + length (2) + header + '\n' must be a multiple of 64.
  const std::size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';

  std::string out(kMagic, kMagicBytes);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  out.append(static_cast<const char*>(host.raw_data()), host.nbytes());
  return out;
}

void save_npy(const std::string& path, const Tensor& tensor) { write_file_atomic(path, encode_npy(tensor)); }

}  // namespace normrt
