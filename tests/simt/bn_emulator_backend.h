// The BatchNorm kernel cases' backend on the SIMT emulator (tests/bn_kernel_cases.h): host buffers and the emulated
// launchers of namespace emu. Shared by the emulator suite and by the GPU suite, which runs each case on both and
// compares their outputs bit for bit.
#pragma once
#ifndef SIMT_EMU
#error "bn_emulator_backend.h is for the SIMT emulator build (-DSIMT_EMU)"
#endif
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "batchnorm.cuh"

namespace normrt::bn::emu {

// Host memory placed `elements_past` elements after a 16-byte boundary.
template <typename T>
class HostBuffer {
 public:
  explicit HostBuffer(const std::vector<T>& values, int elements_past = 0)
      : storage_(values.size() + 8), size_(values.size()) {
    while (reinterpret_cast<uintptr_t>(storage_.data() + offset_) % 16 != sizeof(T) * elements_past) ++offset_;
    std::copy(values.begin(), values.end(), data());
  }
  T* data() { return storage_.data() + offset_; }
  std::vector<T> values() const { return {storage_.begin() + offset_, storage_.begin() + offset_ + size_}; }

 private:
  std::vector<T> storage_;
  std::size_t size_, offset_ = 0;
};

struct EmulatorBackend {
  template <typename T>
  using Buffer = HostBuffer<T>;
  using Tuning = LaunchTuning;
  static std::size_t workspace_floats(const Geometry& g, const Tuning& t) { return emu::workspace_floats(g, t); }
  template <typename P>
  static void forward_training(const P& p, float* workspace, const Tuning& t) {
    const uint64_t launches = simt::launch_count();
    emu::forward_training(p, workspace, t, nullptr);
    const uint64_t made = simt::launch_count() - launches;
    EXPECT_TRUE(made >= 1 && made <= 3) << made << " launches: one fused, or reduce, finalize when split, normalise";
  }
  template <typename P>
  static void forward_inference(const P& p, const Tuning& t) {
    const uint64_t launches = simt::launch_count();
    emu::forward_inference(p, t, nullptr);
    EXPECT_EQ(simt::launch_count() - launches, 1u);
  }
  template <typename P>
  static void backward(const P& p, float* workspace, const Tuning& t) {
    emu::backward(p, workspace, t, nullptr);
  }
};

}  // namespace normrt::bn::emu
