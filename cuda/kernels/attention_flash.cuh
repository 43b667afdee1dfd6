// Fused causal GQA attention forward with an online softmax (flash-style): the T x T score matrix is never
// materialised. It serves training (full-sequence forward, K/V read in place from the fused qkv buffer,
// saving only each query's logsumexp for the backward pass in attention_flash_backward.cuh) and inference
// (flash_launch over the key/value cache: the cache store and that launch live in kv_cache.cuh).
// Reference: cpu/attention.h (y); cpu/attention_flash.h (the same tiling on the CPU).
// Tests: tests/test_cuda_kernels.cpp, tests/test_cuda_bf16.cpp.
#pragma once
#include "cuda/kernels/attention_flash_tc.cuh"
#include "cuda/kernels/common.cuh"

BEOP_CUDA_NAMESPACE_BEGIN

constexpr int kFlashMaxD = 256;               // head_dim limit: 8 output values per lane
constexpr int kFlashPerLane = kFlashMaxD / 32;
constexpr int kFlashQueries = 8;              // queries per block = warps per block
constexpr int kFlashKeys = 32;                // keys per shared-memory tile = lanes

// Dynamic shared memory of one block: K tile (32 x (D+1), padded against bank conflicts), V tile (32 x D),
// and the block's queries (8 x D) — in fp32 whatever the storage type (bf16 tiles are widened on load).
inline size_t flash_smem_bytes(int D) {
  return sizeof(float) * (size_t(kFlashKeys) * (D + 1) + size_t(kFlashKeys) * D + size_t(kFlashQueries) * D);
}

// One block per (query tile of 8 consecutive positions, head h, row b); warp w owns query t = tile*8 + w.
// Keys are processed in tiles of 32: the block loads each K/V tile into shared memory once and all 8 warps
// use it (8x less K/V traffic than one warp per query). Within a tile, lane j scores key k0 + j against the
// warp's query, then the online softmax rescales the running max m, denominator l and the accumulator
// (lane j holds output dims j, j+32, ...), adding p_k * V[k] for the 32 keys in order:
//   y = sum_s exp(S_s - m) v_s / l  over s <= pos0 + t.
//   q: row (b, t) at q + b*q_bs + t*q_ts, head h at + h*D;  k/v: position s of row b at k + b*kv_bs + s*kv_ts,
//   kv head at + kvh*D;  y (B, Tn, H*D);  lse (B, H, Tn) fp32 = m + log(l), the log of the softmax
//   denominator in scaled-score units (what the backward pass needs to rebuild P), or null.
template <typename T>
__global__ void flash_attention_forward_kernel(T* y, float* lse, const T* q, int64_t q_bs, int64_t q_ts, const T* k,
                                               const T* v, int64_t kv_bs, int64_t kv_ts, int B, int Tn, int H, int KV,
                                               int D, int pos0, float scale) {
  BEOP_DYNAMIC_SHARED(float, smem);
  float* Ks = smem;                           // (32, D+1)
  float* Vs = Ks + kFlashKeys * (D + 1);      // (32, D)
  float* Qs = Vs + kFlashKeys * D;            // (8, D)
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int h = blockIdx.y, b = blockIdx.z, kvh = h / (H / KV);
  const int t0 = blockIdx.x * kFlashQueries, t = t0 + warp;
  const bool valid = t < Tn;  // uniform over the warp
  const int t_hi = (t0 + kFlashQueries < Tn ? t0 + kFlashQueries : Tn) - 1;
  const int last_key = pos0 + t_hi;          // the block's last needed key
  const T* kb = k + b * kv_bs + int64_t(kvh) * D;
  const T* vb = v + b * kv_bs + int64_t(kvh) * D;
  if (valid) {
    const T* qr = q + b * q_bs + t * q_ts + int64_t(h) * D;
    for (int d = lane; d < D; d += 32) Qs[warp * D + d] = f32(qr[d]);
  }
  float acc[kFlashPerLane];
  BEOP_UNROLL
  for (int j = 0; j < kFlashPerLane; j++) acc[j] = 0;
  float m = -INFINITY, l = 0;
  const int my_last = pos0 + t;  // causal: keys 0 .. my_last
  for (int k0 = 0; k0 <= last_key; k0 += kFlashKeys) {
    __syncthreads();  // the previous tile has been consumed (and, first time, Qs is written)
    for (int i = threadIdx.x; i < kFlashKeys * D; i += blockDim.x) {
      const int kk = i / D, d = i % D, key = k0 + kk;
      const bool in = key <= last_key;
      Ks[kk * (D + 1) + d] = in ? f32(kb[key * kv_ts + d]) : 0.0f;
      Vs[kk * D + d] = in ? f32(vb[key * kv_ts + d]) : 0.0f;
    }
    __syncthreads();
    if (valid && k0 <= my_last) {  // uniform over the warp; no barrier inside
      const int key = k0 + lane;
      float dot = 0;
      for (int d = 0; d < D; d++) dot += Qs[warp * D + d] * Ks[lane * (D + 1) + d];
      const float sc = key <= my_last ? dot * scale : -INFINITY;
      const float m_new = fmaxf(m, warp_max(sc));  // finite: key k0 <= my_last is in the tile
      const float corr = expf(m - m_new);          // 0 on the first tile (m = -inf)
      const float p = key <= my_last ? expf(sc - m_new) : 0.0f;
      l = l * corr + warp_sum(p);
      BEOP_UNROLL
      for (int j = 0; j < kFlashPerLane; j++) acc[j] *= corr;
      for (int kk = 0; kk < kFlashKeys; kk++) {
        const float pk = __shfl_sync(kFullMask, p, kk);
        BEOP_UNROLL
        for (int j = 0; j < kFlashPerLane; j++) {
          const int d = lane + 32 * j;
          if (d < D) acc[j] += pk * Vs[kk * D + d];
        }
      }
      m = m_new;
    }
  }
  if (!valid) return;
  T* yr = y + (int64_t(b) * Tn + t) * H * D + int64_t(h) * D;
  const float inv = 1.0f / l;
  BEOP_UNROLL
  for (int j = 0; j < kFlashPerLane; j++) {
    const int d = lane + 32 * j;
    if (d < D) yr[d] = T(acc[j] * inv);
  }
  if (lse && lane == 0) lse[(int64_t(b) * H + h) * Tn + t] = m + logf(l);
}

inline void flash_check(int H, int KV, int D) {
  BEOP_CHECK(D >= 1 && D <= kFlashMaxD, "flash attention: head_dim ", D, " outside [1, ", kFlashMaxD, "]");
  BEOP_CHECK(KV >= 1 && H % KV == 0, "flash attention: n_heads ", H, " not a multiple of n_kv_heads ", KV);
}

// Full causal self-attention forward of qkv (B, T, (H+2KV)*D) into y (B, T, H*D); no probabilities saved.
template <typename T>
void flash_launch(T* y, float* lse, const T* q, int64_t q_bs, int64_t q_ts, const T* k, const T* v, int64_t kv_bs, int64_t kv_ts,
                  int B, int Tn, int H, int KV, int D, int pos0, cudaStream_t s) {
  flash_check(H, KV, D);
  BEOP_CHECK(H <= 65535 && B <= 65535, "flash attention: grid of ", H, " heads x ", B, " rows too large");
  if constexpr (std::is_same<T, __nv_bfloat16>::value) {
    if (flash_tc_eligible<T>(D, Tn))  // bf16 with D in {16, 32, 64, 128}: tensor cores (attention_flash_tc.cuh)
      return flash_tc_forward(y, lse, q, q_bs, q_ts, k, v, kv_bs, kv_ts, B, Tn, H, KV, D, pos0, s);
  }
  const size_t smem = flash_smem_bytes(D);
  if (smem > 48 * 1024)  // above the default dynamic shared memory limit: opt in (D > 160)
    BEOP_CUDA_CHECK(cudaFuncSetAttribute(flash_attention_forward_kernel<T>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  const dim3 grid(ceil_div(Tn, kFlashQueries), H, B);
  BEOP_LAUNCH(flash_attention_forward_kernel<T>, grid, 32 * kFlashQueries, smem, s, y, lse, q, q_bs, q_ts, k, v, kv_bs,
              kv_ts, B, Tn, H, KV, D, pos0, 1.0f / sqrtf(float(D)));
  BEOP_CUDA_LAUNCHED();
}

// Full causal self-attention forward of qkv (B, T, (H+2KV)*D) into y (B, T, H*D). lse (B, H, T) fp32: saved
// for attention_backward_flash, or null (inference, benchmarks).
template <typename T>
void attention_forward_flash(T* y, float* lse, const T* qkv, int B, int Tn, int H, int KV, int D,
                             cudaStream_t s = 0) {
  const int64_t row = int64_t(H + 2 * KV) * D;
  flash_launch(y, lse, qkv, Tn * row, row, qkv + int64_t(H) * D, qkv + int64_t(H + KV) * D, Tn * row, row, B, Tn, H, KV,
               D, 0, s);
}

BEOP_CUDA_NAMESPACE_END
