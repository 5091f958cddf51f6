// Helpers shared by the test suites.
#pragma once
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "normrt/normrt.h"
#include "test_util_core.h"

namespace normrt::testing {

#ifdef NORMRT_GOLDEN_DIR
// A golden data folder beside tests/golden/data ("data_conv", ...): under $NORMRT_GOLDEN_DIR's parent when set, so
// that binaries built in one checkout run against another's data (GPU machines), else beside the one compiled in.
inline std::string golden_sibling_dir(const std::string& name) {
  const char* env = std::getenv("NORMRT_GOLDEN_DIR");
  return std::string(env != nullptr ? env : NORMRT_GOLDEN_DIR) + "/../" + name;
}
#endif

// f rounded to a floating dtype's precision, as a float (float32 itself).
inline float rounded_to_dtype(float f, DType dtype) {
  return dtype == DType::BFloat16  ? static_cast<float>(BFloat16(f))
         : dtype == DType::Float16 ? static_cast<float>(Half(f))
                                   : f;
}

// t in the channels-last format of its rank (4-d or 5-d).
inline Tensor to_channels_last(const Tensor& t) {
  return t.to(t.dim() == 4 ? MemoryFormat::ChannelsLast : MemoryFormat::ChannelsLast3d);
}

// A golden case's runner, run(false) with contiguous tensors, then run(true) with channels-last ones where
// `channels_last_too` (its input is 4-d or 5-d), each under its own trace.
template <typename Run>
void contiguous_then_channels_last(bool channels_last_too, const Run& run) {
  {
    SCOPED_TRACE("contiguous");
    run(false);
  }
  if (!channels_last_too) return;
  SCOPED_TRACE("channels-last");
  run(true);
}

inline std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }
inline std::vector<double> to_double(const Tensor& t) { return to_double(t.to_vector()); }

// <a, b> in double over the logical elements (any memory format): adjoint checks, linear losses.
inline double dot(const Tensor& a, const Tensor& b) {
  const auto u = a.to(MemoryFormat::Contiguous).to_vector(), v = b.to(MemoryFormat::Contiguous).to_vector();
  double s = 0;
  for (std::size_t i = 0; i < u.size(); ++i) s += static_cast<double>(u[i]) * v[i];
  return s;
}

// A training BatchNorm step without affine parameters or running statistics on (x, dy): y, save_mean, save_invstd
// and the input gradient, concatenated on the host (for bit-equality checks).
inline std::vector<float> batch_norm_step_bits(const Tensor& x, const Tensor& dy) {
  const auto f = ops::batch_norm_forward_training(x, Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), 0.1, 1e-5);
  const auto b = ops::batch_norm_backward(dy, x, Tensor(), f.save_mean, f.save_invstd, true, 1e-5);
  std::vector<float> all = f.output.to_vector();
  for (const Tensor* t : {&f.save_mean, &f.save_invstd, &b.grad_input}) {
    const auto v = t->to_vector();
    all.insert(all.end(), v.begin(), v.end());
  }
  return all;
}

// Runs `fn` and checks that it throws normrt::Error whose message contains `needle`.
template <typename Fn>
::testing::AssertionResult throws_with(Fn fn, const std::string& needle) {
  try {
    fn();
  } catch (const Error& e) {
    if (std::string(e.what()).find(needle) != std::string::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "message \"" << e.what() << "\" lacks \"" << needle << "\"";
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw a non-normrt exception: " << e.what();
  }
  return ::testing::AssertionFailure() << "did not throw";
}

// A parameter turned into a valid gtest name (letters, digits and '_').
inline std::string test_name(std::string name) {
  for (char& ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return name;
}

// One directory level whatever the test's name (a parameterised test's names hold '/').
inline std::string scratch_path(const ::testing::TestInfo& info) {
  return ::testing::TempDir() + "normrt_" + std::to_string(::getpid()) + "_" +
         test_name(std::string(info.test_suite_name()) + "_" + info.name());
}

// Removes a test's scratch directory when the test ends, unless it failed: then it stays to be read, and its path is
// printed.
class ScratchDirRemover : public ::testing::EmptyTestEventListener {
  void OnTestEnd(const ::testing::TestInfo& info) override {
    const std::string dir = scratch_path(info);
    std::error_code ignored;
    if (!std::filesystem::exists(dir, ignored)) return;
    if (info.result()->Failed())
      std::printf("[ scratch  ] kept %s\n", dir.c_str());
    else
      std::filesystem::remove_all(dir, ignored);
  }
};

// A directory of the running test's own (created if needed; the name holds the process id, so it starts empty),
// removed when the test passes.
inline std::string scratch_dir() {
  static const bool remover_registered = [] {
    ::testing::UnitTest::GetInstance()->listeners().Append(new ScratchDirRemover);
    return true;
  }();
  (void)remover_registered;
  const std::string dir = scratch_path(*::testing::UnitTest::GetInstance()->current_test_info());
  std::filesystem::create_directories(dir);
  return dir;
}

// Runs `fn` in a forked child whose address space may grow by at most `headroom_mb` beyond what it already has,
// and returns what happened there: the normrt::Error message, "std::exception: ..." for any other exception,
// "no exception", or "killed by signal N". A parser that allocates what a hostile header claims fails here with an
// allocation error instead of the message it should give.
template <typename Fn>
std::string run_in_child_with_memory_cap(Fn fn, std::size_t headroom_mb) {
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    long pages = 0;
    if (FILE* f = std::fopen("/proc/self/statm", "r")) {
      if (std::fscanf(f, "%ld", &pages) != 1) pages = 0;
      std::fclose(f);
    }
    const rlim_t cap = static_cast<rlim_t>(pages) * static_cast<rlim_t>(::sysconf(_SC_PAGESIZE)) +
                       (static_cast<rlim_t>(headroom_mb) << 20);
    const struct rlimit limit = {cap, cap};
    ::setrlimit(RLIMIT_AS, &limit);
    std::string result = "no exception";
    try {
      fn();
    } catch (const Error& e) {
      result = e.what();
    } catch (const std::exception& e) {
      result = std::string("std::exception: ") + e.what();
    }
    const ssize_t n = ::write(fds[1], result.data(), result.size());
    ::_exit(n == static_cast<ssize_t>(result.size()) ? 0 : 1);
  }
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return out;
}

// One of each optimizer, with options that reach every branch of its update (momentum with dampening, Nesterov,
// coupled and decoupled weight decay, AMSGrad), for tests that step the same parameters two ways and compare.
using OptimizerMaker = std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>;
inline std::vector<std::pair<std::string, OptimizerMaker>> one_of_each_optimizer() {
  return {{"sgd",
           [](std::vector<Tensor> p) {
             const auto options = optim::SGDOptions(0.1).momentum(0.9).dampening(0.1).weight_decay(0.01);
             return std::make_unique<optim::SGD>(std::move(p), options);
           }},
          {"sgd-nesterov",
           [](std::vector<Tensor> p) {
             return std::make_unique<optim::SGD>(std::move(p), optim::SGDOptions(0.1).momentum(0.9).nesterov(true));
           }},
          {"adam",
           [](std::vector<Tensor> p) {
             return std::make_unique<optim::Adam>(std::move(p), optim::AdamOptions(0.01).weight_decay(0.1));
           }},
          {"adamw",
           [](std::vector<Tensor> p) {
             return std::make_unique<optim::AdamW>(std::move(p), optim::AdamWOptions(0.01).weight_decay(0.1));
           }},
          {"adam-amsgrad",
           [](std::vector<Tensor> p) {
             return std::make_unique<optim::Adam>(std::move(p), optim::AdamOptions(0.01).amsgrad(true));
           }},
          {"adadelta",
           [](std::vector<Tensor> p) {
             return std::make_unique<optim::Adadelta>(std::move(p), optim::AdadeltaOptions(1.0).weight_decay(0.05));
           }},
          {"rmsprop",
           [](std::vector<Tensor> p) {
             return std::make_unique<optim::RMSprop>(std::move(p), optim::RMSpropOptions(0.01).weight_decay(0.05));
           }},
          {"rmsprop-centered-momentum",
           [](std::vector<Tensor> p) {
             const auto options = optim::RMSpropOptions(0.01).centered(true).momentum(0.9);
             return std::make_unique<optim::RMSprop>(std::move(p), options);
           }},
          {"adamax",
           [](std::vector<Tensor> p) {
             return std::make_unique<optim::Adamax>(std::move(p), optim::AdamaxOptions(0.01).weight_decay(0.05));
           }},
          {"radam",
           [](std::vector<Tensor> p) {
             const auto options = optim::RAdamOptions(0.01).beta2(0.9).weight_decay(0.05);  // rectified from step 6
             return std::make_unique<optim::RAdam>(std::move(p), options);
           }},
          {"adagrad", [](std::vector<Tensor> p) {
             const auto options = optim::AdagradOptions(0.1).lr_decay(0.01).initial_accumulator_value(0.1);
             return std::make_unique<optim::Adagrad>(std::move(p), options);
           }}};
}

}  // namespace normrt::testing
