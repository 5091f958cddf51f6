// The training application: IDX reading (good and broken files), the data loader, checkpoints (round trip,
// corruption, mismatch) and, on the real Fashion-MNIST files, a smoke training and exact resumption.
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include <nlohmann/json.hpp>

#include "checkpoint.h"
#include "normrt/file_io.h"
#include "data_parallel_trainers.h"
#include "synthetic_images.h"
#include "test_util.h"
#include "trainer.h"

namespace normrt::app {
namespace {

using normrt::testing::scratch_dir;
using normrt::testing::throws_with;

std::string idx_bytes(const std::vector<int64_t>& dims, const std::vector<uint8_t>& data, uint8_t type = 0x08) {
  std::string s = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (int64_t d : dims)
    for (int shift : {24, 16, 8, 0}) s += static_cast<char>((d >> shift) & 0xff);
  s.append(data.begin(), data.end());
  return s;
}

void write_raw(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  gzclose(f);
}

// Five 2x3 images whose pixels encode (image, position), labels 0..4.
void write_tiny_dataset(const std::string& dir, bool gz) {
  std::vector<uint8_t> pixels, labels;
  for (int i = 0; i < 5; ++i) {
    for (int p = 0; p < 6; ++p) pixels.push_back(static_cast<uint8_t>(i * 50 + p));
    labels.push_back(static_cast<uint8_t>(i));
  }
  auto write = gz ? write_gz : write_raw;
  write(dir + "/train-images-idx3-ubyte" + (gz ? ".gz" : ""), idx_bytes({5, 2, 3}, pixels));
  write(dir + "/train-labels-idx1-ubyte" + (gz ? ".gz" : ""), idx_bytes({5}, labels));
}

TEST(Idx, ReadsRawAndGzippedFiles) {
  for (bool gz : {false, true}) {
    const std::string dir = scratch_dir() + (gz ? "/gz" : "/raw");
    std::filesystem::create_directories(dir);
    write_tiny_dataset(dir, gz);
    const Dataset d = load_dataset(dir, true);
    EXPECT_EQ(d.count, 5);
    EXPECT_EQ(d.pixels_per_image(), 6);
    EXPECT_EQ(d.pixels[2 * 6 + 4], 104);
    EXPECT_EQ(d.labels, (std::vector<int64_t>{0, 1, 2, 3, 4}));
  }
}

TEST(Idx, BrokenFilesNameTheFileAndTheProblem) {
  const std::string dir = scratch_dir();
  const std::string path = dir + "/x-idx";
  write_raw(path, "\x01\x02\x03\x04");
  EXPECT_TRUE(throws_with([&] { read_idx(path); }, path + ": not an IDX file (bad magic number 0x1020304)"));
  write_raw(path, idx_bytes({2, 2}, {1, 2, 3}));
  EXPECT_TRUE(throws_with([&] { read_idx(path); },
                          path + ": truncated: the header says 2x2 (4 bytes of data) but the file holds 3"));
  write_raw(path, idx_bytes({2}, {1, 2, 3}));
  EXPECT_TRUE(throws_with([&] { read_idx(path); }, "1 unexpected bytes after the data of a 2 array"));
  write_raw(path, idx_bytes({2}, {1, 2}, 0x0D));
  EXPECT_TRUE(throws_with([&] { read_idx(path); }, "unsupported IDX element type 0xd"));
  // A gzip stream cut in half, and one with flipped bytes.
  write_gz(path, idx_bytes({1000}, std::vector<uint8_t>(1000, 7)));
  std::string gz;
  {
    std::ifstream in(path, std::ios::binary);
    gz.assign(std::istreambuf_iterator<char>(in), {});
  }
  write_raw(path, gz.substr(0, gz.size() / 2));
  EXPECT_TRUE(throws_with([&] { read_idx(path); }, path + ": corrupted or truncated gzip stream"));
  std::string flipped = gz;
  for (std::size_t i = 12; i < 20 && i < flipped.size(); ++i) flipped[i] = static_cast<char>(~flipped[i]);
  write_raw(path, flipped);
  EXPECT_TRUE(throws_with([&] { read_idx(path); }, path + ": corrupted or truncated gzip stream"));
  EXPECT_TRUE(throws_with([&] { read_idx(dir + "/missing"); }, "cannot open for reading"));
}

TEST(Idx, MismatchedFilesAreRefused) {
  const std::string dir = scratch_dir();
  write_tiny_dataset(dir, false);
  write_raw(dir + "/train-labels-idx1-ubyte", idx_bytes({4}, {0, 1, 2, 3}));
  EXPECT_TRUE(throws_with([&] { load_dataset(dir, true); }, "has 4 labels but"));
  write_raw(dir + "/train-labels-idx1-ubyte", idx_bytes({5}, {0, 1, 12, 3, 4}));
  EXPECT_TRUE(throws_with([&] { load_dataset(dir, true); }, "label 12 at index 2 is not a class (0-9)"));
  EXPECT_TRUE(throws_with([&] { load_dataset(dir, false); }, "t10k-images-idx3-ubyte(.gz): not found"));
}

TEST(Idx, HostileHeadersAreRefusedWithoutAllocatingWhatTheyClaim) {
  const std::string dir = scratch_dir();
  // Dims whose product overflows 64 bits, in a header-only file (accepted as empty before).
  EXPECT_TRUE(throws_with([&] { decode_idx(idx_bytes({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {}), "x"); },
                          "x: the header's size 4294967295x4294967295x4294967295x4294967295 overflows"));
  EXPECT_TRUE(throws_with([&] { decode_idx(idx_bytes({60000, 28, 28}, {}), "x"); },
                          "the header says 60000x28x28 (47040000 bytes of data) but the file holds 0"));
  EXPECT_TRUE(throws_with([&] { decode_idx(std::string("\0\0\x08\x09", 4), "x"); }, "unsupported IDX rank 9"));
  EXPECT_TRUE(throws_with([&] { decode_idx(std::string("\0\0\x08\x02\0\0", 6), "x"); }, "truncated IDX header"));
  // A gzip bomb: a 10-byte array followed by 256 MB of zeros, about 250 KB compressed. It is refused after
  // inflating 11 bytes, inside a 64 MB allowance.
  const std::string bomb = dir + "/bomb.gz";
  {
    gzFile f = gzopen(bomb.c_str(), "wb9");
    ASSERT_NE(f, nullptr);
    const std::string head = idx_bytes({10}, std::vector<uint8_t>(10, 1));
    gzwrite(f, head.data(), static_cast<unsigned>(head.size()));
    const std::string zeros(1 << 20, '\0');
    for (int i = 0; i < 256; ++i) gzwrite(f, zeros.data(), static_cast<unsigned>(zeros.size()));
    gzclose(f);
  }
  EXPECT_LT(std::filesystem::file_size(bomb), 1u << 20);
  const std::string result = normrt::testing::run_in_child_with_memory_cap([&] { read_idx(bomb); }, 64);
  EXPECT_NE(result.find("more data than the 10 array the header announces"), std::string::npos) << result;
  // Data-set files that are directories or devices, and a data set without images.
  std::filesystem::create_directories(dir + "/train-images-idx3-ubyte.gz");
  write_raw(dir + "/train-labels-idx1-ubyte", idx_bytes({1}, {0}));
  EXPECT_TRUE(throws_with([&] { load_dataset(dir, true); }, "train-images-idx3-ubyte.gz: is a directory"));
  std::filesystem::remove(dir + "/train-images-idx3-ubyte.gz");
  write_raw(dir + "/train-images-idx3-ubyte", idx_bytes({0, 28, 28}, {}));
  write_raw(dir + "/train-labels-idx1-ubyte", idx_bytes({0}, {}));
  EXPECT_TRUE(throws_with([&] { load_dataset(dir, true); }, "train-images-idx3-ubyte: holds no images"));
}

Dataset tiny_dataset(int64_t count) {
  Dataset d;
  d.count = count;
  d.rows = 1;
  d.cols = 2;
  for (int64_t i = 0; i < count; ++i) {
    d.pixels.push_back(static_cast<uint8_t>(i));
    d.pixels.push_back(255);
    d.labels.push_back(i % 10);
  }
  return d;
}

TEST(Loader, BatchesShuffleScaleAndDropLast) {
  const Dataset d = tiny_dataset(10);
  DataLoader loader(d, {}, LoaderOptions{4, true, false, std::nullopt}, 3, Device::cpu());
  EXPECT_EQ(loader.batches_per_epoch(), 3);
  auto epoch = [&] {
    std::vector<int64_t> order;
    loader.start_epoch();
    std::vector<int64_t> sizes;
    while (auto b = loader.next()) {
      sizes.push_back(b->labels.numel());
      const auto img = b->images.to_vector();
      for (int64_t i = 0; i < b->labels.numel(); ++i) {
        EXPECT_FLOAT_EQ(img[i * 2 + 1], 1.0f);  // 255 scales to 1
        order.push_back(static_cast<int64_t>(std::lround(img[i * 2] * 255.0f)));
      }
    }
    EXPECT_EQ(sizes, (std::vector<int64_t>{4, 4, 2}));
    return order;
  };
  const auto first = epoch(), second = epoch();
  EXPECT_NE(first, second);
  auto sorted = first;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  DataLoader again(d, {}, LoaderOptions{4, true, false, std::nullopt}, 3, Device::cpu());
  again.start_epoch();
  EXPECT_EQ(std::lround(again.next()->images.to_vector()[0] * 255.0f), first[0]);

  DataLoader dropping(d, {1, 2, 3, 4, 5}, LoaderOptions{2, false, true, std::make_pair(0.5f, 0.25f)}, 0, Device::cpu());
  EXPECT_EQ(dropping.batches_per_epoch(), 2);
  dropping.start_epoch();
  const auto b = dropping.next();
  EXPECT_FLOAT_EQ(b->images.to_vector()[1], (1.0f - 0.5f) / 0.25f);
  EXPECT_EQ(b->labels.to_vector<int64_t>(), (std::vector<int64_t>{1, 2}));
  dropping.next();
  EXPECT_FALSE(dropping.next().has_value());
}

TEST(Checkpoint, RoundTripAndCorruption) {
  const std::string path = scratch_dir() + "/c.ckpt";
  Generator gen(1);
  const Checkpoint saved{{{"format", "test"}, {"note", "x"}},
                         {{"a", randn({3, 4}, gen)}, {"b", from_vector(std::vector<int64_t>{7}, {})}}};
  save_checkpoint(path, saved);
  const Checkpoint loaded = load_checkpoint(path);
  EXPECT_EQ(loaded.metadata, saved.metadata);
  ASSERT_EQ(loaded.tensors.size(), 2u);
  EXPECT_EQ(loaded.tensors[0].first, "a");
  EXPECT_EQ(loaded.tensors[0].second.to_vector(), saved.tensors[0].second.to_vector());
  EXPECT_EQ(loaded.tensors[1].second.item<int64_t>(), 7);
  EXPECT_EQ(std::filesystem::directory_iterator(scratch_dir())->path().filename(), "c.ckpt");  // no temporaries
  const std::string bytes = read_file(path);
  std::string corrupted = bytes;
  corrupted[corrupted.size() - 3] ^= 0x40;
  write_raw(path, corrupted);
  EXPECT_TRUE(throws_with([&] { load_checkpoint(path); }, "checksum mismatch (the file is corrupted)"));
  write_raw(path, bytes.substr(0, bytes.size() - 10));
  EXPECT_TRUE(throws_with([&] { load_checkpoint(path); }, "truncated checkpoint"));
  write_raw(path, "not a checkpoint at all, clearly");
  EXPECT_TRUE(throws_with([&] { load_checkpoint(path); }, "not a normrt checkpoint"));
  std::string other_version = bytes;
  other_version[8] = 1;
  write_raw(path, other_version);
  EXPECT_TRUE(throws_with([&] { load_checkpoint(path); }, "checkpoint version 1, this build reads version 2"));
  EXPECT_TRUE(throws_with([&] { load_checkpoint(scratch_dir()); }, "is a directory"));
  EXPECT_TRUE(throws_with([&] { load_checkpoint("/dev/zero"); }, "not a regular file"));
}

// A checkpoint file around `payload` with a valid header and CRC, so that only the records are wrong.
std::string checkpoint_file(const std::string& payload) {
  std::string file("NRTCKPT\0", 8);
  const uint32_t version = kCheckpointVersion, crc = checkpoint_crc(payload);
  const uint64_t size = payload.size();
  file.append(reinterpret_cast<const char*>(&version), 4);
  file.append(reinterpret_cast<const char*>(&size), 8);
  file.append(reinterpret_cast<const char*>(&crc), 4);
  return file + payload;
}

// Payload pieces: metadata, a tensor count, one record.
std::string payload_start(const std::string& metadata_json, uint64_t count) {
  std::string p;
  const auto n = static_cast<uint32_t>(metadata_json.size());
  p.append(reinterpret_cast<const char*>(&n), 4);
  p += metadata_json;
  p.append(reinterpret_cast<const char*>(&count), 8);
  return p;
}
std::string record(const std::string& name, uint8_t dtype, const std::vector<int64_t>& dims, std::size_t data_bytes) {
  std::string r;
  const auto n = static_cast<uint32_t>(name.size());
  r.append(reinterpret_cast<const char*>(&n), 4);
  r += name;
  r += static_cast<char>(dtype);
  r += static_cast<char>(dims.size());
  for (int64_t d : dims) r.append(reinterpret_cast<const char*>(&d), 8);
  return r + std::string(data_bytes, '\0');
}

TEST(Checkpoint, CraftedRecordsAreRefusedBeforeAnythingIsAllocated) {
  auto refused = [](const std::string& payload, const std::string& why) {
    return throws_with([&] { decode_checkpoint(checkpoint_file(payload), "c"); }, why);
  };
  EXPECT_EQ(decode_checkpoint(checkpoint_file(payload_start("{}", 1) + record("a", 0, {2, 2}, 16)), "c")
                .tensors[0].second.numel(), 4);
  EXPECT_TRUE(refused(payload_start("{}", 1) + record("a", 7, {2}, 8), "malformed record 'a' (dtype code 7)"));
  EXPECT_TRUE(refused(payload_start("{}", 1) + record("a", 0, {1, 1, 1, 1, 1, 1}, 4), "(rank 6)"));
  EXPECT_TRUE(refused(payload_start("{}", 1) + record("a", 0, {-2}, 8), "(negative dimension)"));
  EXPECT_TRUE(refused(payload_start("{}", 1) + record("a", 1, {int64_t{1} << 62, 4}, 8), "is too large"));
  EXPECT_TRUE(refused(payload_start("{}", 2) + record("a", 0, {1}, 4) + record("a", 0, {1}, 4), "'a' appears twice"));
  EXPECT_TRUE(refused(payload_start("{}", 1) + record("bad\nname", 0, {1}, 4), "not printable"));
  EXPECT_TRUE(refused(payload_start("{}", 1) + record("", 0, {1}, 4), "is empty"));
  EXPECT_TRUE(refused(payload_start("{}", 1) + record("a", 0, {1}, 4) + "xx", "2 trailing bytes"));
  EXPECT_TRUE(refused(payload_start("{}", 5) + record("a", 0, {1}, 4), "runs past the end"));
  EXPECT_TRUE(refused(payload_start("[1, 2]", 0), "malformed checkpoint metadata (not a JSON object)"));
  EXPECT_TRUE(refused(payload_start("{\"a\": 1}", 0), "'a' is not a string"));
  EXPECT_TRUE(refused(payload_start("{\"a\": ", 0), "not a JSON object"));
  EXPECT_TRUE(refused(payload_start(std::string(100000, '['), 0), "not a JSON object"));
  // A record claiming 2^31 floats over 16 bytes of data: refused without allocating 8 GB.
  const std::string claims = checkpoint_file(payload_start("{}", 1) + record("a", 0, {int64_t{1} << 31}, 16));
  const std::string result = normrt::testing::run_in_child_with_memory_cap([&] { decode_checkpoint(claims, "c"); }, 64);
  EXPECT_NE(result.find("needs more data than the file holds"), std::string::npos) << result;
}

std::string models_golden_dir() { return normrt::testing::golden_sibling_dir("data_models"); }

TEST(Models, StateDictsMatchThePyTorchTwins) {
  // tests/golden/make_golden_models.py: the state_dict keys and shapes of benchmarks/train_pytorch.py's models.
  std::ifstream in(models_golden_dir() + "/models.json");
  const auto expected = nlohmann::json::parse(in);
  for (const std::string kind : {"mlp", "mlp-bn", "cnn", "cnn-bn", "resnet"}) {
    Generator gen(0);
    const auto state = build_model(kind, 0, gen, std::nullopt)->state_dict();
    const auto& want = expected.at(kind);
    ASSERT_EQ(state.size(), want.size()) << kind;
    for (std::size_t i = 0; i < state.size(); ++i) {
      EXPECT_EQ(state[i].first, want[i][0].get<std::string>()) << kind;
      EXPECT_EQ(state[i].second.sizes(), want[i][1].get<Shape>()) << kind << " " << state[i].first;
    }
  }
  Generator gen(0);
  EXPECT_TRUE(throws_with([&] { build_model("vgg", 0, gen, std::nullopt); },
                          "unknown model 'vgg' (mlp, mlp-bn, cnn, cnn-bn, resnet)"));
}

// make_golden_models.py's formula_init: sin patterns at PyTorch's init scale, buffers left at their defaults.
void formula_init(nn::Module& model) {
  int p = -1;
  for (auto& [key, t] : model.state_dict()) {
    ++p;
    if (key.find("running_") != std::string::npos || key.find("num_batches_tracked") != std::string::npos) continue;
    std::vector<float> values(static_cast<std::size_t>(t.numel()));
    for (std::size_t i = 0; i < values.size(); ++i) {
      const double wave = std::sin(0.61 * static_cast<double>(i) + 1.3 * p + 0.2);
      const bool weight = key.size() >= 6 && key.compare(key.size() - 6, 6, "weight") == 0;
      values[i] = static_cast<float>(t.dim() >= 2 ? wave / std::sqrt(static_cast<double>(t.numel() / t.size(0)))
                                     : weight     ? 1.0 + 0.1 * wave
                                                  : 0.1 * wave);
    }
    t.copy_(from_vector(values, t.sizes()));
  }
}

struct StepsCase {
  std::string model, dir;
  MemoryFormat activations;
  double tolerance;  // of each tensor's scale
};

class ThreeSteps : public ::testing::TestWithParam<StepsCase> {};

// Three SGD steps (momentum, weight decay) on one batch in train mode (the CNN's Dropout in eval mode): losses, every
// parameter and running statistic against PyTorch in float64. The ResNet also with channels-last activations, which
// run its convolutions, BatchNorm, ReLU, residual sums and pooling, forward and backward, on NHWC memory. (The CNN's
// max pooling makes it a poor channels-last oracle: there oneDNN's NHWC rounding tips a near-tied pooling window to
// its other element at the first step, moving the final weights by 1e-3 of their scale.)
TEST_P(ThreeSteps, MatchPyTorch) {
  const StepsCase& c = GetParam();
  const std::string dir = models_golden_dir() + "/" + c.dir + "/";
  Generator gen(0);
  auto model = build_model(c.model, 0, gen, std::nullopt, c.activations);
  formula_init(*model);
  model->train();
  if (c.model == "cnn-bn") model->at<nn::Dropout>(8).eval();
  // The images enter the network in the format asked for (every layer's output follows its input's).
  ASSERT_EQ((*model)[0].forward(load_npy(dir + "x.npy")).memory_format(), c.activations);
  optim::SGD opt(model->parameters(), optim::SGDOptions(0.05).momentum(0.9).weight_decay(1e-4));
  const Tensor x = load_npy(dir + "x.npy"), labels = load_npy(dir + "labels.npy");
  nn::CrossEntropyLoss criterion;
  const auto losses = load_npy(dir + "losses.npy").to_vector();
  for (int step = 0; step < 3; ++step) {
    opt.zero_grad();
    const float loss = criterion.forward(model->forward(x), labels).item();
    model->backward(criterion.backward());
    opt.step();
    EXPECT_NEAR(loss, losses[static_cast<std::size_t>(step)],
                2e-5 * std::max(1.0f, losses[static_cast<std::size_t>(step)]))
        << "step " << step;
  }
  // Float32 against float64 through BatchNorm's 1/std and three momentum steps, to c.tolerance of each tensor's scale.
  // The CNN: 2e-5 (observed: at most 4e-6; a wrong term in any gradient moves values by far more). The ResNet's
  // steps amplify rounding more (BatchNorm over 7x7 planes of 16 images): PyTorch's own float32 run of them is off its
  // float64 run by up to 2.3e-3 (tests/golden/make_golden_models.py prints it), and which float32 run lands where is
  // a matter of rounding: normrt's NCHW run was off by 2.6e-4 and its channels-last run by 4e-6 until the CPU
  // BatchNorm centred its backward on the batch mean's low part (a change of about 1e-8 relative in each gradient),
  // after which they are off by 2.3e-3 and 2.6e-4, each tensor but one below 4.2e-4. So 3e-3, PyTorch's own float32
  // distance with a margin; BatchNorm's unbiased-variance factor over those planes alone is 1.3e-3.
  for (const auto& [key, t] : model->state_dict()) {
    if (t.dtype() == DType::Int64) {
      EXPECT_EQ(t.to_vector<int64_t>(), load_npy(dir + "final." + key + ".npy").to_vector<int64_t>()) << key;
      continue;
    }
    std::vector<double> actual = normrt::testing::to_double(t), expected;
    const std::string final_path = dir + "final." + key + ".npy";
    if (std::filesystem::exists(final_path)) {
      expected = normrt::testing::to_double(load_npy(final_path));
    } else {
      // Stored as W @ P with P[i][j] = sin(0.37 * i * (j + 1) + j), 16 columns.
      expected = normrt::testing::to_double(load_npy(dir + "projected." + key + ".npy"));
      const int64_t rows = t.size(0), cols = t.size(1);
      std::vector<double> projected(static_cast<std::size_t>(rows * 16), 0.0);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < cols; ++i)
          for (int64_t j = 0; j < 16; ++j)
            projected[static_cast<std::size_t>(r * 16 + j)] +=
                actual[static_cast<std::size_t>(r * cols + i)] * std::sin(0.37 * static_cast<double>(i) * (j + 1) + j);
      actual = projected;
    }
    EXPECT_TRUE(normrt::testing::all_close(actual, expected, c.tolerance, c.tolerance)) << key;
  }
}

INSTANTIATE_TEST_SUITE_P(Models, ThreeSteps,
                         ::testing::Values(StepsCase{"cnn-bn", "cnn_bn_steps", MemoryFormat::Contiguous, 2e-5},
                                           StepsCase{"resnet", "resnet_steps", MemoryFormat::Contiguous, 3e-3},
                                           StepsCase{"resnet", "resnet_steps", MemoryFormat::ChannelsLast, 3e-3}),
                         [](const auto& info) {
                           std::string name = info.param.dir + "_" + memory_format_name(info.param.activations);
                           name.erase(std::remove(name.begin(), name.end(), '_'), name.end());
                           return name;
                         });

using normrt::testing::synthetic_images;

TrainConfig synthetic_config(const std::string& model) {
  TrainConfig c;
  c.model = model;
  c.device = "cpu";
  c.progress = false;
  c.batch_size = 16;
  c.epochs = 3;
  return c;
}

// Every value a checkpoint of `trainer` would hold (model, optimizer, generators), as host vectors.
std::vector<std::pair<std::string, std::vector<double>>> snapshot(const Trainer& trainer) {
  std::vector<std::pair<std::string, std::vector<double>>> out;
  for (const auto& [key, t] : trainer.checkpoint(0).tensors) {
    std::vector<double> v;
    if (t.dtype() == DType::Float32) {
      for (float x : t.to_vector()) v.push_back(x);
    } else {
      for (int64_t x : t.to_vector<int64_t>()) v.push_back(static_cast<double>(x));
    }
    out.emplace_back(key, v);
  }
  return out;
}

class SyntheticTraining : public ::testing::Test {
 protected:
  Dataset train_ = synthetic_images(96, 1);
  Dataset test_ = synthetic_images(32, 2);
};

// Data-parallel training, ranks as threads (a Trainer each): two ranks with --sync-bn and batches of 8 train as one
// process with batches of 16, since by the loader's shards each global batch is the single run's batch: the same
// epoch losses and final model within float tolerance, the two ranks' models equal to the bit; only rank 0 writes
// the checkpoint.
TEST_F(SyntheticTraining, DataParallelRanksTrainAsOneProcessOnTheirGlobalBatch) {
  const TrainConfig single = synthetic_config("mlp-bn");
  Trainer reference(single, train_, test_);
  const RunResult whole = reference.run();
  const auto reference_state = snapshot(reference);

  TrainConfig per_rank = single;
  per_rank.batch_size = 8;
  per_rank.sync_bn = true;
  per_rank.save_path = scratch_dir() + "/data-parallel.ckpt";
  std::remove(per_rank.save_path.c_str());
  std::vector<std::vector<std::pair<std::string, std::vector<double>>>> states(2);
  const auto results = normrt::testing::train_ranks(2, per_rank, train_, test_, [&](Trainer& trainer, int rank) {
    states[static_cast<std::size_t>(rank)] = snapshot(trainer);
  });
  normrt::testing::expect_epochs_match(results, whole, 1.0 / 32);
  std::size_t compared = 0;
  for (std::size_t i = 0; i < reference_state.size(); ++i) {
    const auto& [key, expected] = reference_state[i];
    if (key.rfind("model.", 0) != 0) continue;
    ASSERT_EQ(states[0][i].first, key);
    EXPECT_EQ(states[0][i].second, states[1][i].second) << key << ": the ranks' models differ";
    EXPECT_TRUE(normrt::testing::all_close(states[0][i].second, expected, 1e-3, 1e-4)) << key;
    ++compared;
  }
  EXPECT_GT(compared, 4u);
  EXPECT_TRUE(std::filesystem::exists(per_rank.save_path));
}

// A data-parallel run stopped after one epoch of three and resumed by the same ranks from rank 0's checkpoint, with
// normrt-train --resume's defaults, repeats the uninterrupted run's batch losses bit for bit, with plain BatchNorm and
// with SyncBatchNorm (which the checkpoint records: resumed without it, the ranks would normalise by their own shares).
TEST_F(SyntheticTraining, DataParallelRunsResumeBitForBit) {
  for (const bool sync_bn : {false, true}) {
    TrainConfig c = synthetic_config("mlp-bn");
    c.batch_size = 8;
    c.sync_bn = sync_bn;
    const auto whole = normrt::testing::train_ranks(2, c, train_, test_);

    TrainConfig first = c;
    first.stop_after = 1;
    first.save_path = scratch_dir() + "/data-parallel-resume.ckpt";
    std::remove(first.save_path.c_str());
    normrt::testing::train_ranks(2, first, train_, test_);
    TrainConfig cli = synthetic_config("mlp");
    cli.resume_path = first.save_path;
    std::vector<std::string> notices;
    const TrainConfig rest = resolve_resume_config(cli, {}, load_checkpoint(first.save_path), first.save_path, notices);
    EXPECT_TRUE(notices.empty());
    EXPECT_EQ(rest.sync_bn, sync_bn);
    const auto resumed = normrt::testing::train_ranks(2, rest, train_, test_);
    for (std::size_t rank = 0; rank < 2; ++rank) {
      const std::vector<float>& all = whole[rank].batch_losses;
      const std::vector<float>& tail = resumed[rank].batch_losses;
      ASSERT_EQ(tail.size() * 3, all.size() * 2) << "sync_bn " << sync_bn;
      EXPECT_EQ(std::memcmp(tail.data(), all.data() + all.size() / 3, tail.size() * sizeof(float)), 0)
          << "sync_bn " << sync_bn << ", rank " << rank << ": the resumed epochs' first loss " << tail[0] << ", the "
          << "uninterrupted run's " << all[all.size() / 3];
    }
  }
}

TEST_F(SyntheticTraining, RestoreValidatesEveryEntryBeforeChangingAnything) {
  TrainConfig c = synthetic_config("mlp-bn");
  c.dropout = 0.2;
  c.epochs = 2;
  Trainer source(c, train_, test_);
  source.run();
  const Checkpoint good = source.checkpoint(2);
  Trainer target(c, train_, test_);
  const auto before = snapshot(target);

  auto with_tensor = [&](const std::string& key, const Tensor& value) {
    Checkpoint ck = good;
    for (auto& [k, v] : ck.tensors)
      if (k == key) v = value;
    return ck;
  };
  auto with_metadata = [&](const std::string& key, const std::string& value) {
    Checkpoint ck = good;
    ck.metadata[key] = value;
    return ck;
  };
  auto changed = [&](const std::string& key, auto edit) {
    Checkpoint ck = good;
    for (auto& [k, v] : ck.tensors)
      if (k == key) {
        v = v.clone();
        edit(v);
      }
    return ck;
  };
  std::string last_step;
  for (const auto& [k, v] : good.tensors)
    if (k.size() > 5 && k.compare(k.size() - 5, 5, ".step") == 0) last_step = k;
  ASSERT_FALSE(last_step.empty());
  Checkpoint extra = good;
  extra.tensors.emplace_back("junk", zeros({1}));
  Checkpoint missing_rng = good;
  missing_rng.tensors.erase(std::remove_if(missing_rng.tensors.begin(), missing_rng.tensors.end(),
                                           [](const auto& e) { return e.first == "rng.dropout.1"; }),
                            missing_rng.tensors.end());
  Checkpoint missing_weight = good;
  missing_weight.tensors.erase(missing_weight.tensors.begin());

  const std::vector<std::pair<Checkpoint, std::string>> cases = {
      {with_tensor("rng.loader", zeros({3}, TensorOptions().dtype(DType::Int64))),
       "'rng.loader' must be a generator state (int64 of shape [2]), got int64 of shape [3]"},
      {with_tensor("rng.dropout.0", zeros({2})), "'rng.dropout.0' must be a generator state"},
      // The very last entry: a restore that applied entries as it went would have changed everything before it.
      {with_tensor(last_step, from_vector(std::vector<int64_t>{-1}, {})), "a step count cannot be negative"},
      {changed("optim.0.exp_avg_sq", [](Tensor& t) { t.data<float>()[3] = -1.0f; }), "holds an invalid value (-1"},
      {changed("model.0.weight", [](Tensor& t) { t.data<float>()[5] = std::nanf(""); }),
       "'model.0.weight' holds a non-finite value (nan at index 5)"},
      {changed("model.1.running_var", [](Tensor& t) { t.data<float>()[0] = -0.5f; }), "negative variance"},
      {changed("model.1.num_batches_tracked", [](Tensor& t) { t.data<int64_t>()[0] = -1; }), "negative count"},
      {with_tensor("model.0.weight", zeros({256, 783})),
       "size mismatch for 0.weight: copying a param with shape torch.Size([256, 783])"},
      {with_metadata("epochs_done", "1099511627776"), "'epochs_done' = '1099511627776' is not an integer in [0, 2]"},
      {with_metadata("epochs", "1099511627776"), "malformed value"},
      {with_metadata("epochs", "2000000"), "--epochs must be in [0, 1000000]"},
      {with_metadata("lr", "nan"), "--lr must be a non-negative number"},
      {with_metadata("dropout", "-1"), "dropout probability has to be between 0 and 1, but got -1"},
      {with_metadata("format", "other"), "not a normrt-train checkpoint"},
      {with_metadata("best_val_loss", "nan"), "'best_val_loss' is missing or not a non-negative number"},
      {extra, "unexpected entry 'junk'"},
      {missing_rng, "lacks generator states (2 of 3)"},
      {missing_weight, "Missing key(s) in state_dict: \"0.weight\". "},
  };
  for (const auto& [ck, why] : cases) {
    EXPECT_TRUE(throws_with([&] { target.restore(ck, "ck"); }, why)) << why;
    EXPECT_TRUE(snapshot(target) == before) << "state changed by a refused restore: " << why;
  }
  EXPECT_EQ(target.restore(good, "ck"), 2);
  EXPECT_TRUE(snapshot(target) == snapshot(source));
}

// Stops `model` after one epoch of three and resumes it with normrt-train --resume's defaults: the resumed epochs
// must repeat the uninterrupted run's losses bit for bit.
void check_stop_and_resume(const std::string& model, const Dataset& train_, const Dataset& test_,
                           const std::string& precision = "fp32") {
  TrainConfig c = synthetic_config(model);
  c.dropout = 0.2;  // the dropout generators must resume too
  c.precision = precision;  // fp16: the loss scaler too
  const RunResult whole = Trainer(c, train_, test_).run();
  ASSERT_EQ(whole.epochs.size(), 3u);

  const std::string path = scratch_dir() + "/run-" + model + ".ckpt";
  TrainConfig first = c;
  first.stop_after = 1;
  first.save_path = path;
  EXPECT_EQ(Trainer(first, train_, test_).run().epochs.size(), 1u);
  // What normrt-train --resume does with no other options: the checkpoint's configuration throughout.
  TrainConfig cli = synthetic_config("mlp");
  cli.resume_path = path;
  std::vector<std::string> notices;
  const TrainConfig resumed_config = resolve_resume_config(cli, {}, load_checkpoint(path), path, notices);
  EXPECT_TRUE(notices.empty());
  EXPECT_EQ(resumed_config.model, model);
  EXPECT_EQ(resumed_config.epochs, 3);
  const RunResult resumed = Trainer(resumed_config, train_, test_).run();

  const std::size_t per_epoch = whole.batch_losses.size() / 3;
  ASSERT_EQ(resumed.batch_losses.size(), 2 * per_epoch);
  EXPECT_EQ(std::memcmp(resumed.batch_losses.data(), whole.batch_losses.data() + per_epoch,
                        2 * per_epoch * sizeof(float)), 0);
  EXPECT_EQ(resumed.epochs.back().test_accuracy, whole.epochs.back().test_accuracy);
  // The run is complete now: resuming it again has nothing to do unless --epochs grows.
  TrainConfig again = resumed_config;
  again.save_path = path;
  Trainer(again, train_, test_).run();
  EXPECT_TRUE(throws_with([&] { Trainer(again, train_, test_).run(); }, "leaves nothing to train"));
}

TEST_F(SyntheticTraining, StopAfterThenResumeRepeatsTheUninterruptedRunBitForBit) {
  check_stop_and_resume("mlp-bn", train_, test_);
}

TEST_F(SyntheticTraining, ConvolutionalModelsResumeBitForBitToo) {
  check_stop_and_resume("cnn-bn", train_, test_);
  check_stop_and_resume("resnet", train_, test_);
}

// --memory-format channels_last computes the same network on NHWC activations: the same losses up to rounding over
// the first steps (oneDNN's NHWC kernels sum in another order; later steps of the ResNet's SGD at lr 0.1 on 16 images
// amplify that past 1e-3, as they do between PyTorch's float32 and float64 runs, see ThreeSteps). Measured relative
// differences, ResNet: 1e-7, 0, 1.5e-5, 1.1e-4, 3.7e-4 over the first five batches (about 7x a step from the third
// on); cnn-bn stays below 2e-6. Bounds: 1e-5 for the first two batches, 1e-4 for the third.
TEST_F(SyntheticTraining, ChannelsLastTrainsTheSameNetwork) {
  for (const std::string model : {"cnn-bn", "resnet"}) {
    TrainConfig c = synthetic_config(model);
    c.epochs = 1;
    const std::vector<float> contiguous = Trainer(c, train_, test_).run().batch_losses;
    c.memory_format = "channels_last";
    const std::vector<float> channels_last = Trainer(c, train_, test_).run().batch_losses;
    ASSERT_EQ(channels_last.size(), contiguous.size()) << model;
    for (std::size_t i = 0; i < 3; ++i) {
      EXPECT_NEAR(channels_last[i], contiguous[i], (i < 2 ? 1e-5 : 1e-4) * std::fabs(contiguous[i]))
          << model << " batch " << i;
    }
  }
}

TEST_F(SyntheticTraining, ResumeTakesTheCheckpointsConfigurationAndNamesEveryOverride) {
  TrainConfig c = synthetic_config("mlp-bn");
  c.dropout = 0.1;
  c.lr = 0.002;
  c.epochs = 1;
  c.normalize = true;
  const std::string path = scratch_dir() + "/run.ckpt";
  c.save_path = path;
  Trainer(c, train_, test_).run();
  const Checkpoint ck = load_checkpoint(path);
  auto resolve = [&](const TrainConfig& cli, const std::set<std::string>& given, std::vector<std::string>& notes) {
    return resolve_resume_config(cli, given, ck, path, notes);
  };
  TrainConfig cli = synthetic_config("mlp");
  cli.epochs = 5;
  cli.lr = 0.01;
  cli.device = "cpu";
  std::vector<std::string> notes;
  const TrainConfig r = resolve(cli, {"epochs", "lr"}, notes);
  EXPECT_EQ(r.model, "mlp-bn");  // not given: the checkpoint's
  EXPECT_EQ(r.dropout, 0.1);
  EXPECT_TRUE(r.normalize);
  EXPECT_EQ(r.epochs, 5);
  EXPECT_EQ(r.lr, 0.01);
  ASSERT_EQ(notes.size(), 2u);
  EXPECT_NE(notes[0].find("--epochs 5 replaces the checkpoint's 1: the remaining epochs follow the learning-rate "
                          "schedule of an 5-epoch run"), std::string::npos) << notes[0];
  EXPECT_NE(notes[1].find("--lr 0.01 replaces the checkpoint's 0.002"), std::string::npos) << notes[1];
  notes.clear();
  cli.lr = 0.002;
  resolve(cli, {"lr"}, notes);  // given, but equal: nothing to say
  EXPECT_TRUE(notes.empty());
  cli.sync_bn = true;
  EXPECT_TRUE(resolve(cli, {"sync_bn"}, notes).sync_bn);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("--sync-bn true replaces the checkpoint's false"), std::string::npos) << notes[0];
  EXPECT_TRUE(
      throws_with([&] { resolve(cli, {"model"}, notes); }, "checkpoint holds an mlp-bn model but --model is mlp"));
  cli.optimizer = "sgd";
  EXPECT_TRUE(throws_with([&] { resolve(cli, {"optimizer"}, notes); }, "cannot change it"));
  cli.dropout = 0;
  EXPECT_TRUE(throws_with([&] { resolve(cli, {"dropout"}, notes); }, "--dropout 0 would change its layers"));
  cli.dropout = -1;
  EXPECT_TRUE(throws_with([&] { resolve(cli, {"dropout"}, notes); }, "would change its layers"));

  // normrt-predict's path: the model comes back with its dropout layers and gives the trainer's eval outputs.
  TrainConfig stored;
  auto model = load_model(ck, path, stored);
  EXPECT_EQ(stored.dropout, 0.1);
  EXPECT_EQ(model->size(), 9u);  // (Linear, BN, ReLU, Dropout) twice, then Linear
  TrainConfig again = c;
  again.save_path.clear();
  again.resume_path.clear();
  Trainer trainer(again, train_, test_);
  trainer.restore(ck, path);
  trainer.model().eval();
  Generator gen(3);
  const Tensor x = rand({4, 784}, gen);
  EXPECT_EQ(model->forward(x).to_vector(), trainer.model().forward(x).to_vector());
}

TEST_F(SyntheticTraining, ADivergingRunStopsWithoutOverwritingTheCheckpoint) {
  const std::string path = scratch_dir() + "/run.ckpt";
  write_raw(path, "the previous checkpoint");
  TrainConfig c = synthetic_config("mlp");
  c.optimizer = "sgd";
  c.lr = 1e30;
  c.save_path = path;
  EXPECT_TRUE(throws_with([&] { Trainer(c, train_, test_).run(); }, "training diverged: epoch 1's training loss is"));
  EXPECT_EQ(read_file(path), "the previous checkpoint");
}

TEST_F(SyntheticTraining, MixedPrecisionRunsResumeBitForBit) {
  check_stop_and_resume("mlp-bn", train_, test_, "fp16");
  check_stop_and_resume("cnn-bn", train_, test_, "bf16");
}

TEST_F(SyntheticTraining, MixedPrecisionTrainsInItsDtypeWithFloat32MasterWeights) {
  TrainConfig c = synthetic_config("mlp-bn");
  c.epochs = 1;
  const RunResult fp32 = Trainer(c, train_, test_).run();
  for (const std::string precision : {"fp16", "bf16"}) {
    c.precision = precision;
    Trainer trainer(c, train_, test_);
    const RunResult run = trainer.run();
    ASSERT_EQ(run.batch_losses.size(), fp32.batch_losses.size());
    EXPECT_NE(run.batch_losses, fp32.batch_losses) << precision << " computed as float32";
    for (std::size_t i = 0; i < run.batch_losses.size(); ++i)
      EXPECT_NEAR(run.batch_losses[i], fp32.batch_losses[i], 0.05 * fp32.batch_losses[i]) << precision << " " << i;
    for (const Tensor& p : trainer.model().parameters()) EXPECT_EQ(p.dtype(), DType::Float32);
    bool has_scale = false;
    for (const auto& [key, t] : trainer.checkpoint(1).tensors)
      if (key == "amp.scale") {
        has_scale = true;
        EXPECT_EQ(t.item(), 65536.0f);  // six clean steps: no back-off, no growth before 2000
      }
    EXPECT_EQ(has_scale, precision == "fp16");
  }
  // The loss scaler's state comes back from a checkpoint, checked first.
  c.precision = "fp16";
  Trainer trainer(c, train_, test_);
  Checkpoint saved = trainer.checkpoint(0);
  const auto scale_of = [](const Checkpoint& ckpt) {
    for (const auto& [key, t] : ckpt.tensors)
      if (key == "amp.scale") return t.item();
    return -1.0f;
  };
  for (auto& [key, t] : saved.tensors)
    if (key == "amp.scale") t = full({1}, -2.0);
  EXPECT_TRUE(throws_with([&] { trainer.restore(saved, "ckpt"); }, "'amp.scale' must be a positive finite number"));
  for (auto& [key, t] : saved.tensors)
    if (key == "amp.scale") t = full({1}, 1024.0);
  trainer.restore(saved, "ckpt");
  EXPECT_EQ(scale_of(trainer.checkpoint(0)), 1024.0f);
}

// fp16 steps whose loss overflows are skipped by the loss scaler, as in PyTorch, and left out of the epoch's loss;
// the run goes on. A learning rate of 1e6 makes the first Adam step blow the weights up: every later step's logits
// overflow float16 (but not float32, where the same run's losses stay finite).
TEST_F(SyntheticTraining, Float16StepsTheScalerSkipsDoNotCountAsDivergence) {
  TrainConfig c = synthetic_config("mlp-bn");
  c.epochs = 1;
  c.lr = 1e6;
  c.lr_schedule = "none";
  const RunResult fp32 = Trainer(c, train_, test_).run();
  for (float loss : fp32.batch_losses) EXPECT_TRUE(std::isfinite(loss));
  c.precision = "fp16";
  Trainer trainer(c, train_, test_);
  const RunResult run = trainer.run();
  ASSERT_EQ(run.epochs.size(), 1u);
  int64_t non_finite = 0;
  for (float loss : run.batch_losses) non_finite += !std::isfinite(loss);
  EXPECT_GT(non_finite, 0);
  EXPECT_EQ(run.epochs[0].skipped_steps, non_finite);
  EXPECT_TRUE(std::isfinite(run.epochs[0].train_loss));
  double scale = 0;
  for (const auto& [key, t] : trainer.checkpoint(1).tensors)
    if (key == "amp.scale") scale = t.item();
  EXPECT_LT(scale, 65536.0);  // backed off at every skipped step
}

TEST_F(SyntheticTraining, ConfigurationsOutOfRangeAreRefused) {
  const std::vector<std::pair<std::function<void(TrainConfig&)>, std::string>> cases = {
      {[](TrainConfig& c) { c.dropout = -1; }, "dropout probability has to be between 0 and 1, but got -1"},
      {[](TrainConfig& c) { c.dropout = std::nan(""); }, "but got nan"},
      {[](TrainConfig& c) { c.epochs = -1; }, "--epochs must be in"},
      {[](TrainConfig& c) { c.batch_size = 0; }, "--batch-size must be positive"},
      {[](TrainConfig& c) { c.lr = std::nan(""); }, "--lr must be a non-negative number"},
      {[](TrainConfig& c) { c.limit_train = -5; }, "--limit-train and --limit-test must be non-negative"},
      {[](TrainConfig& c) { c.early_stopping = 2; }, "--early-stopping needs --val-split"},
      {[](TrainConfig& c) { c.stop_after = 1; }, "--stop-after needs --save"},
      {[](TrainConfig& c) { c.optimizer = "lbfgs"; }, "unknown optimizer 'lbfgs'"},
      {[](TrainConfig& c) { c.precision = "fp8"; }, "unknown --precision 'fp8' (fp32, fp16, bf16)"},
      {[](TrainConfig& c) { c.memory_format = "nhwc"; }, "unknown memory format 'nhwc' (contiguous, channels_last)"},
      {[](TrainConfig& c) { c.memory_format = "channels_last"; },
       "--memory-format channels_last needs a convolutional model (cnn, cnn-bn, resnet), got mlp"},
  };
  for (const auto& [edit, why] : cases) {
    TrainConfig c = synthetic_config("mlp");
    edit(c);
    EXPECT_TRUE(throws_with([&] { Trainer(c, train_, test_); }, why)) << why;
  }
  // A batch larger than the data set is the whole set (not an allocation of its size).
  TrainConfig c = synthetic_config("mlp");
  c.batch_size = int64_t{1} << 60;
  c.epochs = 1;
  EXPECT_EQ(Trainer(c, train_, test_).run().batch_losses.size(), 1u);
  // 97 samples in batches of 16 would end each epoch with a batch of one, which BatchNorm cannot train on.
  TrainConfig bn = synthetic_config("mlp-bn");
  bn.epochs = 1;
  const Dataset odd = synthetic_images(97, 4);
  EXPECT_EQ(Trainer(bn, odd, test_).run().batch_losses.size(), 6u);
  bn.batch_size = 1;
  EXPECT_TRUE(throws_with([&] { Trainer(bn, odd, test_); }, "--batch-size 1 cannot train mlp-bn"));
  Dataset small = synthetic_images(4, 5);
  small.rows = 2;
  small.cols = 392;
  EXPECT_TRUE(throws_with([&] { Trainer(synthetic_config("mlp"), small, test_); }, "the models take 28x28"));
}

// The real data set (Debian's dataset-fashion-mnist, which scripts/setup.sh installs).
class FashionMnist : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(std::string(kDefaultDataDir) + "/train-images-idx3-ubyte.gz")) return;
    train_ = new Dataset(load_dataset(kDefaultDataDir, true));
    test_ = new Dataset(load_dataset(kDefaultDataDir, false));
  }
  static void TearDownTestSuite() {
    delete train_;
    delete test_;
  }
  void SetUp() override {
    if (train_ == nullptr) GTEST_SKIP() << "Fashion-MNIST is not installed at " << kDefaultDataDir;
  }
  static TrainConfig small(const std::string& model) {
    TrainConfig c;
    c.model = model;
    c.device = "cpu";
    c.limit_train = 3000;
    c.limit_test = 1000;
    c.progress = false;
    return c;
  }
  static Dataset* train_;
  static Dataset* test_;
};
Dataset* FashionMnist::train_ = nullptr;
Dataset* FashionMnist::test_ = nullptr;

TEST_F(FashionMnist, FilesAreWhatTheyShouldBe) {
  EXPECT_EQ(train_->count, 60000);
  EXPECT_EQ(test_->count, 10000);
  EXPECT_EQ(train_->pixels_per_image(), 784);
}

TEST_F(FashionMnist, OneEpochSmokeTrainingLearns) {
  TrainConfig c = small("mlp-bn");
  c.epochs = 1;
  Trainer trainer(c, *train_, *test_);
  const RunResult r = trainer.run();
  ASSERT_EQ(r.epochs.size(), 1u);
  EXPECT_GT(r.epochs[0].test_accuracy, 0.70);  // chance is 0.10
  EXPECT_GT(r.test_accuracy_train_mode, 0.5);
}

TEST_F(FashionMnist, ResumedRunRepeatsTheUninterruptedOneBitForBit) {
  TrainConfig c = small("mlp-bn");
  c.epochs = 2;
  c.dropout = 0.2;
  c.batch_size = 100;
  const RunResult whole = Trainer(c, *train_, *test_).run();

  const std::string path = scratch_dir() + "/run.ckpt";
  TrainConfig first_half = c;
  first_half.stop_after = 1;
  first_half.save_path = path;
  Trainer(first_half, *train_, *test_).run();
  TrainConfig second_half = c;
  second_half.resume_path = path;
  const RunResult resumed = Trainer(second_half, *train_, *test_).run();

  const std::size_t per_epoch = whole.batch_losses.size() / 2;
  ASSERT_EQ(resumed.batch_losses.size(), per_epoch);
  EXPECT_EQ(std::memcmp(resumed.batch_losses.data(), whole.batch_losses.data() + per_epoch, per_epoch * sizeof(float)),
            0);
  EXPECT_EQ(resumed.epochs[0].test_accuracy, whole.epochs[1].test_accuracy);
}

TEST_F(FashionMnist, MismatchedCheckpointsChangeNothing) {
  const std::string path = scratch_dir() + "/mlp.ckpt";
  TrainConfig c = small("mlp");
  c.epochs = 1;
  c.limit_train = 500;
  c.save_path = path;
  Trainer(c, *train_, *test_).run();

  Trainer bn(small("mlp-bn"), *train_, *test_);
  const auto before = bn.model().state_dict()[0].second.to_vector();
  EXPECT_TRUE(throws_with([&] { bn.restore(load_checkpoint(path), path); },
                          "checkpoint holds an mlp model but --model is mlp-bn"));
  TrainConfig sgd = small("mlp");
  sgd.optimizer = "sgd";
  Trainer other(sgd, *train_, *test_);
  const auto other_before = other.model().state_dict()[0].second.to_vector();
  EXPECT_TRUE(throws_with([&] { other.restore(load_checkpoint(path), path); },
                          "checkpoint's optimizer is adam but --optimizer is sgd"));
  EXPECT_EQ(other.model().state_dict()[0].second.to_vector(), other_before);
  EXPECT_EQ(bn.model().state_dict()[0].second.to_vector(), before);
}

TEST_F(FashionMnist, TrainModeEvaluationLeavesTheModelAlone) {
  Trainer trainer(small("mlp-bn"), *train_, *test_);
  const auto before = trainer.model().state_dict();
  std::vector<std::vector<float>> values;
  for (const auto& [k, v] : before)
    if (v.dtype() == DType::Float32) values.push_back(v.clone().to_vector());
  DataLoader loader(*test_, {}, LoaderOptions{}, 0, Device::cpu());
  trainer.evaluate(loader, true);
  std::size_t i = 0;
  for (const auto& [k, v] : trainer.model().state_dict())
    if (v.dtype() == DType::Float32) EXPECT_EQ(v.to_vector(), values[i++]) << k;
}

}  // namespace
}  // namespace normrt::app
