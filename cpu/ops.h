// The CPU backend: binds the reference kernels of cpu/*.h to the Ops interface that src/transformer.h and
// src/model.h drive. T = float for training, double for gradient checks. "Device" memory is host memory.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "cpu/adamw.h"
#include "cpu/attention.h"
#include "cpu/attention_flash.h"
#include "cpu/bias.h"
#include "cpu/cross_entropy.h"
#include "cpu/embedding.h"
#include "cpu/gemm_bf16.h"
#include "cpu/gemm_f32.h"
#include "cpu/host_memory.h"
#include "cpu/kv_cache.h"
#include "cpu/linear.h"
#include "cpu/matmul_lowp.h"
#include "cpu/matmul_smallm.h"
#include "cpu/residual.h"
#include "cpu/rmsnorm.h"
#include "cpu/rope.h"
#include "cpu/swiglu.h"
#include "src/activation_layout.h"
#include "src/common.h"
#include "src/config.h"
#include "src/rope_tables.h"

namespace beop::cpu {

template <typename Real>
struct CpuOps {
  using real = Real;
  static constexpr const char* kName = "cpu";
  static constexpr bool kHostMemory = true;  // buffers are plain host memory (src/model.h's HostMemoryOf)
  std::vector<Real> rope_cos, rope_sin;  // (max_seq_len, D/2)

  explicit CpuOps(const ModelConfig& cfg) { rope_tables(cfg, rope_cos, rope_sin); }

  // memory
  template <typename U>
  U* alloc(size_t n) {
    BEOP_CHECK(n <= std::numeric_limits<size_t>::max() / sizeof(U), "alloc: ", n, " elements overflow size_t");
    void* p = host_alloc(n * sizeof(U));  // huge pages where the buffer is large (cpu/host_memory.h)
    BEOP_CHECK(p, "out of host memory allocating ", n * sizeof(U), " bytes");
    std::memset(p, 0, n * sizeof(U));
    return static_cast<U*>(p);
  }
  void release(void* p) { host_free(p); }
  template <typename U>
  void upload(U* dst, const U* host, size_t n) { std::memcpy(dst, host, n * sizeof(U)); }
  template <typename U>
  void download(U* host, const U* src, size_t n) { std::memcpy(host, src, n * sizeof(U)); }
  void zero(Real* p, int64_t n) { std::memset(p, 0, size_t(n) * sizeof(Real)); }

  // kernels
  void embedding_forward(Real* o, const int32_t* tok, const Real* e, int N, int C) {
    cpu::embedding_forward(o, tok, e, N, C);
  }
  void embedding_backward(Real* de, const Real* dout, const int32_t* tok, int N, int C) {
    cpu::embedding_backward(de, dout, tok, N, C);
  }
  void rmsnorm_forward(Real* o, Real* rstd, const Real* x, const Real* w, int N, int C, float eps) {
    cpu::rmsnorm_forward(o, rstd, x, w, N, C, eps);
  }
  void rmsnorm_backward(Real* dx, Real* dw, const Real* dout, const Real* x, const Real* w, const Real* rstd,
                        int N, int C) {
    cpu::rmsnorm_backward(dx, dw, dout, x, w, rstd, N, C);
  }
  // Training GEMMs in bf16 (--dtype bf16, cpu/gemm_bf16.h): the linear layers' operands rounded to bf16, fp32
  // sums; weights, gradients, AdamW moments and activations stay fp32. Decoding (N <= 4 rows) keeps fp32.
  void set_gemm_dtype(const std::string& dtype) {
    BEOP_CHECK(dtype == "fp32" || (dtype == "bf16" && std::is_same<Real, float>::value), "--dtype ", dtype,
               ": the cpu backend trains in fp32 or bf16");
    gemm_bf16 = dtype == "bf16";
    if (gemm_bf16) cpu::bf16_kernel();  // the fallback's one-line notice comes now, not mid-step
  }
  bool gemm_bf16 = false;
  // Inference at --dtype bf16|q8 (cpu/matmul_lowp.h, set by cpu::make_lm): the converted weights. Every
  // linear_forward whose W was converted runs the low-precision kernel, whatever N is (decode, prefill, batch).
  std::shared_ptr<const LowpWeights> lowp;
  void linear_forward(Real* o, const Real* in, const Real* W, int N, int IC, int OC) {
    if constexpr (std::is_same<Real, float>::value) {
      if (lowp)
        if (const LowpMatrix* q = lowp->find(W)) {
          BEOP_CHECK(q->rows() == OC && q->cols() == IC, "linear_forward: converted weight is ", q->rows(), " x ",
                     q->cols(), ", called as ", OC, " x ", IC);
          lowp_linear(o, in, *q, N);
          return;
        }
      if (gemm_bf16 && N > 4) return cpu::linear_forward_bf16(o, in, W, N, IC, OC);
      // A few fp32 rows (decode, batched decode, short prompts): one pass over W for all of them, each row's
      // sums in an order fixed by IC alone, so batched decoding equals one-at-a-time bitwise (cpu/matmul_smallm.h).
      if (N <= kSmallmMaxRows && smallm_enabled()) return cpu::linear_smallm(o, in, W, N, IC, OC);
      // More rows (training, scoring, prefill): the packed fp32 GEMM where the CPU has AVX-512, else Eigen
      // (cpu/gemm_f32.h).
      if (N > 4) return cpu::linear_forward_f32(o, in, W, N, IC, OC);
    }
    cpu::linear_forward(o, in, W, N, IC, OC);
  }
  // Whether linear_forward gives a row the same bits in a call of `a` rows as in a call of `b` rows (whatever the
  // other rows are): within the few-row kernel's range (its sums are fixed by IC alone) or within the packed GEMM's
  // (fixed by K alone), not across the two, and not for Eigen's, bf16's or the converted weights' paths, which make
  // no such promise. Model::prefill_batch_exact asks it before the server batches prompts' prefills.
  bool same_row_results(int a, int b) const {
    if constexpr (std::is_same<Real, float>::value) {
      if (lowp || gemm_bf16) return false;
      auto family = [](int rows) {
        if (rows <= kSmallmMaxRows && smallm_enabled()) return 1;
        return rows > 4 && gemm_f32_enabled() ? 2 : 0;
      };
      return family(a) != 0 && family(a) == family(b);
    }
    return false;
  }
  void linear_backward(Real* din, Real* dW, const Real* dout, const Real* in, const Real* W, int N, int IC,
                       int OC, bool acc) {
    if constexpr (std::is_same<Real, float>::value)
      return gemm_bf16 ? cpu::linear_backward_bf16(din, dW, dout, in, W, N, IC, OC, acc)
                       : cpu::linear_backward_f32(din, dW, dout, in, W, N, IC, OC, acc);
    cpu::linear_backward(din, dW, dout, in, W, N, IC, OC, acc);
  }
  void bias_forward(Real* o, const Real* b, int N, int OC) { cpu::bias_forward(o, b, N, OC); }
  void bias_backward(Real* db, const Real* dout, int N, int OC) { cpu::bias_backward(db, dout, N, OC); }
  void rope_forward(Real* qkv, int B, int T, int H, int KV, int D, int pos0) {
    cpu::rope_forward(qkv, rope_cos.data(), rope_sin.data(), B, T, H, KV, D, pos0);
  }
  void rope_backward(Real* dqkv, int B, int T, int H, int KV, int D, int pos0) {
    cpu::rope_backward(dqkv, rope_cos.data(), rope_sin.data(), B, T, H, KV, D, pos0);
  }
  // Training and scoring attention (train --attention auto | flash | gemm). flash (the default, cpu/attention_flash.h):
  // tiles with an online softmax, saving one logsumexp per query row (B, H, T), its backward rebuilds the
  // probabilities tile by tile; measured faster than gemm on `small` (docs/PERFORMANCE.md) and it drops the
  // (B, H, T, T) buffers from the plan. gemm (cpu/attention.h): GEMMs + softmax, saving the probabilities
  // (B, H, T, T). Model::reserve() reads attention_saves() to size the plan, so switch before reserve(). The
  // attention kind is not model state: a checkpoint written under one resumes under the other.
  bool flash_attention = true;
  void set_attention(const std::string& kind) {
    BEOP_CHECK(kind == "auto" || kind == "flash" || kind == "gemm", "--attention ", kind,
               ": expected auto, flash or gemm");
    flash_attention = kind != "gemm";
  }
  AttentionSaves attention_saves() const {
    return flash_attention ? AttentionSaves::kLogsumexp : AttentionSaves::kProbabilities;
  }
  // att: (B, H, T, T) probabilities, or with flash (B, H, T) logsumexps in Real (the plan gives them
  // max(4, sizeof(Real)) bytes each: fp32, or double in the gradient checks).
  void attention_forward(Real* y, Real* att, const Real* qkv, int B, int T, int H, int KV, int D) {
    if (flash_attention) return cpu::attention_flash_forward(y, att, qkv, B, T, H, KV, D);
    cpu::attention_forward(y, att, qkv, B, T, H, KV, D);
  }
  // datt: (B, H, T, T) dP/dS scratch, or with flash (B, H, T) row dots dy.y
  void attention_backward(Real* dqkv, Real* datt, const Real* dy, const Real* y, const Real* att,
                          const Real* qkv, int B, int T, int H, int KV, int D) {
    if (flash_attention) return cpu::attention_flash_backward(dqkv, datt, dy, y, att, qkv, B, T, H, KV, D);
    cpu::attention_backward(dqkv, datt, dy, att, qkv, B, T, H, KV, D);
  }
  void kv_store(Real* kc, Real* vc, const Real* qkv, int B, int T, int H, int KV, int D, int pos0, int Tmax) {
    cpu::kv_store(kc, vc, qkv, B, T, H, KV, D, pos0, Tmax);
  }
  void attention_cached(Real* y, const Real* qkv, const Real* kc, const Real* vc, int B, int T, int H, int KV, int D,
                        int pos0, int Tmax) {
    cpu::attention_cached(y, qkv, kc, vc, B, T, H, KV, D, pos0, Tmax);
  }
  void residual_forward(Real* o, const Real* a, const Real* b, int64_t n) { cpu::residual_forward(o, a, b, n); }
  void swiglu_forward(Real* act, const Real* gu, int N, int F) { cpu::swiglu_forward(act, gu, N, F); }
  void swiglu_backward(Real* dgu, const Real* dact, const Real* gu, int N, int F) {
    cpu::swiglu_backward(dgu, dact, gu, N, F);
  }
  void cross_entropy_forward(Real* losses, const Real* logits, const int32_t* tgt, const uint8_t* mask, int N,
                             int V, int Vp) {
    cpu::cross_entropy_forward(losses, logits, tgt, mask, N, V, Vp);
  }
  void cross_entropy_backward(Real* logits, const int32_t* tgt, const uint8_t* mask, int N, int V, int Vp,
                              Real inv_count) {
    cpu::cross_entropy_backward(logits, tgt, mask, N, V, Vp, inv_count);
  }
  // optimizer
  double sum(const Real* x, int64_t n) {  // in order, in double: deterministic
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += double(x[i]);
    return s;
  }
  double sum_squares(const Real* x, size_t n) { return cpu::sum_squares(x, n); }
  void scale(Real* x, size_t n, double s) { cpu::scale_inplace(x, n, Real(s)); }
  void adamw_update(Real* p, const Real* g, Real* m, Real* v, size_t n, double lr, double b1, double b2,
                    double eps, double wd, long t) {
    cpu::adamw_update(p, g, m, v, n, lr, b1, b2, eps, wd, t);
  }
};

}  // namespace beop::cpu
