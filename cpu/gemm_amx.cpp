// AMX bf16 GEMM (see cpu/gemm_amx.h). Packed operands, in 32-bit words that each hold one bf16 pair along k (low
// half = even k, high half = odd k), K padded with zeros to a multiple of 32 (Kq = pairs, a multiple of 16):
//   A panel (PM = 32 rows), chunk c of 16 pairs: ap[c][i][q] = (A[m0+i][2p], A[m0+i][2p+1]), p = 16c + q
//       -> an A tile is 16 rows of 64 bytes (row stride 64): rows 0-15 and 16-31 of the chunk;
//   B panel (PN = 32 columns): bp[p][j] = (B[2p][n0+j], B[2p+1][n0+j])   (gemm_bf16.cpp's panel layout)
//       -> a B tile is 16 pairs p of 16 columns (row stride 128 bytes): columns 0-15 and 16-31.
// Rows, columns and k past the matrix are zeros in the packed buffers, so tiles never read past them, and C is
// only touched inside its M x N (an edge block goes through a 32 x 32 scratch block). The micro-kernel keeps a
// 32 x 32 block of C in four accumulator tiles over all of k; threads split C into blocks of MCP x NCP panels.
#include "cpu/gemm_amx.h"

#include <cpuid.h>
#include <immintrin.h>
#include <omp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "cpu/gemm_bf16.h"
#include "cpu/gemm_block.h"
#include "cpu/transpose16.h"

#define BEOP_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define BEOP_AMX __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512vl,avx512bf16")))

namespace beop::cpu {
namespace {

constexpr int PM = 32, PN = 32;  // rows of an A panel, columns of a B panel: a 2 x 2 block of 16 x 16 C tiles
constexpr int MCP = 4, NCP = 8;  // panels per thread block: 128 x 256 of C

// Tile configuration, palette 1: tiles 0-3 accumulate C (16 rows x 16 fp32), 4-5 hold A (16 rows x 32 bf16),
// 6-7 hold B (16 pairs x 16 columns); all 16 rows of 64 bytes. Static, because GCC's _tile_loadconfig tells the
// compiler it reads only 8 bytes: stores into a stack copy just before it could be dropped as dead.
struct alignas(64) TileConfig {
  uint8_t palette, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};
constexpr TileConfig kTileConfig = {1, 0, {}, {64, 64, 64, 64, 64, 64, 64, 64}, {16, 16, 16, 16, 16, 16, 16, 16}};

// GCC's tile load/store intrinsics are asm statements without a memory operand: this barrier keeps the compiler
// from moving the packing stores or the scratch block's copies across them.
inline void memory_barrier() { __asm__ __volatile__("" ::: "memory"); }

// One 16 x 16 block of bf16 pairs of a matrix X (element (r, k) at X[r * rr + k * rk], R x K): rows r0.. r0+15,
// pairs p0 .. p0+15, zeros past R and K. Element (r, q) goes to out[r * ors + q * ocs], where one of ors and
// ocs is 1 (the A and B layouts). Vectorized along whichever of r and k is contiguous in X (every layout the
// linear layers use), transposed in registers when that is not the output's contiguous direction; element by
// element otherwise. The conversion (VCVTNE2PS2BF16) rounds to nearest even like to_bf16, and flushes
// subnormals, as AMX would.
BEOP_AVX512 void pack_block(const float* X, int64_t rr, int64_t rk, int R, int K, int r0, int p0, uint32_t* out,
                            int64_t ors, int64_t ocs) {
  const int nr = std::min(16, R - r0), k0 = 2 * p0, nk = std::min(32, K - k0);
  // v[i] holds row r = i (its 16 pairs; rk == 1) or pair q = i (its 16 rows; rr == 1). Stored as it comes where
  // that is the output's contiguous direction (measured: gathering all 16 first cost the direct layouts ~30%).
  __m512i v[16];
  if (rk == 1) {
    const bool direct = ocs == 1;  // k contiguous: 32 floats of one row are its 16 pairs, in order
    const __mmask16 lo = first_bits(nk), hi = first_bits(nk - 16);
    for (int r = 0; r < 16; r++) {
      v[r] = _mm512_setzero_si512();
      if (r < nr && nk > 0) {
        const float* x = X + int64_t(r0 + r) * rr + k0;
        v[r] = (__m512i)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, x + 16), _mm512_maskz_loadu_ps(lo, x));
      }
      if (direct) _mm512_storeu_si512(out + r * ors, v[r]);
    }
    if (direct) return;
    transpose16(v);  // now v[q]
    for (int q = 0; q < 16; q++) _mm512_storeu_si512(out + q * ocs, v[q]);  // ors == 1
  } else if (rr == 1) {
    const bool direct = ors == 1;  // r contiguous: interleave row 2p and row 2p + 1 of k into pairs
    const __mmask16 m = first_bits(nr);
    // word 2r of the pair vector = the even k's bf16 of row r (element r of the conversion), word 2r+1 = the odd
    const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7,
                                                22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    for (int q = 0; q < 16; q++) {
      const int k = k0 + 2 * q;
      __m512 even = _mm512_setzero_ps(), odd = _mm512_setzero_ps();
      if (k < K && nr > 0) even = _mm512_maskz_loadu_ps(m, X + int64_t(k) * rk + r0);
      if (k + 1 < K && nr > 0) odd = _mm512_maskz_loadu_ps(m, X + int64_t(k + 1) * rk + r0);
      v[q] = _mm512_permutexvar_epi16(interleave, (__m512i)_mm512_cvtne2ps_pbh(odd, even));
      if (direct) _mm512_storeu_si512(out + q * ocs, v[q]);
    }
    if (direct) return;
    transpose16(v);  // now v[r]
    for (int r = 0; r < 16; r++) _mm512_storeu_si512(out + r * ors, v[r]);  // ocs == 1
  } else {
    for (int r = 0; r < 16; r++)
      for (int q = 0; q < 16; q++) {
        const int k = k0 + 2 * q;
        const bool in = r < nr;
        const float lo = in && k < K ? X[int64_t(r0 + r) * rr + int64_t(k) * rk] : 0.f;
        const float hi = in && k + 1 < K ? X[int64_t(r0 + r) * rr + int64_t(k + 1) * rk] : 0.f;
        out[r * ors + q * ocs] = uint32_t(to_bf16(lo)) | uint32_t(to_bf16(hi)) << 16;
      }
  }
}

// Chunk c (pairs 16c ..) of A panel mp (rows mp*PM ..), at ap: [c][i][q].
void pack_a(uint32_t* ap, const float* A, int64_t rsa, int64_t csa, int M, int K, int Kq, int mp, int c) {
  uint32_t* out = ap + int64_t(mp) * PM * Kq + int64_t(c) * PM * 16;
  for (int h = 0; h < PM / 16; h++) pack_block(A, rsa, csa, M, K, mp * PM + 16 * h, 16 * c, out + 16 * h * 16, 16, 1);
}

// Chunk c of B panel np (columns np*PN ..), at bp: [p][j]. Column j of B is "row" r of pack_block.
void pack_b(uint32_t* bp, const float* B, int64_t rsb, int64_t csb, int N, int K, int Kq, int np, int c) {
  uint32_t* out = bp + int64_t(np) * PN * Kq + int64_t(16 * c) * PN;
  for (int h = 0; h < PN / 16; h++) pack_block(B, csb, rsb, N, K, np * PN + 16 * h, 16 * c, out + 16 * h, 1, PN);
}

// Packs chunk c of panel p, pack(p, c), for every panel and chunk of one operand, shared among the threads of the
// enclosing parallel region (no barrier at the end). Where the operand's k runs down its rows in memory (k_down:
// A = d_out^T, B = W or in), a panel is a narrow strip of many rows, one cache line each; walking chunk by chunk
// across all panels instead reads 32 rows side by side (streams the prefetchers follow): measured, packing fell
// from ~45% of the GEMM time.
template <typename Pack>
void pack_panels(bool k_down, int panels, int kc, const Pack& pack) {
  if (k_down) {
#pragma omp for schedule(static) nowait
    for (int c = 0; c < kc; c++)
      for (int p = 0; p < panels; p++) pack(p, c);
  } else {
#pragma omp for schedule(static) nowait
    for (int p = 0; p < panels; p++)
      for (int c = 0; c < kc; c++) pack(p, c);
  }
}

// c (32 x 32, leading dimension ldc) = (load ? c : 0) + a . b over kc chunks of 16 pairs (32 k).
BEOP_AMX __attribute__((noinline)) void kernel_amx(const uint32_t* a, const uint32_t* b, int kc, float* c,
                                                   int64_t ldc, bool load) {
  const long ldcb = long(ldc * sizeof(float));
  memory_barrier();
  if (load) {
    _tile_loadd(0, c, ldcb);
    _tile_loadd(1, c + 16, ldcb);
    _tile_loadd(2, c + 16 * ldc, ldcb);
    _tile_loadd(3, c + 16 * ldc + 16, ldcb);
  } else {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
  }
  for (int i = 0; i < kc; i++) {
    const uint32_t* ai = a + int64_t(i) * PM * 16;
    const uint32_t* bi = b + int64_t(i) * 16 * PN;
    _tile_loadd(4, ai, 64);
    _tile_loadd(5, ai + 16 * 16, 64);
    _tile_loadd(6, bi, PN * 4);
    _tile_loadd(7, bi + 16, PN * 4);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, c, ldcb);
  _tile_stored(1, c + 16, ldcb);
  _tile_stored(2, c + 16 * ldc, ldcb);
  _tile_stored(3, c + 16 * ldc + 16, ldcb);
  memory_barrier();
}

BEOP_AMX void tiles_begin() {
  memory_barrier();
  _tile_loadconfig(&kTileConfig);
}
BEOP_AMX void tiles_end() { _tile_release(); }

// 64-byte aligned storage of n words in a growing vector (tile loads are fastest on whole cache lines).
uint32_t* aligned_words(std::vector<uint32_t>& v, size_t n) {
  v.resize(std::max(v.size(), n + 16));
  const uintptr_t p = reinterpret_cast<uintptr_t>(v.data());
  return reinterpret_cast<uint32_t*>((p + 63) & ~uintptr_t(63));
}

// Linux (5.16+) hands the 8 KiB tile state only to a process that asks: without this, the first tile
// instruction faults. ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18.
bool request_tiles() {
  if (!cpu_has_amx_bf16()) return false;
  errno = 0;
  if (syscall(SYS_arch_prctl, 0x1023, 18) == 0) return true;
  std::fprintf(stderr, "notice: bf16 GEMMs do not use AMX: Linux refused the tile state (arch_prctl: %s)\n",
               std::strerror(errno));
  return false;
}

}  // namespace

bool cpu_has_amx_bf16() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  return (d >> 24 & 1) && (d >> 22 & 1) && cpu_has_avx512_bf16();  // EDX bit 24 amx-tile, 22 amx-bf16
}

bool amx_bf16_usable() {
  static const bool ok = request_tiles();  // once per process (thread-safe static), so one notice at most
  return ok;
}

void gemm_amx(int M, int N, int K, const float* A, int64_t rsa, int64_t csa, const float* B, int64_t rsb,
              int64_t csb, float* C, int64_t ldc, bool accumulate) {
  const int Mp = (M + PM - 1) / PM, Np = (N + PN - 1) / PN, Kq = (K + 31) / 32 * 16, kc = Kq / 16;
  thread_local std::vector<uint32_t> abuf, bbuf;  // grown once, reused by every call of this thread
  uint32_t* ap = aligned_words(abuf, size_t(Mp) * PM * Kq);  // raw pointers: inside the parallel region a
  uint32_t* bp = aligned_words(bbuf, size_t(Np) * PN * Kq);  // thread_local name is that thread's own
  const int mb = (Mp + MCP - 1) / MCP, nb = (Np + NCP - 1) / NCP;
#pragma omp parallel
  {
    pack_panels(rsa == 1 && csa != 1, Mp, kc, [&](int mp, int c) { pack_a(ap, A, rsa, csa, M, K, Kq, mp, c); });
    pack_panels(csb == 1 && rsb != 1, Np, kc, [&](int np, int c) { pack_b(bp, B, rsb, csb, N, K, Kq, np, c); });
#pragma omp barrier
    tiles_begin();
#pragma omp for collapse(2) schedule(static)
    for (int ib = 0; ib < mb; ib++)
      for (int jb = 0; jb < nb; jb++) {
        alignas(64) float tmp[PM * PN];
        for (int np = jb * NCP; np < std::min(Np, (jb + 1) * NCP); np++)
          for (int mp = ib * MCP; mp < std::min(Mp, (ib + 1) * MCP); mp++) {
            const uint32_t* a = ap + int64_t(mp) * PM * Kq;
            const uint32_t* b = bp + int64_t(np) * PN * Kq;
            const int rows = std::min(PM, M - mp * PM), cols = std::min(PN, N - np * PN);
            float* c = C + int64_t(mp) * PM * ldc + int64_t(np) * PN;
            run_block<PM, PN>([&](float* cc, int64_t ld, bool acc) { kernel_amx(a, b, kc, cc, ld, acc); }, c, ldc,
                              rows, cols, accumulate, tmp);
          }
      }
    tiles_end();
  }
}

}  // namespace beop::cpu
