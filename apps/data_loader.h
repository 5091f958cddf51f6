// Batches of (images, labels) from a Dataset: seeded shuffle each epoch, drop_last, ToTensor scaling to [0, 1] and
// optional Normalize(mean, std). On a CUDA device, batches (images and labels) are assembled in two alternating
// pinned host buffers
// and copied with cudaMemcpyAsync on the compute stream (a copy from pageable memory would synchronise the
// stream): the host prepares batch k+1 while the GPU still runs
// batch k, and never waits for the device except to reuse a buffer whose copy was issued two batches earlier.
// (The copy itself is stream-ordered with the kernels; a separate copy stream would need device buffers whose
// reuse is fenced against compute, which the stream-ordered allocator does not do across streams.)
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "fashion_mnist.h"
#include "normrt/generator.h"
#include "normrt/tensor.h"

namespace normrt::app {

// Normalize(mean, std) of the Fashion-MNIST training set (pixels scaled to [0, 1]), as the tutorials use it.
constexpr std::pair<float, float> kFashionMnistNormalize{0.2860f, 0.3530f};

struct LoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = true;
  bool drop_last = false;
  std::optional<std::pair<float, float>> normalize;  // (mean, std) applied after scaling to [0, 1]
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

  // Starts an epoch: draws the permutation for it from the loader's generator.
  void start_epoch();
  // The next batch of the epoch, or nullopt at its end.
  std::optional<Batch> next();
  int64_t batches_per_epoch() const;
  int64_t size() const { return static_cast<int64_t>(indices_.size()); }
  Generator& generator() { return generator_; }

 private:
  void fill(float* images, int64_t* labels, int64_t first, int64_t count) const;

  const Dataset& data_;
  std::vector<int64_t> indices_, order_;
  LoaderOptions options_;
  Generator generator_;
  Device device_;
  int64_t cursor_ = 0;
  struct Staging;  // pinned buffers, copy stream and events (CUDA only)
  std::unique_ptr<Staging> staging_;
};

}  // namespace normrt::app
