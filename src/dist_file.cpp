// normrt::dist, the file backend: ranks are processes that share a directory (one machine, or a shared file system),
// as a torchrun-style launch without MPI has them. Meant for what is small and rare: bootstrapping NCCL and
// carrying its per-call descriptions, barriers, and CPU training of small models; each call costs milliseconds.
//  * Session: rank 0 creates <dir>/session exclusively with a fresh nonce (it refuses a directory that holds one:
//    a launch that crashed earlier left it) and every rank reads it; the group's files are named after the nonce, so
//    files of other launches are never read. Rank 0 removes `session` once every rank has joined (the first call).
//  * Call k: each rank writes <nonce>.<k>.<rank> (a temporary file renamed into place, so readers see whole files):
//    a line describing the call ("all_reduce [4, 3] float32"), then the tensor's bytes. It then reads every rank's
//    file of call k, polling until they exist or the timeout passes; ranks that disagree all throw, naming the first
//    rank that differs. A rank that has read every file of call k knows that all ranks finished call k - 1, so it
//    removes its own file of that call (the files of a group's last call stay: another rank may still read them).
// Results are those of the other backends (sums in rank order).
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "dist_combine.h"
#include "normrt/error.h"

namespace normrt::dist {

namespace {

namespace fs = std::filesystem;

class FileGroup final : public ProcessGroup {
 public:
  FileGroup(const std::string& directory, int rank, int size, std::chrono::milliseconds timeout)
      : ProcessGroup(rank, size), directory_(directory), timeout_(timeout) {
    std::error_code error;
    fs::create_directories(directory_, error);
    NORMRT_CHECK(fs::is_directory(directory_), "file rendezvous: cannot create the directory ", directory_,
                 error ? ": " + error.message() : std::string());
    const fs::path session = directory_ / "session";
    if (rank == 0) {
      std::random_device entropy;
      nonce_ = std::to_string(entropy()) + std::to_string(entropy()) + "-" + std::to_string(::getpid());
      const int fd = ::open(session.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
      NORMRT_CHECK(fd >= 0, "file rendezvous: ", session.string(), errno == EEXIST
                                                                     ? " exists: an earlier launch left it; remove it"
                                                                     : std::string(": ") + std::strerror(errno));
      const bool written = ::write(fd, nonce_.data(), nonce_.size()) == static_cast<ssize_t>(nonce_.size());
      ::close(fd);
      NORMRT_CHECK(written, "file rendezvous: cannot write ", session.string());
    } else {
      poll("joining", [&] {
        std::ifstream in(session);
        std::string text;
        if (!(in >> text) || text.empty()) return false;
        nonce_ = text;
        return true;
      }, " for rank 0's session file " + session.string());
    }
    barrier();  // every rank has read the session's nonce
    if (rank == 0) fs::remove(session, error);
  }

  std::string backend() const override { return "file"; }

  void all_reduce(Tensor& t) override {
    NORMRT_CHECK(t.defined(), "all_reduce: the tensor is undefined");
    const Tensor sum = detail::sum_in_rank_order(exchange("all_reduce", t));
    t.copy_(sum.to(t.device()).to(t.memory_format()));
  }

  Tensor all_gather(const Tensor& t) override {
    NORMRT_CHECK(t.defined(), "all_gather: the tensor is undefined");
    return detail::stack_in_rank_order(exchange("all_gather", t)).to(t.device());
  }

  void broadcast(Tensor& t, int root) override {
    NORMRT_CHECK(t.defined(), "broadcast: the tensor is undefined");
    NORMRT_CHECK(root >= 0 && root < size(), "broadcast: root ", root, " is not a rank of a group of ", size());
    const std::vector<Tensor> all = exchange("broadcast from rank " + std::to_string(root), t);
    t.copy_(all[static_cast<std::size_t>(root)].to(t.device()).to(t.memory_format()));
  }

  void barrier() override { exchange("barrier", Tensor()); }

 private:
  fs::path file_of(uint64_t call, int rank) const {
    return directory_ / (nonce_ + "." + std::to_string(call) + "." + std::to_string(rank));
  }

  // Calls ready() until it returns true; throws (the group then failed) past the timeout.
  template <typename Ready>
  void poll(const std::string& op, Ready ready, const std::string& waiting_for) {
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    auto pause = std::chrono::microseconds(50);
    while (!ready()) {
      if (std::chrono::steady_clock::now() > deadline) {
        failed_ = op + " timed out";
        NORMRT_THROW(op, ": timed out after ", timeout_.count(), " ms waiting", waiting_for, " (rank ", rank(),
                     " of ", size(), "); the group is unusable from now on");
      }
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::microseconds(2000));
    }
  }

  // Writes this rank's part of the next call and returns every rank's tensor (host, in rank order) once all agree.
  std::vector<Tensor> exchange(const std::string& op, const Tensor& t) {
    NORMRT_CHECK(failed_.empty(), op, ": the group failed earlier (", failed_, ")");
    const Tensor host = t.defined() ? t.to(Device::cpu()).contiguous() : Tensor();
    const std::string mine = op + (t.defined() ? " " + detail::describe(host) : std::string());
    const uint64_t call = calls_++;
    const fs::path target = file_of(call, rank());
    const fs::path temporary = target.string() + ".tmp";
    {
      std::ofstream out(temporary, std::ios::binary);
      out << mine << '\n';
      if (t.defined())
        out.write(static_cast<const char*>(host.raw_data()), static_cast<std::streamsize>(host.nbytes()));
      NORMRT_CHECK(out.good(), op, ": cannot write ", temporary.string());
    }
    std::error_code error;
    fs::rename(temporary, target, error);
    NORMRT_CHECK(!error, op, ": cannot rename ", temporary.string(), ": ", error.message());

    std::vector<std::string> called(static_cast<std::size_t>(size()));
    std::vector<std::vector<char>> bytes(static_cast<std::size_t>(size()));
    for (int r = 0; r < size(); ++r) {
      const auto q = static_cast<std::size_t>(r);
      poll(op, [&] {
        std::ifstream in(file_of(call, r), std::ios::binary);
        if (!in) return false;
        std::getline(in, called[q]);
        // In one read: an istreambuf_iterator copy went byte by byte, a quarter of a training step's time.
        const std::streampos data = in.tellg();
        in.seekg(0, std::ios::end);
        bytes[q].resize(static_cast<std::size_t>(in.tellg() - data));
        in.seekg(data);
        in.read(bytes[q].data(), static_cast<std::streamsize>(bytes[q].size()));
        return true;
      }, " for rank " + std::to_string(r) + " (call " + std::to_string(call) + ")");
    }
    for (int r = 1; r < size(); ++r) {
      if (called[static_cast<std::size_t>(r)] != called[0])
        NORMRT_THROW(op, ": the ranks disagree: rank 0 called ", called[0], ", rank ", r, " called ",
                     called[static_cast<std::size_t>(r)]);
    }
    std::vector<Tensor> inputs(static_cast<std::size_t>(size()));
    for (int r = 0; t.defined() && r < size(); ++r) {
      const auto q = static_cast<std::size_t>(r);
      inputs[q] = empty(host.sizes(), TensorOptions().dtype(host.dtype()));
      NORMRT_CHECK(bytes[q].size() == inputs[q].nbytes(), op, ": rank ", r, "'s file of call ", call, " is truncated");
      std::memcpy(inputs[q].raw_data(), bytes[q].data(), bytes[q].size());
    }
    if (call > 0) fs::remove(file_of(call - 1, rank()), error);
    return inputs;
  }

  fs::path directory_;
  std::chrono::milliseconds timeout_;
  std::string nonce_;
  uint64_t calls_ = 0;
  std::string failed_;
};

}  // namespace

std::unique_ptr<ProcessGroup> new_file_group(const std::string& directory, int rank, int size,
                                             std::chrono::milliseconds timeout) {
  NORMRT_CHECK(size >= 1 && rank >= 0 && rank < size, "new_file_group: rank ", rank, " is not a rank of a group of ",
               size);
  NORMRT_CHECK(timeout.count() > 0, "new_file_group: the timeout must be positive, got ", timeout.count(), " ms");
  NORMRT_CHECK(!directory.empty(), "new_file_group: the rendezvous directory is empty");
  return std::make_unique<FileGroup>(directory, rank, size, timeout);
}

}  // namespace normrt::dist
