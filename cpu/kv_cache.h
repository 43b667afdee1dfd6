// Inference attention with a key/value cache: the prefix is never recomputed. A chunk of Tn new tokens at
// positions pos0 .. pos0+Tn-1 (Tn = prompt length for prefill, 1 for each decoding step) first stores its
// rotated k and v into the cache, then attends causally over cache positions 0 .. pos0+t.
// Cache layout per layer: k_cache, v_cache (B, Tmax, KV, D) — GQA-native, KV heads only.
// CUDA: cuda/kernels/kv_cache.cuh. Tests: tests/test_kv_cache.cpp (through the model: decode against a full
// recompute), tests/test_cuda_kernels.cpp, tests/test_cuda_bf16.cpp, tests/test_cuda_model.cpp.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "cpu/linear.h"

namespace beop::cpu {

// k_cache/v_cache (B, Tmax, KV, D) rows pos0 .. pos0+Tn-1  <-  k, v of qkv (B, Tn, (H+2KV)*D)
template <typename T>
void kv_store(T* k_cache, T* v_cache, const T* qkv, int B, int Tn, int H, int KV, int D, int pos0, int Tmax) {
  const int row = (H + 2 * KV) * D;
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; b++)
    for (int t = 0; t < Tn; t++) {
      const T* src = qkv + (int64_t(b) * Tn + t) * row;
      T* kd = k_cache + (int64_t(b) * Tmax + pos0 + t) * KV * D;
      T* vd = v_cache + (int64_t(b) * Tmax + pos0 + t) * KV * D;
      for (int i = 0; i < KV * D; i++) kd[i] = src[H * D + i], vd[i] = src[(H + KV) * D + i];
    }
}

// y (B, Tn, H*D): query t of row b attends to cache positions s <= pos0 + t.
template <typename T>
void attention_cached(T* y, const T* qkv, const T* k_cache, const T* v_cache, int B, int Tn, int H, int KV, int D,
                      int pos0, int Tmax) {
  const int row = (H + 2 * KV) * D, group = H / KV, S = pos0 + Tn;
  const T scale = T(1) / std::sqrt(T(D));
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++) {
      const int kvh = h / group;
      ConstMatMap<T> Q(qkv + int64_t(b) * Tn * row + h * D, Tn, D, Eigen::OuterStride<>(row));             // (Tn, D)
      ConstMatMap<T> K(k_cache + int64_t(b) * Tmax * KV * D + kvh * D, S, D, Eigen::OuterStride<>(KV * D));  // (S, D)
      ConstMatMap<T> V(v_cache + int64_t(b) * Tmax * KV * D + kvh * D, S, D, Eigen::OuterStride<>(KV * D));  // (S, D)
      RowMat<T> P = Q * K.transpose();  // (Tn, S) scores
      for (int t = 0; t < Tn; t++) {
        T* p = P.data() + int64_t(t) * S;
        const int last = pos0 + t;  // causal: keys 0 .. last
        T mx = -INFINITY;
        for (int s = 0; s <= last; s++) mx = p[s] * scale > mx ? p[s] * scale : mx;
        T sum = 0;
        for (int s = 0; s <= last; s++) sum += (p[s] = std::exp(p[s] * scale - mx));
        for (int s = 0; s <= last; s++) p[s] /= sum;
        for (int s = last + 1; s < S; s++) p[s] = 0;
      }
      MatMap<T> Y(y + int64_t(b) * Tn * H * D + h * D, Tn, D, Eigen::OuterStride<>(H * D));
      Y.noalias() = P * V;
    }
}

}  // namespace beop::cpu
