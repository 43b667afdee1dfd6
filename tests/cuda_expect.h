// What `--device cuda` does in this build on this machine, for tests that run ./train or ./infer with it:
// decided the way the programs decide it (cuda_backend::compiled(), then require_device()), so the tests hold
// without nvcc, with nvcc and no GPU (CI), and on a GPU machine. Tests including this link the CUDA backend
// (cuda/cuda.mk, CUDA_LINKED_TESTS).
#pragma once
#include <string>

#include "cuda/backend.h"

namespace beop::test {

enum class CudaState { NoBackend, NoDevice, Device };

inline CudaState cuda_state() {
  if (!cuda_backend::compiled()) return CudaState::NoBackend;
  try {
    cuda_backend::require_device();
    return CudaState::Device;
  } catch (const Error&) {
    return CudaState::NoDevice;
  }
}

// The one error line a cuda* device gives without a usable GPU ("" where there is one).
inline std::string cuda_unavailable_message(CudaState s) {
  return s == CudaState::NoBackend  ? "error: this build has no CUDA backend (nvcc not found at build time)"
         : s == CudaState::NoDevice ? "error: --device cuda: no CUDA device found"
                                    : "";
}

}  // namespace beop::test
