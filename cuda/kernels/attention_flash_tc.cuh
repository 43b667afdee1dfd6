// Tensor-core flash attention (bf16, head_dim D in {16, 32, 64, 128}): the forward and backward of
// attention_flash.cuh / attention_flash_backward.cuh with every matrix product on mma.sync m16n8k16 (bf16 in,
// fp32 accumulate), FlashAttention-2 style, for the bf16 backend. The scalar kernels remain the fp32 path,
// the fallback for other head dims, and the decode path (a single query row). Same definitions, same saved
// state (fp32 lse and Δ), same fixed summation order (no float atomics):
//   forward  O_t = Σ_{s<=t} exp(scale·q_t·k_s − m_t) v_s / l_t,   lse_t = m_t + log l_t
//   dq_t = scale Σ_s dS[t,s] k_s;  dk_s = scale Σ_h Σ_t dS[t,s] q_t;  dv_s = Σ_h Σ_t P[t,s] dy_t
//   with P = exp(scale·q·k − lse), dS = P (dy·v − Δ).
// Launch: 4 warps per block; a block owns 64 rows (queries for the forward and dq, keys for dk/dv), a warp 16
// of them, and walks the other side in tiles staged in shared memory (bf16, rows padded by 8 elements so
// that the 8 row addresses of an ldmatrix hit 32 different banks). The walked tiles are double-buffered:
// cp.async (cuda/simt/cp_async.h) copies tile i+1 while the warps compute on tile i. Operands reach the
// tensor cores through ldmatrix (cuda/simt/mma.h); score tiles, P and dS never leave registers: an
// accumulator's (row, 2 columns) pairs are exactly the A operand's, so exp(S) packed to bf16 is the next
// product's A (FlashAttention-2).
// Each lane owns two rows of its warp's 16 (g = lane/4 and g + 8) and two adjacent columns of every 8-column
// slice, so a row's max and sum need two shuffles (the 4 lanes of a group).
// Reference: cpu/attention.h. Tests: tests/test_cuda_bf16.cpp (through the emulations of cuda/simt/mma.h and
// cp_async.h on the CPU; natively on a GPU). The building blocks (tile copy, warp-level products):
// attention_tc_tiles.cuh.
#pragma once
#include <type_traits>

#include "cuda/kernels/attention_tc_tiles.cuh"
#include "cuda/kernels/common.cuh"

BEOP_CUDA_NAMESPACE_BEGIN

// Forward. grid (⌈Tn/64⌉, H, B), 128 threads. Strides and pos0 as flash_attention_forward_kernel: query t of
// row b sits at position pos0 + t and attends to keys 0 .. pos0 + t. Blocks take query tiles last-first: the
// causal work of a tile grows with its position, and the longest should start first.
template <int D>
__global__ void __launch_bounds__(128)
    flash_tc_forward_kernel(__nv_bfloat16* y, float* lse, const __nv_bfloat16* q, int64_t q_bs, int64_t q_ts,
                            const __nv_bfloat16* k, const __nv_bfloat16* v, int64_t kv_bs, int64_t kv_ts, int Tn,
                            int H, int KV, int pos0, float scale) {
  using namespace tc;
  constexpr int ld = ld_tile(D), NK = kKeyTile;
  BEOP_DYNAMIC_SHARED(unsigned char, smem);
  bf16* Qs = carve<bf16>(smem, tile_bytes(kRows, D));  // (64, D) the block's queries
  // Two buffers each, buffer i at + i * NK * ld (arithmetic, not an array of pointers: a runtime index into
  // one would put it in local memory).
  bf16* Ks = carve<bf16>(smem, 2 * tile_bytes(NK, D));  // 2 x (64, D) key tiles
  bf16* Vs = carve<bf16>(smem, 2 * tile_bytes(NK, D));  // 2 x (64, D) value tiles
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, col = lane % 4 * 2;
  const int h = blockIdx.y, b = blockIdx.z, kvh = h / (H / KV);
  const int t0 = (gridDim.x - 1 - blockIdx.x) * kRows, nq = imin(kRows, Tn - t0);
  const int wt0 = t0 + warp * 16;                        // the warp's first query
  const int w_last_key = pos0 + imin(wt0 + 15, Tn - 1);  // the last key any of its queries sees
  const int last_key = pos0 + t0 + nq - 1;               // ... and of the block
  const int row[2] = {wt0 + lane / 4, wt0 + lane / 4 + 8};  // this lane's two queries
  float o[D / 8][4];        // (16, D) running output, unnormalised
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};  // running max (log2 units) and sum, two rows
  const float scale2 = scale * kLog2e;
  zero(o);
  const bf16* kb = k + b * kv_bs + int64_t(kvh) * D;
  const bf16* vb = v + b * kv_bs + int64_t(kvh) * D;
  auto issue_kv = [&](int buf, int k0) {
    const int nk = imin(NK, last_key + 1 - k0);
    issue_tile<NK, D>(Ks + buf * NK * ld, kb + k0 * kv_ts, kv_ts, nk);
    issue_tile<NK, D>(Vs + buf * NK * ld, vb + k0 * kv_ts, kv_ts, nk);
  };
  issue_tile<kRows, D>(Qs, q + b * q_bs + t0 * q_ts + int64_t(h) * D, q_ts, nq);
  issue_kv(0, 0);
  cp_async_commit();  // group: Q and the first K/V tile
  for (int k0 = 0, buf = 0; k0 <= last_key; k0 += NK, buf ^= 1) {
    if (k0 + NK <= last_key) issue_kv(buf ^ 1, k0 + NK);  // the next tile, into the buffer freed last time
    cp_async_commit();      // (possibly empty: every iteration commits one group)
    cp_async_wait<1>();     // all but the newest group: this tile (and Q) have landed ...
    __syncthreads();        // ... for every thread
    if (wt0 < Tn && k0 <= w_last_key) {  // warp-uniform: some live (query, key) pair in this tile
      const bf16* Kt = Ks + buf * NK * ld;
      const bf16* Vt = Vs + buf * NK * ld;
      float s[NK / 8][4];  // (16, 64) scores, then probabilities
      zero(s);
      product_abt<D, NK>(s, Qs, ld, warp * 16, Kt, ld);
      float mx[2] = {-INFINITY, -INFINITY};
      BEOP_UNROLL
      for (int j = 0; j < NK / 8; j++)
        BEOP_UNROLL
        for (int i = 0; i < 4; i++) {
          const int t = row[i / 2], key = k0 + 8 * j + col + i % 2;
          s[j][i] = t < Tn && key <= pos0 + t ? s[j][i] * scale2 : -INFINITY;
          mx[i / 2] = fmaxf(mx[i / 2], s[j][i]);
        }
      float corr[2], sum[2] = {0.0f, 0.0f}, base[2];
      BEOP_UNROLL
      for (int r = 0; r < 2; r++) {
        const float m_new = fmaxf(m[r], group_max(mx[r]));
        base[r] = m_new == -INFINITY ? 0.0f : m_new;  // a row with no live key yet: p = 2^-inf = 0, corr = 0
        corr[r] = exp2f(m[r] - base[r]);               // 0 on a row's first live tile
        m[r] = m_new;
      }
      BEOP_UNROLL
      for (int j = 0; j < NK / 8; j++)
        BEOP_UNROLL
        for (int i = 0; i < 4; i++) {
          s[j][i] = exp2f(s[j][i] - base[i / 2]);
          sum[i / 2] += s[j][i];
        }
      BEOP_UNROLL
      for (int r = 0; r < 2; r++) l[r] = l[r] * corr[r] + group_sum(sum[r]);
      BEOP_UNROLL
      for (int j = 0; j < D / 8; j++)
        BEOP_UNROLL
        for (int i = 0; i < 4; i++) o[j][i] *= corr[i / 2];
      product_pm<NK, D>(o, s, Vt, ld);  // O += P · V
    }
    __syncthreads();  // every warp is done with this buffer before the next iteration refills it
  }
  if (wt0 >= Tn) return;
  write_rows<D>(y + (int64_t(b) * Tn + wt0) * H * D + int64_t(h) * D, int64_t(H) * D, imin(16, Tn - wt0), o,
                row[0] < Tn ? 1.0f / l[0] : 0.0f, row[1] < Tn ? 1.0f / l[1] : 0.0f);
  if (lse && lane % 4 == 0) {
    BEOP_UNROLL
    for (int r = 0; r < 2; r++)
      if (row[r] < Tn) lse[(int64_t(b) * H + h) * Tn + row[r]] = (m[r] + log2f(l[r])) * kLn2;
  }
}

// dq. grid (⌈T/64⌉, H, B), 128 threads, query tiles last-first; q, k, v in place in qkv (B, T, (H+2KV)*D).
// Writes the q slot of d_qkv.
template <int D>
__global__ void __launch_bounds__(128)
    flash_tc_backward_dq_kernel(__nv_bfloat16* d_qkv, const __nv_bfloat16* qkv, const __nv_bfloat16* dy,
                                const float* lse, const float* delta, int Tn, int H, int KV, float scale) {
  using namespace tc;
  constexpr int ld = ld_tile(D), NK = dq_key_tile(D);
  BEOP_DYNAMIC_SHARED(unsigned char, smem);
  bf16* Qs = carve<bf16>(smem, tile_bytes(kRows, D));   // (64, D) the block's queries
  bf16* dYs = carve<bf16>(smem, tile_bytes(kRows, D));  // (64, D) their dy
  bf16* Ks = carve<bf16>(smem, 2 * tile_bytes(NK, D));  // 2 x (NK, D) key tiles (buffer i at + i * NK * ld)
  bf16* Vs = carve<bf16>(smem, 2 * tile_bytes(NK, D));  // 2 x (NK, D) value tiles
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, col = lane % 4 * 2;
  const int h = blockIdx.y, b = blockIdx.z, kvh = h / (H / KV);
  const int64_t stride = int64_t(H + 2 * KV) * D;
  const bf16* base = qkv + int64_t(b) * Tn * stride;
  const int t0 = (gridDim.x - 1 - blockIdx.x) * kRows, nq = imin(kRows, Tn - t0), wt0 = t0 + warp * 16;
  const int last_key = t0 + nq - 1, w_last_key = imin(wt0 + 15, Tn - 1);
  const int row[2] = {wt0 + lane / 4, wt0 + lane / 4 + 8};
  float lse_r[2], delta_r[2];
  BEOP_UNROLL
  for (int r = 0; r < 2; r++) {
    lse_r[r] = row[r] < Tn ? lse[(int64_t(b) * H + h) * Tn + row[r]] * kLog2e : 0.0f;  // log2 units
    delta_r[r] = row[r] < Tn ? delta[(int64_t(b) * H + h) * Tn + row[r]] : 0.0f;
  }
  const float scale2 = scale * kLog2e;
  float dq[D / 8][4];
  zero(dq);
  auto issue_kv = [&](int buf, int k0) {
    const int nk = imin(NK, last_key + 1 - k0);
    issue_tile<NK, D>(Ks + buf * NK * ld, base + k0 * stride + int64_t(H + kvh) * D, stride, nk);
    issue_tile<NK, D>(Vs + buf * NK * ld, base + k0 * stride + int64_t(H + KV + kvh) * D, stride, nk);
  };
  issue_tile<kRows, D>(Qs, base + t0 * stride + int64_t(h) * D, stride, nq);
  issue_tile<kRows, D>(dYs, dy + (int64_t(b) * Tn + t0) * H * D + int64_t(h) * D, int64_t(H) * D, nq);
  issue_kv(0, 0);
  cp_async_commit();  // group: Q, dY and the first K/V tile
  for (int k0 = 0, buf = 0; k0 <= last_key; k0 += NK, buf ^= 1) {
    if (k0 + NK <= last_key) issue_kv(buf ^ 1, k0 + NK);
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    if (wt0 < Tn && k0 <= w_last_key) {  // warp-uniform
      const bf16* Kt = Ks + buf * NK * ld;
      const bf16* Vt = Vs + buf * NK * ld;
      float s[NK / 8][4], dp[NK / 8][4];  // (16, NK) q·k, then dS; dy·v
      zero(s);
      zero(dp);
      product_abt<D, NK>(s, Qs, ld, warp * 16, Kt, ld);
      product_abt<D, NK>(dp, dYs, ld, warp * 16, Vt, ld);
      BEOP_UNROLL
      for (int j = 0; j < NK / 8; j++)
        BEOP_UNROLL
        for (int i = 0; i < 4; i++) {
          const int t = row[i / 2], key = k0 + 8 * j + col + i % 2;
          const float p = exp2f(t < Tn && key <= t ? s[j][i] * scale2 - lse_r[i / 2] : -INFINITY);
          s[j][i] = p * (dp[j][i] - delta_r[i / 2]);
        }
      product_pm<NK, D>(dq, s, Kt, ld);  // dq += dS · K
    }
    __syncthreads();  // every warp is done with this buffer before the next iteration refills it
  }
  if (wt0 >= Tn) return;
  write_rows<D>(d_qkv + (int64_t(b) * Tn + wt0) * stride + int64_t(h) * D, stride, imin(16, Tn - wt0), dq, scale,
                scale);
}

// dk, dv. grid (⌈T/64⌉, KV, B), 128 threads: a block owns 64 keys of kv head kvh (a warp 16), and walks the
// group's query heads (ascending) and, for each, the query tiles from its first key on (ascending). The first
// key tiles have the most queries and run first.
// (At D <= 64, at least 3 blocks per SM: without the bound ptxas took 172 registers at D = 64, which fits 2.)
template <int D>
__global__ void __launch_bounds__(128, D <= 64 ? 3 : 1)
    flash_tc_backward_dkv_kernel(__nv_bfloat16* d_qkv, const __nv_bfloat16* qkv, const __nv_bfloat16* dy,
                                 const float* lse, const float* delta, int Tn, int H, int KV, float scale) {
  using namespace tc;
  constexpr int ld = ld_tile(D), NQ = dkv_query_tile(D);
  BEOP_DYNAMIC_SHARED(unsigned char, smem);
  bf16* Ks = carve<bf16>(smem, tile_bytes(kRows, D));  // (64, D) the block's keys
  bf16* Vs = carve<bf16>(smem, tile_bytes(kRows, D));  // (64, D) their values
  bf16* Qs = carve<bf16>(smem, 2 * tile_bytes(NQ, D));   // 2 x (NQ, D) query tiles (buffer i at + i * NQ * ld)
  bf16* dYs = carve<bf16>(smem, 2 * tile_bytes(NQ, D));  // 2 x (NQ, D) their dy
  float* Ls = carve<float>(smem, 2 * NQ * sizeof(float));  // 2 x (NQ) their lse · log2 e (buffer i at + i * NQ)
  float* Ds = carve<float>(smem, 2 * NQ * sizeof(float));  // 2 x (NQ) their Δ
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, col = lane % 4 * 2;
  const int kvh = blockIdx.y, b = blockIdx.z, group = H / KV, h_end = (kvh + 1) * group;
  const int64_t stride = int64_t(H + 2 * KV) * D;
  const bf16* base = qkv + int64_t(b) * Tn * stride;
  const int s0 = blockIdx.x * kRows, nk = imin(kRows, Tn - s0), ws0 = s0 + warp * 16;
  const int key[2] = {ws0 + lane / 4, ws0 + lane / 4 + 8};  // this lane's two keys
  const float scale2 = scale * kLog2e;
  float dk[D / 8][4], dv[D / 8][4];
  zero(dk);
  zero(dv);
  // The walk: the group's query heads (ascending) and, for each, the query tiles from s0 on (queries before
  // s0 never see the block's keys). Tile (h, q0) goes to buffer buf: Q and dY by cp.async; lse (scaled to
  // log2 units) and Δ through registers — thread i < NQ loads row i's pair when the tile's copies are issued
  // and stores it after the current tile's math (so the loads' latency hides behind it), before the barrier
  // that ends the iteration; either way visible after the barrier that precedes their use.
  float l_next = 0.0f, d_next = 0.0f;  // the pair for row threadIdx.x of the next tile
  auto issue_q = [&](int to, int head, int first) {
    const int nq = imin(NQ, Tn - first);
    issue_tile<NQ, D>(Qs + to * NQ * ld, base + first * stride + int64_t(head) * D, stride, nq);
    issue_tile<NQ, D>(dYs + to * NQ * ld, dy + (int64_t(b) * Tn + first) * H * D + int64_t(head) * D,
                      int64_t(H) * D, nq);
    const int i = threadIdx.x;  // NQ <= kThreads
    const bool ok = i < nq;
    l_next = ok ? lse[(int64_t(b) * H + head) * Tn + first + i] * kLog2e : 0.0f;
    d_next = ok ? delta[(int64_t(b) * H + head) * Tn + first + i] : 0.0f;
  };
  auto store_ld = [&](int to) {
    if (int(threadIdx.x) < NQ) Ls[to * NQ + threadIdx.x] = l_next, Ds[to * NQ + threadIdx.x] = d_next;
  };
  static_assert(dkv_query_tile(D) <= kThreads, "one thread per query row of a tile");
  issue_tile<kRows, D>(Ks, base + s0 * stride + int64_t(H + kvh) * D, stride, nk);
  issue_tile<kRows, D>(Vs, base + s0 * stride + int64_t(H + KV + kvh) * D, stride, nk);
  issue_q(0, kvh * group, s0);
  store_ld(0);
  cp_async_commit();  // group: K, V and the first query tile
  for (int h = kvh * group, q0 = s0, buf = 0; h < h_end; buf ^= 1) {
    int next_h = h, next_q0 = q0 + NQ;
    if (next_q0 >= Tn) next_h = h + 1, next_q0 = s0;
    const bool more = next_h < h_end;
    if (more) issue_q(buf ^ 1, next_h, next_q0);
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    // warp-uniform: some of the warp's keys exist, and some query of the tile is at or after them
    if (ws0 < Tn && q0 + NQ - 1 >= ws0) {
      const bf16* Qt = Qs + buf * NQ * ld;
      const bf16* dYt = dYs + buf * NQ * ld;
      const float* Lt = Ls + buf * NQ;
      const float* Dt = Ds + buf * NQ;
      float st[NQ / 8][4], dpt[NQ / 8][4];  // (16, NQ) k·q, then P^T; v·dy, then dS^T
      zero(st);
      zero(dpt);
      product_abt<D, NQ>(st, Ks, ld, warp * 16, Qt, ld);
      product_abt<D, NQ>(dpt, Vs, ld, warp * 16, dYt, ld);
      BEOP_UNROLL
      for (int j = 0; j < NQ / 8; j++)
        BEOP_UNROLL
        for (int i = 0; i < 4; i++) {
          const int c = 8 * j + col + i % 2, s = key[i / 2], t = q0 + c;
          const float p = exp2f(s < Tn && t < Tn && t >= s ? st[j][i] * scale2 - Lt[c] : -INFINITY);
          st[j][i] = p;
          dpt[j][i] = p * (dpt[j][i] - Dt[c]);
        }
      product_pm<NQ, D>(dv, st, dYt, ld);  // dv += P^T · dY
      product_pm<NQ, D>(dk, dpt, Qt, ld);  // dk += dS^T · Q
    }
    if (more) store_ld(buf ^ 1);  // (that buffer was last read before the previous iteration's end barrier)
    __syncthreads();  // every warp is done with this buffer before the next iteration refills it
    h = next_h;
    q0 = next_q0;
  }
  if (ws0 >= Tn) return;
  const int valid = imin(16, Tn - ws0);
  bf16* out = d_qkv + (int64_t(b) * Tn + ws0) * stride;
  write_rows<D>(out + int64_t(H + kvh) * D, stride, valid, dk, scale, scale);
  write_rows<D>(out + int64_t(H + KV + kvh) * D, stride, valid, dv, 1.0f, 1.0f);
}

// ---- dispatch -------------------------------------------------------------------------------------------------

inline size_t flash_tc_max_smem(int D) {
  const size_t f = tc::forward_smem(D), q = tc::dq_smem(D), kv = tc::dkv_smem(D);
  return f > q ? (f > kv ? f : kv) : (q > kv ? q : kv);
}

// The tensor-core kernels serve bf16 with D in {16, 32, 64, 128}, at least 16 query rows (a single decode row
// would waste 63/64 of every tile: the scalar kernel serves it), and all three kernels' shared memory within
// the device's limit (smem_limit, 0 = the current device's); everything else falls back to the scalar kernels.
// They need at most 85 KiB (the forward at D = 128), so every sm_80+ GPU holds them; the check stays for
// devices and tile sizes that do not.
template <typename T>
inline bool flash_tc_eligible(int D, int Tn, size_t smem_limit = 0) {
  if (!std::is_same<T, __nv_bfloat16>::value || !(D == 16 || D == 32 || D == 64 || D == 128) || Tn < 16)
    return false;
  return flash_tc_max_smem(D) <= (smem_limit ? smem_limit : device_smem_optin_bytes());
}

// Lets `kernel` use `bytes` of dynamic shared memory (above the default 48 KiB). The callers do it once per
// kernel (a static): beop runs one GPU per process, and the attribute is per function and device.
template <typename K>
inline bool flash_tc_smem_opt_in(K kernel, size_t bytes) {
  if (bytes > 48 * 1024)
    BEOP_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
  return true;
}

template <int D>
void flash_tc_forward_d(__nv_bfloat16* y, float* lse, const __nv_bfloat16* q, int64_t q_bs, int64_t q_ts,
                        const __nv_bfloat16* k, const __nv_bfloat16* v, int64_t kv_bs, int64_t kv_ts, int B, int Tn,
                        int H, int KV, int pos0, cudaStream_t s) {
  const size_t smem = tc::forward_smem(D);
  static const bool opted_in = flash_tc_smem_opt_in(flash_tc_forward_kernel<D>, smem);
  (void)opted_in;
  BEOP_LAUNCH(flash_tc_forward_kernel<D>, dim3(ceil_div(Tn, tc::kRows), H, B), 32 * tc::kWarps, smem, s, y, lse, q,
              q_bs, q_ts, k, v, kv_bs, kv_ts, Tn, H, KV, pos0, 1.0f / sqrtf(float(D)));
  BEOP_CUDA_LAUNCHED();
}

template <int D>
void flash_tc_backward_d(__nv_bfloat16* d_qkv, const float* delta, const __nv_bfloat16* d_y, const float* lse,
                         const __nv_bfloat16* qkv, int B, int Tn, int H, int KV, cudaStream_t s) {
  const float scale = 1.0f / sqrtf(float(D));
  const size_t smem_q = tc::dq_smem(D), smem_kv = tc::dkv_smem(D);
  static const bool opted_in = flash_tc_smem_opt_in(flash_tc_backward_dq_kernel<D>, smem_q) &&
                               flash_tc_smem_opt_in(flash_tc_backward_dkv_kernel<D>, smem_kv);
  (void)opted_in;
  BEOP_LAUNCH(flash_tc_backward_dq_kernel<D>, dim3(ceil_div(Tn, tc::kRows), H, B), 32 * tc::kWarps, smem_q, s, d_qkv,
              qkv, d_y, lse, delta, Tn, H, KV, scale);
  BEOP_CUDA_LAUNCHED();
  BEOP_LAUNCH(flash_tc_backward_dkv_kernel<D>, dim3(ceil_div(Tn, tc::kRows), KV, B), 32 * tc::kWarps, smem_kv, s,
              d_qkv, qkv, d_y, lse, delta, Tn, H, KV, scale);
  BEOP_CUDA_LAUNCHED();
}

// The 16-byte async copies need 16-byte aligned rows: base pointers, row strides and batch strides (bytes).
inline void flash_tc_check_alignment(const void* p, int64_t row_stride, int64_t batch_stride, const char* what) {
  BEOP_CHECK(reinterpret_cast<uintptr_t>(p) % 16 == 0 && (row_stride * 2) % 16 == 0 && (batch_stride * 2) % 16 == 0,
             "flash attention (tensor cores): ", what, " is not 16-byte aligned");
}

inline void flash_tc_forward(__nv_bfloat16* y, float* lse, const __nv_bfloat16* q, int64_t q_bs, int64_t q_ts,
                             const __nv_bfloat16* k, const __nv_bfloat16* v, int64_t kv_bs, int64_t kv_ts, int B, int Tn,
                             int H, int KV, int D, int pos0, cudaStream_t s) {
  flash_tc_check_alignment(q, q_ts, q_bs, "q");
  BEOP_CHECK(reinterpret_cast<uintptr_t>(y) % 4 == 0, "flash attention (tensor cores): y is not 4-byte aligned");
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
  BEOP_CHECK(reinterpret_cast<uintptr_t>(d_qkv) % 4 == 0,
             "flash attention (tensor cores): d_qkv is not 4-byte aligned");
  switch (D) {
    case 16: return flash_tc_backward_d<16>(d_qkv, delta, d_y, lse, qkv, B, Tn, H, KV, s);
    case 32: return flash_tc_backward_d<32>(d_qkv, delta, d_y, lse, qkv, B, Tn, H, KV, s);
    case 64: return flash_tc_backward_d<64>(d_qkv, delta, d_y, lse, qkv, B, Tn, H, KV, s);
    case 128: return flash_tc_backward_d<128>(d_qkv, delta, d_y, lse, qkv, B, Tn, H, KV, s);
    default: fail("flash attention (tensor cores): head_dim ", D, " not in {16, 32, 64, 128}");
  }
}

BEOP_CUDA_NAMESPACE_END
