// normrt::dist, the in-process backend: ranks are threads sharing one State. A collective is a round (the k-th call
// of every rank): each rank deposits a host copy of its tensor, the last to arrive checks that every rank called the
// same collective on a tensor of the same shape and dtype and computes the result (sums in rank order: the same
// bits on every rank, whatever the arrival order), and every rank copies the result back to its own tensor. A rank
// that waits past the timeout, or while a missing rank has left, fails the round for everyone.
#include "normrt/dist.h"

#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <vector>

#include "cpu_threads.h"
#include "dist_combine.h"
#include "normrt/error.h"

namespace normrt::dist {

namespace detail {

Tensor sum_rows_in_rank_order(const std::vector<const void*>& rows, const Shape& sizes, DType dtype) {
  if (dtype == DType::Int64) {
    Tensor out = empty(sizes, TensorOptions().dtype(DType::Int64));
    int64_t* acc = out.data<int64_t>();
    const int64_t n = out.numel();
    if (n > 0) std::memcpy(acc, rows[0], static_cast<std::size_t>(n) * sizeof(int64_t));
    for (std::size_t r = 1; r < rows.size(); ++r) {
      const auto* v = static_cast<const int64_t*>(rows[r]);
      for (int64_t i = 0; i < n; ++i) acc[i] += v[i];
    }
    return out;
  }
  // Float32 rows are read where they lie; 16-bit rows through a float32 copy each.
  auto as_float = [&](const void* row) {
    Tensor t = empty(sizes, TensorOptions().dtype(dtype));
    std::memcpy(t.raw_data(), row, t.nbytes());
    return t.to(DType::Float32);
  };
  Tensor out = dtype == DType::Float32 ? empty(sizes) : as_float(rows[0]);
  float* acc = out.data<float>();
  const int64_t n = out.numel();
  if (dtype == DType::Float32 && n > 0) std::memcpy(acc, rows[0], static_cast<std::size_t>(n) * sizeof(float));
  for (std::size_t r = 1; r < rows.size(); ++r) {
    const Tensor converted = dtype == DType::Float32 ? Tensor() : as_float(rows[r]);
    const float* v = converted.defined() ? converted.data<float>() : static_cast<const float*>(rows[r]);
    for (int64_t i = 0; i < n; ++i) acc[i] += v[i];
  }
  return out.to(dtype);
}

Tensor sum_in_rank_order(const std::vector<Tensor>& inputs) {
  std::vector<const void*> rows;
  for (const Tensor& t : inputs) rows.push_back(t.raw_data());
  return sum_rows_in_rank_order(rows, inputs[0].sizes(), inputs[0].dtype());
}

Tensor stack_in_rank_order(const std::vector<Tensor>& inputs) {
  Shape shape = inputs[0].sizes();
  shape.insert(shape.begin(), static_cast<int64_t>(inputs.size()));
  Tensor out = empty(shape, TensorOptions().dtype(inputs[0].dtype()));
  const std::size_t bytes = inputs[0].nbytes();
  for (std::size_t r = 0; r < inputs.size(); ++r)
    std::memcpy(static_cast<char*>(out.raw_data()) + r * bytes, inputs[r].raw_data(), bytes);
  return out;
}

std::string describe(const Tensor& t) { return shape_str(t.sizes()) + " " + dtype_name(t.dtype()); }

int mpi_byte_count(std::size_t bytes, const std::string& op, const std::string& described) {
  NORMRT_CHECK(bytes <= static_cast<std::size_t>(INT_MAX), op, ": ", described, " takes ", bytes,
               " bytes; the mpi backend moves at most ", INT_MAX, " bytes per rank and call (split the tensor)");
  return static_cast<int>(bytes);
}

}  // namespace detail

namespace {

using detail::describe;

struct Round {
  std::vector<std::optional<Tensor>> inputs;  // host copies, by rank
  std::vector<std::string> ops;               // what each rank called ("" until it arrives)
  int arrived = 0, consumed = 0;
  bool done = false;
  std::string error;  // set when the round failed: every rank throws it
  Tensor result;      // on the host
};

}  // namespace

struct InProcessWorld::State {
  State(int size, std::chrono::milliseconds timeout) : size(size), timeout(timeout), left(size, false) {}
  const int size;
  const std::chrono::milliseconds timeout;
  std::mutex mutex;
  std::condition_variable changed;
  std::map<uint64_t, Round> rounds;
  std::vector<bool> left;
  std::vector<std::unique_ptr<ProcessGroup>> groups;
};

namespace {

using State = InProcessWorld::State;

class InProcessGroup final : public ProcessGroup {
 public:
  InProcessGroup(State& state, int rank) : ProcessGroup(rank, state.size), state_(state) {}
  std::string backend() const override { return "threads"; }

  void all_reduce(Tensor& t) override {
    NORMRT_CHECK(t.defined(), "all_reduce: the tensor is undefined");
    const Tensor sum = collective("all_reduce", t, detail::sum_in_rank_order);
    t.copy_(sum.to(t.device()).to(t.memory_format()));
  }

  Tensor all_gather(const Tensor& t) override {
    NORMRT_CHECK(t.defined(), "all_gather: the tensor is undefined");
    const Tensor stacked = collective("all_gather", t, detail::stack_in_rank_order);
    return stacked.to(t.device());
  }

  void broadcast(Tensor& t, int root) override {
    NORMRT_CHECK(t.defined(), "broadcast: the tensor is undefined");
    NORMRT_CHECK(root >= 0 && root < size(), "broadcast: root ", root, " is not a rank of a group of ", size());
    const Tensor value = collective("broadcast from rank " + std::to_string(root), t,
                                    [root](const std::vector<Tensor>& in) { return in[root]; });
    t.copy_(value.to(t.device()).to(t.memory_format()));
  }

  void barrier() override {
    collective("barrier", Tensor(), [](const std::vector<Tensor>&) { return Tensor(); });
  }

 private:
  // Rank rank()'s part of its next collective `op`: deposits a host copy of `t` (undefined for a barrier), waits
  // for every rank, and returns the result the last arrival computed with combine(inputs in rank order).
  template <typename Combine>
  Tensor collective(const std::string& op, const Tensor& t, Combine combine) {
    const Tensor host = t.defined() ? t.to(Device::cpu()).contiguous() : Tensor();
    const uint64_t call = next_call_++;
    std::unique_lock<std::mutex> lock(state_.mutex);
    NORMRT_CHECK(!state_.left[rank()], op, ": rank ", rank(), " has left the group");
    Round& round = state_.rounds[call];
    if (round.inputs.empty()) {
      round.inputs.resize(state_.size);
      round.ops.resize(state_.size);
    }
    round.inputs[rank()] = host;
    round.ops[rank()] = op;
    ++round.arrived;
    if (round.arrived == state_.size && !round.done) {
      round.error = check(round, call);
      if (round.error.empty()) {
        std::vector<Tensor> inputs;
        for (const auto& in : round.inputs) inputs.push_back(*in);
        round.result = combine(inputs);
      }
      round.done = true;
      state_.changed.notify_all();
    }
    const auto deadline = std::chrono::steady_clock::now() + state_.timeout;
    while (!round.done) {
      if (const int gone = missing_rank_that_left(round); gone >= 0) {
        fail(round, op + ": rank " + std::to_string(gone) + " left the group before joining call " +
                        std::to_string(call));
      } else if (state_.changed.wait_until(lock, deadline) == std::cv_status::timeout && !round.done) {
        fail(round, op + ": timed out after " + std::to_string(state_.timeout.count()) +
                        " ms waiting for rank(s) " + missing(round) + " (call " + std::to_string(call) + ")");
      }
    }
    const std::string error = round.error;
    const Tensor result = round.result;
    // A failed round stays: a rank arriving late finds its error at once instead of waiting out its own timeout.
    if (++round.consumed == state_.size) state_.rounds.erase(call);
    NORMRT_CHECK(error.empty(), error);
    return result;
  }

  // Why the complete round `call` cannot be combined ("" when it can).
  std::string check(const Round& round, uint64_t call) const {
    for (int r = 1; r < state_.size; ++r) {
      if (round.ops[r] != round.ops[0]) {
        return "collective mismatch at call " + std::to_string(call) + ": rank 0 called " + round.ops[0] +
               ", rank " + std::to_string(r) + " called " + round.ops[r];
      }
      const Tensor &a = *round.inputs[0], &b = *round.inputs[r];
      if (a.defined() && (a.sizes() != b.sizes() || a.dtype() != b.dtype())) {
        return round.ops[0] + ": rank " + std::to_string(r) + " has a tensor of " + describe(b) + ", rank 0 of " +
               describe(a);
      }
    }
    return "";
  }

  int missing_rank_that_left(const Round& round) const {
    for (int r = 0; r < state_.size; ++r)
      if (round.ops[r].empty() && state_.left[r]) return r;
    return -1;
  }

  std::string missing(const Round& round) const {
    std::ostringstream os;
    for (int r = 0, n = 0; r < state_.size; ++r)
      if (round.ops[r].empty()) os << (n++ ? ", " : "") << r;
    return os.str();
  }

  void fail(Round& round, const std::string& error) {
    round.error = error;
    round.done = true;
    state_.changed.notify_all();
  }

  State& state_;
  uint64_t next_call_ = 0;
};

}  // namespace

InProcessWorld::InProcessWorld(int size, std::chrono::milliseconds timeout)
    : state_(std::make_shared<State>(size, timeout)) {
  NORMRT_CHECK(size >= 1, "InProcessWorld: the world size must be positive, got ", size);
  NORMRT_CHECK(timeout.count() > 0, "InProcessWorld: the timeout must be positive, got ", timeout.count(), " ms");
  for (int r = 0; r < size; ++r) state_->groups.push_back(std::make_unique<InProcessGroup>(*state_, r));
}

InProcessWorld::~InProcessWorld() = default;

int InProcessWorld::size() const { return state_->size; }

ProcessGroup& InProcessWorld::group(int rank) {
  NORMRT_CHECK(rank >= 0 && rank < state_->size, "InProcessWorld: rank ", rank, " is not in a world of ",
               state_->size);
  return *state_->groups[static_cast<std::size_t>(rank)];
}

void InProcessWorld::leave(int rank) {
  NORMRT_CHECK(rank >= 0 && rank < state_->size, "InProcessWorld: rank ", rank, " is not in a world of ",
               state_->size);
  const std::lock_guard<std::mutex> lock(state_->mutex);
  state_->left[static_cast<std::size_t>(rank)] = true;
  state_->changed.notify_all();
}

namespace {

// A variable of the launcher's, as a non-negative integer; nullopt when unset.
std::optional<int> launch_variable(const char* name) {
  const char* text = std::getenv(name);
  if (text == nullptr) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const long value = std::strtol(text, &end, 10);
  NORMRT_CHECK(*text != '\0' && *end == '\0' && errno == 0 && value >= 0 && value <= INT32_MAX,
               "launch environment: ", name, "='", text, "' is not a non-negative integer");
  return static_cast<int>(value);
}

// The group of a process started without a launcher: every collective is the identity.
class SingleGroup final : public ProcessGroup {
 public:
  SingleGroup() : ProcessGroup(0, 1) {}
  std::string backend() const override { return "single"; }
  void all_reduce(Tensor& t) override { NORMRT_CHECK(t.defined(), "all_reduce: the tensor is undefined"); }
  Tensor all_gather(const Tensor& t) override {
    NORMRT_CHECK(t.defined(), "all_gather: the tensor is undefined");
    return detail::stack_in_rank_order({t.to(Device::cpu()).contiguous()}).to(t.device());
  }
  void broadcast(Tensor& t, int root) override {
    NORMRT_CHECK(t.defined(), "broadcast: the tensor is undefined");
    NORMRT_CHECK(root == 0, "broadcast: root ", root, " is not a rank of a group of 1");
  }
  void barrier() override {}
};

}  // namespace

LaunchEnvironment launch_environment() {
  LaunchEnvironment env;
  const char* const mpi[] = {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
                             "OMPI_COMM_WORLD_LOCAL_SIZE"};
  const char* const torchrun[] = {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"};
  for (const auto* names : {mpi, torchrun}) {
    const std::optional<int> size = launch_variable(names[1]);
    if (!size) continue;
    const std::optional<int> rank = launch_variable(names[0]);
    NORMRT_CHECK(rank.has_value(), "launch environment: ", names[1], " is set but ", names[0], " is not");
    NORMRT_CHECK(*size >= 1 && *rank < *size, "launch environment: ", names[0], "=", *rank, " is not a rank of ",
                 names[1], "=", *size);
    env.rank = *rank;
    env.size = *size;
    env.local_rank = launch_variable(names[2]).value_or(0);
    if (const std::optional<int> local_size = launch_variable(names[3])) {
      NORMRT_CHECK(*local_size >= 1 && *local_size <= *size && env.local_rank < *local_size,
                   "launch environment: ", names[3], "=", *local_size, " does not fit ", names[1], "=", *size, " and ",
                   names[2], "=", env.local_rank);
      env.local_size = *local_size;
    }
    env.launcher = names == mpi ? "mpirun" : "torchrun";
    return env;
  }
  return env;
}

namespace {

// The launch's host group: MPI under mpirun, the file backend under torchrun, else the group of one.
std::unique_ptr<ProcessGroup> host_group(const LaunchEnvironment& env, const std::string& backend,
                                         std::chrono::milliseconds timeout) {
  if (env.launcher == "mpirun" && backend != "file") {
#if NORMRT_WITH_MPI
    return detail::mpi_world_group(timeout);
#else
    NORMRT_THROW("init_from_environment: launched by mpirun, but this build has no MPI backend (install Open MPI, ",
                 "libopenmpi-dev, and reconfigure)");
#endif
  }
  NORMRT_CHECK(backend != "mpi", "init_from_environment: the mpi backend needs a launch by mpirun");
  if (env.size == 1 && backend.empty()) return std::make_unique<SingleGroup>();
  const char* directory = std::getenv("NORMRT_RENDEZVOUS");
  NORMRT_CHECK(directory != nullptr && *directory != '\0', "init_from_environment: a ",
               env.launcher.empty() ? "launch" : env.launcher + " launch", " of ", env.size,
               " processes needs NORMRT_RENDEZVOUS: a directory every rank can reach, for the file backend");
  return new_file_group(directory, env.rank, env.size, timeout);
}

}  // namespace

std::unique_ptr<ProcessGroup> init_from_environment(const std::string& backend, std::chrono::milliseconds timeout) {
  NORMRT_CHECK(timeout.count() > 0, "init_from_environment: the timeout must be positive, got ", timeout.count(),
               " ms");
  NORMRT_CHECK(backend.empty() || backend == "mpi" || backend == "file" || backend == "nccl",
               "init_from_environment: unknown backend '", backend, "' (expected mpi, file or nccl)");
  const LaunchEnvironment env = launch_environment();
  std::unique_ptr<ProcessGroup> group;
  if (backend != "nccl") {
    group = host_group(env, backend, timeout);
  } else {
#if NORMRT_WITH_NCCL
    group = new_nccl_group(host_group(env, "", timeout), env.local_rank);
#else
    NORMRT_THROW("init_from_environment: this build has no NCCL backend (NORMRT_WITH_NCCL=OFF)");
#endif
  }
  cpu::share_cpus_with_local_processes(env.local_size);
  return group;
}

std::unique_ptr<ProcessGroup> init_from_environment(std::chrono::milliseconds timeout) {
  return init_from_environment("", timeout);
}

}  // namespace normrt::dist
