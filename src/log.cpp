#include "log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "normrt/log.h"

namespace normrt {

namespace {

LogLevel level_from_environment() {
  const char* value = std::getenv("NORMRT_LOG");
  if (value == nullptr) return LogLevel::Warning;
  const std::pair<const char*, LogLevel> names[] = {{"debug", LogLevel::Debug}, {"info", LogLevel::Info},
                                                    {"warning", LogLevel::Warning}, {"error", LogLevel::Error},
                                                    {"off", LogLevel::Off}};
  for (const auto& [name, level] : names)
    if (std::strcmp(value, name) == 0) return level;
  return LogLevel::Warning;
}

std::atomic<LogLevel>& current_level() {
  static std::atomic<LogLevel> level{level_from_environment()};
  return level;
}

struct HandlerSlot {
  std::mutex mutex;
  LogHandler handler;
};
HandlerSlot& handler_slot() {
  static HandlerSlot slot;
  return slot;
}

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::Debug: return "debug";
    case LogLevel::Info: return "info";
    case LogLevel::Warning: return "warning";
    case LogLevel::Error: return "error";
    case LogLevel::Off: break;
  }
  return "";
}

}  // namespace

void set_log_level(LogLevel level) { current_level() = level; }
LogLevel log_level() { return current_level(); }

void set_log_handler(LogHandler handler) {
  HandlerSlot& slot = handler_slot();
  std::lock_guard<std::mutex> lock(slot.mutex);
  slot.handler = std::move(handler);
}

void log(LogLevel level, const std::string& message) {
  if (level == LogLevel::Off || level < log_level()) return;
  HandlerSlot& slot = handler_slot();
  std::lock_guard<std::mutex> lock(slot.mutex);
  if (slot.handler) {
    slot.handler(level, message);
  } else {
    std::fprintf(stderr, "normrt %s: %s\n", level_name(level), message.c_str());
  }
}

namespace detail {
bool debug_enabled() { return log_level() <= LogLevel::Debug; }
void debug_log(const std::string& message) { log(LogLevel::Debug, message); }
void warn(const std::string& message) { log(LogLevel::Warning, message); }
}  // namespace detail

}  // namespace normrt
