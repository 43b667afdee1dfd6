// Token embedding: forward gathers rows, backward scatters gradients back to the rows used.
// CUDA: cuda/kernels/embedding.cuh. Tests: tests/test_ops.cpp, tests/test_cuda_kernels.cpp,
// tests/test_cuda_bf16.cpp.
#pragma once
#include <cstdint>

namespace beop::cpu {

// out (N, C) = emb[tokens[n], :]            emb (Vp, C), tokens (N)
template <typename T>
void embedding_forward(T* out, const int32_t* tokens, const T* emb, int N, int C) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    const T* row = emb + int64_t(tokens[n]) * C;
    T* o = out + int64_t(n) * C;
    for (int c = 0; c < C; c++) o[c] = row[c];
  }
}

// d_emb (Vp, C) += sum over n of d_out[n, :] into row tokens[n]
// Threads split the channels, not the tokens: two tokens with the same id never race, and every element
// is summed in token order, so the result is deterministic whatever the thread count.
template <typename T>
void embedding_backward(T* d_emb, const T* d_out, const int32_t* tokens, int N, int C) {
  constexpr int kChunk = 16;
  const int chunks = (C + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static)
  for (int ch = 0; ch < chunks; ch++) {
    const int c0 = ch * kChunk, c1 = c0 + kChunk < C ? c0 + kChunk : C;
    for (int n = 0; n < N; n++) {
      T* d = d_emb + int64_t(tokens[n]) * C;
      const T* g = d_out + int64_t(n) * C;
      for (int c = c0; c < c1; c++) d[c] += g[c];
    }
  }
}

}  // namespace beop::cpu
