// Causal grouped-query attention, GQA-native: query head h reads key/value head h / (H/KV) straight from
// the fused qkv buffer; K and V are never replicated in memory. Per (batch, head) the work is three small
// GEMMs through Eigen (Q K^T, P V and their transposes in the backward pass); the softmax stores its
// probabilities (B, H, T, T) for the backward pass — this is the CPU reference, not a flash kernel.
// CUDA: cuda/kernels/attention.cuh (the same GEMMs + softmax), cuda/kernels/attention_flash.cuh and
// cuda/kernels/attention_flash_backward.cuh (flash: only the logsumexp is saved),
// cuda/kernels/attention_flash_tc.cuh (flash on tensor cores, bf16). Tests: tests/test_ops.cpp,
// tests/test_cuda_kernels.cpp, tests/test_cuda_bf16.cpp.
#pragma once
#include <cmath>
#include <cstdint>

#include "cpu/linear.h"
#include "cpu/vexp.h"

namespace beop::cpu {

// y (B, T, H*D); att (B, H, T, T) softmax probabilities, zero above the diagonal;
// qkv (B, T, (H+2KV)*D) with q and k already rotated.
template <typename T>
void attention_forward(T* y, T* att, const T* qkv, int B, int Tn, int H, int KV, int D) {
  const int row = (H + 2 * KV) * D, group = H / KV;
  const T scale = T(1) / std::sqrt(T(D));
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++) {
      const int kvh = h / group;
      const T* base = qkv + int64_t(b) * Tn * row;
      ConstMatMap<T> Q(base + h * D, Tn, D, Eigen::OuterStride<>(row));                  // (T, D)
      ConstMatMap<T> K(base + (H + kvh) * D, Tn, D, Eigen::OuterStride<>(row));          // (T, D)
      ConstMatMap<T> V(base + (H + KV + kvh) * D, Tn, D, Eigen::OuterStride<>(row));     // (T, D)
      MatMap<T> P(att + (int64_t(b) * H + h) * Tn * Tn, Tn, Tn, Eigen::OuterStride<>(Tn));  // (T, T)
      P.template triangularView<Eigen::Lower>() = Q * K.transpose();  // only s <= t is computed
      for (int t = 0; t < Tn; t++) {
        T* p = P.data() + int64_t(t) * Tn;
        const T mx = row_max(p, t + 1) * scale;  // scale > 0
        const T sum = exp_sum<true>(p, p, t + 1, scale, mx);  // p[s] = exp(scale p[s] - mx), cpu/vexp.h
        const T inv = T(1) / sum;
        for (int s = 0; s <= t; s++) p[s] *= inv;
        for (int s = t + 1; s < Tn; s++) p[s] = 0;
      }
      MatMap<T> Y(y + int64_t(b) * Tn * H * D + h * D, Tn, D, Eigen::OuterStride<>(H * D));  // (T, D)
      Y.noalias() = P.template triangularView<Eigen::Lower>() * V;
    }
}

// d_qkv (B, T, (H+2KV)*D) = gradient w.r.t. the (rotated) q, k, v — fully overwritten;
// d_att (B, H, T, T) scratch; d_y (B, T, H*D). With S the scaled scores and P = softmax(S):
//   dV = sum_h P^T dY,  dP = dY V^T,  dS = P * (dP - rowsum(dP * P)),  dQ = scale dS K,  dK = sum_h scale dS^T Q
// Threads split (batch, kv head) so the H/KV query heads that add into one dK/dV run in one thread, in order.
template <typename T>
void attention_backward(T* d_qkv, T* d_att, const T* d_y, const T* att, const T* qkv, int B, int Tn, int H,
                        int KV, int D) {
  const int row = (H + 2 * KV) * D, group = H / KV;
  const T scale = T(1) / std::sqrt(T(D));
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; b++)
    for (int kvh = 0; kvh < KV; kvh++) {
      const T* base = qkv + int64_t(b) * Tn * row;
      T* dbase = d_qkv + int64_t(b) * Tn * row;
      ConstMatMap<T> K(base + (H + kvh) * D, Tn, D, Eigen::OuterStride<>(row));
      ConstMatMap<T> V(base + (H + KV + kvh) * D, Tn, D, Eigen::OuterStride<>(row));
      MatMap<T> dK(dbase + (H + kvh) * D, Tn, D, Eigen::OuterStride<>(row));
      MatMap<T> dV(dbase + (H + KV + kvh) * D, Tn, D, Eigen::OuterStride<>(row));
      dK.setZero();
      dV.setZero();
      for (int h = kvh * group; h < (kvh + 1) * group; h++) {
        ConstMatMap<T> Q(base + h * D, Tn, D, Eigen::OuterStride<>(row));
        MatMap<T> dQ(dbase + h * D, Tn, D, Eigen::OuterStride<>(row));
        ConstMatMap<T> dY(d_y + int64_t(b) * Tn * H * D + h * D, Tn, D, Eigen::OuterStride<>(H * D));
        ConstMatMap<T> P(att + (int64_t(b) * H + h) * Tn * Tn, Tn, Tn, Eigen::OuterStride<>(Tn));
        MatMap<T> dS(d_att + (int64_t(b) * H + h) * Tn * Tn, Tn, Tn, Eigen::OuterStride<>(Tn));
        dV.noalias() += P.transpose().template triangularView<Eigen::Upper>() * dY;  // P^T is upper triangular
        dS.template triangularView<Eigen::Lower>() = dY * V.transpose();  // dP, lower part
        for (int t = 0; t < Tn; t++) {
          const T* p = P.data() + int64_t(t) * Tn;
          T* ds = dS.data() + int64_t(t) * Tn;
          T dot = 0;
          for (int s = 0; s <= t; s++) dot += ds[s] * p[s];
          for (int s = 0; s <= t; s++) ds[s] = p[s] * (ds[s] - dot) * scale;  // scale folded in here
          for (int s = t + 1; s < Tn; s++) ds[s] = 0;
        }
        dQ.noalias() = dS.template triangularView<Eigen::Lower>() * K;
        dK.noalias() += dS.transpose().template triangularView<Eigen::Upper>() * Q;
      }
    }
}

}  // namespace beop::cpu
