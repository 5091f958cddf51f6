// A block of memory on one device. CUDA blocks come from the device's stream-ordered pool (cudaMallocAsync),
// which keeps freed memory for reuse, so steady-state training steps never reach cudaMalloc/cudaFree; blocks of the
// device's default stream (normrt's own) are moreover kept by size class when freed and handed to the next
// allocations on that stream without a runtime call (release_cached_device_memory() returns them). A CUDA block
// is allocated on its device's current stream and freed in that stream's order; work on other streams that uses it
// must be made known (record_stream, and every in-place write through bump_version does it itself), so that the
// free waits for that work too. Reads to the host wait for the stream that last wrote the block. Host blocks
// of 64 KB and more are likewise kept for reuse when freed (by size class), so a CPU training step that allocates
// the same activations every iteration maps no new pages; release_cached_host_memory() returns them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "normrt/device.h"

namespace normrt {

namespace cuda::detail {
class GraphPool;
}

class Storage {
 public:
  // Allocates `nbytes` on `device`; CUDA allocations are ordered on the device's current stream.
  Storage(std::size_t nbytes, Device device);
  // Memory the caller owns (host or device): `deleter(data)` runs when the storage dies (an empty deleter: the
  // caller keeps ownership and must keep the memory alive meanwhile).
  Storage(void* data, std::size_t nbytes, Device device, std::function<void(void*)> deleter);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  std::size_t nbytes() const { return nbytes_; }
  const Device& device() const { return device_; }
  // Counts in-place writes (shared by every tensor viewing this storage), so that a backward can tell whether
  // what its forward saved has been modified since.
  uint64_t version() const { return version_; }
  // Counts an in-place write; for a CUDA block, also notes its device's current stream as the writer.
  void bump_version();

  // Marks the block as used by work queued on its device's current stream (PyTorch's Tensor.record_stream): it
  // returns to the pool only after that work, whichever stream frees it.
  void record_stream();
  // Makes the current stream of `device` (where a copy reading this block is about to be queued) wait for the
  // stream that last wrote the block. No-op for host blocks.
  void order_reads_on(int device) const;

 private:
  // A stream the block is used on, with what keeps the stream's handle valid (cuda::StreamRef without CUDA types).
  struct StreamUse {
    void* stream = nullptr;
    std::shared_ptr<void> owner;
  };
  // A stream that uses the block (a write makes it the last writer too).
  void note_use(StreamUse use, bool write);

  uint64_t version_ = 0;
  void* data_ = nullptr;
  std::size_t nbytes_;
  Device device_;
  StreamUse allocated_on_;               // freed on this stream, after every other stream that used the block
  std::vector<StreamUse> also_used_on_;  // other streams (record_stream, in-place writes)
  void* last_writer_ = nullptr;          // the stream of the latest write (one of the above)
  std::size_t cached_size_ = 0;          // a block of the default stream: its size class in the device cache
  bool external_ = false;
  std::function<void(void*)> deleter_;
  std::shared_ptr<cuda::detail::GraphPool> graph_pool_;  // set for memory from a CUDA graph's private pool
};

// Returns the host blocks kept for reuse to the system (tensors alive are not affected). Returns the bytes freed.
std::size_t release_cached_host_memory();
// Returns the blocks kept for reuse on `device`'s default stream to its stream-ordered pool, where other streams and
// libraries can have them (as torch.cuda.empty_cache(); tensors alive are not affected). Returns the bytes.
std::size_t release_cached_device_memory(int device);

// Copies `nbytes` between two storages' addresses on any pair of devices. Copies that involve a GPU are
// enqueued on the current stream of the GPU side (the destination's for GPU to GPU); a copy from or to the host
// returns when it is complete, as PyTorch's blocking copies do (host memory is pageable: neither side may be
// touched while the DMA runs).
void copy_bytes(void* dst, const Device& dst_device, const void* src, const Device& src_device, std::size_t nbytes);

}  // namespace normrt
