// Example kernels written once for nvcc and the CPU SIMT runtime (cuda/simt): reductions through shared
// memory and warp shuffles, a ballot, atomics, dynamic shared memory, a grid-stride loop, a 3-D grid, bf16
// conversion. They exist to test the runtime (tests/test_simt.cpp) and to prove the shared source compiles
// for sm_80/sm_90 (cuda/simt/example_check.cu).
//
// Planted bugs: defining BEOP_EXAMPLE_PLANT_BUGS before including this file compiles the same kernels with
// (a) the __syncthreads() between writing shared memory and reading other threads' entries removed,
// (b) a butterfly whose XOR partners run 8,4,2,1,0 instead of 16,8,4,2,1 (the last step adds the lane to
//     itself, and the two half-warps never meet),
// (c) a shfl_down reduction that starts at offset 32 (out of range: every lane adds its own value).
// The kernels live in namespace BEOP_EXAMPLE_NS (default beop_example) so that a test can include this file
// twice, once per variant. No include guard, on purpose.
#include "cuda/simt/simt.h"

#ifndef BEOP_EXAMPLE_NS
#define BEOP_EXAMPLE_NS beop_example
#endif

#ifdef BEOP_EXAMPLE_PLANT_BUGS
#define BEOP_EXAMPLE_SYNC() ((void)0)
#define BEOP_EXAMPLE_XOR_PARTNER(off) ((off) >> 1)
#define BEOP_EXAMPLE_DOWN_FIRST 32
#else
#define BEOP_EXAMPLE_SYNC() __syncthreads()
#define BEOP_EXAMPLE_XOR_PARTNER(off) (off)
#define BEOP_EXAMPLE_DOWN_FIRST 16
#endif

namespace BEOP_EXAMPLE_NS {

constexpr unsigned kFullMask = 0xffffffffu;

// Sum of v over the 32 lanes of a warp, in every lane (XOR butterfly).
template <typename T>
__device__ __forceinline__ T warp_sum_xor(T v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(kFullMask, v, BEOP_EXAMPLE_XOR_PARTNER(off));
  return v;
}

// Sum of v over the 32 lanes of a warp, in lane 0 (tree with shfl_down).
template <typename T>
__device__ __forceinline__ T warp_sum_down(T v) {
  for (int off = BEOP_EXAMPLE_DOWN_FIRST; off > 0; off >>= 1) v += __shfl_down_sync(kFullMask, v, off);
  return v;
}

// partial[blockIdx.x] = sum of x over the elements this block visits (grid-stride).
// x: [n] float, partial: [gridDim.x] float. BLOCK: threads per block, a power of two.
template <int BLOCK>
__global__ void block_sum_smem(const float* x, int n, float* partial) {
  __shared__ float buf[BLOCK];
  int tid = threadIdx.x;
  float v = 0.0f;
  for (int i = blockIdx.x * BLOCK + tid; i < n; i += BLOCK * gridDim.x) v += x[i];
  buf[tid] = v;
  BEOP_EXAMPLE_SYNC();  // every thread's entry must be written before anyone reads buf[tid + s]
  for (int s = BLOCK / 2; s > 0; s >>= 1) {
    if (tid < s) buf[tid] += buf[tid + s];
    __syncthreads();
  }
  if (tid == 0) partial[blockIdx.x] = buf[0];
}

// out[w] = sum of x[32*w .. 32*w+31] for each warp w of the grid, by XOR butterfly (every lane holds the
// total; lane `w % 32` writes it, so a wrong value in any lane can show). x: [32*warps], out: [warps].
template <typename T>
__global__ void warp_sums_xor(const T* x, T* out) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  int warp = i / 32, lane = i % 32;
  T v = warp_sum_xor(x[i]);
  if (lane == warp % 32) out[warp] = v;
}

// Same with shfl_down; lane 0 holds the total.
template <typename T>
__global__ void warp_sums_down(const T* x, T* out) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  T v = warp_sum_down(x[i]);
  if (i % 32 == 0) out[i / 32] = v;
}

// Whole-array sum: grid-stride loop, warp butterfly, one partial per warp in dynamic shared memory
// (blockDim.x / 32 floats), then one atomicAdd per block. blockDim.x must be a multiple of 32.
__device__ inline void sum_all_body(const float* x, int n, float* total) {
  BEOP_DYNAMIC_SHARED(float, warp_partials);  // [blockDim.x / 32]
  float v = 0.0f;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) v += x[i];
  v = warp_sum_xor(v);
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) warp_partials[warp] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    float s = 0.0f;
    for (int w = 0; w < int(blockDim.x / 32); w++) s += warp_partials[w];
    atomicAdd(total, s);
  }
}
template <int UNUSED = 0>
__global__ void sum_all(const float* x, int n, float* total) {
  sum_all_body(x, n, total);
}

// bits[w] = ballot over warp w of (x[i] > 0). x: [32*warps] float, bits: [warps].
template <int UNUSED = 0>
__global__ void positive_ballot(const float* x, unsigned* bits) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  unsigned b = __ballot_sync(kFullMask, x[i] > 0.0f);
  if (i % 32 == 0) bits[i / 32] = b;
}

// Atomics from every thread of the grid: count[0] += 1 (int), fsum[0] += 1 (float), max[0] = max(tid),
// and a CAS loop that keeps the maximum of the global thread ids in cas_max[0].
template <int UNUSED = 0>
__global__ void atomics(int* count, float* fsum, int* max_id, int* cas_max) {
  int id = blockIdx.x * blockDim.x + threadIdx.x;
  atomicAdd(count, 1);
  atomicAdd(fsum, 1.0f);
  atomicMax(max_id, id);
  int old = *cas_max;
  while (old < id) {
    int seen = atomicCAS(cas_max, old, id);
    if (seen == old) break;
    old = seen;
  }
}

// y[i] = a * x[i] + y[i] with a grid-stride loop; hits[i] counts visits (must end as exactly 1).
template <int UNUSED = 0>
__global__ void saxpy_stride(int n, float a, const float* x, float* y, int* hits) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
    y[i] = a * x[i] + y[i];
    atomicAdd(&hits[i], 1);
  }
}

// Every thread of a 3-D grid of 3-D blocks records who it is at its global linear id:
// rec[gid * 4 + {0,1,2,3}] = {threadIdx packed, blockIdx packed, blockDim packed, gridDim packed},
// packed as x | y << 8 | z << 16 (all dims < 256 in the tests).
template <int UNUSED = 0>
__global__ void whoami(unsigned* rec) {
  unsigned tpb = blockDim.x * blockDim.y * blockDim.z;
  unsigned block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  unsigned thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  unsigned gid = block * tpb + thread;
  rec[gid * 4 + 0] = threadIdx.x | threadIdx.y << 8 | threadIdx.z << 16;
  rec[gid * 4 + 1] = blockIdx.x | blockIdx.y << 8 | blockIdx.z << 16;
  rec[gid * 4 + 2] = blockDim.x | blockDim.y << 8 | blockDim.z << 16;
  rec[gid * 4 + 3] = gridDim.x | gridDim.y << 8 | gridDim.z << 16;
}

// Fills `count` floats of dynamic shared memory with their index, then thread 0 sums them into out[block].
// Also records what each block read first from the dynamic shared memory (before any write) in first[block].
template <int UNUSED = 0>
__global__ void smem_fill(int count, float* out, unsigned* first) {
  BEOP_DYNAMIC_SHARED(float, s);  // [count]
  if (threadIdx.x == 0) first[blockIdx.x] = reinterpret_cast<unsigned*>(s)[0];
  __syncthreads();
  for (int i = threadIdx.x; i < count; i += blockDim.x) s[i] = float(i);
  __syncthreads();
  if (threadIdx.x == 0) {
    float t = 0.0f;
    for (int i = 0; i < count; i++) t += s[i];
    out[blockIdx.x] = t;
  }
}

// y[i] = bf16(x[i]) (round to nearest even), back[i] = float(y[i]). Grid-stride.
template <int UNUSED = 0>
__global__ void to_bf16(const float* x, int n, __nv_bfloat16* y, float* back) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
    y[i] = __float2bfloat16(x[i]);
    back[i] = __bfloat162float(y[i]);
  }
}

}  // namespace BEOP_EXAMPLE_NS

#undef BEOP_EXAMPLE_SYNC
#undef BEOP_EXAMPLE_XOR_PARTNER
#undef BEOP_EXAMPLE_DOWN_FIRST
#undef BEOP_EXAMPLE_NS
