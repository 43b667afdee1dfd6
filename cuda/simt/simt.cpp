// The SIMT runtime: runs a CUDA grid on the calling OS thread, one block at a time, one fiber per CUDA
// thread. This file has the launch (configuration, block and thread order, running a block, dynamic shared
// memory); the fibers are fibers.cpp's, the barriers and warp primitives sync.cpp's, the host runtime API
// host_api.cpp's (scheduler.h lists them). See docs/SIMT.md.
#include "cuda/simt/simt.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "cuda/simt/scheduler.h"

namespace beop::simt {
using namespace internal;
namespace {

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

void run_block(Runtime& r, Block& b, uint3 bid, uint64_t block_linear) {
  blockIdx = bid;
  std::memset(r.dyn, 0xFF, r.dyn_bytes);
  std::memset(r.dyn + r.dyn_bytes, kCanaryByte, kCanary);
  unsigned bx = blockDim.x, by = blockDim.y;
  for (unsigned i = 0; i < b.n; i++) {
    Fiber& f = r.fibers[i];
    start_fiber(f, b.native, r.stack_bytes);
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
