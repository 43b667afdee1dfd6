// Helpers of the GEMMs' packing (cpu/gemm_amx.cpp, cpu/gemm_f32.cpp): the mask of a partial 16-lane load or store,
// and an in-register transpose of a 16 x 16 block of 32-bit words (fp32 values or bf16 pairs), used where the
// source's contiguous direction is not the packed panel's: v[i] word j -> v[j] word i (pairs within 128-bit lanes,
// then quads, then lanes across vectors). The transpose's maskz forms with a full mask are the plain instructions;
// GCC 12's unmasked ones start from _mm512_undefined_epi32(), which -fsanitize builds warn about.
// target("avx512f"): callers carry at least that target themselves.
#pragma once
#include <immintrin.h>

namespace beop::cpu {

// The first n of 16 lanes (none for n <= 0, all for n >= 16).
inline __mmask16 first_bits(int n) { return n >= 16 ? __mmask16(0xffff) : n <= 0 ? 0 : __mmask16((1u << n) - 1); }

__attribute__((target("avx512f"))) inline void transpose16(__m512i v[16]) {
  const __mmask16 all = 0xffff;
  const __mmask8 all8 = 0xff;
  __m512i t[16];
  for (int i = 0; i < 8; i++) {
    t[2 * i] = _mm512_maskz_unpacklo_epi32(all, v[2 * i], v[2 * i + 1]);
    t[2 * i + 1] = _mm512_maskz_unpackhi_epi32(all, v[2 * i], v[2 * i + 1]);
  }
  for (int i = 0; i < 4; i++) {  // v[4i + j], lane L: words 4i .. 4i+3 of column 4L + j
    v[4 * i] = _mm512_maskz_unpacklo_epi64(all8, t[4 * i], t[4 * i + 2]);
    v[4 * i + 1] = _mm512_maskz_unpackhi_epi64(all8, t[4 * i], t[4 * i + 2]);
    v[4 * i + 2] = _mm512_maskz_unpacklo_epi64(all8, t[4 * i + 1], t[4 * i + 3]);
    v[4 * i + 3] = _mm512_maskz_unpackhi_epi64(all8, t[4 * i + 1], t[4 * i + 3]);
  }
  for (int j = 0; j < 4; j++) {  // column 4L + j = lane L of v[j], v[4 + j], v[8 + j], v[12 + j]
    const __m512i a0 = _mm512_maskz_shuffle_i32x4(all, v[j], v[4 + j], 0x88),
                  a1 = _mm512_maskz_shuffle_i32x4(all, v[j], v[4 + j], 0xdd),
                  b0 = _mm512_maskz_shuffle_i32x4(all, v[8 + j], v[12 + j], 0x88),
                  b1 = _mm512_maskz_shuffle_i32x4(all, v[8 + j], v[12 + j], 0xdd);
    t[j] = _mm512_maskz_shuffle_i32x4(all, a0, b0, 0x88);
    t[8 + j] = _mm512_maskz_shuffle_i32x4(all, a0, b0, 0xdd);
    t[4 + j] = _mm512_maskz_shuffle_i32x4(all, a1, b1, 0x88);
    t[12 + j] = _mm512_maskz_shuffle_i32x4(all, a1, b1, 0xdd);
  }
  for (int i = 0; i < 16; i++) v[i] = t[i];
}

}  // namespace beop::cpu
