// The real-GPU CUDA backend (cuda/backend.h), compiled by nvcc into build/nvcc/libbeop_cuda.a: CudaModel and
// CudaBf16Model instantiated for the device (in beop::cuda::gpu — cuda/namespace.h — so they never collide
// with the g++/SIMT instantiations in build/libbeop.a), the trainer over them, and a CausalLM adapter.
#include "cuda/backend.h"

#include <cstdio>

#include "cuda/comm_nccl.h"
#include "cuda/model_cuda.h"
#include "src/trainer.h"

namespace beop {
template class Model<cuda::CudaOps<float>>;
template class Model<cuda::CudaOpsBf16>;
}  // namespace beop

namespace beop::cuda_backend {

bool compiled() { return true; }

std::string require_device() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n <= 0) {
    const std::string why = e != cudaSuccess ? std::string(cudaGetErrorString(e)) : std::string("0 devices");
    (void)cudaGetLastError();
    fail("--device cuda: no CUDA device found (cudaGetDeviceCount: ", why, ")");
  }
  int dev = 0;
  BEOP_CUDA_CHECK(cudaGetDevice(&dev));
  cudaDeviceProp prop{};
  BEOP_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
  size_t free_b = 0, total_b = 0;
  BEOP_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  BEOP_CHECK(prop.major >= 8, "--device cuda: ", prop.name, " is sm_", prop.major, prop.minor,
             "; this build targets sm_80 and sm_90 (bf16 tensor cores)");
  char buf[1024];
  std::snprintf(buf, sizeof buf, "%s, sm_%d%d, %.1f GiB, %.1f GiB free", prop.name, prop.major, prop.minor,
                double(total_b) / double(1ull << 30), double(free_b) / double(1ull << 30));
  return buf;
}

namespace {

// Fails early, before any allocation, when the model's buffers cannot fit in the free device memory: names
// the plan's bytes, the free bytes, and suggests a smaller batch. (Allocation failures later name the free
// bytes too: CudaOps::alloc.)
template <class M>
void check_fits(const ModelConfig& cfg, int B, int T, const std::string& attention) {
  const ParamLayout lay(cfg);
  const AttentionSaves saves = attention == "gemm" ? AttentionSaves::kProbabilities : AttentionSaves::kLogsumexp;
  const ActivationLayout plan(cfg, B, T, ActMode::kTrain, saves, sizeof(typename M::T));
  using Tw = typename M::T;
  using Tm = typename M::MT;
  const size_t bytes = lay.total * (2 * sizeof(Tw) + 3 * sizeof(Tm)) + plan.total * sizeof(Tw);
  size_t free_b = 0, total_b = 0;
  BEOP_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  BEOP_CHECK(bytes < free_b, "out of device memory: model ", cfg.name, " with --batch ", B, " --seq ", T, " needs ",
             bytes, " bytes (parameters, gradients, AdamW moments, activations) but ", free_b, " of ", total_b,
             " bytes are free; try a smaller --batch (activations are ", plan.total * sizeof(Tw), " bytes)");
}

template <class M>
int train_with(const TrainOptions& o, Comm& comm, Comm* nccl) {
  // The activation plan is the part that scales with the batch; check it against free memory before the
  // trainer allocates. (The config is only final inside the trainer for --init runs; for presets check now.)
  if (o.init.empty() && !o.resume && o.config_path.empty()) {
    ModelConfig cfg = preset(o.preset);
    check_fits<M>(cfg, o.batch, o.seq, o.attention);
  }
  return Trainer<M>(o, comm, nccl).run();
}

template <class M>
std::unique_ptr<CausalLM> lm_with(const ModelConfig& cfg, const std::vector<float>& params) {
  auto m = std::make_unique<M>(cfg);
  BEOP_CHECK(params.size() == m->layout().total, "CUDA model: ", params.size(), " parameters, the config needs ",
             m->layout().total);
  m->ops().upload(m->params(), params.data(), params.size());
  return std::make_unique<ModelLM<M>>(std::move(m));
}

}  // namespace

int train(const TrainOptions& o, Precision p, Comm& comm) {
  std::unique_ptr<Comm> nccl;
  if (comm.size() > 1) {  // local rank -> GPU, before anything touches the device
    int n = 0;
    if (cudaGetDeviceCount(&n) == cudaSuccess && n > 0) BEOP_CUDA_CHECK(cudaSetDevice(comm.local_rank() % n));
    (void)cudaGetLastError();
  }
  const std::string dev = require_device();
  std::printf("device: %s, %s\n", dev.c_str(), p == Precision::bf16 ? "bf16 mixed precision" : "fp32");
  if (comm.size() > 1) nccl = open_nccl_comm(comm);
  return p == Precision::bf16 ? train_with<CudaBf16Model>(o, comm, nccl.get())
                              : train_with<CudaModel>(o, comm, nccl.get());
}

std::unique_ptr<CausalLM> make_lm(const ModelConfig& cfg, const std::vector<float>& params, Precision p) {
  require_device();
  return p == Precision::bf16 ? lm_with<CudaBf16Model>(cfg, params) : lm_with<CudaModel>(cfg, params);
}

}  // namespace beop::cuda_backend

// Entry points the models reach only through CudaOps, instantiated by name so the benchmark
// (cuda/gpu_bench.cu) can time them directly: the flash forward/backward and the cuBLAS-GEMM attention.
template void beop::cuda::attention_forward_flash<float>(float*, float*, const float*, int, int, int, int, int,
                                                         cudaStream_t);
template void beop::cuda::attention_forward_flash<__nv_bfloat16>(__nv_bfloat16*, float*, const __nv_bfloat16*, int,
                                                                 int, int, int, int, cudaStream_t);
template void beop::cuda::attention_backward_flash<__nv_bfloat16>(__nv_bfloat16*, float*, const __nv_bfloat16*,
                                                                  const __nv_bfloat16*, const float*,
                                                                  const __nv_bfloat16*, int, int, int, int, int,
                                                                  cudaStream_t);
