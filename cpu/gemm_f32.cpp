// fp32 GEMM (see cpu/gemm_f32.h). Packed layouts (fp32, zeros past the matrix):
//   B panel np (NR = 32 columns), all of k:   bp[np][k][j] = B[k][np*NR + j]         packed once per call
//     (M <= 112 rows: per thread tile and k chunk instead, into L2; see gemm_f32)
//   A block (MC rows of one thread tile, one k chunk of KC): ab[mp][k][i] = A[m0 + mp*MR + i][k0 + k]
//                                                                         packed per tile and chunk, L2-resident
// Loop nest per thread tile (MC x NC of C): for each k chunk, pack the A block; for each A panel (14 x KC, 14 KiB,
// stays in L1), for each B panel (its KC x 32 chunk from L2, prefetched ahead): the micro-kernel adds 14 x 32 of
// C over the chunk. (The other order, B panel in L1 and A panels from L2, measured 10-25% slower here.)
// Tuned on the 2-core dev VM (Sapphire Rapids, 1 thread): the micro-kernel alone reaches 161 GFLOP/s in L1
// (97% of 2 FMA ports at 2.6 GHz); on the `small` preset's layer shapes the whole GEMM, packing included, runs
// 85-110 GFLOP/s against Eigen's 75-97, 1.15x over the set (build/bench/bench_gemm_f32; docs/PERFORMANCE.md,
// "fp32 on the packed GEMM"). Those figures are of the first, 12-row micro-tile; 14 rows (28 accumulators, with
// the two B vectors and the broadcast 31 of the 32 zmm registers) made the layer set 3% faster and a training step
// 2.5-3% (docs/PERFORMANCE.md, eleventh session).
#include "cpu/gemm_f32.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "cpu/gemm_block.h"
#include "cpu/linear.h"
#include "cpu/transpose16.h"
#include "src/common.h"

#define BEOP_AVX512F __attribute__((target("avx512f")))

namespace beop::cpu {
namespace {

constexpr int MR = 14, NR = 32;  // micro-tile of C: 28 zmm accumulators
constexpr int KC = 256;          // k per chunk: an A panel's chunk is 14 x 256 x 4 = 14 KiB (L1)
constexpr int kMaxMcp = 8;       // A panels per thread tile: 112 rows, an A block of 112 KiB (L2)
constexpr int kMaxNcp = 32;      // B panels per thread tile: its chunk, 1 MiB, stays in L2 for the tile's A panels

constexpr int kAheadB = 8;      // k the micro-kernel prefetches B ahead (2 KiB)
constexpr int kPackAhead = 8;   // k the packing prefetches ahead: its loads waited on memory (+15% on a dW GEMM)

// c (MR x NR, leading dimension ldc) = (load ? c : 0) + a . b over kc values of k. The products are summed from
// zero and added to c once at the end, as Eigen's GEMM did: c0 + (a . b), not ((c0 + p0) + p1) + ..., so that
// accumulating a micro-batch's gradient onto the previous ones rounds like data-parallel ranks adding their own
// sums (tests/test_data_parallel.cpp compares the two within 1e-5; summing onto c0 drifted to 9e-5 in 20 steps).
// R < MR: the first R rows of the panel only (a matrix's last, partial panel), so that a few-row GEMM (a prompt's
// 37 tokens: 3 panels and 1 row) does not compute a whole panel of padding rows.
template <int R = MR>
BEOP_AVX512F void kernel(const float* a, const float* b, int kc, float* c, int64_t ldc, bool load) {
  __m512 acc[R][2];
#pragma GCC unroll 14
  for (int i = 0; i < R; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (int k = 0; k < kc; k++) {
    _mm_prefetch((const char*)(b + (k + kAheadB) * NR), _MM_HINT_T0);  // B comes from L2 (measured +10-20%)
    _mm_prefetch((const char*)(b + (k + kAheadB) * NR + 16), _MM_HINT_T0);
    const __m512 b0 = _mm512_loadu_ps(b + k * NR), b1 = _mm512_loadu_ps(b + k * NR + 16);
#pragma GCC unroll 14
    for (int i = 0; i < R; i++) {
      const __m512 ai = _mm512_set1_ps(a[k * MR + i]);
      acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
    }
  }
#pragma GCC unroll 14
  for (int i = 0; i < R; i++) {
    if (load) {
      acc[i][0] = _mm512_add_ps(_mm512_loadu_ps(c + i * ldc), acc[i][0]);
      acc[i][1] = _mm512_add_ps(_mm512_loadu_ps(c + i * ldc + 16), acc[i][1]);
    }
    _mm512_storeu_ps(c + i * ldc, acc[i][0]);
    _mm512_storeu_ps(c + i * ldc + 16, acc[i][1]);
  }
}

// Panels p = 0 .. panels-1 of W rows each (MR or NR), from row r0 on, and k0 .. k0+kc-1 of X (element (r, k) at
// X[r*rr + k*rk], R rows; zeros past R) into out[p * pstride + k * W + i] for row r0 + p*W + i.
// Vectorized along whichever of r and k is contiguous in X (every layout the linear layers use), 16 rows at a
// time: r-contiguous rows are copied with k outermost, so X is read in address order (walking one panel down all
// of k first read it with a stride and cost a dW GEMM 17% in packing); k-contiguous rows are transposed 16 x 16
// in registers.
template <int W>  // rows per panel: MR or NR
BEOP_AVX512F void pack_panels(const float* X, int64_t rr, int64_t rk, int R, int r0, int panels, int k0, int kc,
                              float* out, int64_t pstride) {
  constexpr int kGroups = (W + 15) / 16, kLast = W - 16 * (kGroups - 1);  // rows of the last group: 14 or 16
  constexpr __mmask16 kLastMask = __mmask16((1u << kLast) - 1);
  // Rows of group g of panel p that exist in X (the rest are zeros).
  auto valid_rows = [&](int p, int g) {
    return std::max(0, std::min(g == kGroups - 1 ? kLast : 16, R - (r0 + p * W + 16 * g)));
  };
  if (rr == 1) {
    for (int k = 0; k < kc; k++)
      for (int p = 0; p < panels; p++)
#pragma GCC unroll 2
        for (int g = 0; g < kGroups; g++) {
          const float* x = X + int64_t(k0 + k) * rk + r0 + p * W + 16 * g;
          if (k + kPackAhead < kc) _mm_prefetch((const char*)(x + kPackAhead * rk), _MM_HINT_T0);
          const __m512 v = _mm512_maskz_loadu_ps(first_bits(valid_rows(p, g)), x);
          _mm512_mask_storeu_ps(out + p * pstride + int64_t(k) * W + 16 * g, g == kGroups - 1 ? kLastMask : 0xffff, v);
        }
  } else if (rk == 1) {
    for (int p = 0; p < panels; p++)
      for (int g = 0; g < kGroups; g++) {
        const int rows = g == kGroups - 1 ? kLast : 16, valid = valid_rows(p, g), row0 = r0 + p * W + 16 * g;
        const __mmask16 store = g == kGroups - 1 ? kLastMask : 0xffff;
        float* o = out + p * pstride + 16 * g;
        const float* x = X + int64_t(row0) * rr + k0;
        __m512i v[16];
        int kb = 0;
        if (valid == rows)  // whole blocks of 16 k: unmasked loads of the group's rows, the rest of v zeros
          for (; kb + 16 <= kc; kb += 16) {
#pragma GCC unroll 16
            for (int r = 0; r < 16; r++)
              v[r] = r < rows ? _mm512_castps_si512(_mm512_loadu_ps(x + int64_t(r) * rr + kb)) : _mm512_setzero_si512();
            transpose16(v);
#pragma GCC unroll 16
            for (int q = 0; q < 16; q++) _mm512_mask_storeu_ps(o + int64_t(kb + q) * W, store, _mm512_castsi512_ps(v[q]));
          }
        for (; kb < kc; kb += 16) {  // the matrix's edge rows, or the chunk's last k
          const int nk = std::min(16, kc - kb);
          for (int r = 0; r < 16; r++)
            v[r] = r < valid ? _mm512_castps_si512(_mm512_maskz_loadu_ps(first_bits(nk), x + int64_t(r) * rr + kb))
                             : _mm512_setzero_si512();
          transpose16(v);
          for (int q = 0; q < nk; q++) _mm512_mask_storeu_ps(o + int64_t(kb + q) * W, store, _mm512_castsi512_ps(v[q]));
        }
      }
  } else {
    for (int p = 0; p < panels; p++)
      for (int k = 0; k < kc; k++)
        for (int i = 0; i < W; i++) {
          const int r = r0 + p * W + i;
          out[p * pstride + int64_t(k) * W + i] = r < R ? X[int64_t(r) * rr + int64_t(k0 + k) * rk] : 0.f;
        }
  }
}

// kernel<rows> for rows 1 .. MR.
template <int... I>
BEOP_AVX512F void kernel_rows_impl(std::integer_sequence<int, I...>, int rows, const float* a, const float* b, int kc,
                                   float* c, int64_t ldc, bool load) {
  ((rows == I + 1 ? kernel<I + 1>(a, b, kc, c, ldc, load) : void()), ...);
}
BEOP_AVX512F void kernel_rows(int rows, const float* a, const float* b, int kc, float* c, int64_t ldc, bool load) {
  if (rows == MR) return kernel<MR>(a, b, kc, c, ldc, load);
  kernel_rows_impl(std::make_integer_sequence<int, MR - 1>{}, rows, a, b, kc, c, ldc, load);
}

// One thread tile of C: A panels [mp0, mp1) x B panels [np0, np1), over all of k in chunks of KC. A is packed per
// chunk into ab; B comes from bp (all of B packed once per call) or, with bp null, is packed per chunk into tb.
BEOP_AVX512F void run_tile(int M, int N, int K, const float* A, int64_t rsa, int64_t csa, const float* B, int64_t rsb,
                           int64_t csb, float* C, int64_t ldc, bool accumulate, int mp0, int mp1, int np0, int np1,
                           const float* bp, float* ab, float* tb, float* tmp) {
  for (int k0 = 0; k0 < K; k0 += KC) {
    const int kc = std::min(KC, K - k0);
    const bool load = accumulate || k0 > 0;
    pack_panels<MR>(A, rsa, csa, M, mp0 * MR, mp1 - mp0, k0, kc, ab, int64_t(MR) * kc);
    if (!bp) pack_panels<NR>(B, csb, rsb, N, np0 * NR, np1 - np0, k0, kc, tb, int64_t(NR) * kc);
    for (int mp = mp0; mp < mp1; mp++) {
      const float* a = ab + int64_t(mp - mp0) * MR * kc;
      for (int np = np0; np < np1; np++) {
        const float* b = bp ? bp + (int64_t(np) * K + k0) * NR : tb + int64_t(np - np0) * NR * kc;
        const int rows = std::min(MR, M - mp * MR), cols = std::min(NR, N - np * NR);
        float* c = C + int64_t(mp) * MR * ldc + int64_t(np) * NR;
        if (cols == NR)  // whole panel width: the kernel writes its rows of C directly, however few
          kernel_rows(rows, a, b, kc, c, ldc, load);
        else
          run_block<MR, NR>([&](float* cc, int64_t ld, bool ld_c) { kernel_rows(rows, a, b, kc, cc, ld, ld_c); }, c,
                            ldc, rows, cols, load, tmp);
      }
    }
  }
}

bool cpu_has_avx512f() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
}

std::atomic<int> g_enabled{-1};  // -1: not read yet

}  // namespace

bool gemm_f32_enabled() {
  int e = g_enabled.load();
  if (e < 0) {
    const char* v = std::getenv("BEOP_F32_GEMM");
    e = cpu_has_avx512f() && !(v && std::strcmp(v, "eigen") == 0);
    g_enabled = e;
  }
  return e == 1;
}

void set_gemm_f32_enabled(bool on) { g_enabled = on && cpu_has_avx512f(); }

namespace {
// Both entry points' preconditions and empty cases: an Error without the kernel; true (C done) when C is empty
// or K is (C = 0, or unchanged when accumulating).
bool nothing_to_multiply(int M, int N, int K, float* C, int64_t ldc, bool accumulate) {
  BEOP_CHECK(gemm_f32_enabled(), "gemm_f32: the AVX-512 kernel is not available on this CPU (or BEOP_F32_GEMM=eigen)");
  if (M <= 0 || N <= 0) return true;
  if (K > 0) return false;
  if (!accumulate)
    for (int m = 0; m < M; m++) std::memset(C + int64_t(m) * ldc, 0, size_t(N) * sizeof(float));
  return true;
}
}  // namespace

void gemm_f32(int M, int N, int K, const float* A, int64_t rsa, int64_t csa, const float* B, int64_t rsb,
              int64_t csb, float* C, int64_t ldc, bool accumulate) {
  if (nothing_to_multiply(M, N, K, C, ldc, accumulate)) return;
  const int Mp = (M + MR - 1) / MR, Np = (N + NR - 1) / NR;
  // Thread tiles: mb x nb of them, tile (ib, jb) holding A panels [ib*Mp/mb, (ib+1)*Mp/mb) and B panels likewise
  // (sizes within one panel of each other, at most kMaxMcp x kMaxNcp). mb is a multiple of the thread count, so
  // OpenMP's static schedule hands every thread the same work (fewer, unequal tiles left one thread waiting at
  // the end of each small GEMM); where M has fewer panels than threads, N is split instead.
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  auto round_up = [](int x, int to) { return (x + to - 1) / to * to; };
  int mb = (Mp + kMaxMcp - 1) / kMaxMcp, nb = (Np + kMaxNcp - 1) / kMaxNcp;
  // A few rows (M <= 96: a prompt's prefill, a short micro-batch): one tile row, N split among the threads, and each
  // tile packs its own B panels per k chunk into L2 instead of all of B into memory first. Every B panel then serves
  // one tile only, so packing it once per call would write it to memory and read it back for few rows of work:
  // with W^T as B (the forward pass) that traffic is 2x the weights', and a 37-token prefill of a 89 M-weight model
  // ran at ~75 GFLOP/s (docs/PERFORMANCE.md, "Continuous batching"). The sums are the same either way.
  const bool b_per_tile = Mp <= kMaxMcp;
  if (b_per_tile) mb = 1, nb = std::min(Np, round_up(nb, threads));
  else if (Mp >= threads) mb = std::min(Mp, round_up(mb, threads));
  else nb = std::min(Np, round_up(nb, threads));
  thread_local std::vector<float> bbuf;  // grown once, reused by every call of this thread
  if (!b_per_tile) bbuf.resize(std::max(bbuf.size(), size_t(Np) * K * NR));
  float* bp = bbuf.data();  // a raw pointer: inside the parallel region a thread_local name is that thread's
#pragma omp parallel
  {
    if (!b_per_tile) {
      // B (K, N) is X (r = n, k) with rr = csb, rk = rsb; threads take blocks of 8 panels x KC of k.
      const int pgroups = (Np + 7) / 8, kblocks = (K + KC - 1) / KC;
#pragma omp for collapse(2) schedule(static)
      for (int pg = 0; pg < pgroups; pg++)
        for (int kb = 0; kb < kblocks; kb++)
          pack_panels<NR>(B, csb, rsb, N, pg * 8 * NR, std::min(8, Np - pg * 8), kb * KC, std::min(KC, K - kb * KC),
                          bp + (int64_t(pg) * 8 * K + int64_t(kb) * KC) * NR, int64_t(K) * NR);
    }
    thread_local std::vector<float> abuf, tbuf;
    abuf.resize(std::max(abuf.size(), size_t(kMaxMcp) * MR * KC));
    if (b_per_tile) tbuf.resize(std::max(tbuf.size(), size_t((Np + nb - 1) / nb + 1) * KC * NR));
    float* ab = abuf.data();
    float* tb = tbuf.data();  // this tile's B panels for one k chunk (b_per_tile)
    alignas(64) float tmp[MR * NR];
#pragma omp for collapse(2) schedule(static)
    for (int jb = 0; jb < nb; jb++)
      for (int ib = 0; ib < mb; ib++)
        run_tile(M, N, K, A, rsa, csa, B, rsb, csb, C, ldc, accumulate, int(int64_t(ib) * Mp / mb),
                 int(int64_t(ib + 1) * Mp / mb), int(int64_t(jb) * Np / nb), int(int64_t(jb + 1) * Np / nb),
                 b_per_tile ? nullptr : bp, ab, tb, tmp);
  }
}

void gemm_f32_serial(int M, int N, int K, const float* A, int64_t rsa, int64_t csa, const float* B, int64_t rsb,
                     int64_t csb, float* C, int64_t ldc, bool accumulate) {
  if (nothing_to_multiply(M, N, K, C, ldc, accumulate)) return;
  const int Mp = (M + MR - 1) / MR, Np = (N + NR - 1) / NR;
  thread_local std::vector<float> abuf, tbuf;  // all of A's and B's panels for one k chunk
  abuf.resize(std::max(abuf.size(), size_t(Mp) * MR * KC));
  tbuf.resize(std::max(tbuf.size(), size_t(Np) * NR * KC));
  alignas(64) float tmp[MR * NR];
  run_tile(M, N, K, A, rsa, csa, B, rsb, csb, C, ldc, accumulate, 0, Mp, 0, Np, nullptr, abuf.data(), tbuf.data(),
           tmp);
}

void linear_forward_f32(float* out, const float* in, const float* W, int N, int IC, int OC) {
  if (!gemm_f32_enabled()) return linear_forward(out, in, W, N, IC, OC);
  gemm_f32(N, OC, IC, in, IC, 1, W, 1, IC, out, OC, false);  // B (IC, OC): B[k][n] = W[n][k]
}

void linear_backward_f32(float* d_in, float* d_W, const float* d_out, const float* in, const float* W, int N,
                         int IC, int OC, bool accumulate_d_in) {
  if (!gemm_f32_enabled()) return linear_backward(d_in, d_W, d_out, in, W, N, IC, OC, accumulate_d_in);
  gemm_f32(N, IC, OC, d_out, OC, 1, W, IC, 1, d_in, IC, accumulate_d_in);  // d_out (N, OC) @ W (OC, IC)
  gemm_f32(OC, IC, N, d_out, 1, OC, in, IC, 1, d_W, IC, true);            // d_out^T (OC, N) @ in (N, IC)
}

}  // namespace beop::cpu
