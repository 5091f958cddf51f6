// normrt::dist: process groups for data-parallel training. A group has a rank and a world size and runs
// collectives on tensors: every rank calls the same collectives in the same order (as torch.distributed), each call
// returns when every rank has contributed, and results are the same bits on every rank (sums in rank order).
// Nothing waits forever: a rank that has not arrived within the group's timeout, a rank that has left the group, a
// different collective or a tensor of another shape or dtype on another rank makes the call throw on every rank
// still waiting, naming the collective and the rank.
//
// Backends: "threads", ranks that are threads of one process (InProcessWorld below: tests, and several devices
// driven from one process); "mpi", one process per rank under mpirun (Open MPI; init_from_environment); "file",
// processes sharing a directory (torchrun-style launches without MPI); "nccl", CUDA tensors, one rank per GPU, over
// any of those as its bootstrap; "single", the group of one process started without a launcher.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "normrt/tensor.h"

namespace normrt::dist {

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  virtual std::string backend() const = 0;

  // t = the sum of every rank's t, in place (floating dtypes summed in float32 in rank order and rounded once to
  // t's dtype; int64 exactly).
  virtual void all_reduce(Tensor& t) = 0;
  // Every rank's t stacked in rank order: shape [size(), *t.sizes()], on t's device.
  virtual Tensor all_gather(const Tensor& t) = 0;
  // t = root's t, in place.
  virtual void broadcast(Tensor& t, int root) = 0;
  // Returns once every rank has called it.
  virtual void barrier() = 0;

 protected:
  ProcessGroup(int rank, int size) : rank_(rank), size_(size) {}

 private:
  int rank_, size_;
};

// Ranks as threads of this process: world.group(r) is rank r's group, to be used by one thread at a time (the
// thread that plays rank r). A rank whose thread stops early calls leave() (or its group is destroyed): the other
// ranks' collectives then throw instead of waiting for it.
class InProcessWorld {
 public:
  explicit InProcessWorld(int size, std::chrono::milliseconds timeout = std::chrono::minutes(5));
  ~InProcessWorld();
  InProcessWorld(const InProcessWorld&) = delete;
  InProcessWorld& operator=(const InProcessWorld&) = delete;

  int size() const;
  // Rank r's group (created once; the world must outlive it).
  ProcessGroup& group(int rank);
  // Rank r leaves the group: collectives that wait for it throw on the other ranks from now on.
  void leave(int rank);

  struct State;

 private:
  std::shared_ptr<State> state_;
};

// NCCL, for CUDA tensors (builds with NORMRT_WITH_NCCL): rank bootstrap.rank() on GPU `device`, one rank per GPU.
// Collectives on that device's tensors are enqueued on its current stream, ordered with the work around them; the
// host does not wait for the device (CPU tensors are staged through it, and their results wait for it). `bootstrap`
// (a group of the same ranks: mpi, file or threads) carries rank 0's NCCL id and, before every collective, the
// ranks' descriptions of it (host memory only), so that mismatched calls, a rank that died or stopped calling, and
// timeouts throw on every waiting rank as on the other backends (the communicator is then aborted). Sums are NCCL's:
// float32 (16-bit tensors through a float32 copy, rounded once), the same bits on every rank, but added in NCCL's
// order, not rank order. The bootstrap group must outlive this one.
std::unique_ptr<ProcessGroup> new_nccl_group(ProcessGroup& bootstrap, int device);
// The same, owning its bootstrap group.
std::unique_ptr<ProcessGroup> new_nccl_group(std::unique_ptr<ProcessGroup> bootstrap, int device);

// Ranks that are processes sharing `directory` (created if absent; a shared file system across machines): host
// collectives through files, milliseconds each, for bootstrapping NCCL and small CPU jobs. Rank 0 starts a session
// there and refuses a directory holding the session file of a launch that crashed ("remove it"). Calls that wait
// longer than `timeout` for a rank throw (the group is unusable after that).
std::unique_ptr<ProcessGroup> new_file_group(const std::string& directory, int rank, int size,
                                             std::chrono::milliseconds timeout = std::chrono::minutes(5));

// The launch this process belongs to, read from the launcher's environment: Open MPI's OMPI_COMM_WORLD_RANK /
// _SIZE / _LOCAL_RANK / _LOCAL_SIZE under mpirun, else RANK / WORLD_SIZE / LOCAL_RANK / LOCAL_WORLD_SIZE as torchrun
// sets them, else a launch of one. local_size: the launch's processes on this machine (1 when not given).
// launcher: "mpirun", "torchrun" or "" (none). Malformed values throw, naming the variable.
struct LaunchEnvironment {
  int rank = 0, size = 1, local_rank = 0, local_size = 1;
  std::string launcher;
};
LaunchEnvironment launch_environment();

// The group of this process's launch, on `backend`:
//  * "" (the default): under mpirun the MPI backend over every process of it (MPI initialised on the first call and
//    finalised at exit; each call returns a group of its own over a duplicate of the world communicator); under a
//    torchrun-style launch (WORLD_SIZE > 1 without mpirun) the file backend in the directory that
//    NORMRT_RENDEZVOUS names; without a launcher, the group of one ("single").
//  * "mpi" or "file": that backend (as above), refused when the launch does not provide it.
//  * "nccl": NCCL on GPU LOCAL_RANK (the launcher's local rank), bootstrapped by the default host group.
// Collectives that wait longer than `timeout` throw (the group is unusable after that).
// When the launch has several processes on this machine and neither OMP_NUM_THREADS nor the program has chosen the
// calling thread's OpenMP thread count, it becomes this process's share of the CPUs its affinity allows (at least one),
// the processes taken to be spread evenly over the machine (unbound: each may run anywhere; bound to a socket: a
// socket's share), as torchrun sets OMP_NUM_THREADS=1: a full team per process oversubscribes the cores (measured on
// the 2-core build machine, normrt-train mlp-bn on 9000 samples: 3.15 s per epoch for a torchrun-style launch of two
// processes, 0.58 s with shares; 3.60 s and 0.33 s for mpirun -np 3 --oversubscribe).
std::unique_ptr<ProcessGroup> init_from_environment(const std::string& backend,
                                                    std::chrono::milliseconds timeout = std::chrono::minutes(5));
std::unique_ptr<ProcessGroup> init_from_environment(std::chrono::milliseconds timeout = std::chrono::minutes(5));

}  // namespace normrt::dist
