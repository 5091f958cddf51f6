// The cuDNN BatchNorm backend against the custom kernels and the double reference (label gpu), every mode and
// rank, several steps of running statistics, and fallbacks that must equal the native results bit for bit.
#include "gpu_test_support.h"
#include <cstring>

#include "reference/bn_reference.h"
#include "test_util.h"

namespace normrt {
namespace {

using testing::all_close;
using testing::max_abs;
using testing::to_double;

const Device kGpu = Device::cuda(0);

// cudnn_version() is 0 in a build without cuDNN; the emulated device (tests/simt) has a stand-in for its batch norm.
bool have_cudnn() { return cuda::is_available() && cuda::cudnn_version() > 0; }

class CudnnShapes : public ::testing::TestWithParam<Shape> {
 protected:
  void SetUp() override {
    NORMRT_GPU_TEST_REQUIRES(have_cudnn(), "no CUDA device with cuDNN");
  }
};

TEST_P(CudnnShapes, MatchesNativeAndReferenceOverSeveralSteps) {
  const Shape shape = GetParam();
  int64_t s = 1;
  for (std::size_t d = 2; d < shape.size(); ++d) s *= shape[d];
  const testing::RefGeometry g{shape[0], shape[1], s};
  Generator gen(21);
  const Tensor weight = rand({g.C}, gen, kGpu), bias = randn({g.C}, gen, kGpu);
  Tensor rm_native = zeros({g.C}, kGpu), rv_native = ones({g.C}, kGpu);
  Tensor rm_cudnn = zeros({g.C}, kGpu), rv_cudnn = ones({g.C}, kGpu);
  Tensor n_native = zeros({}, TensorOptions(kGpu).dtype(DType::Int64)), n_cudnn = n_native.clone();
  std::vector<double> rm_ref(g.C, 0.0), rv_ref(g.C, 1.0);
  for (int step = 0; step < 3; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    const Tensor x = randn(shape, gen, kGpu), dy = randn(shape, gen, kGpu);
    const auto fn = ops::batch_norm_forward_training(x, weight, bias, rm_native, rv_native, n_native, 0.1, 1e-5,
                                                     Backend::Native);
    const auto fc = ops::batch_norm_forward_training(x, weight, bias, rm_cudnn, rv_cudnn, n_cudnn, 0.1, 1e-5,
                                                     Backend::CuDNN);
    const auto xd = to_double(x);
    const auto st = testing::ref_stats(g, xd);
    for (int64_t c = 0; c < g.C; ++c) {
      rm_ref[c] = 0.9 * rm_ref[c] + 0.1 * st.mean[c];
      rv_ref[c] = 0.9 * rv_ref[c] + 0.1 * st.var_unbiased[c];
    }
    EXPECT_TRUE(all_close(fc.output.to_vector(), fn.output.to_vector(), 1e-4, 1e-5)) << "y";
    EXPECT_TRUE(all_close(fc.save_mean.to_vector(), st.mean, 1e-4, 1e-5)) << "save_mean";
    EXPECT_TRUE(all_close(fc.save_invstd.to_vector(), fn.save_invstd.to_vector(), 1e-4, 0)) << "save_invstd";
    EXPECT_TRUE(all_close(rm_cudnn.to_vector(), rm_ref, 1e-4, 1e-5)) << "running_mean";
    EXPECT_TRUE(all_close(rv_cudnn.to_vector(), rv_ref, 1e-4, 0)) << "running_var";
    EXPECT_EQ(n_cudnn.item<int64_t>(), step + 1);

    const auto bn = ops::batch_norm_backward(dy, x, weight, fn.save_mean, fn.save_invstd, true, 1e-5, Backend::Native);
    const auto bc = ops::batch_norm_backward(dy, x, weight, fc.save_mean, fc.save_invstd, true, 1e-5, Backend::CuDNN);
    const auto ref = testing::ref_backward(g, xd, to_double(dy), to_double(weight), true, {}, {}, 1e-5);
    const double dx_scale = max_abs(to_double(dy)) * max_abs(to_double(fn.save_invstd)) * max_abs(to_double(weight));
    EXPECT_TRUE(all_close(bc.grad_input.to_vector(), ref.dx, 1e-3, 1e-5, dx_scale)) << "dx";
    EXPECT_TRUE(all_close(bc.grad_weight.to_vector(), ref.dw, 1e-4, 1e-5)) << "dweight";
    EXPECT_TRUE(all_close(bc.grad_bias.to_vector(), ref.db, 1e-4, 1e-5)) << "dbias";
    EXPECT_TRUE(all_close(bn.grad_input.to_vector(), ref.dx, 1e-3, 1e-5, dx_scale)) << "native dx";
  }
  const Tensor x = randn(shape, gen, kGpu);
  const auto en = ops::batch_norm_forward_inference(x, weight, bias, rm_native, rv_native, 1e-5, Backend::Native);
  const auto ec = ops::batch_norm_forward_inference(x, weight, bias, rm_cudnn, rv_cudnn, 1e-5, Backend::CuDNN);
  EXPECT_TRUE(all_close(ec.output.to_vector(), en.output.to_vector(), 1e-4, 1e-5)) << "eval y";
  EXPECT_TRUE(all_close(ec.save_invstd.to_vector(), en.save_invstd.to_vector(), 1e-5, 0)) << "eval invstd";
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudnnShapes,
                         ::testing::Values(Shape{4, 3, 17}, Shape{8, 16, 7, 7}, Shape{2, 3, 33, 35},
                                           Shape{2, 4, 3, 5, 6}, Shape{32, 64, 56, 56}, Shape{2, 1, 2}),
                         [](const ::testing::TestParamInfo<Shape>& info) {
                           std::string name;
                           for (int64_t s : info.param) name += (name.empty() ? "" : "x") + std::to_string(s);
                           return name;
                         });

// cuDNN's plans beside the custom kernels on mixed-precision workloads: float32/float16/bfloat16 x NCHW/NHWC x
// none/ReLU/add+ReLU, forward training and backward. Both backwards read the cuDNN forward's output and statistics,
// so the ReLU's mask is the same and only each backward's own arithmetic differs. Tolerances: a few units in the
// last place of the element type. On channels-last float16 and float32 with a ReLU, cuDNN's persistent kernels fuse
// it, and the forward hands its reserve space to the backward.
struct MixedCase {
  Shape shape;
  DType dtype;
  MemoryFormat format;
  bool relu, residual;
};

std::string label(const MixedCase& c) {
  std::string name;
  for (int64_t s : c.shape) name += (name.empty() ? "" : "x") + std::to_string(s);
  name += std::string("_") + dtype_name(c.dtype);
  name += c.format == MemoryFormat::Contiguous ? "_nchw" : "_nhwc";
  name += c.residual ? "_add" : "";
  name += c.relu ? "_relu" : "";
  return name;
}

void PrintTo(const MixedCase& c, std::ostream* os) { *os << label(c); }

class CudnnMixed : public ::testing::TestWithParam<MixedCase> {
 protected:
  void SetUp() override { NORMRT_GPU_TEST_REQUIRES(have_cudnn(), "no CUDA device with cuDNN"); }
};

TEST_P(CudnnMixed, MatchesTheCustomKernels) {
  const MixedCase c = GetParam();
  const int64_t C = c.shape[1];
  Generator gen(31);
  auto draw = [&] { return randn(c.shape, gen, kGpu).to(c.dtype).to(c.format); };
  const Tensor x = draw(), z = draw(), dy = draw();
  const Tensor weight = rand({C}, gen, kGpu), bias = randn({C}, gen, kGpu);
  Tensor rm_cudnn = zeros({C}, kGpu), rv_cudnn = ones({C}, kGpu), rm_native = zeros({C}, kGpu),
         rv_native = ones({C}, kGpu);
  const ops::BatchNormEpilogue epilogue{c.residual ? z : Tensor(), c.relu};
  const auto fc = ops::batch_norm_forward_training(x, weight, bias, rm_cudnn, rv_cudnn, Tensor(), 0.1, 1e-5,
                                                   Backend::CuDNN, epilogue);
  const auto fn = ops::batch_norm_forward_training(x, weight, bias, rm_native, rv_native, Tensor(), 0.1, 1e-5,
                                                   Backend::Native, epilogue);
  const double eps_of_type = c.dtype == DType::Float32 ? 1e-6 : c.dtype == DType::Float16 ? 1e-3 : 8e-3;
  const double rtol = 4 * eps_of_type;
  auto values = [](const Tensor& t) { return t.to(DType::Float32).to(MemoryFormat::Contiguous).to_vector(); };
  EXPECT_EQ(fc.output.dtype(), c.dtype);
  EXPECT_EQ(fc.output.memory_format(), c.format);
  EXPECT_TRUE(all_close(values(fc.output), values(fn.output), rtol, rtol)) << "y";
  EXPECT_TRUE(all_close(fc.save_mean.to_vector(), fn.save_mean.to_vector(), 1e-5, 1e-5)) << "save_mean";
  EXPECT_TRUE(all_close(fc.save_invstd.to_vector(), fn.save_invstd.to_vector(), 1e-4, 0)) << "save_invstd";
  EXPECT_TRUE(all_close(rv_cudnn.to_vector(), rv_native.to_vector(), 1e-4, 0)) << "running_var";
  const bool fusable = c.relu && c.format == MemoryFormat::ChannelsLast && c.dtype != DType::BFloat16;
  // Where cuDNN declines a fusion (odd channel counts may be), the custom kernels run instead; on ResNet-like
  // channel counts it must take it.
  if (!fusable) EXPECT_FALSE(fc.cudnn_reserve.defined());
  else if (C % 8 == 0) EXPECT_TRUE(fc.cudnn_reserve.defined()) << "cuDNN did not fuse the ReLU";

  ops::BatchNormBackwardEpilogue back{c.relu ? fc.output : Tensor(), c.residual, fc.cudnn_reserve, bias};
  const auto bc = ops::batch_norm_backward(dy, x, weight, fc.save_mean, fc.save_invstd, true, 1e-5, Backend::CuDNN,
                                           back);
  back.cudnn_reserve = Tensor();
  const auto bn = ops::batch_norm_backward(dy, x, weight, fc.save_mean, fc.save_invstd, true, 1e-5, Backend::Native,
                                           back);
  EXPECT_EQ(bc.grad_input.dtype(), c.dtype);
  EXPECT_TRUE(all_close(values(bc.grad_input), values(bn.grad_input), rtol, rtol)) << "dx";
  EXPECT_TRUE(all_close(bc.grad_weight.to_vector(), bn.grad_weight.to_vector(), 1e-3, 1e-4)) << "dweight";
  EXPECT_TRUE(all_close(bc.grad_bias.to_vector(), bn.grad_bias.to_vector(), 1e-3, 1e-4)) << "dbias";
  ASSERT_EQ(bc.grad_residual.defined(), c.residual);
  if (c.residual) EXPECT_EQ(values(bc.grad_residual), values(bn.grad_residual)) << "dz: dy where y > 0";
}

std::vector<MixedCase> mixed_cases() {
  std::vector<MixedCase> out;
  for (const Shape& shape : {Shape{8, 16, 7, 7}, Shape{2, 3, 6, 5}})
    for (DType dtype : {DType::Float32, DType::Float16, DType::BFloat16})
      for (MemoryFormat format : {MemoryFormat::Contiguous, MemoryFormat::ChannelsLast})
        for (const auto& [relu, residual] : {std::pair{false, false}, {true, false}, {true, true}, {false, true}})
          out.push_back({shape, dtype, format, relu, residual});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Matrix, CudnnMixed, ::testing::ValuesIn(mixed_cases()),
                         [](const ::testing::TestParamInfo<MixedCase>& info) { return label(info.param); });

// nn::BatchNorm2d keeps a fused cuDNN forward's reserve space and bias in its context for the backward: on
// channels-last float16 a module on the cuDNN backend trains as one on the custom kernels, with its fused ReLU and
// with forward_add (ResNet's block end).
TEST(CudnnModules, FusedReluAndAddReluTrainAsTheCustomKernels) {
  NORMRT_GPU_TEST_REQUIRES(have_cudnn(), "no CUDA device with cuDNN");
  const Shape shape{4, 8, 5, 6};
  auto draw = [&](Generator& gen) {
    return randn(shape, gen, kGpu).to(DType::Float16).to(MemoryFormat::ChannelsLast);
  };
  for (const bool add : {false, true}) {
    SCOPED_TRACE(add ? "forward_add" : "forward");
    nn::BatchNorm2d cudnn(nn::BatchNormOptions(8).backend(Backend::CuDNN).relu(true));
    nn::BatchNorm2d native(nn::BatchNormOptions(8).backend(Backend::Native).relu(true));
    cudnn.to(kGpu);
    native.to(kGpu);
    Generator gen(41);
    for (int step = 0; step < 2; ++step) {
      const Tensor x = draw(gen), z = draw(gen), dy = draw(gen);
      Tensor yc, yn, dxc, dxn, dzc, dzn;
      if (add) {
        nn::Context cc, cn;
        yc = cudnn.forward_add(x, z, cc);
        yn = native.forward_add(x, z, cn);
        ASSERT_EQ(cc.values.size(), 5u);
        EXPECT_EQ(cc.values[3], 1) << "the context does not hold cuDNN's reserve space";
        EXPECT_EQ(cc.values[4], 0) << "a mean's low part from cuDNN, which centres on its own";
        EXPECT_EQ(cn.values[4], 1) << "the custom kernels' forward kept no low part of the mean";
        auto gc = cudnn.backward_add(dy, cc), gn = native.backward_add(dy, cn);
        dxc = gc.input;
        dxn = gn.input;
        EXPECT_TRUE(all_close(gc.residual.to(DType::Float32).to_vector(),
                              gn.residual.to(DType::Float32).to_vector(), 4e-3, 4e-3))
            << "dz";
      } else {
        yc = cudnn.forward(x);
        yn = native.forward(x);
        dxc = cudnn.backward(dy);
        dxn = native.backward(dy);
      }
      EXPECT_TRUE(all_close(yc.to(DType::Float32).to_vector(), yn.to(DType::Float32).to_vector(), 4e-3, 4e-3));
      EXPECT_TRUE(all_close(dxc.to(DType::Float32).to_vector(), dxn.to(DType::Float32).to_vector(), 4e-3, 4e-3));
      EXPECT_TRUE(all_close(cudnn.weight.grad().to_vector(), native.weight.grad().to_vector(), 1e-3, 1e-4));
      EXPECT_TRUE(all_close(cudnn.bias.grad().to_vector(), native.bias.grad().to_vector(), 1e-3, 1e-4));
      EXPECT_TRUE(all_close(cudnn.running_var.to_vector(), native.running_var.to_vector(), 1e-4, 0));
    }
  }
}

class CudnnFallback : public ::testing::Test {
 protected:
  void SetUp() override {
    NORMRT_GPU_TEST_REQUIRES(cuda::is_available(), "no CUDA device");
  }
};

// Cases cuDNN cannot do run the custom kernels: identical bits to an explicit Native call.
TEST_F(CudnnFallback, FallbacksEqualNativeBitForBit) {
  Generator gen(8);
  auto same = [](const Tensor& a, const Tensor& b) {
    const auto va = a.to_vector(), vb = b.to_vector();
    return va.size() == vb.size() && std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)) == 0;
  };
  const Tensor nc = randn({64, 8}, gen, kGpu);  // (N, C) input
  const auto a =
      ops::batch_norm_forward_training(nc, Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), 0.1, 1e-5, Backend::CuDNN);
  const auto b = ops::batch_norm_forward_training(nc, Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), 0.1, 1e-5,
                                                  Backend::Native);
  EXPECT_TRUE(same(a.output, b.output));
  const Tensor x = randn({4, 3, 9}, gen, kGpu);
  Tensor rm1 = zeros({3}, kGpu), rv1 = ones({3}, kGpu), n1 = zeros({}, TensorOptions(kGpu).dtype(DType::Int64));
  Tensor rm2 = rm1.clone(), rv2 = rv1.clone(), n2 = n1.clone();
  const auto c = ops::batch_norm_forward_training(x, ones({3}, kGpu), zeros({3}, kGpu), rm1, rv1, n1, std::nullopt,
                                                  1e-5, Backend::CuDNN);
  const auto d = ops::batch_norm_forward_training(x, ones({3}, kGpu), zeros({3}, kGpu), rm2, rv2, n2, std::nullopt,
                                                  1e-5, Backend::Native);
  EXPECT_TRUE(same(c.output, d.output));
  EXPECT_TRUE(same(rv1, rv2));
  const Tensor dy = randn({4, 3, 9}, gen, kGpu);
  const auto e =
      ops::batch_norm_backward(dy, x, ones({3}, kGpu), c.save_mean, c.save_invstd, false, 1e-5, Backend::CuDNN);
  const auto f =
      ops::batch_norm_backward(dy, x, ones({3}, kGpu), c.save_mean, c.save_invstd, false, 1e-5, Backend::Native);
  EXPECT_TRUE(same(e.grad_input, f.grad_input));
}

TEST_F(CudnnFallback, ModuleWithCudnnBackendTrains) {
  NORMRT_GPU_TEST_REQUIRES(have_cudnn(), "no cuDNN");
  nn::BatchNorm2d bn(nn::BatchNormOptions(4).backend(Backend::CuDNN));
  bn.to(kGpu);
  Generator gen(9);
  for (int i = 0; i < 3; ++i) {
    bn.forward(randn({2, 4, 6, 6}, gen, kGpu));
    bn.backward(randn({2, 4, 6, 6}, gen, kGpu));
  }
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 3);
  EXPECT_TRUE(bn.weight.grad().defined());
}

}  // namespace
}  // namespace normrt
