// The training application: IDX reading (good and broken files), the data loader, checkpoints (round trip,
// corruption, mismatch) and, on the real Fashion-MNIST files, a smoke training and exact resumption.
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "checkpoint.h"
#include "fashion_mnist.h"
#include "test_util.h"
#include "trainer.h"

namespace normrt::app {
namespace {

using normrt::testing::throws_with;

std::string scratch_dir() {
  const std::string dir = ::testing::TempDir() + "normrt_app_" + std::to_string(::getpid()) + "_" +
                          ::testing::UnitTest::GetInstance()->current_test_info()->name();
  std::filesystem::create_directories(dir);
  return dir;
}

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
  EXPECT_TRUE(throws_with([&] { read_idx(path); }, path + ": truncated: the header says 2x2 (4 bytes of data) but the file holds 3"));
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
  const nn::NamedTensors saved = {{"a", randn({3, 4}, gen)}, {"b", from_vector(std::vector<int64_t>{7}, {})}};
  save_checkpoint(path, saved);
  const auto loaded = load_checkpoint(path);
  ASSERT_EQ(loaded.size(), 2u);
  EXPECT_EQ(loaded[0].first, "a");
  EXPECT_EQ(loaded[0].second.to_vector(), saved[0].second.to_vector());
  EXPECT_EQ(loaded[1].second.item<int64_t>(), 7);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::string corrupted = bytes;
  corrupted[corrupted.size() - 3] ^= 0x40;
  write_raw(path, corrupted);
  EXPECT_TRUE(throws_with([&] { load_checkpoint(path); }, "checksum mismatch (the file is corrupted)"));
  write_raw(path, bytes.substr(0, bytes.size() - 10));
  EXPECT_TRUE(throws_with([&] { load_checkpoint(path); }, "truncated checkpoint"));
  write_raw(path, "not a checkpoint at all, clearly");
  EXPECT_TRUE(throws_with([&] { load_checkpoint(path); }, "not a normrt checkpoint"));
  std::string other_version = bytes;
  other_version[8] = 9;
  write_raw(path, other_version);
  EXPECT_TRUE(throws_with([&] { load_checkpoint(path); }, "checkpoint version 9, this build reads version 1"));
}

TEST(Models, CnnIsRefusedAndUnknownNamesNamed) {
  Generator gen(0);
  EXPECT_TRUE(throws_with([&] { build_model("cnn-bn", 0, gen, std::nullopt); }, "needs convolution layers"));
  EXPECT_TRUE(throws_with([&] { build_model("resnet", 0, gen, std::nullopt); }, "unknown model 'resnet'"));
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
  c.dropout = 0.2;  // the dropout generators must resume too
  c.batch_size = 100;
  const RunResult whole = Trainer(c, *train_, *test_).run();

  const std::string path = scratch_dir() + "/run.ckpt";
  TrainConfig first_half = c;
  first_half.epochs = 1;
  first_half.save_path = path;
  Trainer(first_half, *train_, *test_).run();
  TrainConfig second_half = c;
  second_half.resume_path = path;
  const RunResult resumed = Trainer(second_half, *train_, *test_).run();

  const std::size_t per_epoch = whole.batch_losses.size() / 2;
  ASSERT_EQ(resumed.batch_losses.size(), per_epoch);
  EXPECT_EQ(std::memcmp(resumed.batch_losses.data(), whole.batch_losses.data() + per_epoch, per_epoch * sizeof(float)), 0);
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
  EXPECT_TRUE(throws_with([&] { bn.restore(load_checkpoint(path)); }, "checkpoint holds an mlp model but --model is mlp-bn"));
  TrainConfig sgd = small("mlp");
  sgd.optimizer = "sgd";
  Trainer other(sgd, *train_, *test_);
  const auto other_before = other.model().state_dict()[0].second.to_vector();
  EXPECT_TRUE(throws_with([&] { other.restore(load_checkpoint(path)); }, "optimizer"));
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
