// `./train --device cuda` on the machine the tests run on (built by `make test` before the test binaries).
// cuda/cuda.mk links train with the nvcc backend exactly when nvcc exists (on PATH or at
// /usr/local/cuda/bin/nvcc); the test derives its expectation by the same rule:
//   - no nvcc:          one line "error: this build has no CUDA backend (nvcc not found at build time)", exit 1;
//   - nvcc, no GPU:     one line "error: --device cuda: no CUDA device found (cudaGetDeviceCount: ...)", exit 1
//                       (CI: the toolkit is installed, there is no GPU/driver);
//   - nvcc and a GPU:   train gets past the device check (it reports the device) and then fails on the
//                       missing data — checked loosely, since the device machine runs scripts/gpu_check.sh.
// It also checks that an unknown device name is refused before anything else happens.
#include <doctest/doctest.h>

#include "tests/test_util.h"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

using Result = beop::test::ShellResult;
Result sh(const std::string& cmd) { return beop::test::shell(cmd); }
bool nvcc_present() { return sh("command -v nvcc || test -x /usr/local/cuda/bin/nvcc").rc == 0; }
bool gpu_present() { return sh("nvidia-smi -L").rc == 0; }

const char* kArgs = " --data none=/nonexistent/*.bin:1 --out build/tests/cuda_device_run --force --steps 1";

}  // namespace

TEST_CASE("train --device cuda: one clear line and exit 1 where there is no backend or no GPU") {
  REQUIRE_MESSAGE(sh("test -x ./train").rc == 0, "./train is missing: run `make train` (make test builds it)");
  for (const char* dev : {"cuda", "cuda-fp32"}) {
    CAPTURE(dev);
    const Result r = sh(std::string("./train --device ") + dev + kArgs);
    CAPTURE(r.out);
    if (!nvcc_present()) {
      CHECK(r.rc == 1);
      CHECK(r.out == "error: this build has no CUDA backend (nvcc not found at build time)\n");
    } else if (!gpu_present()) {
      CHECK(r.rc == 1);
      const std::string head = "error: --device cuda: no CUDA device found (cudaGetDeviceCount: ";
      CHECK(r.out.compare(0, head.size(), head) == 0);
      CHECK(r.out.size() > head.size() + 2);
      CHECK(r.out.substr(r.out.size() - 2) == ")\n");                 // ... the runtime's message)
      CHECK(r.out.find('\n') == r.out.size() - 1);                     // one line
    } else {
      CHECK(r.out.find("device: ") != std::string::npos);  // got past the check and named the device
      CHECK(r.rc != 0);                                     // then the data does not exist
    }
  }
  const Result bad = sh(std::string("./train --device cudax") + kArgs);
  CHECK(bad.rc == 1);
  CHECK(bad.out == "error: unknown CUDA --device 'cudax' (cuda, cuda-bf16 or cuda-fp32)\n");
}
