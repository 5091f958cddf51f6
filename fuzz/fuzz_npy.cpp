// libFuzzer target: the .npy reader. Any input must end in a tensor or a normrt::Error, within the memory the
// input justifies (scripts/fuzz.sh runs it with a malloc limit far below what a hostile header can claim).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "normrt/error.h"
#include "normrt/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  try {
    const normrt::Tensor t = normrt::decode_npy(std::string_view(reinterpret_cast<const char*>(data), size), "input");
    // What was decoded must round-trip.
    const normrt::Tensor again = normrt::decode_npy(normrt::encode_npy(t), "encoded");
    if (again.sizes() != t.sizes() || again.nbytes() != t.nbytes()) __builtin_trap();
  } catch (const normrt::Error&) {
  }
  return 0;
}
