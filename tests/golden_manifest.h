// Reading a golden data folder's manifest (cases.json). The golden suites list their cases while tests register, in
// static initialisation, where an exception ends the binary before any test runs and without a word of which folder
// is missing (a GPU machine's run given another checkout's data, NORMRT_GOLDEN_DIR). A manifest that cannot be read
// is an empty object here instead, so that its suites register no cases, and the global environment below then ends
// every run of the binary before its first test with exit status 1, naming it (no test reads a missing key; a gtest
// failure there would have been reported as skipped tests, which CTest counts as skipped, not failed).
#pragma once
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace normrt::testing {
namespace manifest_detail {

inline std::set<std::string>& unreadable() {
  static std::set<std::string> problems;
  return problems;
}

inline bool& tests_running() {
  static bool running = false;
  return running;
}

class UnreadableManifests : public ::testing::Environment {
 public:
  void SetUp() override {
    tests_running() = true;
    if (unreadable().empty()) return;
    std::fprintf(stderr, "golden data unreadable, no test run:\n");
    for (const std::string& problem : unreadable()) std::fprintf(stderr, "  %s\n", problem.c_str());
    std::exit(1);
  }
};

inline ::testing::Environment* const registered = ::testing::AddGlobalTestEnvironment(new UnreadableManifests);

}  // namespace manifest_detail

// The manifest at `path`. Unreadable: while tests register, an empty object (the problem recorded for the environment
// above); once they run, an exception, which fails the test that reads it.
inline nlohmann::json read_manifest(const std::string& path) {
  std::string problem;
  std::ifstream in(path);
  if (in) {
    try {
      return nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      problem = path + ": " + e.what();
    }
  } else {
    problem = "cannot open " + path;
  }
  if (manifest_detail::tests_running()) throw std::runtime_error(problem);
  manifest_detail::unreadable().insert(problem);
  return nlohmann::json::object();
}

}  // namespace normrt::testing
