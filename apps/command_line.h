// Command-line parsing shared by normrt-train and normrt-predict: CLI11's errors become one line on stderr.
#pragma once
#include <CLI/CLI.hpp>

#include <cstdio>
#include <optional>

namespace normrt::app {

// Parses argv into `cli`. Returns nullopt to go on, or the exit status: 0 after --help, 2 after a parse error,
// which is reported as one line "<program>: <what is wrong> (see --help)".
inline std::optional<int> parse_command_line(CLI::App& cli, int argc, char** argv, const char* program) {
  try {
    cli.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return cli.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "%s: %s (see --help)\n", program, e.what());
    return 2;
  }
  return std::nullopt;
}

}  // namespace normrt::app
