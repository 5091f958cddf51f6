// NCCL for the emulated device: the part of NCCL's C API that src/dist_nccl.cpp calls, with ranks as threads of this
// process (communicators of one unique id meet in a registry). So the NCCL backend's host code runs in CI. A
// collective first waits for its stream's queued work (the emulated device's buffers are host memory), then meets the
// other ranks' calls of the same sequence number and returns with the result written: synchronous, where NCCL only
// enqueues, which keeps stream order. Float32 sums are added in rank order; int64 exactly. A communicator aborted or
// destroyed while others wait for it makes their calls fail (ncclRemoteError), as a dead peer would.
// Test-only.
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace {

// Longer than any test's bootstrap timeout: the bootstrap, not this, is what reports a missing rank.
constexpr auto kWaitLimit = std::chrono::seconds(120);

struct World {
  explicit World(int size) : size(size), members(static_cast<std::size_t>(size), nullptr) {}
  const int size;
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<ncclComm*> members;  // by rank, once joined
  bool broken = false;             // a member left (abort or destroy)
  struct Round {
    std::vector<std::vector<char>> inputs;
    int arrived = 0, collected = 0;
    std::vector<char> result;
    bool done = false;
  };
  std::map<uint64_t, Round> rounds;
};

std::mutex registry_mutex;
std::map<std::string, std::shared_ptr<World>> registry;  // by unique id
std::atomic<uint64_t> ids{1};

std::size_t type_size(ncclDataType_t type) {
  switch (type) {
    case ncclInt64:
    case ncclUint64:
    case ncclFloat64: return 8;
    case ncclFloat16:
    case ncclBfloat16: return 2;
    case ncclInt8:
    case ncclUint8: return 1;
    default: return 4;
  }
}

}  // namespace

struct ncclComm {
  std::shared_ptr<World> world;
  int rank = 0;
  uint64_t next = 0;
  std::string last_error;
};

namespace {

// Rank comm->rank's part of its next collective: deposits `input`, waits for every rank, and copies what
// combine(inputs in rank order) made into `output` (`output_bytes` of it).
template <typename Combine>
ncclResult_t meet(ncclComm* comm, cudaStream_t stream, const void* input, std::size_t input_bytes, void* output,
                  std::size_t output_bytes, Combine combine) {
  if (cudaStreamSynchronize(stream) != cudaSuccess) {
    comm->last_error = "the stream failed";
    return ncclUnhandledCudaError;
  }
  World& w = *comm->world;
  std::unique_lock<std::mutex> lock(w.mutex);
  const uint64_t call = comm->next++;
  World::Round& round = w.rounds[call];
  if (round.inputs.empty()) round.inputs.resize(static_cast<std::size_t>(w.size));
  const auto* bytes = static_cast<const char*>(input);
  round.inputs[static_cast<std::size_t>(comm->rank)].assign(bytes, bytes + input_bytes);
  if (++round.arrived == w.size) {
    round.result = combine(round.inputs);
    round.done = true;
    w.changed.notify_all();
  }
  if (!w.changed.wait_for(lock, kWaitLimit, [&] { return round.done || w.broken; }) || !round.done) {
    comm->last_error = "a peer left the communicator";
    return ncclRemoteError;
  }
  std::memcpy(output, round.result.data(), output_bytes);
  if (++round.collected == w.size) w.rounds.erase(call);
  return ncclSuccess;
}

template <typename T>
std::vector<char> sum_in_rank_order(const std::vector<std::vector<char>>& inputs) {
  std::vector<char> out(inputs[0].size());
  const std::size_t n = out.size() / sizeof(T);
  for (std::size_t i = 0; i < n; ++i) {
    T total = 0;
    for (const auto& in : inputs) {
      T v;
      std::memcpy(&v, in.data() + i * sizeof(T), sizeof(T));
      total += v;
    }
    std::memcpy(out.data() + i * sizeof(T), &total, sizeof(T));
  }
  return out;
}

void leave(ncclComm* comm) {
  if (comm == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(comm->world->mutex);
    comm->world->broken = true;
    comm->world->changed.notify_all();
  }
  delete comm;
}

}  // namespace

extern "C" {

const char* ncclGetErrorString(ncclResult_t result) {
  switch (result) {
    case ncclSuccess: return "no error";
    case ncclUnhandledCudaError: return "unhandled cuda error (emulated NCCL)";
    case ncclSystemError: return "unhandled system error (emulated NCCL)";
    case ncclInvalidArgument: return "invalid argument (emulated NCCL)";
    case ncclRemoteError: return "remote process exited or there was a network error (emulated NCCL)";
    default: return "unknown result code (emulated NCCL)";
  }
}

const char* ncclGetLastError(ncclComm_t comm) { return comm != nullptr ? comm->last_error.c_str() : ""; }

ncclResult_t ncclGetUniqueId(ncclUniqueId* id) {
  std::memset(id, 0, sizeof(*id));
  const std::string text = "emulated-nccl-" + std::to_string(ids++);
  std::memcpy(id->internal, text.data(), text.size());
  return ncclSuccess;
}

ncclResult_t ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId id, int rank) {
  if (nranks < 1 || rank < 0 || rank >= nranks) return ncclInvalidArgument;
  std::shared_ptr<World> world;
  {
    std::lock_guard<std::mutex> lock(registry_mutex);
    const std::string key(id.internal, sizeof(id.internal));
    auto& entry = registry[key];
    if (!entry) entry = std::make_shared<World>(nranks);
    if (entry->size != nranks) return ncclInvalidArgument;
    world = entry;
  }
  auto* member = new ncclComm{world, rank, 0, ""};
  std::unique_lock<std::mutex> lock(world->mutex);
  world->members[static_cast<std::size_t>(rank)] = member;
  world->changed.notify_all();
  const bool joined = world->changed.wait_for(lock, kWaitLimit, [&] {
    for (ncclComm* m : world->members)
      if (m == nullptr) return false;
    return true;
  });
  if (!joined) {
    world->members[static_cast<std::size_t>(rank)] = nullptr;
    delete member;
    return ncclSystemError;
  }
  *comm = member;
  return ncclSuccess;
}

ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  leave(comm);
  return ncclSuccess;
}

ncclResult_t ncclCommAbort(ncclComm_t comm) {
  leave(comm);
  return ncclSuccess;
}

ncclResult_t ncclAllReduce(const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype, ncclRedOp_t op,
                           ncclComm_t comm, cudaStream_t stream) {
  if (op != ncclSum || (datatype != ncclFloat32 && datatype != ncclInt64)) {
    comm->last_error = "the emulated NCCL sums float32 and int64 only";
    return ncclInvalidArgument;
  }
  const std::size_t bytes = count * type_size(datatype);
  return meet(comm, stream, sendbuff, bytes, recvbuff, bytes, [datatype](const std::vector<std::vector<char>>& in) {
    return datatype == ncclFloat32 ? sum_in_rank_order<float>(in) : sum_in_rank_order<int64_t>(in);
  });
}

ncclResult_t ncclAllGather(const void* sendbuff, void* recvbuff, size_t sendcount, ncclDataType_t datatype,
                           ncclComm_t comm, cudaStream_t stream) {
  const std::size_t bytes = sendcount * type_size(datatype);
  return meet(comm, stream, sendbuff, bytes, recvbuff, bytes * static_cast<std::size_t>(comm->world->size),
              [](const std::vector<std::vector<char>>& in) {
                std::vector<char> out;
                for (const auto& part : in) out.insert(out.end(), part.begin(), part.end());
                return out;
              });
}

ncclResult_t ncclBroadcast(const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype, int root,
                           ncclComm_t comm, cudaStream_t stream) {
  const std::size_t bytes = count * type_size(datatype);
  return meet(comm, stream, sendbuff, bytes, recvbuff, bytes,
              [root](const std::vector<std::vector<char>>& in) { return in[static_cast<std::size_t>(root)]; });
}

}  // extern "C"
