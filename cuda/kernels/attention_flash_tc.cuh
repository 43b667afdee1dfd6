// Tensor-core flash attention (bf16, head_dim D in {16, 32, 64, 128}): the forward and backward of
// attention_flash.cuh / attention_flash_backward.cuh with every matrix product on wmma m16n16k16 tiles (bf16
// in, fp32 accumulate), for the bf16 backend. The scalar kernels remain the fp32 path, the fallback for other
// head dims, and the decode path (a single query row). Same definitions, same saved state (fp32 lse and Δ),
// same fixed summation order (no float atomics):
//   forward  O_t = Σ_{s<=t} exp(scale·q_t·k_s − m_t) v_s / l_t,   lse_t = m_t + log l_t
//   dq_t = scale Σ_s dS[t,s] k_s;  dk_s = scale Σ_h Σ_t dS[t,s] q_t;  dv_s = Σ_h Σ_t P[t,s] dy_t
//   with P = exp(scale·q·k − lse), dS = P (dy·v − Δ).
// Launch: 4 warps per block; a block owns 64 rows (queries for the forward and dq, keys for dk/dv), a warp 16
// of them, and walks the other side in tiles of 64 staged in shared memory (bf16, rows padded by 8 elements
// against bank conflicts). A warp computes its 16 x 64 score tile with wmma into shared memory (fp32), where
// its lanes apply the mask and the softmax (2 lanes per row, 32 columns each); P or dS go back to shared
// memory as bf16 for the next product. The forward keeps its running output in shared memory (fp32) so
// that the online-softmax rescale is a plain element-wise op (a fragment's element-to-row map is
// unspecified); dq, dk and dv stay in accumulator fragments for the whole walk.
// Tests: tests/test_cuda_bf16.cpp (through the wmma emulation of cuda/simt/wmma.h).
#pragma once
#include <type_traits>

#include <cstring>

#include "common.cuh"
#include "cuda/simt/wmma.h"

BEOP_CUDA_NAMESPACE_BEGIN

namespace tc {

namespace wmma = nvcuda::wmma;
using bf16 = __nv_bfloat16;
using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major>;
using FragBRow = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major>;
using FragBCol = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major>;
using FragC = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;

constexpr int kRows = 64;   // rows per block (queries: forward, dq; keys: dk/dv)
constexpr int kCols = 64;   // columns per tile (keys: forward, dq; queries: dk/dv)
constexpr int kWarps = 4;   // 16 rows each
constexpr int kLdS = kCols + 4;  // fp32 score tiles (16 x 64): 272-byte rows
constexpr int kLdP = kCols + 8;  // bf16 P / dS tiles (16 x 64): 144-byte rows

// Row pitch of a bf16 (rows, D) tile and of the forward's fp32 (16, D) output tile; every region below is a
// multiple of 32 bytes, so all wmma pointers are 32-byte aligned.
__host__ __device__ constexpr int ld_tile(int D) { return D + 8; }
__host__ __device__ constexpr int ld_out(int D) { return D + 4; }
__host__ __device__ constexpr size_t tile_bytes(int D) { return size_t(kRows) * ld_tile(D) * sizeof(bf16); }
constexpr size_t kScoreBytes = size_t(kWarps) * 16 * kLdS * sizeof(float);  // one fp32 16 x 64 tile per warp
constexpr size_t kPBytes = size_t(kWarps) * 16 * kLdP * sizeof(bf16);       // one bf16 16 x 64 tile per warp

inline size_t forward_smem(int D) {  // Q, K, V tiles; S; P; O
  return 3 * tile_bytes(D) + kScoreBytes + kPBytes + size_t(kWarps) * 16 * ld_out(D) * sizeof(float);
}
inline size_t dq_smem(int D) { return 4 * tile_bytes(D) + 2 * kScoreBytes + kPBytes; }  // Q, dY, K, V; S, dP; dS
inline size_t dkv_smem(int D) {  // K, V, Q, dY tiles; lse, Δ of the query tile; S^T, dP^T; P^T, dS^T
  return 4 * tile_bytes(D) + 2 * kCols * sizeof(float) + 2 * kScoreBytes + 2 * kPBytes;
}

__host__ __device__ constexpr int imin(int a, int b) { return a < b ? a : b; }

// Hands out consecutive regions of the block's dynamic shared memory (each size a multiple of 32 bytes).
template <class X>
__device__ __forceinline__ X* carve(unsigned char*& p, size_t bytes) {
  X* r = reinterpret_cast<X*>(p);
  p += bytes;
  return r;
}

// 16 bytes (8 bf16) from src to dst. A vector load on the GPU, where a misaligned address faults; memcpy on
// the host (no aliasing games), with the alignment the GPU needs checked.
__device__ __forceinline__ void copy16(bf16* dst, const bf16* src) {
#if defined(__CUDACC__)
  *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
#else
  if ((reinterpret_cast<uintptr_t>(dst) | reinterpret_cast<uintptr_t>(src)) % 16 != 0)
    fail("flash attention (tensor cores): a 16-byte vector copy at a misaligned address");
  std::memcpy(dst, src, 16);
#endif
}
__device__ __forceinline__ void zero16(bf16* dst) {
#if defined(__CUDACC__)
  *reinterpret_cast<uint4*>(dst) = make_uint4(0, 0, 0, 0);
#else
  if (reinterpret_cast<uintptr_t>(dst) % 16 != 0)
    fail("flash attention (tensor cores): a 16-byte vector store at a misaligned address");
  std::memset(dst, 0, 16);
#endif
}

// Block-wide: rows 0..rows-1 of a (rows, D) smem tile (pitch ld) <- src rows (stride src_stride elements);
// rows >= valid are zero-filled. D % 8 == 0 and 16-byte aligned rows (checked by the launchers).
__device__ __forceinline__ void load_tile(bf16* dst, int ld, const bf16* src, int64_t src_stride, int valid, int D) {
  const int chunks = D / 8;
  for (int i = threadIdx.x; i < kRows * chunks; i += blockDim.x) {
    const int r = i / chunks, c = (i % chunks) * 8;
    if (r < valid)
      copy16(dst + r * ld + c, src + r * src_stride + c);
    else
      zero16(dst + r * ld + c);
  }
}

// out (16 x 64, fp32, pitch kLdS) = A (16 x D, row-major, pitch lda) · B^T where B is (64, D) row-major with
// pitch ldb (read as a col_major (D x 64) operand): the score tile of 16 rows against 64 columns.
template <int D>
__device__ __forceinline__ void scores_16x64(float* out, const bf16* A, int lda, const bf16* B, int ldb) {
  BEOP_UNROLL
  for (int j = 0; j < kCols / 16; j++) {
    FragC acc;
    wmma::fill_fragment(acc, 0.0f);
    BEOP_UNROLL
    for (int kk = 0; kk < D; kk += 16) {
      FragA a;
      FragBCol b;
      wmma::load_matrix_sync(a, A + kk, lda);
      wmma::load_matrix_sync(b, B + j * 16 * ldb + kk, ldb);
      wmma::mma_sync(acc, a, b, acc);
    }
    wmma::store_matrix_sync(out + j * 16, acc, kLdS, wmma::mem_row_major);
  }
}

// acc[j] += P (16 x 64 bf16, pitch kLdP) · M[:, 16j:16j+16] where M is (64, D) row-major with pitch ldm.
template <int D>
__device__ __forceinline__ void accumulate_16xD(FragC (&acc)[D / 16], const bf16* P, const bf16* M, int ldm) {
  BEOP_UNROLL
  for (int kk = 0; kk < kCols; kk += 16) {
    FragA a;
    wmma::load_matrix_sync(a, P + kk, kLdP);
    BEOP_UNROLL
    for (int j = 0; j < D / 16; j++) {
      FragBRow b;
      wmma::load_matrix_sync(b, M + kk * ldm + j * 16, ldm);
      wmma::mma_sync(acc[j], a, b, acc[j]);
    }
  }
}

// Writes a warp's 16 x D accumulators times `mul` as bf16 rows: row i (< valid) to out + i*stride, staged 16 x
// 16 at a time through the warp's fp32 tile `stage` (pitch kLdS).
template <int D>
__device__ __forceinline__ void write_rows(bf16* out, int64_t stride, int valid, FragC (&acc)[D / 16], float mul,
                                           float* stage) {
  const int lane = threadIdx.x % 32;
  BEOP_UNROLL
  for (int j = 0; j < D / 16; j++) {
    wmma::store_matrix_sync(stage, acc[j], kLdS, wmma::mem_row_major);
    __syncwarp();
    for (int i = lane; i < 256; i += 32) {
      const int r = i / 16, c = i % 16;
      if (r < valid) out[r * stride + j * 16 + c] = bf16(stage[r * kLdS + c] * mul);
    }
    __syncwarp();  // the next store overwrites the stage
  }
}

}  // namespace tc

// Forward. grid (⌈Tn/64⌉, H, B), 128 threads. Strides and pos0 as flash_attention_forward_kernel: query t of
// row b sits at position pos0 + t and attends to keys 0 .. pos0 + t.
template <int D>
__global__ void flash_tc_forward_kernel(__nv_bfloat16* y, float* lse, const __nv_bfloat16* q, int64_t q_bs,
                                        int64_t q_ts, const __nv_bfloat16* k, const __nv_bfloat16* v, int64_t kv_bs,
                                        int64_t kv_ts, int Tn, int H, int KV, int pos0, float scale) {
  using namespace tc;
  constexpr int ldb = ld_tile(D), ldo = ld_out(D);
  BEOP_DYNAMIC_SHARED(unsigned char, smem);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  bf16* Qs = carve<bf16>(smem, tile_bytes(D));                       // (64, D) the block's queries
  bf16* Ks = carve<bf16>(smem, tile_bytes(D));                       // (64, D) key tile
  bf16* Vs = carve<bf16>(smem, tile_bytes(D));                       // (64, D) value tile
  float* S = carve<float>(smem, kScoreBytes) + warp * 16 * kLdS;     // (16, 64) this warp's scores
  bf16* P = carve<bf16>(smem, kPBytes) + warp * 16 * kLdP;           // (16, 64) its probabilities
  float* O = reinterpret_cast<float*>(smem) + warp * 16 * ldo;       // (16, D) its running output
  const int h = blockIdx.y, b = blockIdx.z, kvh = h / (H / KV);
  const int t0 = blockIdx.x * kRows, nq = imin(kRows, Tn - t0);
  const int wt0 = t0 + warp * 16;                      // the warp's first query
  const int w_last_key = pos0 + imin(wt0 + 15, Tn - 1);  // the last key any of its queries sees
  const int last_key = pos0 + t0 + nq - 1;              // ... and of the block
  load_tile(Qs, ldb, q + b * q_bs + t0 * q_ts + int64_t(h) * D, q_ts, nq, D);
  for (int i = lane; i < 16 * ldo; i += 32) O[i] = 0.0f;
  // lane -> row r (query t), columns [32·half, 32·half + 32) of each score tile, dims [D/2·half, D/2·(half+1))
  const int r = lane / 2, half = lane % 2, t = wt0 + r, my_last = pos0 + t;
  const bool row_ok = t < Tn;
  float m = -INFINITY, l = 0.0f;
  const bf16* kb = k + b * kv_bs + int64_t(kvh) * D;
  const bf16* vb = v + b * kv_bs + int64_t(kvh) * D;
  for (int k0 = 0; k0 <= last_key; k0 += kCols) {
    __syncthreads();  // the previous K/V tile is consumed (first time: Qs is written)
    const int nk = imin(kCols, last_key + 1 - k0);
    load_tile(Ks, ldb, kb + k0 * kv_ts, kv_ts, nk, D);
    load_tile(Vs, ldb, vb + k0 * kv_ts, kv_ts, nk, D);
    __syncthreads();
    if (wt0 >= Tn || k0 > w_last_key) continue;  // warp-uniform: no live (query, key) pair in this tile
    scores_16x64<D>(S, Qs + warp * 16 * ldb, ldb, Ks, ldb);
    __syncwarp();
    float mx = -INFINITY;
    for (int c = half * 32; c < half * 32 + 32; c++)
      if (row_ok && k0 + c <= my_last) mx = fmaxf(mx, S[r * kLdS + c] * scale);
    mx = fmaxf(mx, __shfl_xor_sync(kFullMask, mx, 1));
    const float m_new = fmaxf(m, mx);
    const float corr = m_new == -INFINITY ? 1.0f : expf(m - m_new);  // 0 on a row's first live tile
    float sum = 0.0f;
    for (int c = half * 32; c < half * 32 + 32; c++) {
      const float p = row_ok && k0 + c <= my_last ? expf(S[r * kLdS + c] * scale - m_new) : 0.0f;
      P[r * kLdP + c] = bf16(p);
      sum += p;
    }
    sum += __shfl_xor_sync(kFullMask, sum, 1);
    l = l * corr + sum;
    m = m_new;
    for (int d = half * (D / 2); d < (half + 1) * (D / 2); d++) O[r * ldo + d] *= corr;
    __syncwarp();
    BEOP_UNROLL
    for (int j = 0; j < D / 16; j++) {  // O[:, 16j..] += P · V[:, 16j..], accumulated through the fp32 tile
      FragC acc;
      wmma::load_matrix_sync(acc, O + j * 16, ldo, wmma::mem_row_major);
      BEOP_UNROLL
      for (int kk = 0; kk < kCols; kk += 16) {
        FragA a;
        FragBRow bv;
        wmma::load_matrix_sync(a, P + kk, kLdP);
        wmma::load_matrix_sync(bv, Vs + kk * ldb + j * 16, ldb);
        wmma::mma_sync(acc, a, bv, acc);
      }
      wmma::store_matrix_sync(O + j * 16, acc, ldo, wmma::mem_row_major);
    }
    __syncwarp();
  }
  if (!row_ok) return;
  bf16* yr = y + (int64_t(b) * Tn + t) * H * D + int64_t(h) * D;
  const float inv = 1.0f / l;
  for (int d = half * (D / 2); d < (half + 1) * (D / 2); d++) yr[d] = bf16(O[r * ldo + d] * inv);
  if (lse && half == 0) lse[(int64_t(b) * H + h) * Tn + t] = m + logf(l);
}

// dq. grid (⌈T/64⌉, H, B), 128 threads; q, k, v in place in qkv (B, T, (H+2KV)*D). Writes the q slot of d_qkv.
template <int D>
__global__ void flash_tc_backward_dq_kernel(__nv_bfloat16* d_qkv, const __nv_bfloat16* qkv, const __nv_bfloat16* dy,
                                            const float* lse, const float* delta, int Tn, int H, int KV, float scale) {
  using namespace tc;
  constexpr int ldb = ld_tile(D);
  BEOP_DYNAMIC_SHARED(unsigned char, smem);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  bf16* Qs = carve<bf16>(smem, tile_bytes(D));                    // (64, D) the block's queries
  bf16* dYs = carve<bf16>(smem, tile_bytes(D));                   // (64, D) their dy
  bf16* Ks = carve<bf16>(smem, tile_bytes(D));                    // (64, D) key tile
  bf16* Vs = carve<bf16>(smem, tile_bytes(D));                    // (64, D) value tile
  float* S = carve<float>(smem, kScoreBytes) + warp * 16 * kLdS;  // (16, 64) this warp's q·k
  float* dP = carve<float>(smem, kScoreBytes) + warp * 16 * kLdS; // (16, 64) its dy·v
  bf16* dS = carve<bf16>(smem, kPBytes) + warp * 16 * kLdP;       // (16, 64) its dS
  const int h = blockIdx.y, b = blockIdx.z, kvh = h / (H / KV);
  const int64_t row = int64_t(H + 2 * KV) * D;
  const bf16* base = qkv + int64_t(b) * Tn * row;
  const int t0 = blockIdx.x * kRows, nq = imin(kRows, Tn - t0), wt0 = t0 + warp * 16;
  const int last_key = t0 + nq - 1, w_last_key = imin(wt0 + 15, Tn - 1);
  load_tile(Qs, ldb, base + t0 * row + int64_t(h) * D, row, nq, D);
  load_tile(dYs, ldb, dy + (int64_t(b) * Tn + t0) * H * D + int64_t(h) * D, int64_t(H) * D, nq, D);
  const int r = lane / 2, half = lane % 2, t = wt0 + r;
  const bool row_ok = t < Tn;
  const float lse_t = row_ok ? lse[(int64_t(b) * H + h) * Tn + t] : 0.0f;
  const float delta_t = row_ok ? delta[(int64_t(b) * H + h) * Tn + t] : 0.0f;
  FragC acc[D / 16];
  BEOP_UNROLL
  for (int j = 0; j < D / 16; j++) wmma::fill_fragment(acc[j], 0.0f);
  for (int k0 = 0; k0 <= last_key; k0 += kCols) {
    __syncthreads();
    const int nk = imin(kCols, last_key + 1 - k0);
    load_tile(Ks, ldb, base + k0 * row + int64_t(H + kvh) * D, row, nk, D);
    load_tile(Vs, ldb, base + k0 * row + int64_t(H + KV + kvh) * D, row, nk, D);
    __syncthreads();
    if (wt0 >= Tn || k0 > w_last_key) continue;  // warp-uniform
    scores_16x64<D>(S, Qs + warp * 16 * ldb, ldb, Ks, ldb);    // q·k
    scores_16x64<D>(dP, dYs + warp * 16 * ldb, ldb, Vs, ldb);  // dy·v
    __syncwarp();
    for (int c = half * 32; c < half * 32 + 32; c++) {
      const bool live = row_ok && k0 + c <= t;
      const float p = live ? expf(S[r * kLdS + c] * scale - lse_t) : 0.0f;
      dS[r * kLdP + c] = bf16(p * (dP[r * kLdS + c] - delta_t));
    }
    __syncwarp();
    accumulate_16xD<D>(acc, dS, Ks, ldb);  // dq += dS · K
  }
  if (wt0 >= Tn) return;
  write_rows<D>(d_qkv + (int64_t(b) * Tn + wt0) * row + int64_t(h) * D, row, imin(16, Tn - wt0), acc, scale, S);
}

// dk, dv. grid (⌈T/64⌉, KV, B), 128 threads: a block owns 64 keys of kv head kvh (a warp 16), and walks the
// group's query heads (ascending) and, for each, the query tiles from its first key on (ascending).
template <int D>
__global__ void flash_tc_backward_dkv_kernel(__nv_bfloat16* d_qkv, const __nv_bfloat16* qkv,
                                             const __nv_bfloat16* dy, const float* lse, const float* delta, int Tn,
                                             int H, int KV, float scale) {
  using namespace tc;
  constexpr int ldb = ld_tile(D);
  BEOP_DYNAMIC_SHARED(unsigned char, smem);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  bf16* Ks = carve<bf16>(smem, tile_bytes(D));                      // (64, D) the block's keys
  bf16* Vs = carve<bf16>(smem, tile_bytes(D));                      // (64, D) their values
  bf16* Qs = carve<bf16>(smem, tile_bytes(D));                      // (64, D) query tile
  bf16* dYs = carve<bf16>(smem, tile_bytes(D));                     // (64, D) its dy
  float* Ls = carve<float>(smem, kCols * sizeof(float));            // (64) its lse
  float* Ds = carve<float>(smem, kCols * sizeof(float));            // (64) its Δ
  float* St = carve<float>(smem, kScoreBytes) + warp * 16 * kLdS;   // (16, 64) k·q of the warp's keys
  float* dPt = carve<float>(smem, kScoreBytes) + warp * 16 * kLdS;  // (16, 64) v·dy
  bf16* Pt = carve<bf16>(smem, kPBytes) + warp * 16 * kLdP;         // (16, 64) P^T
  bf16* dSt = carve<bf16>(smem, kPBytes) + warp * 16 * kLdP;        // (16, 64) dS^T
  const int kvh = blockIdx.y, b = blockIdx.z, group = H / KV;
  const int64_t row = int64_t(H + 2 * KV) * D;
  const bf16* base = qkv + int64_t(b) * Tn * row;
  const int s0 = blockIdx.x * kRows, nk = imin(kRows, Tn - s0), ws0 = s0 + warp * 16;
  load_tile(Ks, ldb, base + s0 * row + int64_t(H + kvh) * D, row, nk, D);
  load_tile(Vs, ldb, base + s0 * row + int64_t(H + KV + kvh) * D, row, nk, D);
  const int r = lane / 2, half = lane % 2, s = ws0 + r;
  FragC dk[D / 16], dv[D / 16];
  BEOP_UNROLL
  for (int j = 0; j < D / 16; j++) wmma::fill_fragment(dk[j], 0.0f), wmma::fill_fragment(dv[j], 0.0f);
  for (int h = kvh * group; h < (kvh + 1) * group; h++) {
    for (int q0 = s0; q0 < Tn; q0 += kCols) {  // queries before s0 never see the block's keys
      __syncthreads();  // the previous tile is consumed (first time: Ks/Vs are written)
      const int nq = imin(kCols, Tn - q0);
      load_tile(Qs, ldb, base + q0 * row + int64_t(h) * D, row, nq, D);
      load_tile(dYs, ldb, dy + (int64_t(b) * Tn + q0) * H * D + int64_t(h) * D, int64_t(H) * D, nq, D);
      for (int i = threadIdx.x; i < kCols; i += blockDim.x) {
        Ls[i] = i < nq ? lse[(int64_t(b) * H + h) * Tn + q0 + i] : 0.0f;
        Ds[i] = i < nq ? delta[(int64_t(b) * H + h) * Tn + q0 + i] : 0.0f;
      }
      __syncthreads();
      if (ws0 >= Tn) continue;  // warp-uniform: the warp's keys are past the end
      scores_16x64<D>(St, Ks + warp * 16 * ldb, ldb, Qs, ldb);    // k·q
      scores_16x64<D>(dPt, Vs + warp * 16 * ldb, ldb, dYs, ldb);  // v·dy
      __syncwarp();
      for (int c = half * 32; c < half * 32 + 32; c++) {
        const int qi = q0 + c;
        const bool live = s < Tn && qi < Tn && qi >= s;
        const float p = live ? expf(St[r * kLdS + c] * scale - Ls[c]) : 0.0f;
        Pt[r * kLdP + c] = bf16(p);
        dSt[r * kLdP + c] = bf16(p * (dPt[r * kLdS + c] - Ds[c]));
      }
      __syncwarp();
      accumulate_16xD<D>(dv, Pt, dYs, ldb);  // dv += P^T · dY
      accumulate_16xD<D>(dk, dSt, Qs, ldb);  // dk += dS^T · Q
    }
  }
  if (ws0 >= Tn) return;
  const int valid = imin(16, Tn - ws0);
  write_rows<D>(d_qkv + (int64_t(b) * Tn + ws0) * row + int64_t(H + kvh) * D, row, valid, dk, scale, St);
  write_rows<D>(d_qkv + (int64_t(b) * Tn + ws0) * row + int64_t(H + KV + kvh) * D, row, valid, dv, 1.0f, St);
}

// ---- dispatch -------------------------------------------------------------------------------------------------

// The largest dynamic shared memory a block may opt in to on the current device: 227 KiB on sm_90, 163 KiB
// on sm_80, 99 KiB on sm_86/sm_89 — where D = 128 (up to 121 KiB) does not fit. Under SIMT: the runtime's
// own limit (sm_90's).
inline size_t flash_tc_device_smem_limit() {
#if defined(__CUDACC__)
  static const size_t limit = [] {
    int dev = 0, v = 0;
    BEOP_CUDA_CHECK(cudaGetDevice(&dev));
    BEOP_CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    return size_t(v);
  }();
  return limit;
#else
  return size_t(227) * 1024;
#endif
}

inline size_t flash_tc_max_smem(int D) {
  const size_t f = tc::forward_smem(D), q = tc::dq_smem(D), kv = tc::dkv_smem(D);
  return f > q ? (f > kv ? f : kv) : (q > kv ? q : kv);
}

// The tensor-core kernels serve bf16 with D in {16, 32, 64, 128}, at least 16 query rows (a single decode row
// would waste 63/64 of every tile: the scalar kernel serves it), and all three kernels' shared memory within
// the device's limit (smem_limit, 0 = the current device's); everything else falls back to the scalar kernels.
template <typename T>
inline bool flash_tc_eligible(int D, int Tn, size_t smem_limit = 0) {
  if (!std::is_same<T, __nv_bfloat16>::value || !(D == 16 || D == 32 || D == 64 || D == 128) || Tn < 16)
    return false;
  return flash_tc_max_smem(D) <= (smem_limit ? smem_limit : flash_tc_device_smem_limit());
}

template <typename K>
inline void flash_tc_smem_opt_in(K kernel, size_t bytes) {
  if (bytes > 48 * 1024)
    BEOP_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
}

template <int D>
void flash_tc_forward_d(__nv_bfloat16* y, float* lse, const __nv_bfloat16* q, int64_t q_bs, int64_t q_ts,
                        const __nv_bfloat16* k, const __nv_bfloat16* v, int64_t kv_bs, int64_t kv_ts, int B, int Tn,
                        int H, int KV, int pos0, cudaStream_t s) {
  const size_t smem = tc::forward_smem(D);
  flash_tc_smem_opt_in(flash_tc_forward_kernel<D>, smem);
  BEOP_LAUNCH(flash_tc_forward_kernel<D>, dim3(ceil_div(Tn, tc::kRows), H, B), 32 * tc::kWarps, smem, s, y, lse, q,
              q_bs, q_ts, k, v, kv_bs, kv_ts, Tn, H, KV, pos0, 1.0f / sqrtf(float(D)));
  BEOP_CUDA_LAUNCHED();
}

template <int D>
void flash_tc_backward_d(__nv_bfloat16* d_qkv, const float* delta, const __nv_bfloat16* d_y, const float* lse,
                         const __nv_bfloat16* qkv, int B, int Tn, int H, int KV, cudaStream_t s) {
  const float scale = 1.0f / sqrtf(float(D));
  const size_t smem_q = tc::dq_smem(D), smem_kv = tc::dkv_smem(D);
  flash_tc_smem_opt_in(flash_tc_backward_dq_kernel<D>, smem_q);
  flash_tc_smem_opt_in(flash_tc_backward_dkv_kernel<D>, smem_kv);
  BEOP_LAUNCH(flash_tc_backward_dq_kernel<D>, dim3(ceil_div(Tn, tc::kRows), H, B), 32 * tc::kWarps, smem_q, s, d_qkv,
              qkv, d_y, lse, delta, Tn, H, KV, scale);
  BEOP_CUDA_LAUNCHED();
  BEOP_LAUNCH(flash_tc_backward_dkv_kernel<D>, dim3(ceil_div(Tn, tc::kRows), KV, B), 32 * tc::kWarps, smem_kv, s,
              d_qkv, qkv, d_y, lse, delta, Tn, H, KV, scale);
  BEOP_CUDA_LAUNCHED();
}

// The 16-byte vector loads need 16-byte aligned rows: base pointers, row strides and batch strides (bytes).
inline void flash_tc_check_alignment(const void* p, int64_t row_stride, int64_t batch_stride, const char* what) {
  BEOP_CHECK(reinterpret_cast<uintptr_t>(p) % 16 == 0 && (row_stride * 2) % 16 == 0 && (batch_stride * 2) % 16 == 0,
             "flash attention (tensor cores): ", what, " is not 16-byte aligned");
}

inline void flash_tc_forward(__nv_bfloat16* y, float* lse, const __nv_bfloat16* q, int64_t q_bs, int64_t q_ts,
                             const __nv_bfloat16* k, const __nv_bfloat16* v, int64_t kv_bs, int64_t kv_ts, int B, int Tn,
                             int H, int KV, int D, int pos0, cudaStream_t s) {
  flash_tc_check_alignment(q, q_ts, q_bs, "q");
  flash_tc_check_alignment(k, kv_ts, kv_bs, "k");
  flash_tc_check_alignment(v, kv_ts, kv_bs, "v");
  switch (D) {
    case 16: return flash_tc_forward_d<16>(y, lse, q, q_bs, q_ts, k, v, kv_bs, kv_ts, B, Tn, H, KV, pos0, s);
    case 32: return flash_tc_forward_d<32>(y, lse, q, q_bs, q_ts, k, v, kv_bs, kv_ts, B, Tn, H, KV, pos0, s);
    case 64: return flash_tc_forward_d<64>(y, lse, q, q_bs, q_ts, k, v, kv_bs, kv_ts, B, Tn, H, KV, pos0, s);
    case 128: return flash_tc_forward_d<128>(y, lse, q, q_bs, q_ts, k, v, kv_bs, kv_ts, B, Tn, H, KV, pos0, s);
    default: fail("flash attention (tensor cores): head_dim ", D, " not in {16, 32, 64, 128}");
  }
}

inline void flash_tc_backward(__nv_bfloat16* d_qkv, const float* delta, const __nv_bfloat16* d_y, const float* lse,
                              const __nv_bfloat16* qkv, int B, int Tn, int H, int KV, int D, cudaStream_t s) {
  flash_tc_check_alignment(qkv, int64_t(H + 2 * KV) * D, int64_t(Tn) * (H + 2 * KV) * D, "qkv");
  flash_tc_check_alignment(d_y, int64_t(H) * D, int64_t(Tn) * H * D, "d_y");
  switch (D) {
    case 16: return flash_tc_backward_d<16>(d_qkv, delta, d_y, lse, qkv, B, Tn, H, KV, s);
    case 32: return flash_tc_backward_d<32>(d_qkv, delta, d_y, lse, qkv, B, Tn, H, KV, s);
    case 64: return flash_tc_backward_d<64>(d_qkv, delta, d_y, lse, qkv, B, Tn, H, KV, s);
    case 128: return flash_tc_backward_d<128>(d_qkv, delta, d_y, lse, qkv, B, Tn, H, KV, s);
    default: fail("flash attention (tensor cores): head_dim ", D, " not in {16, 32, 64, 128}");
  }
}

BEOP_CUDA_NAMESPACE_END
