// Shared basics: the error type every module throws, and small helpers.
// Policy: library code throws beop::Error with a one-line message naming the bad value (file, offset,
// tensor, flag); programs catch it in main(), print "error: <message>" to stderr and exit 1.
#pragma once
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>

namespace beop {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Concatenates its arguments with operator<< (so callers need no format strings).
template <typename... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

template <typename... Args>
[[noreturn]] void fail(const Args&... args) {
  throw Error(cat(args...));
}

#define BEOP_CHECK(cond, ...) \
  do {                        \
    if (!(cond)) ::beop::fail(__VA_ARGS__); \
  } while (0)

// The corpora directory: $BEOP_DATA, else ../shared/data relative to the working directory.
std::string data_dir();

}  // namespace beop
