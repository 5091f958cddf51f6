#include "normrt/data.h"

#include <algorithm>
#include <numeric>

#include "normrt/cuda.h"
#include "normrt/cuda_check.h"
#include "normrt/error.h"

namespace normrt::data {

#if NORMRT_WITH_CUDA
// Two pinned buffers (images, labels) used alternately; copied[i] marks the end of buffer i's last copies.
struct DataLoader::Staging {
  int device;
  std::size_t floats;
  float* pinned[2] = {nullptr, nullptr};
  int64_t* pinned_labels[2] = {nullptr, nullptr};
  cudaEvent_t copied[2] = {nullptr, nullptr};
  int next = 0;
  Staging(int device_index, std::size_t batch_floats, std::size_t batch_size)
      : device(device_index), floats(batch_floats) {
    cuda::DeviceGuard guard(device);
    for (int i = 0; i < 2; ++i) {
      NORMRT_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&pinned[i]), floats * sizeof(float)));
      NORMRT_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&pinned_labels[i]), batch_size * sizeof(int64_t)));
      NORMRT_CUDA_CHECK(cudaEventCreateWithFlags(&copied[i], cudaEventDisableTiming));
    }
  }
  ~Staging() {
    for (int i = 0; i < 2; ++i) {
      if (copied[i]) NORMRT_CUDA_CHECK_LOG(cudaEventSynchronize(copied[i]));
      if (copied[i]) NORMRT_CUDA_CHECK_LOG(cudaEventDestroy(copied[i]));
      if (pinned[i]) NORMRT_CUDA_CHECK_LOG(cudaFreeHost(pinned[i]));
      if (pinned_labels[i]) NORMRT_CUDA_CHECK_LOG(cudaFreeHost(pinned_labels[i]));
    }
  }
};
#else
struct DataLoader::Staging {};
#endif

DataLoader::DataLoader(const Dataset& data, std::vector<int64_t> indices, LoaderOptions options, uint64_t seed,
                       Device device)
    : data_(data), indices_(std::move(indices)), options_(options), generator_(seed), device_(device) {
  NORMRT_CHECK(options.batch_size > 0, "batch size must be positive, got ", options.batch_size);
  NORMRT_CHECK(options.crop_padding >= 0 && options.crop_padding <= 4096, "data loader: crop_padding must be in "
               "[0, 4096], got ", options.crop_padding);
  NORMRT_CHECK(options.flip_probability >= 0 && options.flip_probability <= 1,
               "data loader: flip_probability must be in [0, 1], got ", options.flip_probability);
  NORMRT_CHECK(options.shards >= 1 && options.shard >= 0 && options.shard < options.shards, "data loader: shard ",
               options.shard, " of ", options.shards, " is not a shard");
  if (indices_.empty()) {
    indices_.resize(static_cast<std::size_t>(data.count));
    std::iota(indices_.begin(), indices_.end(), 0);
  }
  for (int64_t i : indices_)
    NORMRT_CHECK(i >= 0 && i < data.count, "data loader: sample index ", i, " is outside the data set (", data.count,
                 " samples)");
  options_.batch_size = std::min<int64_t>(options_.batch_size, std::max<int64_t>(size(), 1));
  order_ = indices_;
  if (device.is_cuda()) {
#if NORMRT_WITH_CUDA
    staging_ = std::make_unique<Staging>(device.index(),
                                         static_cast<std::size_t>(options_.batch_size * data.pixels_per_image()),
                                         static_cast<std::size_t>(options_.batch_size));
#endif
  }
}

DataLoader::~DataLoader() = default;

int64_t DataLoader::size() const {
  const auto n = static_cast<int64_t>(indices_.size());
  return (n + options_.shards - 1) / options_.shards;
}

int64_t DataLoader::batches_per_epoch() const {
  const int64_t n = size();
  return options_.drop_last ? n / options_.batch_size : (n + options_.batch_size - 1) / options_.batch_size;
}

void DataLoader::start_epoch() {
  order_ = indices_;
  cursor_ = 0;
  if (options_.shuffle) {
    // Fisher-Yates with the loader's Philox stream.
    std::vector<uint32_t> bits(order_.size());
    generator_.random_u32(bits.data(), static_cast<int64_t>(bits.size()));
    for (std::size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[bits[i - 1] % i]);
  }
  if (options_.shards == 1 || order_.empty()) return;
  std::vector<int64_t> shard(static_cast<std::size_t>(size()));
  for (std::size_t k = 0; k < shard.size(); ++k)
    shard[k] = order_[(static_cast<std::size_t>(options_.shard) + k * static_cast<std::size_t>(options_.shards)) %
                      order_.size()];
  order_ = std::move(shard);
}

void DataLoader::fill(float* images, int64_t* labels, int64_t first, int64_t count) {
  const int64_t rows = data_.rows, cols = data_.cols, pixels = data_.pixels_per_image();
  const float mean = options_.normalize ? options_.normalize->first : 0.0f;
  const float inv_std = options_.normalize ? 1.0f / options_.normalize->second : 1.0f;
  const int64_t pad = options_.crop_padding;
  const bool augment = pad > 0 || options_.flip_probability > 0;
  for (int64_t b = 0; b < count; ++b) {
    const int64_t sample = order_[static_cast<std::size_t>(first + b)];
    const uint8_t* src = data_.pixels.data() + sample * pixels;
    float* dst = images + b * pixels;
    labels[b] = data_.labels[static_cast<std::size_t>(sample)];
    if (!augment) {
      for (int64_t p = 0; p < pixels; ++p) dst[p] = (static_cast<float>(src[p]) / 255.0f - mean) * inv_std;
      continue;
    }
    // Crop offset in the padded image (0 .. 2 pad in each direction), then the flip.
    uint32_t r[3];
    generator_.random_u32(r, 3);
    const int64_t dy = static_cast<int64_t>(r[0] % static_cast<uint32_t>(2 * pad + 1)) - pad;
    const int64_t dx = static_cast<int64_t>(r[1] % static_cast<uint32_t>(2 * pad + 1)) - pad;
    const bool flip = static_cast<double>(r[2]) < options_.flip_probability * 4294967296.0;
    for (int64_t y = 0; y < rows; ++y) {
      for (int64_t x = 0; x < cols; ++x) {
        const int64_t sy = y + dy, sx = (flip ? cols - 1 - x : x) + dx;
        const float v = sy >= 0 && sy < rows && sx >= 0 && sx < cols ? static_cast<float>(src[sy * cols + sx]) : 0.0f;
        dst[y * cols + x] = (v / 255.0f - mean) * inv_std;
      }
    }
  }
}

std::optional<Batch> DataLoader::next() {
  const int64_t remaining = size() - cursor_;
  if (remaining <= 0 || (options_.drop_last && remaining < options_.batch_size)) return std::nullopt;
  const int64_t count = std::min(options_.batch_size, remaining);
  const int64_t pixels = data_.pixels_per_image();
  Batch batch;
  if (device_.is_cpu()) {
    batch.images = empty({count, pixels});
    batch.labels = empty({count}, TensorOptions().dtype(DType::Int64));
    fill(batch.images.data<float>(), batch.labels.data<int64_t>(), cursor_, count);
  } else {
#if NORMRT_WITH_CUDA
    Staging& s = *staging_;
    const int slot = s.next;
    s.next ^= 1;
    cuda::DeviceGuard guard(s.device);
    // The buffer's previous copy must be done before it is overwritten (it was issued two batches ago).
    NORMRT_CUDA_CHECK(cudaEventSynchronize(s.copied[slot]));
    fill(s.pinned[slot], s.pinned_labels[slot], cursor_, count);
    const cudaStream_t stream = cuda::current_stream(s.device);
    batch.images = empty({count, pixels}, device_);
    batch.labels = empty({count}, TensorOptions(device_).dtype(DType::Int64));
    NORMRT_CUDA_CHECK(cudaMemcpyAsync(batch.images.data<float>(), s.pinned[slot],
                                      static_cast<std::size_t>(count * pixels) * sizeof(float), cudaMemcpyHostToDevice,
                                      stream));
    NORMRT_CUDA_CHECK(cudaMemcpyAsync(batch.labels.data<int64_t>(), s.pinned_labels[slot],
                                      static_cast<std::size_t>(count) * sizeof(int64_t), cudaMemcpyHostToDevice,
                                      stream));
    NORMRT_CUDA_CHECK(cudaEventRecord(s.copied[slot], stream));
#endif
  }
  cursor_ += count;
  return batch;
}

}  // namespace normrt::data
