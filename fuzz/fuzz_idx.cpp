// libFuzzer target: the IDX reader, raw and gzip-compressed (the input's first byte chooses: odd bytes gzip the
// rest before decoding it, so that mutations of the inner file reach the IDX parser behind a valid stream, while
// even bytes decode the rest as it is, reaching the gzip handling with raw mutations).
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "normrt/data.h"
#include "normrt/error.h"

namespace {
std::string gzip(const uint8_t* data, std::size_t size) {
  z_stream zs{};
  if (deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) __builtin_trap();
  std::string out(deflateBound(&zs, static_cast<uLong>(size)), '\0');
  zs.next_in = const_cast<Bytef*>(data);
  zs.avail_in = static_cast<uInt>(size);
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END) __builtin_trap();
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string bytes = (data[0] & 1) ? gzip(data + 1, size - 1)
                                          : std::string(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    const normrt::data::IdxArray a = normrt::data::decode_idx(bytes, "input");
    int64_t count = 1;
    for (int64_t d : a.dims) count *= d;
    if (static_cast<std::size_t>(count) != a.data.size()) __builtin_trap();
  } catch (const normrt::Error&) {
  }
  return 0;
}
