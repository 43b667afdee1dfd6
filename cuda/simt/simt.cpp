// The SIMT runtime: runs a CUDA grid on the calling OS thread, one block at a time, one fiber per CUDA
// thread (ucontext), and maps the host runtime API onto host memory. See docs/SIMT.md.
#include "cuda/simt/simt.h"

#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

// Fast fiber switch for x86-64 (System V): saves the callee-saved registers, MXCSR and the x87 control word
// on the current stack, stores the stack pointer in *save, loads `to` and restores the same from there.
// glibc's swapcontext does the same plus a sigprocmask system call per switch, which makes it ~10-20x slower.
// Other architectures use ucontext only.
#if defined(__x86_64__) && defined(__linux__)
#define BEOP_SIMT_NATIVE_SWITCH 1
asm(R"(
  .pushsection .text
  .p2align 4
  .globl beop_simt_switch
  .hidden beop_simt_switch
  .type beop_simt_switch, @function
beop_simt_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size beop_simt_switch, .-beop_simt_switch
  .popsection
)");
extern "C" void beop_simt_switch(void** save, void* to);
#else
#define BEOP_SIMT_NATIVE_SWITCH 0
#endif

namespace beop::simt {
namespace {

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

Runtime& rt() {
  static Runtime r;
  return r;
}

// The block being run by this OS thread (null outside a launch).
thread_local Block* t_block = nullptr;

// Configuration from the environment, read once.
size_t stack_bytes_from_env() {
  size_t kib = 64;  // deep enough for kernels with sizeable local arrays; 1024 threads = 64 MiB virtual
  if (const char* s = std::getenv("BEOP_SIMT_STACK_KIB")) {
    char* end = nullptr;
    long v = std::strtol(s, &end, 10);
    if (!end || *end || v < 16 || v > 65536) fail("BEOP_SIMT_STACK_KIB=", s, ": expected 16..65536");
    kib = size_t(v);
  }
  return kib * 1024;
}

void init_from_env(Runtime& r) {
  static bool done = false;
  if (done) return;
  done = true;
  r.page = size_t(sysconf(_SC_PAGESIZE));
  r.stack_bytes = (stack_bytes_from_env() + r.page - 1) / r.page * r.page;
  if (const char* s = std::getenv("BEOP_SIMT_ORDER")) {
    std::string v = s;
    if (v == "forward") r.order = Order::Forward;
    else if (v == "reverse") r.order = Order::Reverse;
    else if (v == "shuffle") r.order = Order::Shuffle;
    else fail("BEOP_SIMT_ORDER=", v, ": expected forward, reverse or shuffle");
  }
  if (const char* s = std::getenv("BEOP_SIMT_SWITCH")) {
    std::string v = s;
    if (v == "native") r.sw = BEOP_SIMT_NATIVE_SWITCH ? Switch::Native : Switch::Ucontext;
    else if (v == "ucontext") r.sw = Switch::Ucontext;
    else fail("BEOP_SIMT_SWITCH=", v, ": expected native or ucontext");
  }
  if (const char* s = std::getenv("BEOP_SIMT_SEED")) {
    char* end = nullptr;
    unsigned long long v = std::strtoull(s, &end, 0);
    if (!end || *end) fail("BEOP_SIMT_SEED=", s, ": expected an integer");
    r.seed = v;
  }
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Puts `v` into the order the current mode asks for. Shuffle: Fisher-Yates driven by (seed, salt), so a
// run is reproducible and independent of earlier launches.
void permute(std::vector<unsigned>& v, Order order, uint64_t seed, uint64_t salt) {
  std::sort(v.begin(), v.end());
  if (order == Order::Reverse) {
    std::reverse(v.begin(), v.end());
  } else if (order == Order::Shuffle) {
    uint64_t s = splitmix64(seed ^ splitmix64(salt));
    for (size_t i = v.size(); i > 1; i--) {
      s = splitmix64(s);
      std::swap(v[i - 1], v[s % i]);
    }
  }
}

std::string coord(uint3 v) { return cat("(", v.x, ",", v.y, ",", v.z, ")"); }
std::string hex(unsigned v) {
  std::ostringstream os;
  os << "0x" << std::hex << v;
  return os.str();
}

const char* op_name(int op) {
  switch (op) {
    case detail::kShfl: return "__shfl_sync";
    case detail::kShflUp: return "__shfl_up_sync";
    case detail::kShflDown: return "__shfl_down_sync";
    case detail::kShflXor: return "__shfl_xor_sync";
    case detail::kBallot: return "__ballot_sync";
    case detail::kSyncWarp: return "__syncwarp";
  }
  return "?";
}

Block& need_block(const char* what) {
  if (!t_block) fail("simt: ", what, " called outside a kernel launch");
  return *t_block;
}

// Gives control back to the scheduler; returns when the scheduler resumes this fiber.
void yield(Block& b) {
  Fiber& f = rt().fibers[b.current];
#if BEOP_SIMT_NATIVE_SWITCH
  if (b.native) {
    beop_simt_switch(&f.sp, b.sched_sp);
    return;
  }
#endif
  swapcontext(&f.ctx, &b.sched);
}

void resume(Block& b, Fiber& f) {
#if BEOP_SIMT_NATIVE_SWITCH
  if (b.native) {
    beop_simt_switch(&b.sched_sp, f.sp);
    return;
  }
#endif
  swapcontext(&b.sched, &f.ctx);
}

void release(Block& b, unsigned i) {
  rt().fibers[i].state = State::Ready;
  b.next.push_back(i);
}

// If every non-exited lane named in `mask` of warp `w` waits at a warp primitive with that same mask,
// performs the exchange and releases them. Lanes waiting with a different mask are treated as not yet
// arrived (they may legitimately be in a narrower group first); a real mismatch ends as a deadlock, which
// the scheduler reports with every waiting lane.
void try_complete_warp(Block& b, unsigned w, unsigned mask) {
  auto& fibers = rt().fibers;
  unsigned base = w * kWarp;
  unsigned nl = std::min<unsigned>(kWarp, b.n - base);
  unsigned exists = nl == 32 ? 0xffffffffu : ((1u << nl) - 1);
  unsigned members = mask & exists;
  unsigned active = 0;
  int first = -1;
  for (unsigned l = 0; l < nl; l++) {
    if (!(members >> l & 1)) continue;
    Fiber& g = fibers[base + l];
    if (g.state == State::Exited) continue;
    if (g.state != State::Warp || g.call.mask != mask) return;
    active |= 1u << l;
    if (first < 0) first = int(l);
  }
  if (first < 0) return;
  const WarpCall& c0 = fibers[base + unsigned(first)].call;
  for (unsigned l = 0; l < nl; l++) {
    if (!(active >> l & 1)) continue;
    const WarpCall& c = fibers[base + l].call;
    if (c.op != c0.op || c.size != c0.size || c.width != c0.width)
      fail("warp ", w, " mask ", hex(mask), ": lane ", first, " called ", op_name(c0.op), " (", c0.file, ":",
           c0.line, ", ", c0.size, " bytes, width ", c0.width, ") while lane ", l, " called ", op_name(c.op),
           " (", c.file, ":", c.line, ", ", c.size, " bytes, width ", c.width, ")");
  }
  uint64_t ballot = 0;
  for (unsigned l = 0; l < nl; l++)
    if ((active >> l & 1) && fibers[base + l].call.value) ballot |= 1ull << l;
  // Bytes that stand for "undefined": all ones in the value's width.
  uint64_t poison = c0.size >= 8 ? ~0ull : ((1ull << (8 * c0.size)) - 1);
  for (unsigned l = 0; l < nl; l++) {
    if (!(active >> l & 1)) continue;
    Fiber& g = fibers[base + l];
    const WarpCall& c = g.call;
    int width = c.width;
    int seg = int(l) & ~(width - 1);  // first lane of this lane's width-sized segment
    int src = int(l);
    switch (c.op) {
      case detail::kShfl: src = seg + (c.param & (width - 1)); break;
      case detail::kShflUp: src = (int(l) - seg) < c.param ? int(l) : int(l) - c.param; break;
      case detail::kShflDown: src = (int(l) - seg) + c.param >= width ? int(l) : int(l) + c.param; break;
      case detail::kShflXor: {
        int s = int(l) ^ c.param;
        src = s >= seg + width ? int(l) : s;  // later segments are out of reach; earlier ones are not
        break;
      }
      default: break;
    }
    if (c.op == detail::kBallot) g.result = ballot;
    else if (c.op == detail::kSyncWarp) g.result = 0;
    else if (src >= 0 && src < kWarp && (active >> src & 1)) g.result = fibers[base + unsigned(src)].call.value;
    else g.result = poison;
    release(b, base + l);
  }
}

void check_barrier(Block& b) {
  if (b.waiting > 0 && b.exited > 0)
    fail("divergent __syncthreads(): ", b.exited, " of the block's ", b.n, " threads exited while ", b.waiting,
         " wait at ", b.bar_file, ":", b.bar_line);
  if (b.waiting == b.n) {
    auto& fibers = rt().fibers;
    for (unsigned i = 0; i < b.n; i++) {
      fibers[i].result = uint64_t(b.bar_acc);
      release(b, i);
    }
    b.waiting = 0;
  }
}

// Runs at the end of every fiber's kernel call (still inside the fiber, so it may throw).
void on_exit(Block& b) {
  auto& fibers = rt().fibers;
  unsigned me = b.current;
  fibers[me].state = State::Exited;
  b.exited++;
  check_barrier(b);
  // Lanes of this warp waiting for this lane may now be complete (exited lanes do not take part).
  unsigned w = me / kWarp, base = w * kWarp, nl = std::min<unsigned>(kWarp, b.n - base);
  for (unsigned l = 0; l < nl; l++)
    if (fibers[base + l].state == State::Warp) try_complete_warp(b, w, fibers[base + l].call.mask);
}

void fiber_entry() {
  Block& b = *t_block;
  try {
    b.body(b.ctx);
    on_exit(b);
  } catch (const std::exception& e) {
    b.failed = true;
    b.error = cat("thread ", coord(threadIdx), ": ", e.what());
  } catch (...) {
    b.failed = true;
    b.error = cat("thread ", coord(threadIdx), ": unknown exception");
  }
  rt().fibers[b.current].state = State::Exited;
  yield(b);  // never resumed; the stack is reused by the next block
  std::abort();
}

// Ensures `n` fibers with stacks exist. Stacks are mmap'd once with a guard page below each, so an overflow
// faults instead of silently corrupting the neighbouring fiber's stack.
void ensure_fibers(Runtime& r, unsigned n) {
  if (r.fibers.size() >= n) return;
  std::vector<Fiber> grown(n);
  for (size_t i = 0; i < r.fibers.size(); i++) grown[i].stack = r.fibers[i].stack;
  for (size_t i = r.fibers.size(); i < n; i++) {
    void* m = mmap(nullptr, r.stack_bytes + r.page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (m == MAP_FAILED) fail("simt: cannot map ", r.stack_bytes, "-byte fiber stack ", i);
    if (mprotect(m, r.page, PROT_NONE) != 0) fail("simt: cannot protect the guard page of fiber stack ", i);
    grown[i].stack = static_cast<char*>(m) + r.page;
  }
  r.fibers.swap(grown);
  // getcontext() stores pointers into the ucontext_t itself: initialise in the final storage.
  for (auto& f : r.fibers)
    if (getcontext(&f.ctx) != 0) fail("simt: getcontext failed");
}

// A fresh stack on which beop_simt_switch "returns" into fiber_entry: from the top (16-byte aligned) a fake
// return address (so fiber_entry starts with the ABI's rsp % 16 == 8), fiber_entry's address for `ret`, six
// zeroed callee-saved registers, and the current MXCSR / x87 control word.
void prepare_native(Fiber& f, size_t stack_bytes) {
#if BEOP_SIMT_NATIVE_SWITCH
  uint32_t mxcsr = 0;
  uint16_t fcw = 0;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fcw));
  auto* s = reinterpret_cast<uint64_t*>((reinterpret_cast<uintptr_t>(f.stack) + stack_bytes) & ~uintptr_t(15));
  *--s = 0;
  *--s = reinterpret_cast<uint64_t>(&fiber_entry);
  for (int k = 0; k < 6; k++) *--s = 0;
  *--s = uint64_t(mxcsr) | uint64_t(fcw) << 32;
  f.sp = s;
#else
  (void)f;
  (void)stack_bytes;
  fail("simt: the native fiber switch is not available on this architecture");
#endif
}

void ensure_dynamic(Runtime& r, size_t bytes) {
  if (r.dyn_cap < bytes + kCanary) {
    std::free(r.dyn);
    size_t cap = (bytes + kCanary + 127) / 128 * 128;
    r.dyn = static_cast<unsigned char*>(std::aligned_alloc(128, cap));
    if (!r.dyn) fail("simt: cannot allocate ", bytes, " bytes of dynamic shared memory");
    r.dyn_cap = cap;
  }
  r.dyn_bytes = bytes;
}

// A fiber stack is reused block after block, and a fiber that exits never returns (fiber_entry ends in yield),
// so under AddressSanitizer its last frames' redzones stay poisoned in the shadow memory and the next block's
// first writes there (prepare_native's frame) are reported as stack-buffer-overflow (make sanitize found it in
// every SIMT test). The stack is free memory again at this point: clear its shadow. No-op without ASan.
void unpoison_stack(Fiber& f, size_t stack_bytes) {
#if defined(__SANITIZE_ADDRESS__)
  ASAN_UNPOISON_MEMORY_REGION(f.stack, stack_bytes);
#else
  (void)f;
  (void)stack_bytes;
#endif
}

void run_block(Runtime& r, Block& b, uint3 bid, uint64_t block_linear) {
  blockIdx = bid;
  std::memset(r.dyn, 0xFF, r.dyn_bytes);
  std::memset(r.dyn + r.dyn_bytes, kCanaryByte, kCanary);
  unsigned bx = blockDim.x, by = blockDim.y;
  for (unsigned i = 0; i < b.n; i++) {
    Fiber& f = r.fibers[i];
    unpoison_stack(f, r.stack_bytes);
    if (b.native) {
      prepare_native(f, r.stack_bytes);
    } else {
      f.ctx.uc_stack.ss_sp = f.stack;
      f.ctx.uc_stack.ss_size = r.stack_bytes;
      f.ctx.uc_link = nullptr;
      makecontext(&f.ctx, fiber_entry, 0);
    }
    f.state = State::Ready;
    f.tid = uint3{i % bx, (i / bx) % by, i / (bx * by)};
  }
  b.waiting = b.exited = 0;
  b.failed = false;
  b.ready.resize(b.n);
  for (unsigned i = 0; i < b.n; i++) b.ready[i] = i;
  auto where = [&] { return cat("simt: kernel ", b.kernel, " block ", coord(bid), ": "); };
  for (uint64_t round = 0; !b.ready.empty(); round++) {
    permute(b.ready, r.order, r.seed, block_linear * 0x100000001b3ULL + round);
    b.next.clear();
    for (unsigned i : b.ready) {
      b.current = i;
      threadIdx = r.fibers[i].tid;
      b.switches++;
      resume(b, r.fibers[i]);
      if (b.failed) fail(where(), b.error);
    }
    b.ready.swap(b.next);
  }
  if (b.exited != b.n) {
    // Nothing runnable but some threads still wait: describe who waits where.
    std::string msg = cat(where(), "deadlock: ", b.n - b.exited, " of ", b.n, " threads never finished");
    int shown = 0;
    for (unsigned i = 0; i < b.n && shown < 4; i++) {
      const Fiber& f = r.fibers[i];
      if (f.state == State::Barrier) {
        msg += cat("; thread ", coord(f.tid), " waits at __syncthreads() ", f.file, ":", f.line);
        shown++;
      } else if (f.state == State::Warp) {
        msg += cat("; thread ", coord(f.tid), " (warp ", i / kWarp, " lane ", i % kWarp, ") waits at ",
                   op_name(f.call.op), " ", f.call.file, ":", f.call.line, " with mask ", hex(f.call.mask));
        shown++;
      }
    }
    fail(msg);
  }
  for (size_t k = 0; k < kCanary; k++)
    if (r.dyn[r.dyn_bytes + k] != kCanaryByte)
      fail(where(), "wrote past the end of its ", r.dyn_bytes, " bytes of dynamic shared memory (byte ",
           r.dyn_bytes + k, ")");
}

}  // namespace

namespace {
std::atomic<CopyLanding> g_copy_landing{CopyLanding::AtWait};
}
void set_copy_landing(CopyLanding landing) { g_copy_landing = landing; }
CopyLanding copy_landing() { return g_copy_landing; }

void set_order(Order order, uint64_t seed) {
  Runtime& r = rt();
  std::lock_guard<std::mutex> lock(r.mu);
  init_from_env(r);
  r.order = order;
  r.seed = seed;
}
Order order() {
  Runtime& r = rt();
  std::lock_guard<std::mutex> lock(r.mu);
  init_from_env(r);
  return r.order;
}
void set_switch(Switch sw) {
  Runtime& r = rt();
  std::lock_guard<std::mutex> lock(r.mu);
  init_from_env(r);
  r.sw = (sw == Switch::Native && !BEOP_SIMT_NATIVE_SWITCH) ? Switch::Ucontext : sw;
}
Switch fiber_switch() {
  Runtime& r = rt();
  std::lock_guard<std::mutex> lock(r.mu);
  init_from_env(r);
  return r.sw;
}
uint64_t seed() {
  Runtime& r = rt();
  std::lock_guard<std::mutex> lock(r.mu);
  init_from_env(r);
  return r.seed;
}
LaunchStats last_launch_stats() {
  Runtime& r = rt();
  std::lock_guard<std::mutex> lock(r.mu);
  return r.stats;
}

void* dynamic_shared() {
  need_block("dynamic shared memory");
  return rt().dyn;
}
size_t dynamic_shared_bytes() {
  need_block("dynamic_shared_bytes()");
  return rt().dyn_bytes;
}
namespace {
uint64_t g_block_serial = 0;  // guarded by the runtime lock: blocks run one at a time
}
uint64_t block_serial() {
  need_block("block_serial()");
  return g_block_serial;
}

namespace detail {

int syncthreads(int kind, int pred, const char* file, int line) {
  Block& b = need_block("__syncthreads()");
  Fiber& f = rt().fibers[b.current];
  if (b.waiting == 0) {
    b.bar_file = file;
    b.bar_line = line;
    b.bar_kind = kind;
    b.bar_acc = kind == kBarAnd ? 1 : 0;
  } else if (line != b.bar_line || std::strcmp(file, b.bar_file) != 0 || kind != b.bar_kind) {
    fail("divergent __syncthreads(): threads wait at ", b.bar_file, ":", b.bar_line, " and at ", file, ":",
         line);
  }
  int p = pred != 0;
  if (kind == kBarCount) b.bar_acc += p;
  else if (kind == kBarAnd) b.bar_acc &= p;
  else if (kind == kBarOr) b.bar_acc |= p;
  f.state = State::Barrier;
  f.file = file;
  f.line = line;
  b.waiting++;
  check_barrier(b);
  yield(b);
  return int(f.result);
}

uint64_t warp_op(int op, unsigned mask, uint64_t value, int size, int param, int width, const char* file,
                 int line) {
  Block& b = need_block(op_name(op));
  unsigned me = b.current, lane = me % kWarp;
  if (width < 1 || width > kWarp || (width & (width - 1)))
    fail(op_name(op), " at ", file, ":", line, ": width ", width, " is not a power of two in 1..32");
  if (!(mask >> lane & 1))
    fail(op_name(op), " at ", file, ":", line, ": calling lane ", lane, " is not in mask ", hex(mask));
  Fiber& f = rt().fibers[me];
  f.call = WarpCall{op, mask, value, size, param, width, file, line};
  f.state = State::Warp;
  try_complete_warp(b, me / kWarp, mask);
  yield(b);
  return f.result;
}

void run_launch(const char* kernel, dim3 grid, dim3 block, size_t shmem, void (*body)(void*), void* ctx) {
  if (t_block) fail("simt: kernel ", kernel, " launched from inside kernel ", t_block->kernel,
                    " (dynamic parallelism is not supported)");
  uint64_t nthreads = uint64_t(block.x) * block.y * block.z;
  if (block.x == 0 || block.y == 0 || block.z == 0 || nthreads > kMaxThreads || block.z > 64)
    fail("simt: kernel ", kernel, ": invalid block ", coord(block), " (at most 1024 threads, z <= 64)");
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535)
    fail("simt: kernel ", kernel, ": invalid grid ", coord(grid));
  if (shmem > kMaxDynamicShared)
    fail("simt: kernel ", kernel, ": ", shmem, " bytes of dynamic shared memory exceed ", kMaxDynamicShared);

  Runtime& r = rt();
  std::lock_guard<std::mutex> lock(r.mu);
  init_from_env(r);
  ensure_fibers(r, unsigned(nthreads));
  ensure_dynamic(r, shmem);
  Block& b = r.block;
  b.kernel = kernel;
  b.n = unsigned(nthreads);
  b.body = body;
  b.ctx = ctx;
  b.switches = 0;
  b.native = r.sw == Switch::Native;
  blockDim = block;
  gridDim = grid;

  // Blocks run in the same kind of order as threads (CUDA promises no order between blocks either).
  uint64_t nblocks = uint64_t(grid.x) * grid.y * grid.z;
  std::vector<unsigned> order;
  bool big = nblocks > (1u << 20);  // keep the permutation small; huge grids run in linear order
  if (!big) {
    order.resize(nblocks);
    for (uint64_t i = 0; i < nblocks; i++) order[i] = unsigned(i);
    permute(order, r.order, r.seed, ~0ull);
  }
  t_block = &b;
  struct Reset {
    ~Reset() {
      t_block = nullptr;
      threadIdx = uint3{0, 0, 0};
      blockIdx = uint3{0, 0, 0};
    }
  } reset;
  for (uint64_t k = 0; k < nblocks; k++) {
    uint64_t i = big ? k : order[k];
    uint3 bid{unsigned(i % grid.x), unsigned((i / grid.x) % grid.y), unsigned(i / (uint64_t(grid.x) * grid.y))};
    g_block_serial++;
    run_block(r, b, bid, i);
  }
  r.stats = LaunchStats{nblocks, nblocks * nthreads, b.switches};
}

}  // namespace detail
}  // namespace beop::simt

unsigned __activemask() {
  using namespace beop::simt;
  Block& b = need_block("__activemask()");
  auto& fibers = rt().fibers;
  unsigned base = b.current / kWarp * kWarp, nl = std::min<unsigned>(kWarp, b.n - base), m = 0;
  for (unsigned l = 0; l < nl; l++)
    if (fibers[base + l].state != State::Exited) m |= 1u << l;
  return m;
}

// ---- host runtime API --------------------------------------------------------------------------------------
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
