// SwiGLU activation of the Llama MLP: act = silu(gate) * up, silu(g) = g * sigmoid(g).
// gate and up come from one fused (2F, C) projection, so per token the input row is gate | up.
// CUDA: cuda/kernels/swiglu.cuh. Tests: tests/test_ops.cpp, tests/test_cuda_kernels.cpp, tests/test_cuda_bf16.cpp.
#pragma once
#include <cmath>
#include <cstdint>

#include "cpu/vexp.h"

namespace beop::cpu {

// act (N, F) = silu(gate_up[:, :F]) * gate_up[:, F:]          gate_up (N, 2F)
template <typename T>
void swiglu_forward(T* act, const T* gate_up, int N, int F) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    const T* g = gate_up + int64_t(n) * 2 * F;
    const T* u = g + F;
    T* a = act + int64_t(n) * F;
    for (int f = 0; f < F; f++) a[f] = g[f] / (T(1) + fast_exp(-g[f])) * u[f];  // cpu/vexp.h: vectorized
  }
}

// d_gate_up (N, 2F):  d_up = d_act * silu(g),  d_gate = d_act * u * sig(g) * (1 + g * (1 - sig(g)))
template <typename T>
void swiglu_backward(T* d_gate_up, const T* d_act, const T* gate_up, int N, int F) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    const T* g = gate_up + int64_t(n) * 2 * F;
    const T* u = g + F;
    const T* da = d_act + int64_t(n) * F;
    T* dg = d_gate_up + int64_t(n) * 2 * F;
    T* du = dg + F;
    for (int f = 0; f < F; f++) {
      const T sig = T(1) / (T(1) + fast_exp(-g[f]));
      du[f] = da[f] * g[f] * sig;
      dg[f] = da[f] * u[f] * sig * (T(1) + g[f] * (T(1) - sig));
    }
  }
}

}  // namespace beop::cpu
