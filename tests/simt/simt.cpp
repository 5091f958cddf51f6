// SIMT emulator runtime: fibers (ucontext) and the deterministic block scheduler. See simt.h.
#include "simt.h"

#include <ucontext.h>

#include <memory>
#include <sstream>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define SIMT_ASAN 1
#endif

namespace simt {

namespace {

constexpr std::size_t kStackBytes = 256 * 1024;
constexpr int kWarp = 32;

enum class Status { Runnable, AtBarrier, AtWarp, Done };

struct Fiber {
  ucontext_t context;
  std::unique_ptr<char[]> stack;
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

struct Grid {
  dim3 grid_dim, block_dim;
  uint3 block_idx{};
  std::vector<Fiber> fibers;
  std::vector<unsigned char> shared;
  const std::function<void()>* body = nullptr;
  ucontext_t scheduler;
  Fiber* current = nullptr;
  std::string error;
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
  (*g.body)();
  g.current->status = Status::Done;
#ifdef SIMT_ASAN
  __sanitizer_start_switch_fiber(nullptr, g.scheduler_stack, g.scheduler_stack_size);
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
  __sanitizer_start_switch_fiber(&g.fake_stack, f.stack.get(), kStackBytes);
#endif
  swapcontext(&g.scheduler, &f.context);
#ifdef SIMT_ASAN
  __sanitizer_finish_switch_fiber(g.fake_stack, nullptr, nullptr);
#endif
  g.current = nullptr;
}

// Completes warp collectives whose named lanes have all arrived. Returns true if any completed.
bool release_warps(Grid& g) {
  bool released = false;
  const int threads = static_cast<int>(g.fibers.size());
  for (int base = 0; base < threads && g.error.empty(); base += kWarp) {
    for (int lane = 0; lane < kWarp && base + lane < threads; ++lane) {
      Fiber& leader = g.fibers[base + lane];
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
        const Fiber& f = g.fibers[base + l];
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
        if ((mask & (1u << l)) && g.fibers[base + l].payload) ballot |= (1u << l);
      for (int l = 0; l < kWarp; ++l) {
        if (!(mask & (1u << l))) continue;
        Fiber& f = g.fibers[base + l];
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
        f.result = f.op == WarpOp::Ballot ? ballot : g.fibers[base + src].payload;
      }
      for (int l = 0; l < kWarp; ++l)
        if (mask & (1u << l)) g.fibers[base + l].status = Status::Runnable;
      released = true;
    }
  }
  return released;
}

// Releases __syncthreads when every thread waits at it. Returns true if released.
bool release_barrier(Grid& g) {
  const Fiber* first = nullptr;
  bool any_done = false;
  for (const Fiber& f : g.fibers) {
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
  for (Fiber& f : g.fibers) f.status = Status::Runnable;
  return true;
}

void run_block(Grid& g) {
  if (!g.shared.empty()) std::memset(g.shared.data(), 0xFF, g.shared.size());
  const int threads = static_cast<int>(g.fibers.size());
  for (int t = 0; t < threads; ++t) {
    Fiber& f = g.fibers[t];
    f.thread_idx = make_uint3(t % g.block_dim.x, (t / g.block_dim.x) % g.block_dim.y,
                              t / (g.block_dim.x * g.block_dim.y));
    f.status = Status::Runnable;
    getcontext(&f.context);
    f.context.uc_stack.ss_sp = f.stack.get();
    f.context.uc_stack.ss_size = kStackBytes;
    f.context.uc_link = nullptr;
    makecontext(&f.context, fiber_entry, 0);
  }
  for (;;) {
    bool ran = false;
    for (int i = 0; i < threads && g.error.empty(); ++i) {
      Fiber& f = g.fibers[g_order == ResumeOrder::Forward ? i : threads - 1 - i];
      if (f.status != Status::Runnable) continue;
      resume(g, f);
      ran = true;
    }
    if (!g.error.empty()) return;
    if (ran) continue;
    if (release_warps(g)) continue;
    if (!g.error.empty()) return;
    if (release_barrier(g)) continue;
    if (!g.error.empty()) return;
    bool all_done = true;
    for (const Fiber& f : g.fibers) all_done = all_done && f.status == Status::Done;
    if (all_done) return;
    std::ostringstream os;
    os << "deadlock in block (" << g.block_idx.x << "," << g.block_idx.y << "," << g.block_idx.z << "):";
    for (const Fiber& f : g.fibers) {
      if (f.status == Status::Done) continue;
      os << " thread " << linear_id(g, f) << (f.status == Status::AtBarrier ? " at __syncthreads " : " at warp op ")
         << site(f.file, f.line) << ";";
      if (os.tellp() > 600) break;
    }
    g.error = os.str();
    return;
  }
}

}  // namespace

void set_resume_order(ResumeOrder order) { g_order = order; }
ResumeOrder resume_order() { return g_order; }
uint64_t launch_count() { return g_launches; }

const uint3& thread_idx() {
  Grid& g = grid();
  return g.current ? g.current->thread_idx : g_host_zero;
}
const uint3& block_idx() { return grid().block_idx; }
const dim3& block_dim() { return g_grid ? g_grid->block_dim : g_host_dim; }
const dim3& grid_dim() { return grid().grid_dim; }
void* dynamic_shared() { return grid().shared.data(); }

void syncthreads(const char* file, int line) {
  Fiber* f = grid().current;
  f->status = Status::AtBarrier;
  f->file = file;
  f->line = line;
  yield_to_scheduler();
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
  if (dynamic_shared_bytes > 48 * 1024) throw Error("dynamic shared memory above 48 KiB needs an opt-in");
}

LaunchQueue g_launch_queue = nullptr;
}  // namespace

void check_launch(dim3 grid_dim, dim3 block_dim, std::size_t dynamic_shared_bytes) {
  check_configuration(grid_dim, block_dim, dynamic_shared_bytes);
  ++g_launches;
}

void set_launch_queue(LaunchQueue queue) { g_launch_queue = queue; }
LaunchQueue launch_queue() { return g_launch_queue; }

void run_grid(dim3 grid_dim, dim3 block_dim, std::size_t dynamic_shared_bytes, const std::function<void()>& body) {
  check_configuration(grid_dim, block_dim, dynamic_shared_bytes);
  const unsigned threads = block_dim.x * block_dim.y * block_dim.z;
  if (g_grid != nullptr) throw Error("nested kernel launch");
  Grid g;
  g.grid_dim = grid_dim;
  g.block_dim = block_dim;
  g.body = &body;
  g.shared.resize(dynamic_shared_bytes);
  g.fibers.resize(threads);
  for (Fiber& f : g.fibers) f.stack.reset(new char[kStackBytes]);
  g_grid = &g;
  for (unsigned z = 0; z < grid_dim.z && g.error.empty(); ++z)
    for (unsigned y = 0; y < grid_dim.y && g.error.empty(); ++y)
      for (unsigned x = 0; x < grid_dim.x && g.error.empty(); ++x) {
        g.block_idx = make_uint3(x, y, z);
        run_block(g);
      }
  g_grid = nullptr;
  if (!g.error.empty()) throw Error(g.error);
}

}  // namespace simt
