// Helpers shared by the beop CUDA kernels (compiled by nvcc for the GPU and by g++ through cuda/simt):
// error checking, ceil-div, and warp / block reductions with a FIXED order (so every reduction in beop is
// deterministic: the same inputs and launch shape give the same bits on every run).
#pragma once
#include <cmath>
#include <cstdint>

#include "cuda/namespace.h"
#include "cuda/simt/simt.h"
#include "src/common.h"

BEOP_CUDA_NAMESPACE_BEGIN

constexpr unsigned kFullMask = 0xffffffffu;

// `#pragma unroll` for both compilers (g++ warns about the CUDA spelling).
#if defined(__CUDACC__)
#define BEOP_UNROLL _Pragma("unroll")
#else
#define BEOP_UNROLL _Pragma("GCC unroll 8")
#endif

// Throws beop::Error naming the failed call and CUDA's message.
#define BEOP_CUDA_CHECK(expr)                                                                      \
  do {                                                                                             \
    cudaError_t beop_cuda_err_ = (expr);                                                           \
    if (beop_cuda_err_ != cudaSuccess)                                                             \
      ::beop::fail("CUDA error ", cudaGetErrorString(beop_cuda_err_), " in ", #expr, " at ",       \
                   __FILE__, ":", __LINE__);                                                       \
  } while (0)

// After a launch: on the GPU, reports a bad configuration; under SIMT launches throw by themselves.
#define BEOP_CUDA_LAUNCHED() BEOP_CUDA_CHECK(cudaGetLastError())

inline int ceil_div(int64_t a, int64_t b) { return int((a + b - 1) / b); }

// The largest dynamic shared memory a block may opt in to on the process's device (beop runs one device per
// process): 227 KiB on sm_90, 163 KiB on sm_80, 99 KiB on sm_86/sm_89. Under SIMT: the runtime's own limit,
// sm_90's.
inline size_t device_smem_optin_bytes() {
#if defined(__CUDACC__)
  static const size_t limit = [] {
    int dev = 0, v = 0;
    BEOP_CUDA_CHECK(cudaGetDevice(&dev));
    BEOP_CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    return size_t(v);
  }();
  return limit;
#else
  return size_t(227) * 1024;
#endif
}

// Storage type vs arithmetic type: every kernel stores T (float or __nv_bfloat16) and computes in float —
// loads through f32(), stores through T(float) (round to nearest even for bf16, the identity for float). So
// the fp32 instantiations do exactly the arithmetic they did before bf16 existed, and the bf16 ones
// accumulate every reduction (norms, softmax, loss, bias/dw sums) in fp32.
template <typename T>
__host__ __device__ __forceinline__ float f32(T x) {
  return static_cast<float>(x);
}

// Sum / max over the 32 lanes of a warp, result in every lane (XOR butterfly: the same tree in every lane).
template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(kFullMask, v, off);
  return v;
}
template <typename T>
__device__ __forceinline__ T warp_max(T v) {
  for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(kFullMask, v, off));
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024), result returned to EVERY thread. `buf`
// is 32 elements of shared memory owned by the caller; the two barriers make the helper safe to call
// several times in a row with the same buffer. Order: warp butterflies, then warp partials in warp order.
template <typename T>
__device__ __forceinline__ T block_sum(T v, T* buf) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
  v = warp_sum(v);
  __syncthreads();  // buf may still be read by a previous call
  if (lane == 0) buf[warp] = v;
  __syncthreads();
  v = lane < nwarps ? buf[lane] : T(0);
  return warp_sum(v);
}
template <typename T>
__device__ __forceinline__ T block_max(T v, T* buf) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) buf[warp] = v;
  __syncthreads();
  v = lane < nwarps ? buf[lane] : T(-INFINITY);
  return warp_max(v);
}

BEOP_CUDA_NAMESPACE_END
