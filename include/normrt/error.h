// normrt::Error and the check-macro family. Every failure in the library is reported as a normrt::Error whose
// message names the failed expression or condition, the file:line and, for CUDA libraries, their error string.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace normrt {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
[[noreturn]] void throw_error(const char* file, int line, const std::string& message);
// Destructors must not throw: they report through this instead.
void log_error(const char* file, int line, const std::string& message);

template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail
}  // namespace normrt

// NORMRT_CHECK(cond, parts...): throws normrt::Error with the message parts (streamed) when cond is false.
#define NORMRT_CHECK(cond, ...)                                                           \
  do {                                                                                    \
    if (!(cond)) ::normrt::detail::throw_error(__FILE__, __LINE__, ::normrt::detail::concat(__VA_ARGS__)); \
  } while (0)

#define NORMRT_THROW(...) ::normrt::detail::throw_error(__FILE__, __LINE__, ::normrt::detail::concat(__VA_ARGS__))
