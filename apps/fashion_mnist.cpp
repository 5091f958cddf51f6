#include "fashion_mnist.h"

#include <zlib.h>

#include <fstream>
#include <sstream>
#include <sys/stat.h>

#include "normrt/error.h"

namespace normrt::app {

const std::array<const char*, 10> kClassNames = {"t-shirt", "trouser", "pullover", "dress", "coat",
                                                 "sandal",  "shirt",   "sneaker",  "bag",   "ankle boot"};

namespace {

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  NORMRT_CHECK(in, path, ": cannot open for reading");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<uint8_t> gunzip(const std::vector<uint8_t>& compressed, const std::string& path) {
  z_stream zs{};
  NORMRT_CHECK(inflateInit2(&zs, 16 + MAX_WBITS) == Z_OK, path, ": cannot initialise zlib");
  std::vector<uint8_t> out;
  zs.next_in = const_cast<Bytef*>(compressed.data());
  zs.avail_in = static_cast<uInt>(compressed.size());
  uint8_t chunk[1 << 16];
  int status = Z_OK;
  while (status != Z_STREAM_END) {
    zs.next_out = chunk;
    zs.avail_out = sizeof chunk;
    status = inflate(&zs, Z_NO_FLUSH);
    if (status != Z_OK && status != Z_STREAM_END) {
      const std::string why = zs.msg ? zs.msg : (status == Z_BUF_ERROR ? "unexpected end of data" : "inflate error");
      inflateEnd(&zs);
      NORMRT_THROW(path, ": corrupted or truncated gzip stream (", why, ")");
    }
    out.insert(out.end(), chunk, chunk + (sizeof chunk - zs.avail_out));
    if (status != Z_STREAM_END && zs.avail_in == 0 && zs.avail_out != 0) {
      inflateEnd(&zs);
      NORMRT_THROW(path, ": corrupted or truncated gzip stream (unexpected end of data)");
    }
  }
  inflateEnd(&zs);
  return out;
}

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

IdxArray read_idx(const std::string& path) {
  std::vector<uint8_t> bytes = read_file_bytes(path);
  if (bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b) bytes = gunzip(bytes, path);
  NORMRT_CHECK(bytes.size() >= 4, path, ": too short for an IDX header (", bytes.size(), " bytes)");
  NORMRT_CHECK(bytes[0] == 0 && bytes[1] == 0, path, ": not an IDX file (bad magic number 0x", std::hex,
               (static_cast<unsigned>(bytes[0]) << 24 | static_cast<unsigned>(bytes[1]) << 16 |
                static_cast<unsigned>(bytes[2]) << 8 | bytes[3]),
               ")");
  NORMRT_CHECK(bytes[2] == 0x08, path, ": unsupported IDX element type 0x", std::hex, static_cast<unsigned>(bytes[2]),
               " (only unsigned bytes, 0x08)");
  const int ndim = bytes[3];
  NORMRT_CHECK(ndim >= 1 && ndim <= 4, path, ": unsupported IDX rank ", ndim);
  NORMRT_CHECK(bytes.size() >= 4 + 4 * static_cast<std::size_t>(ndim), path, ": truncated IDX header");
  IdxArray out;
  int64_t count = 1;
  for (int d = 0; d < ndim; ++d) {
    const uint8_t* p = bytes.data() + 4 + 4 * d;
    const int64_t dim = (int64_t{p[0]} << 24) | (int64_t{p[1]} << 16) | (int64_t{p[2]} << 8) | p[3];
    out.dims.push_back(dim);
    count *= dim;
  }
  const std::size_t header = 4 + 4 * static_cast<std::size_t>(ndim);
  const std::size_t have = bytes.size() - header;
  std::ostringstream shape;
  for (std::size_t d = 0; d < out.dims.size(); ++d) shape << (d ? "x" : "") << out.dims[d];
  NORMRT_CHECK(have >= static_cast<std::size_t>(count), path, ": truncated: the header says ", shape.str(), " (",
               count, " bytes of data) but the file holds ", have);
  NORMRT_CHECK(have == static_cast<std::size_t>(count), path, ": ", have - count,
               " unexpected bytes after the data of a ", shape.str(), " array");
  out.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  return out;
}

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

}  // namespace normrt::app
