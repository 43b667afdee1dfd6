// The CPU side of cuda/simt/simt.h: enough of CUDA's device language and runtime API, in plain C++17, for a
// kernel file to compile unchanged with g++ and run on the CPU. Include cuda/simt/simt.h, not this file.
//
// Execution model (details and guarantees in docs/SIMT.md):
//   - a launch runs its blocks one at a time, under one process-wide lock, on the calling OS thread;
//   - inside a block every CUDA thread is a fiber (ucontext) with its own stack; a fiber runs until it
//     reaches __syncthreads(), a warp primitive or the end of the kernel (never preempted);
//   - runnable fibers are resumed in rounds, each round in a permuted order (shuffled by default), so a
//     missing barrier reads stale shared memory just as it can on a GPU;
//   - __shared__ is `static`: one object per kernel (per template instantiation), and since only one block
//     runs at a time, that object is exactly "one per block, shared by all its threads".
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

#include "cuda/simt/bf16.h"      // __nv_bfloat16 (cuda_bf16.h)
#include "cuda/simt/host_api.h"  // cudaMalloc, cudaMemcpy, ... (cuda_runtime.h)
#include "src/common.h"

// ---- qualifiers ------------------------------------------------------------------------------------------
// Kernels and device functions are ordinary functions. Functions defined in a header must therefore be
// templates, `static` or `inline` (as for any C++ header): nvcc tolerates duplicate __device__ definitions
// across translation units, the host linker does not.
#define __global__
#define __device__
#define __host__
#define __constant__
#define __managed__
// Only one block runs at a time, so a function-local static is one object per block shared by all of the
// block's fibers (which all run on the launching OS thread). See docs/SIMT.md for why this is sound.
#define __shared__ static
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
// (__restrict__ is understood by g++ itself. __noinline__ is deliberately not defined: libstdc++ spells
// __attribute__((__noinline__)) and a macro would break it.)

// ---- built-in types and variables -------------------------------------------------------------------------
struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return uint3{x, y, z}; }
};

// Set by the scheduler before it resumes a fiber (threadIdx) or starts a block (the others). thread_local so
// that host code on other OS threads never sees a launch in progress; constant-initialised, so access is a
// plain TLS load.
inline thread_local uint3 threadIdx{0, 0, 0};
inline thread_local uint3 blockIdx{0, 0, 0};
inline thread_local dim3 blockDim{1, 1, 1};
inline thread_local dim3 gridDim{1, 1, 1};
constexpr int warpSize = 32;

struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) int2 { int x, y; };
struct alignas(16) int4 { int x, y, z, w; };
struct alignas(8) uint2 { unsigned x, y; };
struct alignas(16) uint4 { unsigned x, y, z, w; };
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline int2 make_int2(int x, int y) { return {x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }
inline uint3 make_uint3(unsigned x, unsigned y, unsigned z) { return {x, y, z}; }

// ---- runtime entry points (cuda/simt/simt.cpp, sync.cpp) ---------------------------------------------------

namespace beop::simt {

// Order in which runnable fibers (and blocks) are resumed. Shuffle (the default) uses a permutation derived
// from (seed, block, round), so a run is reproducible; Forward/Reverse are by linear thread index.
enum class Order { Forward, Reverse, Shuffle };
void set_order(Order order, uint64_t seed = 0x5eed5eed5eedULL);
Order order();
uint64_t seed();

// When the emulated cp.async copies (cuda/simt/cp_async.h) write their destination: when the issuing
// thread's wait retires their group (AtWait, the default: exposes reads before the wait or its barrier) or
// at once (AtIssue: exposes a buffer refilled while other warps still read it).
enum class CopyLanding { AtWait, AtIssue };
void set_copy_landing(CopyLanding landing);
CopyLanding copy_landing();

// How fibers switch: Native (a few instructions, x86-64 Linux; the default there) or Ucontext (glibc
// swapcontext, portable, one system call per switch; the only choice elsewhere). BEOP_SIMT_SWITCH=native|
// ucontext sets the initial choice. Asking for Native where it is unavailable selects Ucontext.
enum class Switch { Native, Ucontext };
void set_switch(Switch sw);
Switch fiber_switch();

// Counters of the last completed launch on any thread (for tests and curiosity; timing is meaningless).
struct LaunchStats {
  uint64_t blocks = 0, threads = 0, switches = 0;
};
LaunchStats last_launch_stats();

// The current block's dynamic shared memory (the launch's shmem_bytes; filled with 0xFF at the start of
// every block so that reading it before writing gives NaN / -1 rather than the previous block's data).
void* dynamic_shared();
size_t dynamic_shared_bytes();
// A number that differs for every block run (across launches too): per-thread state kept outside the block
// (e.g. the cp.async emulation's pending copies) resets when it changes.
uint64_t block_serial();

namespace detail {

// Compiler barrier: the fiber switch inside the calls below is opaque to the optimiser, but a `static`
// __shared__ array whose address never escapes could in principle be kept in registers across an opaque
// call; the "memory" clobber forbids that.
inline void compiler_barrier() { asm volatile("" ::: "memory"); }

enum WarpOp : int { kShfl, kShflUp, kShflDown, kShflXor, kBallot, kSyncWarp };
enum BarrierKind : int { kBarPlain, kBarCount, kBarAnd, kBarOr };

int syncthreads(int kind, int pred, const char* file, int line);
uint64_t warp_op(int op, unsigned mask, uint64_t value, int size, int param, int width, const char* file,
                 int line);
void run_launch(const char* kernel, dim3 grid, dim3 block, size_t shmem, void (*body)(void*), void* ctx);

template <typename Fn, typename Tuple>
struct Body {
  Fn fn;
  Tuple args;
  // Every CUDA thread receives its own by-value copy of each argument: the kernel's parameters are copied
  // from the launch's stored arguments, which were evaluated exactly once (as with <<< >>>).
  static void run(void* self) {
    auto* b = static_cast<Body*>(self);
    std::apply(b->fn, b->args);
  }
};

template <typename T>
struct Same {
  using type = T;
};

template <typename T>
uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value,
                "warp shuffles move values of at most 8 bytes");
  uint64_t u = 0;
  std::memcpy(&u, &v, sizeof(T));
  return u;
}
template <typename T>
T from_bits(uint64_t u) {
  T v;
  std::memcpy(&v, &u, sizeof(T));
  return v;
}

}  // namespace detail

// The launcher behind BEOP_LAUNCH. `fn` is a generic lambda that calls the kernel by name (so template
// kernels still deduce their arguments); `args` are evaluated once and stored by value.
template <typename Fn, typename Stream, typename... A>
void launch(const char* kernel, dim3 grid, dim3 block, size_t shmem, Stream, Fn fn, A&&... args) {
  using Tuple = std::tuple<std::decay_t<A>...>;
  detail::Body<Fn, Tuple> body{fn, Tuple(std::forward<A>(args)...)};
  detail::run_launch(kernel, grid, block, shmem, &detail::Body<Fn, Tuple>::run, &body);
}

}  // namespace beop::simt

#define BEOP_LAUNCH(kernel, grid, block, shmem, stream, ...)                                   \
  ::beop::simt::launch(#kernel, ::dim3(grid), ::dim3(block), static_cast<size_t>(shmem), stream, \
                       [](auto&... beop_simt_args) { kernel(beop_simt_args...); }, ##__VA_ARGS__)

#define BEOP_DYNAMIC_SHARED(T, name) T* name = static_cast<T*>(::beop::simt::dynamic_shared())

// ---- barriers ----------------------------------------------------------------------------------------------
// The defaulted file/line arguments name the caller's call site (GCC builtins), for error messages and for
// detecting threads that wait at different barriers.
inline void __syncthreads(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  using namespace beop::simt::detail;
  compiler_barrier();
  syncthreads(kBarPlain, 0, file, line);
  compiler_barrier();
}
inline int __syncthreads_count(int pred, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  using namespace beop::simt::detail;
  compiler_barrier();
  int r = syncthreads(kBarCount, pred, file, line);
  compiler_barrier();
  return r;
}
inline int __syncthreads_and(int pred, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  using namespace beop::simt::detail;
  compiler_barrier();
  int r = syncthreads(kBarAnd, pred, file, line);
  compiler_barrier();
  return r;
}
inline int __syncthreads_or(int pred, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  using namespace beop::simt::detail;
  compiler_barrier();
  int r = syncthreads(kBarOr, pred, file, line);
  compiler_barrier();
  return r;
}
// Fibers never run concurrently and are never preempted, so memory fences only need to stop the compiler.
inline void __threadfence() { beop::simt::detail::compiler_barrier(); }
inline void __threadfence_block() { beop::simt::detail::compiler_barrier(); }
inline void __threadfence_system() { beop::simt::detail::compiler_barrier(); }

// ---- warp primitives ---------------------------------------------------------------------------------------
// Each suspends the calling fiber until every non-exited lane named in `mask` has reached a warp primitive
// with the same mask, then exchanges values with CUDA's documented semantics (source lanes outside the
// width-sized segment return the caller's own value). Reading a lane that is named by no active thread
// (not in the mask, exited, or past the end of a partial warp) is undefined on a GPU; here it returns all
// 0xFF bytes (NaN for float, -1 for int) so that using such a value shows up.
inline void __syncwarp(unsigned mask = 0xffffffffu, const char* file = __builtin_FILE(),
                       int line = __builtin_LINE()) {
  using namespace beop::simt::detail;
  compiler_barrier();
  warp_op(kSyncWarp, mask, 0, 0, 0, warpSize, file, line);
  compiler_barrier();
}
template <typename T>
inline T __shfl_sync(unsigned mask, T var, int srcLane, int width = warpSize, const char* file = __builtin_FILE(),
                     int line = __builtin_LINE()) {
  using namespace beop::simt::detail;
  compiler_barrier();
  T r = from_bits<T>(warp_op(kShfl, mask, to_bits(var), sizeof(T), srcLane, width, file, line));
  compiler_barrier();
  return r;
}
template <typename T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                        const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  using namespace beop::simt::detail;
  compiler_barrier();
  T r = from_bits<T>(warp_op(kShflUp, mask, to_bits(var), sizeof(T), int(delta), width, file, line));
  compiler_barrier();
  return r;
}
template <typename T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                          const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  using namespace beop::simt::detail;
  compiler_barrier();
  T r = from_bits<T>(warp_op(kShflDown, mask, to_bits(var), sizeof(T), int(delta), width, file, line));
  compiler_barrier();
  return r;
}
template <typename T>
inline T __shfl_xor_sync(unsigned mask, T var, int laneMask, int width = warpSize,
                         const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  using namespace beop::simt::detail;
  compiler_barrier();
  T r = from_bits<T>(warp_op(kShflXor, mask, to_bits(var), sizeof(T), laneMask, width, file, line));
  compiler_barrier();
  return r;
}
inline unsigned __ballot_sync(unsigned mask, int pred, const char* file = __builtin_FILE(),
                              int line = __builtin_LINE()) {
  using namespace beop::simt::detail;
  compiler_barrier();
  unsigned r = unsigned(warp_op(kBallot, mask, pred != 0, 4, 0, warpSize, file, line));
  compiler_barrier();
  return r;
}
inline int __any_sync(unsigned mask, int pred, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return __ballot_sync(mask, pred, file, line) != 0;
}
inline int __all_sync(unsigned mask, int pred, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  // All active lanes of the mask voted: compare against the ballot of "true" from the same lanes.
  unsigned yes = __ballot_sync(mask, pred, file, line);
  unsigned all = __ballot_sync(mask, 1, file, line);
  return yes == all;
}
// The lanes of the caller's warp that have not exited (a fiber model has no finer notion of "active").
unsigned __activemask();

// ---- atomics -----------------------------------------------------------------------------------------------
// A fiber is never preempted and only one launch runs at a time, so a plain read-modify-write is atomic.
template <typename T>
inline T atomicAdd(T* p, typename beop::simt::detail::Same<T>::type v) {
  T old = *p;
  *p = old + v;
  return old;
}
template <typename T>
inline T atomicSub(T* p, typename beop::simt::detail::Same<T>::type v) {
  T old = *p;
  *p = old - v;
  return old;
}
template <typename T>
inline T atomicMax(T* p, typename beop::simt::detail::Same<T>::type v) {
  T old = *p;
  *p = old < v ? v : old;
  return old;
}
template <typename T>
inline T atomicMin(T* p, typename beop::simt::detail::Same<T>::type v) {
  T old = *p;
  *p = v < old ? v : old;
  return old;
}
template <typename T>
inline T atomicExch(T* p, typename beop::simt::detail::Same<T>::type v) {
  T old = *p;
  *p = v;
  return old;
}
template <typename T>
inline T atomicCAS(T* p, typename beop::simt::detail::Same<T>::type compare,
                   typename beop::simt::detail::Same<T>::type v) {
  T old = *p;
  if (old == compare) *p = v;
  return old;
}
template <typename T>
inline T atomicAnd(T* p, typename beop::simt::detail::Same<T>::type v) {
  T old = *p;
  *p = old & v;
  return old;
}
template <typename T>
inline T atomicOr(T* p, typename beop::simt::detail::Same<T>::type v) {
  T old = *p;
  *p = old | v;
  return old;
}
template <typename T>
inline T atomicXor(T* p, typename beop::simt::detail::Same<T>::type v) {
  T old = *p;
  *p = old ^ v;
  return old;
}
inline unsigned atomicInc(unsigned* p, unsigned limit) {
  unsigned old = *p;
  *p = old >= limit ? 0 : old + 1;
  return old;
}

// ---- device math and bit intrinsics ------------------------------------------------------------------------
template <typename T>
inline T __ldg(const T* p) {
  return *p;
}
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __tanhf(float x) { return std::tanh(x); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline int __float_as_int(float x) { return beop::simt::detail::from_bits<int>(beop::simt::detail::to_bits(x)); }
inline unsigned __float_as_uint(float x) {
  return beop::simt::detail::from_bits<unsigned>(beop::simt::detail::to_bits(x));
}
inline float __int_as_float(int x) { return beop::simt::detail::from_bits<float>(beop::simt::detail::to_bits(x)); }
inline float __uint_as_float(unsigned x) {
  return beop::simt::detail::from_bits<float>(beop::simt::detail::to_bits(x));
}
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(unsigned(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline unsigned __brev(unsigned x) {
  unsigned r = 0;
  for (int i = 0; i < 32; i++) r |= ((x >> i) & 1u) << (31 - i);
  return r;
}
// CUDA's device code has overloaded min/max in the global namespace; host C++ only has std::min/max.
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }
