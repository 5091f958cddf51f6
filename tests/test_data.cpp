// The data loader's augmentations (RandomCrop with padding, RandomHorizontalFlip): each image is the original
// shifted by an in-range offset with zero fill, mirrored when drawn, the draws vary between samples and repeat
// for a seed, and turning them off leaves the loader's stream exactly as it was.
#include <set>

#include "normrt/data.h"
#include "test_util.h"

namespace normrt::data {
namespace {

using normrt::testing::throws_with;

// count images of rows x cols whose pixels are all distinct and non-zero within an image (so a shift is
// identifiable), labels i % 10.
Dataset distinct_images(int64_t count, int64_t rows, int64_t cols) {
  Dataset d;
  d.count = count;
  d.rows = rows;
  d.cols = cols;
  for (int64_t i = 0; i < count; ++i) {
    for (int64_t p = 0; p < rows * cols; ++p) d.pixels.push_back(static_cast<uint8_t>(1 + (p + 3 * i) % 250));
    d.labels.push_back(i % 10);
  }
  return d;
}

// The image `sample` of `d` cropped at offset (dy, dx) from its zero-padded version and optionally mirrored, as
// torchvision's RandomCrop then RandomHorizontalFlip would produce it, scaled to [0, 1].
std::vector<float> transformed(const Dataset& d, int64_t sample, int64_t dy, int64_t dx, bool flip) {
  std::vector<float> out;
  for (int64_t y = 0; y < d.rows; ++y)
    for (int64_t x = 0; x < d.cols; ++x) {
      const int64_t sy = y + dy, sx = (flip ? d.cols - 1 - x : x) + dx;
      const bool inside = sy >= 0 && sy < d.rows && sx >= 0 && sx < d.cols;
      out.push_back(inside ? d.pixels[static_cast<std::size_t>(sample * d.rows * d.cols + sy * d.cols + sx)] / 255.0f
                           : 0.0f);
    }
  return out;
}

TEST(DataLoaderAugment, EveryImageIsAPaddedCropOrItsMirror) {
  const Dataset d = distinct_images(40, 5, 6);
  LoaderOptions options;
  options.batch_size = 7;
  options.crop_padding = 2;
  options.flip_probability = 0.5;
  DataLoader loader(d, {}, options, 9, Device::cpu());
  loader.start_epoch();
  std::set<std::tuple<int64_t, int64_t, bool>> seen;
  while (auto batch = loader.next()) {
    const auto images = batch->images.to_vector();
    const auto labels = batch->labels.to_vector<int64_t>();
    for (std::size_t b = 0; b < labels.size(); ++b) {
      const std::vector<float> image(images.begin() + static_cast<std::ptrdiff_t>(b * 30),
                                     images.begin() + static_cast<std::ptrdiff_t>((b + 1) * 30));
      // Which sample and transform: the first pixel values identify the sample; search every offset and flip.
      int matches = 0;
      for (int64_t sample = 0; sample < d.count; ++sample) {
        if (sample % 10 != labels[b]) continue;
        for (int64_t dy = -2; dy <= 2; ++dy)
          for (int64_t dx = -2; dx <= 2; ++dx)
            for (bool flip : {false, true})
              if (transformed(d, sample, dy, dx, flip) == image) {
                ++matches;
                seen.insert({dy, dx, flip});
              }
      }
      EXPECT_GE(matches, 1) << "batch image " << b << " is no padded crop of any sample";
    }
  }
  EXPECT_GT(seen.size(), 10u);  // the draws vary from sample to sample
}

TEST(DataLoaderAugment, SeededAndOffByDefault) {
  const Dataset d = distinct_images(12, 4, 4);
  auto first_batch = [&](LoaderOptions options, uint64_t seed) {
    DataLoader loader(d, {}, options, seed, Device::cpu());
    loader.start_epoch();
    return loader.next()->images.to_vector();
  };
  LoaderOptions augmented;
  augmented.crop_padding = 1;
  augmented.flip_probability = 1.0;
  EXPECT_EQ(first_batch(augmented, 5), first_batch(augmented, 5));
  // Off, the loader draws nothing beyond the shuffle: the images are the data set's, in shuffled order.
  const LoaderOptions plain;
  DataLoader loader(d, {}, plain, 5, Device::cpu());
  loader.start_epoch();
  const auto batch = loader.next();
  const auto images = batch->images.to_vector();
  const auto labels = batch->labels.to_vector<int64_t>();
  for (std::size_t b = 0; b < labels.size(); ++b) {
    bool found = false;
    for (int64_t s = 0; s < d.count && !found; ++s)
      found = transformed(d, s, 0, 0, false) ==
              std::vector<float>(images.begin() + static_cast<std::ptrdiff_t>(b * 16),
                                 images.begin() + static_cast<std::ptrdiff_t>((b + 1) * 16));
    EXPECT_TRUE(found);
  }
  // Mirror only: exactly the flipped image; normalisation applies to the padding zeros too.
  LoaderOptions mirror;
  mirror.shuffle = false;
  mirror.flip_probability = 1.0;
  mirror.normalize = std::make_pair(0.5f, 0.25f);
  mirror.crop_padding = 0;
  DataLoader flipped(d, {0}, mirror, 1, Device::cpu());
  flipped.start_epoch();
  const auto got = flipped.next()->images.to_vector();
  auto expected = transformed(d, 0, 0, 0, true);
  for (float& v : expected) v = (v - 0.5f) / 0.25f;
  EXPECT_EQ(got, expected);
  LoaderOptions bad;
  bad.flip_probability = 1.5;
  EXPECT_TRUE(throws_with([&] { DataLoader(d, {}, bad, 1, Device::cpu()); }, "flip_probability must be in [0, 1]"));
}

// Shards of one loader's epoch (DistributedSampler's): together they are the unsharded loader's order, padded by
// repeating its start, dealt round-robin; every shard has the same size and the next epoch reshuffles alike.
TEST(DataLoaderShards, ShardsDealOneShuffleRoundRobin) {
  const Dataset d = distinct_images(10, 2, 2);
  auto labels_of = [](DataLoader& loader) {
    std::vector<int64_t> out;
    while (auto batch = loader.next()) {
      const auto v = batch->labels.to_vector<int64_t>();
      out.insert(out.end(), v.begin(), v.end());
    }
    return out;
  };
  std::vector<int64_t> samples(10);
  for (int64_t i = 0; i < 10; ++i) samples[static_cast<std::size_t>(i)] = i;
  LoaderOptions options;
  options.batch_size = 3;
  // Labels are i % 10: with 10 samples, a label is its sample.
  DataLoader whole(d, samples, options, 42, Device::cpu());
  std::vector<std::unique_ptr<DataLoader>> shards;
  for (int64_t k = 0; k < 3; ++k) {
    LoaderOptions o = options;
    o.shards = 3;
    o.shard = k;
    shards.push_back(std::make_unique<DataLoader>(d, samples, o, 42, Device::cpu()));
    EXPECT_EQ(shards.back()->size(), 4);
    EXPECT_EQ(shards.back()->batches_per_epoch(), 2);
  }
  for (int epoch = 0; epoch < 2; ++epoch) {
    whole.start_epoch();
    std::vector<int64_t> order = labels_of(whole);
    order.push_back(order[0]);
    order.push_back(order[1]);
    std::vector<std::vector<int64_t>> dealt(3);
    for (auto& shard : shards) shard->start_epoch();
    for (int64_t k = 0; k < 3; ++k) {
      for (std::size_t i = static_cast<std::size_t>(k); i < order.size(); i += 3)
        dealt[static_cast<std::size_t>(k)].push_back(order[i]);
      EXPECT_EQ(labels_of(*shards[static_cast<std::size_t>(k)]), dealt[static_cast<std::size_t>(k)]) << "shard " << k;
    }
  }
  LoaderOptions bad = options;
  bad.shards = 2;
  bad.shard = 2;
  EXPECT_TRUE(throws_with([&] { DataLoader(d, samples, bad, 1, Device::cpu()); }, "shard 2 of 2 is not a shard"));
}

}  // namespace
}  // namespace normrt::data
