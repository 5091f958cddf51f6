// Controls of the emulated CUDA device (emulated_cudart.cpp): how queued work runs. Test-only.
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <functional>

namespace emu {

enum class Schedule {
  // Every call completes before it returns (streams, events and pageable copies cannot go wrong).
  Synchronous,
  // Work is queued per stream and runs only when the host waits for it (a stream, event or device synchronise, a
  // blocking copy), and then only what the wait needs, honouring stream order and event waits: a read that is not
  // ordered after its producer by an event sees the data as it was (freshly allocated pool memory is poisoned).
  Lazy,
  // Queued like Lazy, but a wait first runs every other stream's work that is ready: memory freed in one stream's
  // order while another stream still reads it is poisoned and reused before the reader runs.
  Eager,
};

// The schedule from now on (work already queued keeps its queue). The initial one comes from NORMRT_EMU_SCHEDULE
// (sync, lazy or eager; sync when unset).
void set_schedule(Schedule schedule);
Schedule schedule();

// Queues `work` on `stream` (runs it at once under Synchronous). The stand-ins for the vendor libraries use it.
void enqueue(cudaStream_t stream, std::function<void()> work);

// Work items queued and not yet run (0 under Synchronous).
std::size_t pending();

// cudaMallocAsync calls that succeeded so far: what a GPU's driver would have been asked for.
std::size_t stream_ordered_allocations();

// Sets the schedule for a scope and drains the device when the scope ends.
class ScheduleGuard {
 public:
  explicit ScheduleGuard(Schedule schedule);
  ~ScheduleGuard();
  ScheduleGuard(const ScheduleGuard&) = delete;
  ScheduleGuard& operator=(const ScheduleGuard&) = delete;

 private:
  Schedule previous_;
};

}  // namespace emu
