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
  EXPECT_TRUE(
      throws_with([] { default_backend(); }, "NORMRT_BN_BACKEND must be 'native', 'cudnn' or 'auto', got 'fast'"));
  set_default_backend(Backend::Native);
  EXPECT_EQ(default_backend(), Backend::Native);
  set_default_backend(std::nullopt);
  ::unsetenv("NORMRT_BN_BACKEND");
}

TEST(BackendChoice, CpuTensorsAlwaysRunNatively) {
  const auto c =
      choose_backend(Backend::CuDNN, Device::cpu(), Geometry{8, 4, 16}, Pass::ForwardTraining, true, false, 1e-5);
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
  EXPECT_EQ(choose_backend(Backend::CuDNN, kGpu, image, Pass::ForwardTraining, true, false, 1e-5).backend,
            Backend::CuDNN);
  EXPECT_EQ(choose_backend(Backend::CuDNN, kGpu, image, Pass::ForwardInference, true, false, 1e-5).backend,
            Backend::CuDNN);
  EXPECT_EQ(choose_backend(Backend::CuDNN, kGpu, image, Pass::BackwardTraining, true, false, 1e-5).backend,
            Backend::CuDNN);
  struct Fallback {
    Geometry g;
    Pass pass;
    bool affine, cumulative;
    const char* reason;
  };
  const Fallback fallbacks[] = {
      {{256, 1024, 1}, Pass::ForwardTraining, true, false, "(N, C) input"},
      {{880802, 4, 2}, Pass::ForwardTraining, true, false, "N > 880801"},
      {{880802, 4, 2}, Pass::BackwardTraining, true, false, "N > 880801"},
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
  EXPECT_EQ(choose_backend(Backend::CuDNN, kGpu, image, Pass::BackwardTraining, true, true, 1e-5).backend,
            Backend::CuDNN);
}

// How cuDNN runs what it takes: NHWC descriptors and the persistent kernels for channels-last training (PyTorch's
// rule), float16 elements as they are, the ReLU (after a residual) inside cuDNN's call where its NHWC persistent
// kernels take it, and float32 copies wherever a separate epilogue pass is needed or the dtype is bfloat16.
TEST(BackendChoice, CudnnPlansLayoutModeElementsAndFusion) {
  struct Case {
    const char* name;
    Pass pass;
    bn::CudnnRequest request;
    bn::CudnnPlan plan;  // expected
  };
  const DType f32 = DType::Float32, f16 = DType::Float16, bf16 = DType::BFloat16;
  const Case cases[] = {
      // name, pass, {channels_last, dtype, relu, residual, forward_fused}, {channels_last, persistent, copies, fused}
      {"nchw float32", Pass::ForwardTraining, {false, f32, false, false, false}, {false, false, false, false}},
      {"nchw float16", Pass::ForwardTraining, {false, f16, false, false, false}, {false, false, false, false}},
      {"nchw float16 relu", Pass::ForwardTraining, {false, f16, true, false, false}, {false, false, true, false}},
      {"nhwc float16", Pass::ForwardTraining, {true, f16, false, false, false}, {true, true, false, false}},
      {"nhwc float16 relu", Pass::ForwardTraining, {true, f16, true, false, false}, {true, true, false, true}},
      {"nhwc float16 add relu", Pass::ForwardTraining, {true, f16, true, true, false}, {true, true, false, true}},
      {"nhwc float32 add relu", Pass::ForwardTraining, {true, f32, true, true, false}, {true, true, false, true}},
      {"nhwc float16 add", Pass::ForwardTraining, {true, f16, false, true, false}, {true, true, true, false}},
      {"nhwc bfloat16 relu", Pass::ForwardTraining, {true, bf16, true, false, false}, {true, true, true, false}},
      {"nhwc bfloat16", Pass::ForwardTraining, {true, bf16, false, false, false}, {true, true, true, false}},
      {"eval nhwc float16", Pass::ForwardInference, {true, f16, false, false, false}, {true, false, false, false}},
      {"eval nhwc float16 relu", Pass::ForwardInference, {true, f16, true, false, false}, {true, false, true, false}},
      {"eval nchw float16 add", Pass::ForwardInference, {false, f16, false, true, false}, {false, false, true, false}},
      {"backward after a fused forward",
       Pass::BackwardTraining,
       {true, f16, true, true, true},
       {true, true, false, true}},
      {"backward after an unfused forward",
       Pass::BackwardTraining,
       {true, f16, true, false, false},
       {true, true, true, false}},
      {"backward of an add only", Pass::BackwardTraining, {true, f16, false, true, false}, {true, true, false, false}},
      {"backward nchw float16",
       Pass::BackwardTraining,
       {false, f16, false, false, false},
       {false, false, false, false}},
  };
  for (const Case& c : cases) {
    const auto choice = choose_backend(Backend::CuDNN, kGpu, Geometry{32, 64, 3136}, c.pass, true, false, 1e-5,
                                       c.request);
    ASSERT_EQ(choice.backend, Backend::CuDNN) << c.name << ": " << choice.reason;
    EXPECT_EQ(choice.plan.channels_last, c.plan.channels_last) << c.name;
    EXPECT_EQ(choice.plan.persistent, c.plan.persistent) << c.name;
    EXPECT_EQ(choice.plan.float32_copies, c.plan.float32_copies) << c.name;
    EXPECT_EQ(choice.plan.fused, c.plan.fused) << c.name;
  }
  // Channels-last input whose spatial size is 1 is still an image to cuDNN; (N, C) input is not.
  bn::CudnnRequest nhwc;
  nhwc.channels_last = true;
  EXPECT_EQ(choose_backend(Backend::CuDNN, kGpu, Geometry{8, 16, 1}, Pass::ForwardTraining, true, false, 1e-5, nhwc)
                .backend,
            Backend::CuDNN);
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
