// Shared by the CUDA backend tests (tests/test_cuda_kernels.cpp, test_cuda_model.cpp, test_cuda_bf16.cpp):
// random inputs (token ids, the one-layer config the RoPE tables need, training batches), one training step,
// and the KV-cache decode comparison of a CUDA model against CpuModel.
#pragma once
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "src/config.h"
#include "src/model.h"
#include "src/optim.h"
#include "src/rng.h"
#include "tests/cuda_check.h"
#include "tests/test_util.h"

namespace beop::cudatest {

inline std::vector<int32_t> random_ids(int n, int V, uint64_t seed) {
  Rng r(seed);
  std::vector<int32_t> v(n);
  for (auto& x : v) x = int32_t(r.below(uint64_t(V)));
  return v;
}

// One layer of head_dim D: enough for the RoPE tables of CudaOps / src/rope_tables.h.
inline ModelConfig rope_config(int D, int max_T) {
  ModelConfig c;
  c.vocab_size = 10, c.d_model = 8, c.n_layers = 1, c.n_heads = 1, c.n_kv_heads = 1, c.head_dim = D;
  c.ffn_hidden = 8, c.max_seq_len = max_T, c.rope_theta = 10000.0f;
  return c;
}

// B x T random inputs, targets, and a loss mask with about 75% ones (tests/test_util.h).
using Batch = test::RandomBatch;
inline Batch random_batch(const ModelConfig& c, int B, int T, uint64_t seed) {
  return test::random_batch(c.vocab_size, B, T, seed, 0.75);
}

// One training step (zero_grad, forward, backward, AdamW); returns the mean loss.
template <class M>
double train_step(M& m, const Batch& b, int B, int T, double lr) {
  m.zero_grad();
  const LossSum ls = m.forward(b.x.data(), b.y.data(), b.mask.data(), B, T);
  m.backward(1.0 / double(ls.count));
  AdamWConfig opt;
  m.step(opt, lr);
  return ls.mean();
}

// Prefill of P tokens per row, then one token at a time up to Tmax, on both models (same weights): the
// last-position logits of every step within tol of the CPU's.
template <class Cpu, class Gpu>
void check_kv_decode(Cpu& cpu, Gpu& gpu, const ModelConfig& cfg, int B, int Tmax, int P, double tol) {
  const Batch b = random_batch(cfg, B, Tmax, 21);
  cpu.infer_reserve(B, Tmax);
  gpu.infer_reserve(B, Tmax);
  std::vector<int32_t> prompt;
  for (int r = 0; r < B; r++)
    for (int t = 0; t < P; t++) prompt.push_back(b.x[size_t(r) * Tmax + t]);
  CHECK(rel_err(gpu.download_logits(gpu.infer_step(prompt.data(), B, P, 0), B),
                cpu.download_logits(cpu.infer_step(prompt.data(), B, P, 0), B)) <= tol);
  for (int pos = P; pos < Tmax; pos++) {
    CAPTURE(pos);
    std::vector<int32_t> tok;
    for (int r = 0; r < B; r++) tok.push_back(b.x[size_t(r) * Tmax + pos]);
    CHECK(rel_err(gpu.download_logits(gpu.infer_step(tok.data(), B, 1, pos), B),
                  cpu.download_logits(cpu.infer_step(tok.data(), B, 1, pos), B)) <= tol);
  }
}

}  // namespace beop::cudatest
