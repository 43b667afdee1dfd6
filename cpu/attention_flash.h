// Fused causal grouped-query attention on the CPU (flash attention): tiles of queries against tiles of keys with
// an online softmax, so no (B, H, T, T) buffer exists; only the logsumexp of every query row (B, H, T) is saved.
// The backward pass recomputes the probabilities tile by tile from Q, K and the logsumexps, as the CUDA flash
// kernels do; this is their CPU reference, and CpuOps' default attention (cpu/ops.h, train --attention). The same
// results as
// cpu/attention.h up to fp32 summation order (the sums run over tiles). Per tile the products are small Eigen
// GEMMs; threads split (batch, head) in the forward pass and (batch, kv head) in the backward pass, so the query
// heads that add into one dK/dV run in one thread, in order.
// CUDA: cuda/kernels/attention_flash.cuh, cuda/kernels/attention_flash_backward.cuh.
// Tests: tests/test_attention_flash.cpp, tests/test_train.cpp (flash vs gemm training), tests/test_cuda_kernels.cpp.
#pragma once
#include <cmath>
#include <cstdint>

#include "cpu/linear.h"
#include "cpu/vexp.h"

namespace beop::cpu {

constexpr int kFlashTile = 64;  // query rows and key columns per tile: S, P, dS tiles of 64 x 64 stay in L1/L2

// y (B, T, H*D); lse (B, H, T) = log sum_s exp(scale q.k_s) per query row; qkv (B, T, (H+2KV)*D), q and k rotated.
template <typename T>
void attention_flash_forward(T* y, T* lse, const T* qkv, int B, int Tn, int H, int KV, int D) {
  const int row = (H + 2 * KV) * D, group = H / KV, tiles = (Tn + kFlashTile - 1) / kFlashTile;
  const T scale = T(1) / std::sqrt(T(D));
#pragma omp parallel for collapse(3) schedule(dynamic)
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++)
      for (int qt = 0; qt < tiles; qt++) {
        const int kvh = h / group, q0 = qt * kFlashTile, nq = std::min(kFlashTile, Tn - q0);
        const T* base = qkv + int64_t(b) * Tn * row;
        ConstMatMap<T> Q(base + int64_t(q0) * row + h * D, nq, D, Eigen::OuterStride<>(row));  // (nq, D)
        RowMat<T> S(nq, kFlashTile), O = RowMat<T>::Zero(nq, D);
        Eigen::Matrix<T, Eigen::Dynamic, 1> m = Eigen::Matrix<T, Eigen::Dynamic, 1>::Constant(nq, -INFINITY),
                                            l = Eigen::Matrix<T, Eigen::Dynamic, 1>::Zero(nq);
        for (int kt = 0; kt <= qt; kt++) {
          const int k0 = kt * kFlashTile, nk = std::min(kFlashTile, Tn - k0);
          ConstMatMap<T> K(base + int64_t(k0) * row + (H + kvh) * D, nk, D, Eigen::OuterStride<>(row));
          ConstMatMap<T> V(base + int64_t(k0) * row + (H + KV + kvh) * D, nk, D, Eigen::OuterStride<>(row));
          auto s = S.leftCols(nk);
          s.noalias() = Q * K.transpose();
          for (int i = 0; i < nq; i++) {
            const int last = std::min(nk - 1, q0 + i - k0);  // causal: key k0 + j <= query q0 + i
            T* p = s.row(i).data();
            const T mx = std::max(m[i], row_max(p, last + 1) * scale);  // scale > 0
            const T corr = fast_exp(m[i] - mx);  // ~0 on the first tile (m = -inf; 1e-38 times l = 0, O = 0)
            const T sum = exp_sum<true>(p, p, last + 1, scale, mx);  // p[j] = exp(scale p[j] - mx)
            for (int j = last + 1; j < nk; j++) p[j] = 0;
            l[i] = l[i] * corr + sum, m[i] = mx;
            O.row(i) *= corr;
          }
          O.noalias() += s * V;
        }
        MatMap<T> Y(y + (int64_t(b) * Tn + q0) * H * D + h * D, nq, D, Eigen::OuterStride<>(H * D));
        for (int i = 0; i < nq; i++) {
          Y.row(i) = O.row(i) / l[i];
          lse[(int64_t(b) * H + h) * Tn + q0 + i] = m[i] + std::log(l[i]);
        }
      }
}

// d_qkv (B, T, (H+2KV)*D), fully overwritten; delta (B, H, T) scratch: rowsum(dY * Y). With P recomputed as
// exp(scale q.k - lse):  dV = sum P^T dY,  dP = dY V^T,  dS = P (dP - delta),  dQ = scale dS K,  dK = scale dS^T Q.
template <typename T>
void attention_flash_backward(T* d_qkv, T* delta, const T* d_y, const T* y, const T* lse, const T* qkv, int B,
                              int Tn, int H, int KV, int D) {
  const int row = (H + 2 * KV) * D, group = H / KV, tiles = (Tn + kFlashTile - 1) / kFlashTile;
  const T scale = T(1) / std::sqrt(T(D));
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; b++)
    for (int t = 0; t < Tn; t++)
      for (int h = 0; h < H; h++) {
        const T* dy = d_y + (int64_t(b) * Tn + t) * H * D + h * D;
        const T* yy = y + (int64_t(b) * Tn + t) * H * D + h * D;
        T s = 0;
        for (int d = 0; d < D; d++) s += dy[d] * yy[d];
        delta[(int64_t(b) * H + h) * Tn + t] = s;
      }
#pragma omp parallel for collapse(2) schedule(dynamic)
  for (int b = 0; b < B; b++)
    for (int kvh = 0; kvh < KV; kvh++) {
      const T* base = qkv + int64_t(b) * Tn * row;
      T* dbase = d_qkv + int64_t(b) * Tn * row;
      MatMap<T> dK(dbase + (H + kvh) * D, Tn, D, Eigen::OuterStride<>(row));
      MatMap<T> dV(dbase + (H + KV + kvh) * D, Tn, D, Eigen::OuterStride<>(row));
      dK.setZero();
      dV.setZero();
      RowMat<T> P(kFlashTile, kFlashTile), dS(kFlashTile, kFlashTile);
      for (int h = kvh * group; h < (kvh + 1) * group; h++) {
        MatMap<T> dQall(dbase + h * D, Tn, D, Eigen::OuterStride<>(row));
        dQall.setZero();
        const T* L = lse + (int64_t(b) * H + h) * Tn;
        const T* Dl = delta + (int64_t(b) * H + h) * Tn;
        for (int qt = 0; qt < tiles; qt++) {
          const int q0 = qt * kFlashTile, nq = std::min(kFlashTile, Tn - q0);
          ConstMatMap<T> Q(base + int64_t(q0) * row + h * D, nq, D, Eigen::OuterStride<>(row));
          ConstMatMap<T> dY(d_y + (int64_t(b) * Tn + q0) * H * D + h * D, nq, D, Eigen::OuterStride<>(H * D));
          MatMap<T> dQ(dbase + int64_t(q0) * row + h * D, nq, D, Eigen::OuterStride<>(row));
          for (int kt = 0; kt <= qt; kt++) {
            const int k0 = kt * kFlashTile, nk = std::min(kFlashTile, Tn - k0);
            ConstMatMap<T> K(base + int64_t(k0) * row + (H + kvh) * D, nk, D, Eigen::OuterStride<>(row));
            ConstMatMap<T> V(base + int64_t(k0) * row + (H + KV + kvh) * D, nk, D, Eigen::OuterStride<>(row));
            auto p = P.topLeftCorner(nq, nk);
            auto ds = dS.topLeftCorner(nq, nk);
            p.noalias() = Q * K.transpose();
            ds.noalias() = dY * V.transpose();  // dP
            for (int i = 0; i < nq; i++) {
              const int last = std::min(nk - 1, q0 + i - k0);
              T* pr = &p(i, 0);
              T* dsr = &ds(i, 0);
              const T li = L[q0 + i], di = Dl[q0 + i];
              for (int j = 0; j <= last; j++) {  // vectorized: fast_exp is inline (cpu/vexp.h)
                const T pij = fast_exp(pr[j] * scale - li);
                pr[j] = pij;
                dsr[j] = pij * (dsr[j] - di) * scale;  // scale folded in here
              }
              for (int j = last + 1; j < nk; j++) p(i, j) = 0, ds(i, j) = 0;
            }
            dV.middleRows(k0, nk).noalias() += p.transpose() * dY;
            dQ.noalias() += ds * K;
            dK.middleRows(k0, nk).noalias() += ds.transpose() * Q;
          }
        }
      }
    }
}

}  // namespace beop::cpu
