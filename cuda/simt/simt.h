// The one header a shared kernel file (.cuh) includes. Under nvcc it pulls in the real CUDA headers; under
// the host compiler it pulls in the SIMT runtime (simt_cpu.h), which runs the same kernel source on the CPU
// with one fiber per CUDA thread (see docs/SIMT.md). Either way the kernel file sees the same names:
//   __global__ __device__ __shared__ __constant__ __host__ __forceinline__ __launch_bounds__
//   threadIdx blockIdx blockDim gridDim warpSize dim3
//   __syncthreads[_count|_and|_or] __syncwarp __shfl[_xor|_down|_up]_sync __ballot_sync __any_sync __all_sync
//   atomicAdd/Sub/Max/Min/Exch/CAS/And/Or/Xor, __nv_bfloat16 and its conversions,
//   cudaMalloc/cudaMemcpy/cudaMemset/cudaFree/cudaDeviceSynchronize/cudaGetLastError
// plus two macros that paper over the two pieces of CUDA syntax the host compiler cannot parse:
//   BEOP_LAUNCH(kernel, grid, block, shmem_bytes, stream, args...)   instead of kernel<<<...>>>(args...)
//   BEOP_DYNAMIC_SHARED(T, name);   instead of extern __shared__ T name[];  (name becomes a T*)
// A kernel name with template arguments must be parenthesised: BEOP_LAUNCH((reduce<256, float>), ...).
#pragma once

#if defined(__CUDACC__)

#include <cuda_runtime.h>
#include <cuda_bf16.h>

#define BEOP_LAUNCH(kernel, grid, block, shmem, stream, ...) \
  kernel<<<(grid), (block), (shmem), (stream)>>>(__VA_ARGS__)

// One untyped extern array (templates instantiated with different T would otherwise redeclare the same
// extern __shared__ symbol with different types, which nvcc rejects), viewed as T*. 128-byte aligned (like
// the SIMT runtime's buffer): ldmatrix rows and vector copies need 16-byte aligned addresses.
#define BEOP_DYNAMIC_SHARED(T, name)                                   \
  extern __shared__ __align__(128) unsigned char beop_dynamic_smem_[]; \
  T* name = reinterpret_cast<T*>(beop_dynamic_smem_)

#include <cstdint>

// The SIMT scheduling controls (simt_cpu.h), accepted and ignored on the GPU, where the hardware schedules
// threads: the same test sources (e.g. "bit-identical under three schedules") build with nvcc and then
// check run-to-run determinism on the device.
namespace beop::simt {
enum class Order { Forward, Reverse, Shuffle };
inline void set_order(Order, uint64_t = 0) {}
inline Order order() { return Order::Shuffle; }
inline uint64_t seed() { return 0; }
enum class CopyLanding { AtWait, AtIssue };  // (cuda/simt/cp_async.h; the hardware decides)
inline void set_copy_landing(CopyLanding) {}
inline CopyLanding copy_landing() { return CopyLanding::AtWait; }
}  // namespace beop::simt

#else

#include "cuda/simt/simt_cpu.h"

#endif
