// Warp matrix multiply-accumulate (tensor cores) for shared kernel files: `nvcuda::wmma` from <mma.h> under
// nvcc, and under the host compiler an emulation on top of the SIMT runtime with the same API, for the one
// shape beop uses: m16n16k16, bf16 A/B (row- or column-major), fp32 accumulator.
//
// On a GPU a fragment's elements are spread over the 32 lanes in an unspecified way (8 per lane here), so a
// correct kernel only ever (a) loads, stores and multiplies whole fragments with all 32 lanes of the warp,
// and (b) applies the same element-wise operation to every element (`for i < num_elements: x[i] *= s`).
// The emulation gives every lane a full copy of the tile (num_elements = 256), which satisfies both, and it
// models what a kernel may NOT rely on, so that such bugs fail on the CPU as they would on a GPU:
//   - every call needs all 32 lanes of the warp active (a call after some lanes returned is an error);
//   - the `.sync` of the instructions orders nothing: load_matrix_sync does NOT wait for the other lanes
//     before reading, so a lane reads the tile as it is when that lane arrives (shared-memory writes by other
//     lanes without a __syncwarp() before the load may be missing) and only waits for the others afterwards;
//   - store_matrix_sync has no barrier after it, and the tile appears in memory only when the LAST lane of the
//     warp executes the store (legal on a GPU, where other lanes' writes need not be visible before a
//     __syncwarp()): a lane reading the stored tile without a __syncwarp() sees the old contents;
//   - since every lane holds the whole tile, the store checks that all 32 lanes hold the same fragment: lanes
//     that loaded different data (a race before a load) fail there, whatever the schedule;
//   - the documented preconditions are checked: the pointer 32-byte aligned, ldm a multiple of 16 bytes.
// Arithmetic: each product is accumulated in fp32, k in ascending order (tensor cores also accumulate in
// fp32, in an unspecified order — the tests' bf16 tolerance covers the difference).
#pragma once

#include "cuda/simt/simt.h"

#if defined(__CUDACC__)

#include <mma.h>

#else

#include <cmath>
#include <cstdint>
#include <cstring>

namespace nvcuda::wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

namespace detail {
template <class Use, int M, int N, int K>
struct Shape {
  static_assert(M == 16 && N == 16 && K == 16, "beop's wmma emulation implements m16n16k16 only");
  static constexpr int rows = std::is_same<Use, matrix_b>::value ? K : M;
  static constexpr int cols = std::is_same<Use, matrix_a>::value ? K : N;
};
[[noreturn]] inline void misuse(const char* what, const char* why, const char* file, int line) {
  beop::fail("wmma::", what, " at ", file, ":", line, ": ", why);
}
inline void check_warp(const char* what, const char* file, int line) {
  if (__activemask() != 0xffffffffu) misuse(what, "called with lanes of the warp exited or inactive", file, line);
}
inline void check_ptr(const void* p, unsigned ldm, size_t elem_bytes, const char* what, const char* file, int line) {
  if (reinterpret_cast<uintptr_t>(p) % 32 != 0) misuse(what, "pointer not 32-byte aligned", file, line);
  if ((size_t(ldm) * elem_bytes) % 16 != 0) misuse(what, "ldm not a multiple of 16 bytes", file, line);
}
}  // namespace detail

// Logical row-major storage of the whole tile (every lane holds all of it).
template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment {
  static constexpr int rows = detail::Shape<Use, M, N, K>::rows;
  static constexpr int cols = detail::Shape<Use, M, N, K>::cols;
  static constexpr int num_elements = rows * cols;
  T x[num_elements];
};

template <class Use, int M, int N, int K, class T, class Layout>
inline void fill_fragment(fragment<Use, M, N, K, T, Layout>& f, T v) {
  for (int i = 0; i < f.num_elements; i++) f.x[i] = v;
}

// A or B operand: layout from the fragment type. Element (r, c) of the tile is p[r*ldm + c] (row_major)
// or p[c*ldm + r] (col_major).
template <class Use, class Layout>
inline void load_matrix_sync(fragment<Use, 16, 16, 16, __nv_bfloat16, Layout>& f, const __nv_bfloat16* p,
                             unsigned ldm, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  static_assert(std::is_same<Layout, row_major>::value || std::is_same<Layout, col_major>::value,
                "an A/B fragment needs row_major or col_major");
  detail::check_warp("load_matrix_sync", file, line);
  detail::check_ptr(p, ldm, 2, "load_matrix_sync", file, line);
  constexpr bool row = std::is_same<Layout, row_major>::value;
  for (int r = 0; r < f.rows; r++)
    for (int c = 0; c < f.cols; c++) f.x[r * f.cols + c] = row ? p[r * ldm + c] : p[c * ldm + r];
  __syncwarp(0xffffffffu, file, line);
}

// Accumulator: layout given at run time.
inline void load_matrix_sync(fragment<accumulator, 16, 16, 16, float>& f, const float* p, unsigned ldm, layout_t l,
                             const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  detail::check_warp("load_matrix_sync", file, line);
  detail::check_ptr(p, ldm, 4, "load_matrix_sync", file, line);
  for (int r = 0; r < 16; r++)
    for (int c = 0; c < 16; c++) f.x[r * 16 + c] = l == mem_row_major ? p[r * ldm + c] : p[c * ldm + r];
  __syncwarp(0xffffffffu, file, line);
}

// Warp-collective: a barrier before it (the instruction is convergent), none after. The tile is written when
// the last lane executes the store, and every lane's fragment must equal the first lane's. __syncwarp() after
// it before reading the tile.
inline void store_matrix_sync(float* p, const fragment<accumulator, 16, 16, 16, float>& f, unsigned ldm, layout_t l,
                              const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  detail::check_warp("store_matrix_sync", file, line);  // before the barrier: no lane has passed this store yet
  __syncwarp(0xffffffffu, file, line);
  detail::check_ptr(p, ldm, 4, "store_matrix_sync", file, line);
  // Per warp of the current block: lanes that have executed the store, and the first lane's fragment. Reset
  // for every block (and so after a launch that failed half-way).
  static thread_local uint64_t serial = ~uint64_t(0);
  static thread_local unsigned arrived[32];
  static thread_local float first[32][256];
  if (serial != beop::simt::block_serial()) {
    serial = beop::simt::block_serial();
    for (unsigned& a : arrived) a = 0;
  }
  const unsigned w = threadIdx.x / 32 % 32;
  if (arrived[w] == 0) {
    std::memcpy(first[w], f.x, sizeof f.x);
  } else if (std::memcmp(first[w], f.x, sizeof f.x) != 0) {
    detail::misuse("store_matrix_sync",
                   "the lanes of the warp hold different fragments: they loaded different data (a shared-memory "
                   "write not ordered by __syncwarp() before a load_matrix_sync?)",
                   file, line);
  }
  if (++arrived[w] < 32) return;
  arrived[w] = 0;
  for (int r = 0; r < 16; r++)
    for (int c = 0; c < 16; c++) (l == mem_row_major ? p[r * ldm + c] : p[c * ldm + r]) = f.x[r * 16 + c];
}

// d = a·b + c (d may alias c), fp32 accumulation, k ascending.
template <class LA, class LB>
inline void mma_sync(fragment<accumulator, 16, 16, 16, float>& d,
                     const fragment<matrix_a, 16, 16, 16, __nv_bfloat16, LA>& a,
                     const fragment<matrix_b, 16, 16, 16, __nv_bfloat16, LB>& b,
                     const fragment<accumulator, 16, 16, 16, float>& c, const char* file = __builtin_FILE(),
                     int line = __builtin_LINE()) {
  detail::check_warp("mma_sync", file, line);
  __syncwarp(0xffffffffu, file, line);
  float out[256];
  for (int r = 0; r < 16; r++)
    for (int n = 0; n < 16; n++) {
      float s = c.x[r * 16 + n];
      for (int k = 0; k < 16; k++) s += float(a.x[r * 16 + k]) * float(b.x[k * 16 + n]);
      out[r * 16 + n] = s;
    }
  for (int i = 0; i < 256; i++) d.x[i] = out[i];
}

}  // namespace nvcuda::wmma

#endif
