// __syncthreads and the warp primitives of the SIMT runtime: a thread that reaches one records what it
// called and yields; the last thread a barrier or warp exchange waits for completes it and releases everyone.
// Mismatches (divergent barriers, lanes calling different primitives) are one-line errors. See scheduler.h.
#include <algorithm>
#include <cstring>
#include <sstream>

#include "cuda/simt/scheduler.h"

namespace beop::simt {
namespace internal {

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

namespace {

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

}  // namespace

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

}  // namespace internal

namespace detail {

using namespace internal;

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

}  // namespace detail
}  // namespace beop::simt

unsigned __activemask() {
  using namespace beop::simt::internal;
  Block& b = need_block("__activemask()");
  auto& fibers = rt().fibers;
  unsigned base = b.current / kWarp * kWarp, nl = std::min<unsigned>(kWarp, b.n - base), m = 0;
  for (unsigned l = 0; l < nl; l++)
    if (fibers[base + l].state != State::Exited) m |= 1u << l;
  return m;
}
