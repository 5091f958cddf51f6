// Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/): small valid inputs of every kind each target
// reads, in every mode of its first byte. Run by scripts/fuzz.sh --seeds; the output is committed.
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "checkpoint.h"
#include "normrt/npy.h"
#include "normrt/serialize.h"
#include "trainer.h"

using namespace normrt;
using namespace normrt::app;

namespace {

void write(const std::string& dir, const std::string& name, const std::string& bytes) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
}

std::string idx(const std::vector<uint32_t>& dims, std::size_t fill) {
  std::string s = {0, 0, 8, static_cast<char>(dims.size())};
  for (uint32_t d : dims)
    for (int shift : {24, 16, 8, 0}) s += static_cast<char>((d >> shift) & 0xff);
  for (std::size_t i = 0; i < fill; ++i) s += static_cast<char>(i % 10);
  return s;
}

std::string gzip(const std::string& raw) {
  z_stream zs{};
  deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, raw.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  zs.avail_in = static_cast<uInt>(raw.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string root = argc > 1 ? argv[1] : "fuzz/corpus";
  const std::string npy = root + "/npy";
  write(npy, "float_2x3", encode_npy(from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3})));
  write(npy, "int64_3", encode_npy(from_vector(std::vector<int64_t>{-1, 0, 7}, {3})));
  write(npy, "scalar", encode_npy(full({}, 2.5)));
  write(npy, "empty_0x4", encode_npy(zeros({0, 4})));
  std::string v2 = encode_npy(zeros({1, 1, 2}));
  v2 = v2.substr(0, 6) + std::string("\x02\x00", 2) + v2.substr(8, 2) + std::string(2, '\0') + v2.substr(10);
  write(npy, "version2", v2);

  // Regressions: the inputs that crashed or over-allocated before (issue 10), replayed by every run.
  auto npy_with = [](const std::string& header, const std::string& data, char version) {
    std::string h = header + "\n";
    std::string out = std::string("\x93NUMPY", 6) + version + '\0';
    for (int i = 0; i < (version == 1 ? 2 : 4); ++i) out += static_cast<char>((h.size() >> (8 * i)) & 0xff);
    return out + h + data;
  };
  auto dict = [](const std::string& shape) {
    return "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
  };
  write(npy, "regression_long_descr",
        npy_with("{'descr': '" + std::string(5000, 'f') + "', 'fortran_order': False, 'shape': (1,), }", "", 2));
  write(npy, "regression_long_shape", npy_with(dict("(" + std::string(5000, ' ') + "1,)"), std::string(4, '\0'), 2));
  write(npy, "regression_count_overflow", npy_with(dict("(4611686018427387904, 4)"), "", 1));
  write(npy, "regression_header_4gb", std::string("\x93NUMPY\x02\x00\xff\xff\xff\xff", 12));
  write(npy, "regression_claims_8gb", npy_with(dict("(2147483648,)"), std::string(16, '\0'), 1));
  write(npy, "regression_20_digits", npy_with(dict("(99999999999999999999,)"), "", 1));
  write(npy, "regression_negative", npy_with(dict("(-3,)"), std::string(12, '\0'), 1));
  write(npy, "regression_not_ints", npy_with(dict("(3,'abc',None)"), std::string(12, '\0'), 1));

  const std::string st = root + "/safetensors";
  Generator gen(0);
  write(st, "two_tensors", encode_safetensors({{"w", randn({3, 2}, gen)}, {"n", from_vector(std::vector<int64_t>{4}, {})}},
                                              {{"source", "normrt"}}));
  write(st, "empty_and_scalar", encode_safetensors({{"e", zeros({0, 3})}, {"s", full({}, 1.0)}}));
  auto st_file = [](const std::string& header, std::size_t data_bytes) {
    std::string out(8, '\0');
    const uint64_t n = header.size();
    std::memcpy(out.data(), &n, 8);
    return out + header + std::string(data_bytes, '\0');
  };
  write(st, "regression_claims_8gb", st_file(R"({"a":{"dtype":"F32","shape":[2147483648],"data_offsets":[0,16]}})", 16));
  write(st, "regression_overlap", st_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                          R"("b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})", 8));
  write(st, "regression_header_size", std::string("\xff\xff\xff\xff\xff\xff\xff\x7f{}", 10));

  const std::string idx_dir = root + "/idx";
  write(idx_dir, "regression_dims_overflow", std::string(1, '\0') + idx({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, 0));
  write(idx_dir, "regression_gzip_bomb", std::string(1, '\0') + gzip(idx({10}, 10) + std::string(4 << 20, '\0')));
  for (const auto& [name, raw] : {std::pair<std::string, std::string>{"images_2x28x28", idx({2, 28, 28}, 2 * 784)},
                                  {"labels_5", idx({5}, 5)}, {"rank4", idx({1, 2, 3, 4}, 24)}}) {
    write(idx_dir, name + "_raw", std::string(1, '\0') + raw);
    write(idx_dir, name + "_gzipped_by_target", std::string(1, '\1') + raw);
    write(idx_dir, name + "_gz_file", std::string(1, '\0') + gzip(raw));
  }

  const std::string ck = root + "/checkpoint";
  TrainConfig config;
  config.dropout = 0.2;
  config.epochs = 3;
  Checkpoint meta_only{config_metadata(config), {}};
  meta_only.metadata["epochs_done"] = "1";
  meta_only.metadata["best_val_loss"] = "1e+300";
  meta_only.metadata["bad_epochs"] = "0";
  write(ck, "metadata_raw", std::string(1, '\0') + encode_checkpoint(meta_only));
  write(ck, "metadata_fixed_up", std::string(1, '\1') + encode_checkpoint(meta_only));
  const std::vector<std::pair<std::string, Checkpoint>> overlays = {
      {"rng_loader", {{}, {{"rng.loader", from_vector(std::vector<int64_t>{5, 9}, {2})}}}},
      {"optim_step", {{}, {{"optim.6.step", from_vector(std::vector<int64_t>{3}, {})}}}},
      {"dropout_rng", {{}, {{"rng.dropout.1", from_vector(std::vector<int64_t>{1, 2}, {2})}}}},
      {"bn_stats", {{}, {{"model.1.running_var", full({256}, 0.5)}}}},
      {"epochs_done", {{{"epochs_done", "2"}, {"lr", "0.01"}}, {}}},
      {"regression_rng_shape", {{}, {{"rng.loader", zeros({3}, TensorOptions().dtype(DType::Int64))}}}},
      {"regression_rng_dtype", {{}, {{"rng.dropout.0", zeros({2})}}}},
      {"regression_step_negative", {{}, {{"optim.6.step", from_vector(std::vector<int64_t>{-1}, {})}}}},
      {"regression_epoch_2_40", {{{"epochs_done", "1099511627776"}}, {}}},
  };
  for (const auto& [name, overlay] : overlays) write(ck, "overlay_" + name, std::string(1, '\3') + encode_checkpoint(overlay));
  return 0;
}
