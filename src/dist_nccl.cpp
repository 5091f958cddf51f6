// normrt::dist, the NCCL backend: one rank per GPU (processes, or threads of one process). Data move by NCCL on the
// current stream of the tensor's device: a collective is enqueued, ordered after the work already queued there and
// before what follows, and the host does not wait for it (CPU tensors are staged through the device, and reading
// their results back waits for it).
// What NCCL cannot give is checked on the host through a bootstrap group of the same ranks (MPI under mpirun, the
// file rendezvous under torchrun, threads in tests): it carries rank 0's NCCL unique id at creation, and before
// every collective each rank's description of the call ("all_reduce [4, 3] float32 cuda:0"), so that ranks that
// disagree all throw, naming the first rank that differs, instead of NCCL reading mismatched buffers or waiting
// forever. A rank that died or stopped calling fails that exchange on the others within the bootstrap's timeout; the
// communicator is then aborted (which also ends any NCCL kernel still waiting on the device) and every later call
// throws at once.
// libnccl is loaded when the first group is made (runtime_library.h: dlopen of libnccl.so.2, unless the program
// links NCCL itself, as the emulated device's tests do), so that normrt needs it only where the backend is used.
// Sums: float32, float16 and bfloat16 tensors are summed in float32 (16-bit ones through a float32 copy, rounded once,
// as the other backends do) in NCCL's order: the same bits on every rank, and run to run for a given topology, but
// not rank order; int64 exactly.
#include <nccl.h>

#include <cstring>
#include <mutex>

#include "dist_combine.h"
#include "log.h"
#include "normrt/cuda.h"
#include "normrt/error.h"
#include "runtime_library.h"

namespace normrt::dist {

namespace {

constexpr int64_t kDescriptionWords = 24;  // 192 bytes

// The NCCL functions the backend calls, from the program itself or from libnccl.so.2.
struct NcclApi {
  decltype(&::ncclGetUniqueId) get_unique_id;
  decltype(&::ncclCommInitRank) comm_init_rank;
  decltype(&::ncclCommDestroy) comm_destroy;
  decltype(&::ncclCommAbort) comm_abort;
  decltype(&::ncclGetErrorString) get_error_string;
  decltype(&::ncclGetLastError) get_last_error;
  decltype(&::ncclAllReduce) all_reduce;
  decltype(&::ncclAllGather) all_gather;
  decltype(&::ncclBroadcast) broadcast;
};

const NcclApi& nccl() {
  static std::once_flag once;
  static NcclApi api{};
  static std::string failure;
  std::call_once(once, [] {
    normrt::detail::RuntimeLibrary library("libnccl.so.2", "ncclGetUniqueId", "NCCL");
    library.load(api.get_unique_id, "ncclGetUniqueId");
    library.load(api.comm_init_rank, "ncclCommInitRank");
    library.load(api.comm_destroy, "ncclCommDestroy");
    library.load(api.comm_abort, "ncclCommAbort");
    library.load(api.get_error_string, "ncclGetErrorString");
    library.load(api.get_last_error, "ncclGetLastError");
    library.load(api.all_reduce, "ncclAllReduce");
    library.load(api.all_gather, "ncclAllGather");
    library.load(api.broadcast, "ncclBroadcast");
    failure = library.failure();
  });
  NORMRT_CHECK(failure.empty(), "the NCCL backend: ", failure);
  return api;
}

ncclDataType_t nccl_type(DType dtype) {
  switch (dtype) {
    case DType::Float32: return ncclFloat32;
    case DType::Float16: return ncclFloat16;
    case DType::BFloat16: return ncclBfloat16;
    case DType::Int64: return ncclInt64;
    default: NORMRT_THROW("the NCCL backend does not carry ", dtype_name(dtype), " tensors");
  }
}

class NcclGroup final : public ProcessGroup {
 public:
  NcclGroup(ProcessGroup& bootstrap, int device, std::unique_ptr<ProcessGroup> owned = nullptr)
      : ProcessGroup(bootstrap.rank(), bootstrap.size()),
        owned_bootstrap_(std::move(owned)),
        bootstrap_(bootstrap),
        device_(device) {
    ncclUniqueId id{};
    if (rank() == 0) check(nccl().get_unique_id(&id), "ncclGetUniqueId");
    static_assert(sizeof(ncclUniqueId) % sizeof(int64_t) == 0, "the id travels as int64 words");
    Tensor words = zeros({static_cast<int64_t>(sizeof(ncclUniqueId) / sizeof(int64_t))},
                         TensorOptions().dtype(DType::Int64));
    std::memcpy(words.raw_data(), &id, sizeof(id));
    bootstrap_.broadcast(words, 0);
    std::memcpy(&id, words.raw_data(), sizeof(id));
    cuda::DeviceGuard guard(device_);
    check(nccl().comm_init_rank(&comm_, size(), id, rank()), "ncclCommInitRank");
  }

  ~NcclGroup() override {
    if (comm_ == nullptr) return;
    // A failed communicator was aborted already; a healthy one is destroyed after its queued collectives.
    const ncclResult_t status = nccl().comm_destroy(comm_);
    if (status != ncclSuccess)
      normrt::detail::warn(std::string("ncclCommDestroy: ") + nccl().get_error_string(status));
  }

  std::string backend() const override { return "nccl"; }

  void all_reduce(Tensor& t) override {
    NORMRT_CHECK(t.defined(), "all_reduce: the tensor is undefined");
    if (t.device().is_cpu()) {
      Tensor staged = on_device(t);
      all_reduce(staged);
      t.copy_(staged.to(Device::cpu()));
      return;
    }
    agree("all_reduce", t);
    if (t.dtype() == DType::Float16 || t.dtype() == DType::BFloat16) {
      Tensor wide = t.to(DType::Float32);
      reduce_in_place(wide);
      t.copy_(wide.to(t.dtype()));
      return;
    }
    if (t.is_contiguous()) {
      reduce_in_place(t);
      return;
    }
    Tensor dense = t.contiguous();
    reduce_in_place(dense);
    t.copy_(dense);
  }

  Tensor all_gather(const Tensor& t) override {
    NORMRT_CHECK(t.defined(), "all_gather: the tensor is undefined");
    if (t.device().is_cpu()) return all_gather(on_device(t)).to(Device::cpu());
    agree("all_gather", t);
    const Tensor dense = t.contiguous();
    Shape stacked_shape{size()};
    for (int64_t d : t.sizes()) stacked_shape.push_back(d);
    Tensor stacked = empty(stacked_shape, TensorOptions(t.device()).dtype(t.dtype()));
    if (t.numel() > 0) {
      run("all_gather", [&](cudaStream_t stream) {
        return nccl().all_gather(dense.raw_data(), stacked.raw_data(), static_cast<size_t>(t.numel()),
                                 nccl_type(t.dtype()), comm_, stream);
      });
    }
    return stacked;
  }

  void broadcast(Tensor& t, int root) override {
    NORMRT_CHECK(t.defined(), "broadcast: the tensor is undefined");
    NORMRT_CHECK(root >= 0 && root < size(), "broadcast: root ", root, " is not a rank of a group of ", size());
    if (t.device().is_cpu()) {
      Tensor staged = on_device(t);
      broadcast(staged, root);
      t.copy_(staged.to(Device::cpu()));
      return;
    }
    const std::string op = "broadcast from rank " + std::to_string(root);
    agree(op, t);
    Tensor dense = t.is_contiguous() ? t : t.contiguous();
    if (t.numel() > 0) {
      run(op, [&](cudaStream_t stream) {
        return nccl().broadcast(dense.raw_data(), dense.raw_data(), static_cast<size_t>(t.numel()),
                                nccl_type(t.dtype()), root, comm_, stream);
      });
    }
    if (!dense.is_same(t)) t.copy_(dense);
  }

  // Every rank has called it once the bootstrap's exchange returns; NCCL work queued before it is not waited for.
  void barrier() override { agree("barrier", Tensor()); }

 private:
  void check(ncclResult_t status, const std::string& what) {
    if (status == ncclSuccess) return;
    const char* detail = comm_ != nullptr ? nccl().get_last_error(comm_) : nullptr;
    const std::string more = detail != nullptr && *detail ? std::string(" (") + detail + ")" : std::string();
    fail(what + ": " + nccl().get_error_string(status) + more);
  }

  [[noreturn]] void fail(const std::string& why) {
    if (failed_.empty()) {
      failed_ = why;
      if (comm_ != nullptr) nccl().comm_abort(comm_);
      comm_ = nullptr;
    }
    NORMRT_THROW(why, " (NCCL group, rank ", rank(), " of ", size(), "); the group is unusable from now on");
  }

  // CPU tensors (metrics, counters) travel through a device copy; reading the result back waits for the device.
  Tensor on_device(const Tensor& t) const { return t.to(Device::cuda(device_)); }

  // The ranks' descriptions of this call, compared on the host through the bootstrap group.
  void agree(const std::string& op, const Tensor& t) {
    NORMRT_CHECK(failed_.empty(), op, ": the NCCL group failed earlier (", failed_, ")");
    if (t.defined()) {
      NORMRT_CHECK(t.device() == Device::cuda(device_), op, ": the NCCL group of cuda:", device_,
                   " takes tensors on that device, got one on ", t.device().str());
      nccl_type(t.dtype());
    }
    const std::string mine =
        (op + (t.defined() ? " " + detail::describe(t) : std::string())).substr(0, kDescriptionWords * 8 - 1);
    Tensor words = zeros({kDescriptionWords}, TensorOptions().dtype(DType::Int64));
    std::memcpy(words.raw_data(), mine.data(), mine.size());
    Tensor table;
    try {
      table = bootstrap_.all_gather(words);
    } catch (const Error& e) {
      fail(op + ": " + e.what());
    }
    const auto called = [&](int r) {
      return std::string(static_cast<const char*>(table.raw_data()) + r * kDescriptionWords * 8);
    };
    for (int r = 1; r < size(); ++r) {
      if (called(r) != called(0))
        NORMRT_THROW(op, ": the ranks disagree: rank 0 called ", called(0), ", rank ", r, " called ", called(r));
    }
  }

  void reduce_in_place(Tensor& t) {
    if (t.numel() == 0) return;
    run("all_reduce", [&](cudaStream_t stream) {
      return nccl().all_reduce(t.raw_data(), t.raw_data(), static_cast<size_t>(t.numel()), nccl_type(t.dtype()),
                               ncclSum, comm_, stream);
    });
  }

  template <typename Enqueue>
  void run(const std::string& op, Enqueue enqueue) {
    cuda::DeviceGuard guard(device_);
    check(enqueue(cuda::current_stream(device_)), op);
  }

  std::unique_ptr<ProcessGroup> owned_bootstrap_;  // null when the caller keeps the bootstrap
  ProcessGroup& bootstrap_;
  int device_;
  ncclComm_t comm_ = nullptr;
  std::string failed_;
};

}  // namespace

namespace {

void check_device(int device) {
  NORMRT_CHECK(device >= 0 && device < cuda::device_count(), "new_nccl_group: cuda:", device, " is not a device of ",
               "this machine (", cuda::device_count(), " visible)");
}

}  // namespace

std::unique_ptr<ProcessGroup> new_nccl_group(ProcessGroup& bootstrap, int device) {
  check_device(device);
  return std::make_unique<NcclGroup>(bootstrap, device);
}

std::unique_ptr<ProcessGroup> new_nccl_group(std::unique_ptr<ProcessGroup> bootstrap, int device) {
  NORMRT_CHECK(bootstrap != nullptr, "new_nccl_group: the bootstrap group is null");
  check_device(device);
  ProcessGroup& reference = *bootstrap;
  return std::make_unique<NcclGroup>(reference, device, std::move(bootstrap));
}

}  // namespace normrt::dist
