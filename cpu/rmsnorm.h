// RMSNorm (Llama): y = x / sqrt(mean(x^2) + eps) * w. No mean subtraction, no bias.
// CUDA: cuda/kernels/rmsnorm.cuh. Tests: tests/test_ops.cpp, tests/test_cuda_kernels.cpp, tests/test_cuda_bf16.cpp.
#pragma once
#include <cmath>
#include <cstdint>

#include "cpu/lane_sum.h"

namespace beop::cpu {

// out (N, C), rstd (N) = 1/sqrt(mean(x^2)+eps) saved for backward;  x (N, C), w (C)
template <typename T>
void rmsnorm_forward(T* out, T* rstd, const T* x, const T* w, int N, int C, float eps) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    const T* xr = x + int64_t(n) * C;
    const T ss = dot_lanes(xr, xr, C);  // cpu/lane_sum.h: 16 lanes, vectorized
    const T r = T(1) / std::sqrt(ss / C + T(eps));
    rstd[n] = r;
    T* o = out + int64_t(n) * C;
    for (int c = 0; c < C; c++) o[c] = xr[c] * r * w[c];
  }
}

// dx (N, C) += d/dx,  dw (C) += d/dw.   With xhat = x * rstd and g = dout * w:
//   dx = rstd * (g - xhat * mean(g * xhat)),   dw = sum_n dout * xhat
// dx accumulates because in the model dx is the residual-stream gradient, which already holds the
// gradient of the skip connection.
template <typename T>
void rmsnorm_backward(T* dx, T* dw, const T* dout, const T* x, const T* w, const T* rstd, int N, int C) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    const T* xr = x + int64_t(n) * C;
    const T* dr = dout + int64_t(n) * C;
    const T r = rstd[n];
    // sum_c g * xhat = r * sum_c dout w x, in 16 lanes (cpu/lane_sum.h)
    const T dot = r * lane_sum<16, T>(C, [&](int64_t c) { return dr[c] * w[c] * xr[c]; });
    const T mean_dot = dot / C;
    T* dxr = dx + int64_t(n) * C;
    for (int c = 0; c < C; c++) dxr[c] += r * (dr[c] * w[c] - xr[c] * r * mean_dot);
  }
  // dw: threads split channels and each sums over rows in order, so the sum is deterministic.
  constexpr int kChunk = 16;
  const int chunks = (C + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static)
  for (int ch = 0; ch < chunks; ch++) {
    const int c0 = ch * kChunk, c1 = c0 + kChunk < C ? c0 + kChunk : C;
    T acc[kChunk] = {};
    for (int n = 0; n < N; n++) {
      const T* xr = x + int64_t(n) * C;
      const T* dr = dout + int64_t(n) * C;
      const T r = rstd[n];
      for (int c = c0; c < c1; c++) acc[c - c0] += dr[c] * xr[c] * r;
    }
    for (int c = c0; c < c1; c++) dw[c] += acc[c - c0];
  }
}

}  // namespace beop::cpu
