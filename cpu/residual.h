// Residual connection: out = a + b.
// Backward: both branches receive d_out unchanged, so there is no kernel — the model graph keeps one
// residual-stream gradient (d_resid) that the branch backward passes add into (see src/transformer.h).
// CUDA: cuda/kernels/residual.cuh. Tests: tests/test_ops.cpp, tests/test_cuda_kernels.cpp,
// tests/test_cuda_bf16.cpp.
#pragma once
#include <cstdint>

namespace beop::cpu {

// out (n) = a (n) + b (n); out may alias b.
template <typename T>
void residual_forward(T* out, const T* a, const T* b, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

}  // namespace beop::cpu
