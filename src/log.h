// Debug logging to stderr, enabled by NORMRT_LOG=debug.
#pragma once
#include <string>

namespace normrt::detail {
bool debug_enabled();
void debug_log(const std::string& message);
}  // namespace normrt::detail
