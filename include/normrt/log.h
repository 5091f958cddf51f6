// The library's log: warnings (e.g. PyTorch's "Initializing zero-element tensors is a no-op"), errors that cannot
// be thrown (CUDA failures in destructors), and debug lines (which BatchNorm backend ran and why). By default lines
// at Warning and above go to stderr; NORMRT_LOG=debug|info|warning|error|off sets the starting level.
#pragma once
#include <functional>
#include <string>

namespace normrt {

enum class LogLevel { Debug = 0, Info = 1, Warning = 2, Error = 3, Off = 4 };

void set_log_level(LogLevel level);
LogLevel log_level();
// Receives every line at or above the level, instead of stderr; an empty handler restores stderr. Called from
// whichever thread logs; the handler must not throw.
using LogHandler = std::function<void(LogLevel level, const std::string& message)>;
void set_log_handler(LogHandler handler);
void log(LogLevel level, const std::string& message);

}  // namespace normrt
