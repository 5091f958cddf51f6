// Weights exchanged with PyTorch and the rest of the ecosystem in the safetensors format: an 8-byte little-endian
// header size, a JSON header {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
// "__metadata__": {"key": "value"}}, then the raw little-endian data. Files written here load with
// safetensors.torch.load_file / safetensors.numpy.load_file, and files those write load here (float32 "F32",
// float16 "F16", bfloat16 "BF16", int64 "I64" and bool "BOOL" tensors; other dtypes are refused by name).
#pragma once
#include <map>
#include <string>
#include <string_view>

#include "normrt/nn/module.h"

namespace normrt {

using Metadata = std::map<std::string, std::string>;

// Writes `tensors` (any device) to `path` atomically (write_file_atomic), in their order.
void save(const nn::NamedTensors& tensors, const std::string& path, const Metadata& metadata = {});
// A module's state_dict; load() checks every name, shape and dtype before changing anything (load_state_dict).
void save(const nn::Module& module, const std::string& path, const Metadata& metadata = {});
// CPU tensors in file order. Every malformed file (header size, JSON, dtype, shape, offsets that overlap, leave
// holes or run past the data) is refused with a normrt::Error naming the file and the problem; nothing is
// allocated beyond the file's own size.
nn::NamedTensors load(const std::string& path, Metadata* metadata = nullptr);
void load(nn::Module& module, const std::string& path);

std::string encode_safetensors(const nn::NamedTensors& tensors, const Metadata& metadata = {});
nn::NamedTensors decode_safetensors(std::string_view bytes, const std::string& name, Metadata* metadata = nullptr);

}  // namespace normrt
