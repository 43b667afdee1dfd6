// The CUDA host runtime API of the SIMT runtime (declared in host_api.h): "device" memory is host
// memory, launches have finished when they return, and errors are recorded for cudaGetLastError.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "cuda/simt/host_api.h"

// "Device" allocations are host allocations, remembered so that cudaFree of a foreign pointer is an error
// (as on a GPU) rather than heap corruption.
namespace {
std::mutex g_alloc_mu;
std::unordered_map<void*, size_t>& allocations() {
  static std::unordered_map<void*, size_t> m;
  return m;
}
thread_local cudaError_t t_last_error = cudaSuccess;
cudaError_t record(cudaError_t e) {
  if (e != cudaSuccess) t_last_error = e;
  return e;
}
}  // namespace

cudaError_t cudaMalloc(void** p, size_t bytes) {
  if (!p) return record(cudaErrorInvalidValue);
  // 256-byte alignment, as cudaMalloc guarantees; a zero-byte request still gets a unique pointer.
  size_t n = (std::max<size_t>(bytes, 1) + 255) / 256 * 256;
  void* m = std::aligned_alloc(256, n);
  if (!m) return record(cudaErrorMemoryAllocation);
  std::lock_guard<std::mutex> lock(g_alloc_mu);
  allocations()[m] = bytes;
  *p = m;
  return cudaSuccess;
}
cudaError_t cudaMallocHost(void** p, size_t bytes) { return cudaMalloc(p, bytes); }
cudaError_t cudaFree(void* p) {
  if (!p) return cudaSuccess;
  std::lock_guard<std::mutex> lock(g_alloc_mu);
  auto it = allocations().find(p);
  if (it == allocations().end()) return record(cudaErrorInvalidDevicePointer);
  allocations().erase(it);
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaFreeHost(void* p) { return cudaFree(p); }
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (int(kind) < 0 || int(kind) > 4 || (bytes && (!dst || !src))) return record(cudaErrorInvalidValue);
  if (bytes) std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t) {
  return cudaMemcpy(dst, src, bytes, kind);
}
cudaError_t cudaMemset(void* p, int value, size_t bytes) {
  if (bytes && !p) return record(cudaErrorInvalidValue);
  if (bytes) std::memset(p, value, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t) { return cudaMemset(p, value, bytes); }
// Launches complete before BEOP_LAUNCH returns, so there is never anything to wait for.
cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamCreate(cudaStream_t* s) {
  if (!s) return record(cudaErrorInvalidValue);
  *s = nullptr;
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaGetLastError() {
  cudaError_t e = t_last_error;
  t_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return t_last_error; }
cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return record(cudaErrorInvalidValue);
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  if (!free_bytes || !total_bytes) return record(cudaErrorInvalidValue);
  const long page = sysconf(_SC_PAGESIZE);
  *free_bytes = size_t(sysconf(_SC_AVPHYS_PAGES)) * size_t(page);
  *total_bytes = size_t(sysconf(_SC_PHYS_PAGES)) * size_t(page);
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : record(cudaErrorInvalidValue); }
cudaError_t cudaGetDevice(int* device) {
  if (!device) return record(cudaErrorInvalidValue);
  *device = 0;
  return cudaSuccess;
}
const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
  }
  return "cudaErrorUnknown";
}
const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
  }
  return "unknown error";
}

