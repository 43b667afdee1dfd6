// Internals of the SIMT runtime, shared by its sources (kernels never include this: they include
// cuda/simt/simt.h). One process-wide Runtime holds the fibers (one per CUDA thread of the block being run)
// and the Block's scheduler state; the sources split its jobs:
//   simt.cpp       launches: configuration, block and thread order, running a block, dynamic shared memory
//   fibers.cpp     fiber stacks and their start (native x86-64 switch or ucontext)
//   sync.cpp       __syncthreads and the warp primitives: the rendezvous of waiting threads
//   host_api.cpp   the CUDA host runtime API on host memory
#pragma once
#include <ucontext.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "cuda/simt/simt_cpu.h"

// Fast fiber switch for x86-64 (System V), defined in fibers.cpp; other architectures use ucontext only.
#if defined(__x86_64__) && defined(__linux__)
#define BEOP_SIMT_NATIVE_SWITCH 1
extern "C" void beop_simt_switch(void** save, void* to);
#else
#define BEOP_SIMT_NATIVE_SWITCH 0
#endif

namespace beop::simt::internal {

constexpr int kWarp = 32;
constexpr unsigned kMaxThreads = 1024;             // per block, as on every GPU since sm_20
constexpr size_t kMaxDynamicShared = 227u * 1024;  // the largest opt-in dynamic shared memory (sm_90)
constexpr size_t kCanary = 64;                     // bytes checked after the dynamic shared memory
constexpr unsigned char kCanaryByte = 0xA5;

enum class State : uint8_t { Ready, Barrier, Warp, Exited };

// A pending warp primitive of one lane.
struct WarpCall {
  int op = 0;
  unsigned mask = 0;
  uint64_t value = 0;
  int size = 0;
  int param = 0;
  int width = 0;
  const char* file = "";
  int line = 0;
};

struct Fiber {
  ucontext_t ctx;        // Switch::Ucontext
  void* sp = nullptr;    // Switch::Native: saved stack pointer
  char* stack = nullptr;  // lowest usable byte; a PROT_NONE guard page sits just below it
  State state = State::Ready;
  uint3 tid{0, 0, 0};
  WarpCall call;
  uint64_t result = 0;  // of the barrier or warp primitive it waited at
  const char* file = "";
  int line = 0;
};

// Per-block scheduler state; lives in the Runtime and is reused by every block and launch.
struct Block {
  const char* kernel = "";
  unsigned n = 0;  // threads in the block
  void (*body)(void*) = nullptr;
  void* ctx = nullptr;
  ucontext_t sched;
  void* sched_sp = nullptr;
  bool native = false;  // which switch this launch uses
  unsigned current = 0;
  std::vector<unsigned> ready, next;
  // __syncthreads
  unsigned waiting = 0, exited = 0;
  const char* bar_file = "";
  int bar_line = 0, bar_kind = 0;
  int64_t bar_acc = 0;
  // failure raised inside a fiber
  bool failed = false;
  std::string error;
  uint64_t switches = 0;
};

struct Runtime {
  std::mutex mu;  // one launch at a time, process-wide: `static` __shared__ storage is not per OS thread
  Order order = Order::Shuffle;
  uint64_t seed = 0x5eed5eed5eedULL;
  Switch sw = BEOP_SIMT_NATIVE_SWITCH ? Switch::Native : Switch::Ucontext;
  size_t stack_bytes = 0;
  size_t page = 4096;
  std::vector<Fiber> fibers;  // never resized while a launch runs (ucontext_t holds pointers into itself)
  Block block;
  unsigned char* dyn = nullptr;  // dynamic shared memory + canary
  size_t dyn_cap = 0, dyn_bytes = 0;
  LaunchStats stats;
};

inline Runtime& rt() {
  static Runtime r;
  return r;
}

// The block being run by this OS thread (null outside a launch).
inline thread_local Block* t_block = nullptr;

inline std::string coord(uint3 v) { return cat("(", v.x, ",", v.y, ",", v.z, ")"); }
inline std::string hex(unsigned v) {
  std::ostringstream os;
  os << "0x" << std::hex << v;
  return os.str();
}

// The name of a warp primitive (detail::kShfl...), for messages (sync.cpp).
const char* op_name(int op);

inline Block& need_block(const char* what) {
  if (!t_block) fail("simt: ", what, " called outside a kernel launch");
  return *t_block;
}

// Saves the running context (native: its stack pointer into *from_sp; else into *from_ctx) and continues the
// other one, with the switch this launch uses. Returns when something switches back.
inline void switch_context(bool native, void** from_sp, void* to_sp, ucontext_t* from_ctx, ucontext_t* to_ctx) {
#if BEOP_SIMT_NATIVE_SWITCH
  if (native) {
    beop_simt_switch(from_sp, to_sp);
    return;
  }
#endif
  swapcontext(from_ctx, to_ctx);
}

// Gives control back to the scheduler; returns when the scheduler resumes this fiber.
inline void yield(Block& b) {
  Fiber& f = rt().fibers[b.current];
  switch_context(b.native, &f.sp, b.sched_sp, &f.ctx, &b.sched);
}

// Runs fiber f until it yields (or exits).
inline void resume(Block& b, Fiber& f) { switch_context(b.native, &b.sched_sp, f.sp, &b.sched, &f.ctx); }

// fibers.cpp: at least `n` fibers with stacks; and one fiber made ready to run the block's body from the start.
void ensure_fibers(Runtime& r, unsigned n);
void start_fiber(Fiber& f, bool native, size_t stack_bytes);

// sync.cpp: marks the current thread exited (from inside its fiber, so it may throw): completes a barrier or
// warp exchange that now has everyone it waits for, or reports a barrier some threads can no longer reach.
void on_exit(Block& b);

}  // namespace beop::simt::internal
