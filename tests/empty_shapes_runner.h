// Every op on shapes with an empty dimension, in each memory format, on one device: an empty result of the right
// shape or a refusal in words (normrt::Error), never a crash. The CPU suite and the GPU suites share it.
// (Channels-last adaptive average pooling of empty channels once divided by zero; random draws against PyTorch
// found it.)
#pragma once
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "normrt/normrt.h"

namespace normrt::testing {

// Runs `op`; a refusal is an answer, any other exception a failure (a crash ends the test binary).
inline void answers(const std::string& what, const std::function<void()>& op) {
  try {
    op();
  } catch (const Error&) {
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": " << e.what();
  }
}

// Each dimension of ranks 1 to 5 empty in turn, beside sizes 1 and 3; 4-d and 5-d ones channels-last too.
inline std::vector<std::pair<Shape, MemoryFormat>> empty_shapes() {
  std::vector<std::pair<Shape, MemoryFormat>> shapes;
  for (int rank = 1; rank <= 5; ++rank) {
    for (int empty_at = 0; empty_at < rank; ++empty_at) {
      Shape s(static_cast<std::size_t>(rank), 3);
      if (rank > 1) s[1] = 1;
      s[static_cast<std::size_t>(empty_at)] = 0;
      shapes.push_back({s, MemoryFormat::Contiguous});
      if (rank == 4) shapes.push_back({s, MemoryFormat::ChannelsLast});
      if (rank == 5) shapes.push_back({s, MemoryFormat::ChannelsLast3d});
    }
  }
  return shapes;
}

inline void run_empty_shapes(const Device& device) {
  for (const auto& [shape, format] : empty_shapes()) {
    for (const DType dtype : {DType::Float32, DType::BFloat16}) {
      const std::string tag =
          device.str() + " " + shape_str(shape) + " " + memory_format_name(format) + " " + dtype_name(dtype);
      SCOPED_TRACE(tag);
      const Tensor x = ones(shape).to(format).to(dtype).to(device);
      const auto rank = static_cast<int64_t>(shape.size());
      const auto same_shape = [&](const Tensor& y) { EXPECT_EQ(y.sizes(), shape); };
      answers("relu", [&] {
        const Tensor y = ops::activation(ops::Activation::ReLU, x);
        same_shape(ops::activation_backward(ops::Activation::ReLU, y, y));
      });
      answers("gelu", [&] {
        const auto gelu = ops::InputActivation::gelu();
        same_shape(ops::activation_backward(gelu, ops::activation(gelu, x), x));
      });
      answers("softmax", [&] {
        const Tensor y = ops::softmax(x, rank - 1, true);
        same_shape(ops::softmax_backward(y, y, rank - 1, true));
      });
      for (int64_t d = 0; d < rank; ++d) {
        answers("sum", [&] { ops::sum(x, d); });
        answers("mean", [&] { ops::mean(x, d); });
        answers("argmax", [&] { ops::argmax(x, d); });
        answers("cat", [&] { ops::cat({x, x}, d); });
        answers("stack", [&] { ops::stack({x, x}, d); });
      }
      answers("transpose", [&] { ops::transpose(x, 0, rank - 1).contiguous(); });
      answers("layer_norm", [&] { same_shape(ops::layer_norm(x, Shape{shape.back()})); });
      answers("dropout", [&] { same_shape(ops::dropout(x, 0.5, 1, 0)); });
      if (rank >= 2) {
        answers("group_norm", [&] { same_shape(ops::group_norm(x, 1)); });
        answers("instance_norm", [&] { same_shape(ops::instance_norm(x)); });
        answers("linear", [&] {
          ops::linear(x, ones({2, shape.back()}).to(dtype).to(device), ones({2}).to(dtype).to(device));
        });
        answers("cross_entropy", [&] {
          ops::cross_entropy(ones({shape[0], shape[1]}).to(device),
                             zeros({shape[0]}, TensorOptions().dtype(DType::Int64)).to(device));
        });
        for (const bool train : {true, false}) {
          answers("batch_norm", [&] {
            std::unique_ptr<nn::BatchNormBase> bn;
            const nn::BatchNormOptions options(shape[1]);
            if (rank <= 3)
              bn = std::make_unique<nn::BatchNorm1d>(options);
            else if (rank == 4)
              bn = std::make_unique<nn::BatchNorm2d>(options);
            else
              bn = std::make_unique<nn::BatchNorm3d>(options);
            bn->to(device);
            if (!train) bn->eval();
            const Tensor y = bn->forward(x);
            same_shape(y);
            same_shape(bn->backward(ones(shape).to(y.memory_format()).to(dtype).to(device)));
          });
        }
      }
      if (rank < 3) continue;
      const int spatial = static_cast<int>(rank) - 2;
      ops::PoolParams window;
      window.kernel_size = {1};
      answers("max_pool", [&] {
        const auto r = ops::max_pool(x, spatial, window);
        same_shape(ops::max_pool_backward(ones(r.output.sizes()).to(dtype).to(device), x, r.indices, spatial, window));
      });
      answers("avg_pool", [&] {
        const Tensor y = ops::avg_pool(x, spatial, window);
        same_shape(ops::avg_pool_backward(ones(y.sizes()).to(dtype).to(device), x, spatial, window));
      });
      for (const int64_t out : {0, 1, 2}) {
        answers("adaptive_avg_pool", [&] {
          const Tensor y = ops::adaptive_avg_pool(x, spatial, {out});
          same_shape(ops::adaptive_avg_pool_backward(ones(y.sizes()).to(dtype).to(device), x, spatial));
        });
        answers("adaptive_max_pool", [&] {
          const auto r = ops::adaptive_max_pool(x, spatial, {out});
          same_shape(
              ops::adaptive_max_pool_backward(ones(r.output.sizes()).to(dtype).to(device), x, r.indices, spatial));
        });
      }
      answers("interpolate", [&] {
        ops::InterpolateOptions twice;
        twice.scale_factor(2.0);
        same_shape(ops::interpolate_backward(ops::interpolate(x, twice), shape, twice));
      });
      answers("pad", [&] {
        same_shape(ops::pad_backward(ops::pad(x, {1, 1}), shape, {1, 1}, ops::PadMode::Constant));
      });
      answers("conv", [&] {
        Shape weight_shape{2, shape[1]};
        weight_shape.insert(weight_shape.end(), static_cast<std::size_t>(spatial), 1);
        const Tensor weight = ones(weight_shape).to(dtype).to(device);
        const Tensor y = ops::conv(x, weight, ones({2}).to(dtype).to(device));
        Tensor grad_weight, grad_bias;
        same_shape(ops::conv_backward(ones(y.sizes()).to(y.memory_format()).to(dtype).to(device), x, weight, {},
                                      &grad_weight, &grad_bias));
      });
      answers("channel_shuffle", [&] { same_shape(ops::channel_shuffle(x, 1)); });
    }
  }
}

}  // namespace normrt::testing
