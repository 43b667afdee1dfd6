// Shared part of every libFuzzer harness (linked into each build/fuzz/fuzz_NAME): with BEOP_FUZZ_WRITE_SEEDS=DIR
// in the environment, the harness writes its seed corpus into DIR (beop_fuzz_seeds, defined by the harness
// with the project's own writers, so the seeds always match the current formats) and exits 0 instead of
// fuzzing. `make fuzz` (fuzz/run_fuzz.sh) does that before each run.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "src/common.h"
#include "src/io.h"

void beop_fuzz_seeds(const std::string& dir);  // defined by each harness

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  if (const char* dir = std::getenv("BEOP_FUZZ_WRITE_SEEDS")) {
    try {
      beop::make_dirs(dir);
      beop_fuzz_seeds(dir);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "beop_fuzz_seeds(%s): %s\n", dir, e.what());
      std::exit(1);
    }
    std::exit(0);
  }
  return 0;
}
