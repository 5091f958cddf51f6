// Debug logging to stderr, enabled by NORMRT_LOG=debug, and warnings.
#pragma once
#include <string>

namespace normrt::detail {
bool debug_enabled();
void debug_log(const std::string& message);
// Always shown (stderr), like PyTorch's UserWarning.
void warn(const std::string& message);
}  // namespace normrt::detail
