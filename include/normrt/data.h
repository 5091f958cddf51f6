// Data loading for training: IDX files (MNIST, Fashion-MNIST; gzip or raw) into an image Dataset, and a DataLoader
// that batches it with a seeded shuffle, ToTensor scaling, Normalize and the tutorials' augmentations, staging
// batches in pinned memory on a GPU. Lives in the library so that users train their own data without the app.
//
// Loader on a CUDA device: batches (images and labels) are assembled in two alternating pinned host buffers and
// copied with cudaMemcpyAsync on the compute stream (a copy from pageable memory would synchronise the stream): the
// host prepares batch k+1 while the GPU still runs batch k, and never waits for the device except to reuse a buffer
// whose copy was issued two batches earlier. (The copy itself is stream-ordered with the kernels; a separate copy
// stream would need device buffers whose reuse is fenced against compute, which the stream-ordered allocator does
// not do across streams.)
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "normrt/generator.h"
#include "normrt/tensor.h"

namespace normrt::data {

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

// Fashion-MNIST's class names, by label.
extern const std::array<const char*, 10> kClassNames;

// Normalize(mean, std) of the Fashion-MNIST training set (pixels scaled to [0, 1]), as the tutorials use it.
constexpr std::pair<float, float> kFashionMnistNormalize{0.2860f, 0.3530f};

struct LoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = true;
  bool drop_last = false;
  std::optional<std::pair<float, float>> normalize;  // (mean, std) applied after scaling to [0, 1]
  // Training augmentations, as torchvision's RandomCrop(size, padding=crop_padding) then
  // RandomHorizontalFlip(flip_probability): each sample is zero-padded, cropped back to its size at a random offset
  // and mirrored with that probability, drawn from the loader's generator (so seeded runs and resumes repeat them).
  // Padding pixels are 0 before normalisation, as in torchvision. Off (0) by default.
  int64_t crop_padding = 0;
  double flip_probability = 0.0;
  // Data-parallel training, as PyTorch's DistributedSampler (drop_last=False): the loader serves shard `shard` of
  // `shards` (a rank's share). Every rank draws the same per-epoch order (same seed), padded to a multiple of
  // `shards` by repeating its start, and takes every shards-th sample from position `shard`: disjoint shards of one
  // shuffle, of equal size, so the ranks' generators stay in step across epochs.
  int64_t shards = 1;
  int64_t shard = 0;
};

struct Batch {
  Tensor images;  // (B, rows * cols) float32 on the loader's device
  Tensor labels;  // (B) int64 on the loader's device (checked to be classes 0-9 when the data set was loaded)
};

class DataLoader {
 public:
  // `indices`: the samples of `data` this loader serves (all when empty; each must be a sample of `data`). A batch
  // size larger than the samples is the whole set.
  DataLoader(const Dataset& data, std::vector<int64_t> indices, LoaderOptions options, uint64_t seed, Device device);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Starts an epoch: draws the permutation for it from the loader's generator (and, batch by batch, the
  // augmentations).
  void start_epoch();
  // The next batch of the epoch, or nullopt at its end.
  std::optional<Batch> next();
  int64_t batches_per_epoch() const;
  // The samples served per epoch: this shard's share (all of them without sharding).
  int64_t size() const;
  Generator& generator() { return generator_; }

 private:
  void fill(float* images, int64_t* labels, int64_t first, int64_t count);

  const Dataset& data_;
  std::vector<int64_t> indices_, order_;
  LoaderOptions options_;
  Generator generator_;
  Device device_;
  int64_t cursor_ = 0;
  struct Staging;  // pinned buffers, copy stream and events (CUDA only)
  std::unique_ptr<Staging> staging_;
};

}  // namespace normrt::data
