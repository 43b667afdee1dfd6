// Asynchronous global → shared copies (sm_80's cp.async), for shared kernel files: one PTX instruction each
// under nvcc, an emulation on top of the SIMT runtime under the host compiler.
//
//   cp_async16(dst, src, fill)   cp.async.cg.shared.global: 16 bytes from src (global) to dst (shared);
//                                fill = false writes 16 zero bytes instead and reads nothing
//   cp_async_commit()            cp.async.commit_group: the copies issued since the last commit form a group
//   cp_async_wait<N>()           cp.async.wait_group N: wait until at most N of this thread's groups are pending
//
// A copy's bytes are visible to the issuing thread after a wait that retires its group, and to the other
// threads of the block only after that wait and then a __syncthreads(). This is what lets a kernel load the
// next tile while it computes on this one (double buffering) without a register round trip.
//
// The emulation (cuda/simt/cp_async_emulation.cpp) models the two extremes of "some time between the issue
// and the wait", selected with simt::set_copy_landing() (a test control, like simt::set_order; a no-op on the
// GPU):
//   - CopyLanding::AtWait (the default): a copy reads its source when issued but writes its destination only
//     when the issuing thread's wait retires its group. A kernel that reads a tile without the wait, or
//     without the barrier after the other threads' waits, reads the old contents (poison at the start of a
//     block).
//   - CopyLanding::AtIssue: the destination is written at once. A kernel that refills a buffer before every
//     warp has finished reading it (a missing barrier at the end of a double-buffered iteration) has the
//     slow warps read the new tile.
// Checked: both addresses 16-byte aligned, the destination inside the block's dynamic shared
// memory. Pending copies do not outlive their block (nothing on a GPU could observe them after it ends).
// Tests: tests/test_cuda_cp_async.cpp (CPU and GPU); users: cuda/kernels/attention_tc_tiles.cuh.
#pragma once

#include <cstdint>

#include "cuda/simt/simt.h"

namespace beop::async {

#if defined(__CUDACC__)

__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool fill) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  const int src_bytes = fill ? 16 : 0;  // the rest of the 16 bytes are zero-filled
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src), "r"(src_bytes) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

#else  // ---- emulation under the SIMT runtime: cuda/simt/cp_async_emulation.cpp ----------------------------------

void cp_async16(void* dst, const void* src, bool fill, const char* file = __builtin_FILE(),
                int line = __builtin_LINE());
void cp_async_commit();
void cp_async_wait_groups(int pending);  // cp_async_wait<N> with N at run time
template <int N>
inline void cp_async_wait() {
  static_assert(N >= 0, "cp_async_wait<N>: N >= 0");
  cp_async_wait_groups(N);
}

#endif

}  // namespace beop::async
