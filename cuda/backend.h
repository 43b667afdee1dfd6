// The CUDA backend as seen from programs built by g++ (train, infer, server): plain C++ types only, no CUDA
// headers. Two implementations with the same symbols:
//   - cuda/backend.cu, compiled by nvcc into build/nvcc/libbeop_cuda.a where nvcc exists at build time (the
//     real GPU: CudaModel / CudaBf16Model instantiated in beop::cuda::gpu, cuBLASLt, the CUDA runtime);
//   - cuda/backend_stub.cpp, in build/libbeop.a only where nvcc does not exist: every entry point throws
//     "this build has no CUDA backend (nvcc not found at build time)".
// cuda/cuda.mk links train and infer against the right one.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "src/checkpoint.h"
#include "src/comm.h"
#include "src/common.h"
#include "src/config.h"
#include "src/generator.h"
#include "src/io.h"
#include "src/tokenizer.h"
#include "src/train_options.h"

namespace beop::cuda_backend {

// fp32: CudaModel (every tensor fp32). bf16: CudaBf16Model (bf16 weights/activations/gradients for the
// GEMMs and kernels, fp32 master weights and AdamW moments, stochastic rounding) — the speed path.
enum class Precision { fp32, bf16 };

// True in a build linked with the nvcc backend.
bool compiled();

// Checks that a CUDA device is usable and returns a one-line description ("NVIDIA H200, sm_90, 139.8 GiB,
// 139.1 GiB free"). Throws Error "this build has no CUDA backend (nvcc not found at build time)" or
// "--device cuda: no CUDA device found (cudaGetDeviceCount: ...)".
std::string require_device();

// train --device cuda: the training loop of src/trainer.h over the GPU model. Returns the exit code. With several
// ranks (comm: MPI), each binds the GPU of its local rank (local rank mod the GPUs it sees) and the gradients and
// weights travel over NCCL (cuda/comm_nccl.h), whose unique id comm broadcasts.
int train(const TrainOptions& o, Precision p, Comm& comm);

// A CausalLM (src/generator.h) on the GPU from a config and fp32 parameters in ParamLayout order.
std::unique_ptr<CausalLM> make_lm(const ModelConfig& cfg, const std::vector<float>& params, Precision p);

// load_causal_lm (src/generator.h) for the GPU: --model (step dir, run dir or hf:DIR) -> model on the device.
inline std::unique_ptr<CausalLM> load_lm(const std::string& spec, Tokenizer* tok, Precision p,
                                         std::string* dir_out = nullptr) {
  require_device();  // fail before reading a large checkpoint
  LoadedWeights w = load_weights(spec);
  std::unique_ptr<CausalLM> lm = make_lm(w.config, w.params, p);
  if (tok) *tok = std::move(w.tok);
  if (dir_out) *dir_out = w.dir;
  return lm;
}

// "cuda" -> bf16, "cuda-fp32" -> fp32; anything else: Error.
inline Precision precision_of(const std::string& device) {
  if (device == "cuda" || device == "cuda-bf16") return Precision::bf16;
  if (device == "cuda-fp32") return Precision::fp32;
  fail("unknown CUDA --device '", device, "' (cuda, cuda-bf16 or cuda-fp32)");
}

}  // namespace beop::cuda_backend
