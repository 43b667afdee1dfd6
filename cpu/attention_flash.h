// Fused causal grouped-query attention on the CPU (flash attention): tiles of queries against tiles of keys with
// an online softmax, so no (B, H, T, T) buffer exists; only the logsumexp of every query row (B, H, T) is saved.
// The backward pass recomputes the probabilities tile by tile from Q, K and the logsumexps, as the CUDA flash
// kernels do; this is their CPU reference, and CpuOps' default attention (cpu/ops.h, train --attention). The same
// results as cpu/attention.h up to fp32 summation order (the sums run over tiles). Per tile the products are
// small GEMMs (tile_gemm below: cpu/gemm_f32.h's kernel for float on AVX-512, Eigen otherwise); threads split
// (batch, head) in the forward pass and (batch, kv head) in the backward pass, so the query heads that add into
// one dK/dV run in one thread, in order.
// CUDA: cuda/kernels/attention_flash.cuh, cuda/kernels/attention_flash_backward.cuh.
// Tests: tests/test_attention_flash.cpp, tests/test_train.cpp (flash vs gemm training), tests/test_cuda_kernels.cpp.
#pragma once
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "cpu/gemm_f32.h"
#include "cpu/lane_sum.h"
#include "cpu/linear.h"
#include "cpu/vexp.h"

namespace beop::cpu {

constexpr int kFlashTile = 64;  // query rows and key columns per tile: S, P, dS tiles of 64 x 64 stay in L1/L2

// C (M, N) = or += A (M, K) B (K, N) in the calling thread; element (m, k) of A at A[m * rsa + k * csa] and of B
// likewise, one of each pair of strides 1 (a tile of q, k, v, dY or P, or its transpose); C row-major. float on
// AVX-512 runs the packed fp32 GEMM's kernel in this thread (cpu/gemm_f32.h: gemm_f32_serial), ~10% faster than
// Eigen's GEMM on these 64 x 64 x D tiles (the attention of `small` alone, 1 thread: 4.98 + 9.00 -> 4.60 + 8.06 ms
// per layer forward + backward; docs/PERFORMANCE.md). Elsewhere (double, the tests' reference precision; no
// AVX-512) Eigen's.
template <typename T>
void tile_gemm(int M, int N, int K, const T* A, int64_t rsa, int64_t csa, const T* B, int64_t rsb, int64_t csb, T* C,
               int64_t ldc, bool accumulate) {
  if constexpr (std::is_same<T, float>::value)
    if (gemm_f32_enabled()) return gemm_f32_serial(M, N, K, A, rsa, csa, B, rsb, csb, C, ldc, accumulate);
  using ColMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
  // The operand as an Eigen map: row-major where its rows are contiguous, column-major where its columns are.
  auto with_view = [](const T* p, int rows, int cols, int64_t rs, int64_t cs, auto&& f) {
    if (cs == 1) return f(Eigen::Map<const RowMat<T>, Eigen::Unaligned, Eigen::OuterStride<>>(p, rows, cols, rs));
    return f(Eigen::Map<const ColMat, Eigen::Unaligned, Eigen::OuterStride<>>(p, rows, cols, cs));
  };
  MatMap<T> c(C, M, N, Eigen::OuterStride<>(ldc));
  with_view(A, M, K, rsa, csa, [&](const auto& a) {
    with_view(B, K, N, rsb, csb, [&](const auto& b) {
      if (accumulate) c.noalias() += a * b;
      else c.noalias() = a * b;
    });
  });
}

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
        const T* Q = base + int64_t(q0) * row + h * D;  // (nq, D), row stride `row`
        RowMat<T> S(nq, kFlashTile), O = RowMat<T>::Zero(nq, D);
        Eigen::Matrix<T, Eigen::Dynamic, 1> m = Eigen::Matrix<T, Eigen::Dynamic, 1>::Constant(nq, -INFINITY),
                                            l = Eigen::Matrix<T, Eigen::Dynamic, 1>::Zero(nq);
        for (int kt = 0; kt <= qt; kt++) {
          const int k0 = kt * kFlashTile, nk = std::min(kFlashTile, Tn - k0);
          const T* K = base + int64_t(k0) * row + (H + kvh) * D;       // (nk, D)
          const T* V = base + int64_t(k0) * row + (H + KV + kvh) * D;  // (nk, D)
          auto s = S.leftCols(nk);
          tile_gemm(nq, nk, D, Q, row, 1, K, 1, row, S.data(), kFlashTile, false);  // S (nq, nk) = Q K^T
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
          tile_gemm(nq, D, nk, S.data(), kFlashTile, 1, V, row, 1, O.data(), D, true);  // O (nq, D) += P V
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
        delta[(int64_t(b) * H + h) * Tn + t] = dot_lanes(dy, yy, D);  // cpu/lane_sum.h
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
          const T* Q = base + int64_t(q0) * row + h * D;                      // (nq, D), row stride `row`
          const T* dY = d_y + (int64_t(b) * Tn + q0) * H * D + h * D;          // (nq, D), row stride H*D
          T* dQ = dbase + int64_t(q0) * row + h * D;                           // (nq, D), row stride `row`
          for (int kt = 0; kt <= qt; kt++) {
            const int k0 = kt * kFlashTile, nk = std::min(kFlashTile, Tn - k0);
            const T* K = base + int64_t(k0) * row + (H + kvh) * D;       // (nk, D)
            const T* V = base + int64_t(k0) * row + (H + KV + kvh) * D;  // (nk, D)
            auto p = P.topLeftCorner(nq, nk);    // (nq, nk), row stride kFlashTile
            auto ds = dS.topLeftCorner(nq, nk);  // (nq, nk), row stride kFlashTile
            tile_gemm(nq, nk, D, Q, row, 1, K, 1, row, P.data(), kFlashTile, false);              // S = Q K^T
            tile_gemm(nq, nk, D, dY, int64_t(H) * D, 1, V, 1, row, dS.data(), kFlashTile, false);  // dP = dY V^T
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
            T* dKt = dK.data() + int64_t(k0) * row;  // rows k0 .. k0+nk-1 of dK and dV
            T* dVt = dV.data() + int64_t(k0) * row;
            tile_gemm(nk, D, nq, P.data(), 1, kFlashTile, dY, int64_t(H) * D, 1, dVt, row, true);  // dV += P^T dY
            tile_gemm(nq, D, nk, dS.data(), kFlashTile, 1, K, row, 1, dQ, row, true);              // dQ += dS K
            tile_gemm(nk, D, nq, dS.data(), 1, kFlashTile, Q, row, 1, dKt, row, true);             // dK += dS^T Q
          }
        }
      }
    }
}

}  // namespace beop::cpu
