// libFuzzer target: the checkpoint reader and Trainer::restore. The input's first byte chooses the mode:
//   bit 0: fix up the header (magic, version, payload size, CRC) so that mutations reach the record parser;
//   bit 1: lay the decoded entries and metadata over a valid checkpoint of the trainer before restoring, so that
//          small inputs reach the checks that need every other entry to be right (a bad step count, a generator
//          state of the wrong shape, a NaN in one weight, a metadata value out of range).
// A restore must either succeed or throw normrt::Error having changed nothing; the latter is checked.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "checkpoint.h"
#include "normrt/error.h"
#include "trainer.h"

using namespace normrt;
using namespace normrt::app;

namespace {

Dataset synthetic(int64_t count) {
  Dataset d;
  d.count = count;
  d.rows = d.cols = 28;
  d.pixels.assign(static_cast<std::size_t>(count * 784), 7);
  for (int64_t i = 0; i < count; ++i) d.labels.push_back(i % 10);
  return d;
}

struct Fixture {
  Dataset train = synthetic(8), test = synthetic(4);
  TrainConfig config = [] {
    TrainConfig c;
    c.device = "cpu";
    c.dropout = 0.2;
    c.epochs = 3;
    c.progress = false;
    return c;
  }();
  Trainer trainer{config, train, test};
  Checkpoint base = trainer.checkpoint(1);
};

Fixture& fixture() {
  static Fixture* f = new Fixture();
  return *f;
}

// A hash of every value the trainer would checkpoint (all tensors hold whole 32-bit words).
uint64_t fingerprint(const Trainer& trainer) {
  uint64_t h = 1469598103934665603ull;
  for (const auto& [key, t] : trainer.checkpoint(0).tensors) {
    const auto* p = static_cast<const uint32_t*>(t.raw_data());
    for (std::size_t i = 0; i < t.nbytes() / 4; ++i) h = (h ^ p[i]) * 1099511628211ull;
  }
  return h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  if ((mode & 1) && bytes.size() >= 24) {
    const std::string_view payload(bytes.data() + 24, bytes.size() - 24);
    const uint32_t version = kCheckpointVersion, crc = checkpoint_crc(payload);
    const uint64_t payload_size = payload.size();
    std::memcpy(bytes.data(), "NRTCKPT", 8);
    std::memcpy(bytes.data() + 8, &version, 4);
    std::memcpy(bytes.data() + 12, &payload_size, 8);
    std::memcpy(bytes.data() + 20, &crc, 4);
  }
  Fixture& f = fixture();
  Checkpoint checkpoint;
  try {
    checkpoint = decode_checkpoint(bytes, "input");
  } catch (const Error&) {
    return 0;
  }
  if (mode & 2) {
    Checkpoint merged = f.base;
    for (const auto& [key, value] : checkpoint.metadata) merged.metadata[key] = value;
    for (const auto& [key, value] : checkpoint.tensors) {
      bool replaced = false;
      for (auto& entry : merged.tensors)
        if (entry.first == key) entry.second = value, replaced = true;
      if (!replaced) merged.tensors.emplace_back(key, value);
    }
    checkpoint = std::move(merged);
  }
  static uint64_t current = fingerprint(f.trainer);
  try {
    f.trainer.restore(checkpoint, "input");
    current = fingerprint(f.trainer);
  } catch (const Error&) {
    if (fingerprint(f.trainer) != current) __builtin_trap();  // a refused restore changed the trainer
  }
  return 0;
}
