// Fashion-MNIST (and MNIST) from IDX files, gzip-compressed or not.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace normrt::app {

// An IDX array: big-endian header (magic 0x0000 08 <ndim>, unsigned-byte data only), dims, then the bytes.
struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;
};

// Reads `path` (gzip is detected by its magic bytes). Throws normrt::Error naming the file and what is wrong:
// unreadable or not a regular file, corrupted gzip stream, bad magic, unsupported type, a size that overflows,
// truncated or oversized data. A gzip stream is inflated only as far as the header's size (plus one byte to
// notice excess): output is never larger than what the header announces, whatever the stream would expand to.
IdxArray read_idx(const std::string& path);
// The same from the file's bytes; `name` labels the errors.
IdxArray decode_idx(std::string_view bytes, const std::string& name);

struct Dataset {
  int64_t count = 0, rows = 0, cols = 0;
  std::vector<uint8_t> pixels;  // count * rows * cols, row-major
  std::vector<int64_t> labels;  // count, in [0, 10)
  int64_t pixels_per_image() const { return rows * cols; }
};

// Loads "<dir>/train-images-idx3-ubyte(.gz)" + labels, or the "t10k-" pair for train=false, checking that the
// files agree (image and label counts), that they hold at least one non-empty image and that labels are classes
// 0-9.
Dataset load_dataset(const std::string& dir, bool train);

// Where Debian's dataset-fashion-mnist package puts the files.
constexpr const char* kDefaultDataDir = "/usr/share/datasets/fashion-mnist";

extern const std::array<const char*, 10> kClassNames;

}  // namespace normrt::app
