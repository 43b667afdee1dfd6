// Optimizer kernels on the GPU: AdamW on fp32 master weights and moments, in-place scaling (gradient
// clipping), and the deterministic reductions sum / sum of squares (fixed-size chunks, partials summed in a
// fixed order, in double). Reference: cpu/adamw.h (and CpuOps::sum). Tests: tests/test_cuda_kernels.cpp.
#pragma once
#include "common.cuh"

namespace beop::cuda {

// One AdamW step, element-wise (the torch.optim.AdamW update, cpu/adamw.h):
//   p = p * (1 - lr wd) - lr * (m / bc1) / (sqrt(v) / sqrt(bc2) + eps),  m, v updated first.
// decay, ibc1 = 1/bc1, isbc2 = 1/sqrt(bc2) are computed once on the host, in double, as in the reference.
template <typename T>
__global__ void adamw_kernel(T* p, const T* g, T* m, T* v, int64_t n, T lr, T b1, T b2, T eps, T decay, T ibc1,
                             T isbc2) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    const T gi = g[i];
    const T mi = m[i] = b1 * m[i] + (T(1) - b1) * gi;
    const T vi = v[i] = b2 * v[i] + (T(1) - b2) * gi * gi;
    p[i] = p[i] * decay - lr * (mi * ibc1) / (sqrtf(vi) * isbc2 + eps);
  }
}

// x (n) *= s. Grid-stride.
template <typename T>
__global__ void scale_kernel(T* x, int64_t n, T s) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x)
    x[i] *= s;
}

// Elements per partial of the reductions: a constant, so the grouping (and the bits of the result) does not
// depend on the GPU. Blocks of kReduceThreads threads.
constexpr int kReduceChunk = 4096;
constexpr int kReduceThreads = 256;

// Stage 1: partial[k] = sum over chunk k of x (SQUARE: of x^2), in double. One block per chunk; thread j
// adds elements j, j + 256, ... of the chunk in order, then a fixed block tree.
template <typename T, bool SQUARE>
__global__ void reduce_partial_kernel(double* partial, const T* x, int64_t n) {
  __shared__ double buf[32];
  const int64_t c0 = int64_t(blockIdx.x) * kReduceChunk;
  const int64_t c1 = c0 + kReduceChunk < n ? c0 + kReduceChunk : n;
  double s = 0;
  for (int64_t i = c0 + threadIdx.x; i < c1; i += blockDim.x) {
    const double xi = double(x[i]);
    s += SQUARE ? xi * xi : xi;
  }
  s = block_sum(s, buf);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// Stage 2: out[0] = sum of partial (K), one block, same fixed pattern.
template <int UNUSED = 0>
__global__ void reduce_final_kernel(double* out, const double* partial, int64_t K) {
  __shared__ double buf[32];
  double s = 0;
  for (int64_t k = threadIdx.x; k < K; k += blockDim.x) s += partial[k];
  s = block_sum(s, buf);
  if (threadIdx.x == 0) out[0] = s;
}

// Scratch doubles reduce() needs: one per chunk, plus one for the result.
inline size_t reduce_scratch(int64_t n) { return size_t(n / kReduceChunk + 2); }

// Returns sum x (square = false) or sum x^2 (square = true) over n elements, in double; deterministic.
// scratch: reduce_scratch(n) doubles of device memory.
template <typename T>
double reduce(const T* x, int64_t n, bool square, double* scratch, cudaStream_t s = 0) {
  if (n <= 0) return 0.0;
  const int64_t K = (n + kReduceChunk - 1) / kReduceChunk;
  if (square)
    BEOP_LAUNCH((reduce_partial_kernel<T, true>), int(K), kReduceThreads, 0, s, scratch + 1, x, n);
  else
    BEOP_LAUNCH((reduce_partial_kernel<T, false>), int(K), kReduceThreads, 0, s, scratch + 1, x, n);
  BEOP_CUDA_LAUNCHED();
  BEOP_LAUNCH(reduce_final_kernel<0>, 1, kReduceThreads, 0, s, scratch, scratch + 1, K);
  BEOP_CUDA_LAUNCHED();
  double out = 0;
  BEOP_CUDA_CHECK(cudaMemcpyAsync(&out, scratch, sizeof(double), cudaMemcpyDeviceToHost, s));
  BEOP_CUDA_CHECK(cudaStreamSynchronize(s));
  return out;
}

inline int elementwise_grid(int64_t n, int block) { return int(n / block + 1 < 65536 ? n / block + 1 : 65536); }

template <typename T>
void scale(T* x, int64_t n, T s_, cudaStream_t s = 0) {
  BEOP_LAUNCH(scale_kernel<T>, elementwise_grid(n, 256), 256, 0, s, x, n, s_);
  BEOP_CUDA_LAUNCHED();
}

// Same arguments and arithmetic as cpu::adamw_update.
template <typename T>
void adamw_update(T* p, const T* g, T* m, T* v, int64_t n, double lr, double b1, double b2, double eps, double wd,
                  long t, cudaStream_t s = 0) {
  const double bc1 = 1.0 - std::pow(b1, double(t)), bc2 = 1.0 - std::pow(b2, double(t));
  BEOP_LAUNCH(adamw_kernel<T>, elementwise_grid(n, 256), 256, 0, s, p, g, m, v, n, T(lr), T(b1), T(b2), T(eps),
              T(1.0 - lr * wd), T(1.0 / bc1), T(1.0 / std::sqrt(bc2)));
  BEOP_CUDA_LAUNCHED();
}

}  // namespace beop::cuda
