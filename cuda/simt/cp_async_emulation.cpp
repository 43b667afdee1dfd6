// The host emulation of the asynchronous copies of cuda/simt/cp_async.h (semantics documented there), on top of
// the SIMT runtime: a copy reads its source when issued and writes its destination when the issuing thread's
// wait retires its group, or at once (simt::set_copy_landing). Compiled into build/libbeop.a with the runtime.
// Tests: tests/test_cuda_cp_async.cpp.
#include <cstdint>
#include <cstring>
#include <vector>

#include "cuda/simt/cp_async.h"

namespace beop::async {

namespace {

struct Copy {
  unsigned char* dst;
  unsigned char bytes[16];
};
struct Pending {  // one CUDA thread's copies
  uint64_t block = ~uint64_t(0);
  std::vector<Copy> open;                  // issued since the last commit
  std::vector<std::vector<Copy>> groups;  // committed, oldest first
};
// The calling thread's pending copies (blocks run one at a time per OS thread; reset for every block).
Pending& pending() {
  static thread_local std::vector<Pending> all(1024);
  const unsigned t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  Pending& p = all[t];
  if (p.block != beop::simt::block_serial()) {
    p.open.clear();
    p.groups.clear();
    p.block = beop::simt::block_serial();
  }
  return p;
}
[[noreturn]] void misuse(const char* why, const char* file, int line) {
  beop::fail("cp_async16 at ", file, ":", line, ": ", why);
}

}  // namespace

void cp_async16(void* dst, const void* src, bool fill, const char* file, int line) {
  auto* d = static_cast<unsigned char*>(dst);
  const auto* base = static_cast<unsigned char*>(beop::simt::dynamic_shared());
  if (reinterpret_cast<uintptr_t>(dst) % 16 != 0 || reinterpret_cast<uintptr_t>(src) % 16 != 0)
    misuse("address not 16-byte aligned", file, line);
  if (d < base || d + 16 > base + beop::simt::dynamic_shared_bytes())
    misuse("destination outside the block's dynamic shared memory", file, line);
  Copy c;
  c.dst = d;
  if (fill)
    std::memcpy(c.bytes, src, 16);
  else
    std::memset(c.bytes, 0, 16);
  if (beop::simt::copy_landing() == beop::simt::CopyLanding::AtIssue)
    std::memcpy(d, c.bytes, 16);
  else
    pending().open.push_back(c);
}

void cp_async_commit() {
  Pending& p = pending();
  p.groups.push_back(std::move(p.open));
  p.open.clear();
}

void cp_async_wait_groups(int n) {
  Pending& p = pending();
  while (p.groups.size() > size_t(n)) {
    for (const Copy& c : p.groups.front()) std::memcpy(c.dst, c.bytes, 16);
    p.groups.erase(p.groups.begin());
  }
}

}  // namespace beop::async
