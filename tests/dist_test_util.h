// Helpers for the tests of normrt::dist and what runs on it (ranks as threads of the test).
#pragma once
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "normrt/dist.h"
#include "normrt/error.h"

namespace normrt::testing {

// Runs body(group) on one thread per rank and returns what each rank threw ("" when it returned).
inline std::vector<std::string> run_ranks(dist::InProcessWorld& world,
                                          const std::function<void(dist::ProcessGroup&)>& body) {
  std::vector<std::string> errors(static_cast<std::size_t>(world.size()));
  std::vector<std::thread> threads;
  for (int r = 0; r < world.size(); ++r) {
    threads.emplace_back([&, r] {
      try {
        body(world.group(r));
      } catch (const Error& e) {
        errors[static_cast<std::size_t>(r)] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  return errors;
}

}  // namespace normrt::testing
