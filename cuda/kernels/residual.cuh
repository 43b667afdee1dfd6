// Residual add on the GPU: out = a + b (out may alias a or b). Reference: cpu/residual.h. There is no
// backward kernel: the model keeps one residual-stream gradient that branch backward passes add into.
// Tests: tests/test_cuda_kernels.cpp, tests/test_cuda_bf16.cpp.
#pragma once
#include "cuda/kernels/common.cuh"

BEOP_CUDA_NAMESPACE_BEGIN

// out (n) = a (n) + b (n). Grid-stride, one element per thread per step.
template <typename T>
__global__ void residual_forward_kernel(T* out, const T* a, const T* b, int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x)
    out[i] = T(f32(a[i]) + f32(b[i]));
}

template <typename T>
void residual_forward(T* out, const T* a, const T* b, int64_t n, cudaStream_t s = 0) {
  const int block = 256;
  const int grid = int(n / block + 1 < 65536 ? n / block + 1 : 65536);
  BEOP_LAUNCH(residual_forward_kernel<T>, grid, block, 0, s, out, a, b, n);
  BEOP_CUDA_LAUNCHED();
}

BEOP_CUDA_NAMESPACE_END
