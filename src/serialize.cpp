#include "normrt/serialize.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "normrt/error.h"
#include "normrt/file_io.h"

namespace normrt {

namespace {

using Json = nlohmann::ordered_json;  // keeps the tensors in the order they were given

// safetensors' own limit on the JSON header.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

const char* dtype_code(DType dtype) {
  switch (dtype) {
    case DType::Float32: return "F32";
    case DType::Int64: return "I64";
    case DType::Float16: return "F16";
    case DType::BFloat16: return "BF16";
    case DType::Bool: return "BOOL";
  }
  return "";
}

// Names and strings from a file are shown in messages as printable text of bounded length.
std::string shown(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 60)) out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  return s.size() > 60 ? out + "..." : out;
}

int64_t non_negative_integer(const Json& j, const std::string& name, const std::string& what) {
  NORMRT_CHECK(j.is_number_unsigned() || (j.is_number_integer() && j.get<int64_t>() >= 0), name, ": ", what,
               " must be a non-negative integer");
  const auto v = j.get<uint64_t>();
  NORMRT_CHECK(v <= static_cast<uint64_t>(INT64_MAX), name, ": ", what, " is too large");
  return static_cast<int64_t>(v);
}

struct Entry {
  std::string key;
  DType dtype;
  Shape shape;
  int64_t begin, end;
};

}  // namespace

std::string encode_safetensors(const nn::NamedTensors& tensors, const Metadata& metadata) {
  Json header = Json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> names;
  std::vector<Tensor> host;
  int64_t offset = 0;
  for (const auto& [key, tensor] : tensors) {
    NORMRT_CHECK(key != "__metadata__" && names.insert(key).second, "safetensors: duplicate or reserved name '", key,
                 "'");
    NORMRT_CHECK(tensor.defined(), "safetensors: tensor '", key, "' is undefined");
    host.push_back(tensor.contiguous().to(Device::cpu()));
    const auto bytes = static_cast<int64_t>(host.back().nbytes());
    header[key] = {
        {"dtype", dtype_code(tensor.dtype())}, {"shape", tensor.sizes()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned, as safetensors writes it
  std::string out(8, '\0');
  const uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  out += text;
  out.reserve(out.size() + static_cast<std::size_t>(offset));
  for (const Tensor& t : host) out.append(static_cast<const char*>(t.raw_data()), t.nbytes());
  return out;
}

nn::NamedTensors decode_safetensors(std::string_view bytes, const std::string& name, Metadata* metadata) {
  NORMRT_CHECK(bytes.size() >= 8, name, ": not a safetensors file (", bytes.size(), " bytes, no header size)");
  uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = header_bytes << 8 | static_cast<unsigned char>(bytes[i]);
  NORMRT_CHECK(header_bytes <= kMaxHeaderBytes && header_bytes <= bytes.size() - 8, name, ": header of ",
               header_bytes, " bytes runs past the end of the file (", bytes.size(), " bytes)");
  const std::string_view text = bytes.substr(8, header_bytes);
  NORMRT_CHECK(!text.empty() && text[0] == '{', name, ": not a safetensors file (the header is not a JSON object)");
  const Json header = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  NORMRT_CHECK(header.is_object(), name, ": malformed safetensors header (not valid JSON)");

  const std::string_view data = bytes.substr(8 + header_bytes);
  std::vector<Entry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      NORMRT_CHECK(value.is_object(), name, ": __metadata__ must be an object of strings");
      for (const auto& [k, v] : value.items()) {
        NORMRT_CHECK(v.is_string(), name, ": __metadata__ value '", shown(k), "' is not a string");
        if (metadata) (*metadata)[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string label = "tensor '" + shown(key) + "'";
    NORMRT_CHECK(value.is_object() && value.size() == 3 && value.contains("dtype") && value.contains("shape") &&
                     value.contains("data_offsets"),
                 name, ": ", label, " must have exactly dtype, shape and data_offsets");
    const Json& dtype = value["dtype"];
    NORMRT_CHECK(dtype.is_string(), name, ": ", label, " has a dtype that is not a string");
    Entry e{key, DType::Float32, {}, 0, 0};
    if (dtype == "F32") {
      e.dtype = DType::Float32;
    } else if (dtype == "I64") {
      e.dtype = DType::Int64;
    } else if (dtype == "F16") {
      e.dtype = DType::Float16;
    } else if (dtype == "BF16") {
      e.dtype = DType::BFloat16;
    } else if (dtype == "BOOL") {
      e.dtype = DType::Bool;
    } else {
      NORMRT_THROW(name, ": ", label, " has dtype ", shown(dtype.get<std::string>()),
                   ", which normrt does not read (F32, F16, BF16, I64 and BOOL)");
    }
    const Json& shape = value["shape"];
    NORMRT_CHECK(shape.is_array() && shape.size() <= static_cast<std::size_t>(kMaxDims), name, ": ", label,
                 " needs a shape of at most ", kMaxDims, " dimensions");
    for (const Json& d : shape) e.shape.push_back(non_negative_integer(d, name, label + "'s shape"));
    const Json& offsets = value["data_offsets"];
    NORMRT_CHECK(offsets.is_array() && offsets.size() == 2, name, ": ", label, " needs data_offsets [begin, end]");
    e.begin = non_negative_integer(offsets[0], name, label + "'s data_offsets");
    e.end = non_negative_integer(offsets[1], name, label + "'s data_offsets");
    NORMRT_CHECK(e.begin <= e.end && static_cast<uint64_t>(e.end) <= data.size(), name, ": ", label,
                 " has data_offsets [", e.begin, ", ", e.end, "] outside the ", data.size(), " bytes of data");
    const int64_t numel = shape_numel(e.shape);
    const auto element = static_cast<int64_t>(element_size(e.dtype));
    NORMRT_CHECK(numel <= (e.end - e.begin) / element && numel * element == e.end - e.begin, name, ": ", label,
                 " of shape ", shape_str(e.shape), " does not fill its ", e.end - e.begin, " bytes");
    entries.push_back(std::move(e));
  }
  // The data is indexed entirely, without overlaps or holes (safetensors' rule).
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  int64_t covered = 0;
  for (const Entry& e : entries) {
    NORMRT_CHECK(e.begin == covered, name, ": tensor '", shown(e.key), "' starts at byte ", e.begin, " of the data, ",
                 e.begin < covered ? "overlapping the previous tensor" : "leaving a hole", " (expected ", covered, ")");
    covered = e.end;
  }
  NORMRT_CHECK(static_cast<uint64_t>(covered) == data.size(), name, ": ", data.size() - covered,
               " bytes of data belong to no tensor");
  nn::NamedTensors out;
  for (const Entry& e : entries) {
    Tensor t = empty(e.shape, TensorOptions().dtype(e.dtype));
    if (t.nbytes() > 0) std::memcpy(t.raw_data(), data.data() + e.begin, t.nbytes());
    out.emplace_back(e.key, std::move(t));
  }
  return out;
}

void save(const nn::NamedTensors& tensors, const std::string& path, const Metadata& metadata) {
  write_file_atomic(path, encode_safetensors(tensors, metadata));
}

void save(const nn::Module& module, const std::string& path, const Metadata& metadata) {
  save(module.state_dict(), path, metadata);
}

nn::NamedTensors load(const std::string& path, Metadata* metadata) {
  return decode_safetensors(read_file(path), path, metadata);
}

void load(nn::Module& module, const std::string& path) {
  const nn::NamedTensors state = load(path);
  try {
    module.load_state_dict(state);
  } catch (const Error& e) {
    NORMRT_THROW(path, ": ", e.what());
  }
}

}  // namespace normrt
