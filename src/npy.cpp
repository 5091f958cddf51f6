#include "normrt/npy.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <regex>

#include "normrt/error.h"

namespace normrt {

namespace {
constexpr char kMagic[] = "\x93NUMPY";

std::string read_header(std::ifstream& in, const std::string& path) {
  char magic[6];
  NORMRT_CHECK(in.read(magic, 6) && std::memcmp(magic, kMagic, 6) == 0, path, ": not a .npy file (bad magic)");
  unsigned char version[2];
  NORMRT_CHECK(in.read(reinterpret_cast<char*>(version), 2), path, ": truncated .npy header");
  std::size_t header_len = 0;
  if (version[0] == 1) {
    unsigned char b[2];
    NORMRT_CHECK(in.read(reinterpret_cast<char*>(b), 2), path, ": truncated .npy header");
    header_len = b[0] | (b[1] << 8);
  } else if (version[0] == 2 || version[0] == 3) {
    unsigned char b[4];
    NORMRT_CHECK(in.read(reinterpret_cast<char*>(b), 4), path, ": truncated .npy header");
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<std::size_t>(b[3]) << 24);
  } else {
    NORMRT_THROW(path, ": unsupported .npy version ", int(version[0]));
  }
  std::string header(header_len, '\0');
  NORMRT_CHECK(in.read(header.data(), static_cast<std::streamsize>(header_len)), path, ": truncated .npy header");
  return header;
}
}  // namespace

Tensor load_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  NORMRT_CHECK(in, path, ": cannot open for reading");
  const std::string header = read_header(in, path);

  std::smatch m;
  NORMRT_CHECK(std::regex_search(header, m, std::regex("'descr':\\s*'([^']*)'")), path, ": header has no descr");
  const std::string descr = m[1];
  DType dtype;
  if (descr == "<f4") {
    dtype = DType::Float32;
  } else if (descr == "<i8") {
    dtype = DType::Int64;
  } else {
    NORMRT_THROW(path, ": unsupported dtype '", descr, "' (expected '<f4' or '<i8')");
  }
  NORMRT_CHECK(std::regex_search(header, m, std::regex("'fortran_order':\\s*(True|False)")), path,
               ": header has no fortran_order");
  NORMRT_CHECK(m[1] == "False", path, ": Fortran-ordered arrays are not supported");
  NORMRT_CHECK(std::regex_search(header, m, std::regex("'shape':\\s*\\(([^)]*)\\)")), path, ": header has no shape");
  Shape shape;
  const std::string dims = m[1];
  const std::regex number("[0-9]+");
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), number); it != std::sregex_iterator(); ++it)
    shape.push_back(std::stoll(it->str()));
  NORMRT_CHECK(static_cast<int64_t>(shape.size()) <= kMaxDims, path, ": ", shape.size(),
               " dimensions, at most ", kMaxDims, " are supported");

  Tensor out = empty(shape, TensorOptions().dtype(dtype));
  in.read(static_cast<char*>(out.raw_data()), static_cast<std::streamsize>(out.nbytes()));
  NORMRT_CHECK(in.gcount() == static_cast<std::streamsize>(out.nbytes()), path, ": truncated data, expected ",
               out.nbytes(), " bytes for shape ", shape_str(shape), ", found ", in.gcount());
  return out;
}

void save_npy(const std::string& path, const Tensor& tensor) {
  NORMRT_CHECK(tensor.dtype() == DType::Float32 || tensor.dtype() == DType::Int64, path,
               ": only float32 and int64 tensors can be saved");
  const Tensor host = tensor.to(Device::cpu());
  std::string shape = "(";
  for (int64_t s : host.sizes()) shape += std::to_string(s) + ", ";
  if (host.dim() > 1) shape.resize(shape.size() - 2);  // (3,) keeps its comma, (2, 3) does not end with one
  if (host.dim() == 1) shape.resize(shape.size() - 1);
  shape += ")";
  std::string header = std::string("{'descr': '") + (host.dtype() == DType::Float32 ? "<f4" : "<i8") +
                       "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Magic (6) + version (2) + length (2) + header + '\n' must be a multiple of 64.
  const std::size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';

  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    NORMRT_CHECK(out, tmp, ": cannot open for writing");
    const char version[2] = {1, 0};
    const unsigned char len[2] = {static_cast<unsigned char>(header.size() & 0xff),
                                  static_cast<unsigned char>(header.size() >> 8)};
    out.write(kMagic, 6);
    out.write(version, 2);
    out.write(reinterpret_cast<const char*>(len), 2);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(static_cast<const char*>(host.raw_data()), static_cast<std::streamsize>(host.nbytes()));
    NORMRT_CHECK(out.good(), tmp, ": write failed");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    NORMRT_THROW(path, ": cannot replace file");
  }
}

}  // namespace normrt
