#include "log.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace normrt::detail {

bool debug_enabled() {
  static const bool enabled = [] {
    const char* level = std::getenv("NORMRT_LOG");
    return level != nullptr && std::strcmp(level, "debug") == 0;
  }();
  return enabled;
}

void debug_log(const std::string& message) {
  if (debug_enabled()) std::fprintf(stderr, "normrt [debug] %s\n", message.c_str());
}

void warn(const std::string& message) { std::fprintf(stderr, "normrt warning: %s\n", message.c_str()); }

}  // namespace normrt::detail
