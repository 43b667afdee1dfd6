// SwiGLU on the GPU: act = silu(gate) * up, with gate | up one (N, 2F) row per token.
// Reference: cpu/swiglu.h. Tests: tests/test_cuda_kernels.cpp, tests/test_cuda_bf16.cpp.
#pragma once
#include "cuda/kernels/common.cuh"

BEOP_CUDA_NAMESPACE_BEGIN

// act (N, F) = silu(gate_up[:, :F]) * gate_up[:, F:]. One thread per output element.
template <typename T>
__global__ void swiglu_forward_kernel(T* act, const T* gate_up, int N, int F) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= int64_t(N) * F) return;
  const int64_t n = i / F, f = i % F;
  const float g = f32(gate_up[n * 2 * F + f]), u = f32(gate_up[n * 2 * F + F + f]);
  act[i] = T(g / (1.0f + expf(-g)) * u);
}

// d_gate_up (N, 2F): d_up = d_act * silu(g),  d_gate = d_act * u * sig(g) * (1 + g * (1 - sig(g))).
// One thread per (n, f) writes both halves, so every element of d_gate_up is written.
template <typename T>
__global__ void swiglu_backward_kernel(T* d_gate_up, const T* d_act, const T* gate_up, int N, int F) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= int64_t(N) * F) return;
  const int64_t n = i / F, f = i % F;
  const float g = f32(gate_up[n * 2 * F + f]), u = f32(gate_up[n * 2 * F + F + f]), da = f32(d_act[i]);
  const float sig = 1.0f / (1.0f + expf(-g));
  d_gate_up[n * 2 * F + F + f] = T(da * g * sig);
  d_gate_up[n * 2 * F + f] = T(da * u * sig * (1.0f + g * (1.0f - sig)));
}

template <typename T>
void swiglu_forward(T* act, const T* gate_up, int N, int F, cudaStream_t s = 0) {
  const int block = 256;
  BEOP_LAUNCH(swiglu_forward_kernel<T>, ceil_div(int64_t(N) * F, block), block, 0, s, act, gate_up, N, F);
  BEOP_CUDA_LAUNCHED();
}

template <typename T>
void swiglu_backward(T* d_gate_up, const T* d_act, const T* gate_up, int N, int F, cudaStream_t s = 0) {
  const int block = 256;
  BEOP_LAUNCH(swiglu_backward_kernel<T>, ceil_div(int64_t(N) * F, block), block, 0, s, d_gate_up, d_act, gate_up,
              N, F);
  BEOP_CUDA_LAUNCHED();
}

BEOP_CUDA_NAMESPACE_END
