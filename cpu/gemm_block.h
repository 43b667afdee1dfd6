// One output block of the packed GEMMs (cpu/gemm_bf16.cpp, cpu/gemm_amx.cpp, cpu/gemm_f32.cpp): their kernels always write a
// whole BM x BN block, so a block that the matrix's bottom or right edge cuts short (rows < BM or cols < BN) goes
// through a full-size scratch block: loaded from C where the GEMM accumulates, computed, and copied back.
#pragma once
#include <cstdint>
#include <cstring>

namespace beop::cpu {

// kernel(c, ldc, load): the block at c (row stride ldc), adding to it when load, else overwriting it.
// tmp: BM x BN floats of scratch.
template <int BM, int BN, class Kernel>
inline void run_block(Kernel&& kernel, float* c, int64_t ldc, int rows, int cols, bool load, float* tmp) {
  if (rows == BM && cols == BN) return kernel(c, ldc, load);
  for (int i = 0; i < BM; i++)
    for (int j = 0; j < BN; j++) tmp[i * BN + j] = load && i < rows && j < cols ? c[i * ldc + j] : 0.f;
  kernel(tmp, int64_t(BN), true);
  for (int i = 0; i < rows; i++) std::memcpy(c + i * ldc, tmp + i * BN, size_t(cols) * sizeof(float));
}

}  // namespace beop::cpu
