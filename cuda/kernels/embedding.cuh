// Token embedding on the GPU: forward gathers rows, backward scatters gradients into the rows used —
// deterministically, with no atomics. Reference: cpu/embedding.h. Tests: tests/test_cuda_kernels.cpp.
#pragma once
#include "common.cuh"

BEOP_CUDA_NAMESPACE_BEGIN

// out (N, C) = emb[tokens[n], :]      emb (Vp, C), tokens (N). One thread per output element.
template <typename T>
__global__ void embedding_forward_kernel(T* out, const int32_t* tokens, const T* emb, int N, int C) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= int64_t(N) * C) return;
  const int64_t n = i / C, c = i % C;
  out[i] = emb[int64_t(tokens[n]) * C + c];
}

// d_emb (Vp, C) += d_out[n, :] into row tokens[n], for every n.
// One thread per channel c walks the tokens in order 0..N-1: two tokens with the same id are added by the
// same thread one after the other (no race, no atomics), and each element's sum runs in token order —
// the same order as the CPU reference, so the result is bit-identical to it and to every other run.
// Adjacent threads touch adjacent channels of one row, so the loads and stores are coalesced.
template <typename T>
__global__ void embedding_backward_kernel(T* d_emb, const T* d_out, const int32_t* tokens, int N, int C) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  for (int n = 0; n < N; n++) {
    T& e = d_emb[int64_t(tokens[n]) * C + c];
    e = T(f32(e) + f32(d_out[int64_t(n) * C + c]));
  }
}

template <typename T>
void embedding_forward(T* out, const int32_t* tokens, const T* emb, int N, int C, cudaStream_t s = 0) {
  const int block = 256;
  BEOP_LAUNCH(embedding_forward_kernel<T>, ceil_div(int64_t(N) * C, block), block, 0, s, out, tokens, emb, N, C);
  BEOP_CUDA_LAUNCHED();
}

template <typename T>
void embedding_backward(T* d_emb, const T* d_out, const int32_t* tokens, int N, int C, cudaStream_t s = 0) {
  const int block = 64;  // small blocks: C / 64 blocks keep more SMs busy at C = 2048..4096
  BEOP_LAUNCH(embedding_backward_kernel<T>, ceil_div(C, block), block, 0, s, d_emb, d_out, tokens, N, C);
  BEOP_CUDA_LAUNCHED();
}

BEOP_CUDA_NAMESPACE_END
