// Bias add of a linear layer (Qwen2's q/k/v projections): out (N, OC) += b (OC).
// CUDA: cuda/kernels/bias.cuh. Tests: tests/test_model.cpp (its Qwen2 gradient check is the CPU check: there is
// no bias unit test), tests/test_cuda_kernels.cpp, tests/test_cuda_bf16.cpp.
#pragma once
#include <cstdint>

namespace beop::cpu {

template <typename T>
void bias_forward(T* out, const T* b, int N, int OC) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++)
    for (int o = 0; o < OC; o++) out[int64_t(n) * OC + o] += b[o];
}

// db (OC) += sum_n dout[n, :]; threads split the columns, each summing rows in order (deterministic).
template <typename T>
void bias_backward(T* db, const T* dout, int N, int OC) {
#pragma omp parallel for schedule(static)
  for (int o = 0; o < OC; o++) {
    T s = 0;
    for (int n = 0; n < N; n++) s += dout[int64_t(n) * OC + o];
    db[o] += s;
  }
}

}  // namespace beop::cpu
