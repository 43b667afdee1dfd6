// bf16 / Q8_0 inference linear layer (cpu/matmul_lowp.h): conversion, the AVX-512 kernels, the scalar fallback.
#include "cpu/matmul_lowp.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "src/common.h"
#include "src/q8_0.h"

namespace beop::cpu {

bool parse_lowp_dtype(const std::string& dtype, LowpType* t) {
  if (dtype == "fp32") return false;
  if (dtype == "bf16" || dtype == "q8") {
    *t = dtype == "bf16" ? LowpType::kBf16 : LowpType::kQ8;
    return true;
  }
  fail("--dtype must be fp32, bf16 or q8, got '", dtype, "'");
}

const char* lowp_name(LowpType t) { return t == LowpType::kBf16 ? "bf16" : "q8"; }

LowpMatrix::LowpMatrix(LowpType t, const float* W, int OC, int IC, const std::string& name)
    : type_(t), OC_(OC), IC_(IC) {
  if (t == LowpType::kBf16) {
    wb_.resize(size_t(OC) * IC);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < int64_t(wb_.size()); i++) wb_[size_t(i)] = fp32_to_bf16(W[i]);
    return;
  }
  BEOP_CHECK(IC % kQ8Block == 0, name, " (", OC, " x ", IC, "): --dtype q8 needs the input dimension to be a multiple of ",
             kQ8Block, " (Q8_0 blocks); use --dtype bf16 or fp32 for this model");
  const int nb = IC / kQ8Block;
  wq_.resize(size_t(OC) * IC);
  wd_.resize(size_t(OC) * nb);
#pragma omp parallel for schedule(static)
  for (int o = 0; o < OC; o++) {
    std::vector<BlockQ8_0> blk(static_cast<size_t>(nb));
    q8_0_quantize(blk.data(), W + size_t(o) * IC, size_t(IC));
    for (int b = 0; b < nb; b++) {
      wd_[size_t(o) * nb + b] = blk[size_t(b)].d;
      for (int j = 0; j < kQ8Block; j++)
        wq_[size_t(o) * IC + size_t(b) * kQ8Block + j] = uint8_t(int(blk[size_t(b)].qs[j]) + 128);
    }
  }
}

float LowpMatrix::weight(int o, int i) const {
  if (type_ == LowpType::kBf16) return bf16_to_fp32(bf16_row(o)[i]);
  return fp16_to_fp32(d_row(o)[i / kQ8Block]) * float(int(q_row(o)[i]) - 128);
}

namespace {

// The activation rows in the kernels' formats.
struct Q8Acts {  // row m: q at m*IC, lane corrections at m*IC/4, scales at m*IC/32
  std::vector<int8_t> q;
  std::vector<int32_t> corr;  // -128 * (sum of the 4 activation bytes a VNNI lane multiplies)
  std::vector<float> d;       // fp16-rounded scales, as float
};

#define BEOP_TARGET_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,f16c")))
// GCC 12 at -O1 (the sanitizer build) warns that _mm512_reduce_add_ps's deliberately undefined pass-through
// operand ("__Y = __Y" in avxintrin.h) is uninitialized once inlined into these target-attributed functions: a
// false positive of the header, silenced for this file (cpu/matmul_smallm.cpp does the same for its block).
#pragma GCC diagnostic ignored "-Wuninitialized"
#define BEOP_TARGET_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

// One activation row to Q8_0 with AVX-512, bit for bit q8_0_quantize (src/q8_0.h): the same amax, d = amax / 127,
// id = 1 / d, and roundf(x * id) (half away from zero: trunc, then +-1 where the dropped part is >= 0.5; exact for
// |x * id| <= 127.x). The scalar version cost 5-8% of a one-thread decode step (it runs once per matmul, serially).
BEOP_TARGET_VNNI void quantize_row_avx512(int8_t* q, int32_t* corr, float* d, const float* x, int IC) {
  const __m512i signbit = _mm512_set1_epi32(int(0x80000000u)), one = _mm512_set1_epi32(0x3f800000);  // -0.f, 1.f
  const __m512i u128 = _mm512_set1_epi8(char(0x80));  // 128 as VNNI's unsigned operand
  for (int b = 0; b < IC / kQ8Block; b++) {
    const __m512 v0 = _mm512_loadu_ps(x + b * 32), v1 = _mm512_loadu_ps(x + b * 32 + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    const float dd = amax / 127.0f, id = dd != 0 ? 1.0f / dd : 0.0f;
    d[b] = fp16_to_fp32(fp32_to_fp16(dd));
    __m128i qb[2];
    for (int h = 0; h < 2; h++) {
      const __m512 y = _mm512_mul_ps(h ? v1 : v0, _mm512_set1_ps(id));
      const __m512 t = _mm512_roundscale_ps(y, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
      const __mmask16 up = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_sub_ps(y, t)), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
      const __m512 sgn1 = _mm512_castsi512_ps(_mm512_or_si512(one, _mm512_and_si512(_mm512_castps_si512(y), signbit)));
      const __m512 r = _mm512_mask_add_ps(t, up, t, sgn1);  // t +- 1
      qb[h] = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(r));
    }
    const __m256i q32 = _mm256_set_m128i(qb[1], qb[0]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + b * 32), q32);
    // corr = -128 * (sum of each 4 bytes) = -(dpbusd of 128s with q)
    const __m256i c = _mm256_sub_epi32(_mm256_setzero_si256(),
                                       _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm512_castsi512_si256(u128), q32));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(corr + b * 8), c);
  }
}

// fp32 -> bf16 for n values, bit for bit fp32_to_bf16 (src/q8_0.h: nearest even, NaN kept quiet) in integer
// AVX-512 (vcvtneps2bf16 would flush denormals). The out-of-line scalar call per value cost as much as the bf16
// dot of a 256-row matrix.
BEOP_TARGET_BF16 void to_bf16_avx512(uint16_t* out, const float* x, size_t n) {
  const __m512i r = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1), abs = _mm512_set1_epi32(0x7fffffff);
  const __m512i inf = _mm512_set1_epi32(0x7f800000), quiet = _mm512_set1_epi32(64);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i v = _mm512_loadu_si512(x + i);
    __m512i h = _mm512_srli_epi32(_mm512_add_epi32(v, _mm512_add_epi32(r, _mm512_and_si512(_mm512_srli_epi32(v, 16), one))), 16);
    const __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(v, abs), inf);
    h = _mm512_mask_or_epi32(h, nan, _mm512_srli_epi32(v, 16), quiet);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), _mm512_cvtepi32_epi16(h));
  }
  for (; i < n; i++) out[i] = fp32_to_bf16(x[i]);
}

void quantize_acts(Q8Acts& a, const float* in, int M, int IC, bool fast) {
  const int nb = IC / kQ8Block;
  a.q.resize(size_t(M) * IC);
  a.corr.resize(size_t(M) * IC / 4);
  a.d.resize(size_t(M) * nb);
#pragma omp parallel for schedule(static) if (M > 4)
  for (int m = 0; m < M; m++) {
    if (fast) {
      quantize_row_avx512(a.q.data() + size_t(m) * IC, a.corr.data() + size_t(m) * IC / 4, a.d.data() + size_t(m) * nb,
                          in + size_t(m) * IC, IC);
      continue;
    }
    BlockQ8_0 blk;
    for (int b = 0; b < nb; b++) {
      const size_t base = size_t(m) * IC + size_t(b) * kQ8Block;
      q8_0_quantize(&blk, in + base, kQ8Block);
      a.d[size_t(m) * nb + b] = fp16_to_fp32(blk.d);
      std::memcpy(a.q.data() + base, blk.qs, kQ8Block);
      for (int k = 0; k < kQ8Block / 4; k++)
        a.corr[base / 4 + k] = -128 * (blk.qs[4 * k] + blk.qs[4 * k + 1] + blk.qs[4 * k + 2] + blk.qs[4 * k + 3]);
    }
  }
}

// ---- portable scalar kernels (the same layout and integer/rounding steps; only the fp32 summation order differs)

__attribute__((optimize("no-tree-vectorize"))) void q8_dot_scalar(float* out, const LowpMatrix& W, int o, const Q8Acts& a, int m) {
  const int IC = W.cols(), nb = IC / kQ8Block;
  const uint8_t* w = W.q_row(o);
  const int8_t* x = a.q.data() + size_t(m) * IC;
  float acc = 0;
  for (int b = 0; b < nb; b++) {
    int32_t s = 0;
    // (w ^ 0x80 as int8 is q.) Not vectorized (the attribute): GCC 12 at -O3 -march=native vectorizes this function,
    // inlined into lowp_linear, into code that gives wrong sums for every weight row after the first;
    // tests/test_matmul_lowp.cpp ("fast kernel and fallback") caught it. The fallback's speed does not matter.
    for (int j = b * kQ8Block; j < (b + 1) * kQ8Block; j++) s += int32_t(int8_t(w[j] ^ 0x80)) * int32_t(x[j]);
    acc += fp16_to_fp32(W.d_row(o)[b]) * a.d[size_t(m) * nb + b] * float(s);
  }
  *out = acc;
}

__attribute__((optimize("no-tree-vectorize"))) void bf16_dot_scalar(float* out, const LowpMatrix& W, int o, const uint16_t* xb) {
  const uint16_t* w = W.bf16_row(o);
  float acc = 0;
  for (int i = 0; i < W.cols(); i++) acc += bf16_to_fp32(w[i]) * bf16_to_fp32(xb[i]);  // product exact in fp32
  *out = acc;
}

// ---- AVX-512 kernels: R activation rows against one weight row (the row is read once for all R)


template <int R>
BEOP_TARGET_VNNI void q8_rows_avx512(float* out, int ostride, const LowpMatrix& W, int o, const Q8Acts& a, int m0) {
  const int IC = W.cols(), nb = IC / kQ8Block, np = nb / 2;
  const uint8_t* w = W.q_row(o);
  const uint16_t* wd = W.d_row(o);
  const __m512i pair = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);  // lanes 0-7 block 0
  __m512 acc[R];
  for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();
  for (int p = 0; p < np; p++) {  // two blocks (64 bytes) per step
    const __m512i wv = _mm512_loadu_si512(w + p * 64);
    uint32_t d2;
    std::memcpy(&d2, wd + 2 * p, 4);
    const __m128 dw = _mm_cvtph_ps(_mm_cvtsi32_si128(int(d2)));
    for (int r = 0; r < R; r++) {
      const size_t m = size_t(m0 + r);
      const __m512i s = _mm512_dpbusd_epi32(_mm512_loadu_si512(a.corr.data() + m * IC / 4 + p * 16), wv,
                                            _mm512_loadu_si512(a.q.data() + m * IC + p * 64));
      double d2x;  // the two fp32 activation scales of this block pair (4-byte aligned only: memcpy, not a double*)
      std::memcpy(&d2x, a.d.data() + m * nb + 2 * p, 8);
      const __m128 dx = _mm_castpd_ps(_mm_set_sd(d2x));
      const __m512 sc = _mm512_permutexvar_ps(pair, _mm512_castps128_ps512(_mm_mul_ps(dw, dx)));
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), sc, acc[r]);
    }
  }
  float tail[R] = {};
  if (nb & 1) {  // an odd last block: 256 bits
    const int b = nb - 1;
    const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + b * 32));
    const float dw = _cvtsh_ss(wd[b]);
    for (int r = 0; r < R; r++) {
      const size_t m = size_t(m0 + r);
      const __m256i s = _mm256_dpbusd_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.corr.data() + m * IC / 4 + b * 8)),
                                            wv, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.q.data() + m * IC + b * 32)));
      tail[r] = dw * a.d[m * nb + b] * float(_mm512_reduce_add_epi32(_mm512_zextsi256_si512(s)));
    }
  }
  for (int r = 0; r < R; r++) out[size_t(r) * ostride] = _mm512_reduce_add_ps(acc[r]) + tail[r];
}

template <int R>
BEOP_TARGET_BF16 void bf16_rows_avx512(float* out, int ostride, const LowpMatrix& W, int o, const uint16_t* xb, int m0) {
  const int IC = W.cols();
  const uint16_t* w = W.bf16_row(o);
  __m512 acc[R];
  for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();
  int i = 0;
  for (; i + 32 <= IC; i += 32) {
    const __m512i wv = _mm512_loadu_si512(w + i);
    for (int r = 0; r < R; r++)
      acc[r] = _mm512_dpbf16_ps(acc[r], (__m512bh)_mm512_loadu_si512(xb + size_t(m0 + r) * IC + i), (__m512bh)wv);
  }
  if (i < IC) {  // masked tail: IC need not be a multiple of 32
    const __mmask32 k = __mmask32((uint64_t(1) << (IC - i)) - 1);
    const __m512i wv = _mm512_maskz_loadu_epi16(k, w + i);
    for (int r = 0; r < R; r++)
      acc[r] = _mm512_dpbf16_ps(acc[r], (__m512bh)_mm512_maskz_loadu_epi16(k, xb + size_t(m0 + r) * IC + i), (__m512bh)wv);
  }
  for (int r = 0; r < R; r++) out[size_t(r) * ostride] = _mm512_reduce_add_ps(acc[r]);
}

// One activation row (decode, M = 1): the weights stream from memory once and nothing else is reused, so what
// limits a single core is the latency chain of one accumulator (vdpbf16ps ~6 cycles per 64 bytes of weights would
// cap a core near 30 GB/s, the memory bandwidth one core can reach here). Four (bf16) / two (q8) independent
// accumulators, summed at the end, keep several loads in flight.
BEOP_TARGET_BF16 void bf16_row1_avx512(float* out, const LowpMatrix& W, int o, const uint16_t* x) {
  const int IC = W.cols();
  const uint16_t* w = W.bf16_row(o);
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  int i = 0;
  for (; i + 128 <= IC; i += 128) {
    a0 = _mm512_dpbf16_ps(a0, (__m512bh)_mm512_loadu_si512(x + i), (__m512bh)_mm512_loadu_si512(w + i));
    a1 = _mm512_dpbf16_ps(a1, (__m512bh)_mm512_loadu_si512(x + i + 32), (__m512bh)_mm512_loadu_si512(w + i + 32));
    a2 = _mm512_dpbf16_ps(a2, (__m512bh)_mm512_loadu_si512(x + i + 64), (__m512bh)_mm512_loadu_si512(w + i + 64));
    a3 = _mm512_dpbf16_ps(a3, (__m512bh)_mm512_loadu_si512(x + i + 96), (__m512bh)_mm512_loadu_si512(w + i + 96));
  }
  for (; i + 32 <= IC; i += 32)
    a0 = _mm512_dpbf16_ps(a0, (__m512bh)_mm512_loadu_si512(x + i), (__m512bh)_mm512_loadu_si512(w + i));
  if (i < IC) {  // masked tail
    const __mmask32 k = __mmask32((uint64_t(1) << (IC - i)) - 1);
    a1 = _mm512_dpbf16_ps(a1, (__m512bh)_mm512_maskz_loadu_epi16(k, x + i), (__m512bh)_mm512_maskz_loadu_epi16(k, w + i));
  }
  *out = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

// Four blocks (128 bytes of weights) per step: one 8-byte load brings their four fp16 weight scales, one 16-byte
// load the four activation scales; two block pairs go to two accumulators.
BEOP_TARGET_VNNI void q8_row1_avx512(float* out, const LowpMatrix& W, int o, const Q8Acts& a, int m) {
  const int IC = W.cols(), nb = IC / kQ8Block;
  const uint8_t* w = W.q_row(o);
  const uint16_t* wd = W.d_row(o);
  const int8_t* xq = a.q.data() + size_t(m) * IC;
  const int32_t* xc = a.corr.data() + size_t(m) * IC / 4;
  const float* xd = a.d.data() + size_t(m) * nb;
  const __m512i lo = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);  // blocks 0 | 1
  const __m512i hi = _mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2);  // blocks 2 | 3
  __m512 a0 = _mm512_setzero_ps(), a1 = a0;
  int b = 0;
  for (; b + 4 <= nb; b += 4) {
    uint64_t d4;
    std::memcpy(&d4, wd + b, 8);
    const __m512 sc = _mm512_castps128_ps512(_mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi64_si128(int64_t(d4))), _mm_loadu_ps(xd + b)));
    const __m512i s0 = _mm512_dpbusd_epi32(_mm512_loadu_si512(xc + b * 8), _mm512_loadu_si512(w + b * 32),
                                           _mm512_loadu_si512(xq + b * 32));
    const __m512i s1 = _mm512_dpbusd_epi32(_mm512_loadu_si512(xc + b * 8 + 16), _mm512_loadu_si512(w + b * 32 + 64),
                                           _mm512_loadu_si512(xq + b * 32 + 64));
    a0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s0), _mm512_permutexvar_ps(lo, sc), a0);
    a1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s1), _mm512_permutexvar_ps(hi, sc), a1);
  }
  float tail = 0;
  for (; b < nb; b++) {  // up to three last blocks, 256 bits each
    const __m256i s = _mm256_dpbusd_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xc + b * 8)),
                                          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + b * 32)),
                                          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + b * 32)));
    tail += _cvtsh_ss(wd[b]) * xd[b] * float(_mm512_reduce_add_epi32(_mm512_zextsi256_si512(s)));
  }
  *out = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) + tail;
}

// One activation row against four weight rows (o .. o+3), the decode case's main loop: each activation load (and,
// for q8, its scales and lane corrections) serves four weight rows, the four rows' accumulators are independent
// chains, and the per-row reductions are a smaller share of the work. Same arithmetic as the one-row kernels.
BEOP_TARGET_BF16 void bf16_row1x4_avx512(float* out, const LowpMatrix& W, int o, const uint16_t* x) {
  const int IC = W.cols();
  const uint16_t* w0 = W.bf16_row(o);
  const size_t ld = size_t(IC);
  const uint16_t* next = o + 8 <= W.rows() ? w0 + 4 * ld : w0;  // the next group's rows, for the prefetch
  __m512 a[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  int i = 0;
  for (; i + 32 <= IC; i += 32) {
    const __m512bh xv = (__m512bh)_mm512_loadu_si512(x + i);
    // Prefetch the next group's four rows (o+4 .. o+7, this thread's next call) at this offset, into L2. Four
    // short (2-6 KB) streams side by side are not what the hardware prefetcher ramps up on, and each group's rows
    // start in new pages; one group ahead keeps every row a whole group (8-22 KB) ahead of its use. On weights
    // that do not fit in the last-level cache: 10-15% faster than prefetching 1 KB ahead within each row (what
    // this kernel did before), which was no faster than no prefetch (docs/PERFORMANCE.md, "Decode: prefetch one
    // group ahead"). The last group prefetches its own rows: a pointer past the matrix's end would be undefined.
    for (int j = 0; j < 4; j++) _mm_prefetch(reinterpret_cast<const char*>(next + j * ld + i), _MM_HINT_T1);
    for (int j = 0; j < 4; j++) a[j] = _mm512_dpbf16_ps(a[j], xv, (__m512bh)_mm512_loadu_si512(w0 + j * ld + i));
  }
  if (i < IC) {  // masked tail
    const __mmask32 k = __mmask32((uint64_t(1) << (IC - i)) - 1);
    const __m512bh xv = (__m512bh)_mm512_maskz_loadu_epi16(k, x + i);
    for (int j = 0; j < 4; j++) a[j] = _mm512_dpbf16_ps(a[j], xv, (__m512bh)_mm512_maskz_loadu_epi16(k, w0 + j * ld + i));
  }
  for (int j = 0; j < 4; j++) out[j] = _mm512_reduce_add_ps(a[j]);
}

BEOP_TARGET_VNNI void q8_row1x4_avx512(float* out, const LowpMatrix& W, int o, const Q8Acts& a, int m) {
  const int IC = W.cols(), nb = IC / kQ8Block;
  const int8_t* xq = a.q.data() + size_t(m) * IC;
  const int32_t* xc = a.corr.data() + size_t(m) * IC / 4;
  const float* xd = a.d.data() + size_t(m) * nb;
  const size_t ahead = o + 8 <= W.rows() ? 4 * size_t(IC) : 0;  // to the next group's rows (the prefetch below)
  const __m512i lo = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);  // blocks 0 | 1
  const __m512i hi = _mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2);  // blocks 2 | 3
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  int b = 0;
  for (; b + 4 <= nb; b += 4) {  // four blocks (128 bytes) per step: one scale conversion per row for all four
    const __m512i x0 = _mm512_loadu_si512(xq + b * 32), x1 = _mm512_loadu_si512(xq + b * 32 + 64);
    const __m512i c0 = _mm512_loadu_si512(xc + b * 8), c1 = _mm512_loadu_si512(xc + b * 8 + 16);
    const __m128 dx = _mm_loadu_ps(xd + b);
    for (int j = 0; j < 4; j++) {
      const uint8_t* w = W.q_row(o + j) + b * 32;
      // The bf16 kernel's prefetch above: the same 128 bytes of row o+4+j, the next group's, into L2
      _mm_prefetch(reinterpret_cast<const char*>(w + ahead), _MM_HINT_T1);
      _mm_prefetch(reinterpret_cast<const char*>(w + ahead + 64), _MM_HINT_T1);
      const __m512 sc = _mm512_castps128_ps512(
          _mm_mul_ps(_mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(W.d_row(o + j) + b))), dx));
      const __m512i s0 = _mm512_dpbusd_epi32(c0, _mm512_loadu_si512(w), x0);
      const __m512i s1 = _mm512_dpbusd_epi32(c1, _mm512_loadu_si512(w + 64), x1);
      acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s0), _mm512_permutexvar_ps(lo, sc), acc[j]);
      acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s1), _mm512_permutexvar_ps(hi, sc), acc[j]);
    }
  }
  float tail[4] = {};
  for (; b < nb; b++) {  // up to three last blocks, 256 bits each
    const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + b * 32));
    const __m256i cv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xc + b * 8));
    for (int j = 0; j < 4; j++) {
      const __m256i s = _mm256_dpbusd_epi32(cv, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(W.q_row(o + j) + b * 32)), xv);
      tail[j] += _cvtsh_ss(W.d_row(o + j)[b]) * xd[b] * float(_mm512_reduce_add_epi32(_mm512_zextsi256_si512(s)));
    }
  }
  for (int j = 0; j < 4; j++) out[j] = _mm512_reduce_add_ps(acc[j]) + tail[j];
}

template <int R>
void rows_fast(float* out, int ostride, const LowpMatrix& W, int o, const Q8Acts& qa, const uint16_t* xb, int m0) {
  if (R == 1)
    W.type() == LowpType::kQ8 ? q8_row1_avx512(out, W, o, qa, m0) : bf16_row1_avx512(out, W, o, xb + size_t(m0) * W.cols());
  else if (W.type() == LowpType::kQ8)
    q8_rows_avx512<R>(out, ostride, W, o, qa, m0);
  else
    bf16_rows_avx512<R>(out, ostride, W, o, xb, m0);
}

bool env_fallback() {
  static const bool on = [] {
    const char* e = std::getenv("BEOP_LOWP_FALLBACK");
    return e && *e && std::string(e) != "0";
  }();
  return on;
}

}  // namespace

bool lowp_fast(LowpType t) {
  if (env_fallback()) return false;
  __builtin_cpu_init();
  const bool base = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                    __builtin_cpu_supports("avx512vl");
  if (t == LowpType::kBf16) return base && __builtin_cpu_supports("avx512bf16");
  return base && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("f16c");
}

void lowp_notice(LowpType t) {
  static std::once_flag once[2];
  if (lowp_fast(t)) return;
  std::call_once(once[int(t)], [t] {
    std::fprintf(stderr, "note: --dtype %s: %s; running the portable scalar kernel (correct, slower)\n", lowp_name(t),
                 env_fallback() ? "BEOP_LOWP_FALLBACK is set"
                 : t == LowpType::kBf16 ? "this CPU lacks avx512_bf16" : "this CPU lacks avx512_vnni");
  });
}

void lowp_linear(float* out, const float* in, const LowpMatrix& W, int M, LowpIsa isa) {
  const int OC = W.rows(), IC = W.cols();
  const bool fast = isa == LowpIsa::kAuto && lowp_fast(W.type());
  Q8Acts qa;
  std::vector<uint16_t> xb;
  if (W.type() == LowpType::kQ8) {
    quantize_acts(qa, in, M, IC, fast);
  } else {
    xb.resize(size_t(M) * IC);
    if (fast)
      to_bf16_avx512(xb.data(), in, xb.size());
    else
      for (size_t i = 0; i < xb.size(); i++) xb[i] = fp32_to_bf16(in[i]);
  }
  // Threads split W's rows in chunks; within a chunk, tiles of up to 4 activation rows share each weight row read.
  constexpr int kChunk = 16, kTile = 4;
  const int chunks = (OC + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static)
  for (int c = 0; c < chunks; c++) {
    const int o0 = c * kChunk, o1 = std::min(OC, o0 + kChunk);
    for (int m0 = 0; m0 < M; m0 += kTile) {
      const int R = std::min(kTile, M - m0);
      for (int o = o0; o < o1; o++) {
        float* dst = out + size_t(m0) * OC + o;
        if (!fast) {
          for (int r = 0; r < R; r++) {
            if (W.type() == LowpType::kQ8)
              q8_dot_scalar(dst + size_t(r) * OC, W, o, qa, m0 + r);
            else
              bf16_dot_scalar(dst + size_t(r) * OC, W, o, xb.data() + size_t(m0 + r) * IC);
          }
          continue;
        }
        if (R == 1 && o + 4 <= o1) {  // decode: four weight rows per call
          if (W.type() == LowpType::kQ8)
            q8_row1x4_avx512(dst, W, o, qa, m0);
          else
            bf16_row1x4_avx512(dst, W, o, xb.data() + size_t(m0) * IC);
          o += 3;
          continue;
        }
        switch (R) {
          case 4: rows_fast<4>(dst, OC, W, o, qa, xb.data(), m0); break;
          case 3: rows_fast<3>(dst, OC, W, o, qa, xb.data(), m0); break;
          case 2: rows_fast<2>(dst, OC, W, o, qa, xb.data(), m0); break;
          default: rows_fast<1>(dst, OC, W, o, qa, xb.data(), m0); break;
        }
      }
    }
  }
}

}  // namespace beop::cpu
