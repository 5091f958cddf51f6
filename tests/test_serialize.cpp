// safetensors: a model trained and saved by PyTorch loads into the equivalent normrt model and gives PyTorch's
// eval outputs (golden data from tests/golden/make_golden_safetensors.py); what normrt writes loads in Python's
// safetensors package and gives the same outputs there (tests/interop/check_safetensors.py, recomputed in numpy);
// crafted files are refused with the reason.
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "test_util.h"

namespace normrt {
namespace {

using testing::all_close;
using testing::scratch_dir;
using testing::throws_with;

const std::string kGolden = testing::golden_sibling_dir("data_safetensors");

std::shared_ptr<nn::Sequential> golden_model() {
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(8, 16, false), std::make_shared<nn::BatchNorm1d>(16), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(16, 4)});
}

TEST(SafetensorsInterop, AModelTrainedInPyTorchGivesPyTorchsEvalOutputs) {
  auto model = golden_model();
  Metadata metadata;
  const nn::NamedTensors state = load(kGolden + "/mlp_bn.safetensors", &metadata);
  EXPECT_EQ(metadata, (Metadata{{"source", "pytorch"}}));
  EXPECT_EQ(state.size(), 8u);
  load(*model, kGolden + "/mlp_bn.safetensors");
  EXPECT_EQ(dynamic_cast<nn::BatchNorm1d&>((*model)[1]).num_batches_tracked.item<int64_t>(), 5);
  model->eval();
  const Tensor y = model->forward(load_npy(kGolden + "/input.npy"));
  EXPECT_TRUE(all_close(y.to_vector(), load_npy(kGolden + "/eval_output.npy").to_vector(), 1e-5, 1e-6));
}

TEST(SafetensorsInterop, FilesNormrtWritesLoadInPython) {
  const std::string python = NORMRT_INTEROP_PYTHON;
  if (!std::filesystem::exists(python))
    GTEST_SKIP() << python << " is missing (scripts/setup.sh makes it: a venv with the safetensors package)";
  auto model = golden_model();
  Generator gen(3);
  for (int i = 0; i < 3; ++i) model->forward(randn({16, 8}, gen));  // training: running statistics move
  model->eval();
  const std::string dir = scratch_dir();
  const Tensor x = randn({5, 8}, gen);
  save(*model, dir + "/model.safetensors", {{"written_by", "normrt"}});
  save_npy(dir + "/input.npy", x);
  save_npy(dir + "/normrt_output.npy", model->forward(x));
  const std::string command = python + " " + NORMRT_SOURCE_DIR + "/tests/interop/check_safetensors.py " + dir;
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
}

TEST(Safetensors, RoundTripKeepsOrderValuesAndDtypes) {
  Generator gen(1);
  const nn::NamedTensors tensors = {{"z.last", randn({3, 4}, gen)},
                                    {"a.first", from_vector(std::vector<int64_t>{-7, 9}, {2})},
                                    {"empty", zeros({0, 5})},
                                    {"scalar", full({}, 2.5)}};
  const std::string path = scratch_dir() + "/t.safetensors";
  save(tensors, path, {{"k", "v"}});
  Metadata metadata;
  const nn::NamedTensors back = load(path, &metadata);
  EXPECT_EQ(metadata, (Metadata{{"k", "v"}}));
  ASSERT_EQ(back.size(), tensors.size());
  for (std::size_t i = 0; i < back.size(); ++i) {
    EXPECT_EQ(back[i].first, tensors[i].first);
    EXPECT_EQ(back[i].second.sizes(), tensors[i].second.sizes());
    EXPECT_EQ(back[i].second.dtype(), tensors[i].second.dtype());
  }
  EXPECT_EQ(back[0].second.to_vector(), tensors[0].second.to_vector());
  EXPECT_EQ(back[1].second.to_vector<int64_t>(), (std::vector<int64_t>{-7, 9}));
  // The data starts 8-byte aligned, as the Python package writes it.
  const std::string bytes = read_file(path);
  uint64_t header = 0;
  std::memcpy(&header, bytes.data(), 8);
  EXPECT_EQ(header % 8, 0u);
}

TEST(Safetensors, LoadIntoAModuleChecksEverythingFirst) {
  const std::string path = scratch_dir() + "/wrong.safetensors";
  auto model = golden_model();
  nn::NamedTensors state = model->state_dict();
  state[0].second = zeros({16, 9});
  save(state, path);
  const auto before = model->state_dict()[2].second.to_vector();
  EXPECT_TRUE(throws_with([&] { load(*model, path); },
                          path + ": Error(s) in loading state_dict for Sequential:\n\tsize mismatch for 0.weight: "
                                 "copying a param with shape torch.Size([16, 9])"));
  EXPECT_EQ(model->state_dict()[2].second.to_vector(), before);
}

// A file with the given JSON header (padded to 8 bytes) and data.
std::string file_with(const std::string& header, const std::string& data) {
  std::string h = header;
  h.append((8 - h.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  const uint64_t n = h.size();
  std::memcpy(out.data(), &n, 8);
  return out + h + data;
}

TEST(Safetensors, CraftedFilesAreRefusedWithTheReason) {
  auto refused = [](const std::string& bytes, const std::string& why) {
    return throws_with([&] { decode_safetensors(bytes, "f"); }, why);
  };
  const std::string eight(8, '\0');
  EXPECT_NO_THROW(
      decode_safetensors(file_with(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", eight), "f"));
  EXPECT_TRUE(refused("abc", "not a safetensors file"));
  EXPECT_TRUE(refused(std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8) + "{}", "runs past the end of the file"));
  EXPECT_TRUE(refused(file_with("[1]", ""), "the header is not a JSON object"));
  EXPECT_TRUE(refused(file_with("{\"a\":", ""), "not valid JSON"));
  EXPECT_TRUE(refused(file_with(R"({"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", eight),
                      "tensor 'a' has dtype F64, which normrt does not read (F32, F16, BF16, I64 and BOOL)"));
  EXPECT_TRUE(refused(file_with(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", eight),
                      "of shape [3] does not fill its 8 bytes"));
  EXPECT_TRUE(refused(file_with(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight),
                      "must be a non-negative integer"));
  EXPECT_TRUE(refused(file_with(R"({"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}})", eight),
                      "is too large"));
  EXPECT_TRUE(refused(file_with(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", eight),
                      "outside the 8 bytes of data"));
  EXPECT_TRUE(refused(file_with(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                R"("b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})", eight),
                      "overlapping the previous tensor"));
  EXPECT_TRUE(refused(file_with(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight), "leaving a hole"));
  EXPECT_TRUE(refused(file_with(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", eight),
                      "4 bytes of data belong to no tensor"));
  EXPECT_TRUE(
      refused(file_with(R"({"a":{"dtype":"F32","shape":[2]}})", eight), "exactly dtype, shape and data_offsets"));
  EXPECT_TRUE(refused(file_with(R"({"__metadata__":{"x":1}})", ""), "__metadata__ value 'x' is not a string"));
  EXPECT_TRUE(refused(file_with("{" + std::string(200000, '[') + "}", ""), "not valid JSON"));
  // A header claiming 2^31 floats over 16 bytes: refused without allocating 8 GB.
  const std::string claims = file_with(R"({"a":{"dtype":"F32","shape":[2147483648],"data_offsets":[0,16]}})",
                                       std::string(16, '\0'));
  const std::string result = testing::run_in_child_with_memory_cap([&] { decode_safetensors(claims, "f"); }, 64);
  EXPECT_NE(result.find("does not fill its 16 bytes"), std::string::npos) << result;
}

}  // namespace
}  // namespace normrt
