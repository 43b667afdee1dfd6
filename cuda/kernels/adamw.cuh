// Optimizer kernels on the GPU: AdamW on fp32 master weights and moments, in-place scaling (gradient
// clipping), and the deterministic reductions sum / sum of squares (fixed-size chunks, partials summed in a
// fixed order, in double). Reference: cpu/adamw.h (and CpuOps::sum). Tests: tests/test_cuda_kernels.cpp,
// tests/test_cuda_bf16.cpp (the mixed-precision step).
#pragma once
#include <cstring>

#include "cuda/kernels/common.cuh"

BEOP_CUDA_NAMESPACE_BEGIN

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
__global__ void scale_kernel(T* x, int64_t n, float s) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x)
    x[i] = T(f32(x[i]) * s);
}

// ---- bf16 mixed precision ------------------------------------------------------------------------------------
// Stochastic rounding of x to bf16 with 16 random bits r: add r to the 16 bits that bf16 drops, then
// truncate. x rounds up to the next bf16 value with probability (dropped bits) / 2^16 — exactly its distance
// from the lower neighbour in units of the gap — so E[round(x)] = x (unbiased, up to the 2^-16 resolution of r).
// Non-finite x rounds to nearest (NaN stays NaN). Same bits on the GPU and under SIMT.
__host__ __device__ __forceinline__ __nv_bfloat16 bf16_round_stochastic(float x, uint32_t r) {
  uint32_t u;
  memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) == 0x7f800000u) return __float2bfloat16(x);
  u += r & 0xffffu;
  return __ushort_as_bfloat16(static_cast<unsigned short>(u >> 16));
}

// The random bits of element idx at a given step: the splitmix64 finaliser of (seed, idx) — a counter-based
// generator, so every element's bits are fixed by (seed, step, global element index) alone, whatever the
// launch shape, schedule or GPU. The caller derives seed from the run seed and the optimizer step.
__host__ __device__ __forceinline__ uint32_t sr_bits(uint64_t seed, uint64_t idx) {
  uint64_t z = seed + (idx + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return uint32_t((z ^ (z >> 31)) >> 16);
}

// AdamW on fp32 master weights with bf16 gradients, fp32 moments, and the bf16 working copy of the weights
// (what the GEMMs read) written from the new master value with stochastic rounding. idx0 = the tensor's
// offset in the parameter layout, so an element's random bits do not depend on how tensors are launched.
template <typename P>
__global__ void adamw_mixed_kernel(float* master, P* p, const P* g, float* m, float* v, int64_t n, float lr, float b1,
                                   float b2, float eps, float decay, float ibc1, float isbc2, uint64_t seed,
                                   uint64_t idx0) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    const float gi = f32(g[i]);
    const float mi = m[i] = b1 * m[i] + (1.0f - b1) * gi;
    const float vi = v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
    const float w = master[i] = master[i] * decay - lr * (mi * ibc1) / (sqrtf(vi) * isbc2 + eps);
    p[i] = bf16_round_stochastic(w, sr_bits(seed, idx0 + uint64_t(i)));
  }
}

// out (n) = round-to-nearest(in) (e.g. fp32 master -> bf16 copy after a checkpoint is loaded). Grid-stride.
template <typename S, typename D>
__global__ void convert_kernel(D* out, const S* in, int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x)
    out[i] = D(f32(in[i]));
}

// Test hook: out[i] = bf16_round_stochastic(x, sr_bits(seed, i)) for i < n (the unbiasedness test).
template <int UNUSED = 0>
__global__ void sr_sample_kernel(__nv_bfloat16* out, float x, int64_t n, uint64_t seed) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x)
    out[i] = bf16_round_stochastic(x, sr_bits(seed, uint64_t(i)));
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
    const double xi = double(f32(x[i]));
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
void scale(T* x, int64_t n, float s_, cudaStream_t s = 0) {
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

// The mixed-precision step (adamw_mixed_kernel); the same host-side constants as adamw_update. seed: see
// sr_seed(). idx0: the tensor's offset in the parameter layout.
template <typename P>
void adamw_update_mixed(float* master, P* p, const P* g, float* m, float* v, int64_t n, double lr, double b1,
                        double b2, double eps, double wd, long t, uint64_t seed, uint64_t idx0, cudaStream_t s = 0) {
  const double bc1 = 1.0 - std::pow(b1, double(t)), bc2 = 1.0 - std::pow(b2, double(t));
  BEOP_LAUNCH(adamw_mixed_kernel<P>, elementwise_grid(n, 256), 256, 0, s, master, p, g, m, v, n, float(lr), float(b1),
              float(b2), float(eps), float(1.0 - lr * wd), float(1.0 / bc1), float(1.0 / std::sqrt(bc2)), seed, idx0);
  BEOP_CUDA_LAUNCHED();
}

// Seed of the stochastic rounding at optimizer step t: a fixed function of (run seed, t), so a resumed run
// draws the same bits as an uninterrupted one.
inline uint64_t sr_seed(uint64_t run_seed, long t) {
  uint64_t z = run_seed * 0xD1B54A32D192ED03ull + uint64_t(t) * 0x9E3779B97F4A7C15ull + 0x5EEDull;
  z = (z ^ (z >> 33)) * 0xFF51AFD7ED558CCDull;
  return z ^ (z >> 29);
}

template <typename S, typename D>
void convert(D* out, const S* in, int64_t n, cudaStream_t s = 0) {
  if (n <= 0) return;
  BEOP_LAUNCH((convert_kernel<S, D>), elementwise_grid(n, 256), 256, 0, s, out, in, n);
  BEOP_CUDA_LAUNCHED();
}

BEOP_CUDA_NAMESPACE_END
