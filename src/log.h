// Shorthands for the library's own log lines (normrt/log.h is the public side).
#pragma once
#include <string>

namespace normrt::detail {
bool debug_enabled();
void debug_log(const std::string& message);
void warn(const std::string& message);
}  // namespace normrt::detail
