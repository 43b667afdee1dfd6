// Bias add of a linear layer on the GPU (Qwen2's q/k/v projections): out (N, OC) += b (OC); the backward
// pass sums dout over rows. Reference: cpu/bias.h. Tests: tests/test_cuda_kernels.cpp, tests/test_cuda_bf16.cpp.
#pragma once
#include "cuda/kernels/common.cuh"

BEOP_CUDA_NAMESPACE_BEGIN

// out (N, OC) += b (OC). One thread per element.
template <typename T>
__global__ void bias_forward_kernel(T* out, const T* b, int N, int OC) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= int64_t(N) * OC) return;
  out[i] = T(f32(out[i]) + f32(b[i % OC]));
}

// db (OC) += sum over n in order of dout[n, :]. One thread per column, rows in order: deterministic and
// the same order as the reference; adjacent threads read adjacent columns (coalesced).
template <typename T>
__global__ void bias_backward_kernel(T* db, const T* dout, int N, int OC) {
  const int o = blockIdx.x * blockDim.x + threadIdx.x;
  if (o >= OC) return;
  float s = 0;
  for (int n = 0; n < N; n++) s += f32(dout[int64_t(n) * OC + o]);
  db[o] = T(f32(db[o]) + s);
}

template <typename T>
void bias_forward(T* out, const T* b, int N, int OC, cudaStream_t s = 0) {
  BEOP_LAUNCH(bias_forward_kernel<T>, ceil_div(int64_t(N) * OC, 256), 256, 0, s, out, b, N, OC);
  BEOP_CUDA_LAUNCHED();
}

template <typename T>
void bias_backward(T* db, const T* dout, int N, int OC, cudaStream_t s = 0) {
  BEOP_LAUNCH(bias_backward_kernel<T>, ceil_div(OC, 64), 64, 0, s, db, dout, N, OC);
  BEOP_CUDA_LAUNCHED();
}

BEOP_CUDA_NAMESPACE_END
