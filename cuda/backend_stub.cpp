// The CUDA backend's entry points in a build without nvcc (cuda/backend.h): each throws one line saying so.
// cuda/cuda.mk puts this file into build/libbeop.a only when nvcc was not found; otherwise cuda/backend.cu
// (nvcc) provides the same symbols in build/nvcc/libbeop_cuda.a.
#include "cuda/backend.h"

namespace beop::cuda_backend {

namespace {
[[noreturn]] void no_backend() { fail("this build has no CUDA backend (nvcc not found at build time)"); }
}  // namespace

bool compiled() { return false; }
std::string require_device() { no_backend(); }
int train(const TrainOptions&, Precision, Comm&) { no_backend(); }
std::unique_ptr<CausalLM> make_lm(const ModelConfig&, const std::vector<float>&, Precision) { no_backend(); }

}  // namespace beop::cuda_backend
