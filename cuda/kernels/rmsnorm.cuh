// RMSNorm (Llama) on the GPU: y = x / sqrt(mean(x^2) + eps) * w. Reference: cpu/rmsnorm.h.
// Tests: tests/test_cuda_kernels.cpp, tests/test_cuda_bf16.cpp.
#pragma once
#include "cuda/kernels/common.cuh"

BEOP_CUDA_NAMESPACE_BEGIN

// Rows per chunk of the two-stage dweight reduction. A constant (not derived from the GPU), so the order
// of additions — and the bits of dweight — are the same on every device and run.
constexpr int kRmsDwRows = 256;

// Threads per row-block: a multiple of 32, at most 256, not much more than C.
inline int rmsnorm_block(int C) { return C >= 256 ? 256 : (C + 31) / 32 * 32; }

// out (N, C), rstd (N);  x (N, C), w (C). One block per row: block-reduce sum(x^2), then scale.
template <typename T>
__global__ void rmsnorm_forward_kernel(T* out, T* rstd, const T* x, const T* w, int N, int C, float eps) {
  __shared__ float buf[32];
  const int64_t n = blockIdx.x;
  const T* xr = x + n * C;
  float ss = 0;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    const float v = f32(xr[c]);
    ss += v * v;
  }
  ss = block_sum(ss, buf);
  const float r = 1.0f / sqrtf(ss / C + eps);
  if (threadIdx.x == 0) rstd[n] = T(r);
  T* o = out + n * C;
  for (int c = threadIdx.x; c < C; c += blockDim.x) o[c] = T(f32(xr[c]) * r * f32(w[c]));
}

// dx (N, C) += rstd * (g - xhat * mean(g * xhat)) with g = dout * w, xhat = x * rstd. One block per row.
template <typename T>
__global__ void rmsnorm_backward_dx_kernel(T* dx, const T* dout, const T* x, const T* w, const T* rstd, int N,
                                           int C) {
  __shared__ float buf[32];
  const int64_t n = blockIdx.x;
  const T* xr = x + n * C;
  const T* dr = dout + n * C;
  const float r = f32(rstd[n]);
  float dot = 0;
  for (int c = threadIdx.x; c < C; c += blockDim.x) dot += f32(dr[c]) * f32(w[c]) * f32(xr[c]) * r;
  dot = block_sum(dot, buf);
  const float mean_dot = dot / C;
  T* dxr = dx + n * C;
  for (int c = threadIdx.x; c < C; c += blockDim.x)
    dxr[c] = T(f32(dxr[c]) + r * (f32(dr[c]) * f32(w[c]) - f32(xr[c]) * r * mean_dot));
}

// Stage 1 of dw: partial (K, C), partial[k, c] = sum over rows n of chunk k (in order) of dout * xhat.
// grid (ceil(C / blockDim.x), K): adjacent threads read adjacent channels of a row (coalesced).
template <typename T>
__global__ void rmsnorm_dw_partial_kernel(float* partial, const T* dout, const T* x, const T* rstd, int N, int C) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  const int n0 = blockIdx.y * kRmsDwRows, n1 = n0 + kRmsDwRows < N ? n0 + kRmsDwRows : N;
  float acc = 0;
  for (int n = n0; n < n1; n++) acc += f32(dout[int64_t(n) * C + c]) * f32(x[int64_t(n) * C + c]) * f32(rstd[n]);
  partial[int64_t(blockIdx.y) * C + c] = acc;
}

// Stage 2: dw (C) += sum over k in order of partial[k, c]. One thread per channel.
template <typename T>
__global__ void rmsnorm_dw_final_kernel(T* dw, const float* partial, int K, int C) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  float acc = 0;
  for (int k = 0; k < K; k++) acc += partial[int64_t(k) * C + c];
  dw[c] = T(f32(dw[c]) + acc);
}

template <typename T>
void rmsnorm_forward(T* out, T* rstd, const T* x, const T* w, int N, int C, float eps, cudaStream_t s = 0) {
  BEOP_LAUNCH(rmsnorm_forward_kernel<T>, N, rmsnorm_block(C), 0, s, out, rstd, x, w, N, C, eps);
  BEOP_CUDA_LAUNCHED();
}

// Scratch floats rmsnorm_backward needs: ceil(N / kRmsDwRows) * C.
inline size_t rmsnorm_backward_scratch(int N, int C) { return size_t(ceil_div(N, kRmsDwRows)) * C; }

// dx (N, C) += d/dx,  dw (C) += d/dw. scratch: rmsnorm_backward_scratch(N, C) floats (fp32 partials).
template <typename T>
void rmsnorm_backward(T* dx, T* dw, const T* dout, const T* x, const T* w, const T* rstd, int N, int C, float* scratch,
                      cudaStream_t s = 0) {
  BEOP_LAUNCH(rmsnorm_backward_dx_kernel<T>, N, rmsnorm_block(C), 0, s, dx, dout, x, w, rstd, N, C);
  BEOP_CUDA_LAUNCHED();
  const int K = ceil_div(N, kRmsDwRows), block = 128;
  BEOP_LAUNCH(rmsnorm_dw_partial_kernel<T>, dim3(ceil_div(C, block), K), block, 0, s, scratch, dout, x, rstd, N, C);
  BEOP_CUDA_LAUNCHED();
  BEOP_LAUNCH(rmsnorm_dw_final_kernel<T>, ceil_div(C, block), block, 0, s, dw, scratch, K, C);
  BEOP_CUDA_LAUNCHED();
}

BEOP_CUDA_NAMESPACE_END
