// Tensor-core primitives with documented register layouts, for shared kernel files: under nvcc one PTX
// instruction each (inline asm, sm_80+), under the host compiler an emulation on top of the SIMT runtime.
//
//   mma_bf16_16816(d, a, b0, b1)   mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32: d (16x8 fp32) += A·B
//   ldmatrix_x4(r, p)              ldmatrix.sync.aligned.m8n8.x4.shared.b16: four 8x8 bf16 matrices
//   ldmatrix_x4_trans(r, p)        ... .trans: the same four, each transposed
//   pack_bf16x2(lo, hi)            two floats rounded to bf16 (nearest even) in one 32-bit register
//
// Register layouts (PTX ISA, "Matrix Fragments for mma.m16n8k16 with floating point type"), for lane l with
// g = l / 4 and t = l % 4; a 32-bit register holds two bf16, the lower-indexed element in the low half:
//   A (16x16, row):  a[0] = A[g][2t, 2t+1]   a[1] = A[g+8][2t, 2t+1]   a[2] = A[g][2t+8, +9]   a[3] = A[g+8][2t+8, +9]
//   B (16x8, col):   b0 = B[2t, 2t+1][g]     b1 = B[2t+8, 2t+9][g]
//   C, D (16x8):     d[0], d[1] = C[g][2t, 2t+1]      d[2], d[3] = C[g+8][2t, 2t+1]
//   ldmatrix: lane l gives the address of row l % 8 of matrix l / 8 (16 contiguous bytes, 16-byte aligned, in
//   shared memory); r[j] = matrix j's elements [g][2t, 2t+1], or with .trans [2t][g] and [2t+1][g].
// So an accumulator tile's (g, 2t..) pairs are exactly an A operand's: a score tile feeds the next product
// straight from registers (FlashAttention-2's trick), which wmma's unspecified layout does not allow.
//
// The emulation (every lane a SIMT fiber) implements exactly these layouts, and what a kernel may not rely on:
//   - every call needs all 32 lanes of the warp active;
//   - the `.sync` orders nothing before the instruction: ldmatrix reads a lane's row when THAT lane arrives,
//     so shared memory written by other threads without a __syncthreads()/__syncwarp() before it may be read
//     stale, as on a GPU; the lanes then exchange rows (a warp barrier) and assemble their registers;
//   - ldmatrix addresses must be 16-byte aligned and inside the block's dynamic shared memory (the only shared
//     memory the kernels here use; static __shared__ arrays are refused by this check);
//   - mma products are accumulated in fp32 with k ascending (tensor cores accumulate in fp32 in an unspecified
//     order: the bf16 tests' tolerance covers the difference).
// Tests: tests/test_cuda_mma.cpp (layouts against the formulas above, races, misuse); the attention kernels
// built on these (cuda/kernels/attention_flash_tc.cuh) in tests/test_cuda_bf16.cpp, on the CPU and on a GPU.
#pragma once

#include <cstdint>
#include <cstring>

#include "cuda/simt/simt.h"

namespace beop::mma {

#if defined(__CUDACC__)

__device__ __forceinline__ void mma_bf16_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// "memory": the load must stay after the __syncthreads() that publishes the tile.
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const __nv_bfloat16* p) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s)
               : "memory");
}

__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const __nv_bfloat16* p) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s)
               : "memory");
}

__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // .x (low half) = lo
  uint32_t u;
  memcpy(&u, &v, sizeof u);
  return u;
}

#else  // ---- emulation under the SIMT runtime ------------------------------------------------------------------

namespace detail {

[[noreturn]] inline void misuse(const char* what, const char* why, const char* file, int line) {
  beop::fail(what, " at ", file, ":", line, ": ", why);
}
inline void check_warp(const char* what, const char* file, int line) {
  if (__activemask() != 0xffffffffu) misuse(what, "called with lanes of the warp exited or inactive", file, line);
}
inline unsigned lane() { return threadIdx.x % 32; }
inline unsigned warp() { return threadIdx.x / 32 % 32; }
inline uint16_t lo16(uint32_t r) { return uint16_t(r & 0xffffu); }
inline uint16_t hi16(uint32_t r) { return uint16_t(r >> 16); }
inline float bf16_bits_to_float(uint16_t b) { return beop::simt::bf16_to_float(b); }

// One exchange area per warp of the running block (blocks run one at a time per OS thread, and lanes leave
// an exchange only after all 32 have read it: the second barrier of each call).
struct Exchange {
  uint16_t rows[32][32][8];  // ldmatrix: [warp][lane] the 8 bf16 of the row that lane addressed
  uint32_t a[32][32][4];     // mma: [warp][lane] its A registers
  uint32_t b[32][32][2];     //                   its B registers
};
inline Exchange& exchange() {
  static thread_local Exchange x;
  return x;
}

inline void ldmatrix(uint32_t (&r)[4], const __nv_bfloat16* p, bool trans, const char* what, const char* file,
                     int line) {
  check_warp(what, file, line);
  const auto* base = static_cast<const unsigned char*>(beop::simt::dynamic_shared());
  const auto* q = reinterpret_cast<const unsigned char*>(p);
  if (reinterpret_cast<uintptr_t>(p) % 16 != 0) misuse(what, "row address not 16-byte aligned", file, line);
  if (q < base || q + 16 > base + beop::simt::dynamic_shared_bytes())
    misuse(what, "row address outside the block's dynamic shared memory", file, line);
  Exchange& x = exchange();
  const unsigned w = warp(), l = lane(), g = l / 4, t = l % 4;
  std::memcpy(x.rows[w][l], p, 16);  // this lane's row, as it is now
  __syncwarp(0xffffffffu, file, line);
  for (int j = 0; j < 4; j++) {
    uint16_t e0, e1;
    if (trans) {  // elements [2t][g], [2t+1][g] of matrix j: its rows 2t, 2t+1 came from lanes 8j+2t, 8j+2t+1
      e0 = x.rows[w][8 * j + 2 * t][g];
      e1 = x.rows[w][8 * j + 2 * t + 1][g];
    } else {  // element [g][2t] and [g][2t+1]: row g was given by lane 8j+g
      e0 = x.rows[w][8 * j + g][2 * t];
      e1 = x.rows[w][8 * j + g][2 * t + 1];
    }
    r[j] = uint32_t(e0) | (uint32_t(e1) << 16);
  }
  __syncwarp(0xffffffffu, file, line);  // everyone has read the exchange before anyone reuses it
}

}  // namespace detail

inline void ldmatrix_x4(uint32_t (&r)[4], const __nv_bfloat16* p, const char* file = __builtin_FILE(),
                        int line = __builtin_LINE()) {
  detail::ldmatrix(r, p, false, "ldmatrix_x4", file, line);
}
inline void ldmatrix_x4_trans(uint32_t (&r)[4], const __nv_bfloat16* p, const char* file = __builtin_FILE(),
                              int line = __builtin_LINE()) {
  detail::ldmatrix(r, p, true, "ldmatrix_x4_trans", file, line);
}

// d += A·B, fp32 accumulation, k ascending. A[m][k] lives in lane (m % 8)*4 + (k % 8)/2, register
// (m / 8) + 2*(k / 8), half k % 2; B[k][n] in lane n*4 + (k % 8)/2, register k / 8, half k % 2.
inline void mma_bf16_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1,
                           const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  using namespace detail;
  check_warp("mma_bf16_16816", file, line);
  Exchange& x = exchange();
  const unsigned w = warp(), l = lane(), g = l / 4, t = l % 4;
  for (int i = 0; i < 4; i++) x.a[w][l][i] = a[i];
  x.b[w][l][0] = b0;
  x.b[w][l][1] = b1;
  __syncwarp(0xffffffffu, file, line);
  for (int i = 0; i < 4; i++) {
    const unsigned m = g + 8 * (i / 2), n = 2 * t + i % 2;
    float s = d[i];
    for (unsigned k = 0; k < 16; k++) {
      const uint32_t ra = x.a[w][(m % 8) * 4 + (k % 8) / 2][(m / 8) + 2 * (k / 8)];
      const uint32_t rb = x.b[w][n * 4 + (k % 8) / 2][k / 8];
      s += bf16_bits_to_float(k % 2 ? hi16(ra) : lo16(ra)) * bf16_bits_to_float(k % 2 ? hi16(rb) : lo16(rb));
    }
    d[i] = s;
  }
  __syncwarp(0xffffffffu, file, line);
}

inline uint32_t pack_bf16x2(float lo, float hi) {
  return uint32_t(beop::simt::float_to_bf16_rn(lo)) | (uint32_t(beop::simt::float_to_bf16_rn(hi)) << 16);
}

#endif

}  // namespace beop::mma
