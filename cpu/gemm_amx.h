// The AMX path of the bf16 training GEMMs (cpu/gemm_bf16.h): C = or += A B with bf16 operands and fp32 sums on
// Intel AMX tiles (TDPBF16PS: a 16 x 32 bf16 tile of A times a 16-pair x 16-column tile of B into a 16 x 16 fp32
// tile of C). The same GEMM as gemm_bf16's other kernels, reached through it when bf16_kernel() is kAmx, which
// happens only after amx_bf16_usable() said yes: the CPU has amx-tile, amx-bf16 and avx512-bf16 (the operands
// are packed with AVX-512) and Linux granted the process the tile state (arch_prctl ARCH_REQ_XCOMP_PERM). Every
// function that holds an AMX or AVX-512 instruction carries a target attribute, so the file builds without
// -march=native (the sanitizer build) and no such instruction runs on a CPU that lacks it.
// Results: each product of two bf16 values is exact in fp32; the sums round in fp32 in the tile's own order, and
// subnormal inputs and outputs are flushed to zero (tests/test_cpu_bf16.cpp derives the bound).
#pragma once
#include <cstdint>

namespace beop::cpu {

// CPUID says amx-tile, amx-bf16 and avx512-bf16 (nothing asked of the OS).
bool cpu_has_amx_bf16();
// cpu_has_amx_bf16() and the tile permission granted (asked once per process; where the CPU has AMX and Linux
// refuses, one notice line on stderr says why and the caller falls back).
bool amx_bf16_usable();

// As gemm_bf16 (cpu/gemm_bf16.h), on AMX; call only when amx_bf16_usable(). M, N, K > 0.
void gemm_amx(int M, int N, int K, const float* A, int64_t rsa, int64_t csa, const float* B, int64_t rsb,
              int64_t csb, float* C, int64_t ldc, bool accumulate);

}  // namespace beop::cpu
