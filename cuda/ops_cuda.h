// The CUDA backend: binds the kernels of cuda/kernels/*.cuh and the GEMM wrapper (cuda/gemm.h) to the Ops
// interface that src/transformer.h and src/model.h drive — the same interface, method for method, as
// cpu::CpuOps (cpu/ops.h). Pointers are device pointers. Compiled by nvcc for the GPU and by g++ through the
// SIMT runtime (cuda/simt), where "device" memory is host memory and kernels run one block at a time.
//
// CudaOps<float>: fp32 parameters, gradients, AdamW moments and activations.
// CudaOpsBf16 (= CudaOps<__nv_bfloat16> + `using master = float`): bf16 working weights, gradients and
// activations, every kernel computing in fp32 (cuda/kernels/common.cuh: f32()), bf16 GEMMs with fp32
// accumulation (cuda/gemm.h), and — through Model's mixed-precision path (src/model.h, MasterOf) — fp32 master
// weights and AdamW moments, the bf16 copy written by AdamW with stochastic rounding (adamw.cuh).
#pragma once
#include <cstdint>
#include <type_traits>
#include <string>
#include <vector>

#include "cuda/gemm.h"
#include "cuda/kernels/adamw.cuh"
#include "cuda/kernels/attention.cuh"
#include "cuda/kernels/attention_flash.cuh"
#include "cuda/kernels/attention_flash_backward.cuh"
#include "cuda/kernels/bias.cuh"
#include "cuda/kernels/common.cuh"
#include "cuda/kernels/cross_entropy.cuh"
#include "cuda/kernels/embedding.cuh"
#include "cuda/kernels/kv_cache.cuh"
#include "cuda/kernels/residual.cuh"
#include "cuda/kernels/rmsnorm.cuh"
#include "cuda/kernels/rope.cuh"
#include "cuda/kernels/swiglu.cuh"
#include "src/activation_layout.h"
#include "src/config.h"
#include "src/rope_tables.h"

BEOP_CUDA_NAMESPACE_BEGIN

template <typename Real>
struct CudaOps {
  static_assert(std::is_same<Real, float>::value || std::is_same<Real, __nv_bfloat16>::value,
                "CudaOps: float or __nv_bfloat16");
  using real = Real;
  static constexpr const char* kName = std::is_same<Real, float>::value ? "cuda" : "cuda-bf16";
  cudaStream_t stream = 0;
  float* rope_cos = nullptr;  // (max_seq_len, D/2), device, fp32 for every Real
  float* rope_sin = nullptr;

  explicit CudaOps(const ModelConfig& cfg) {
    // cos/sin tables computed on the device from src/rope_tables.h's inverse frequencies (in double, then rounded,
    // exactly like the host tables the CPU backend uses).
    const std::vector<double> inv = rope_inv_freq(cfg);
    const int half = int(inv.size()), P = cfg.max_seq_len;
    rope_cos = alloc<float>(size_t(P) * half);
    rope_sin = alloc<float>(size_t(P) * half);
    if (half > 0 && P > 0) {
      double* d_inv = alloc<double>(inv.size());
      upload(d_inv, inv.data(), inv.size());
      cuda::rope_tables(rope_cos, rope_sin, d_inv, P, half, stream);
      BEOP_CUDA_CHECK(cudaStreamSynchronize(stream));
      release(d_inv);
    }
  }
  ~CudaOps() {
    for (void* p : {(void*)rope_cos, (void*)rope_sin, (void*)scratch_, (void*)dscratch_})
      if (p) cudaFree(p);
  }
  CudaOps(const CudaOps&) = delete;
  CudaOps& operator=(const CudaOps&) = delete;

  // memory (zero-filled like CpuOps::alloc)
  template <typename U>
  U* alloc(size_t n) {
    void* p = nullptr;
    const size_t bytes = n * sizeof(U) > 0 ? n * sizeof(U) : 1;
    cudaError_t e = cudaMalloc(&p, bytes);
    if (e != cudaSuccess || !p) {
      size_t free_b = 0, total_b = 0;
      (void)cudaGetLastError();  // clear the sticky allocation error before querying
      const bool known = cudaMemGetInfo(&free_b, &total_b) == cudaSuccess;
      fail("out of device memory allocating ", bytes, " bytes (", cudaGetErrorString(e), "; ",
           known ? cat(free_b, " of ", total_b, " bytes free on the device") : std::string("free memory unknown"),
           "): try a smaller --batch (or --seq)");
    }
    BEOP_CUDA_CHECK(cudaMemset(p, 0, bytes));
    return static_cast<U*>(p);
  }
  void release(void* p) { BEOP_CUDA_CHECK(cudaFree(p)); }
  template <typename U>
  void upload(U* dst, const U* host, size_t n) {
    BEOP_CUDA_CHECK(cudaMemcpy(dst, host, n * sizeof(U), cudaMemcpyHostToDevice));
  }
  template <typename U>
  void download(U* host, const U* src, size_t n) {
    BEOP_CUDA_CHECK(cudaMemcpy(host, src, n * sizeof(U), cudaMemcpyDeviceToHost));
  }
  template <typename U>
  void zero(U* p, int64_t n) {
    BEOP_CUDA_CHECK(cudaMemsetAsync(p, 0, size_t(n) * sizeof(U), stream));
  }

  // kernels
  void embedding_forward(Real* o, const int32_t* tok, const Real* e, int N, int C) {
    cuda::embedding_forward(o, tok, e, N, C, stream);
  }
  void embedding_backward(Real* de, const Real* dout, const int32_t* tok, int N, int C) {
    // 8-byte sort keys in the float scratch (cudaMalloc'd: aligned for any type)
    auto* keys = reinterpret_cast<uint64_t*>(scratch(ceil_div(int64_t(embedding_backward_scratch_bytes(N)), 4)));
    cuda::embedding_backward(de, dout, tok, N, C, keys, stream);
  }
  void rmsnorm_forward(Real* o, Real* rstd, const Real* x, const Real* w, int N, int C, float eps) {
    cuda::rmsnorm_forward(o, rstd, x, w, N, C, eps, stream);
  }
  void rmsnorm_backward(Real* dx, Real* dw, const Real* dout, const Real* x, const Real* w, const Real* rstd,
                        int N, int C) {
    cuda::rmsnorm_backward(dx, dw, dout, x, w, rstd, N, C, scratch(rmsnorm_backward_scratch(N, C)), stream);
  }
  // Whether linear_forward gives a row the same bits in calls of a and b rows (cpu/ops.h): not promised here,
  // cuBLASLt may pick another algorithm by row count, so the server prefills prompts one at a time on the GPU.
  bool same_row_results(int a, int b) const { return false; }
  void linear_forward(Real* o, const Real* in, const Real* W, int N, int IC, int OC) {
    cuda::linear_forward(o, in, W, N, IC, OC, stream);
  }
  void linear_backward(Real* din, Real* dW, const Real* dout, const Real* in, const Real* W, int N, int IC,
                       int OC, bool acc) {
    cuda::linear_backward(din, dW, dout, in, W, N, IC, OC, acc, stream);
  }
  void bias_forward(Real* o, const Real* b, int N, int OC) { cuda::bias_forward(o, b, N, OC, stream); }
  void bias_backward(Real* db, const Real* dout, int N, int OC) { cuda::bias_backward(db, dout, N, OC, stream); }
  void rope_forward(Real* qkv, int B, int T, int H, int KV, int D, int pos0) {
    cuda::rope_forward(qkv, rope_cos, rope_sin, B, T, H, KV, D, pos0, stream);
  }
  void rope_backward(Real* dqkv, int B, int T, int H, int KV, int D, int pos0) {
    cuda::rope_backward(dqkv, rope_cos, rope_sin, B, T, H, KV, D, pos0, stream);
  }
  // Training attention: the flash kernels (default; save one fp32 logsumexp per query, never a T x T
  // matrix) or the cuBLAS-GEMM + softmax kernels (save the probabilities, like the CPU reference). Model asks
  // attention_saves() when it sizes the activation plan, so switch before reserve().
  bool flash_attention = true;
  void set_attention(const std::string& kind) {  // train --attention auto | flash | gemm
    BEOP_CHECK(kind == "auto" || kind == "flash" || kind == "gemm", "--attention ", kind,
               ": expected flash or gemm");
    flash_attention = kind != "gemm";
  }
  AttentionSaves attention_saves() const {
    return flash_attention ? AttentionSaves::kLogsumexp : AttentionSaves::kProbabilities;
  }
  void attention_forward(Real* y, Real* att, const Real* qkv, int B, int T, int H, int KV, int D) {
    if (flash_attention)  // att: (B, H, T) fp32 logsumexps (ActivationLayout aligns it for float)
      cuda::attention_forward_flash(y, reinterpret_cast<float*>(att), qkv, B, T, H, KV, D, stream);
    else
      cuda::attention_forward(y, att, qkv, B, T, H, KV, D, stream);
  }
  void attention_backward(Real* dqkv, Real* datt, const Real* dy, const Real* y, const Real* att, const Real* qkv,
                          int B, int T, int H, int KV, int D) {
    if (flash_attention)  // datt: (B, H, T) fp32 scratch for the row dots dy·y
      cuda::attention_backward_flash(dqkv, reinterpret_cast<float*>(datt), dy, y, reinterpret_cast<const float*>(att),
                                     qkv, B, T, H, KV, D, stream);
    else
      cuda::attention_backward(dqkv, datt, dy, att, qkv, B, T, H, KV, D, stream);
  }
  // inference with a KV cache (cpu/kv_cache.h; kernels: kv_cache.cuh): flash-style fused attention over the cache
  void kv_store(Real* kc, Real* vc, const Real* qkv, int B, int T, int H, int KV, int D, int pos0, int Tmax) {
    cuda::kv_store(kc, vc, qkv, B, T, H, KV, D, pos0, Tmax, stream);
  }
  void attention_cached(Real* y, const Real* qkv, const Real* kc, const Real* vc, int B, int T, int H, int KV, int D,
                        int pos0, int Tmax) {
    cuda::attention_cached(y, qkv, kc, vc, B, T, H, KV, D, pos0, Tmax, stream);
  }
  void residual_forward(Real* o, const Real* a, const Real* b, int64_t n) { cuda::residual_forward(o, a, b, n, stream); }
  void swiglu_forward(Real* act, const Real* gu, int N, int F) { cuda::swiglu_forward(act, gu, N, F, stream); }
  void swiglu_backward(Real* dgu, const Real* dact, const Real* gu, int N, int F) {
    cuda::swiglu_backward(dgu, dact, gu, N, F, stream);
  }
  void cross_entropy_forward(Real* losses, const Real* logits, const int32_t* tgt, const uint8_t* mask, int N,
                             int V, int Vp) {
    cuda::cross_entropy_forward(losses, logits, tgt, mask, N, V, Vp, stream);
  }
  void cross_entropy_backward(Real* logits, const int32_t* tgt, const uint8_t* mask, int N, int V, int Vp,
                              Real inv_count) {
    cuda::cross_entropy_backward(logits, tgt, mask, N, V, Vp, f32(inv_count), stream);
  }
  // optimizer; sum and sum_squares are deterministic (fixed chunks, fixed order, double)
  template <typename U>
  double sum(const U* x, int64_t n) {
    return cuda::reduce(x, n, false, dscratch(reduce_scratch(n)), stream);
  }
  template <typename U>
  double sum_squares(const U* x, size_t n) {
    return cuda::reduce(x, int64_t(n), true, dscratch(reduce_scratch(int64_t(n))), stream);
  }
  void scale(Real* x, size_t n, double s) { cuda::scale(x, int64_t(n), Real(s), stream); }
  void adamw_update(Real* p, const Real* g, Real* m, Real* v, size_t n, double lr, double b1, double b2,
                    double eps, double wd, long t) {
    cuda::adamw_update(p, g, m, v, int64_t(n), lr, b1, b2, eps, wd, t, stream);
  }
  // Mixed precision (Model with master = float): fp32 master + moments, bf16 copy stochastically rounded with
  // the bits of (sr_seed(seed, t), idx0 + i).
  void adamw_update_mixed(float* master, Real* p, const Real* g, float* m, float* v, size_t n, double lr, double b1,
                          double b2, double eps, double wd, long t, uint64_t seed, size_t idx0) {
    cuda::adamw_update_mixed(master, p, g, m, v, int64_t(n), lr, b1, b2, eps, wd, t, sr_seed(seed, t),
                             uint64_t(idx0), stream);
  }
  void convert(Real* out, const float* in, int64_t n) { cuda::convert(out, in, n, stream); }

 private:
  // Device scratch, grown on demand (kernels on one stream run in order, so one buffer serves every call).
  float* scratch_ = nullptr;
  size_t scratch_n_ = 0;
  double* dscratch_ = nullptr;
  size_t dscratch_n_ = 0;
  float* scratch(size_t n) {
    if (n > scratch_n_) {
      if (scratch_) release(scratch_);
      scratch_ = alloc<float>(n);
      scratch_n_ = n;
    }
    return scratch_;
  }
  double* dscratch(size_t n) {
    if (n > dscratch_n_) {
      if (dscratch_) release(dscratch_);
      dscratch_ = alloc<double>(n);
      dscratch_n_ = n;
    }
    return dscratch_;
  }
};

// The bf16 mixed-precision backend: Model<CudaOpsBf16> keeps fp32 master weights and moments (`master`).
struct CudaOpsBf16 : CudaOps<__nv_bfloat16> {
  using master = float;
  using CudaOps<__nv_bfloat16>::CudaOps;
};

BEOP_CUDA_NAMESPACE_END
