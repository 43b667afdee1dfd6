// Token embedding on the GPU: forward gathers rows, backward adds gradients into the rows used —
// deterministically, with no atomics. Reference: cpu/embedding.h. Tests: tests/test_cuda_kernels.cpp,
// tests/test_cuda_bf16.cpp.
#pragma once
#include "cuda/kernels/common.cuh"

BEOP_CUDA_NAMESPACE_BEGIN

// out (N, C) = emb[tokens[n], :]      emb (Vp, C), tokens (N). One thread per output element.
template <typename T>
__global__ void embedding_forward_kernel(T* out, const int32_t* tokens, const T* emb, int N, int C) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= int64_t(N) * C) return;
  const int64_t n = i / C, c = i % C;
  out[i] = emb[int64_t(tokens[n]) * C + c];
}

// d_emb (Vp, C) += d_out[n, :] into row tokens[n], for every n — deterministically, without atomics, in two
// kernels:
//  1. sort: each chunk of up to kEmbeddingSortChunk tokens is sorted by key (id << 32 | n) with a bitonic
//     sort in one block's shared memory. Keys are unique, so the order is fully determined: by id, and
//     within an id by position n (token order).
//  2. sum: one block per (sorted position, 128 channels). A block whose position starts an id's run adds
//     that run's d_out rows, in token order, to an fp32 copy of the d_emb row and writes it back once; the
//     other blocks exit. Chunks run one launch after another, so two chunks never write a row at once.
// Each element is f32(e) + d_1 + d_2 + ... in token order: for fp32 the very additions of the CPU reference
// (bit-identical to it); for bf16 one rounding per row and chunk instead of one per token. Work is
// parallel over the distinct ids and the channels, not only over C as a single walk over the tokens
// would be (at the 1b preset's C = 2048 that walk ran as 32 blocks, so on at most 32 SMs, each thread
// doing N dependent load-add-stores).
constexpr int kEmbeddingSortChunk = 16384;  // the largest chunk: 128 KiB of keys (sm_80/sm_90 opt-in)
constexpr int kEmbeddingSortThreads = 1024;

__host__ __device__ inline int next_pow2(int n) {
  int p = 1;
  while (p < n) p *= 2;
  return p;
}

// grid (⌈N/chunk⌉), kEmbeddingSortThreads threads, next_pow2(chunk) * 8 bytes of shared memory.
// sorted[n0 .. n0 + count) <- the keys of tokens n0 .. n0 + count, sorted; n0 = blockIdx.x * chunk.
template <int UNUSED = 0>  // a template, so that this header can be included by several translation units
__global__ void embedding_sort_kernel(uint64_t* sorted, const int32_t* tokens, int N, int chunk) {
  BEOP_DYNAMIC_SHARED(uint64_t, keys);
  const int n0 = blockIdx.x * chunk, count = N - n0 < chunk ? N - n0 : chunk, P = next_pow2(count);
  for (int i = threadIdx.x; i < P; i += blockDim.x)
    keys[i] = i < count ? (uint64_t(uint32_t(tokens[n0 + i])) << 32) | uint32_t(n0 + i) : ~uint64_t(0);
  __syncthreads();
  for (int size = 2; size <= P; size *= 2)      // bitonic sort, ascending
    for (int stride = size / 2; stride > 0; stride /= 2) {
      for (int i = threadIdx.x; i < P; i += blockDim.x) {
        const int j = i ^ stride;
        if (j > i) {
          const bool up = (i & size) == 0;
          const uint64_t a = keys[i], b = keys[j];
          if ((a > b) == up) keys[i] = b, keys[j] = a;
        }
      }
      __syncthreads();
    }
  for (int i = threadIdx.x; i < count; i += blockDim.x) sorted[n0 + i] = keys[i];
}

// grid (⌈C/128⌉, count), 128 threads: the runs of one sorted chunk (sorted points at its first key).
template <typename T>
__global__ void embedding_backward_runs_kernel(T* d_emb, const T* d_out, const uint64_t* sorted, int count, int C) {
  const int i = blockIdx.y, c = blockIdx.x * blockDim.x + threadIdx.x;
  const uint32_t id = uint32_t(sorted[i] >> 32);
  if (c >= C || (i > 0 && uint32_t(sorted[i - 1] >> 32) == id)) return;  // not the start of id's run
  int end = i + 1;  // the run is sorted[i, end)
  while (end < count && uint32_t(sorted[end] >> 32) == id) end++;
  T& e = d_emb[int64_t(id) * C + c];
  float acc = f32(e);
  for (int j0 = i; j0 < end; j0 += 8) {  // 8 loads in flight, then 8 additions in token order
    float v[8];
    BEOP_UNROLL
    for (int k = 0; k < 8; k++) v[k] = j0 + k < end ? f32(d_out[int64_t(uint32_t(sorted[j0 + k])) * C + c]) : 0.0f;
    BEOP_UNROLL
    for (int k = 0; k < 8; k++)
      if (j0 + k < end) acc += v[k];
  }
  e = T(acc);
}

// Bytes of device scratch embedding_backward needs for N tokens: one 8-byte key per token.
inline size_t embedding_backward_scratch_bytes(int N) { return size_t(N) * sizeof(uint64_t); }

template <typename T>
void embedding_forward(T* out, const int32_t* tokens, const T* emb, int N, int C, cudaStream_t s = 0) {
  const int block = 256;
  BEOP_LAUNCH(embedding_forward_kernel<T>, ceil_div(int64_t(N) * C, block), block, 0, s, out, tokens, emb, N, C);
  BEOP_CUDA_LAUNCHED();
}

// The largest chunk the device's shared memory holds (16,384 on sm_80/sm_90; 8,192 on sm_86/sm_89's 99 KiB),
// with the sort kernel opted in to it. Once per process: beop runs one device per process.
inline int embedding_sort_max_chunk() {
  static const int max_chunk = [] {
    int c = kEmbeddingSortChunk;
    while (c > 1 && c * sizeof(uint64_t) > device_smem_optin_bytes()) c /= 2;
    BEOP_CUDA_CHECK(cudaFuncSetAttribute(embedding_sort_kernel<>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         int(c * sizeof(uint64_t))));
    return c;
  }();
  return max_chunk;
}

// keys: embedding_backward_scratch_bytes(N) of device memory. chunk: tokens sorted per block, 0 = the largest
// the device allows (tests pass small chunks to exercise the multi-chunk path).
template <typename T>
void embedding_backward(T* d_emb, const T* d_out, const int32_t* tokens, int N, int C, uint64_t* keys,
                        cudaStream_t s = 0, int chunk = 0) {
  const int max_chunk = embedding_sort_max_chunk();
  if (chunk == 0) chunk = max_chunk;
  BEOP_CHECK(chunk >= 1 && chunk <= max_chunk, "embedding_backward: chunk ", chunk, " not in [1, ", max_chunk,
             "]");
  if (N <= 0) return;
  const size_t smem = size_t(next_pow2(chunk < N ? chunk : N)) * sizeof(uint64_t);
  BEOP_LAUNCH(embedding_sort_kernel<>, ceil_div(N, chunk), kEmbeddingSortThreads, smem, s, keys, tokens, N, chunk);
  BEOP_CUDA_LAUNCHED();
  for (int n0 = 0; n0 < N; n0 += chunk) {
    const int count = N - n0 < chunk ? N - n0 : chunk;
    BEOP_LAUNCH(embedding_backward_runs_kernel<T>, dim3(ceil_div(C, 128), count), 128, 0, s, d_emb, d_out, keys + n0,
                count, C);
    BEOP_CUDA_LAUNCHED();
  }
}

BEOP_CUDA_NAMESPACE_END
