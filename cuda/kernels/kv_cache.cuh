// The key/value cache of inference on the GPU (twin of cpu/kv_cache.h): a chunk of Tn new tokens at positions
// pos0 .. pos0+Tn-1 (the prompt for prefill, 1 token per decoding step) stores its rotated k and v into the
// cache (kv_store), then attends causally over cache positions 0 .. pos0+t (attention_cached). The attention
// is the flash forward kernel of attention_flash.cuh (tensor cores for bf16 prefill, attention_flash_tc.cuh)
// pointed at the cache instead of the fused qkv buffer, so there is one attention kernel to keep right.
// Cache layout per layer: k_cache, v_cache (B, Tmax, KV, D) — GQA-native, KV heads only.
// Reference: cpu/kv_cache.h. Tests: tests/test_cuda_kernels.cpp, tests/test_cuda_bf16.cpp,
// tests/test_cuda_model.cpp.
#pragma once
#include "cuda/kernels/attention_flash.cuh"
#include "cuda/kernels/common.cuh"

BEOP_CUDA_NAMESPACE_BEGIN

// k_cache/v_cache (B, Tmax, KV, D) rows pos0 .. pos0+Tn-1 <- k, v of qkv (B, Tn, (H+2KV)*D). One thread per
// element of the KV*D wide rows.
template <typename T>
__global__ void kv_store_kernel(T* k_cache, T* v_cache, const T* qkv, int B, int Tn, int H, int KV, int D, int pos0,
                                int Tmax) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int W = KV * D;
  if (i >= int64_t(B) * Tn * W) return;
  const int e = int(i % W);
  const int64_t bt = i / W;
  const int t = int(bt % Tn), b = int(bt / Tn);
  const T* src = qkv + bt * (H + 2 * KV) * D;
  const int64_t dst = (int64_t(b) * Tmax + pos0 + t) * W + e;
  k_cache[dst] = src[H * D + e];
  v_cache[dst] = src[(H + KV) * D + e];
}

template <typename T>
void kv_store(T* k_cache, T* v_cache, const T* qkv, int B, int Tn, int H, int KV, int D, int pos0, int Tmax,
              cudaStream_t s = 0) {
  BEOP_CHECK(pos0 >= 0 && pos0 + Tn <= Tmax, "kv_store: positions ", pos0, "..", pos0 + Tn - 1,
             " outside the cache of ", Tmax);
  const int block = 256;
  BEOP_LAUNCH(kv_store_kernel<T>, ceil_div(int64_t(B) * Tn * KV * D, block), block, 0, s, k_cache, v_cache, qkv, B,
              Tn, H, KV, D, pos0, Tmax);
  BEOP_CUDA_LAUNCHED();
}

// y (B, Tn, H*D): query t of row b attends to cache positions s <= pos0 + t (cpu/kv_cache.h).
template <typename T>
void attention_cached(T* y, const T* qkv, const T* k_cache, const T* v_cache, int B, int Tn, int H, int KV, int D,
                      int pos0, int Tmax, cudaStream_t s = 0) {
  const int64_t row = int64_t(H + 2 * KV) * D, kvrow = int64_t(KV) * D;
  flash_launch(y, static_cast<float*>(nullptr), qkv, Tn * row, row, k_cache, v_cache, Tmax * kvrow, kvrow, B, Tn, H, KV, D, pos0, s);
}

BEOP_CUDA_NAMESPACE_END
