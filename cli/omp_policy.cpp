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
  if (setenv("GOMP_SPINCOUNT", kDefaultSpinCount, 1) != 0) return;
  // Exec the binary by its real path, not as /proc/self/exe: the kernel names a process (/proc/PID/comm, what ps,
  // pgrep and top show) after the file it executed, and `pgrep train` / the fault tests must still find "train".
  char path[4096];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n > 0) {
    path[n] = '\0';
    execv(path, argv);
  }
  execv("/proc/self/exe", argv);
  // exec failed (no /proc?): carry on with libgomp's defaults; the variable stays set for child processes
}

}  // namespace beop::cli
