// A block of memory on one device. CUDA blocks come from the device's stream-ordered pool (cudaMallocAsync),
// which keeps freed memory for reuse, so steady-state training steps never reach cudaMalloc/cudaFree. Host blocks
// of 64 KB and more are likewise kept for reuse when freed (by size class), so a CPU training step that allocates
// the same activations every iteration maps no new pages; release_cached_host_memory() returns them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "normrt/device.h"

namespace normrt {

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
  void bump_version() { ++version_; }

 private:
  uint64_t version_ = 0;
  void* data_ = nullptr;
  std::size_t nbytes_;
  Device device_;
  void* stream_ = nullptr;  // cudaStream_t the block was allocated on; it is freed on the same stream
  bool external_ = false;
  std::function<void(void*)> deleter_;
};

// Returns the host blocks kept for reuse to the system (tensors alive are not affected). Returns the bytes freed.
std::size_t release_cached_host_memory();

// Copies `nbytes` between two storages' addresses on any pair of devices. Copies that involve a GPU are
// enqueued on the current stream of the GPU side; a copy to the host waits for it (an explicit read).
void copy_bytes(void* dst, const Device& dst_device, const void* src, const Device& src_device, std::size_t nbytes);

}  // namespace normrt
