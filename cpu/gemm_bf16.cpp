// bf16 GEMM with fp32 accumulation (see cpu/gemm_bf16.h). Layout of the packed operands, in 32-bit words that
// each hold one bf16 pair along k (low half = even k, high half = odd k), as vdpbf16ps reads them:
//   A panel (MR rows):    ap[p][i]  = (A[m0+i][2p], A[m0+i][2p+1])      i < MR, p < Kp = ceil(K/2)
//   B panel (NR columns): bp[p][j]  = (B[2p][n0+j], B[2p+1][n0+j])      j < NR
// Padding rows, columns and the odd last k are zeros. The micro-kernel keeps an MR x NR block of C in
// registers (12 x 32 fp32 = 24 zmm) and walks k in chunks of KCP pairs; threads split C into MC x NC tiles.
#include "cpu/gemm_bf16.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "cpu/gemm_amx.h"
#include "cpu/gemm_block.h"
#include "src/common.h"

namespace beop::cpu {
namespace {

constexpr int MR = 12, NR = 32;   // micro-tile of C
constexpr int KCP = 128;          // k pairs per chunk: a B chunk is 128 * 32 * 4 = 16 KiB (L1)
constexpr int MCP = 8, NCP = 8;   // panels per thread tile: 96 x 256 of C

std::atomic<int> g_kernel{int(Bf16Kernel::kAuto)};
std::atomic<bool> g_noticed{false};

inline uint32_t pair(float lo, float hi) { return uint32_t(to_bf16(lo)) | uint32_t(to_bf16(hi)) << 16; }

// The AVX512-BF16 micro-kernel: c (MR x NR, leading dimension ldc) = (load ? c : 0) + a . b over kps pairs.
__attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl"))) void kernel_avx512(
    const uint32_t* a, const uint32_t* b, int kps, float* c, int64_t ldc, bool load) {
  __m512 acc[MR][2];
#pragma GCC unroll 12
  for (int i = 0; i < MR; i++) {
    acc[i][0] = load ? _mm512_loadu_ps(c + i * ldc) : _mm512_setzero_ps();
    acc[i][1] = load ? _mm512_loadu_ps(c + i * ldc + 16) : _mm512_setzero_ps();
  }
  for (int p = 0; p < kps; p++) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b + p * NR);
    const __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + p * NR + 16);
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) {
      const __m512bh ai = (__m512bh)_mm512_set1_epi32(int(a[p * MR + i]));
      acc[i][0] = _mm512_dpbf16_ps(acc[i][0], ai, b0);
      acc[i][1] = _mm512_dpbf16_ps(acc[i][1], ai, b1);
    }
  }
#pragma GCC unroll 12
  for (int i = 0; i < MR; i++) {
    _mm512_storeu_ps(c + i * ldc, acc[i][0]);
    _mm512_storeu_ps(c + i * ldc + 16, acc[i][1]);
  }
}

// The portable micro-kernel: the same pairs in the order Intel documents for vdpbf16ps (the odd product is
// added first, then the even one). Both products of bf16 values are exact in fp32, so only the additions round.
inline float lo_of(uint32_t u) { return from_bf16(uint16_t(u)); }
inline float hi_of(uint32_t u) { return from_bf16(uint16_t(u >> 16)); }
void kernel_portable(const uint32_t* a, const uint32_t* b, int kps, float* c, int64_t ldc, bool load) {
  float acc[MR][NR];
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NR; j++) acc[i][j] = load ? c[i * ldc + j] : 0.f;
  for (int p = 0; p < kps; p++) {
    float b0[NR], b1[NR];
    for (int j = 0; j < NR; j++) b0[j] = lo_of(b[p * NR + j]), b1[j] = hi_of(b[p * NR + j]);
    for (int i = 0; i < MR; i++) {
      const float a0 = lo_of(a[p * MR + i]), a1 = hi_of(a[p * MR + i]);
      for (int j = 0; j < NR; j++) {
        acc[i][j] += a1 * b1[j];
        acc[i][j] += a0 * b0[j];
      }
    }
  }
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NR; j++) c[i * ldc + j] = acc[i][j];
}

// Panel mp of A: rows mp*MR .. +MR, all of k.
void pack_a(uint32_t* out, const float* A, int64_t rsa, int64_t csa, int M, int K, int mp, int Kp) {
  const int m0 = mp * MR, rows = std::min(MR, M - m0);
  for (int p = 0; p < Kp; p++) {
    const int k0 = 2 * p;
    uint32_t* o = out + int64_t(p) * MR;
    if (k0 + 1 < K) {
      const float* a0 = A + int64_t(m0) * rsa + int64_t(k0) * csa;
      for (int i = 0; i < rows; i++) o[i] = pair(a0[i * rsa], a0[i * rsa + csa]);
    } else {  // odd K: the last pair's high half is zero
      for (int i = 0; i < rows; i++) o[i] = pair(A[int64_t(m0 + i) * rsa + int64_t(k0) * csa], 0.f);
    }
    for (int i = rows; i < MR; i++) o[i] = 0;
  }
}

// Panel np of B: columns np*NR .. +NR, all of k.
void pack_b(uint32_t* out, const float* B, int64_t rsb, int64_t csb, int N, int K, int np, int Kp) {
  const int n0 = np * NR, cols = std::min(NR, N - n0);
  for (int p = 0; p < Kp; p++) {
    const int k0 = 2 * p;
    uint32_t* o = out + int64_t(p) * NR;
    const float* b0 = B + int64_t(k0) * rsb + int64_t(n0) * csb;
    if (k0 + 1 < K)
      for (int j = 0; j < cols; j++) o[j] = pair(b0[j * csb], b0[j * csb + rsb]);
    else
      for (int j = 0; j < cols; j++) o[j] = pair(b0[j * csb], 0.f);
    for (int j = cols; j < NR; j++) o[j] = 0;
  }
}

bool env_set(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0;
}

}  // namespace

bool cpu_has_avx512_bf16() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl");
}

Bf16Kernel set_bf16_kernel(Bf16Kernel k) {
  BEOP_CHECK(k != Bf16Kernel::kAvx512 || cpu_has_avx512_bf16(), "the AVX512-BF16 kernel was asked for, but this "
             "CPU has no avx512_bf16");
  BEOP_CHECK(k != Bf16Kernel::kAmx || amx_bf16_usable(), "the AMX bf16 kernel was asked for, but this CPU has no "
             "amx_bf16 (or Linux refused the tile state)");
  g_kernel = int(k);
  return bf16_kernel();
}

Bf16Kernel bf16_kernel() {
  const Bf16Kernel k = Bf16Kernel(g_kernel.load());
  if (k != Bf16Kernel::kAuto) return k;
  const bool forced = env_set("BEOP_BF16_FALLBACK");
  if (!forced && !env_set("BEOP_BF16_NO_AMX") && amx_bf16_usable()) return Bf16Kernel::kAmx;
  if (!forced && cpu_has_avx512_bf16()) return Bf16Kernel::kAvx512;
  if (!g_noticed.exchange(true))
    std::fprintf(stderr, "notice: bf16 GEMMs run the portable kernel (%s): same results, slower\n",
                 forced ? "BEOP_BF16_FALLBACK is set" : "this CPU has no avx512_bf16");
  return Bf16Kernel::kPortable;
}

void gemm_bf16(int M, int N, int K, const float* A, int64_t rsa, int64_t csa, const float* B, int64_t rsb,
               int64_t csb, float* C, int64_t ldc, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate)
      for (int m = 0; m < M; m++) std::memset(C + int64_t(m) * ldc, 0, size_t(N) * sizeof(float));
    return;
  }
  const Bf16Kernel which = bf16_kernel();
  if (which == Bf16Kernel::kAmx) return gemm_amx(M, N, K, A, rsa, csa, B, rsb, csb, C, ldc, accumulate);
  auto kernel = which == Bf16Kernel::kAvx512 ? kernel_avx512 : kernel_portable;
  const int Mp = (M + MR - 1) / MR, Np = (N + NR - 1) / NR, Kp = (K + 1) / 2;
  thread_local std::vector<uint32_t> abuf, bbuf;  // grown once, reused by every call of this thread
  abuf.resize(std::max(abuf.size(), size_t(Mp) * Kp * MR));
  bbuf.resize(std::max(bbuf.size(), size_t(Np) * Kp * NR));
  uint32_t* ap = abuf.data();  // raw pointers: inside the parallel region a thread_local name is that thread's
  uint32_t* bp = bbuf.data();
  const int mb = (Mp + MCP - 1) / MCP, nb = (Np + NCP - 1) / NCP;
#pragma omp parallel
  {
#pragma omp for schedule(static) nowait
    for (int mp = 0; mp < Mp; mp++) pack_a(ap + int64_t(mp) * Kp * MR, A, rsa, csa, M, K, mp, Kp);
#pragma omp for schedule(static)
    for (int np = 0; np < Np; np++) pack_b(bp + int64_t(np) * Kp * NR, B, rsb, csb, N, K, np, Kp);
#pragma omp for collapse(2) schedule(static)
    for (int ib = 0; ib < mb; ib++)
      for (int jb = 0; jb < nb; jb++) {
        alignas(64) float tmp[MR * NR];
        for (int kc0 = 0; kc0 < Kp; kc0 += KCP) {
          const int kc = std::min(KCP, Kp - kc0);
          const bool load = accumulate || kc0 > 0;
          for (int np = jb * NCP; np < std::min(Np, (jb + 1) * NCP); np++)
            for (int mp = ib * MCP; mp < std::min(Mp, (ib + 1) * MCP); mp++) {
              const uint32_t* a = ap + (int64_t(mp) * Kp + kc0) * MR;
              const uint32_t* b = bp + (int64_t(np) * Kp + kc0) * NR;
              const int rows = std::min(MR, M - mp * MR), cols = std::min(NR, N - np * NR);
              float* c = C + int64_t(mp) * MR * ldc + int64_t(np) * NR;
              run_block<MR, NR>([&](float* cc, int64_t ld, bool ld_c) { kernel(a, b, kc, cc, ld, ld_c); }, c, ldc,
                                rows, cols, load, tmp);
            }
        }
      }
  }
}

void linear_forward_bf16(float* out, const float* in, const float* W, int N, int IC, int OC) {
  // A = in (N, IC); B (IC, OC) with B[k][n] = W[n][k]
  gemm_bf16(N, OC, IC, in, IC, 1, W, 1, IC, out, OC, false);
}

void linear_backward_bf16(float* d_in, float* d_W, const float* d_out, const float* in, const float* W, int N,
                          int IC, int OC, bool accumulate_d_in) {
  gemm_bf16(N, IC, OC, d_out, OC, 1, W, IC, 1, d_in, IC, accumulate_d_in);  // d_out (N, OC) @ W (OC, IC)
  gemm_bf16(OC, IC, N, d_out, 1, OC, in, IC, 1, d_W, IC, true);            // d_out^T (OC, N) @ in (N, IC)
}

}  // namespace beop::cpu
