// RoPE applied in place to the q and k heads of the fused qkv buffer (rotate-half pairing, see src/rope_tables.h).
// Per token the buffer holds H query heads, then KV key heads, then KV value heads, each D wide; the first
// H+KV heads are rotated, the value heads are not.
// CUDA: cuda/kernels/rope.cuh. Tests: tests/test_ops.cpp, tests/test_cuda_kernels.cpp, tests/test_cuda_bf16.cpp.
#pragma once
#include <cstdint>

namespace beop::cpu {

// qkv (B, T, (H+2KV)*D) rotated in place; cos_t/sin_t (max_seq_len, D/2); position = pos0 + t.
//   y[i] = x[i] cos - x[i+D/2] sin,  y[i+D/2] = x[i+D/2] cos + x[i] sin
template <typename T>
void rope_forward(T* qkv, const T* cos_t, const T* sin_t, int B, int Tn, int H, int KV, int D, int pos0) {
  const int half = D / 2, row = (H + 2 * KV) * D;
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; b++)
    for (int t = 0; t < Tn; t++) {
      T* x = qkv + (int64_t(b) * Tn + t) * row;
      const T* c = cos_t + int64_t(pos0 + t) * half;
      const T* s = sin_t + int64_t(pos0 + t) * half;
      for (int h = 0; h < H + KV; h++) {
        T* xh = x + h * D;
        for (int i = 0; i < half; i++) {
          const T x1 = xh[i], x2 = xh[i + half];
          xh[i] = x1 * c[i] - x2 * s[i];
          xh[i + half] = x2 * c[i] + x1 * s[i];
        }
      }
    }
}

// The rotation is orthogonal, so the backward pass rotates the gradient by the negative angle, in place:
//   dx[i] = dy[i] cos + dy[i+D/2] sin,  dx[i+D/2] = dy[i+D/2] cos - dy[i] sin
template <typename T>
void rope_backward(T* d_qkv, const T* cos_t, const T* sin_t, int B, int Tn, int H, int KV, int D, int pos0) {
  const int half = D / 2, row = (H + 2 * KV) * D;
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; b++)
    for (int t = 0; t < Tn; t++) {
      T* g = d_qkv + (int64_t(b) * Tn + t) * row;
      const T* c = cos_t + int64_t(pos0 + t) * half;
      const T* s = sin_t + int64_t(pos0 + t) * half;
      for (int h = 0; h < H + KV; h++) {
        T* gh = g + h * D;
        for (int i = 0; i < half; i++) {
          const T g1 = gh[i], g2 = gh[i + half];
          gh[i] = g1 * c[i] + g2 * s[i];
          gh[i + half] = g2 * c[i] - g1 * s[i];
        }
      }
    }
}

}  // namespace beop::cpu
