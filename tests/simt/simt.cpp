// SIMT emulator runtime: fibers (ucontext) and the deterministic block scheduler. See simt.h.
#include "simt.h"

#include <ucontext.h>

#include <algorithm>
#include <memory>
#include <sstream>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define SIMT_ASAN 1
#endif
// SIMT_TSAN: the ThreadSanitizer build, which compiles this file uninstrumented (the scheduler's bookkeeping is not
// the kernels' memory). Every thread of a launch is a ThreadSanitizer fiber; fibers switch without synchronising, so
// the kernels' accesses to shared and global memory are checked for data races, and the only happens-before edges
// are the ones CUDA gives: the launch (the host's work before it, the kernel's before the host goes on),
// __syncthreads (the block), warp collectives (the lanes of the mask) and grid syncs (the grid). Blocks of a launch
// are unordered, so races between blocks are reported too (in a plain launch, between blocks on different fiber
// sets: run_grid).
#ifdef SIMT_TSAN
#include <sanitizer/tsan_interface.h>

#include <map>
#endif

namespace simt {

namespace {

constexpr std::size_t kStackBytes = 256 * 1024;
constexpr int kWarp = 32;

enum class Status { Runnable, AtBarrier, AtWarp, AtGridSync, Done };

// A thread's stack (and ThreadSanitizer fiber), kept for later launches: the k-th thread of every launch runs on the
// k-th of them (ThreadSanitizer slows down with every fiber it has ever seen, and zeroes a new stack's shadow).
struct FiberResources {
  std::unique_ptr<char[]> stack{new char[kStackBytes]};
#ifdef SIMT_TSAN
  void* tsan = __tsan_create_fiber(0);
#endif
  // For a thread that an error left waiting: its stack keeps the frames it never left (AddressSanitizer's poisoned
  // redzones among them), its fiber their call stack (in ThreadSanitizer's reports).
  void renew() {
    stack.reset(new char[kStackBytes]);
#ifdef SIMT_TSAN
    __tsan_destroy_fiber(tsan);
    tsan = __tsan_create_fiber(0);
#endif
  }
};
std::vector<std::unique_ptr<FiberResources>> g_fiber_pool;

FiberResources* fiber_resources(std::size_t k) {
  while (g_fiber_pool.size() <= k) g_fiber_pool.push_back(std::make_unique<FiberResources>());
  return g_fiber_pool[k].get();
}

struct Fiber {
  ucontext_t context;
  FiberResources* resources = nullptr;
  uint3 thread_idx{};
  Status status = Status::Runnable;
  const char* file = nullptr;  // call site of the rendezvous the fiber waits at
  int line = 0;
  WarpOp op = WarpOp::Sync;
  unsigned mask = 0;
  uint64_t payload = 0;
  int arg = 0;
  int width = kWarp;
  uint64_t result = 0;
#ifdef SIMT_ASAN
  void* fake_stack = nullptr;
#endif
};

struct Block {
  uint3 idx{};
  std::vector<Fiber> fibers;
  std::vector<unsigned char> shared;
#ifdef SIMT_TSAN
  bool started = false;
  char start_token = 0;                  // released by the scheduler as the block starts
  char barrier_token = 0;                // __syncthreads
  std::map<uint64_t, char> warp_tokens;  // a warp collective's, by warp and mask
#endif
};

// A launch: one Block reused for every block in turn, or (cooperative) every block at once.
struct Grid {
  dim3 grid_dim, block_dim;
  std::vector<Block> blocks;
  Block* block = nullptr;  // the block running now
  const std::function<void()>* body = nullptr;
  bool cooperative = false;
  ucontext_t scheduler;
  Fiber* current = nullptr;
  std::string error;
#ifdef SIMT_TSAN
  void* scheduler_fiber = __tsan_get_current_fiber();
  char grid_sync_token = 0;
  char exit_token = 0;  // released by every thread as it exits, acquired by the host after the launch
  std::vector<std::vector<unsigned char>> retired_shared;  // earlier blocks' shared memory (start_block)
#endif
#ifdef SIMT_ASAN
  void* fake_stack = nullptr;
  const void* scheduler_stack = nullptr;
  std::size_t scheduler_stack_size = 0;
#endif
};

Grid* g_grid = nullptr;
ResumeOrder g_order = ResumeOrder::Forward;
uint64_t g_launches = 0;
uint3 g_host_zero{};
dim3 g_host_dim{};

Grid& grid() {
  if (g_grid == nullptr) throw Error("device code called outside a kernel launch");
  return *g_grid;
}

std::string site(const char* file, int line) {
  std::ostringstream os;
  os << (file ? file : "?") << ":" << line;
  return os.str();
}

int linear_id(const Grid& g, const Fiber& f) {
  return static_cast<int>(f.thread_idx.x + g.block_dim.x * (f.thread_idx.y + g.block_dim.y * f.thread_idx.z));
}

#ifdef SIMT_TSAN
// Runs `action` (a release or an acquire) as fiber f, from the scheduler's stack: ThreadSanitizer's current fiber is
// only its bookkeeping.
template <typename Action>
void as_fiber(Grid& g, const FiberResources& f, Action action) {
  __tsan_switch_to_fiber(f.tsan, __tsan_switch_to_fiber_no_sync);
  action();
  __tsan_switch_to_fiber(g.scheduler_fiber, __tsan_switch_to_fiber_no_sync);
}

// The happens-before edges of a completed rendezvous, made before any of its threads runs on: each releases into
// `token` what it did before arriving, then each acquires all of it. for_each(fn) calls fn on every participant.
// Releases accumulate, so a token is only ever shared by the same participants: the block's threads, the grid's, the
// lanes of one mask in one warp.
template <typename ForEach>
void synchronise(Grid& g, char* token, ForEach for_each) {
  for_each([&](Fiber& f) { as_fiber(g, *f.resources, [&] { __tsan_release(token); }); });
  for_each([&](Fiber& f) { as_fiber(g, *f.resources, [&] { __tsan_acquire(token); }); });
}
#endif

#ifdef SIMT_ASAN
// AddressSanitizer must be told about every stack switch.
void entered_fiber(Grid& g, Fiber& f) {
  __sanitizer_finish_switch_fiber(f.fake_stack, &g.scheduler_stack, &g.scheduler_stack_size);
}
#endif

// Suspends the current fiber and returns to the scheduler.
void yield_to_scheduler() {
  Grid& g = grid();
  Fiber* self = g.current;
#ifdef SIMT_ASAN
  __sanitizer_start_switch_fiber(&self->fake_stack, g.scheduler_stack, g.scheduler_stack_size);
#endif
#ifdef SIMT_TSAN
  __tsan_switch_to_fiber(g.scheduler_fiber, __tsan_switch_to_fiber_no_sync);
#endif
  swapcontext(&self->context, &g.scheduler);
#ifdef SIMT_ASAN
  entered_fiber(g, *self);
#endif
}

void fiber_entry() {
  Grid& g = grid();
#ifdef SIMT_ASAN
  entered_fiber(g, *g.current);
#endif
#ifdef SIMT_TSAN
  __tsan_acquire(&g.block->start_token);
#endif
  (*g.body)();
  g.current->status = Status::Done;
#ifdef SIMT_ASAN
  __sanitizer_start_switch_fiber(nullptr, g.scheduler_stack, g.scheduler_stack_size);
#endif
#ifdef SIMT_TSAN
  __tsan_release(&g.exit_token);
  __tsan_switch_to_fiber(g.scheduler_fiber, __tsan_switch_to_fiber_no_sync);
#endif
  setcontext(&g.scheduler);
}

void fail(const std::string& message) {
  Grid& g = grid();
  if (g.error.empty()) g.error = message;
}

void resume(Grid& g, Fiber& f) {
  g.current = &f;
#ifdef SIMT_ASAN
  __sanitizer_start_switch_fiber(&g.fake_stack, f.resources->stack.get(), kStackBytes);
#endif
#ifdef SIMT_TSAN
  __tsan_switch_to_fiber(f.resources->tsan, __tsan_switch_to_fiber_no_sync);
#endif
  swapcontext(&g.scheduler, &f.context);
#ifdef SIMT_ASAN
  __sanitizer_finish_switch_fiber(g.fake_stack, nullptr, nullptr);
#endif
  g.current = nullptr;
}

// Completes warp collectives whose named lanes have all arrived. Returns true if any completed.
bool release_warps(Grid& g, Block& b) {
  bool released = false;
  const int threads = static_cast<int>(b.fibers.size());
  for (int base = 0; base < threads && g.error.empty(); base += kWarp) {
    for (int lane = 0; lane < kWarp && base + lane < threads; ++lane) {
      Fiber& leader = b.fibers[base + lane];
      if (leader.status != Status::AtWarp) continue;
      const unsigned mask = leader.mask;
      bool complete = true;
      for (int l = 0; l < kWarp; ++l) {
        if (!(mask & (1u << l))) continue;
        if (base + l >= threads) {
          fail("warp collective at " + site(leader.file, leader.line) + " names lane " + std::to_string(l) +
               ", which does not exist in a block of " + std::to_string(threads) + " threads");
          return false;
        }
        const Fiber& f = b.fibers[base + l];
        if (f.status == Status::Done) {
          fail("warp collective at " + site(leader.file, leader.line) + ": lane " + std::to_string(l) +
               " named in its mask has exited");
          return false;
        }
        if (f.status != Status::AtWarp) {
          complete = false;
          continue;
        }
        if (f.mask != mask || f.file != leader.file || f.line != leader.line || f.op != leader.op) {
          fail("divergent warp collectives: lane " + std::to_string(lane) + " at " + site(leader.file, leader.line) +
               ", lane " + std::to_string(l) + " at " + site(f.file, f.line) + " (masks must match)");
          return false;
        }
      }
      if (!complete) continue;
      uint64_t ballot = 0;
      for (int l = 0; l < kWarp; ++l)
        if ((mask & (1u << l)) && b.fibers[base + l].payload) ballot |= (1u << l);
      for (int l = 0; l < kWarp; ++l) {
        if (!(mask & (1u << l))) continue;
        Fiber& f = b.fibers[base + l];
        const int segment = l & ~(f.width - 1);
        int src = l;
        switch (f.op) {
          case WarpOp::Sync: break;
          case WarpOp::Ballot: break;
          case WarpOp::ShflIdx: src = segment + (f.arg & (f.width - 1)); break;
          case WarpOp::ShflUp: src = (l - f.arg >= segment) ? l - f.arg : l; break;
          case WarpOp::ShflDown: src = (l + f.arg < segment + f.width) ? l + f.arg : l; break;
          case WarpOp::ShflXor: src = l ^ f.arg; break;
        }
        if (src >= kWarp || !(mask & (1u << src))) {
          fail("shuffle at " + site(f.file, f.line) + ": lane " + std::to_string(l) + " reads lane " +
               std::to_string(src) + ", which is not in the mask");
          return false;
        }
        f.result = f.op == WarpOp::Ballot ? ballot : b.fibers[base + src].payload;
      }
      const auto for_each_lane = [&](auto fn) {
        for (int l = 0; l < kWarp; ++l)
          if (mask & (1u << l)) fn(b.fibers[base + l]);
      };
#ifdef SIMT_TSAN
      synchronise(g, &b.warp_tokens[(static_cast<uint64_t>(base) << 32) | mask], for_each_lane);
#endif
      for_each_lane([](Fiber& f) { f.status = Status::Runnable; });
      released = true;
    }
  }
  return released;
}

// Releases __syncthreads when every thread waits at it. Returns true if released.
bool release_barrier(Grid& g, Block& b) {
  const Fiber* first = nullptr;
  bool any_done = false;
  for (const Fiber& f : b.fibers) {
    if (f.status == Status::Done) {
      any_done = true;
      continue;
    }
    if (f.status != Status::AtBarrier) return false;
    if (first == nullptr) first = &f;
    if (f.file != first->file || f.line != first->line) {
      fail("divergent __syncthreads: thread " + std::to_string(linear_id(g, *first)) + " at " +
           site(first->file, first->line) + ", thread " + std::to_string(linear_id(g, f)) + " at " +
           site(f.file, f.line));
      return false;
    }
  }
  if (first == nullptr) return false;
  if (any_done) {
    fail("__syncthreads at " + site(first->file, first->line) + " reached after other threads of the block exited");
    return false;
  }
#ifdef SIMT_TSAN
  synchronise(g, &b.barrier_token, [&](auto fn) {
    for (Fiber& f : b.fibers) fn(f);
  });
#endif
  for (Fiber& f : b.fibers) f.status = Status::Runnable;
  return true;
}

// Fresh fibers at the kernel's entry, and the block's dynamic shared memory filled with 0xFF.
void start_block(Grid& g, Block& b, uint3 idx) {
  b.idx = idx;
#ifdef SIMT_TSAN
  // New memory for each block of a plain launch (which reuses one Block): the previous block's accesses were to its
  // own shared memory, which stays allocated until the launch ends (freeing it here would race with them).
  if (b.started) {
    std::vector<unsigned char> fresh(b.shared.size());
    g.retired_shared.push_back(std::move(b.shared));
    b.shared = std::move(fresh);
  }
#endif
  if (!b.shared.empty()) std::memset(b.shared.data(), 0xFF, b.shared.size());
  const int threads = static_cast<int>(b.fibers.size());
  for (int t = 0; t < threads; ++t) {
    Fiber& f = b.fibers[t];
    f.thread_idx = make_uint3(t % g.block_dim.x, (t / g.block_dim.x) % g.block_dim.y,
                              t / (g.block_dim.x * g.block_dim.y));
    f.status = Status::Runnable;
    getcontext(&f.context);
    f.context.uc_stack.ss_sp = f.resources->stack.get();
    f.context.uc_stack.ss_size = kStackBytes;
    f.context.uc_link = nullptr;
    makecontext(&f.context, fiber_entry, 0);
  }
#ifdef SIMT_TSAN
  b.started = true;
  __tsan_release(&b.start_token);
#endif
}

const char* waiting_at(Status status) {
  switch (status) {
    case Status::AtBarrier: return " at __syncthreads ";
    case Status::AtGridSync: return " at grid sync ";
    default: return " at warp op ";
  }
}

// Runs block b until every thread has exited or waits at a grid-wide barrier (or an error is recorded).
void run_block(Grid& g, Block& b) {
  g.block = &b;
  const int threads = static_cast<int>(b.fibers.size());
  for (;;) {
    bool ran = false;
    for (int i = 0; i < threads && g.error.empty(); ++i) {
      Fiber& f = b.fibers[g_order == ResumeOrder::Forward ? i : threads - 1 - i];
      if (f.status != Status::Runnable) continue;
      resume(g, f);
      ran = true;
    }
    if (!g.error.empty()) return;
    if (ran) continue;
    if (release_warps(g, b)) continue;
    if (!g.error.empty()) return;
    if (release_barrier(g, b)) continue;
    if (!g.error.empty()) return;
    bool parked = true;
    for (const Fiber& f : b.fibers) parked = parked && (f.status == Status::Done || f.status == Status::AtGridSync);
    if (parked) return;
    std::ostringstream os;
    os << "deadlock in block (" << b.idx.x << "," << b.idx.y << "," << b.idx.z << "):";
    for (const Fiber& f : b.fibers) {
      if (f.status == Status::Done) continue;
      os << " thread " << linear_id(g, f) << waiting_at(f.status) << site(f.file, f.line) << ";";
      if (os.tellp() > 600) break;
    }
    g.error = os.str();
    return;
  }
}

// Releases a grid-wide barrier once every thread of every block waits at the same one. Returns false when all
// threads have exited.
bool release_grid_sync(Grid& g) {
  const Fiber* first = nullptr;
  bool any_done = false;
  for (const Block& b : g.blocks)
    for (const Fiber& f : b.fibers) {
      if (f.status == Status::Done) {
        any_done = true;
        continue;
      }
      if (first == nullptr) first = &f;
      if (f.file != first->file || f.line != first->line) {
        fail("divergent grid syncs: at " + site(first->file, first->line) + " and " + site(f.file, f.line));
        return false;
      }
    }
  if (first == nullptr) return false;
  if (any_done) {
    fail("grid sync at " + site(first->file, first->line) + " reached after other threads of the grid exited");
    return false;
  }
#ifdef SIMT_TSAN
  synchronise(g, &g.grid_sync_token, [&](auto fn) {
    for (Block& b : g.blocks)
      for (Fiber& f : b.fibers) fn(f);
  });
#endif
  for (Block& b : g.blocks)
    for (Fiber& f : b.fibers) f.status = Status::Runnable;
  return true;
}

}  // namespace

void set_resume_order(ResumeOrder order) { g_order = order; }
ResumeOrder resume_order() { return g_order; }
uint64_t launch_count() { return g_launches; }

const uint3& thread_idx() {
  Grid& g = grid();
  return g.current ? g.current->thread_idx : g_host_zero;
}
const uint3& block_idx() { return grid().block->idx; }
const dim3& block_dim() { return g_grid ? g_grid->block_dim : g_host_dim; }
const dim3& grid_dim() { return grid().grid_dim; }
void* dynamic_shared() { return grid().block->shared.data(); }

namespace {
void wait_at(Status status, const char* file, int line) {
  Fiber* f = grid().current;
  f->status = status;
  f->file = file;
  f->line = line;
  yield_to_scheduler();
}
}  // namespace

void syncthreads(const char* file, int line) { wait_at(Status::AtBarrier, file, line); }

void grid_sync(const char* file, int line) {
  if (!grid().cooperative) {
    fail("grid sync at " + site(file, line) + " in a kernel not launched cooperatively");
    yield_to_scheduler();
  }
  wait_at(Status::AtGridSync, file, line);
}

uint64_t warp_collective(WarpOp op, unsigned mask, uint64_t payload, int arg, int width, const char* file,
                         int line) {
  Grid& g = grid();
  Fiber* f = g.current;
  const int lane = linear_id(g, *f) % kWarp;
  if (!(mask & (1u << lane))) {
    fail("warp collective at " + site(file, line) + ": mask 0x" +
         [&] { std::ostringstream os; os << std::hex << mask; return os.str(); }() + " omits the calling lane " +
         std::to_string(lane));
    yield_to_scheduler();
  }
  if (width <= 0 || width > kWarp || (width & (width - 1)) != 0) {
    fail("warp collective at " + site(file, line) + ": width " + std::to_string(width) +
         " is not a power of two up to 32");
    yield_to_scheduler();
  }
  f->status = Status::AtWarp;
  f->op = op;
  f->mask = mask;
  f->payload = payload;
  f->arg = arg;
  f->width = width;
  f->file = file;
  f->line = line;
  yield_to_scheduler();
  return f->result;
}

namespace {
void check_configuration(dim3 grid_dim, dim3 block_dim, std::size_t dynamic_shared_bytes) {
  const unsigned threads = block_dim.x * block_dim.y * block_dim.z;
  if (threads == 0 || threads > 1024) throw Error("invalid block size " + std::to_string(threads));
  if (grid_dim.x == 0 || grid_dim.y == 0 || grid_dim.z == 0) throw Error("invalid grid size (a dimension is 0)");
  if (grid_dim.y > 65535 || grid_dim.z > 65535) throw Error("grid y/z dimension above 65535");
  if (dynamic_shared_bytes > kMaxDynamicShared) throw Error("dynamic shared memory above 48 KiB needs an opt-in");
}

LaunchQueue g_launch_queue = nullptr;
}  // namespace

namespace {
constexpr uint64_t kRememberedGrids = 16;
dim3 g_recent_grids[kRememberedGrids];
}  // namespace

void check_launch(dim3 grid_dim, dim3 block_dim, std::size_t dynamic_shared_bytes) {
  check_configuration(grid_dim, block_dim, dynamic_shared_bytes);
  ++g_launches;
  g_recent_grids[g_launches % kRememberedGrids] = grid_dim;
}

dim3 launch_grid(uint64_t launch) {
  if (launch == 0 || launch > g_launches || g_launches - launch >= kRememberedGrids)
    throw Error("launch " + std::to_string(launch) + " is not one of the last " + std::to_string(kRememberedGrids) +
                " of " + std::to_string(g_launches));
  return g_recent_grids[launch % kRememberedGrids];
}

void set_launch_queue(LaunchQueue queue) { g_launch_queue = queue; }
LaunchQueue launch_queue() { return g_launch_queue; }

namespace {
int g_cooperative_blocks_per_sm = 4;
std::size_t g_occupancy_extra_shared = 0;
}  // namespace

void set_cooperative_blocks_per_sm(int blocks) { g_cooperative_blocks_per_sm = blocks; }
std::size_t shared_bytes_per_sm() { return 160 * 1024; }
int cooperative_blocks_per_sm(std::size_t dynamic_shared_bytes) {
  const std::size_t per_block = dynamic_shared_bytes + kReservedSharedPerBlock + g_occupancy_extra_shared;
  return static_cast<int>(std::min<std::size_t>(g_cooperative_blocks_per_sm, shared_bytes_per_sm() / per_block));
}
void set_occupancy_extra_shared_per_block(std::size_t bytes) { g_occupancy_extra_shared = bytes; }

void run_grid(dim3 grid_dim, dim3 block_dim, std::size_t dynamic_shared_bytes, const std::function<void()>& body,
              bool cooperative) {
  check_configuration(grid_dim, block_dim, dynamic_shared_bytes);
  const unsigned threads = block_dim.x * block_dim.y * block_dim.z;
  if (g_grid != nullptr) throw Error("nested kernel launch");
  Grid g;
  g.grid_dim = grid_dim;
  g.block_dim = block_dim;
  g.body = &body;
  g.cooperative = cooperative;
  std::vector<uint3> indices;
  for (unsigned z = 0; z < grid_dim.z; ++z)
    for (unsigned y = 0; y < grid_dim.y; ++y)
      for (unsigned x = 0; x < grid_dim.x; ++x) indices.push_back(make_uint3(x, y, z));
  g.blocks.resize(cooperative ? indices.size() : 1);
  std::size_t fibers = 0;
  for (Block& b : g.blocks) {
    b.shared.resize(dynamic_shared_bytes);
    b.fibers.resize(threads);
    for (Fiber& f : b.fibers) f.resources = fiber_resources(fibers++);
  }
  g_grid = &g;
  if (!cooperative) {
    // Blocks one after another, in the resume order: a kernel that takes another block's result from the same launch
    // gets it in one order and not in the other.
    if (g_order == ResumeOrder::Reverse) std::reverse(indices.begin(), indices.end());
    for (std::size_t i = 0; i < indices.size() && g.error.empty(); ++i) {
#ifdef SIMT_TSAN
      // Consecutive blocks run as different fibers (four sets in turn): a fiber's accesses are ordered, so races
      // between blocks on the same set go unseen.
      for (unsigned t = 0; t < threads; ++t) g.blocks[0].fibers[t].resources = fiber_resources(i % 4 * threads + t);
#endif
      start_block(g, g.blocks[0], indices[i]);
      run_block(g, g.blocks[0]);
    }
  } else {
    // Every block resident at once (each with its own shared memory); between grid syncs the blocks run one after
    // another, in the resume order.
    for (std::size_t i = 0; i < indices.size(); ++i) start_block(g, g.blocks[i], indices[i]);
    do {
      for (std::size_t i = 0; i < g.blocks.size() && g.error.empty(); ++i)
        run_block(g, g.blocks[g_order == ResumeOrder::Forward ? i : g.blocks.size() - 1 - i]);
    } while (g.error.empty() && release_grid_sync(g));
  }
  g_grid = nullptr;
  // Threads that an error left waiting never exit; the host goes on (and frees what they touched) all the same, and
  // later launches run on new stacks.
  std::vector<FiberResources*> abandoned;
  for (Block& b : g.blocks)
    for (Fiber& f : b.fibers)
      if (f.status != Status::Done) abandoned.push_back(f.resources);
#ifdef SIMT_TSAN
  for (FiberResources* r : abandoned) as_fiber(g, *r, [&] { __tsan_release(&g.exit_token); });
  __tsan_acquire(&g.exit_token);
#endif
  for (FiberResources* r : abandoned) r->renew();
  if (!g.error.empty()) throw Error(g.error);
}

}  // namespace simt
