// The building blocks of the tensor-core flash attention kernels (attention_flash_tc.cuh), namespace tc:
// tile sizes and shared-memory budgets, the block-wide async tile copy, the warp-level products on mma.sync
// (a 16-row score tile A·X^T from shared memory, and P·M with P in registers), and the row writer. Layouts:
// cuda/simt/mma.h. Tests: tests/test_cuda_mma.cpp (the products alone), tests/test_cuda_bf16.cpp (the
// kernels).
#pragma once

#include "cuda/kernels/common.cuh"
#include "cuda/simt/cp_async.h"
#include "cuda/simt/mma.h"

BEOP_CUDA_NAMESPACE_BEGIN

namespace tc {

using bf16 = __nv_bfloat16;
using beop::mma::ldmatrix_x4;
using beop::mma::ldmatrix_x4_trans;
using beop::mma::mma_bf16_16816;
using beop::mma::pack_bf16x2;
using beop::async::cp_async16;
using beop::async::cp_async_commit;
using beop::async::cp_async_wait;

constexpr int kRows = 64;     // rows per block (queries: forward, dq; keys: dk/dv)
constexpr int kWarps = 4;     // 16 rows each
constexpr int kKeyTile = 64;  // keys per tile (forward, dq)
// Exponentials in base 2: exp(x) = 2^(x·log2 e). Scores are scaled by scale·log2 e once, exp2f is a single
// MUFU.EX2 (expf adds range reduction around it), and a masked score of -inf gives 2^-inf = 0 without a
// branch. The saved lse stays in natural log (the scalar kernels and the GEMM path share it).
constexpr float kLog2e = 1.4426950408889634f, kLn2 = 0.6931471805599453f;
// Queries per tile of the dk/dv kernel and keys per tile of the dq kernel: their lanes hold one or two
// (16, D) accumulators (D/8·4 fp32 registers each) plus two score tiles (tile/8·4 each), which at D = 128
// and 64-wide tiles would come close to the 255-register limit; 32-wide tiles also keep dq's double-buffered
// shared memory at 68 KiB, within sm_86/sm_89's 99.
__host__ __device__ constexpr int dkv_query_tile(int D) { return D >= 128 ? 32 : 64; }
__host__ __device__ constexpr int dq_key_tile(int D) { return D >= 128 ? 32 : 64; }

// Row pitch of a bf16 (rows, D) tile: D + 8 elements, so rows start 16 bytes apart modulo 128 (no bank
// conflicts for ldmatrix) and every row address is 16-byte aligned.
__host__ __device__ constexpr int ld_tile(int D) { return D + 8; }
__host__ __device__ constexpr size_t tile_bytes(int rows, int D) { return size_t(rows) * ld_tile(D) * sizeof(bf16); }

// The tiles a kernel walks over are double-buffered: tile i+1 is copied (cp.async) while tile i is used.
inline size_t forward_smem(int D) { return tile_bytes(kRows, D) + 2 * 2 * tile_bytes(kKeyTile, D); }  // Q; 2 x (K, V)
inline size_t dq_smem(int D) {  // Q, dY; 2 x (K, V)
  return 2 * tile_bytes(kRows, D) + 2 * 2 * tile_bytes(dq_key_tile(D), D);
}
inline size_t dkv_smem(int D) {  // K, V (64 rows); 2 x (Q, dY, lse, Δ of a query tile)
  const int nq = dkv_query_tile(D);
  return 2 * tile_bytes(kRows, D) + 2 * (2 * tile_bytes(nq, D) + 2 * size_t(nq) * sizeof(float));
}

__host__ __device__ constexpr int imin(int a, int b) { return a < b ? a : b; }

// Hands out consecutive regions of the block's dynamic shared memory (each size a multiple of 16 bytes).
template <class X>
__device__ __forceinline__ X* carve(unsigned char*& p, size_t bytes) {
  X* r = reinterpret_cast<X*>(p);
  p += bytes;
  return r;
}

// Two adjacent outputs (4-byte aligned: even column, even row stride).
__device__ __forceinline__ void store2(bf16* dst, float a, float b) {
#if defined(__CUDACC__)
  *reinterpret_cast<__nv_bfloat162*>(dst) = __floats2bfloat162_rn(a, b);
#else
  dst[0] = bf16(a);
  dst[1] = bf16(b);
#endif
}

// Block-wide (kThreads threads): starts copying rows 0..ROWS-1 of a (ROWS, D) smem tile (pitch ld_tile(D))
// from src rows (stride src_stride elements), 16 bytes per cp.async; rows >= valid are zero-filled (so that
// masked products see 0, never stale NaNs). The caller commits the group and waits for it (cp_async.h).
// D % 8 == 0 and 16-byte aligned rows (checked by the launchers).
constexpr int kThreads = kWarps * 32;
template <int ROWS, int D>
__device__ __forceinline__ void issue_tile(bf16* dst, const bf16* src, int64_t src_stride, int valid) {
  constexpr int chunks = D / 8, total = ROWS * chunks;
  // (A fully unrolled form — a compile-time trip count — made ptxas spill in the forward kernel: kept as is.)
  for (int i = int(threadIdx.x); i < total; i += kThreads) {
    const int r = i / chunks, c = i % chunks * 8;
    const bool fill = r < valid;
    cp_async16(dst + r * ld_tile(D) + c, fill ? src + r * src_stride + c : src, fill);
  }
}

// ---- warp-level products (layouts: cuda/simt/mma.h) ----------------------------------------------------------
// A fragment: rows r0..r0+15, columns c0..c0+15 of a row-major tile.
__device__ __forceinline__ void load_a(uint32_t (&a)[4], const bf16* tile, int ld, int r0, int c0) {
  const int l = threadIdx.x % 32;
  ldmatrix_x4(a, tile + (r0 + l % 16) * ld + c0 + (l / 16) * 8);
}
// B fragments of two 8-column slices (n0.., n0+8..) x 16 k (k0..) of B = X^T, X a row-major (n, k) tile (keys
// as stored, for q·k): b[0], b[1] the first slice, b[2], b[3] the second.
__device__ __forceinline__ void load_b_of_transposed(uint32_t (&b)[4], const bf16* x, int ld, int n0, int k0) {
  const int l = threadIdx.x % 32;
  ldmatrix_x4(b, x + (n0 + l % 8 + (l / 16) * 8) * ld + k0 + (l / 8 % 2) * 8);
}
// The same from B itself, a row-major (k, n) tile (values as stored, for P·v): ldmatrix's transpose.
__device__ __forceinline__ void load_b(uint32_t (&b)[4], const bf16* x, int ld, int k0, int n0) {
  const int l = threadIdx.x % 32;
  ldmatrix_x4_trans(b, x + (k0 + l % 16) * ld + n0 + (l / 16) * 8);
}

// acc (16 x N, N/8 slices) += A · X^T: A the 16 rows from r0 of a (rows, K) tile, X an (N, K) tile — a warp's
// score tile (q·k, dy·v, k·q, v·dy).
template <int K, int N>
__device__ __forceinline__ void product_abt(float (&acc)[N / 8][4], const bf16* A, int lda, int r0, const bf16* X,
                                            int ldx) {
  BEOP_UNROLL
  for (int kk = 0; kk < K; kk += 16) {
    uint32_t a[4];
    load_a(a, A, lda, r0, kk);
    BEOP_UNROLL
    for (int n = 0; n < N; n += 16) {
      uint32_t b[4];
      load_b_of_transposed(b, X, ldx, n, kk);
      mma_bf16_16816(acc[n / 8], a, b[0], b[1]);
      mma_bf16_16816(acc[n / 8 + 1], a, b[2], b[3]);
    }
  }
}

// acc (16 x D) += P · M: P (16 x N) in registers in accumulator layout (rounded to bf16 here), M an (N, D)
// row-major tile.
template <int N, int D>
__device__ __forceinline__ void product_pm(float (&acc)[D / 8][4], const float (&p)[N / 8][4], const bf16* M,
                                           int ldm) {
  BEOP_UNROLL
  for (int c = 0; c < N / 16; c++) {
    const uint32_t a[4] = {pack_bf16x2(p[2 * c][0], p[2 * c][1]), pack_bf16x2(p[2 * c][2], p[2 * c][3]),
                           pack_bf16x2(p[2 * c + 1][0], p[2 * c + 1][1]),
                           pack_bf16x2(p[2 * c + 1][2], p[2 * c + 1][3])};
    BEOP_UNROLL
    for (int n = 0; n < D; n += 16) {
      uint32_t b[4];
      load_b(b, M, ldm, 16 * c, n);
      mma_bf16_16816(acc[n / 8], a, b[0], b[1]);
      mma_bf16_16816(acc[n / 8 + 1], a, b[2], b[3]);
    }
  }
}

// Writes a warp's 16 x D accumulator rows: local row r (< valid) to out + r*stride, times mul[0] for this
// lane's first row (g) and mul[1] for its second (g + 8).
template <int D>
__device__ __forceinline__ void write_rows(bf16* out, int64_t stride, int valid, const float (&acc)[D / 8][4],
                                           float mul0, float mul1) {
  const int g = threadIdx.x % 32 / 4, c = threadIdx.x % 4 * 2;
  BEOP_UNROLL
  for (int j = 0; j < D / 8; j++) {
    if (g < valid) store2(out + g * stride + 8 * j + c, acc[j][0] * mul0, acc[j][1] * mul0);
    if (g + 8 < valid) store2(out + (g + 8) * stride + 8 * j + c, acc[j][2] * mul1, acc[j][3] * mul1);
  }
}

template <int N>
__device__ __forceinline__ void zero(float (&x)[N][4]) {
  BEOP_UNROLL
  for (int j = 0; j < N; j++) x[j][0] = x[j][1] = x[j][2] = x[j][3] = 0.0f;
}

// Max / sum over the 4 lanes of a group (the lanes that share a row).
__device__ __forceinline__ float group_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(kFullMask, v, 1));
  return fmaxf(v, __shfl_xor_sync(kFullMask, v, 2));
}
__device__ __forceinline__ float group_sum(float v) {
  v += __shfl_xor_sync(kFullMask, v, 1);
  return v + __shfl_xor_sync(kFullMask, v, 2);
}

}  // namespace tc

BEOP_CUDA_NAMESPACE_END
