#include "cli/omp_policy.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace beop::cli {

void default_omp_wait_policy(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;  // the user's choice
  const char* off = std::getenv("BEOP_OMP_DEFAULTS");
  if (off && std::strcmp(off, "0") == 0) return;
  // Setting the variable also marks the re-executed process, so this runs once.
  if (setenv("OMP_WAIT_POLICY", kDefaultWaitPolicy, 1) != 0) return;
  execv("/proc/self/exe", argv);
  // exec failed (no /proc?): carry on with libgomp's defaults; the variable stays set for child processes
}

}  // namespace beop::cli
