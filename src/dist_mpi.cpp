// normrt::dist, the MPI backend (Open MPI): one process per rank, launched by mpirun. Every collective first
// all-gathers a short description of what each rank called ("all_reduce [4, 3] float32"): ranks that disagree all
// see the same table and all throw, naming the first rank that differs, instead of exchanging mismatched buffers.
// Then the data: all_gather and broadcast move bytes; all_reduce all-gathers the ranks' tensors and adds them in rank
// order on every rank (dist_combine.h), so that every rank holds the same bits, as on the other backends (MPI's own
// reductions leave the order to the implementation). Tensors travel through host memory.
// Nothing waits forever: every exchange is non-blocking and polled against the group's timeout; a timeout leaves
// the group failed (its buffers kept until exit, as MPI may still write them), and every later call throws at once.
#include <mpi.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "dist_combine.h"
#include "normrt/error.h"

namespace normrt::dist {

namespace {

constexpr std::size_t kDescriptionBytes = 192;

void check_mpi(int status, const char* what) {
  if (status == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(status, text, &length);
  NORMRT_THROW("MPI error in ", what, ": ", std::string(text, static_cast<std::size_t>(length)));
}

// MPI is initialised once per process, on first use, and finalised at exit.
void ensure_mpi_initialised() {
  static std::once_flag once;
  std::call_once(once, [] {
    int initialised = 0;
    check_mpi(MPI_Initialized(&initialised), "MPI_Initialized");
    if (initialised) return;
    int provided = 0;
    check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
    std::atexit([] {
      int finalised = 0;
      MPI_Finalized(&finalised);
      if (!finalised) MPI_Finalize();
    });
  });
}

class MpiGroup final : public ProcessGroup {
 public:
  MpiGroup(MPI_Comm comm, int rank, int size, std::chrono::milliseconds timeout)
      : ProcessGroup(rank, size), comm_(comm), timeout_(timeout) {}
  ~MpiGroup() override {
    if (failed_.empty()) MPI_Comm_free(&comm_);  // a failed group's exchanges may still be in flight
  }
  std::string backend() const override { return "mpi"; }

  void all_reduce(Tensor& t) override {
    NORMRT_CHECK(t.defined(), "all_reduce: the tensor is undefined");
    const Tensor host = t.to(Device::cpu()).contiguous();
    agree("all_reduce", detail::describe(host));
    const Tensor stacked = gather(host, "all_reduce");
    std::vector<const void*> rows;
    for (int r = 0; r < size(); ++r) rows.push_back(static_cast<const char*>(stacked.raw_data()) + r * host.nbytes());
    const Tensor sum = detail::sum_rows_in_rank_order(rows, host.sizes(), host.dtype());
    t.copy_(sum.to(t.device()).to(t.memory_format()));
  }

  Tensor all_gather(const Tensor& t) override {
    NORMRT_CHECK(t.defined(), "all_gather: the tensor is undefined");
    const Tensor host = t.to(Device::cpu()).contiguous();
    agree("all_gather", detail::describe(host));
    return gather(host, "all_gather").to(t.device());
  }

  void broadcast(Tensor& t, int root) override {
    NORMRT_CHECK(t.defined(), "broadcast: the tensor is undefined");
    NORMRT_CHECK(root >= 0 && root < size(), "broadcast: root ", root, " is not a rank of a group of ", size());
    const std::string op = "broadcast from rank " + std::to_string(root);
    Tensor host = t.to(Device::cpu()).contiguous().clone();
    agree(op, detail::describe(host));
    auto buffer = std::make_shared<Tensor>(host);
    MPI_Request request;
    const int bytes = detail::mpi_byte_count(host.nbytes(), op, detail::describe(host));
    check_mpi(MPI_Ibcast(host.raw_data(), bytes, MPI_BYTE, root, comm_, &request), "MPI_Ibcast");
    wait(request, op, buffer);
    t.copy_(host.to(t.device()).to(t.memory_format()));
  }

  void barrier() override { agree("barrier", ""); }

 private:
  // Every rank's description of this call, compared: throws on every rank alike when they differ.
  void agree(const std::string& op, const std::string& operand) {
    NORMRT_CHECK(failed_.empty(), op, ": the group failed earlier (", failed_, ")");
    const std::string mine = (op + " " + operand).substr(0, kDescriptionBytes - 1);
    auto table = std::make_shared<std::vector<char>>(kDescriptionBytes * static_cast<std::size_t>(size() + 1), '\0');
    std::memcpy(table->data(), mine.data(), mine.size());
    MPI_Request request;
    check_mpi(MPI_Iallgather(table->data(), static_cast<int>(kDescriptionBytes), MPI_BYTE,
                             table->data() + kDescriptionBytes, static_cast<int>(kDescriptionBytes), MPI_BYTE, comm_,
                             &request),
              "MPI_Iallgather");
    wait(request, op, table);
    const auto called = [&](int r) { return std::string(table->data() + kDescriptionBytes * (r + 1)); };
    for (int r = 1; r < size(); ++r) {
      if (called(r) != called(0))
        NORMRT_THROW(op, ": the ranks disagree: rank 0 called ", called(0), ", rank ", r, " called ", called(r));
    }
  }

  // Every rank's host tensor (agreed to have one shape and dtype), stacked in rank order: [size(), *sizes], received
  // where it is returned (an allocation from normrt's host cache, not zeroed).
  Tensor gather(const Tensor& host, const std::string& op) {
    Shape shape = host.sizes();
    shape.insert(shape.begin(), size());
    // What MPI reads and writes, kept alive together (for good if the exchange is abandoned).
    auto buffers = std::make_shared<std::pair<Tensor, Tensor>>(host, empty(shape, TensorOptions().dtype(host.dtype())));
    static char nothing = 0;  // an address for empty tensors, whose data may be null
    const int bytes = detail::mpi_byte_count(host.nbytes(), op, detail::describe(host));
    void* send = bytes > 0 ? buffers->first.raw_data() : &nothing;
    void* receive = bytes > 0 ? buffers->second.raw_data() : &nothing;
    MPI_Request request;
    check_mpi(MPI_Iallgather(send, bytes, MPI_BYTE, receive, bytes, MPI_BYTE, comm_, &request), "MPI_Iallgather");
    wait(request, op, buffers);
    return buffers->second;
  }

  // Polls `request` until it completes or the timeout passes; `keep` holds the buffers MPI may still use, kept for
  // good when the request is abandoned. Open MPI advances a non-blocking exchange only inside MPI calls, one step
  // (a shared-memory fragment) per call: the first kSpin of a wait polls without sleeping (yielding the core to
  // whoever else wants it), and only a longer wait backs off to sleeps of up to 1 ms. Sleeping from the first poll
  // put a sleep between the steps of every exchange (mlp-bn on 2 processes, 9000 samples: 0.24-0.29 s per epoch,
  // 0.21 s polling first).
  template <typename Keep>
  void wait(MPI_Request& request, const std::string& op, std::shared_ptr<Keep> keep) {
    constexpr auto kSpin = std::chrono::milliseconds(20);
    const auto start = std::chrono::steady_clock::now(), deadline = start + timeout_;
    auto pause = std::chrono::microseconds(1);
    for (;;) {
      int done = 0;
      check_mpi(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test");
      if (done) return;
      const auto now = std::chrono::steady_clock::now();
      if (now > deadline) {
        failed_ = op + " timed out after " + std::to_string(timeout_.count()) + " ms";
        abandoned_.push_back(std::move(keep));
        NORMRT_THROW(op, ": timed out after ", timeout_.count(), " ms waiting for the other ranks (rank ", rank(),
                     " of ", size(), "); the group is unusable from now on");
      }
      if (now - start < kSpin) {
        std::this_thread::yield();
        continue;
      }
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::microseconds(1000));
    }
  }

  MPI_Comm comm_;
  std::chrono::milliseconds timeout_;
  std::string failed_;
  std::vector<std::shared_ptr<void>> abandoned_;
};

}  // namespace

namespace detail {

std::unique_ptr<ProcessGroup> mpi_world_group(std::chrono::milliseconds timeout) {
  ensure_mpi_initialised();
  MPI_Comm comm;
  check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &comm), "MPI_Comm_dup");
  int rank = 0, size = 1;
  check_mpi(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  check_mpi(MPI_Comm_size(comm, &size), "MPI_Comm_size");
  return std::make_unique<MpiGroup>(comm, rank, size, timeout);
}

}  // namespace detail

}  // namespace normrt::dist
