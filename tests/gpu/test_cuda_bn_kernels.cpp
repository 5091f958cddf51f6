// The BatchNorm kernel cases of the emulator suite (tests/bn_kernel_cases.h), run on a GPU through the CUDA
// launchers: the same shapes, launch tunings, index widths and buffer offsets (label gpu).
#include "gpu_test_support.h"
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "batchnorm.cuh"
#include "bn_kernel_cases.h"
#include "normrt/cuda.h"
#include "normrt/cuda_check.h"

namespace normrt::testing {
void run_bn_kernel_case_on_emulator(const BnKernelCase& k, BnKernelOutputs& outputs);  // bn_kernels_on_emulator.cpp
}  // namespace normrt::testing

namespace normrt::bn::cuda {
namespace {

using normrt::testing::BnKernelCase;

// Device memory placed `elements_past` elements after a 16-byte boundary (cudaMalloc returns 256-byte alignment).
template <typename T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(const std::vector<T>& values, int elements_past = 0)
      : size_(values.size()), offset_(static_cast<std::size_t>(elements_past)) {
    NORMRT_CUDA_CHECK(cudaMalloc(&base_, (size_ + 8) * sizeof(T)));
    NORMRT_CUDA_CHECK(cudaMemcpy(data(), values.data(), size_ * sizeof(T), cudaMemcpyHostToDevice));
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { NORMRT_CUDA_CHECK_LOG(cudaFree(base_)); }
  T* data() { return base_ + offset_; }
  std::vector<T> values() {
    std::vector<T> out(size_);
    NORMRT_CUDA_CHECK(cudaMemcpy(out.data(), data(), size_ * sizeof(T), cudaMemcpyDeviceToHost));
    return out;
  }

 private:
  T* base_ = nullptr;
  std::size_t size_, offset_;
};

// Launches on the legacy default stream, which cudaMemcpy waits for; a synchronisation after each op surfaces
// asynchronous faults at the op that caused them.
struct CudaBackend {
  template <typename T>
  using Buffer = DeviceBuffer<T>;
  using Tuning = LaunchTuning;
  static std::size_t workspace_floats(const Geometry& g, const Tuning& t) { return cuda::workspace_floats(g, t); }
  template <typename P>
  static void forward_training(const P& p, float* workspace, const Tuning& t) {
    cuda::forward_training(p, workspace, t, nullptr);
    NORMRT_CUDA_CHECK(cudaDeviceSynchronize());
  }
  template <typename P>
  static void forward_inference(const P& p, const Tuning& t) {
    cuda::forward_inference(p, t, nullptr);
    NORMRT_CUDA_CHECK(cudaDeviceSynchronize());
  }
  template <typename P>
  static void backward(const P& p, float* workspace, const Tuning& t) {
    cuda::backward(p, workspace, t, nullptr);
    NORMRT_CUDA_CHECK(cudaDeviceSynchronize());
  }
};

// Resume order means nothing on a GPU: each case once.
std::vector<BnKernelCase> gpu_cases() {
  std::vector<BnKernelCase> cases;
  std::set<std::string> names;  // every process lists the cases at start: no quadratic search
  for (BnKernelCase k : normrt::testing::bn_kernel_cases()) {
    k.reverse_order = false;
    if (names.insert(case_name(k)).second) cases.push_back(k);
  }
  return cases;
}

class CudaBnKernels : public ::testing::TestWithParam<BnKernelCase> {
 protected:
  void SetUp() override {
    NORMRT_GPU_TEST_REQUIRES(normrt::cuda::is_available(), "no CUDA device");
  }
};

TEST_P(CudaBnKernels, TrainingAndInferenceMatchReference) {
  normrt::testing::check_bn_kernel_case<CudaBackend>(GetParam());
}

// The device computes the SIMT emulator's bits: the kernels compile with -fmad=false, the emulator with
// -ffp-contract=off, and neither calls a math function of its own (scripts/kernel-archs.sh). Every output of the
// case, byte for byte. Both run split channels as three launches: a cooperative launch sizes its grid by the
// occupancy calculator, which the emulator answers differently (other partial sums).
TEST_P(CudaBnKernels, OutputsAreTheEmulatorsBits) {
#if NORMRT_EMULATED_DEVICE
  // The emulated device's asynchronous schedules change nothing here (the backend waits after every op): once is
  // enough to check the comparison itself.
  if (std::getenv("NORMRT_EMU_SCHEDULE") != nullptr) GTEST_SKIP() << "checked under the synchronous schedule";
#endif
  BnKernelCase k = GetParam();
  k.cooperative = false;
  normrt::testing::BnKernelOutputs device, emulator;
  normrt::testing::check_bn_kernel_case<CudaBackend>(k, &device);
  normrt::testing::run_bn_kernel_case_on_emulator(k, emulator);
  ASSERT_EQ(device.names, emulator.names);
  for (std::size_t i = 0; i < device.bytes.size(); ++i) {
    const auto& a = device.bytes[i];
    const auto& b = emulator.bytes[i];
    ASSERT_EQ(a.size(), b.size()) << device.names[i];
    const auto differ = std::mismatch(a.begin(), a.end(), b.begin());
    EXPECT_TRUE(differ.first == a.end()) << device.names[i] << " differs from byte " << (differ.first - a.begin());
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaBnKernels, ::testing::ValuesIn(gpu_cases()),
                         [](const ::testing::TestParamInfo<BnKernelCase>& info) { return case_name(info.param); });

}  // namespace
}  // namespace normrt::bn::cuda
