// bf16 GEMM with fp32 accumulation for CPU training (--dtype bf16 --device cpu): the operands are rounded to
// bf16 (round to nearest even) while they are packed into the kernel's panels, the products and their sums are
// fp32. On a CPU with AVX512-BF16 the inner loop is `vdpbf16ps` (_mm512_dpbf16_ps: 16 lanes, each adding a pair
// of bf16 products to an fp32 accumulator); elsewhere a portable kernel computes the same pairs in the same
// order (its results differ from the AVX path only by the fp32 summation order inside one instruction and by
// the instruction's flushing of subnormals). Where the CPU has AMX, the GEMMs run on its tiles instead
// (cpu/gemm_amx.h: same packed pairs, fp32 sums in the tile's order). The kernel is chosen at run time (__builtin_cpu_supports), so a
// binary built on this machine never executes an instruction the CPU lacks.
// Weights are rounded to bf16 as they are packed, in each GEMM that reads them (forward and d_in: twice a step,
// O(weights) work beside the GEMM's O(tokens x weights)); there is no separate bf16 copy of the weights to keep in
// sync with the fp32 master. Activations stay fp32 in memory and are rounded as they are packed too.
// The three GEMMs of a linear layer (cpu/linear.h's layout, W (OC, IC)) are linear_forward_bf16 and
// linear_backward_bf16 below. CUDA: cuda/gemm.h (cuBLASLt in bf16). Tests: tests/test_cpu_bf16.cpp, tests/test_cuda_bf16.cpp.
#pragma once
#include <cstdint>

namespace beop::cpu {

enum class Bf16Kernel { kAuto, kAvx512, kPortable, kAmx };

// kAuto (default): AMX (cpu/gemm_amx.h) when the CPU has it and Linux grants the tile state, else AVX512-BF16
// when the CPU has it, else the portable kernel. The environment variable BEOP_BF16_NO_AMX=1 skips AMX (benches,
// tests), BEOP_BF16_FALLBACK=1 forces the portable kernel. kAmx or kAvx512 on a CPU without it throws. Returns
// the kernel in use.
Bf16Kernel set_bf16_kernel(Bf16Kernel k);
Bf16Kernel bf16_kernel();       // the kernel the next GEMM runs (resolving kAuto; prints the fallback notice once)
bool cpu_has_avx512_bf16();

// fp32 -> bf16 bits, round to nearest even (NaN stays NaN); and back.
inline uint16_t to_bf16(float f) {
  uint32_t u;
  __builtin_memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
inline float from_bf16(uint16_t h) {
  const uint32_t u = uint32_t(h) << 16;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}
inline float round_bf16(float f) { return from_bf16(to_bf16(f)); }

// C (M, N) = or += A (M, K) @ B (K, N), element (m, k) of A at A[m * rsa + k * csa], of B likewise; C row-major
// with leading dimension ldc. Multi-threaded (OpenMP); each element of C is summed by one thread, in k order
// within blocks of 256, so the result does not depend on the thread count.
void gemm_bf16(int M, int N, int K, const float* A, int64_t rsa, int64_t csa, const float* B, int64_t rsb,
               int64_t csb, float* C, int64_t ldc, bool accumulate);

// out (N, OC) = in (N, IC) @ W^T
void linear_forward_bf16(float* out, const float* in, const float* W, int N, int IC, int OC);
// d_in (N, IC) = or += d_out @ W;  d_W (OC, IC) += d_out^T @ in
void linear_backward_bf16(float* d_in, float* d_W, const float* d_out, const float* in, const float* W, int N,
                          int IC, int OC, bool accumulate_d_in);

}  // namespace beop::cpu
