// Host memory for the CPU backend's buffers (weights, converted weights, gradients, AdamW moments, activations,
// KV caches): 64-byte aligned, and a buffer of 2 MiB or more is 2 MiB aligned and advised as transparent huge
// pages (madvise MADV_HUGEPAGE).
//
// Why: training and decoding stream buffers of tens to hundreds of MB. With 4 KiB pages that is a TLB miss and a
// page walk every 4 KiB, two-dimensional on a VM. Under THP "madvise" (the dev VM's setting, and Ubuntu's default),
// large buffers get huge pages only when advised. There a STREAM-style read of 495 MB ran at 12.8 GB/s on 4 KiB
// pages and 16.5 GB/s advised (1 thread; 25.2 vs 33.4 GB/s at 2), and a 1-thread training step of `small` gained
// ~3% (docs/PERFORMANCE.md, "Huge pages").
//
// The advice is a hint. Where THP is off (`never`), or the kernel finds no free 2 MiB page, the buffer is plain 4 KiB
// pages and everything works as before. Under THP "always" it changes little. Memory is released with host_free.
#pragma once
#include <sys/mman.h>

#include <cstddef>
#include <cstdlib>
#include <limits>
#include <new>

namespace beop::cpu {

inline constexpr size_t kHugePage = size_t(2) << 20;

// n bytes (not zeroed), or nullptr when out of memory. The size is rounded up to whole 4 KiB pages, which madvise
// works on, not to 2 MiB: a 3 MiB buffer gets one huge page and 1 MiB of small ones rather than 1 MiB of waste.
// Every buffer keeps at least 64 bytes of slack past its end, as CpuOps::alloc always has.
inline void* host_alloc(size_t bytes) {
  if (bytes > std::numeric_limits<size_t>::max() - 2 * kHugePage) return nullptr;  // the roundings below would wrap
  if (bytes < kHugePage) return std::aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
  const size_t rounded = (bytes + 64 + 4095) / 4096 * 4096;
  void* p = nullptr;  // posix_memalign: aligned_alloc wants a size that is a multiple of the 2 MiB alignment
  if (::posix_memalign(&p, kHugePage, rounded) != 0) return nullptr;
  ::madvise(p, rounded, MADV_HUGEPAGE);  // a hint: failure (EINVAL without THP) leaves 4 KiB pages
  return p;
}
inline void host_free(void* p) { std::free(p); }

// An allocator for std::vector buffers that are weights (cpu/matmul_lowp.h's converted matrices).
template <typename T>
struct HostAllocator {
  using value_type = T;
  HostAllocator() = default;
  template <typename U>
  HostAllocator(const HostAllocator<U>&) {}
  T* allocate(size_t n) {
    if (n > std::numeric_limits<size_t>::max() / sizeof(T)) throw std::bad_alloc();
    void* p = host_alloc(n * sizeof(T));
    if (!p) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) { host_free(p); }
  template <typename U>
  bool operator==(const HostAllocator<U>&) const { return true; }
  template <typename U>
  bool operator!=(const HostAllocator<U>&) const { return false; }
};

}  // namespace beop::cpu
