#include "normrt/data.h"

#include <zlib.h>

#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <sstream>

#include "normrt/error.h"
#include "normrt/file_io.h"

namespace normrt::data {

const std::array<const char*, 10> kClassNames = {"t-shirt", "trouser", "pullover", "dress", "coat",
                                                 "sandal",  "shirt",   "sneaker",  "bag",   "ankle boot"};

namespace {

// Inflates a gzip stream on demand, so that the caller decides how much output it is willing to hold.
class GzipStream {
 public:
  GzipStream(std::string_view compressed, const std::string& name) : name_(name) {
    NORMRT_CHECK(compressed.size() <= UINT32_MAX, name, ": gzip files over 4 GB are not supported");
    NORMRT_CHECK(inflateInit2(&zs_, 16 + MAX_WBITS) == Z_OK, name, ": cannot initialise zlib");
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
    zs_.avail_in = static_cast<uInt>(compressed.size());
  }
  ~GzipStream() { inflateEnd(&zs_); }
  GzipStream(const GzipStream&) = delete;
  GzipStream& operator=(const GzipStream&) = delete;

  // Inflates until `out` holds `want` bytes or the stream ends; never writes past `want`.
  void fill(std::vector<uint8_t>& out, std::size_t want) {
    while (out.size() < want && !ended_) {
      const std::size_t chunk = std::min<std::size_t>(want - out.size(), 1 << 20);
      const std::size_t before = out.size();
      out.resize(before + chunk);  // grows with what is actually inflated, not with what the header claims
      zs_.next_out = out.data() + before;
      zs_.avail_out = static_cast<uInt>(chunk);
      const int status = inflate(&zs_, Z_NO_FLUSH);
      out.resize(before + (chunk - zs_.avail_out));
      if (status == Z_STREAM_END) {
        ended_ = true;
        NORMRT_CHECK(zs_.avail_in == 0, name_, ": unexpected bytes after the gzip stream");
      } else if (status != Z_OK) {  // Z_BUF_ERROR: no progress possible, the input ended early
        const std::string why =
            zs_.msg ? zs_.msg : (status == Z_BUF_ERROR ? "unexpected end of data" : "inflate error");
        NORMRT_THROW(name_, ": corrupted or truncated gzip stream (", why, ")");
      }
    }
  }
 private:
  z_stream zs_{};
  bool ended_ = false;
  const std::string& name_;
};

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

constexpr std::size_t kIdxMaxRank = 4;

}  // namespace

IdxArray decode_idx(std::string_view bytes, const std::string& name) {
  const bool gz = bytes.size() >= 2 && static_cast<uint8_t>(bytes[0]) == 0x1f && static_cast<uint8_t>(bytes[1]) == 0x8b;
  std::optional<GzipStream> stream;
  std::vector<uint8_t> data;
  // Raw files are whole already; gzip streams are inflated as far as each step needs.
  auto have = [&](std::size_t n) -> std::size_t {
    if (!gz) {
      if (data.empty() && !bytes.empty()) data.assign(bytes.begin(), bytes.end());
    } else {
      if (!stream) stream.emplace(bytes, name);
      stream->fill(data, n);
    }
    return data.size();
  };
  NORMRT_CHECK(have(4) >= 4, name, ": too short for an IDX header (", data.size(), " bytes)");
  NORMRT_CHECK(data[0] == 0 && data[1] == 0, name, ": not an IDX file (bad magic number 0x", std::hex,
               (static_cast<unsigned>(data[0]) << 24 | static_cast<unsigned>(data[1]) << 16 |
                static_cast<unsigned>(data[2]) << 8 | data[3]),
               ")");
  NORMRT_CHECK(data[2] == 0x08, name, ": unsupported IDX element type 0x", std::hex, static_cast<unsigned>(data[2]),
               " (only unsigned bytes, 0x08)");
  const std::size_t ndim = data[3];
  NORMRT_CHECK(ndim >= 1 && ndim <= kIdxMaxRank, name, ": unsupported IDX rank ", ndim);
  const std::size_t header = 4 + 4 * ndim;
  NORMRT_CHECK(have(header) >= header, name, ": truncated IDX header");
  IdxArray out;
  int64_t count = 1;
  bool overflow = false;
  std::ostringstream shape;
  for (std::size_t d = 0; d < ndim; ++d) {
    const uint8_t* p = data.data() + 4 + 4 * d;
    const int64_t dim = (int64_t{p[0]} << 24) | (int64_t{p[1]} << 16) | (int64_t{p[2]} << 8) | p[3];
    out.dims.push_back(dim);
    overflow = overflow || __builtin_mul_overflow(count, dim, &count);
    shape << (d ? "x" : "") << dim;
  }
  NORMRT_CHECK(!overflow && static_cast<uint64_t>(count) <= SIZE_MAX - header - 1, name, ": the header's size ",
               shape.str(), " overflows");
  const auto expected = header + static_cast<std::size_t>(count);
  const std::size_t got = have(expected + 1) - header;  // one byte more than announced reveals excess data
  NORMRT_CHECK(got >= static_cast<std::size_t>(count), name, ": truncated: the header says ", shape.str(), " (", count,
               " bytes of data) but the file holds ", got);
  if (gz && got > static_cast<std::size_t>(count)) {
    NORMRT_THROW(name, ": more data than the ", shape.str(), " array the header announces");
  }
  NORMRT_CHECK(got == static_cast<std::size_t>(count), name, ": ", got - count,
               " unexpected bytes after the data of a ", shape.str(), " array");
  out.data.assign(data.begin() + static_cast<std::ptrdiff_t>(header), data.end());
  return out;
}

IdxArray read_idx(const std::string& path) { return decode_idx(read_file(path), path); }

Dataset load_dataset(const std::string& dir, bool train) {
  const std::string prefix = dir + "/" + (train ? "train" : "t10k");
  auto locate = [&](const std::string& stem) {
    for (const std::string& candidate : {stem + ".gz", stem})
      if (exists(candidate)) return candidate;
    NORMRT_THROW(stem, "(.gz): not found (install Debian's dataset-fashion-mnist or pass --data-dir)");
  };
  const std::string images_path = locate(prefix + "-images-idx3-ubyte");
  const std::string labels_path = locate(prefix + "-labels-idx1-ubyte");
  IdxArray images = read_idx(images_path);
  IdxArray labels = read_idx(labels_path);
  NORMRT_CHECK(images.dims.size() == 3, images_path, ": expected a 3-d image array (count, rows, cols), got rank ",
               images.dims.size());
  NORMRT_CHECK(labels.dims.size() == 1, labels_path, ": expected a 1-d label array, got rank ", labels.dims.size());
  NORMRT_CHECK(images.dims[0] == labels.dims[0], labels_path, " has ", labels.dims[0], " labels but ", images_path,
               " has ", images.dims[0], " images");
  NORMRT_CHECK(images.dims[0] > 0, images_path, ": holds no images");
  NORMRT_CHECK(images.dims[1] > 0 && images.dims[2] > 0, images_path, ": images of ", images.dims[1], "x",
               images.dims[2], " pixels hold nothing");
  Dataset d;
  d.count = images.dims[0];
  d.rows = images.dims[1];
  d.cols = images.dims[2];
  d.pixels = std::move(images.data);
  d.labels.resize(labels.data.size());
  for (std::size_t i = 0; i < labels.data.size(); ++i) {
    NORMRT_CHECK(labels.data[i] < 10, labels_path, ": label ", int(labels.data[i]), " at index ", i,
                 " is not a class (0-9)");
    d.labels[i] = labels.data[i];
  }
  return d;
}

}  // namespace normrt::data
