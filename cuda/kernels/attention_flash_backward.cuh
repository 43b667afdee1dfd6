// Fused causal GQA attention BACKWARD (flash-style): rebuilds each probability from the saved logsumexp
// instead of reading a saved T x T matrix, so training attention needs O(B·H·T) extra memory, not O(B·H·T²).
// Forward: attention_flash.cuh (flash_attention_forward_kernel with lse). Reference: cpu/attention.h
// (attention_backward, from the saved probabilities); cpu/attention_flash.h (the same recomputation on the CPU).
// Tests: tests/test_cuda_kernels.cpp, tests/test_cuda_bf16.cpp.
//
// With scale = 1/sqrt(D), per (b, h) and query t, key s <= t (kv head kvh = h / (H/KV)):
//   P[t,s]  = exp(scale·q_t·k_s − lse_t)                 (exactly the forward's softmax)
//   dP[t,s] = dy_t · v_s
//   Δ_t     = Σ_s P[t,s] dP[t,s] = dy_t · y_t             (row_dot kernel: one pass over y and dy)
//   dS[t,s] = P[t,s] (dP[t,s] − Δ_t)
//   dq_t    = scale Σ_s dS[t,s] k_s                       (dq kernel: one block per query tile)
//   dk_s    = scale Σ_{h in group} Σ_{t>=s} dS[t,s] q_t   (dkv kernel: one block per key tile and KV head)
//   dv_s    =       Σ_{h in group} Σ_{t>=s} P[t,s] dy_t
// Two kernels recompute P (dq, then dk/dv) rather than one kernel adding dq with float atomics: every sum has
// a fixed order (keys ascending for dq; heads ascending, then queries ascending for dk/dv), so the backward
// is deterministic like every other beop kernel. GQA-native: the dk/dv block sums its group's query heads
// itself, so K/V gradients need no second reduction pass.
#pragma once
#include "cuda/kernels/attention_flash.cuh"
#include "cuda/kernels/common.cuh"

BEOP_CUDA_NAMESPACE_BEGIN

constexpr int kFlashBwdRowsPerBlock = 8;  // row_dot: one warp per (b, t, h) row

// delta (B, H, T) fp32 = Σ_d dy[b,t,h,d] · y[b,t,h,d].  y, dy (B, T, H*D). One warp per row.
template <typename T>
__global__ void flash_row_dot_kernel(float* delta, const T* dy, const T* y, int B, int Tn, int H, int D) {
  const int64_t r = int64_t(blockIdx.x) * kFlashBwdRowsPerBlock + threadIdx.x / 32;  // r = (b*Tn + t)*H + h
  const int lane = threadIdx.x % 32;
  if (r >= int64_t(B) * Tn * H) return;  // uniform over the warp
  const T* a = dy + r * D;
  const T* o = y + r * D;
  float dot = 0;
  for (int d = lane; d < D; d += 32) dot += f32(a[d]) * f32(o[d]);
  dot = warp_sum(dot);
  const int h = int(r % H);
  const int64_t bt = r / H;
  const int t = int(bt % Tn), b = int(bt / Tn);
  if (lane == 0) delta[(int64_t(b) * H + h) * Tn + t] = dot;
}

// Shared memory of a dq block: K and V tiles (32 x (D+1) each, padded so lane j's row walk is conflict-free),
// and the block's 8 queries and their dy (8 x D each).
inline size_t flash_dq_smem_bytes(int D) {
  return sizeof(float) * (2 * size_t(kFlashKeys) * (D + 1) + 2 * size_t(kFlashQueries) * D);
}

// dq: grid (⌈T/8⌉, H, B), 8 warps; warp w owns query t = tile*8 + w, lane j scores key k0 + j of each 32-key
// tile, exactly as the forward does; then lane j accumulates output dims j, j+32, ... over the tile's keys
// in order. Writes the q slot of d_qkv (B, T, (H+2KV)*D), every element.
template <typename T>
__global__ void flash_attention_backward_dq_kernel(T* d_qkv, const T* qkv, const T* dy, const float* lse,
                                                   const float* delta, int Tn, int H, int KV, int D, float scale) {
  BEOP_DYNAMIC_SHARED(float, smem);
  float* Ks = smem;                           // (32, D+1)
  float* Vs = Ks + kFlashKeys * (D + 1);      // (32, D+1)
  float* Qs = Vs + kFlashKeys * (D + 1);      // (8, D)
  float* dYs = Qs + kFlashQueries * D;        // (8, D)
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int h = blockIdx.y, b = blockIdx.z, kvh = h / (H / KV);
  const int t0 = blockIdx.x * kFlashQueries, t = t0 + warp;
  const bool valid = t < Tn;  // uniform over the warp
  const int last_key = (t0 + kFlashQueries < Tn ? t0 + kFlashQueries : Tn) - 1;
  const int64_t row = int64_t(H + 2 * KV) * D;
  const T* base = qkv + int64_t(b) * Tn * row;
  const T* kb = base + int64_t(H + kvh) * D;
  const T* vb = base + int64_t(H + KV + kvh) * D;
  float lse_t = 0, delta_t = 0;
  if (valid) {
    const T* qr = base + t * row + int64_t(h) * D;
    const T* dyr = dy + (int64_t(b) * Tn + t) * H * D + int64_t(h) * D;
    for (int d = lane; d < D; d += 32) Qs[warp * D + d] = f32(qr[d]), dYs[warp * D + d] = f32(dyr[d]);
    lse_t = lse[(int64_t(b) * H + h) * Tn + t];
    delta_t = delta[(int64_t(b) * H + h) * Tn + t];
  }
  float acc[kFlashPerLane];
  BEOP_UNROLL
  for (int j = 0; j < kFlashPerLane; j++) acc[j] = 0;
  for (int k0 = 0; k0 <= last_key; k0 += kFlashKeys) {
    __syncthreads();  // the previous tile has been consumed (and, first time, Qs/dYs are written)
    for (int i = threadIdx.x; i < kFlashKeys * D; i += blockDim.x) {
      const int kk = i / D, d = i % D, key = k0 + kk;
      const bool in = key <= last_key;
      Ks[kk * (D + 1) + d] = in ? f32(kb[key * row + d]) : 0.0f;
      Vs[kk * (D + 1) + d] = in ? f32(vb[key * row + d]) : 0.0f;
    }
    __syncthreads();
    if (valid && k0 <= t) {  // uniform over the warp; no barrier inside
      const int key = k0 + lane;
      float qk = 0, dpv = 0;
      for (int d = 0; d < D; d++) {
        qk += Qs[warp * D + d] * Ks[lane * (D + 1) + d];
        dpv += dYs[warp * D + d] * Vs[lane * (D + 1) + d];
      }
      const float p = key <= t ? expf(qk * scale - lse_t) : 0.0f;
      const float ds = p * (dpv - delta_t);
      for (int kk = 0; kk < kFlashKeys; kk++) {
        const float dsk = __shfl_sync(kFullMask, ds, kk);
        BEOP_UNROLL
        for (int j = 0; j < kFlashPerLane; j++) {
          const int d = lane + 32 * j;
          if (d < D) acc[j] += dsk * Ks[kk * (D + 1) + d];
        }
      }
    }
  }
  if (!valid) return;
  T* dq = d_qkv + (int64_t(b) * Tn + t) * row + int64_t(h) * D;
  BEOP_UNROLL
  for (int j = 0; j < kFlashPerLane; j++) {
    const int d = lane + 32 * j;
    if (d < D) dq[d] = T(acc[j] * scale);
  }
}

// Shared memory of a dk/dv block: a tile of 32 queries and their dy (32 x (D+1) each), their lse and Δ (32
// each), and the block's 8 keys and values (8 x D each).
inline size_t flash_dkv_smem_bytes(int D) {
  return sizeof(float) * (2 * size_t(kFlashKeys) * (D + 1) + 2 * size_t(kFlashKeys) + 2 * size_t(kFlashQueries) * D);
}

// dk, dv: grid (⌈T/8⌉, KV, B), 8 warps; warp w owns key s = tile*8 + w. For each query head of the kv group
// (ascending) and each tile of 32 queries from the block's first key on (ascending), lane j rebuilds
// P[q0+j, s] and dS[q0+j, s]; then lane j accumulates dims j, j+32, ... of dk and dv over the tile's queries
// in order. Writes the k and v slots of d_qkv, every element.
template <typename T>
__global__ void flash_attention_backward_dkv_kernel(T* d_qkv, const T* qkv, const T* dy, const float* lse,
                                                    const float* delta, int Tn, int H, int KV, int D, float scale) {
  BEOP_DYNAMIC_SHARED(float, smem);
  float* Qs = smem;                                 // (32, D+1) queries of the tile
  float* dYs = Qs + kFlashKeys * (D + 1);           // (32, D+1) their dy
  float* Ls = dYs + kFlashKeys * (D + 1);           // (32) their lse
  float* Ds = Ls + kFlashKeys;                      // (32) their Δ
  float* Kw = Ds + kFlashKeys;                      // (8, D) the block's keys
  float* Vw = Kw + kFlashQueries * D;               // (8, D) and values
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int kvh = blockIdx.y, b = blockIdx.z, group = H / KV;
  const int s0 = blockIdx.x * kFlashQueries, s = s0 + warp;
  const bool valid = s < Tn;  // uniform over the warp
  const int64_t row = int64_t(H + 2 * KV) * D;
  const T* base = qkv + int64_t(b) * Tn * row;
  if (valid) {
    const T* kr = base + s * row + int64_t(H + kvh) * D;
    const T* vr = base + s * row + int64_t(H + KV + kvh) * D;
    for (int d = lane; d < D; d += 32) Kw[warp * D + d] = f32(kr[d]), Vw[warp * D + d] = f32(vr[d]);
  }
  float dk[kFlashPerLane], dv[kFlashPerLane];
  BEOP_UNROLL
  for (int j = 0; j < kFlashPerLane; j++) dk[j] = dv[j] = 0;
  for (int h = kvh * group; h < (kvh + 1) * group; h++) {
    const float* lse_h = lse + (int64_t(b) * H + h) * Tn;
    const float* delta_h = delta + (int64_t(b) * H + h) * Tn;
    for (int q0 = s0; q0 < Tn; q0 += kFlashKeys) {  // queries before s0 never see the block's keys
      __syncthreads();  // the previous tile has been consumed (and, first time, Kw/Vw are written)
      for (int i = threadIdx.x; i < kFlashKeys * D; i += blockDim.x) {
        const int tt = i / D, d = i % D, q = q0 + tt;
        const bool in = q < Tn;
        Qs[tt * (D + 1) + d] = in ? f32(base[q * row + int64_t(h) * D + d]) : 0.0f;
        dYs[tt * (D + 1) + d] = in ? f32(dy[(int64_t(b) * Tn + q) * H * D + int64_t(h) * D + d]) : 0.0f;
      }
      for (int tt = threadIdx.x; tt < kFlashKeys; tt += blockDim.x) {
        const bool in = q0 + tt < Tn;
        Ls[tt] = in ? lse_h[q0 + tt] : 0.0f;
        Ds[tt] = in ? delta_h[q0 + tt] : 0.0f;
      }
      __syncthreads();
      if (!valid) continue;  // uniform over the warp; the next barrier is reached by every warp
      const int q = q0 + lane;
      const bool live = q < Tn && q >= s;  // causal: query q sees key s iff s <= q
      float qk = 0, dpv = 0;
      for (int d = 0; d < D; d++) {
        qk += Qs[lane * (D + 1) + d] * Kw[warp * D + d];
        dpv += dYs[lane * (D + 1) + d] * Vw[warp * D + d];
      }
      const float p = live ? expf(qk * scale - Ls[lane]) : 0.0f;
      const float ds = p * (dpv - Ds[lane]);
      for (int tt = 0; tt < kFlashKeys; tt++) {
        const float pt = __shfl_sync(kFullMask, p, tt), dst = __shfl_sync(kFullMask, ds, tt);
        BEOP_UNROLL
        for (int j = 0; j < kFlashPerLane; j++) {
          const int d = lane + 32 * j;
          if (d < D) {
            dv[j] += pt * dYs[tt * (D + 1) + d];
            dk[j] += dst * Qs[tt * (D + 1) + d];
          }
        }
      }
    }
  }
  if (!valid) return;
  T* dkr = d_qkv + (int64_t(b) * Tn + s) * row + int64_t(H + kvh) * D;
  T* dvr = d_qkv + (int64_t(b) * Tn + s) * row + int64_t(H + KV + kvh) * D;
  BEOP_UNROLL
  for (int j = 0; j < kFlashPerLane; j++) {
    const int d = lane + 32 * j;
    if (d < D) dkr[d] = T(dk[j] * scale), dvr[d] = T(dv[j]);
  }
}

// d_qkv (B, T, (H+2KV)*D) fully overwritten; delta (B, H, T) fp32 scratch; d_y, y (B, T, H*D); lse (B, H, T)
// fp32 from attention_forward_flash; qkv (B, T, (H+2KV)*D) with q, k rotated.
template <typename T>
void attention_backward_flash(T* d_qkv, float* delta, const T* d_y, const T* y, const float* lse, const T* qkv, int B,
                              int Tn, int H, int KV, int D, cudaStream_t s = 0) {
  flash_check(H, KV, D);
  BEOP_CHECK(H <= 65535 && B <= 65535, "flash attention backward: grid of ", H, " heads x ", B, " rows too large");
  const float scale = 1.0f / sqrtf(float(D));
  BEOP_LAUNCH(flash_row_dot_kernel<T>, ceil_div(int64_t(B) * Tn * H, kFlashBwdRowsPerBlock),
              32 * kFlashBwdRowsPerBlock, 0, s, delta, d_y, y, B, Tn, H, D);
  BEOP_CUDA_LAUNCHED();
  if constexpr (std::is_same<T, __nv_bfloat16>::value) {
    if (flash_tc_eligible<T>(D, Tn))  // bf16 with D in {16, 32, 64, 128}: tensor cores (attention_flash_tc.cuh)
      return flash_tc_backward(d_qkv, delta, d_y, lse, qkv, B, Tn, H, KV, D, s);
  }
  const size_t smem_q = flash_dq_smem_bytes(D), smem_kv = flash_dkv_smem_bytes(D);
  if (smem_q > 48 * 1024)  // above the default dynamic shared memory limit: opt in (D > ~150)
    BEOP_CUDA_CHECK(cudaFuncSetAttribute(flash_attention_backward_dq_kernel<T>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem_q)));
  if (smem_kv > 48 * 1024)
    BEOP_CUDA_CHECK(cudaFuncSetAttribute(flash_attention_backward_dkv_kernel<T>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem_kv)));
  BEOP_LAUNCH(flash_attention_backward_dq_kernel<T>, dim3(ceil_div(Tn, kFlashQueries), H, B), 32 * kFlashQueries,
              smem_q, s, d_qkv, qkv, d_y, lse, delta, Tn, H, KV, D, scale);
  BEOP_CUDA_LAUNCHED();
  BEOP_LAUNCH(flash_attention_backward_dkv_kernel<T>, dim3(ceil_div(Tn, kFlashQueries), KV, B), 32 * kFlashQueries,
              smem_kv, s, d_qkv, qkv, d_y, lse, delta, Tn, H, KV, D, scale);
  BEOP_CUDA_LAUNCHED();
}

BEOP_CUDA_NAMESPACE_END
