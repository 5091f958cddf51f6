// cuDNN's batch norm for the emulated device: the part of cuDNN's C API that src/batchnorm_cudnn.cpp calls
// (handles, tensor and activation descriptors, the Ex training calls with their size queries, the legacy backward,
// inference), computed by host loops in double and queued on the handle's stream like the kernels
// (emulated_device.h), so that the cuDNN backend's own host code — descriptors over NCHW or NHWC memory, float32 and
// float16 elements, the fused operations and the reserve space carried from forward to backward — runs in CI.
// The model follows cuDNN's documented semantics (y = alpha * result + beta * y with alpha 1 and beta 0 only,
// exponentialAverageFactor, unbiased running variance, saved inverse variance), and checks what cuDNN requires:
// the fused operations only in CUDNN_BATCHNORM_SPATIAL_PERSISTENT mode on NHWC with a ReLU descriptor, their
// backward with y, bias and the forward's reserve space (a bit per element: the activation's input was > 0).
// Where real cuDNN declines a configuration is its own; this stand-in declines fusion for odd channel counts, so that
// normrt's fallback to its own kernels runs too. Test-only; cuDNN's convolutions are emulated_cudnn_conv.cpp's.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "emulated_cudnn.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

struct cudnnActivationStruct {
  cudnnActivationMode_t mode = CUDNN_ACTIVATION_RELU;
};

namespace {

// Element (n, c, s) of a described tensor, s = h * W + w.
int64_t offset(const cudnnTensorStruct& d, int64_t n, int64_t c, int64_t s) {
  const int64_t spatial = static_cast<int64_t>(d.h) * d.w;
  return d.format == CUDNN_TENSOR_NHWC ? (n * spatial + s) * d.c + c : (n * d.c + c) * spatial + s;
}

double read(const cudnnTensorStruct& d, const void* p, int64_t i) { return emu_cudnn::read(d.type, p, i); }
void write(const cudnnTensorStruct& d, void* p, int64_t i, double v) { emu_cudnn::write(d.type, p, i, v); }
using emu_cudnn::enqueue;
using emu_cudnn::supported_type;

bool unit_scaling(const void* alpha, const void* beta) {
  return *static_cast<const float*>(alpha) == 1.0f && *static_cast<const float*>(beta) == 0.0f;
}

// Whether ops can run in mode on x (the fused operations: persistent NHWC with a ReLU, even channel counts here).
cudnnStatus_t check_ops(cudnnBatchNormMode_t mode, cudnnBatchNormOps_t ops, const cudnnTensorStruct& x,
                        cudnnActivationDescriptor_t activation) {
  if (!supported_type(x.type)) return CUDNN_STATUS_NOT_SUPPORTED;
  if (ops == CUDNN_BATCHNORM_OPS_BN) return CUDNN_STATUS_SUCCESS;
  if (mode != CUDNN_BATCHNORM_SPATIAL_PERSISTENT || x.format != CUDNN_TENSOR_NHWC || x.c % 2 != 0)
    return CUDNN_STATUS_NOT_SUPPORTED;
  if (activation == nullptr || activation->mode != CUDNN_ACTIVATION_RELU) return CUDNN_STATUS_BAD_PARAM;
  return CUDNN_STATUS_SUCCESS;
}

std::size_t reserve_size(cudnnBatchNormOps_t ops, const cudnnTensorStruct& x) {
  if (ops == CUDNN_BATCHNORM_OPS_BN) return 0;
  return static_cast<std::size_t>((static_cast<int64_t>(x.n) * x.c * x.h * x.w + 7) / 8);
}

struct Dims {
  int64_t n, c, s;
  explicit Dims(const cudnnTensorStruct& d) : n(d.n), c(d.c), s(static_cast<int64_t>(d.h) * d.w) {}
};

// Per channel: mean and biased variance over (n, s), in double.
void statistics(const cudnnTensorStruct& d, const void* x, std::vector<double>& mean, std::vector<double>& var) {
  const Dims g(d);
  mean.assign(g.c, 0.0);
  var.assign(g.c, 0.0);
  for (int64_t c = 0; c < g.c; ++c) {
    double sum = 0.0;
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t s = 0; s < g.s; ++s) sum += read(d, x, offset(d, n, c, s));
    mean[c] = sum / static_cast<double>(g.n * g.s);
    double m2 = 0.0;
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t s = 0; s < g.s; ++s) {
        const double dev = read(d, x, offset(d, n, c, s)) - mean[c];
        m2 += dev * dev;
      }
    var[c] = m2 / static_cast<double>(g.n * g.s);
  }
}

bool bit(const void* reserve, int64_t i) { return (static_cast<const uint8_t*>(reserve)[i / 8] >> (i % 8)) & 1; }

}  // namespace

extern "C" {

size_t cudnnGetVersion() { return 91900; }

const char* cudnnGetErrorString(cudnnStatus_t status) {
  switch (status) {
    case CUDNN_STATUS_SUCCESS: return "CUDNN_STATUS_SUCCESS";
    case CUDNN_STATUS_BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
    case CUDNN_STATUS_NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED";
    default: return "CUDNN_STATUS_INTERNAL_ERROR";
  }
}

cudnnStatus_t cudnnCreate(cudnnHandle_t* handle) { return emu_cudnn::create(handle); }

cudnnStatus_t cudnnDestroy(cudnnHandle_t handle) { return emu_cudnn::destroy(handle); }

cudnnStatus_t cudnnSetStream(cudnnHandle_t handle, cudaStream_t stream) {
  handle->stream = stream;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t* desc) { return emu_cudnn::create(desc); }

cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t desc) { return emu_cudnn::destroy(desc); }

cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t desc, cudnnTensorFormat_t format,
                                         cudnnDataType_t type, int n, int c, int h, int w) {
  if (n <= 0 || c <= 0 || h <= 0 || w <= 0) return CUDNN_STATUS_BAD_PARAM;
  if (format != CUDNN_TENSOR_NCHW && format != CUDNN_TENSOR_NHWC) return CUDNN_STATUS_NOT_SUPPORTED;
  *desc = cudnnTensorStruct{format, type, n, c, h, w};
  return CUDNN_STATUS_SUCCESS;
}

// Scale, bias, means and variances: 1 x C x 1 x 1, float32 for float32, float16 and bfloat16 data.
cudnnStatus_t cudnnDeriveBNTensorDescriptor(cudnnTensorDescriptor_t derived, const cudnnTensorDescriptor_t x,
                                            cudnnBatchNormMode_t mode) {
  if (mode == CUDNN_BATCHNORM_PER_ACTIVATION) return CUDNN_STATUS_NOT_SUPPORTED;
  *derived = cudnnTensorStruct{CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, x->c, 1, 1};
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateActivationDescriptor(cudnnActivationDescriptor_t* desc) { return emu_cudnn::create(desc); }

cudnnStatus_t cudnnSetActivationDescriptor(cudnnActivationDescriptor_t desc, cudnnActivationMode_t mode,
                                           cudnnNanPropagation_t, double) {
  desc->mode = mode;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroyActivationDescriptor(cudnnActivationDescriptor_t desc) { return emu_cudnn::destroy(desc); }

cudnnStatus_t cudnnGetBatchNormalizationForwardTrainingExWorkspaceSize(
    cudnnHandle_t, cudnnBatchNormMode_t mode, cudnnBatchNormOps_t ops, const cudnnTensorDescriptor_t x,
    const cudnnTensorDescriptor_t z, const cudnnTensorDescriptor_t, const cudnnTensorDescriptor_t,
    const cudnnActivationDescriptor_t activation, size_t* bytes) {
  if ((ops == CUDNN_BATCHNORM_OPS_BN_ADD_ACTIVATION) != (z != nullptr)) return CUDNN_STATUS_BAD_PARAM;
  *bytes = 256;  // some, so that the caller's workspace is exercised
  return check_ops(mode, ops, *x, activation);
}

cudnnStatus_t cudnnGetBatchNormalizationTrainingExReserveSpaceSize(cudnnHandle_t, cudnnBatchNormMode_t mode,
                                                                   cudnnBatchNormOps_t ops,
                                                                   const cudnnActivationDescriptor_t activation,
                                                                   const cudnnTensorDescriptor_t x, size_t* bytes) {
  *bytes = reserve_size(ops, *x);
  return check_ops(mode, ops, *x, activation);
}

cudnnStatus_t cudnnGetBatchNormalizationBackwardExWorkspaceSize(
    cudnnHandle_t, cudnnBatchNormMode_t mode, cudnnBatchNormOps_t ops, const cudnnTensorDescriptor_t x,
    const cudnnTensorDescriptor_t y, const cudnnTensorDescriptor_t, const cudnnTensorDescriptor_t dz,
    const cudnnTensorDescriptor_t, const cudnnTensorDescriptor_t, const cudnnActivationDescriptor_t activation,
    size_t* bytes) {
  if ((ops != CUDNN_BATCHNORM_OPS_BN) != (y != nullptr)) return CUDNN_STATUS_BAD_PARAM;
  if ((ops == CUDNN_BATCHNORM_OPS_BN_ADD_ACTIVATION) != (dz != nullptr)) return CUDNN_STATUS_BAD_PARAM;
  *bytes = 256;
  return check_ops(mode, ops, *x, activation);
}

cudnnStatus_t cudnnBatchNormalizationForwardTrainingEx(
    cudnnHandle_t handle, cudnnBatchNormMode_t mode, cudnnBatchNormOps_t ops, const void* alpha, const void* beta,
    const cudnnTensorDescriptor_t x_desc, const void* x, const cudnnTensorDescriptor_t z_desc, const void* z,
    const cudnnTensorDescriptor_t y_desc, void* y, const cudnnTensorDescriptor_t, const void* scale,
    const void* bias, double factor, void* running_mean, void* running_var, double eps, void* save_mean,
    void* save_invstd, const cudnnActivationDescriptor_t activation, void* workspace, size_t workspace_bytes,
    void* reserve, size_t reserve_bytes) {
  if (const cudnnStatus_t s = check_ops(mode, ops, *x_desc, activation)) return s;
  if (!unit_scaling(alpha, beta) || scale == nullptr || bias == nullptr || eps < CUDNN_BN_MIN_EPSILON)
    return CUDNN_STATUS_BAD_PARAM;
  if ((running_mean == nullptr) != (running_var == nullptr) || (save_mean == nullptr) != (save_invstd == nullptr))
    return CUDNN_STATUS_BAD_PARAM;
  if ((ops == CUDNN_BATCHNORM_OPS_BN_ADD_ACTIVATION) != (z != nullptr && z_desc != nullptr))
    return CUDNN_STATUS_BAD_PARAM;
  if ((workspace == nullptr && workspace_bytes != 0) || reserve_bytes < reserve_size(ops, *x_desc) ||
      (reserve == nullptr && reserve_bytes != 0))
    return CUDNN_STATUS_BAD_PARAM;
  const cudnnTensorStruct xd = *x_desc, yd = *y_desc;
  const cudnnTensorStruct zd = z_desc != nullptr ? *z_desc : cudnnTensorStruct{};
  return enqueue(handle, [=] {
    const Dims g(xd);
    std::vector<double> mean, var;
    statistics(xd, x, mean, var);
    const auto* w = static_cast<const float*>(scale);
    const auto* b = static_cast<const float*>(bias);
    if (reserve != nullptr) std::memset(reserve, 0, reserve_size(ops, xd));
    for (int64_t c = 0; c < g.c; ++c) {
      const double invstd = 1.0 / std::sqrt(var[c] + eps);
      for (int64_t n = 0; n < g.n; ++n)
        for (int64_t s = 0; s < g.s; ++s) {
          const int64_t i = offset(xd, n, c, s);
          double v = (read(xd, x, i) - mean[c]) * invstd * w[c] + b[c];
          if (ops == CUDNN_BATCHNORM_OPS_BN_ADD_ACTIVATION) v += read(zd, z, offset(zd, n, c, s));
          if (ops != CUDNN_BATCHNORM_OPS_BN) {
            if (v > 0) static_cast<uint8_t*>(reserve)[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
            else v = 0;
          }
          write(yd, y, offset(yd, n, c, s), v);
        }
      if (running_mean != nullptr) {
        const double count = static_cast<double>(g.n * g.s);
        const double unbiased = count > 1 ? var[c] * count / (count - 1) : var[c];
        auto* rm = static_cast<float*>(running_mean);
        auto* rv = static_cast<float*>(running_var);
        rm[c] = static_cast<float>((1 - factor) * rm[c] + factor * mean[c]);
        rv[c] = static_cast<float>((1 - factor) * rv[c] + factor * unbiased);
      }
      if (save_mean != nullptr) {
        static_cast<float*>(save_mean)[c] = static_cast<float>(mean[c]);
        static_cast<float*>(save_invstd)[c] = static_cast<float>(invstd);
      }
    }
  });
}

cudnnStatus_t cudnnBatchNormalizationForwardInference(cudnnHandle_t handle, cudnnBatchNormMode_t mode,
                                                      const void* alpha, const void* beta,
                                                      const cudnnTensorDescriptor_t x_desc, const void* x,
                                                      const cudnnTensorDescriptor_t y_desc, void* y,
                                                      const cudnnTensorDescriptor_t, const void* scale,
                                                      const void* bias, const void* mean, const void* variance,
                                                      double eps) {
  if (mode == CUDNN_BATCHNORM_PER_ACTIVATION || !supported_type(x_desc->type)) return CUDNN_STATUS_NOT_SUPPORTED;
  if (!unit_scaling(alpha, beta) || scale == nullptr || bias == nullptr || mean == nullptr || variance == nullptr)
    return CUDNN_STATUS_BAD_PARAM;
  const cudnnTensorStruct xd = *x_desc, yd = *y_desc;
  return enqueue(handle, [=] {
    const Dims g(xd);
    const auto *w = static_cast<const float*>(scale), *b = static_cast<const float*>(bias);
    const auto *m = static_cast<const float*>(mean), *v = static_cast<const float*>(variance);
    for (int64_t c = 0; c < g.c; ++c) {
      const double invstd = 1.0 / std::sqrt(static_cast<double>(v[c]) + eps);
      for (int64_t n = 0; n < g.n; ++n)
        for (int64_t s = 0; s < g.s; ++s)
          write(yd, y, offset(yd, n, c, s), (read(xd, x, offset(xd, n, c, s)) - m[c]) * invstd * w[c] + b[c]);
    }
  });
}

namespace {

// dx, dscale and dbias from dy (already past the activation), as cuDNN's spatial backward.
void backward_from(const cudnnTensorStruct& xd, const void* x, const cudnnTensorStruct& dyd,
                   const std::vector<double>& dy, const cudnnTensorStruct& dxd, void* dx, const float* scale,
                   const float* mean, const float* invstd, float* dscale, float* dbias) {
  const Dims g(xd);
  const double count = static_cast<double>(g.n * g.s);
  for (int64_t c = 0; c < g.c; ++c) {
    double sum_dy = 0.0, sum_dy_xmu = 0.0;
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t s = 0; s < g.s; ++s) {
        const double d = dy[offset(dyd, n, c, s)];
        sum_dy += d;
        sum_dy_xmu += d * (read(xd, x, offset(xd, n, c, s)) - mean[c]);
      }
    const double is = invstd[c];
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t s = 0; s < g.s; ++s) {
        const double xmu = read(xd, x, offset(xd, n, c, s)) - mean[c];
        const double d = dy[offset(dyd, n, c, s)];
        write(dxd, dx, offset(dxd, n, c, s),
              (d - sum_dy / count - xmu * is * is * sum_dy_xmu / count) * is * scale[c]);
      }
    dscale[c] = static_cast<float>(sum_dy_xmu * is);
    dbias[c] = static_cast<float>(sum_dy);
  }
}

std::vector<double> values(const cudnnTensorStruct& d, const void* p) {
  std::vector<double> out(static_cast<std::size_t>(static_cast<int64_t>(d.n) * d.c * d.h * d.w));
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = read(d, p, static_cast<int64_t>(i));
  return out;
}

}  // namespace

cudnnStatus_t cudnnBatchNormalizationBackward(cudnnHandle_t handle, cudnnBatchNormMode_t mode,
                                              const void* alpha_data, const void* beta_data,
                                              const void* alpha_param, const void* beta_param,
                                              const cudnnTensorDescriptor_t x_desc, const void* x,
                                              const cudnnTensorDescriptor_t dy_desc, const void* dy,
                                              const cudnnTensorDescriptor_t dx_desc, void* dx,
                                              const cudnnTensorDescriptor_t, const void* scale, void* dscale,
                                              void* dbias, double, const void* mean, const void* invstd) {
  if (const cudnnStatus_t s = check_ops(mode, CUDNN_BATCHNORM_OPS_BN, *x_desc, nullptr)) return s;
  if (!unit_scaling(alpha_data, beta_data) || !unit_scaling(alpha_param, beta_param) || mean == nullptr ||
      invstd == nullptr)
    return CUDNN_STATUS_BAD_PARAM;
  const cudnnTensorStruct xd = *x_desc, dyd = *dy_desc, dxd = *dx_desc;
  return enqueue(handle, [=] {
    backward_from(xd, x, dyd, values(dyd, dy), dxd, dx, static_cast<const float*>(scale),
                  static_cast<const float*>(mean), static_cast<const float*>(invstd), static_cast<float*>(dscale),
                  static_cast<float*>(dbias));
  });
}

cudnnStatus_t cudnnBatchNormalizationBackwardEx(
    cudnnHandle_t handle, cudnnBatchNormMode_t mode, cudnnBatchNormOps_t ops, const void* alpha_data,
    const void* beta_data, const void* alpha_param, const void* beta_param, const cudnnTensorDescriptor_t x_desc,
    const void* x, const cudnnTensorDescriptor_t y_desc, const void* y, const cudnnTensorDescriptor_t dy_desc,
    const void* dy, const cudnnTensorDescriptor_t dz_desc, void* dz, const cudnnTensorDescriptor_t dx_desc,
    void* dx, const cudnnTensorDescriptor_t, const void* scale, const void* bias, void* dscale, void* dbias,
    double, const void* mean, const void* invstd, const cudnnActivationDescriptor_t activation, void* workspace,
    size_t workspace_bytes, void* reserve, size_t reserve_bytes) {
  if (const cudnnStatus_t s = check_ops(mode, ops, *x_desc, activation)) return s;
  if (!unit_scaling(alpha_data, beta_data) || !unit_scaling(alpha_param, beta_param) || mean == nullptr ||
      invstd == nullptr || (workspace == nullptr && workspace_bytes != 0))
    return CUDNN_STATUS_BAD_PARAM;
  const bool fused = ops != CUDNN_BATCHNORM_OPS_BN;
  if (fused && (y == nullptr || y_desc == nullptr || bias == nullptr || reserve == nullptr ||
                reserve_bytes < reserve_size(ops, *x_desc)))
    return CUDNN_STATUS_BAD_PARAM;
  if ((ops == CUDNN_BATCHNORM_OPS_BN_ADD_ACTIVATION) != (dz != nullptr && dz_desc != nullptr))
    return CUDNN_STATUS_BAD_PARAM;
  // One layout for x, dy and dz, as the reserve's bits are per element of x (the stand-in's simplification).
  if (dy_desc->format != x_desc->format || (dz_desc != nullptr && dz_desc->format != x_desc->format))
    return CUDNN_STATUS_NOT_SUPPORTED;
  const cudnnTensorStruct xd = *x_desc, dyd = *dy_desc, dxd = *dx_desc;
  const cudnnTensorStruct dzd = dz_desc != nullptr ? *dz_desc : cudnnTensorStruct{};
  return enqueue(handle, [=] {
    std::vector<double> passed = values(dyd, dy);
    if (fused) {
      // The gradient past the ReLU: where the forward's activation input was > 0 (its reserve space).
      for (std::size_t i = 0; i < passed.size(); ++i)
        if (!bit(reserve, static_cast<int64_t>(i))) passed[i] = 0.0;
      if (dz != nullptr)
        for (std::size_t i = 0; i < passed.size(); ++i) write(dzd, dz, static_cast<int64_t>(i), passed[i]);
    }
    backward_from(xd, x, dyd, passed, dxd, dx, static_cast<const float*>(scale), static_cast<const float*>(mean),
                  static_cast<const float*>(invstd), static_cast<float*>(dscale), static_cast<float*>(dbias));
  });
}

}  // extern "C"
