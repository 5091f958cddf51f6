// Zero-size dimensions through every op family, on one device (the CPU suite and the GPU suites call these).
// BatchNorm: inputs with an empty dimension, batch or not, in training and eval, forward and backward: PyTorch
// returns empty outputs and input gradients, zero weight/bias gradients, leaves the running statistics alone and
// still counts the batch. (The CPU backend divided by the spatial size, 0, before.)
#pragma once
#include "test_util.h"

namespace normrt::testing {

inline void check_empty_shapes_on(const Device& device) {
  const std::vector<Shape> shapes = {{2, 3, 0}, {3, 3, 0, 4}, {2, 3, 0, 0, 1}, {0, 3}, {0, 3, 5}, {4, 3, 2, 0, 2}};
  for (const Shape& shape : shapes) {
    for (bool training : {true, false}) {
      SCOPED_TRACE(shape_str(shape) + (training ? " training" : " eval"));
      std::unique_ptr<nn::BatchNormBase> bn;
      if (shape.size() == 2 || shape.size() == 3) bn = std::make_unique<nn::BatchNorm1d>(3);
      if (shape.size() == 4) bn = std::make_unique<nn::BatchNorm2d>(3);
      if (shape.size() == 5) bn = std::make_unique<nn::BatchNorm3d>(3);
      bn->to(device);
      bn->train(training);
      const Tensor y = bn->forward(zeros(shape, device));
      EXPECT_EQ(y.sizes(), shape);
      const Tensor dx = bn->backward(zeros(shape, device));
      EXPECT_EQ(dx.sizes(), shape);
      EXPECT_EQ(bn->weight.grad().to_vector(), std::vector<float>(3, 0.0f));
      EXPECT_EQ(bn->bias.grad().to_vector(), std::vector<float>(3, 0.0f));
      EXPECT_EQ(bn->running_mean.to_vector(), std::vector<float>(3, 0.0f));
      EXPECT_EQ(bn->running_var.to_vector(), std::vector<float>(3, 1.0f));
      EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), training ? 1 : 0);
    }
  }
}

// The layers, losses and optimizers: empty sums are 0, empty means NaN (PyTorch's mean of nothing), and shapes
// carry through.
inline void check_empty_nn_ops_on(const Device& device) {
  const float nan = std::nanf("");
  auto z = [&](const Shape& s) { return zeros(s, device); };
  {
    SCOPED_TRACE("Linear with no input features: the output is the bias");
    nn::Linear lin(0, 3);
    lin.to(device);
    const Tensor y = lin.forward(z({4, 0}));
    std::vector<float> expected;
    for (int i = 0; i < 4; ++i)
      for (float b : lin.bias.to_vector()) expected.push_back(b);
    EXPECT_EQ(y.to_vector(), expected);
    EXPECT_EQ(lin.backward(ones({4, 3}, device)).sizes(), (Shape{4, 0}));
    EXPECT_EQ(lin.weight.grad().sizes(), (Shape{3, 0}));
    EXPECT_EQ(lin.bias.grad().to_vector(), std::vector<float>(3, 4.0f));
  }
  {
    SCOPED_TRACE("Linear with no outputs");
    nn::Linear lin(5, 0);
    lin.to(device);
    EXPECT_EQ(lin.forward(ones({4, 5}, device)).sizes(), (Shape{4, 0}));
    EXPECT_EQ(lin.backward(z({4, 0})).to_vector(), std::vector<float>(20, 0.0f));
    EXPECT_EQ(lin.weight.grad().sizes(), (Shape{0, 5}));
  }
  {
    SCOPED_TRACE("Linear on an empty batch");
    nn::Linear lin(5, 3);
    lin.to(device);
    EXPECT_EQ(lin.forward(z({0, 5})).sizes(), (Shape{0, 3}));
    EXPECT_EQ(lin.backward(z({0, 3})).sizes(), (Shape{0, 5}));
    EXPECT_EQ(lin.weight.grad().to_vector(), std::vector<float>(15, 0.0f));
    EXPECT_EQ(lin.bias.grad().to_vector(), std::vector<float>(3, 0.0f));
  }
  for (const Shape& shape : {Shape{0, 7}, Shape{3, 0}}) {
    SCOPED_TRACE("activations and softmax on " + shape_str(shape));
    for (auto kind : {ops::Activation::ReLU, ops::Activation::Sigmoid, ops::Activation::Tanh}) {
      const Tensor y = ops::activation(kind, z(shape));
      EXPECT_EQ(ops::activation_backward(kind, z(shape), y).sizes(), shape);
    }
    for (bool log : {false, true}) {
      const Tensor y = ops::softmax(z(shape), log);
      EXPECT_EQ(ops::softmax_backward(z(shape), y, log).sizes(), shape);
    }
    EXPECT_EQ(ops::dropout(z(shape), 0.5, 1, 0).sizes(), shape);
  }
  // PReLU with a weight per channel: empty outputs and input gradients, zero weight gradients, as PyTorch's (the CPU
  // path divided by a run length of 0 before: an OpenMP loop's trip count).
  for (const Shape& shape : {Shape{0, 3}, Shape{2, 0}, Shape{2, 3, 0}, Shape{0, 3, 4, 5}, Shape{2, 0, 4, 5}}) {
    for (bool channels_last : {false, true}) {
      if (channels_last && shape.size() != 4) continue;
      SCOPED_TRACE("prelu on " + shape_str(shape) + (channels_last ? " channels-last" : ""));
      const Tensor x = channels_last ? z(shape).to(MemoryFormat::ChannelsLast) : z(shape);
      const Tensor weight = ones({shape[1]}, device);
      EXPECT_EQ(ops::prelu(x, weight).sizes(), shape);
      const ops::PReLUGradients g = ops::prelu_backward(x, x, weight);
      EXPECT_EQ(g.grad_input.sizes(), shape);
      EXPECT_EQ(g.grad_weight.to_vector(), std::vector<float>(static_cast<std::size_t>(shape[1]), 0.0f));
    }
  }
  {
    SCOPED_TRACE("losses over no samples");
    const Tensor no_targets = zeros({0}, TensorOptions(device).dtype(DType::Int64));
    const auto mean = ops::cross_entropy(z({0, 4}), no_targets, ops::Reduction::Mean);
    EXPECT_TRUE(std::isnan(mean.loss.item<float>()));
    EXPECT_EQ(mean.grad_input.sizes(), (Shape{0, 4}));
    EXPECT_EQ(ops::cross_entropy(z({0, 4}), no_targets, ops::Reduction::Sum).loss.item<float>(), 0.0f);
    EXPECT_EQ(ops::count_correct(z({0, 4}), no_targets).item<int64_t>(), 0);
    EXPECT_TRUE(std::isnan(ops::mse_loss(z({0, 3}), z({0, 3})).loss.item<float>()));
    EXPECT_EQ(ops::mse_loss(z({0, 3}), z({0, 3}), ops::Reduction::Sum).loss.item<float>(), 0.0f);
    (void)nan;
  }
  {
    SCOPED_TRACE("optimizer steps over empty parameters");
    Tensor p = z({0, 3}), q = ones({2}, device);
    p.mutable_grad() = z({0, 3});
    q.mutable_grad() = ones({2}, device);
    optim::Adam adam({p, q}, optim::AdamOptions(0.1));
    adam.step();
    EXPECT_EQ(p.numel(), 0);
    EXPECT_TRUE(all_close(q.to_vector(), std::vector<double>(2, 1.0 - 0.1 / (1.0 + 1e-8)), 1e-6, 0.0));
  }
}

}  // namespace normrt::testing
