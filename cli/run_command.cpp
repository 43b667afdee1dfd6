// The exit convention (cli/run_command.h).
#include "cli/run_command.h"

#include <cstdio>
#include <exception>

#include "src/flags.h"

namespace beop::cli {

int run_command(const std::string& name, const std::function<int()>& body) {
  try {
    return body();
  } catch (const UsageError& e) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}

}  // namespace beop::cli
