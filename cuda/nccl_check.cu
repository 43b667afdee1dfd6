// NCCL check run by scripts/gpu_check.sh (nvcc only; not part of make) on a lent GPU:
//   1. one rank over cuda/comm_nccl.h (its unique id through a SingleComm, as MpiComm broadcasts it with N ranks):
//      CudaModel (fp32) and CudaBf16Model train 6 steps the single-process way (model.step) and the data-parallel
//      way (the gradients reduce-scattered and all-gathered over NCCL, the shard stepped with the all-reduced norm,
//      the working weights all-gathered, as src/trainer.h does with --zero 0 and 1) — the losses and the weights
//      must be bit-identical (exit 1 otherwise);
//   2. the GPU all-reduce bandwidth: fp32 all-reduce of 256 MiB through the NcclComm (one rank: a device copy),
//      and, where the machine has several GPUs, over all of them in one process (ncclCommInitAll): bus bandwidth.
// Prints "| name | value | unit | note |" rows like cuda/gpu_bench.cu. Errors: one line, exit 1.
#include <nccl.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cuda/comm_nccl.h"
#include "cuda/model_cuda.h"
#include "src/comm.h"
#include "src/rng.h"

using namespace beop;
using Clock = std::chrono::steady_clock;

namespace {

bool g_failed = false;
void row(const std::string& name, double value, const char* unit, const std::string& note = "") {
  std::printf("| %-40s | %12.3f | %-9s | %s |\n", name.c_str(), value, unit, note.c_str());
  std::fflush(stdout);
}

template <class M>
std::vector<uint8_t> bytes_of(M& m) {  // the weights the kernels read, and the fp32 master
  using T = typename M::T;
  const size_t n = m.layout().total;
  std::vector<uint8_t> b(n * sizeof(T) + m.master_size() * 4);
  m.ops().download(reinterpret_cast<T*>(b.data()), m.work_params(), n);
  m.ops().download(reinterpret_cast<float*>(b.data() + n * sizeof(T)), m.master(), m.master_size());
  return b;
}

// 6 steps the single-process way and the NCCL way, from the same weights and batches: bit-identical?
template <class M>
void same_training(const char* name, Comm& nccl) {
  ModelConfig cfg = preset("tiny");
  cfg.vocab_size = 300;
  const int B = 2, T = 64;
  M a(cfg), b(cfg);
  a.init_random(3), b.init_random(3);
  a.reserve(B, T), b.reserve(B, T);
  AdamWConfig opt;
  opt.grad_clip = 0.5;
  const size_t n = a.layout().total;
  const DType dt = sizeof(typename M::T) == 4 ? DType::f32 : DType::bf16;
  Rng r(11);
  bool same = true;
  for (int step = 0; step < 6; step++) {
    std::vector<int32_t> x(size_t(B) * T), y(x.size());
    for (auto& v : x) v = int32_t(r.below(300));
    for (auto& v : y) v = int32_t(r.below(300));
    a.zero_grad(), b.zero_grad();
    const LossSum la = a.forward(x.data(), y.data(), nullptr, B, T), lb = b.forward(x.data(), y.data(), nullptr, B, T);
    same = same && la.sum == lb.sum;
    a.backward(1.0 / double(la.count)), b.backward(1.0 / double(lb.count));
    a.step(opt, 1e-3);
    nccl.reduce_scatter_sum(b.grads(), n, dt);
    if (step % 2) {  // --zero 0: the whole sum
      nccl.all_gather(b.grads(), n, sizeof(typename M::T));
      b.step(opt, 1e-3);
    } else {  // --zero 1 with one shard (the whole buffer): the norm from the shard, then the weights gathered
      b.step_shard(opt, 1e-3, b.shard_grad_sum_squares());
      nccl.all_gather(b.work_params(), n, sizeof(typename M::T));
    }
  }
  same = same && bytes_of(a) == bytes_of(b);
  row(std::string("NCCL 1 rank = 1 process, ") + name, same ? 1 : 0, "bool",
      same ? "bit-identical (6 steps)" : "FAIL: differs");
  if (!same) g_failed = true;
}

double time_all_reduce(const std::function<void()>& once) {
  for (int i = 0; i < 3; i++) once();
  const int iters = 20;
  const auto t0 = Clock::now();
  for (int i = 0; i < iters; i++) once();
  return std::chrono::duration<double>(Clock::now() - t0).count() / iters;
}

void bandwidth(Comm& nccl) {
  const size_t n = size_t(64) << 20;  // 256 MiB of fp32
  float* d = nullptr;
  BEOP_CUDA_CHECK(cudaMalloc(&d, n * 4));
  BEOP_CUDA_CHECK(cudaMemset(d, 0, n * 4));
  const double s = time_all_reduce([&] { nccl.all_reduce_sum(d, n); });
  row("NCCL all-reduce 256 MiB fp32, 1 rank", double(n * 4) / s / 1e9, "GB/s", "algorithm bandwidth (one GPU: a copy)");
  cudaFree(d);
  int g = 0;
  BEOP_CUDA_CHECK(cudaGetDeviceCount(&g));
  if (g < 2) {
    std::printf("| %-40s | %12s | %-9s | %s |\n", "NCCL all-reduce over all GPUs", "skipped", "", "one GPU");
    return;
  }
  std::vector<ncclComm_t> comms(g);
  std::vector<float*> bufs(g);
  if (ncclCommInitAll(comms.data(), g, nullptr) != ncclSuccess) fail("ncclCommInitAll over ", g, " GPUs failed");
  for (int i = 0; i < g; i++) {
    BEOP_CUDA_CHECK(cudaSetDevice(i));
    BEOP_CUDA_CHECK(cudaMalloc(&bufs[i], n * 4));
  }
  const double t = time_all_reduce([&] {
    ncclGroupStart();
    for (int i = 0; i < g; i++) ncclAllReduce(bufs[i], bufs[i], n, ncclFloat32, ncclSum, comms[i], 0);
    ncclGroupEnd();
    for (int i = 0; i < g; i++) cudaSetDevice(i), cudaStreamSynchronize(0);
  });
  // bus bandwidth (nccl-tests): algorithm bandwidth x 2(g-1)/g, comparable with the link's bandwidth
  row(cat("NCCL all-reduce 256 MiB fp32, ", g, " GPUs"), double(n * 4) / t / 1e9 * 2.0 * (g - 1) / g, "GB/s",
      "bus bandwidth");
  for (int i = 0; i < g; i++) cudaSetDevice(i), cudaFree(bufs[i]), ncclCommDestroy(comms[i]);
  cudaSetDevice(0);
}

}  // namespace

int main() {
  try {
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    BEOP_CHECK(e == cudaSuccess && n > 0, "no CUDA device (cudaGetDeviceCount: ", cudaGetErrorString(e), ")");
    std::unique_ptr<Comm> nccl = cuda_backend::open_nccl_comm(single_comm());
    same_training<CudaModel>("fp32", *nccl);
    same_training<CudaBf16Model>("bf16 mixed", *nccl);
    bandwidth(*nccl);
    if (g_failed) {
      std::fprintf(stderr, "error: NCCL training differs from the single-process path (see the FAIL row)\n");
      return 1;
    }
    return 0;
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "error: %s\n", ex.what());
    return 1;
  }
}
