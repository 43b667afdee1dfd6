// Causal grouped-query attention on the GPU, built on batched GEMMs (cuda/gemm.h) plus hand-written causal
// softmax forward/backward kernels. Same definition and saved-probabilities layout as cpu/attention.h:
//   qkv (B, T, (H+2KV)*D) with q, k rotated;  att (B, H, T, T) softmax probabilities, 0 above the diagonal;
//   y (B, T, H*D).
// GQA-native: query head h reads K/V head h / (H/KV) in place from the fused qkv buffer (leading dimension
// (H+2KV)*D); K and V are never replicated. Each GEMM call covers one head for all B sequences (strided
// batch over b). Tests: tests/test_cuda_kernels.cpp, tests/test_cuda_bf16.cpp.
#pragma once
#include "cuda/gemm.h"
#include "cuda/kernels/common.cuh"

BEOP_CUDA_NAMESPACE_BEGIN

constexpr int kSoftmaxRowsPerBlock = 4;  // one warp per row, 4 warps per block

// In place on att (rows, T) where row r is query position t = r % T of one (b, h):
//   p[s] = exp(S[s] * scale - max) / sum for s <= t,  p[s] = 0 for s > t.
// One warp per row; lanes stride over s; max and sum by warp butterflies (fixed order).
template <typename T>
__global__ void causal_softmax_forward_kernel(T* att, int64_t rows, int Tn, float scale) {
  const int64_t r = int64_t(blockIdx.x) * kSoftmaxRowsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (r >= rows) return;  // uniform over the warp
  const int t = int(r % Tn);
  T* p = att + r * Tn;
  float mx = -INFINITY;
  for (int s = lane; s <= t; s += 32) mx = fmaxf(mx, f32(p[s]) * scale);
  mx = warp_max(mx);
  float sum = 0;
  for (int s = lane; s <= t; s += 32) {  // own elements only
    const float e = expf(f32(p[s]) * scale - mx);
    p[s] = T(e);
    sum += e;
  }
  sum = warp_sum(sum);
  const float inv = 1.0f / sum;
  for (int s = lane; s < Tn; s += 32) p[s] = T(s <= t ? f32(p[s]) * inv : 0.0f);
}

// In place on d_att (rows, T) holding dP = dY V^T:  dS[s] = P[s] * (dP[s] - sum_{s'<=t} dP[s'] P[s']) * scale
// for s <= t (the 1/sqrt(D) of the scores folded in), 0 above the diagonal.
template <typename T>
__global__ void causal_softmax_backward_kernel(T* d_att, const T* att, int64_t rows, int Tn, float scale) {
  const int64_t r = int64_t(blockIdx.x) * kSoftmaxRowsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (r >= rows) return;
  const int t = int(r % Tn);
  const T* p = att + r * Tn;
  T* ds = d_att + r * Tn;
  float dot = 0;
  for (int s = lane; s <= t; s += 32) dot += f32(ds[s]) * f32(p[s]);
  dot = warp_sum(dot);
  for (int s = lane; s < Tn; s += 32) ds[s] = T(s <= t ? f32(p[s]) * (f32(ds[s]) - dot) * scale : 0.0f);
}

template <typename T>
void causal_softmax_forward(T* att, int64_t rows, int Tn, float scale, cudaStream_t s = 0) {
  BEOP_LAUNCH(causal_softmax_forward_kernel<T>, ceil_div(rows, kSoftmaxRowsPerBlock), 32 * kSoftmaxRowsPerBlock, 0,
              s, att, rows, Tn, scale);
  BEOP_CUDA_LAUNCHED();
}

template <typename T>
void causal_softmax_backward(T* d_att, const T* att, int64_t rows, int Tn, float scale, cudaStream_t s = 0) {
  BEOP_LAUNCH(causal_softmax_backward_kernel<T>, ceil_div(rows, kSoftmaxRowsPerBlock), 32 * kSoftmaxRowsPerBlock,
              0, s, d_att, att, rows, Tn, scale);
  BEOP_CUDA_LAUNCHED();
}

// y (B, T, H*D); att (B, H, T, T); qkv (B, T, (H+2KV)*D).
//   per head h (batched over b):  S = Q_h K_kv^T  ->  P = causal_softmax(S / sqrt(D))  ->  Y_h = P V_kv
// The full T x T score matrix is computed (the masked half is overwritten by the softmax); this is the
// simple GEMM formulation, not a flash kernel.
template <typename T>
void attention_forward(T* y, T* att, const T* qkv, int B, int Tn, int H, int KV, int D, cudaStream_t s = 0) {
  const int row = (H + 2 * KV) * D, group = H / KV, HD = H * D;
  const int64_t TT = int64_t(Tn) * Tn, seq = int64_t(Tn) * row;
  for (int h = 0; h < H; h++) {
    const int kvh = h / group;
    gemm(false, true, Tn, Tn, D, 1.0f, qkv + h * D, row, seq, qkv + (H + kvh) * D, row, seq, 0.0f, att + h * TT, Tn,
         H * TT, B, s);
  }
  causal_softmax_forward(att, int64_t(B) * H * Tn, Tn, 1.0f / sqrtf(float(D)), s);
  for (int h = 0; h < H; h++) {
    const int kvh = h / group;
    gemm(false, false, Tn, D, Tn, 1.0f, att + h * TT, Tn, H * TT, qkv + (H + KV + kvh) * D, row, seq, 0.0f, y + h * D,
         HD, int64_t(Tn) * HD, B, s);
  }
}

// d_qkv (B, T, (H+2KV)*D) fully overwritten; d_att (B, H, T, T) scratch; d_y (B, T, H*D).
//   dV_kv = sum_h P_h^T dY_h,  dP = dY V^T,  dS = softmax_backward(dP),  dQ_h = dS K,  dK_kv = sum_h dS^T Q_h
// The H/KV query heads of one KV head add into dK/dV in ascending h (beta 0 for the first), as the CPU does.
template <typename T>
void attention_backward(T* d_qkv, T* d_att, const T* d_y, const T* att, const T* qkv, int B, int Tn, int H, int KV,
                        int D, cudaStream_t s = 0) {
  const int row = (H + 2 * KV) * D, group = H / KV, HD = H * D;
  const int64_t TT = int64_t(Tn) * Tn, seq = int64_t(Tn) * row, yseq = int64_t(Tn) * HD;
  for (int h = 0; h < H; h++) {
    const int kvh = h / group;
    const float beta = h % group == 0 ? 0.0f : 1.0f;
    const T* dY = d_y + h * D;
    gemm(true, false, Tn, D, Tn, 1.0f, att + h * TT, Tn, H * TT, dY, HD, yseq, beta, d_qkv + (H + KV + kvh) * D, row,
         seq, B, s);  // dV
    gemm(false, true, Tn, Tn, D, 1.0f, dY, HD, yseq, qkv + (H + KV + kvh) * D, row, seq, 0.0f, d_att + h * TT, Tn,
         H * TT, B, s);  // dP
  }
  causal_softmax_backward(d_att, att, int64_t(B) * H * Tn, Tn, 1.0f / sqrtf(float(D)), s);
  for (int h = 0; h < H; h++) {
    const int kvh = h / group;
    const float beta = h % group == 0 ? 0.0f : 1.0f;
    gemm(false, false, Tn, D, Tn, 1.0f, d_att + h * TT, Tn, H * TT, qkv + (H + kvh) * D, row, seq, 0.0f,
         d_qkv + h * D, row, seq, B, s);  // dQ
    gemm(true, false, Tn, D, Tn, 1.0f, d_att + h * TT, Tn, H * TT, qkv + h * D, row, seq, beta,
         d_qkv + (H + kvh) * D, row, seq, B, s);  // dK
  }
}

BEOP_CUDA_NAMESPACE_END
