// fp32 GEMM for CPU training's linear layers (--dtype fp32 --device cpu): the same packed-panel design as the bf16
// GEMMs (cpu/gemm_bf16.h), with fp32 operands and one fused multiply-add per product. Why not Eigen's GEMM, which
// ran here before: for this project's shapes (tokens x a few hundred features, K from 256 to 8192) Eigen repacks
// the right-hand side per call block and runs below its square-matrix rate; this kernel packs B once per call
// (per thread tile into L2 where M <= 112, a prompt's prefill), packs A per thread in L2-sized blocks, and keeps a
// 14 x 32 block of C in 28 zmm registers: 1.15x Eigen on those shapes, 1.1-1.2x on a training step
// (docs/PERFORMANCE.md, "fp32 on the packed GEMM").
// Numerics: each element of C is summed by one thread: the products of each 256-wide chunk of k from zero, in
// increasing k, one FMA each (rounded once), then added to C (to the start value where the GEMM accumulates), so the
// result does not depend on the thread count; it differs from Eigen's (another summation order) within the usual
// fp32 bound (tests/test_gemm_f32.cpp derives it).
// The kernel runs where the CPU has AVX-512F (chosen at run time; its functions carry target attributes, so the
// file builds without -march=native); elsewhere, or with BEOP_F32_GEMM=eigen in the environment (read at the
// first call; benches compare the two), the linear functions below run cpu/linear.h's Eigen path.
// CUDA: cuda/gemm.h (cuBLASLt). Tests: tests/test_gemm_f32.cpp.
#pragma once
#include <cstdint>

namespace beop::cpu {

// Whether the AVX-512 kernel runs (CPU support and BEOP_F32_GEMM not "eigen"). set_gemm_f32_enabled switches it at
// run time (benches' A/B rounds in one process); only between steps.
bool gemm_f32_enabled();
void set_gemm_f32_enabled(bool on);

// C (M, N) = or += A (M, K) @ B (K, N), element (m, k) of A at A[m * rsa + k * csa], of B likewise; C row-major
// with leading dimension ldc. Requires the AVX-512 kernel (gemm_f32_enabled()); an Error otherwise. OpenMP
// (serial inside a parallel region).
void gemm_f32(int M, int N, int K, const float* A, int64_t rsa, int64_t csa, const float* B, int64_t rsb,
              int64_t csb, float* C, int64_t ldc, bool accumulate);

// gemm_f32 in the calling thread, without OpenMP, for products small enough that one thread should do each (the
// flash attention's 64 x 64 tiles, cpu/attention_flash.h): A and B are packed whole per 256-wide chunk of k, so M
// and N should be a few hundred at most. The same sums, bit for bit, as gemm_f32.
void gemm_f32_serial(int M, int N, int K, const float* A, int64_t rsa, int64_t csa, const float* B, int64_t rsb,
                     int64_t csb, float* C, int64_t ldc, bool accumulate);

// cpu/linear.h's layout, W (OC, IC); these run gemm_f32 when it is enabled, Eigen otherwise.
// out (N, OC) = in (N, IC) @ W^T
void linear_forward_f32(float* out, const float* in, const float* W, int N, int IC, int OC);
// d_in (N, IC) = or += d_out @ W;  d_W (OC, IC) += d_out^T @ in
void linear_backward_f32(float* d_in, float* d_W, const float* d_out, const float* in, const float* W, int N,
                         int IC, int OC, bool accumulate_d_in);

}  // namespace beop::cpu
