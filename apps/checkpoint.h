// Checkpoint files: string metadata and named tensors in a versioned container with a CRC-32 of the payload,
// written atomically (write_file_atomic). Layout, little-endian:
//   "NRTCKPT\0" | u32 version (2) | u64 payload bytes | u32 crc32(payload) | payload
//   payload = u32 metadata bytes, metadata (a JSON object whose values are strings),
//             u64 count, then per tensor: u32 name length, name, u8 dtype (0 float32, 1 int64), u8 rank,
//             i64 dims[rank], raw data.
// The reader trusts nothing in the file: every length, count and shape is checked against the bytes that are
// actually there before anything is allocated.
#pragma once
#include <map>
#include <string>
#include <string_view>

#include "normrt/nn/module.h"

namespace normrt::app {

constexpr uint32_t kCheckpointVersion = 2;

struct Checkpoint {
  std::map<std::string, std::string> metadata;
  nn::NamedTensors tensors;  // CPU tensors when loaded; any device when saved
};

std::string encode_checkpoint(const Checkpoint& checkpoint);
// Throws normrt::Error naming `name` and the problem (not a checkpoint, other version, truncated, checksum
// mismatch, malformed metadata or record, duplicate name).
Checkpoint decode_checkpoint(std::string_view bytes, const std::string& name);

void save_checkpoint(const std::string& path, const Checkpoint& checkpoint);
Checkpoint load_checkpoint(const std::string& path);

// The CRC-32 the header must carry for `payload` (also used by the fuzz target to reach the record parser).
uint32_t checkpoint_crc(std::string_view payload);

}  // namespace normrt::app
