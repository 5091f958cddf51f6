// Data-parallel training runs for the app tests, on the CPU and on the (emulated) device: one Trainer per rank of an
// in-process world, and the comparison of each rank's epochs with a single-process run on the whole batch.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "dist_test_util.h"
#include "trainer.h"

namespace normrt::testing {

// Trains one Trainer per rank (threads) with `config`; after(trainer, rank) runs on each rank's thread once its run
// has returned. Returns each rank's result; a rank that threw fails the test.
inline std::vector<app::RunResult> train_ranks(int ranks, const app::TrainConfig& config, const app::Dataset& train,
                                               const app::Dataset& test,
                                               const std::function<void(app::Trainer&, int)>& after = nullptr) {
  dist::InProcessWorld world(ranks);
  std::vector<app::RunResult> results(static_cast<std::size_t>(ranks));
  const auto errors = run_ranks(world, [&](dist::ProcessGroup& group) {
    app::Trainer trainer(config, train, test, &group);
    results[static_cast<std::size_t>(group.rank())] = trainer.run();
    if (after) after(trainer, group.rank());
  });
  for (const std::string& e : errors) EXPECT_EQ(e, "");
  return results;
}

// Every rank's epoch losses are the single-process run's within 1e-4 (relative); with accuracy_tolerance >= 0 its
// test accuracies too, within that. Each global batch is the ranks' equal shares of the single run's batch, so the
// mean of the ranks' batch losses is the single run's batch loss: the first batch where it is not is named (a
// mismatch at batch 0 is the forward's, with the same initial weights; later ones can be the update's).
inline void expect_epochs_match(const std::vector<app::RunResult>& ranks, const app::RunResult& whole,
                                double accuracy_tolerance = -1) {
  for (const app::RunResult& r : ranks) ASSERT_EQ(r.batch_losses.size(), whole.batch_losses.size());
  for (std::size_t i = 0; i < whole.batch_losses.size(); ++i) {
    double mean = 0;
    std::string each;
    for (const app::RunResult& r : ranks) {
      mean += r.batch_losses[i] / static_cast<double>(ranks.size());
      each += " " + std::to_string(r.batch_losses[i]);
    }
    const double expected = whole.batch_losses[i];
    if (std::fabs(mean - expected) > 1e-4 * std::fabs(expected)) {
      ADD_FAILURE() << "batch " << i << " of " << whole.batch_losses.size() << ": the ranks' losses" << each
                    << " average " << mean << ", the single run's is " << expected;
      break;
    }
  }
  for (const app::RunResult& r : ranks) {
    ASSERT_EQ(r.epochs.size(), whole.epochs.size());
    for (std::size_t e = 0; e < r.epochs.size(); ++e) {
      EXPECT_NEAR(r.epochs[e].train_loss, whole.epochs[e].train_loss, 1e-4 * whole.epochs[e].train_loss);
      EXPECT_NEAR(r.epochs[e].test_loss, whole.epochs[e].test_loss, 1e-4 * whole.epochs[e].test_loss);
      if (accuracy_tolerance >= 0)
        EXPECT_NEAR(r.epochs[e].test_accuracy, whole.epochs[e].test_accuracy, accuracy_tolerance);
    }
  }
}

}  // namespace normrt::testing
