// Parameter groups, learning-rate schedulers and clip_grad_norm_ against PyTorch (tests/golden/make_golden_optim.py
// wrote data_optim/cases.json with torch.optim and torch.nn.utils in PyTorch 1.13).

#include <nlohmann/json.hpp>

#include "golden_manifest.h"
#include "test_util.h"

namespace normrt {
namespace {

using testing::all_close;
using testing::throws_with;

const nlohmann::json& cases() {
  static const nlohmann::json c = testing::read_manifest(testing::golden_sibling_dir("data_optim") + "/cases.json");
  return c;
}

std::vector<float> floats(const nlohmann::json& j) { return j.get<std::vector<float>>(); }

// Two groups as the script builds them: w (3, 4) with the optimizer's options, b (4) with lr 0.05 and no decay.
void run_groups_case(const std::string& name, const std::function<std::unique_ptr<optim::Optimizer>(
                                                  std::vector<optim::ParamGroup>)>& make) {
  SCOPED_TRACE(name);
  const auto& c = cases()[name];
  Tensor w = from_vector(floats(c["start"]["w"]), {3, 4}), b = from_vector(floats(c["start"]["b"]), {4});
  auto opt = make({optim::ParamGroup({w}), optim::ParamGroup({b}).lr(0.05).weight_decay(0.0)});
  for (std::size_t step = 0; step < c["grads"].size(); ++step) {
    w.mutable_grad() = from_vector(floats(c["grads"][step]["w"]), {3, 4});
    b.mutable_grad() = from_vector(floats(c["grads"][step]["b"]), {4});
    opt->step();
    EXPECT_TRUE(all_close(w.to_vector(), c["trajectory"][step]["w"].get<std::vector<double>>(), 1e-5, 1e-6)) << step;
    EXPECT_TRUE(all_close(b.to_vector(), c["trajectory"][step]["b"].get<std::vector<double>>(), 1e-5, 1e-6)) << step;
  }
}

TEST(OptimGolden, ParameterGroupsHaveTheirOwnHyperparameters) {
  run_groups_case("groups_sgd", [](auto groups) {
    return std::make_unique<optim::SGD>(std::move(groups), optim::SGDOptions(0.1).momentum(0.9).weight_decay(0.01));
  });
  run_groups_case("groups_adam", [](auto groups) {
    return std::make_unique<optim::Adam>(std::move(groups), optim::AdamOptions(0.01).weight_decay(0.02));
  });
  run_groups_case("groups_adamw", [](auto groups) {
    return std::make_unique<optim::AdamW>(std::move(groups), optim::AdamWOptions(0.01).weight_decay(0.02));
  });
  run_groups_case("groups_rmsprop", [](auto groups) {
    const auto options = optim::RMSpropOptions(0.01).momentum(0.9).centered(true).weight_decay(0.01);
    return std::make_unique<optim::RMSprop>(std::move(groups), options);
  });
  run_groups_case("groups_adagrad", [](auto groups) {
    const auto options = optim::AdagradOptions(0.1).lr_decay(0.1).weight_decay(0.02);
    return std::make_unique<optim::Adagrad>(std::move(groups), options);
  });
}

// Schedules over two groups (lr 0.1 and 0.3), read after each step as the script reads them.
template <typename MakeOpt, typename MakeSched>
void run_schedule_case(const std::string& name, MakeOpt make_opt, MakeSched make_sched) {
  SCOPED_TRACE(name);
  const auto& c = cases()[name];
  Tensor p0 = zeros({2}), p1 = zeros({2});
  auto opt = make_opt(std::vector<optim::ParamGroup>{optim::ParamGroup({p0}), optim::ParamGroup({p1}).lr(0.3)});
  auto sched = make_sched(*opt);
  for (std::size_t step = 0; step < c["lrs"].size(); ++step) {
    for (std::size_t g = 0; g < 2; ++g) {
      EXPECT_NEAR(opt->lr(g), c["lrs"][step][g].get<double>(), 1e-12) << "step " << step << " group " << g;
      if (c.contains("momenta"))
        EXPECT_NEAR(opt->momentum(g), c["momenta"][step][g].get<double>(), 1e-12) << "step " << step;
    }
    opt->step();
    sched->step();
  }
}

TEST(OptimGolden, SchedulersFollowPyTorchPerGroup) {
  auto sgd = [](double momentum) {
    return [momentum](std::vector<optim::ParamGroup> g) {
      return std::make_unique<optim::SGD>(std::move(g), optim::SGDOptions(0.1).momentum(momentum));
    };
  };
  run_schedule_case("sched_linear", sgd(0), [](auto& o) { return std::make_unique<optim::LinearLR>(o, 0.25, 1.0, 4); });
  run_schedule_case("sched_step", sgd(0), [](auto& o) { return std::make_unique<optim::StepLR>(o, 2, 0.5); });
  run_schedule_case("sched_cosine", sgd(0),
                    [](auto& o) { return std::make_unique<optim::CosineAnnealingLR>(o, 5, 0.01); });
  run_schedule_case("sched_multistep", sgd(0), [](auto& o) {
    return std::make_unique<optim::MultiStepLR>(o, std::vector<int64_t>{5, 2, 5}, 0.5);
  });
  run_schedule_case("sched_exponential", sgd(0),
                    [](auto& o) { return std::make_unique<optim::ExponentialLR>(o, 0.8); });
  run_schedule_case("sched_lambda", sgd(0), [](auto& o) {
    return std::make_unique<optim::LambdaLR>(
        o, std::vector<optim::LambdaLR::Lambda>{[](int64_t e) { return std::pow(0.95, static_cast<double>(e)); },
                                                [](int64_t e) { return 1.0 / static_cast<double>(e + 1); }});
  });
  run_schedule_case("sched_constant", sgd(0), [](auto& o) { return std::make_unique<optim::ConstantLR>(o, 0.5, 3); });
  run_schedule_case("sched_polynomial", sgd(0),
                    [](auto& o) { return std::make_unique<optim::PolynomialLR>(o, 4, 2.0); });
  run_schedule_case("sched_warm_restarts", sgd(0),
                    [](auto& o) { return std::make_unique<optim::CosineAnnealingWarmRestarts>(o, 3, 2, 0.01); });
  run_schedule_case("sched_warm_restarts_fixed", sgd(0),
                    [](auto& o) { return std::make_unique<optim::CosineAnnealingWarmRestarts>(o, 4); });
  // The schedulers of a SequentialLR are built on the optimizer one after another, each from its initial lr.
  run_schedule_case("sched_sequential_warmup_cosine", sgd(0), [](auto& o) {
    auto warmup = std::make_shared<optim::LinearLR>(o, 0.1, 1.0, 3);
    auto cosine = std::make_shared<optim::CosineAnnealingLR>(o, 5);
    return std::make_unique<optim::SequentialLR>(
        o, std::vector<std::shared_ptr<optim::LRScheduler>>{warmup, cosine}, std::vector<int64_t>{3});
  });
  run_schedule_case("sched_sequential_three", sgd(0), [](auto& o) {
    std::vector<std::shared_ptr<optim::LRScheduler>> parts = {std::make_shared<optim::ConstantLR>(o, 0.5, 2),
                                                              std::make_shared<optim::ExponentialLR>(o, 0.9),
                                                              std::make_shared<optim::StepLR>(o, 2, 0.5)};
    return std::make_unique<optim::SequentialLR>(o, parts, std::vector<int64_t>{2, 5});
  });
  run_schedule_case("sched_sequential_onecycle", sgd(0.9), [](auto& o) {
    std::vector<std::shared_ptr<optim::LRScheduler>> parts = {
        std::make_shared<optim::OneCycleLR>(o, optim::OneCycleLROptions(0.4, 6)),
        std::make_shared<optim::ConstantLR>(o, 0.5, 2)};
    return std::make_unique<optim::SequentialLR>(o, parts, std::vector<int64_t>{6});
  });
  run_schedule_case(
      "sched_onecycle_rmsprop",
      [](std::vector<optim::ParamGroup> g) {
        return std::make_unique<optim::RMSprop>(std::move(g), optim::RMSpropOptions(0.1).momentum(0.9));
      },
      [](auto& o) { return std::make_unique<optim::OneCycleLR>(o, optim::OneCycleLROptions(0.3, 9)); });
  run_schedule_case("sched_onecycle_sgd", sgd(0.9), [](auto& o) {
    return std::make_unique<optim::OneCycleLR>(o, optim::OneCycleLROptions(0.1, 11).max_lrs({0.1, 0.4}));
  });
  run_schedule_case(
      "sched_onecycle_adam_linear",
      [](std::vector<optim::ParamGroup> g) {
        return std::make_unique<optim::Adam>(std::move(g), optim::AdamOptions(0.1));
      },
      [](auto& o) {
        return std::make_unique<optim::OneCycleLR>(o,
                                                   optim::OneCycleLROptions(0.2, 10).cos_anneal(false).pct_start(0.25));
      });
  run_schedule_case("sched_onecycle_three_phase", sgd(0.9), [](auto& o) {
    return std::make_unique<optim::OneCycleLR>(
        o, optim::OneCycleLROptions(0.1, 12).three_phase(true).div_factor(10.0).final_div_factor(100.0));
  });
}

// CosineAnnealingLR, then SWALR from an epoch on (torch.optim.swa_utils' example), per group.
TEST(OptimGolden, SwalrTakesOverWhereTheScheduleStopped) {
  for (const std::string name : {"swa_cos", "swa_linear_per_group", "swa_no_anneal"}) {
    SCOPED_TRACE(name);
    const auto& c = cases()[name];
    Tensor p0 = zeros({2}), p1 = zeros({2});
    optim::SGD opt({optim::ParamGroup({p0}), optim::ParamGroup({p1}).lr(0.3)}, optim::SGDOptions(0.1));
    const auto steps = static_cast<int64_t>(c["lrs"].size());
    optim::CosineAnnealingLR cosine(opt, steps);
    const std::vector<double> swa_lrs = c["swa_lr"].is_array() ? c["swa_lr"].get<std::vector<double>>()
                                                               : std::vector<double>(2, c["swa_lr"].get<double>());
    optim::swa_utils::SWALR swa(opt, swa_lrs, c["anneal_epochs"].get<int64_t>(), c["anneal_strategy"] == "cos");
    for (int64_t epoch = 0; epoch < steps; ++epoch) {
      for (std::size_t g = 0; g < 2; ++g)
        EXPECT_NEAR(opt.lr(g), c["lrs"][epoch][g].get<double>(), 1e-12) << "epoch " << epoch << " group " << g;
      if (epoch > c["switch"].get<int64_t>()) swa.step();
      else cosine.step();
    }
  }
  Tensor p = zeros({1});
  optim::SGD opt({p}, optim::SGDOptions(0.1));
  EXPECT_TRUE(throws_with([&] { optim::swa_utils::SWALR(opt, std::vector<double>{0.1, 0.2}); },
                          "swa_lr must have the same length as optimizer.param_groups: swa_lr has 2, "
                          "optimizer.param_groups has 1"));
  EXPECT_TRUE(throws_with([&] { optim::swa_utils::SWALR(opt, 0.1, -1); },
                          "anneal_epochs must be equal or greater than 0, got -1"));
}

TEST(OptimGolden, ReduceLROnPlateau) {
  for (const auto& [name, options] :
       {std::make_pair(std::string("plateau_min_rel"),
                       optim::ReduceLROnPlateauOptions().patience(2).factor(0.5).cooldown(1)),
        std::make_pair(std::string("plateau_max_abs"), optim::ReduceLROnPlateauOptions()
                                                           .maximize(true)
                                                           .relative_threshold(false)
                                                           .patience(1)
                                                           .factor(0.1)
                                                           .threshold(0.02)
                                                           .min_lr(0.005))}) {
    SCOPED_TRACE(name);
    const auto& c = cases()[name];
    Tensor p = zeros({1});
    optim::SGD opt({p}, optim::SGDOptions(1.0));
    optim::ReduceLROnPlateau sched(opt, options);
    for (std::size_t i = 0; i < c["metrics"].size(); ++i) {
      sched.step(c["metrics"][i].get<double>());
      EXPECT_NEAR(opt.lr(), c["lrs"][i].get<double>(), 1e-12) << "step " << i;
    }
  }
}

TEST(OptimGolden, ClipGradNorm) {
  for (const std::string name : {"clip_2", "clip_inf", "clip_3_no_change"}) {
    SCOPED_TRACE(name);
    const auto& c = cases()[name];
    std::vector<Tensor> params = {zeros({5, 3}), zeros({7})};
    for (std::size_t i = 0; i < params.size(); ++i)
      params[i].mutable_grad() = from_vector(floats(c["grads"][i]), params[i].sizes());
    const double norm_type = c["norm_type"].is_string() ? INFINITY : c["norm_type"].get<double>();
    const double total = nn::utils::clip_grad_norm_(params, c["max_norm"].get<double>(), norm_type);
    EXPECT_NEAR(total, c["total_norm"].get<double>(), 1e-6 * c["total_norm"].get<double>());
    for (std::size_t i = 0; i < params.size(); ++i)
      EXPECT_TRUE(all_close(params[i].grad().to_vector(), c["clipped"][i].get<std::vector<double>>(), 1e-6, 1e-7));
  }
}

// torch.nn.utils.clip_grad_value_([p], 1.0) and (-1.0) on [-3, -0.5, nan, 0.7, 2] in PyTorch 1.13:
// [-1, -0.5, nan, 0.7, 1] and [-1, -1, nan, -1, -1]; a parameter without a gradient is skipped.
TEST(OptimGolden, ClipGradValue) {
  Tensor p = zeros({5}), bare = zeros({2});
  const std::vector<float> grad = {-3.0f, -0.5f, NAN, 0.7f, 2.0f};
  for (const auto& [clip, expected] : {std::make_pair(1.0, std::vector<float>{-1.0f, -0.5f, NAN, 0.7f, 1.0f}),
                                       std::make_pair(-1.0, std::vector<float>{-1.0f, -1.0f, NAN, -1.0f, -1.0f})}) {
    p.mutable_grad() = from_vector(grad, {5});
    nn::utils::clip_grad_value_({p, bare}, clip);
    const auto got = p.grad().to_vector();
    for (std::size_t i = 0; i < got.size(); ++i)
      EXPECT_TRUE(got[i] == expected[i] || (std::isnan(got[i]) && std::isnan(expected[i]))) << clip << " " << i;
  }
  EXPECT_FALSE(bare.grad().defined());
}

TEST(Optim, GroupsAndSchedulersRefuseWhatPyTorchRefuses) {
  Tensor a = zeros({2}), b = zeros({2});
  EXPECT_TRUE(throws_with(
      [&] {
        optim::SGD({optim::ParamGroup({a}), optim::ParamGroup({a, b})}, optim::SGDOptions(0.1));
      },
      "some parameters appear in more than one parameter group"));
  EXPECT_TRUE(throws_with([&] { optim::SGD({optim::ParamGroup({a}).lr(-1)}, optim::SGDOptions(0.1)); },
                          "Invalid learning rate: -1"));
  optim::SGD plain({a}, optim::SGDOptions(0.1));
  EXPECT_TRUE(throws_with([&] { optim::OneCycleLR(plain, optim::OneCycleLROptions(0.1, 5)); },
                          "optimizer must support momentum with `cycle_momentum` option enabled"));
  optim::OneCycleLR cycle(plain, optim::OneCycleLROptions(0.1, 2).cycle_momentum(false));
  cycle.step();
  cycle.step();
  EXPECT_TRUE(throws_with([&] { cycle.step(); }, "Tried to step 3 times. The specified number of total steps is 2"));
  EXPECT_TRUE(throws_with([&] { optim::LinearLR(plain, 0.0); }, "Starting multiplicative factor expected"));
  EXPECT_TRUE(throws_with([&] { optim::ConstantLR(plain, 1.5); },
                          "Constant multiplicative factor expected to be between 0 and 1."));
  EXPECT_TRUE(throws_with([&] { optim::CosineAnnealingWarmRestarts(plain, 0); },
                          "Expected positive integer T_0, but got 0"));
  EXPECT_TRUE(throws_with([&] { optim::CosineAnnealingWarmRestarts(plain, 2, 0); },
                          "Expected integer T_mult >= 1, but got 0"));
  EXPECT_TRUE(throws_with([&] { optim::LambdaLR(plain, std::vector<optim::LambdaLR::Lambda>(2, nullptr)); },
                          "Expected 1 lr_lambdas, but got 2"));
  optim::SGD other({b}, optim::SGDOptions(0.1));
  auto mine = std::make_shared<optim::StepLR>(plain, 2), theirs = std::make_shared<optim::StepLR>(other, 2);
  EXPECT_TRUE(throws_with([&] { optim::SequentialLR(plain, {mine, theirs}, {2}); },
                          "Sequential Schedulers expects all schedulers to belong to the same optimizer, but got "
                          "schedulers at index 1 to be different than the optimizer passed in."));
  EXPECT_TRUE(throws_with([&] { optim::SequentialLR(plain, {mine, mine}, {}); },
                          "Sequential Schedulers expects number of schedulers provided to be one more than the number "
                          "of milestone points, but got number of schedulers 2 and the number of milestones to be "
                          "equal to 0"));
  EXPECT_TRUE(throws_with([&] { optim::ReduceLROnPlateau(plain, optim::ReduceLROnPlateauOptions().factor(1.0)); },
                          "Factor should be < 1.0."));
  b.mutable_grad() = full({2}, NAN);
  EXPECT_TRUE(throws_with([&] { nn::utils::clip_grad_norm_({b}, 1.0, 2.0, true); },
                          "The total norm of order 2.0 for gradients from `parameters` is non-finite"));
  EXPECT_TRUE(std::isnan(b.grad().to_vector()[0]));  // unchanged: still the NaN it was
}

}  // namespace
}  // namespace normrt
