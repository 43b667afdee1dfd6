// exp for the CPU kernels' softmaxes and SiLU, written so that g++ -O3 vectorizes the loops that call it: glibc's
// expf is a call per element (no SIMD without -ffast-math), and the softmaxes of the cross-entropy (N x V), the
// attention (B x H x T x T / 2, twice with flash) and SwiGLU (N x F, twice) make it ~6% of a 1-thread training
// step on `small` (perf, docs/PERFORMANCE.md), with the loops around it left scalar.
// fast_exp(float): Cephes' expf: x = n ln2 + r (|r| <= ln2/2, ln2 split in two for an exact product), a degree-6
// polynomial for exp(r), times 2^n built in the exponent bits; within 2 ulp of expf (tests/test_vexp.cpp). The input
// is clamped to [-87.3, 88.3] so 2^n stays a normal float: exp(x < -87.3) gives 1.2e-38 instead of a denormal or 0,
// exp(x > 88.3) gives 2.1e38 instead of inf (the kernels subtract the row maximum, so their arguments are <= 0;
// SiLU's 1 / (1 + exp(-g)) is 4.7e-39 instead of 0 for g < -88.3). NaN stays NaN. double keeps std::exp (the
// gradient checks' precision).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include <Eigen/Core>

#include "cpu/lane_sum.h"

namespace beop::cpu {

// always_inline: in a large caller (the flash backward) g++ otherwise keeps it out of line, and the loop scalar
[[gnu::always_inline]] inline float fast_exp(float x) {
#ifdef BEOP_LIBM_EXP  // glibc's expf instead, to measure what this buys (docs/PERFORMANCE.md): not for use
  return std::exp(x);
#endif
  x = x < -87.3f ? -87.3f : x;  // written so that NaN passes both (comparisons with NaN are false)
  x = x > 88.3f ? 88.3f : x;
  const float shifter = 12582912.f;  // 1.5 * 2^23: adding it rounds to an integer, kept in the low mantissa bits
  const float t = x * 1.44269504088896341f + shifter;
  const float n = t - shifter;                                // round(x / ln2)
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;  // x - n ln2, ln2 = 0.693359375 - 2.12194440e-4
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  const int32_t bits = (int32_t(n) + 127) << 23;  // 2^n, n in [-126, 127]
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}
inline double fast_exp(double x) { return std::exp(x); }

// Returns sum_j exp(x[j] * scale - shift) over j < n, and with kStore writes each exp to out[j] (out may be x).
// The sum runs in 16 lanes (lane k sums j = k mod 16, then the lanes folded in halves, then the tail in order):
// deterministic, and vectorizable where one running sum is not.
template <bool kStore, typename T>
T exp_sum(T* out, const T* x, int n, T scale, T shift) {
  constexpr int W = 16;
  T acc[W] = {};
  int j = 0;
  for (; j + W <= n; j += W)
    for (int k = 0; k < W; k++) {
      const T e = fast_exp(x[j + k] * scale - shift);
      if constexpr (kStore) out[j + k] = e;
      acc[k] += e;
    }
  T sum = fold_lanes<W>(acc);  // cpu/lane_sum.h
  for (; j < n; j++) {
    const T e = fast_exp(x[j] * scale - shift);
    if constexpr (kStore) out[j] = e;
    sum += e;
  }
  return sum;
}

// max_j x[j] over j < n (n >= 1), through Eigen's packet max (g++ leaves a running max, or 16 lanes of one,
// scalar). A NaN in x may or may not win; either way the exp_sum over the same x is NaN, so a NaN row still
// gives a NaN loss or output.
template <typename T>
T row_max(const T* x, int n) {
  return Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(x, n).maxCoeff();
}

}  // namespace beop::cpu
