// SyncBatchNorm on the in-process group (ranks as threads): each rank normalises its share of a batch with the
// global batch's statistics. Checked against single-process BatchNorm on the whole batch (bit for bit with one
// rank), with uneven and empty shares, means far from zero, both momentum modes; the failures that must leave the
// running statistics untouched on every rank.
#include <mutex>

#include "dist_test_util.h"
#include "sync_batchnorm_module_scenario.h"
#include "test_util.h"

namespace normrt {
namespace {

using testing::all_close;
using testing::run_ranks;

struct Split {
  Shape shape;                 // the whole batch
  std::vector<int64_t> shares;  // batch rows per rank, in rank order
  double offset;               // added to every input (means far from zero)
  std::optional<double> momentum;
};

std::string label(const Split& s) {
  std::string out = shape_str(s.shape) + " over";
  for (int64_t n : s.shares) out += " " + std::to_string(n);
  return out + (s.momentum ? "" : ", momentum=None") + (s.offset != 0 ? ", offset " + std::to_string(s.offset) : "");
}

// What one rank ends with.
struct RankResult {
  ops::BatchNormForwardResult forward;
  ops::BatchNormBackwardResult backward;
  Tensor running_mean, running_var, num_batches_tracked;
};

TEST(SyncBatchNorm, RanksTogetherComputeTheWholeBatchsBatchNorm) {
  const std::vector<Split> splits = {
      {{10, 5}, {10}, 0, 0.1},           {{10, 5}, {4, 6}, 0, 0.1},
      {{10, 5}, {3, 0, 7}, 0, std::nullopt}, {{3, 4}, {1, 1, 1}, 0, 0.1},
      {{7, 3, 5, 4}, {7}, 0, 0.1},       {{7, 3, 5, 4}, {2, 5}, 0, std::nullopt},
      {{7, 3, 5, 4}, {0, 7, 0}, 0, 0.1}, {{6, 1, 33}, {1, 2, 3}, 1e4, 0.1},
      {{5, 2, 3, 2, 3}, {3, 2}, -50, 0.3}};
  for (const Split& s : splits) {
    SCOPED_TRACE(label(s));
    const int64_t C = s.shape[1];
    Generator gen(11);
    const Tensor x = randn(s.shape, gen) + s.offset, dy = randn(s.shape, gen);
    const Tensor w = rand({C}, gen) + 0.5, b = randn({C}, gen);
    const Tensor rm0 = randn({C}, gen), rv0 = rand({C}, gen) + 0.5;
    Tensor rm = rm0.clone(), rv = rv0.clone(), nbt = zeros({}, TensorOptions().dtype(DType::Int64));
    const auto ref = ops::batch_norm_forward_training(x, w, b, rm, rv, nbt, s.momentum, 1e-5);
    const auto ref_back = ops::batch_norm_backward(dy, x, w, ref.save_mean, ref.save_invstd, true, 1e-5);

    const int ranks = static_cast<int>(s.shares.size());
    dist::InProcessWorld world(ranks);
    std::vector<RankResult> results(static_cast<std::size_t>(ranks));
    const auto errors = run_ranks(world, [&](dist::ProcessGroup& group) {
      const int r = group.rank();
      int64_t start = 0;
      for (int q = 0; q < r; ++q) start += s.shares[q];
      const Tensor xs = ops::narrow(x, 0, start, s.shares[r]), dys = ops::narrow(dy, 0, start, s.shares[r]);
      RankResult& out = results[static_cast<std::size_t>(r)];
      out.running_mean = rm0.clone();
      out.running_var = rv0.clone();
      out.num_batches_tracked = zeros({}, TensorOptions().dtype(DType::Int64));
      out.forward = ops::sync_batch_norm_forward(xs, w, b, out.running_mean, out.running_var, out.num_batches_tracked,
                                                 s.momentum, 1e-5, group);
      out.backward = ops::sync_batch_norm_backward(dys, xs, w, out.forward.save_mean, out.forward.save_invstd, group);
    });
    for (const std::string& e : errors) ASSERT_EQ(e, "");

    std::vector<Tensor> outputs, grads;
    std::vector<float> grad_weight(static_cast<std::size_t>(C), 0.0f), grad_bias = grad_weight;
    for (const RankResult& r : results) {
      outputs.push_back(r.forward.output);
      grads.push_back(r.backward.grad_input);
      for (int64_t c = 0; c < C; ++c) {
        grad_weight[c] += r.backward.grad_weight.to_vector()[c];
        grad_bias[c] += r.backward.grad_bias.to_vector()[c];
      }
      // Every rank holds the same statistics and running statistics, to the bit.
      EXPECT_EQ(r.forward.save_mean.to_vector(), results[0].forward.save_mean.to_vector());
      EXPECT_EQ(r.forward.save_invstd.to_vector(), results[0].forward.save_invstd.to_vector());
      EXPECT_EQ(r.running_mean.to_vector(), results[0].running_mean.to_vector());
      EXPECT_EQ(r.running_var.to_vector(), results[0].running_var.to_vector());
      EXPECT_EQ(r.num_batches_tracked.item<int64_t>(), 1);
    }
    const RankResult& first = results[0];
    const Tensor y = ops::cat(outputs, 0), dx = ops::cat(grads, 0);
    if (ranks == 1) {
      EXPECT_EQ(y.to_vector(), ref.output.to_vector());
      EXPECT_EQ(first.forward.save_mean.to_vector(), ref.save_mean.to_vector());
      EXPECT_EQ(first.forward.save_invstd.to_vector(), ref.save_invstd.to_vector());
      EXPECT_EQ(first.running_mean.to_vector(), rm.to_vector());
      EXPECT_EQ(first.running_var.to_vector(), rv.to_vector());
      EXPECT_EQ(dx.to_vector(), ref_back.grad_input.to_vector());
      EXPECT_EQ(grad_weight, ref_back.grad_weight.to_vector());
      EXPECT_EQ(grad_bias, ref_back.grad_bias.to_vector());
      continue;
    }
    EXPECT_TRUE(all_close(y.to_vector(), ref.output.to_vector(), 1e-5, 1e-5));
    // The mean of data offset far from zero: its rounding error scales with the data.
    EXPECT_TRUE(all_close(first.forward.save_mean.to_vector(), ref.save_mean.to_vector(), 1e-6, 1e-7));
    EXPECT_TRUE(all_close(first.forward.save_invstd.to_vector(), ref.save_invstd.to_vector(), 1e-5, 0));
    EXPECT_TRUE(all_close(first.running_mean.to_vector(), rm.to_vector(), 1e-6, 1e-7));
    EXPECT_TRUE(all_close(first.running_var.to_vector(), rv.to_vector(), 1e-5, 0));
    EXPECT_TRUE(all_close(dx.to_vector(), ref_back.grad_input.to_vector(), 1e-4, 1e-5));
    EXPECT_TRUE(all_close(grad_weight, ref_back.grad_weight.to_vector(), 1e-4, 1e-5));
    EXPECT_TRUE(all_close(grad_bias, ref_back.grad_bias.to_vector(), 1e-5, 1e-6));
  }
}

// 16-bit channels-last shares: computed in float32, each output rounded once to the input's dtype and format, as
// the single-process op does; they agree to a unit in the last place of bfloat16.
TEST(SyncBatchNorm, SixteenBitChannelsLastSharesAsTheWholeBatch) {
  Generator gen(9);
  const Tensor x = (randn({6, 4, 3, 5}, gen) * 2.0 + 1.0).to(DType::BFloat16).to(MemoryFormat::ChannelsLast);
  const Tensor dy = randn({6, 4, 3, 5}, gen).to(DType::BFloat16).to(MemoryFormat::ChannelsLast);
  const Tensor w = rand({4}, gen) + 0.5, b = randn({4}, gen);
  const auto ref = ops::batch_norm_forward_training(x, w, b, Tensor(), Tensor(), Tensor(), 0.1, 1e-5);
  const auto ref_back = ops::batch_norm_backward(dy, x, w, ref.save_mean, ref.save_invstd, true, 1e-5);
  dist::InProcessWorld world(2);
  std::vector<Tensor> outputs(2), grads(2);
  const auto errors = run_ranks(world, [&](dist::ProcessGroup& group) {
    const int r = group.rank();
    const Tensor xs = ops::narrow(x, 0, 4 * r, r == 0 ? 4 : 2), dys = ops::narrow(dy, 0, 4 * r, r == 0 ? 4 : 2);
    const auto f = ops::sync_batch_norm_forward(xs, w, b, Tensor(), Tensor(), Tensor(), 0.1, 1e-5, group);
    const auto g = ops::sync_batch_norm_backward(dys, xs, w, f.save_mean, f.save_invstd, group);
    EXPECT_EQ(f.output.dtype(), DType::BFloat16);
    EXPECT_EQ(g.grad_input.dtype(), DType::BFloat16);
    EXPECT_EQ(g.grad_weight.dtype(), DType::Float32);
    outputs[static_cast<std::size_t>(r)] = f.output.to(DType::Float32);
    grads[static_cast<std::size_t>(r)] = g.grad_input.to(DType::Float32);
  });
  for (const std::string& e : errors) ASSERT_EQ(e, "");
  const double ulp = 1.0 / 128;
  EXPECT_TRUE(all_close(ops::cat(outputs, 0).to_vector(), ref.output.to(DType::Float32).to_vector(), ulp, ulp / 8));
  EXPECT_TRUE(all_close(ops::cat(grads, 0).to_vector(), ref_back.grad_input.to(DType::Float32).to_vector(), ulp,
                        ulp / 8));
}

// One rank on every element type, memory format and fusion: the stages take the elements as they are and give the
// single-process op's bits (outputs, the residual's gradient, the statistics).
TEST(SyncBatchNorm, OneRankIsBatchNormBitForBitInEveryDtypeFormatAndFusion) {
  const std::vector<Shape> shapes = {{37, 70}, {3, 5, 4, 6}, {2, 3, 45, 50}};
  for (const Shape& shape : shapes) {
    for (DType dtype : {DType::Float32, DType::Float16, DType::BFloat16}) {
      for (MemoryFormat format : {MemoryFormat::Contiguous, MemoryFormat::ChannelsLast}) {
        if (format == MemoryFormat::ChannelsLast && shape.size() != 4) continue;
        for (int fusion = 0; fusion < 3; ++fusion) {  // none, ReLU, residual + ReLU
          SCOPED_TRACE(shape_str(shape) + " " + dtype_name(dtype) +
                       (format == MemoryFormat::ChannelsLast ? " NHWC" : "") + " fusion " + std::to_string(fusion));
          Generator gen(5);
          const int64_t C = shape[1];
          auto operand = [&](double offset) { return (randn(shape, gen) + offset).to(dtype).to(format); };
          const Tensor x = operand(3.0), dy = operand(0.0), z = operand(-0.5);
          const Tensor w = rand({C}, gen) + 0.5, b = randn({C}, gen);
          ops::BatchNormEpilogue epilogue{fusion == 2 ? z : Tensor(), fusion > 0};
          Tensor rm = zeros({C}), rv = ones({C}), nbt = zeros({}, TensorOptions().dtype(DType::Int64));
          const auto ref = ops::batch_norm_forward_training(x, w, b, rm, rv, nbt, 0.1, 1e-5, std::nullopt, epilogue);
          // Both backwards centred on their forward's low part of the mean, as the modules run them.
          ops::BatchNormBackwardEpilogue back{fusion > 0 ? ref.output : Tensor(), fusion == 2};
          back.mean_low = ref.save_mean_low;
          const auto ref_back =
              ops::batch_norm_backward(dy, x, w, ref.save_mean, ref.save_invstd, true, 1e-5, std::nullopt, back);

          dist::InProcessWorld world(1);
          Tensor srm = zeros({C}), srv = ones({C}), snbt = zeros({}, TensorOptions().dtype(DType::Int64));
          const auto f = ops::sync_batch_norm_forward(x, w, b, srm, srv, snbt, 0.1, 1e-5, world.group(0), epilogue);
          back.relu_output = fusion > 0 ? f.output : Tensor();
          back.mean_low = f.save_mean_low;
          const auto g =
              ops::sync_batch_norm_backward(dy, x, w, f.save_mean, f.save_invstd, world.group(0), back);
          EXPECT_EQ(f.output.dtype(), dtype);
          EXPECT_EQ(f.output.memory_format(), format);
          EXPECT_EQ(g.grad_input.memory_format(), format);
          auto bits = [](const Tensor& t) { return t.to(DType::Float32).to(MemoryFormat::Contiguous).to_vector(); };
          EXPECT_TRUE(testing::same_bits(bits(f.output), bits(ref.output)));
          EXPECT_TRUE(testing::same_bits(f.save_mean.to_vector(), ref.save_mean.to_vector()));
          EXPECT_TRUE(testing::same_bits(f.save_invstd.to_vector(), ref.save_invstd.to_vector()));
          EXPECT_TRUE(testing::same_bits(f.save_mean_low.to_vector(), ref.save_mean_low.to_vector()));
          EXPECT_TRUE(testing::same_bits(srm.to_vector(), rm.to_vector()));
          EXPECT_TRUE(testing::same_bits(srv.to_vector(), rv.to_vector()));
          EXPECT_TRUE(testing::same_bits(bits(g.grad_input), bits(ref_back.grad_input)));
          EXPECT_TRUE(testing::same_bits(g.grad_weight.to_vector(), ref_back.grad_weight.to_vector()));
          EXPECT_TRUE(testing::same_bits(g.grad_bias.to_vector(), ref_back.grad_bias.to_vector()));
          ASSERT_EQ(g.grad_residual.defined(), fusion == 2);
          if (fusion == 2) EXPECT_TRUE(testing::same_bits(bits(g.grad_residual), bits(ref_back.grad_residual)));
        }
      }
    }
  }
}

// Refusals that every rank sees alike (no rank waits for another) and that change nothing.
TEST(SyncBatchNorm, RefusalsReachEveryRankAndLeaveTheRunningStatisticsAlone) {
  struct Case {
    std::vector<Shape> shapes;  // per rank
    std::string error;
  };
  const std::vector<Case> cases = {
      {{{4, 3}, {4, 5}}, "all_gather"},  // channels differ between ranks
      {{{1, 3}, {0, 3}}, "Expected more than 1 value per channel when training"},
      {{{1, 2, 1}, {0, 2, 1}, {0, 2, 1}}, "1 value per channel over the 3 ranks"}};
  for (const Case& k : cases) {
    dist::InProcessWorld world(static_cast<int>(k.shapes.size()), std::chrono::seconds(20));
    std::mutex mutex;
    std::vector<std::vector<float>> after;
    const auto errors = run_ranks(world, [&](dist::ProcessGroup& group) {
      const Shape& shape = k.shapes[static_cast<std::size_t>(group.rank())];
      Tensor rm = zeros({shape[1]}), rv = ones({shape[1]}), nbt = zeros({}, TensorOptions().dtype(DType::Int64));
      try {
        ops::sync_batch_norm_forward(full(shape, 2.0f), Tensor(), Tensor(), rm, rv, nbt, 0.1, 1e-5, group);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        after.push_back(rm.to_vector());
        after.back().push_back(rv.to_vector()[0]);
        after.back().push_back(static_cast<float>(nbt.item<int64_t>()));
        throw;
      }
    });
    for (std::size_t r = 0; r < errors.size(); ++r)
      EXPECT_NE(errors[r].find(k.error), std::string::npos) << "rank " << r << ": " << errors[r];
    ASSERT_EQ(after.size(), k.shapes.size());
    for (const auto& values : after) {
      for (std::size_t i = 0; i + 2 < values.size(); ++i) EXPECT_EQ(values[i], 0.0f);
      EXPECT_EQ(values[values.size() - 2], 1.0f);  // running_var[0]
      EXPECT_EQ(values.back(), 0.0f);              // num_batches_tracked
    }
  }
  dist::InProcessWorld world(1);
  EXPECT_TRUE(testing::throws_with(
      [&] { ops::sync_batch_norm_forward(ones({4, 2}), ones({2}).to(DType::Float16), Tensor(), Tensor(), Tensor(),
                                         Tensor(), 0.1, 1e-5, world.group(0)); },
      "weight must be float32"));
}

TEST(SyncBatchNorm, TheModuleMatchesBatchNormOnTheWholeBatch) {
  testing::check_sync_batchnorm_module_on(Device::cpu());
}

// A network built for one process, converted: a residual block whose body ends in a BatchNorm (the fused block end,
// forward_add) and a BatchNorm with its own fused ReLU. Replicas on three ranks, one with an empty share, against
// the unconverted network on the whole batch.
std::shared_ptr<nn::Sequential> residual_network() {
  auto body = std::make_shared<nn::Sequential>();
  body->push_back(nn::BatchNorm2d(3));
  auto block = std::make_shared<nn::Residual>(body);
  block->relu();
  auto net = std::make_shared<nn::Sequential>();
  net->push_back(block);
  net->push_back(nn::BatchNorm2d(nn::BatchNormOptions(3).relu(true).momentum(std::nullopt)));
  return net;
}

TEST(SyncBatchNorm, ConvertedNetworksComputeWhatTheWholeBatchDoes) {
  Generator gen(8);
  const Tensor x = randn({7, 3, 3, 3}, gen) - 1.0, dy = randn({7, 3, 3, 3}, gen);
  const auto reference = residual_network();
  nn::Context ref_ctx;
  const Tensor y_ref = reference->forward(x, ref_ctx), dx_ref = reference->backward(dy, ref_ctx);

  const std::vector<int64_t> shares = {3, 0, 4}, starts = {0, 3, 3};
  dist::InProcessWorld world(3);
  std::vector<std::shared_ptr<nn::Module>> replicas(3);
  std::vector<Tensor> outputs(3), grads(3);
  const auto errors = run_ranks(world, [&](dist::ProcessGroup& group) {
    const auto r = static_cast<std::size_t>(group.rank());
    const auto net = residual_network();
    const Tensor weight_before = net->named_parameters()[0].second;
    replicas[r] = nn::convert_sync_batchnorm(net, group);
    ASSERT_EQ(replicas[r], net);
    ASSERT_TRUE(replicas[r]->named_parameters()[0].second.is_same(weight_before));
    nn::Context ctx;
    const Tensor xs = ops::narrow(x, 0, starts[r], shares[r]), dys = ops::narrow(dy, 0, starts[r], shares[r]);
    outputs[r] = replicas[r]->forward(xs, ctx);
    grads[r] = replicas[r]->backward(dys, ctx);
  });
  for (const std::string& e : errors) ASSERT_EQ(e, "");
  EXPECT_TRUE(all_close(ops::cat(outputs, 0).to_vector(), y_ref.to_vector(), 1e-5, 1e-5));
  EXPECT_TRUE(all_close(ops::cat(grads, 0).to_vector(), dx_ref.to_vector(), 1e-4, 1e-5));
  const auto ref_state = reference->state_dict();
  for (const auto& replica : replicas) {
    int synced = 0;
    for (const auto& [name, module] : replica->named_modules()) synced += module->name() == "SyncBatchNorm";
    EXPECT_EQ(synced, 2);
    const auto state = replica->state_dict();
    ASSERT_EQ(state.size(), ref_state.size());
    for (std::size_t i = 0; i < state.size(); ++i) {
      EXPECT_EQ(state[i].first, ref_state[i].first);
      if (state[i].second.dtype() == DType::Int64) {
        EXPECT_EQ(state[i].second.to_vector<int64_t>(), ref_state[i].second.to_vector<int64_t>()) << state[i].first;
        continue;
      }
      EXPECT_TRUE(all_close(state[i].second.to_vector(), ref_state[i].second.to_vector(), 1e-5, 1e-6))
          << state[i].first;
    }
  }
  const auto ref_params = reference->named_parameters();
  for (std::size_t i = 0; i < ref_params.size(); ++i) {
    Tensor sum = zeros(ref_params[i].second.sizes());
    for (const auto& replica : replicas) sum = sum + replica->named_parameters()[i].second.grad();
    EXPECT_TRUE(all_close(sum.to_vector(), ref_params[i].second.grad().to_vector(), 1e-4, 1e-5))
        << ref_params[i].first;
  }
  dist::InProcessWorld single(1);
  EXPECT_EQ(nn::convert_sync_batchnorm(std::make_shared<nn::BatchNorm1d>(4), single.group(0))->name(),
            "SyncBatchNorm");
}

}  // namespace
}  // namespace normrt
