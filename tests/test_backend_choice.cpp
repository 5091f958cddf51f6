// BatchNorm backend selection (issue: cuDNN backend): parsing, the global default, Auto's rule and every cuDNN
// fallback, checked without a GPU; plus the cuDNN link/version check.
#include <cstdlib>

#include "batchnorm_choice.h"
#include "test_util.h"

namespace normrt {
namespace {

using bn::choose_backend;
using bn::Geometry;
using bn::Pass;
using testing::throws_with;

const Device kGpu = Device::cuda(0);

TEST(BackendChoice, ParsesNamesAndRejectsOthers) {
  EXPECT_EQ(parse_backend("native"), Backend::Native);
  EXPECT_EQ(parse_backend("cudnn"), Backend::CuDNN);
  EXPECT_EQ(parse_backend("auto"), Backend::Auto);
  EXPECT_TRUE(throws_with([] { parse_backend("CUDNN"); }, "must be 'native', 'cudnn' or 'auto', got 'CUDNN'"));
  EXPECT_STREQ(backend_name(Backend::CuDNN), "cudnn");
}

TEST(BackendChoice, DefaultComesFromTheEnvironmentUnlessSet) {
  set_default_backend(std::nullopt);
  ::unsetenv("NORMRT_BN_BACKEND");
  EXPECT_EQ(default_backend(), Backend::Auto);
  ::setenv("NORMRT_BN_BACKEND", "cudnn", 1);
  EXPECT_EQ(default_backend(), Backend::CuDNN);
  ::setenv("NORMRT_BN_BACKEND", "fast", 1);
  EXPECT_TRUE(throws_with([] { default_backend(); }, "NORMRT_BN_BACKEND must be 'native', 'cudnn' or 'auto', got 'fast'"));
  set_default_backend(Backend::Native);
  EXPECT_EQ(default_backend(), Backend::Native);
  set_default_backend(std::nullopt);
  ::unsetenv("NORMRT_BN_BACKEND");
}

TEST(BackendChoice, CpuTensorsAlwaysRunNatively) {
  const auto c = choose_backend(Backend::CuDNN, Device::cpu(), Geometry{8, 4, 16}, Pass::ForwardTraining, true, false, 1e-5);
  EXPECT_EQ(c.backend, Backend::Native);
  EXPECT_TRUE(c.reason.empty());
}

TEST(BackendChoice, AutoAndNativePickTheCustomKernels) {
  for (Backend b : {Backend::Auto, Backend::Native}) {
    for (Pass pass : {Pass::ForwardTraining, Pass::ForwardInference, Pass::BackwardTraining, Pass::BackwardInference}) {
      const auto c = choose_backend(b, kGpu, Geometry{32, 64, 3136}, pass, true, false, 1e-5);
      EXPECT_EQ(c.backend, Backend::Native);
      EXPECT_TRUE(c.reason.empty());
    }
  }
}

#if NORMRT_WITH_CUDA
TEST(BackendChoice, CudnnWhereItCanAndNamedFallbacksWhereItCannot) {
  const Geometry image{32, 64, 3136};
  EXPECT_EQ(choose_backend(Backend::CuDNN, kGpu, image, Pass::ForwardTraining, true, false, 1e-5).backend, Backend::CuDNN);
  EXPECT_EQ(choose_backend(Backend::CuDNN, kGpu, image, Pass::ForwardInference, true, false, 1e-5).backend, Backend::CuDNN);
  EXPECT_EQ(choose_backend(Backend::CuDNN, kGpu, image, Pass::BackwardTraining, true, false, 1e-5).backend, Backend::CuDNN);
  struct Fallback {
    Geometry g;
    Pass pass;
    bool affine, cumulative;
    const char* reason;
  };
  const Fallback fallbacks[] = {
      {{256, 1024, 1}, Pass::ForwardTraining, true, false, "(N, C) or channels-last input"},
      {image, Pass::BackwardInference, true, false, "no eval-mode backward"},
      {image, Pass::ForwardTraining, false, false, "affine=False"},
      {image, Pass::ForwardTraining, true, true, "momentum=None"},
      {{70000, 4, 9}, Pass::ForwardInference, true, false, "N > 65535"},
      {{0, 4, 9}, Pass::ForwardTraining, true, false, "empty input"},
      {{2, 2, int64_t{1} << 30}, Pass::ForwardTraining, true, false, "2^31 or more elements"},
  };
  for (const auto& f : fallbacks) {
    const auto c = choose_backend(Backend::CuDNN, kGpu, f.g, f.pass, f.affine, f.cumulative, 1e-5);
    EXPECT_EQ(c.backend, Backend::Native) << f.reason;
    EXPECT_NE(c.reason.find(f.reason), std::string::npos) << c.reason;
  }
  // momentum=None matters only where running statistics are updated.
  EXPECT_EQ(choose_backend(Backend::CuDNN, kGpu, image, Pass::BackwardTraining, true, true, 1e-5).backend, Backend::CuDNN);
}

TEST(Cudnn, VersionIsReadWithoutAGpu) {
  const int version = cuda::cudnn_version();
  EXPECT_EQ(version / 10000, 9) << version;
}
#endif

TEST(BackendChoice, ModulesTakeABackendAndCpuIgnoresIt) {
  Generator gen(5);
  const Tensor x = randn({6, 3, 5}, gen);
  nn::BatchNorm1d native(nn::BatchNormOptions(3).backend(Backend::Native));
  nn::BatchNorm1d cudnn(nn::BatchNormOptions(3).backend(Backend::CuDNN));
  EXPECT_EQ(native.forward(x).to_vector(), cudnn.forward(x).to_vector());
  EXPECT_EQ(cudnn.options().backend(), std::optional<Backend>(Backend::CuDNN));
}

}  // namespace
}  // namespace normrt
