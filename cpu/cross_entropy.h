// Fused softmax + cross-entropy with a per-token loss mask, over the first V of Vp logit columns (the
// padding columns V..Vp-1 are excluded from the softmax and get zero gradient).
// Loss = sum_n mask[n] * (logsumexp(logits[n]) - logits[n, target[n]]) / count, where the caller supplies
// count = the number of unmasked targets in the whole optimizer batch (all micro-batches), so gradient
// accumulation over micro-batches gives exactly the gradient of one big batch.
// CUDA: cuda/kernels/cross_entropy.cuh. Tests: tests/test_ops.cpp, tests/test_cuda_kernels.cpp,
// tests/test_cuda_bf16.cpp.
#pragma once
#include <cmath>
#include <cstdint>

#include "cpu/vexp.h"

namespace beop::cpu {

// losses (N) = per-token masked negative log-likelihood (0 where masked); logits (N, Vp); targets (N);
// mask (N) of 0/1, or nullptr for all ones. Targets of masked positions are not read.
template <typename T>
void cross_entropy_forward(T* losses, const T* logits, const int32_t* targets, const uint8_t* mask, int N,
                           int V, int Vp) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    if (mask && !mask[n]) {
      losses[n] = 0;
      continue;
    }
    const T* l = logits + int64_t(n) * Vp;
    const T mx = row_max(l, V);
    const T sum = exp_sum<false>(static_cast<T*>(nullptr), l, V, T(1), mx);  // cpu/vexp.h: vectorized
    losses[n] = std::log(sum) + mx - l[targets[n]];
  }
}

// In place: logits (N, Vp) become d loss / d logits = mask[n] * inv_count * (softmax - onehot(target)),
// zero on padding columns and masked rows.
template <typename T>
void cross_entropy_backward(T* logits, const int32_t* targets, const uint8_t* mask, int N, int V, int Vp,
                            T inv_count) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    T* l = logits + int64_t(n) * Vp;
    if (mask && !mask[n]) {
      for (int v = 0; v < Vp; v++) l[v] = 0;
      continue;
    }
    const T mx = row_max(l, V);
    const T sum = exp_sum<true>(l, l, V, T(1), mx);  // l[v] = exp(l[v] - mx)
    const T k = inv_count / sum;
    for (int v = 0; v < V; v++) l[v] *= k;
    for (int v = V; v < Vp; v++) l[v] = 0;
    l[targets[n]] -= inv_count;
  }
}

}  // namespace beop::cpu
