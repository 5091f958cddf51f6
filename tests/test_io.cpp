// Hostile inputs to the library's readers and the atomic writer: .npy headers crafted to crash, hang or
// over-allocate, element counts that overflow, paths that are not files, and writes that fail or are killed midway.
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "normrt/file_io.h"
#include "test_util.h"

namespace normrt {
namespace {

using testing::run_in_child_with_memory_cap;
using testing::scratch_dir;
using testing::throws_with;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::vector<std::string> listing(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// A .npy file with a given header text (padded as NumPy pads it), format version and data.
std::string npy(const std::string& header, const std::string& data = "", int version = 1) {
  std::string h = header;
  const std::size_t preamble = version == 1 ? 10 : 12;
  h.append((64 - (preamble + h.size() + 1) % 64) % 64, ' ');
  h += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(version);
  out += '\0';
  for (int i = 0; i < (version == 1 ? 2 : 4); ++i) out += static_cast<char>((h.size() >> (8 * i)) & 0xff);
  return out + h + data;
}

std::string dict(const std::string& shape, const std::string& descr = "'<f4'") {
  return "{'descr': " + descr + ", 'fortran_order': False, 'shape': " + shape + ", }";
}

TEST(Shapes, ElementCountsThatOverflowAreRefused) {
  const int64_t big = int64_t{1} << 62;
  EXPECT_TRUE(throws_with([&] { zeros({big, 4}); }, "tensor of shape [4611686018427387904, 4] is too large"));
  EXPECT_TRUE(throws_with([&] { empty({int64_t{1} << 40, int64_t{1} << 40}); }, "is too large"));
  // The count fits, the bytes do not.
  EXPECT_TRUE(throws_with([&] { empty({big}); }, "tensor of 4611686018427387904 elements is too large"));
  EXPECT_TRUE(throws_with([&] { shape_numel({big, big, big}); }, "is too large"));
  EXPECT_EQ(shape_numel({0, big, big}), 0);  // empty, however large the other dimensions
  EXPECT_EQ(empty({big, 0, big}).numel(), 0);
  EXPECT_TRUE(throws_with([&] { zeros({6}).reshape({big, big, -1}); },
                          "shape '[4611686018427387904, 4611686018427387904, -1]' is invalid for input of size 6"));
  EXPECT_TRUE(throws_with([&] { arange(0.0, 1e300, 1.0); }, "arange: "));
}

TEST(Npy, DecodesWhatNumPyWrites) {
  const std::string data(24, '\0');
  EXPECT_EQ(decode_npy(npy(dict("(2, 3)"), data), "f").sizes(), (Shape{2, 3}));
  EXPECT_EQ(decode_npy(npy(dict("(6,)"), data), "f").sizes(), (Shape{6}));
  EXPECT_EQ(decode_npy(npy(dict("()"), data.substr(0, 4)), "f").dim(), 0);
  EXPECT_EQ(decode_npy(npy(dict("(0, 7)"), ""), "f").numel(), 0);
  // Version 2.0 and 3.0 headers, double quotes, Python 2 long literals, keys in any order.
  EXPECT_EQ(decode_npy(npy(dict("(3, 2)"), data, 2), "f").sizes(), (Shape{3, 2}));
  EXPECT_EQ(decode_npy(npy(dict("(3, 2)"), data, 3), "f").sizes(), (Shape{3, 2}));
  EXPECT_EQ(decode_npy(npy("{\"shape\": (2L, 3L), \"fortran_order\": False, \"descr\": \"<i8\"}",
                           std::string(48, '\0')), "f").dtype(), DType::Int64);
  const Tensor t = from_vector(std::vector<float>{1.5f, -2.0f, 3.25f}, {3});
  EXPECT_EQ(decode_npy(encode_npy(t), "t").to_vector(), t.to_vector());
}

TEST(Npy, HostileHeadersAreRefusedWithTheReason) {
  const std::string data(12, '\0');
  auto refused = [](const std::string& bytes, const std::string& why) {
    return throws_with([&] { decode_npy(bytes, "x.npy"); }, why);
  };
  EXPECT_TRUE(refused(npy(dict("(-3,)"), data), "x.npy: negative dimension in shape"));
  EXPECT_TRUE(refused(npy(dict("(3,'abc',None)"), data), "shape entries must be integers"));
  EXPECT_TRUE(refused(npy(dict("(99999999999999999999,)"), data), "does not fit in 64 bits"));
  EXPECT_TRUE(refused(npy(dict("(4611686018427387904, 4)"), data), "is too large"));
  EXPECT_TRUE(refused(npy(dict("(1, 1, 1, 1, 1, 1)"), data), "at most 5 are supported"));
  EXPECT_TRUE(refused(npy(dict("(3,)", "'<f8'"), std::string(24, '\0')), "unsupported dtype '<f8'"));
  EXPECT_TRUE(refused(npy(dict("(3,)", "[('a', '<f4')]"), data), "structured dtypes are not supported"));
  EXPECT_TRUE(refused(npy("{'descr': '<f4', 'fortran_order': True, 'shape': (3,), }", data), "Fortran-ordered"));
  EXPECT_TRUE(refused(npy("{'descr': '<f4', 'shape': (3,), }", data), "header has no fortran_order"));
  EXPECT_TRUE(refused(npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3,)}", data),
                      "header repeats 'descr'"));
  EXPECT_TRUE(refused(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}", data),
                      "unexpected key 'x'"));
  EXPECT_TRUE(refused(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,)} trailing", data),
                      "text after the dictionary"));
  EXPECT_TRUE(refused(npy("{'descr': '<f4, 'fortran_order': False}", data), "malformed .npy header"));
  EXPECT_TRUE(refused(npy(dict("(3,)"), data + "xy"), "2 unexpected bytes after the data of shape [3]"));
  EXPECT_TRUE(refused(npy(dict("(4,)"), data), "truncated data"));
  std::string v9 = npy(dict("(3,)"), data);
  v9[6] = 9;
  EXPECT_TRUE(refused(v9, "unsupported .npy version 9"));
  EXPECT_TRUE(refused("\x93NUMPY\x01", "truncated .npy header"));
}

TEST(Npy, LongHeadersParseInLinearTimeAndConstantStack) {
  // Tens of kilobytes in the descr and the shape overflowed the stack of the previous regex-based reader.
  const std::string long_descr = "'" + std::string(80000, 'f') + "'";
  EXPECT_TRUE(throws_with([&] { decode_npy(npy(dict("(3,)", long_descr), "", 2), "x"); }, "unsupported dtype"));
  const std::string long_shape = "(" + std::string(80000, ' ') + "3,)";
  EXPECT_EQ(decode_npy(npy(dict(long_shape), std::string(12, '\0'), 2), "x").numel(), 3);
  const std::string long_digits = "(" + std::string(80000, '0') + "3,)";
  EXPECT_EQ(decode_npy(npy(dict(long_digits), std::string(12, '\0'), 2), "x").numel(), 3);
}

TEST(MemoryCap, CatchesAnAllocationBeyondItsHeadroom) {
  // The harness of the allocation tests below must be able to fail.
  const std::string result = run_in_child_with_memory_cap([] { Tensor t = zeros({int64_t{1} << 28}); }, 64);
  EXPECT_NE(result.find("out of host memory"), std::string::npos) << result;
  EXPECT_EQ(run_in_child_with_memory_cap([] { Tensor t = zeros({int64_t{1} << 20}); }, 64), "no exception");
}

TEST(Npy, NothingIsAllocatedBeyondTheFile) {
  // 12 bytes whose header length says 4 GB; a header that claims 2^31 floats over 16 bytes of data.
  const std::string huge_header = std::string("\x93NUMPY\x02\x00\xff\xff\xff\xff", 12);
  EXPECT_NE(run_in_child_with_memory_cap([&] { decode_npy(huge_header, "x"); }, 64).find("truncated .npy header"),
            std::string::npos);
  const std::string short_data = npy(dict("(2147483648,)"), std::string(16, '\0'));
  const std::string path = scratch_dir() + "/claims_8gb.npy";
  std::ofstream(path, std::ios::binary) << short_data;
  EXPECT_NE(run_in_child_with_memory_cap([&] { load_npy(path); }, 64).find("truncated data"), std::string::npos);
}

TEST(FileIo, ReadFileRefusesWhatIsNotARegularFile) {
  const std::string dir = scratch_dir();
  EXPECT_TRUE(throws_with([&] { read_file(dir); }, dir + ": is a directory, not a file"));
  EXPECT_TRUE(throws_with([&] { read_file("/dev/zero"); }, "/dev/zero: not a regular file"));
  const std::string fifo = dir + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_TRUE(throws_with([&] { read_file(fifo); }, "not a regular file"));  // and does not wait for a writer
  EXPECT_TRUE(throws_with([&] { read_file(dir + "/missing"); }, "cannot open for reading (No such file"));
  EXPECT_TRUE(throws_with([&] { load_npy(dir); }, "is a directory"));
  std::ofstream(dir + "/f", std::ios::binary) << "12345";
  EXPECT_EQ(read_file(dir + "/f"), "12345");
  EXPECT_TRUE(throws_with([&] { read_file(dir + "/f", 4); }, "5 bytes, more than the 4"));
}

TEST(FileIo, AtomicWriteReplacesAndLeavesNothingBehind) {
  const std::string dir = scratch_dir();
  const std::string path = dir + "/out.bin";
  write_file_atomic(path, "first");
  write_file_atomic(path, "second, longer");
  EXPECT_EQ(slurp(path), "second, longer");
  EXPECT_EQ(listing(dir), (std::vector<std::string>{"out.bin"}));
  // A symlink planted at the target is replaced; the file it points to is not written through.
  const std::string victim = dir + "/victim";
  std::ofstream(victim) << "precious";
  std::filesystem::create_symlink(victim, dir + "/link");
  write_file_atomic(dir + "/link", "new");
  EXPECT_EQ(slurp(victim), "precious");
  EXPECT_FALSE(std::filesystem::is_symlink(dir + "/link"));
  EXPECT_EQ(slurp(dir + "/link"), "new");
  // Failures name the path and the reason, and change nothing.
  EXPECT_TRUE(throws_with([&] { write_file_atomic(dir + "/no/such/dir/f", "x"); }, "cannot write into directory"));
  std::filesystem::create_directories(dir + "/sub");
  EXPECT_TRUE(
      throws_with([&] { write_file_atomic(dir + "/sub", "x"); }, "is a directory, not a file normrt may replace"));
  EXPECT_TRUE(throws_with([&] { write_file_atomic("/proc/version", "x"); }, "/proc/version: "));
  // A device or FIFO at the path is never replaced (as root, renaming over /dev/null would destroy it; the FIFO
  // stands in for the device here, so that a regression cannot damage the machine).
  const std::string fifo = dir + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_TRUE(
      throws_with([&] { write_file_atomic(fifo, "x"); }, "is a device, FIFO or socket, not a file normrt may replace"));
  EXPECT_TRUE(std::filesystem::is_fifo(fifo));
  EXPECT_EQ(listing(dir), (std::vector<std::string>{"fifo", "link", "out.bin", "sub", "victim"}));
  EXPECT_TRUE(std::filesystem::is_empty(dir + "/sub"));
}

// Runs `fn` in a child limited to `max_file_bytes` per file (RLIMIT_FSIZE): with SIGXFSZ ignored a write past it
// fails with EFBIG, as on a full disk; with the default action the child is killed midway through the write.
template <typename Fn>
int run_with_file_size_limit(Fn fn, rlim_t max_file_bytes, bool killed) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (!killed) ::signal(SIGXFSZ, SIG_IGN);
    const struct rlimit limit = {max_file_bytes, max_file_bytes};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    try {
      fn();
    } catch (const Error& e) {
      ::_exit(std::string(e.what()).find("the file is unchanged") != std::string::npos ? 3 : 4);
    }
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status);
}

TEST(FileIo, FullDiskOrKilledWriteKeepsTheOldFile) {
  const std::string dir = scratch_dir();
  const std::string path = dir + "/checkpoint";
  write_file_atomic(path, "the previous, complete content");
  const std::string big(1 << 20, 'x');
  EXPECT_EQ(run_with_file_size_limit([&] { write_file_atomic(path, big); }, 4096, false), 3);  // EFBIG: refused
  EXPECT_EQ(slurp(path), "the previous, complete content");
  EXPECT_EQ(listing(dir), (std::vector<std::string>{"checkpoint"}));
  EXPECT_EQ(run_with_file_size_limit([&] { write_file_atomic(path, big); }, 4096, true), -SIGXFSZ);  // killed
  EXPECT_EQ(slurp(path), "the previous, complete content");
  EXPECT_EQ(listing(dir), (std::vector<std::string>{"checkpoint"}));  // the unnamed temporary died with it
  EXPECT_EQ(run_with_file_size_limit([&] { save_npy(path, zeros({100000})); }, 4096, false), 3);
  EXPECT_EQ(slurp(path), "the previous, complete content");
}

}  // namespace
}  // namespace normrt
