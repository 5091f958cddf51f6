// libFuzzer target: the safetensors reader. Any input must end in tensors or a normrt::Error, within the memory the
// input justifies; what it decodes must survive a re-encode and decode unchanged.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "normrt/error.h"
#include "normrt/serialize.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  try {
    normrt::Metadata metadata;
    const auto tensors =
        normrt::decode_safetensors(std::string_view(reinterpret_cast<const char*>(data), size), "input", &metadata);
    normrt::Metadata again_metadata;
    const auto again =
        normrt::decode_safetensors(normrt::encode_safetensors(tensors, metadata), "encoded", &again_metadata);
    if (again.size() != tensors.size() || again_metadata != metadata) __builtin_trap();
    for (std::size_t i = 0; i < again.size(); ++i) {
      const std::size_t bytes = tensors[i].second.nbytes();
      if (again[i].first != tensors[i].first || again[i].second.sizes() != tensors[i].second.sizes() ||
          (bytes > 0 && std::memcmp(again[i].second.raw_data(), tensors[i].second.raw_data(), bytes) != 0))
        __builtin_trap();
    }
  } catch (const normrt::Error&) {
  }
  return 0;
}
