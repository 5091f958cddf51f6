#include "checkpoint.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <fstream>

#include "normrt/error.h"

namespace normrt::app {

namespace {

constexpr char kMagic[8] = {'N', 'R', 'T', 'C', 'K', 'P', 'T', '\0'};
constexpr std::size_t kHeaderBytes = 8 + 4 + 8 + 4;

template <typename T>
void put(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

class Reader {
 public:
  Reader(const std::string& data, std::size_t pos, const std::string& path) : data_(data), pos_(pos), path_(path) {}
  template <typename T>
  T get() {
    T value;
    need(sizeof value);
    std::memcpy(&value, data_.data() + pos_, sizeof value);
    pos_ += sizeof value;
    return value;
  }
  const char* take(std::size_t n) {
    need(n);
    const char* p = data_.data() + pos_;
    pos_ += n;
    return p;
  }
  bool done() const { return pos_ == data_.size(); }

 private:
  void need(std::size_t n) const {
    NORMRT_CHECK(pos_ + n <= data_.size(), path_, ": malformed checkpoint (a record runs past the end)");
  }
  const std::string& data_;
  std::size_t pos_;
  const std::string& path_;
};

}  // namespace

void save_checkpoint(const std::string& path, const nn::NamedTensors& tensors) {
  std::string payload;
  put<uint64_t>(payload, tensors.size());
  for (const auto& [name, tensor] : tensors) {
    NORMRT_CHECK(tensor.dtype() == DType::Float32 || tensor.dtype() == DType::Int64, "checkpoint: tensor '", name,
                 "' has unsupported dtype ", dtype_name(tensor.dtype()));
    const Tensor host = tensor.to(Device::cpu());
    put<uint32_t>(payload, static_cast<uint32_t>(name.size()));
    payload += name;
    put<uint8_t>(payload, host.dtype() == DType::Float32 ? 0 : 1);
    put<uint8_t>(payload, static_cast<uint8_t>(host.dim()));
    for (int64_t d : host.sizes()) put<int64_t>(payload, d);
    payload.append(static_cast<const char*>(host.raw_data()), host.nbytes());
  }
  std::string file(kMagic, sizeof kMagic);
  put<uint32_t>(file, kCheckpointVersion);
  put<uint64_t>(file, payload.size());
  put<uint32_t>(file, static_cast<uint32_t>(
                          crc32(0L, reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(payload.size()))));
  file += payload;

  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  NORMRT_CHECK(fd >= 0, tmp, ": cannot open for writing");
  std::size_t written = 0;
  while (written < file.size()) {
    const ssize_t n = ::write(fd, file.data() + written, file.size() - written);
    if (n <= 0) {
      ::close(fd);
      std::remove(tmp.c_str());
      NORMRT_THROW(tmp, ": write failed");
    }
    written += static_cast<std::size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    NORMRT_THROW(path, ": cannot write the checkpoint (fsync or rename failed)");
  }
}

nn::NamedTensors load_checkpoint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  NORMRT_CHECK(in, path, ": cannot open checkpoint");
  const std::string file{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  NORMRT_CHECK(file.size() >= kHeaderBytes && std::memcmp(file.data(), kMagic, sizeof kMagic) == 0, path,
               ": not a normrt checkpoint");
  Reader header(file, sizeof kMagic, path);
  const auto version = header.get<uint32_t>();
  NORMRT_CHECK(version == kCheckpointVersion, path, ": checkpoint version ", version, ", this build reads version ",
               kCheckpointVersion);
  const auto payload_bytes = header.get<uint64_t>();
  const auto crc = header.get<uint32_t>();
  NORMRT_CHECK(file.size() - kHeaderBytes == payload_bytes, path, ": truncated checkpoint (", file.size() - kHeaderBytes,
               " of ", payload_bytes, " payload bytes)");
  const std::string payload = file.substr(kHeaderBytes);
  NORMRT_CHECK(crc32(0L, reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(payload.size())) == crc,
               path, ": checksum mismatch (the file is corrupted)");
  Reader r(payload, 0, path);
  nn::NamedTensors out;
  const auto count = r.get<uint64_t>();
  for (uint64_t i = 0; i < count; ++i) {
    const auto name_len = r.get<uint32_t>();
    std::string name(r.take(name_len), name_len);
    const auto dtype = r.get<uint8_t>();
    const auto rank = r.get<uint8_t>();
    NORMRT_CHECK(dtype <= 1 && rank <= kMaxDims, path, ": malformed record '", name, "'");
    Shape shape;
    for (int d = 0; d < rank; ++d) {
      shape.push_back(r.get<int64_t>());
      NORMRT_CHECK(shape.back() >= 0, path, ": malformed record '", name, "'");
    }
    Tensor t = empty(shape, TensorOptions().dtype(dtype == 0 ? DType::Float32 : DType::Int64));
    std::memcpy(t.raw_data(), r.take(t.nbytes()), t.nbytes());
    out.emplace_back(std::move(name), std::move(t));
  }
  NORMRT_CHECK(r.done(), path, ": malformed checkpoint (trailing bytes)");
  return out;
}

}  // namespace normrt::app
