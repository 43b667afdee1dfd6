// Reductions that g++ -O3 vectorizes without -ffast-math. A running sum `s += term(j)` is one dependency chain
// (4 cycles per add) that the compiler may not reorder; these sums run in W lanes instead (lane k sums the terms
// j = k mod W in order, then the lanes are folded in halves, then the tail in order). The order is fixed by n alone,
// so a result does not depend on the thread count, and it is the same in every call (checkpoint resume, data
// parallel ranks). Before this, RMSNorm's two row sums and the gradient norm's sum were scalar: ~3.5% of a
// 1-thread training step on `small` (perf, docs/PERFORMANCE.md).
// Tests: tests/test_vexp.cpp (the order, against a sum written out), tests/test_ops.cpp (the kernels that use them).
#pragma once
#include <cstdint>

namespace beop::cpu {

// The W lanes' total, halving: acc[k] += acc[k + W/2], ... (log2 W steps of vector adds instead of W dependent
// scalar adds; the flash attention's softmax sums rows of at most 64, where that measured ~1% of its time).
// W a power of two; acc is overwritten.
template <int W, typename Acc>
[[gnu::always_inline]] inline Acc fold_lanes(Acc* acc) {
  static_assert((W & (W - 1)) == 0, "W must be a power of two");
  for (int w = W / 2; w >= 1; w /= 2)
    for (int k = 0; k < w; k++) acc[k] += acc[k + w];
  return acc[0];
}

// sum_{j < n} term(j) in W lanes, folded (fold_lanes), then the tail in order; Acc is the accumulator type
// (double for the gradient norm).
template <int W = 16, typename Acc, typename Term>
[[gnu::always_inline]] inline Acc lane_sum(int64_t n, Term&& term) {
  Acc acc[W] = {};
  int64_t j = 0;
  for (; j + W <= n; j += W)
    for (int k = 0; k < W; k++) acc[k] += term(j + k);
  Acc s = fold_lanes<W>(acc);
  for (; j < n; j++) s += term(j);
  return s;
}

// sum_j x[j] * y[j]
template <typename T>
inline T dot_lanes(const T* x, const T* y, int64_t n) {
  return lane_sum<16, T>(n, [&](int64_t j) { return x[j] * y[j]; });
}

}  // namespace beop::cpu
