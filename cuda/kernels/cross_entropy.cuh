// Fused classifier on the GPU: softmax + cross-entropy over the first V of Vp logit columns with a
// per-token loss mask; the backward pass writes d loss / d logits in place, padding columns zeroed.
// Same definition as cpu/cross_entropy.h. Tests: tests/test_cuda_kernels.cpp, tests/test_cuda_bf16.cpp.
#pragma once
#include "cuda/kernels/common.cuh"

BEOP_CUDA_NAMESPACE_BEGIN

inline int cross_entropy_block(int V) { return V >= 512 ? 512 : (V + 31) / 32 * 32; }

// Online softmax statistics: (m, s) with s = sum exp(l - m) over the values seen so far. Merging two
// partial states rescales the one with the smaller max; an empty state is (-inf, 0).
__device__ __forceinline__ void softmax_merge(float& m, float& s, float m2, float s2) {
  if (m2 == -INFINITY) return;
  if (m == -INFINITY) {
    m = m2, s = s2;
    return;
  }
  const float mn = fmaxf(m, m2);
  s = s * expf(m - mn) + s2 * expf(m2 - mn);
  m = mn;
}

// (max, sum exp(l - max)) of l[0 .. V) over the whole block, in ONE read of the row: each thread keeps an
// online (m, s) over its strided elements, then warp butterflies and the warp partials (in warp order) merge
// them. Fixed order: deterministic. buf: 64 elements of shared memory. Every thread gets the result.
template <typename T>
__device__ __forceinline__ void block_softmax_stats(const T* l, int V, float& m, float& s, float* buf) {
  m = -INFINITY, s = 0;
  for (int v = threadIdx.x; v < V; v += blockDim.x) {
    const float x = f32(l[v]);
    if (x > m) {
      s = s * expf(m - x) + 1.0f;  // first element: s = 0 * 0 + 1
      m = x;
    } else {
      s += expf(x - m);
    }
  }
  for (int off = 16; off > 0; off >>= 1) {
    const float m2 = __shfl_xor_sync(kFullMask, m, off), s2 = __shfl_xor_sync(kFullMask, s, off);
    softmax_merge(m, s, m2, s2);
  }
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
  __syncthreads();  // buf may still be read by an earlier use
  if (lane == 0) buf[warp] = m, buf[32 + warp] = s;
  __syncthreads();
  m = lane < nwarps ? buf[lane] : -INFINITY;
  s = lane < nwarps ? buf[32 + lane] : 0.0f;
  for (int off = 16; off > 0; off >>= 1) {
    const float m2 = __shfl_xor_sync(kFullMask, m, off), s2 = __shfl_xor_sync(kFullMask, s, off);
    softmax_merge(m, s, m2, s2);
  }
}

// losses (N): mask[n] ? logsumexp(logits[n, :V]) - logits[n, target[n]] : 0.  logits (N, Vp).
// One block per row; the row is read once (online max + sum).
template <typename T>
__global__ void cross_entropy_forward_kernel(T* losses, const T* logits, const int32_t* targets,
                                             const uint8_t* mask, int N, int V, int Vp) {
  __shared__ float buf[64];
  const int64_t n = blockIdx.x;
  if (mask && !mask[n]) {  // uniform over the block: every thread leaves before any barrier
    if (threadIdx.x == 0) losses[n] = T(0.0f);
    return;
  }
  const T* l = logits + n * Vp;
  float mx, sum;
  block_softmax_stats(l, V, mx, sum, buf);
  if (threadIdx.x == 0) losses[n] = T(logf(sum) + mx - f32(l[targets[n]]));
}

// In place: logits (N, Vp) := mask[n] * inv_count * (softmax(logits[n, :V]) - onehot(target[n])), zero on
// columns V..Vp-1 and on masked rows. Every element of the row is written. Two passes over the row: the
// online statistics, then one read + one write per element.
template <typename T>
__global__ void cross_entropy_backward_kernel(T* logits, const int32_t* targets, const uint8_t* mask, int N, int V,
                                              int Vp, float inv_count) {
  __shared__ float buf[64];
  const int64_t n = blockIdx.x;
  T* l = logits + n * Vp;
  if (mask && !mask[n]) {
    for (int v = threadIdx.x; v < Vp; v += blockDim.x) l[v] = T(0.0f);
    return;
  }
  float mx, sum;
  block_softmax_stats(l, V, mx, sum, buf);
  const float k = inv_count / sum;
  const int tgt = targets[n];
  for (int v = threadIdx.x; v < Vp; v += blockDim.x) {
    if (v >= V) {
      l[v] = T(0.0f);
    } else {
      float d = expf(f32(l[v]) - mx) * k;
      if (v == tgt) d -= inv_count;
      l[v] = T(d);
    }
  }
}

template <typename T>
void cross_entropy_forward(T* losses, const T* logits, const int32_t* targets, const uint8_t* mask, int N, int V,
                           int Vp, cudaStream_t s = 0) {
  BEOP_LAUNCH(cross_entropy_forward_kernel<T>, N, cross_entropy_block(V), 0, s, losses, logits, targets, mask, N, V,
              Vp);
  BEOP_CUDA_LAUNCHED();
}

template <typename T>
void cross_entropy_backward(T* logits, const int32_t* targets, const uint8_t* mask, int N, int V, int Vp,
                            float inv_count, cudaStream_t s = 0) {
  BEOP_LAUNCH(cross_entropy_backward_kernel<T>, N, cross_entropy_block(V), 0, s, logits, targets, mask, N, V, Vp,
              inv_count);
  BEOP_CUDA_LAUNCHED();
}

BEOP_CUDA_NAMESPACE_END
