// The CUDA runtime calls normrt makes, for the emulated device: one device whose memory is host memory and whose
// kernels the SIMT emulator runs (kernels launch through NORMRT_LAUNCH, see cuda_compat.cuh). Linked instead of
// libcudart into the emulated-device test build (tests/CMakeLists.txt), so that the GPU test suites run on machines
// without a GPU. Test-only.
//
// Work runs under one of the schedules of emulated_device.h. Synchronous completes every call before it returns.
// The asynchronous ones queue kernels, copies, memsets, frees and event records per stream and run them only when
// the host waits, in an order that is legal but unhelpful (Lazy: as late as possible; Eager: every other stream
// first), so that a missing event wait, a read of memory another stream freed, or a host read of a copy that has
// not finished gives wrong numbers instead of passing by luck. Common to all schedules: stream-ordered allocations
// come from a pool that poisons (0xFF bytes: NaN) freed blocks and hands them out again at once (to the freeing
// stream even before its free has run, to any stream after), streams and events are never-reused handles (a
// destroyed one is refused), and stream capture records work into a graph that a launch replays. Capture covers
// one stream; allocations in it belong to the graph, and cudaMalloc/cudaFree/synchronisation during a capture are
// refused as in CUDA's global capture mode.
#include "simt.h"  // first: it defines the CUDA keywords before the toolkit's headers do

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "emulated_device.h"

namespace {

constexpr int kSmCount = 4;                      // small, so that the emulator's grids stay small
constexpr int kSharedPerBlock = 48 * 1024;       // the emulator's dynamic shared memory limit, opt-in included
constexpr std::size_t kMemory = std::size_t{1} << 32;  // what cudaMemGetInfo reports

cudaError_t g_last_error = cudaSuccess;
int g_device = 0;

cudaError_t fail(cudaError_t error) {
  g_last_error = error;
  return error;
}

struct EventState {
  uint64_t recorded = 0;   // records issued
  uint64_t completed = 0;  // the latest record that has run
  std::map<uint64_t, struct StreamState*> producers;  // record -> its stream
};

struct Item {
  enum class Kind { Run, Record, Wait } kind = Kind::Run;
  std::function<void()> run;
  std::shared_ptr<EventState> event;
  uint64_t generation = 0;
};

struct Graph {
  std::vector<std::function<void()>> work;
  std::vector<const void*> unfreed;  // allocations made in the capture and not freed in it
  bool invalidated = false;
};

struct GraphExec {
  std::vector<std::function<void()>> work;
  bool unfreed_allocations = false;
  bool launched = false;
};

struct StreamState {
  std::deque<Item> queue;
  std::shared_ptr<Graph> capture;  // set while the stream is capturing
};

// A pool block: a stream-ordered allocation's memory, live or free.
struct Block {
  char* data = nullptr;
  std::size_t capacity = 0;
  StreamState* freed_on = nullptr;  // the stream whose order freed it (while free)
  bool free_done = false;           // its latest free has run (any stream may reuse it)
  uint64_t allocations = 0;         // times handed out, so that an earlier life's free does not count as its latest
};

struct State {
  std::recursive_mutex mutex;
  emu::Schedule schedule = emu::Schedule::Synchronous;
  // Every stream ever made, destroyed ones included (events and pool blocks point at them).
  std::vector<std::shared_ptr<StreamState>> streams;
  std::map<cudaStream_t, StreamState*> stream_handles;
  std::map<cudaEvent_t, std::shared_ptr<EventState>> event_handles;
  std::map<cudaGraph_t, std::shared_ptr<Graph>> graphs;
  std::map<cudaGraphExec_t, std::shared_ptr<GraphExec>> execs;
  std::map<void*, std::shared_ptr<Block>> pool_live;  // stream-ordered allocations in use
  std::vector<std::shared_ptr<Block>> pool_free;
  std::map<void*, std::size_t> plain;  // cudaMalloc / cudaMallocHost blocks
  std::size_t stream_ordered_allocations = 0;  // cudaMallocAsync calls that succeeded
  uintptr_t next_handle = 0x10000;
  std::string async_error;  // a failure inside queued work, reported by the next wait
  int capturing = 0;
};

emu::Schedule schedule_from_environment() {
  const char* value = std::getenv("NORMRT_EMU_SCHEDULE");
  const std::string name = value != nullptr ? value : "sync";
  if (name == "lazy") return emu::Schedule::Lazy;
  if (name == "eager") return emu::Schedule::Eager;
  if (name != "sync" && !name.empty()) {
    std::fprintf(stderr, "NORMRT_EMU_SCHEDULE must be sync, lazy or eager, got '%s'\n", name.c_str());
    std::abort();
  }
  return emu::Schedule::Synchronous;
}

// NORMRT_EMU_ORDER=reverse runs every kernel's threads, and the blocks of each launch, in reverse order (simt.h).
simt::ResumeOrder order_from_environment() {
  const char* value = std::getenv("NORMRT_EMU_ORDER");
  const std::string name = value != nullptr ? value : "forward";
  if (name == "reverse") return simt::ResumeOrder::Reverse;
  if (name != "forward" && !name.empty()) {
    std::fprintf(stderr, "NORMRT_EMU_ORDER must be forward or reverse, got '%s'\n", name.c_str());
    std::abort();
  }
  return simt::ResumeOrder::Forward;
}

State& state() {
  static State* s = [] {
    auto* created = new State;  // never destroyed: storages may be freed during static destruction
    created->schedule = schedule_from_environment();
    simt::set_resume_order(order_from_environment());
    auto legacy = std::make_shared<StreamState>();
    created->streams.push_back(legacy);
    for (cudaStream_t handle : {cudaStream_t{nullptr}, cudaStreamLegacy, cudaStreamPerThread})
      created->stream_handles[handle] = legacy.get();
    return created;
  }();
  return *s;
}

using Lock = std::lock_guard<std::recursive_mutex>;

bool asynchronous(const State& s) { return s.schedule != emu::Schedule::Synchronous; }

template <typename Handle>
Handle new_handle(State& s) {
  s.next_handle += 0x100;  // never reused, so a destroyed handle stays invalid
  return reinterpret_cast<Handle>(s.next_handle);
}

StreamState* find_stream(State& s, cudaStream_t stream) {
  const auto it = s.stream_handles.find(stream);
  return it == s.stream_handles.end() ? nullptr : it->second;
}

void record_async_error(State& s, const std::string& message) {
  std::fprintf(stderr, "emulated device: queued work failed: %s\n", message.c_str());
  if (s.async_error.empty()) s.async_error = message;
}

cudaError_t take_async_error(State& s) {
  if (s.async_error.empty()) return cudaSuccess;
  s.async_error.clear();
  return fail(cudaErrorLaunchFailure);
}

bool ready(const Item& item) { return item.kind != Item::Kind::Wait || item.event->completed >= item.generation; }

void execute_front(State& s, StreamState& stream) {
  Item item = std::move(stream.queue.front());
  stream.queue.pop_front();
  switch (item.kind) {
    case Item::Kind::Run:
      try {
        item.run();
      } catch (const std::exception& e) {
        record_async_error(s, e.what());
      }
      break;
    case Item::Kind::Record: item.event->completed = std::max(item.event->completed, item.generation); break;
    case Item::Kind::Wait: break;
  }
}

// Runs every ready item of the streams other than `except` until none is left.
void run_ready_others(State& s, const StreamState* except) {
  for (bool progressed = true; progressed;) {
    progressed = false;
    for (std::size_t i = 0; i < s.streams.size(); ++i) {
      StreamState& other = *s.streams[i];
      if (&other == except) continue;
      while (!other.queue.empty() && ready(other.queue.front())) {
        execute_front(s, other);
        progressed = true;
      }
    }
  }
}

void deadlock(State& s, StreamState& stream) {
  record_async_error(s, "a stream waits for an event whose record can never run (deadlock)");
  stream.queue.pop_front();
}

// Runs the front item of `stream`, after what it waits for.
void step(State& s, StreamState& stream) {
  if (s.schedule == emu::Schedule::Eager) run_ready_others(s, &stream);
  const Item& front = stream.queue.front();
  if (!ready(front)) {
    const auto producer_it = front.event->producers.find(front.generation);
    StreamState* producer = producer_it == front.event->producers.end() ? nullptr : producer_it->second;
    // (Under Eager, running the producer may run this stream's front too.)
    while (!stream.queue.empty() && !ready(stream.queue.front())) {
      if (producer == nullptr || producer == &stream || producer->queue.empty()) return deadlock(s, stream);
      step(s, *producer);
    }
    if (stream.queue.empty()) return;
  }
  execute_front(s, stream);
}

void drain_stream(State& s, StreamState& stream) {
  while (!stream.queue.empty()) step(s, stream);
}

void drain_event(State& s, EventState& event) {
  while (event.completed < event.recorded) {
    StreamState* producer = event.producers[event.recorded];
    if (producer == nullptr || producer->queue.empty()) {
      record_async_error(s, "an event waited for was never reached");
      event.completed = event.recorded;
      return;
    }
    step(s, *producer);
  }
}

void drain_device(State& s) {
  for (std::size_t i = 0; i < s.streams.size(); ++i) drain_stream(s, *s.streams[i]);
}

// Queues work on a stream: into its capture, at the back of its queue, or runs it now (Synchronous).
cudaError_t enqueue_work(State& s, cudaStream_t handle, std::function<void()> work) {
  StreamState* stream = find_stream(s, handle);
  if (stream == nullptr) return fail(cudaErrorInvalidResourceHandle);
  if (stream->capture) {
    stream->capture->work.push_back(std::move(work));
    return cudaSuccess;
  }
  if (!asynchronous(s)) {
    work();
    return cudaSuccess;
  }
  stream->queue.push_back(Item{Item::Kind::Run, std::move(work), nullptr, 0});
  return cudaSuccess;
}

thread_local cudaStreamCaptureMode t_capture_mode = cudaStreamCaptureModeGlobal;

// Refuses what CUDA's global capture mode refuses while any stream captures (unless this thread has switched to
// relaxed mode); the captures are invalidated.
cudaError_t refuse_during_capture(State& s, StreamState* stream = nullptr) {
  if (s.capturing == 0 || t_capture_mode == cudaStreamCaptureModeRelaxed) return cudaSuccess;
  if (stream != nullptr && stream->capture) stream->capture->invalidated = true;
  for (auto& other : s.streams)
    if (other->capture) other->capture->invalidated = true;
  return fail(cudaErrorStreamCaptureUnsupported);
}

void launch_kernel(cudaStream_t stream, std::function<void()> kernel) {
  State& s = state();
  Lock lock(s.mutex);
  if (enqueue_work(s, stream, std::move(kernel)) != cudaSuccess)
    throw std::runtime_error("emulated device: kernel launched on an invalid or destroyed stream");
}

[[maybe_unused]] const bool g_installed = (simt::set_launch_queue(&launch_kernel), true);

void poison(void* data, std::size_t bytes) { std::memset(data, 0xFF, bytes); }

std::size_t capacity_for(std::size_t bytes) { return (bytes + 255) / 256 * 256 + 256; }

char* allocate(std::size_t capacity) { return static_cast<char*>(std::aligned_alloc(256, capacity)); }

}  // namespace

namespace emu {

void set_schedule(Schedule schedule) {
  State& s = state();
  Lock lock(s.mutex);
  drain_device(s);
  s.schedule = schedule;
}

Schedule schedule() { return state().schedule; }

void enqueue(cudaStream_t stream, std::function<void()> work) {
  State& s = state();
  Lock lock(s.mutex);
  if (enqueue_work(s, stream, std::move(work)) != cudaSuccess)
    throw std::runtime_error("emulated device: work queued on an invalid or destroyed stream");
}

std::size_t pending() {
  State& s = state();
  Lock lock(s.mutex);
  std::size_t count = 0;
  for (const auto& stream : s.streams) count += stream->queue.size();
  return count;
}

std::size_t stream_ordered_allocations() {
  State& s = state();
  Lock lock(s.mutex);
  return s.stream_ordered_allocations;
}

ScheduleGuard::ScheduleGuard(Schedule schedule) : previous_(emu::schedule()) { set_schedule(schedule); }
ScheduleGuard::~ScheduleGuard() { set_schedule(previous_); }

}  // namespace emu

extern "C" {

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  if (device != 0) return fail(cudaErrorInvalidDevice);
  g_device = device;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  *device = g_device;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (device != 0) return fail(cudaErrorInvalidDevice);
  switch (attr) {
    case cudaDevAttrMultiProcessorCount: *value = kSmCount; return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlock:
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = kSharedPerBlock; return cudaSuccess;
    case cudaDevAttrL2CacheSize: *value = 1 << 20; return cudaSuccess;
    case cudaDevAttrComputeCapabilityMajor: *value = 9; return cudaSuccess;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; return cudaSuccess;
    default: return fail(cudaErrorInvalidValue);
  }
}

cudaError_t cudaDeviceSynchronize() {
  State& s = state();
  Lock lock(s.mutex);
  if (const cudaError_t refused = refuse_during_capture(s)) return refused;
  drain_device(s);
  return take_async_error(s);
}

cudaError_t cudaGetLastError() {
  const cudaError_t error = g_last_error;
  g_last_error = cudaSuccess;
  return error;
}

cudaError_t cudaPeekAtLastError() { return g_last_error; }

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case cudaErrorIllegalState: return "the operation cannot be performed in the present state";
    default: return "emulated device error";
  }
}

const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorIllegalState: return "cudaErrorIllegalState";
    default: return "cudaErrorUnknown";
  }
}

cudaError_t cudaMemGetInfo(std::size_t* free, std::size_t* total) {
  *free = kMemory;
  *total = kMemory;
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** ptr, std::size_t bytes) {
  State& s = state();
  Lock lock(s.mutex);
  if (const cudaError_t refused = refuse_during_capture(s)) return refused;
  const std::size_t capacity = capacity_for(bytes);
  *ptr = allocate(capacity);
  if (*ptr == nullptr) return fail(cudaErrorMemoryAllocation);
  s.plain[*ptr] = capacity;
  return cudaSuccess;
}

// cudaFree synchronises the device, as CUDA's does.
cudaError_t cudaFree(void* ptr) {
  if (ptr == nullptr) return cudaSuccess;
  State& s = state();
  Lock lock(s.mutex);
  if (const cudaError_t refused = refuse_during_capture(s)) return refused;
  drain_device(s);
  if (s.plain.erase(ptr) == 1) {
    std::free(ptr);
  } else {
    const auto live = s.pool_live.find(ptr);
    if (live == s.pool_live.end()) return fail(cudaErrorInvalidValue);
    std::free(live->second->data);
    s.pool_live.erase(live);
  }
  return take_async_error(s);
}

cudaError_t cudaMallocAsync(void** ptr, std::size_t bytes, cudaStream_t handle) {
  State& s = state();
  Lock lock(s.mutex);
  StreamState* stream = find_stream(s, handle);
  if (stream == nullptr) return fail(cudaErrorInvalidResourceHandle);
  std::shared_ptr<Block> block;
  if (!stream->capture) {
    // The latest block this stream freed (its free may not have run yet: stream order makes that safe), else the
    // latest whose free has run: reuse as soon as CUDA's pool may.
    auto fits = [&](const std::shared_ptr<Block>& b) {
      return b->capacity >= bytes && b->capacity <= 2 * bytes + 4096;
    };
    auto it = std::find_if(s.pool_free.rbegin(), s.pool_free.rend(),
                           [&](const auto& b) { return b->freed_on == stream && fits(b); });
    if (it == s.pool_free.rend())
      it = std::find_if(s.pool_free.rbegin(), s.pool_free.rend(),
                        [&](const auto& b) { return b->free_done && fits(b); });
    if (it != s.pool_free.rend()) {
      block = *it;
      s.pool_free.erase(std::next(it).base());
    }
  }
  if (!block) {
    block = std::make_shared<Block>();
    block->capacity = capacity_for(bytes);
    block->data = allocate(block->capacity);
    if (block->data == nullptr) return fail(cudaErrorMemoryAllocation);
    poison(block->data, block->capacity);
  }
  block->freed_on = nullptr;
  block->free_done = false;
  ++block->allocations;
  if (stream->capture) stream->capture->unfreed.push_back(block->data);
  s.pool_live[block->data] = block;
  *ptr = block->data;
  ++s.stream_ordered_allocations;
  return cudaSuccess;
}

cudaError_t cudaFreeAsync(void* ptr, cudaStream_t handle) {
  if (ptr == nullptr) return cudaSuccess;
  State& s = state();
  Lock lock(s.mutex);
  StreamState* stream = find_stream(s, handle);
  if (stream == nullptr) return fail(cudaErrorInvalidResourceHandle);
  const auto live = s.pool_live.find(ptr);
  if (live == s.pool_live.end()) return fail(cudaErrorInvalidValue);
  std::shared_ptr<Block> block = live->second;
  if (stream->capture) {
    // Freed inside a graph: the graph owns the block; each replay leaves it poisoned past this point.
    auto& unfreed = stream->capture->unfreed;
    unfreed.erase(std::remove(unfreed.begin(), unfreed.end(), ptr), unfreed.end());
    stream->capture->work.push_back([block] { poison(block->data, block->capacity); });
    return cudaSuccess;
  }
  s.pool_live.erase(live);
  block->freed_on = stream;
  s.pool_free.push_back(block);
  // Handed out again on this stream before this free runs, the block is poisoned in stream order but stays live.
  return enqueue_work(s, handle, [block, life = block->allocations] {
    poison(block->data, block->capacity);
    if (block->allocations == life) block->free_done = true;
  });
}

// normrt's device cache (src/storage.cpp) keeps freed blocks of the default stream instead of freeing them: they are
// poisoned in stream order all the same.
extern "C" void normrt_emulated_poison(void* block, std::size_t bytes, cudaStream_t handle) {
  State& s = state();
  Lock lock(s.mutex);
  if (find_stream(s, handle) == nullptr) return;
  (void)enqueue_work(s, handle, [block, bytes] { poison(block, bytes); });
}

cudaError_t cudaMallocHost(void** ptr, std::size_t bytes) { return cudaMalloc(ptr, bytes); }
cudaError_t cudaFreeHost(void* ptr) { return cudaFree(ptr); }

cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t* pool, int device) {
  if (device != 0) return fail(cudaErrorInvalidDevice);
  static int the_pool;
  *pool = reinterpret_cast<cudaMemPool_t>(&the_pool);
  return cudaSuccess;
}

cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t, cudaMemPoolAttr, void*) { return cudaSuccess; }

cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind, cudaStream_t stream) {
  if (bytes == 0) return cudaSuccess;
  State& s = state();
  Lock lock(s.mutex);
  // Even from or to pageable host memory the copy happens when the stream reaches it: later than CUDA promises,
  // so a caller that reads or reuses the host side without waiting sees it.
  return enqueue_work(s, stream, [=] { std::memmove(dst, src, bytes); });
}

// The blocking forms run on the legacy stream and wait for it.
cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  State& s = state();
  Lock lock(s.mutex);
  if (const cudaError_t refused = refuse_during_capture(s)) return refused;
  if (const cudaError_t error = cudaMemcpyAsync(dst, src, bytes, kind, cudaStreamLegacy)) return error;
  drain_stream(s, *find_stream(s, cudaStreamLegacy));
  return take_async_error(s);
}

cudaError_t cudaMemcpy2DAsync(void* dst, std::size_t dpitch, const void* src, std::size_t spitch, std::size_t width,
                              std::size_t height, cudaMemcpyKind, cudaStream_t stream) {
  if (width > dpitch || width > spitch) return fail(cudaErrorInvalidPitchValue);
  State& s = state();
  Lock lock(s.mutex);
  return enqueue_work(s, stream, [=] {
    for (std::size_t row = 0; row < height; ++row)
      std::memcpy(static_cast<char*>(dst) + row * dpitch, static_cast<const char*>(src) + row * spitch, width);
  });
}

cudaError_t cudaMemcpyPeerAsync(void* dst, int, const void* src, int, std::size_t bytes, cudaStream_t stream) {
  return cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream);
}

cudaError_t cudaMemsetAsync(void* ptr, int value, std::size_t bytes, cudaStream_t stream) {
  if (bytes == 0) return cudaSuccess;
  State& s = state();
  Lock lock(s.mutex);
  return enqueue_work(s, stream, [=] { std::memset(ptr, value, bytes); });
}

cudaError_t cudaMemset(void* ptr, int value, std::size_t bytes) {
  State& s = state();
  Lock lock(s.mutex);
  if (const cudaError_t refused = refuse_during_capture(s)) return refused;
  if (const cudaError_t error = cudaMemsetAsync(ptr, value, bytes, cudaStreamLegacy)) return error;
  drain_stream(s, *find_stream(s, cudaStreamLegacy));
  return take_async_error(s);
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned) {
  State& s = state();
  Lock lock(s.mutex);
  s.streams.push_back(std::make_shared<StreamState>());
  *stream = new_handle<cudaStream_t>(s);
  s.stream_handles[*stream] = s.streams.back().get();
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, 0); }

// Queued work still runs (when waited for through the device); the handle is invalid from now on.
cudaError_t cudaStreamDestroy(cudaStream_t handle) {
  State& s = state();
  Lock lock(s.mutex);
  StreamState* stream = find_stream(s, handle);
  if (stream == nullptr || handle == nullptr || handle == cudaStreamLegacy || handle == cudaStreamPerThread)
    return fail(cudaErrorInvalidResourceHandle);
  if (stream->capture) return fail(cudaErrorStreamCaptureUnsupported);
  s.stream_handles.erase(handle);
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t handle) {
  State& s = state();
  Lock lock(s.mutex);
  StreamState* stream = find_stream(s, handle);
  if (stream == nullptr) return fail(cudaErrorInvalidResourceHandle);
  if (stream->capture) {
    stream->capture->invalidated = true;
    return fail(cudaErrorStreamCaptureUnsupported);
  }
  drain_stream(s, *stream);
  return take_async_error(s);
}

cudaError_t cudaStreamQuery(cudaStream_t handle) {
  State& s = state();
  Lock lock(s.mutex);
  StreamState* stream = find_stream(s, handle);
  if (stream == nullptr) return fail(cudaErrorInvalidResourceHandle);
  return stream->queue.empty() ? cudaSuccess : cudaErrorNotReady;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned) {
  State& s = state();
  Lock lock(s.mutex);
  *event = new_handle<cudaEvent_t>(s);
  s.event_handles[*event] = std::make_shared<EventState>();
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, 0); }

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  State& s = state();
  Lock lock(s.mutex);
  return s.event_handles.erase(event) == 1 ? cudaSuccess : fail(cudaErrorInvalidResourceHandle);
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t handle) {
  State& s = state();
  Lock lock(s.mutex);
  const auto it = s.event_handles.find(event);
  StreamState* stream = find_stream(s, handle);
  if (it == s.event_handles.end() || stream == nullptr) return fail(cudaErrorInvalidResourceHandle);
  if (stream->capture) {  // fork/join across streams inside a capture is not emulated
    stream->capture->invalidated = true;
    return fail(cudaErrorStreamCaptureUnsupported);
  }
  EventState& e = *it->second;
  const uint64_t generation = ++e.recorded;
  e.producers[generation] = stream;
  if (!asynchronous(s)) e.completed = generation;
  else stream->queue.push_back(Item{Item::Kind::Record, nullptr, it->second, generation});
  return cudaSuccess;
}

cudaError_t cudaStreamWaitEvent(cudaStream_t handle, cudaEvent_t event, unsigned) {
  State& s = state();
  Lock lock(s.mutex);
  const auto it = s.event_handles.find(event);
  StreamState* stream = find_stream(s, handle);
  if (it == s.event_handles.end() || stream == nullptr) return fail(cudaErrorInvalidResourceHandle);
  if (stream->capture) {
    stream->capture->invalidated = true;
    return fail(cudaErrorStreamCaptureUnsupported);
  }
  if (asynchronous(s)) stream->queue.push_back(Item{Item::Kind::Wait, nullptr, it->second, it->second->recorded});
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  State& s = state();
  Lock lock(s.mutex);
  const auto it = s.event_handles.find(event);
  if (it == s.event_handles.end()) return fail(cudaErrorInvalidResourceHandle);
  drain_event(s, *it->second);
  return take_async_error(s);
}

cudaError_t cudaEventQuery(cudaEvent_t event) {
  State& s = state();
  Lock lock(s.mutex);
  const auto it = s.event_handles.find(event);
  if (it == s.event_handles.end()) return fail(cudaErrorInvalidResourceHandle);
  return it->second->completed >= it->second->recorded ? cudaSuccess : cudaErrorNotReady;
}

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t, cudaEvent_t) {
  *ms = 0.0f;
  return cudaSuccess;
}

cudaError_t cudaThreadExchangeStreamCaptureMode(cudaStreamCaptureMode* mode) {
  std::swap(*mode, t_capture_mode);
  return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t handle, cudaStreamCaptureMode) {
  State& s = state();
  Lock lock(s.mutex);
  StreamState* stream = find_stream(s, handle);
  if (stream == nullptr) return fail(cudaErrorInvalidResourceHandle);
  if (stream->capture || stream == find_stream(s, cudaStreamLegacy)) return fail(cudaErrorStreamCaptureUnsupported);
  stream->capture = std::make_shared<Graph>();
  ++s.capturing;
  return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t handle, cudaGraph_t* graph) {
  State& s = state();
  Lock lock(s.mutex);
  StreamState* stream = find_stream(s, handle);
  if (stream == nullptr) return fail(cudaErrorInvalidResourceHandle);
  if (!stream->capture) return fail(cudaErrorIllegalState);
  std::shared_ptr<Graph> captured = std::move(stream->capture);
  stream->capture.reset();
  --s.capturing;
  *graph = nullptr;
  if (captured->invalidated) return fail(cudaErrorStreamCaptureInvalidated);
  *graph = new_handle<cudaGraph_t>(s);
  s.graphs[*graph] = std::move(captured);
  return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t handle, cudaStreamCaptureStatus* status) {
  State& s = state();
  Lock lock(s.mutex);
  StreamState* stream = find_stream(s, handle);
  if (stream == nullptr) return fail(cudaErrorInvalidResourceHandle);
  *status = !stream->capture                 ? cudaStreamCaptureStatusNone
            : stream->capture->invalidated ? cudaStreamCaptureStatusInvalidated
                                           : cudaStreamCaptureStatusActive;
  return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  State& s = state();
  Lock lock(s.mutex);
  const auto it = s.graphs.find(graph);
  if (it == s.graphs.end()) return fail(cudaErrorInvalidValue);
  *exec = new_handle<cudaGraphExec_t>(s);
  auto instance = std::make_shared<GraphExec>();
  instance->work = it->second->work;
  instance->unfreed_allocations = !it->second->unfreed.empty();
  s.execs[*exec] = std::move(instance);
  return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  State& s = state();
  Lock lock(s.mutex);
  const auto it = s.execs.find(exec);
  if (it == s.execs.end()) return fail(cudaErrorInvalidValue);
  // As in CUDA, a graph whose allocations outlive it cannot run again before they are freed (never, here).
  if (it->second->unfreed_allocations && it->second->launched) return fail(cudaErrorInvalidValue);
  it->second->launched = true;
  auto exec_state = it->second;
  return enqueue_work(s, stream, [exec_state] {
    for (const auto& step : exec_state->work) step();
  });
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  State& s = state();
  Lock lock(s.mutex);
  return s.execs.erase(exec) == 1 ? cudaSuccess : fail(cudaErrorInvalidValue);
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  State& s = state();
  Lock lock(s.mutex);
  return s.graphs.erase(graph) == 1 ? cudaSuccess : fail(cudaErrorInvalidValue);
}

}  // extern "C"
