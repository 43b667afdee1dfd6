// fp32 linear layer for a few rows (decode, batched decode, short prompts): out (N, OC) = in (N, IC) @ W^T with
// W (OC, IC) row-major, N <= kSmallmMaxRows. Decoding is bound by reading W, so the kernel streams W ONCE for all
// N rows: threads split W's rows (output features) into blocks of 24, and a register block of 8 input rows x 3
// weight rows (24 zmm accumulators; 1 x 8 for a single row) is multiplied per pass over IC, the weight rows staying
// in L1/L2 for the next group of input rows; the first group's pass prefetches the weight rows ahead. cpu/linear.h's
// Eigen path read W nearly once per row for N > 4 (docs/PERFORMANCE.md, "Continuous batching"). CpuOps<float>::linear_forward (cpu/ops.h) routes fp32 weights here for N <= kSmallmMaxRows.
//
// Numerics: row r's outputs are bitwise the same whatever N is and whichever rows share the call, because
// each dot product in[r] . W[o] is summed in an order fixed by IC alone: 16 lane sums (lane l takes the
// products of k = l, l+16, l+32, ... in increasing k, one fused multiply-add each; a last partial chunk is padded
// with zeros, which adds +0), then the 16 lanes added pairwise (l, l+8), (l, l+4), (l, l+2), (l, l+1).
// Batched decoding therefore equals one-at-a-time decoding bit for bit (tests/test_batch_generator.cpp).
// Kernels are chosen at run time (__builtin_cpu_supports): AVX-512F where the CPU has it (intrinsics compiled
// with __attribute__((target)), so the build needs no -march), else a portable loop over the same 16 lanes
// (separate multiply and add: within the same error bound, not bitwise the AVX-512 result).
// Tests: tests/test_matmul_smallm.cpp.
#pragma once

namespace beop::cpu {

// Up to here the kernel beats Eigen's GEMM on this project's shapes (measured on the 2-core dev VM, 1 thread,
// (5632, 1024) and (1024, 2816): 32 rows 1.4-1.7x faster, 64 rows about even, 128 rows slower); short prompts'
// prefill runs here too.
constexpr int kSmallmMaxRows = 32;

enum class SmallmIsa { kAuto, kPortable };  // kAuto: AVX-512 where the CPU runs it

// BEOP_SMALLM=0 turns the kernel off (cpu::linear_forward's Eigen path runs instead), read at the first call;
// smallm_set_enabled switches it at run time (bench/bench_infer.cpp's old-vs-new rounds in one process). Switch
// only between forward passes: rows computed by different kernels differ in the last bits.
bool smallm_enabled();
void smallm_set_enabled(bool on);
// Whether the AVX-512 kernel runs on this CPU.
bool smallm_fast();

// out (N, OC) = in (N, IC) @ W^T, 1 <= N <= kSmallmMaxRows (an Error otherwise). OpenMP over blocks of W's rows
// (serial inside a parallel region).
void linear_smallm(float* out, const float* in, const float* W, int N, int IC, int OC,
                   SmallmIsa isa = SmallmIsa::kAuto);

}  // namespace beop::cpu
