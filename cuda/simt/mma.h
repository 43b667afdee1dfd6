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
// The emulation (cuda/simt/mma_emulation.cpp; every lane a SIMT fiber) implements exactly these layouts, and
// what a kernel may not rely on:
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

#else  // ---- emulation under the SIMT runtime: cuda/simt/mma_emulation.cpp ---------------------------------------

void ldmatrix_x4(uint32_t (&r)[4], const __nv_bfloat16* p, const char* file = __builtin_FILE(),
                 int line = __builtin_LINE());
void ldmatrix_x4_trans(uint32_t (&r)[4], const __nv_bfloat16* p, const char* file = __builtin_FILE(),
                       int line = __builtin_LINE());
void mma_bf16_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1,
                    const char* file = __builtin_FILE(), int line = __builtin_LINE());
inline uint32_t pack_bf16x2(float lo, float hi) {
  return uint32_t(beop::simt::float_to_bf16_rn(lo)) | (uint32_t(beop::simt::float_to_bf16_rn(hi)) << 16);
}

#endif

}  // namespace beop::mma
