// Checkpoint files: named tensors in a versioned container with a CRC-32 of the payload, written atomically
// (temporary file, fsync, rename). Layout, little-endian:
//   "NRTCKPT\0" | u32 version (1) | u64 payload bytes | u32 crc32(payload) | payload
//   payload = u64 count, then per tensor: u32 name length, name, u8 dtype (0 float32, 1 int64), u8 rank,
//             i64 dims[rank], raw data.
#pragma once
#include <string>

#include "normrt/nn/module.h"

namespace normrt::app {

constexpr uint32_t kCheckpointVersion = 1;

// Tensors may live on any device; they are written from host copies.
void save_checkpoint(const std::string& path, const nn::NamedTensors& tensors);
// Returns CPU tensors. Throws normrt::Error naming the file and the problem (missing, not a checkpoint, other
// version, truncated, checksum mismatch, malformed record).
nn::NamedTensors load_checkpoint(const std::string& path);

}  // namespace normrt::app
