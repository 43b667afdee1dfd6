// RoPE on the GPU, in place on the q and k heads of the fused qkv buffer (rotate-half pairing, the layout
// and convention of cpu/rope.h and src/rope_tables.h). Tests: tests/test_cuda_kernels.cpp, tests/test_cuda_bf16.cpp.
#pragma once
#include "cuda/kernels/common.cuh"

BEOP_CUDA_NAMESPACE_BEGIN

// cos_t/sin_t (P, half) from inv_freq (half), computed on the device in double and rounded to T, exactly
// like src/rope_tables.cpp's host tables: angle = p * inv_freq[i]. One thread per table entry.
template <typename T>
__global__ void rope_tables_kernel(T* cos_t, T* sin_t, const double* inv_freq, int P, int half) {
  const int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= int64_t(P) * half) return;
  const double a = double(j / half) * inv_freq[j % half];
  cos_t[j] = T(cos(a));
  sin_t[j] = T(sin(a));
}

// One thread per rotated pair (b, t, head h < H+KV, i < D/2); value heads are not touched.
//   forward (dir = +1): y[i] = x[i] cos - x[i+D/2] sin,  y[i+D/2] = x[i+D/2] cos + x[i] sin
//   backward (dir = -1): the same rotation by the negative angle (the rotation is orthogonal).
template <typename T>
__global__ void rope_kernel(T* qkv, const float* cos_t, const float* sin_t, int B, int Tn, int H, int KV, int D, int pos0,
                            int dir) {
  const int half = D / 2, heads = H + KV;
  const int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= int64_t(B) * Tn * heads * half) return;
  const int i = int(j % half);
  const int h = int(j / half % heads);
  const int64_t bt = j / (int64_t(half) * heads);  // b * Tn + t
  const int t = int(bt % Tn);
  T* x = qkv + bt * (H + 2 * KV) * D + int64_t(h) * D;
  const float c = cos_t[int64_t(pos0 + t) * half + i], s = sin_t[int64_t(pos0 + t) * half + i];
  const float x1 = f32(x[i]), x2 = f32(x[i + half]);
  if (dir > 0) {
    x[i] = T(x1 * c - x2 * s);
    x[i + half] = T(x2 * c + x1 * s);
  } else {
    x[i] = T(x1 * c + x2 * s);
    x[i + half] = T(x2 * c - x1 * s);
  }
}

template <typename T>
void rope_tables(T* cos_t, T* sin_t, const double* inv_freq_dev, int P, int half, cudaStream_t s = 0) {
  const int block = 256;
  BEOP_LAUNCH(rope_tables_kernel<T>, ceil_div(int64_t(P) * half, block), block, 0, s, cos_t, sin_t, inv_freq_dev,
              P, half);
  BEOP_CUDA_LAUNCHED();
}

// qkv (B, T, (H+2KV)*D) rotated in place; cos_t/sin_t (max_seq_len, D/2); position = pos0 + t.
template <typename T>
void rope_forward(T* qkv, const float* cos_t, const float* sin_t, int B, int Tn, int H, int KV, int D, int pos0,
                  cudaStream_t s = 0) {
  const int block = 256;
  BEOP_LAUNCH(rope_kernel<T>, ceil_div(int64_t(B) * Tn * (H + KV) * (D / 2), block), block, 0, s, qkv, cos_t, sin_t,
              B, Tn, H, KV, D, pos0, 1);
  BEOP_CUDA_LAUNCHED();
}

template <typename T>
void rope_backward(T* d_qkv, const float* cos_t, const float* sin_t, int B, int Tn, int H, int KV, int D, int pos0,
                   cudaStream_t s = 0) {
  const int block = 256;
  BEOP_LAUNCH(rope_kernel<T>, ceil_div(int64_t(B) * Tn * (H + KV) * (D / 2), block), block, 0, s, d_qkv, cos_t,
              sin_t, B, Tn, H, KV, D, pos0, -1);
  BEOP_CUDA_LAUNCHED();
}

BEOP_CUDA_NAMESPACE_END
