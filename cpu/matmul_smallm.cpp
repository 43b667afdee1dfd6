// Small-M fp32 linear layer (cpu/matmul_smallm.h): the AVX-512 register-blocked kernel and the portable one.
#include "cpu/matmul_smallm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "src/common.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace beop::cpu {

#ifndef BEOP_SMALLM_NR
#define BEOP_SMALLM_NR 8  // input rows per register block
#endif
#ifndef BEOP_SMALLM_NO
#define BEOP_SMALLM_NO 3  // weight rows per register block: NR * NO accumulators + NO weight vectors <= 32 zmm
#endif
constexpr int kNR = BEOP_SMALLM_NR, kNO = BEOP_SMALLM_NO;
constexpr int kLanes = 16;
// Weight rows per OpenMP work item: a multiple of kNO and of kOneRowNO, small enough that 2 threads get near-even
// shares of the smallest projection, large enough that a block's start-up (and its input rows' reloads) is
// amortized.
constexpr int kBlockRows = 24;
// With several input rows, the first row group's pass over a block of weight rows prefetches each of them this many
// floats (512 B) ahead: that pass is the one that streams the weights from memory, and with 8 x 3 FMAs per weight
// load it leaves the hardware prefetcher's three short streams behind (8 rows: 10-25% faster than without, and
// than the earlier 4 x 4 blocking, bench_smallm, 1 thread, 2026-12-06; docs/PERFORMANCE.md). One row (batch-1
// decode, at the bandwidth bound already) does not prefetch.
constexpr int kPrefetchAhead = 128;
constexpr int kOneRowNO = 8;  // weight rows per register block when N = 1 (divides kBlockRows)

namespace {
std::atomic<bool>& enabled_flag() {
  static std::atomic<bool> on{[] {
    const char* e = std::getenv("BEOP_SMALLM");
    return !(e && std::strcmp(e, "0") == 0);
  }()};
  return on;
}
}  // namespace

bool smallm_enabled() { return enabled_flag().load(std::memory_order_relaxed); }
void smallm_set_enabled(bool on) { enabled_flag().store(on, std::memory_order_relaxed); }

bool smallm_fast() {
#if defined(__x86_64__)
  static const bool fast = __builtin_cpu_supports("avx512f");
  return fast;
#else
  return false;
#endif
}

namespace {

// One register block: rows r0 .. r0+NR-1 of `in` against weight rows o0 .. o0+NO-1, all of IC.
using Micro = void (*)(float* out, const float* in, const float* W, int IC, int OC, int r0, int o0);

// ---- portable: the same 16 lanes and the same pairwise tree, multiply and add rounded separately ----
float lanes_tree(float* s) {  // s[16] -> (l, l+8), (l, l+4), (l, l+2), (l, l+1)
  for (int h = 8; h >= 1; h /= 2)
    for (int l = 0; l < h; l++) s[l] += s[l + h];
  return s[0];
}

template <int NR, int NO>
void micro_portable(float* out, const float* in, const float* W, int IC, int OC, int r0, int o0) {
  for (int r = 0; r < NR; r++)
    for (int o = 0; o < NO; o++) {
      const float* x = in + size_t(r0 + r) * IC;
      const float* w = W + size_t(o0 + o) * IC;
      float s[kLanes] = {};
      int k = 0;
      for (; k + kLanes <= IC; k += kLanes)
        for (int l = 0; l < kLanes; l++) s[l] += x[k + l] * w[k + l];
      for (int l = 0; k + l < IC; l++) s[l] += x[k + l] * w[k + l];
      out[size_t(r0 + r) * OC + o0 + o] = lanes_tree(s);
    }
}

#if defined(__x86_64__)
#define BEOP_AVX512 __attribute__((target("avx512f")))

// GCC 12 warns that the 512-bit intrinsics' deliberately undefined pass-through operand (_mm512_undefined_ps,
// "__Y = __Y") is uninitialized when they are inlined into target-attributed templates: a false positive.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"

// The tree of lanes_tree on a zmm: (l, l+8) in 256 bits, (l, l+4) in 128, then (0, 2) (1, 3), then (0, 1).
BEOP_AVX512 inline float hsum_tree(__m512 v) {
  const __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v),
                                 _mm512_castps512_ps256(_mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(3, 2, 3, 2))));
  const __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
  return _mm_cvtss_f32(_mm_add_ss(c, _mm_shuffle_ps(c, c, 1)));
}

template <int NR, int NO, bool kPrefetch = true>
BEOP_AVX512 void micro_avx512(float* out, const float* in, const float* W, int IC, int OC, int r0, int o0) {
  __m512 acc[NR][NO];
  const float* x[NR];
  const float* w[NO];
  for (int r = 0; r < NR; r++) x[r] = in + size_t(r0 + r) * IC;
  for (int o = 0; o < NO; o++) w[o] = W + size_t(o0 + o) * IC;
  for (int r = 0; r < NR; r++)
    for (int o = 0; o < NO; o++) acc[r][o] = _mm512_setzero_ps();
  int k = 0;
  const bool prefetch = kPrefetch && r0 == 0;  // a prefetch never faults, also past the matrix's end
  for (; k + kLanes <= IC; k += kLanes) {
    __m512 wv[NO];
    if (prefetch)
      for (int o = 0; o < NO; o++) _mm_prefetch(reinterpret_cast<const char*>(w[o] + k + kPrefetchAhead), _MM_HINT_T0);
    for (int o = 0; o < NO; o++) wv[o] = _mm512_loadu_ps(w[o] + k);
    for (int r = 0; r < NR; r++) {
      const __m512 xv = _mm512_loadu_ps(x[r] + k);
      for (int o = 0; o < NO; o++) acc[r][o] = _mm512_fmadd_ps(xv, wv[o], acc[r][o]);
    }
  }
  if (k < IC) {  // the last partial chunk: zeros in the missing lanes add +0
    const __mmask16 m = __mmask16((1u << (IC - k)) - 1);
    __m512 wv[NO];
    for (int o = 0; o < NO; o++) wv[o] = _mm512_maskz_loadu_ps(m, w[o] + k);
    for (int r = 0; r < NR; r++) {
      const __m512 xv = _mm512_maskz_loadu_ps(m, x[r] + k);
      for (int o = 0; o < NO; o++) acc[r][o] = _mm512_fmadd_ps(xv, wv[o], acc[r][o]);
    }
  }
  for (int r = 0; r < NR; r++)
    for (int o = 0; o < NO; o++) out[size_t(r0 + r) * OC + o0 + o] = hsum_tree(acc[r][o]);
}
#pragma GCC diagnostic pop
#endif

// table[nr - 1][no - 1]: every block shape a call can need (the last row group and weight rows are partial).
struct Table {
  Micro f[kNR][kNO];
};
template <bool kAvx, int NR, int... NO>
void fill_row(Table& t, std::integer_sequence<int, NO...>) {
#if defined(__x86_64__)
  ((t.f[NR - 1][NO] = kAvx ? &micro_avx512<NR, NO + 1> : &micro_portable<NR, NO + 1>), ...);
#else
  ((t.f[NR - 1][NO] = &micro_portable<NR, NO + 1>), ...);
#endif
}
template <bool kAvx, int... NR>
Table make_table(std::integer_sequence<int, NR...>) {
  Table t{};
  (fill_row<kAvx, NR + 1>(t, std::make_integer_sequence<int, kNO>{}), ...);
  return t;
}

}  // namespace

void linear_smallm(float* out, const float* in, const float* W, int N, int IC, int OC, SmallmIsa isa) {
  BEOP_CHECK(N >= 1 && N <= kSmallmMaxRows && IC >= 1 && OC >= 1, "linear_smallm: ", N, " x ", IC, " rows by ", OC,
             " outputs (needs 1 <= N <= ", kSmallmMaxRows, ")");
  static const Table avx = make_table<true>(std::make_integer_sequence<int, kNR>{});
  static const Table portable = make_table<false>(std::make_integer_sequence<int, kNR>{});
  const bool fast = isa == SmallmIsa::kAuto && smallm_fast();
  const Table& t = fast ? avx : portable;
  // One row (batch-1 decode): 8 weight rows per block, 8 independent FMA chains (4 measured 0-8% slower than Eigen's
  // matrix-vector product at one row; 8 level or faster). The blocking does not change any row's sums.
#if defined(__x86_64__)
  const Micro one_row = fast ? &micro_avx512<1, kOneRowNO, false> : &micro_portable<1, kOneRowNO>;
#else
  const Micro one_row = &micro_portable<1, kOneRowNO>;
#endif
  const int blocks = (OC + kBlockRows - 1) / kBlockRows;
#pragma omp parallel for schedule(static)
  for (int b = 0; b < blocks; b++) {
    const int o_end = std::min(OC, (b + 1) * kBlockRows);
    int o0 = b * kBlockRows;
    if (N == 1)
      for (; o0 + kOneRowNO <= o_end; o0 += kOneRowNO) one_row(out, in, W, IC, OC, 0, o0);
    for (; o0 < o_end; o0 += kNO) {
      const int no = std::min(kNO, o_end - o0);
      for (int r0 = 0; r0 < N; r0 += kNR) t.f[std::min(kNR, N - r0) - 1][no - 1](out, in, W, IC, OC, r0, o0);
    }
  }
}

}  // namespace beop::cpu
