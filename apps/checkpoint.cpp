#include "checkpoint.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "normrt/error.h"
#include "normrt/file_io.h"

namespace normrt::app {

namespace {

constexpr char kMagic[8] = {'N', 'R', 'T', 'C', 'K', 'P', 'T', '\0'};
constexpr std::size_t kHeaderBytes = 8 + 4 + 8 + 4;
constexpr uint32_t kMaxNameBytes = 256;

template <typename T>
void put(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

// Names come from the file: shown in messages only as printable text of bounded length.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 60)) out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  return s.size() > 60 ? out + "..." : out;
}

class Reader {
 public:
  Reader(std::string_view data, const std::string& name) : data_(data), name_(name) {}
  template <typename T>
  T get(const char* what) {
    T value;
    std::memcpy(&value, take(sizeof value, what), sizeof value);
    return value;
  }
  const char* take(std::size_t n, const char* what) {
    NORMRT_CHECK(n <= remaining(), name_, ": malformed checkpoint (", what, " runs past the end: ", n,
                 " bytes wanted, ", remaining(), " left)");
    const char* p = data_.data() + pos_;
    pos_ += n;
    return p;
  }
  std::size_t remaining() const { return data_.size() - pos_; }

 private:
  std::string_view data_;
  const std::string& name_;
  std::size_t pos_ = 0;
};

}  // namespace

uint32_t checkpoint_crc(std::string_view payload) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths: feed large payloads in pieces.
  for (std::size_t done = 0; done < payload.size();) {
    const std::size_t n = std::min<std::size_t>(payload.size() - done, 1u << 30);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(payload.data() + done), static_cast<uInt>(n));
    done += n;
  }
  return static_cast<uint32_t>(crc);
}

std::string encode_checkpoint(const Checkpoint& checkpoint) {
  std::string payload;
  const std::string metadata = nlohmann::json(checkpoint.metadata).dump();
  put<uint32_t>(payload, static_cast<uint32_t>(metadata.size()));
  payload += metadata;
  put<uint64_t>(payload, checkpoint.tensors.size());
  for (const auto& [name, tensor] : checkpoint.tensors) {
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
  put<uint32_t>(file, checkpoint_crc(payload));
  return file + payload;
}

Checkpoint decode_checkpoint(std::string_view bytes, const std::string& name) {
  NORMRT_CHECK(bytes.size() >= kHeaderBytes && std::memcmp(bytes.data(), kMagic, sizeof kMagic) == 0, name,
               ": not a normrt checkpoint");
  Reader header(bytes.substr(sizeof kMagic, kHeaderBytes - sizeof kMagic), name);
  const auto version = header.get<uint32_t>("the version");
  NORMRT_CHECK(version == kCheckpointVersion, name, ": checkpoint version ", version, ", this build reads version ",
               kCheckpointVersion);
  const auto payload_bytes = header.get<uint64_t>("the payload size");
  const auto crc = header.get<uint32_t>("the checksum");
  const std::string_view payload = bytes.substr(kHeaderBytes);
  NORMRT_CHECK(payload.size() == payload_bytes, name, ": truncated checkpoint (", payload.size(), " of ",
               payload_bytes, " payload bytes)");
  NORMRT_CHECK(checkpoint_crc(payload) == crc, name, ": checksum mismatch (the file is corrupted)");

  Reader r(payload, name);
  Checkpoint out;
  const auto metadata_bytes = r.get<uint32_t>("the metadata size");
  const std::string_view metadata(r.take(metadata_bytes, "the metadata"), metadata_bytes);
  const auto json = nlohmann::json::parse(metadata.begin(), metadata.end(), nullptr, /*allow_exceptions=*/false);
  NORMRT_CHECK(json.is_object(), name, ": malformed checkpoint metadata (not a JSON object)");
  for (const auto& [key, value] : json.items()) {
    NORMRT_CHECK(value.is_string(), name, ": malformed checkpoint metadata ('", printable(key), "' is not a string)");
    out.metadata.emplace(key, value.get<std::string>());
  }

  const auto count = r.get<uint64_t>("the tensor count");
  std::set<std::string_view> seen;
  for (uint64_t i = 0; i < count; ++i) {
    const auto name_len = r.get<uint32_t>("a tensor name length");
    const std::string_view tensor_name(r.take(name_len, "a tensor name"), name_len);
    NORMRT_CHECK(name_len > 0 && name_len <= kMaxNameBytes &&
                     std::all_of(tensor_name.begin(), tensor_name.end(),
                                 [](char c) { return std::isgraph(static_cast<unsigned char>(c)) != 0; }),
                 name, ": malformed checkpoint (tensor name '", printable(tensor_name),
                 "' is empty, longer than 256 bytes or not printable)");
    NORMRT_CHECK(seen.insert(tensor_name).second, name, ": malformed checkpoint (tensor '", printable(tensor_name),
                 "' appears twice)");
    const auto dtype = r.get<uint8_t>("a dtype");
    const auto rank = r.get<uint8_t>("a rank");
    NORMRT_CHECK(dtype <= 1, name, ": malformed record '", printable(tensor_name), "' (dtype code ", int(dtype), ")");
    NORMRT_CHECK(rank <= kMaxDims, name, ": malformed record '", printable(tensor_name), "' (rank ", int(rank), ")");
    Shape shape;
    for (int d = 0; d < rank; ++d) {
      shape.push_back(r.get<int64_t>("a dimension"));
      NORMRT_CHECK(shape.back() >= 0, name, ": malformed record '", printable(tensor_name), "' (negative dimension)");
    }
    // The data must be in the file before a tensor of that size is allocated.
    const int64_t element = dtype == 0 ? 4 : 8;
    const int64_t numel = shape_numel(shape);
    NORMRT_CHECK(numel <= static_cast<int64_t>(r.remaining()) / element, name, ": malformed record '",
                 printable(tensor_name), "' (shape ", shape_str(shape), " needs more data than the file holds)");
    Tensor t = empty(shape, TensorOptions().dtype(dtype == 0 ? DType::Float32 : DType::Int64));
    const char* data = r.take(t.nbytes(), "tensor data");
    if (t.nbytes() > 0) std::memcpy(t.raw_data(), data, t.nbytes());
    out.tensors.emplace_back(std::string(tensor_name), std::move(t));
  }
  NORMRT_CHECK(r.remaining() == 0, name, ": malformed checkpoint (", r.remaining(), " trailing bytes)");
  return out;
}

void save_checkpoint(const std::string& path, const Checkpoint& checkpoint) {
  write_file_atomic(path, encode_checkpoint(checkpoint));
}

Checkpoint load_checkpoint(const std::string& path) { return decode_checkpoint(read_file(path), path); }

}  // namespace normrt::app
