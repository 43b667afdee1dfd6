// Fibers of the SIMT runtime: one stack per CUDA thread (mmap'd once, a guard page below each), started at
// fiber_entry either by the native x86-64 switch below or by ucontext. See scheduler.h.
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

#include <cstdlib>
#include <exception>

#include "cuda/simt/scheduler.h"

// Fast fiber switch for x86-64 (System V): saves the callee-saved registers, MXCSR and the x87 control word
// on the current stack, stores the stack pointer in *save, loads `to` and restores the same from there.
// glibc's swapcontext does the same plus a sigprocmask system call per switch, which makes it ~10-20x slower.
// Other architectures use ucontext only.
#if BEOP_SIMT_NATIVE_SWITCH
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
#endif

namespace beop::simt::internal {
namespace {

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

}  // namespace

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

void start_fiber(Fiber& f, bool native, size_t stack_bytes) {
  unpoison_stack(f, stack_bytes);
  if (native) {
    prepare_native(f, stack_bytes);
  } else {
    f.ctx.uc_stack.ss_sp = f.stack;
    f.ctx.uc_stack.ss_size = stack_bytes;
    f.ctx.uc_link = nullptr;
    makecontext(&f.ctx, fiber_entry, 0);
  }
}

}  // namespace beop::simt::internal
