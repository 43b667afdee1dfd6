// AdamW (Loshchilov & Hutter; the torch.optim.AdamW update) and the global gradient norm.
// CUDA: cuda/kernels/adamw.cuh. Tests: tests/test_ops.cpp, tests/test_cuda_kernels.cpp, tests/test_cuda_bf16.cpp.
#pragma once
#include <cmath>
#include <cstddef>
#include <vector>

#include "cpu/lane_sum.h"

namespace beop::cpu {

// One AdamW step on n parameters, step t >= 1 (bias correction uses t):
//   p -= lr * wd * p                       (decoupled weight decay; wd = 0 for norm gains)
//   m = b1 m + (1-b1) g,  v = b2 v + (1-b2) g^2
//   p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
template <typename T>
void adamw_update(T* p, const T* g, T* m, T* v, size_t n, double lr, double b1, double b2, double eps,
                  double wd, long t) {
  const double bc1 = 1.0 - std::pow(b1, double(t)), bc2 = 1.0 - std::pow(b2, double(t));
  const T decay = T(1.0 - lr * wd), tb1 = T(b1), tb2 = T(b2), tlr = T(lr), teps = T(eps);
  const T ibc1 = T(1.0 / bc1), isbc2 = T(1.0 / std::sqrt(bc2));
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; i++) {
    const T gi = g[i];
    const T mi = m[i] = tb1 * m[i] + (T(1) - tb1) * gi;
    const T vi = v[i] = tb2 * v[i] + (T(1) - tb2) * gi * gi;
    p[i] = p[i] * decay - tlr * (mi * ibc1) / (std::sqrt(vi) * isbc2 + teps);
  }
}

// Sum of squares of n values in double. The array is cut into fixed 4096-element chunks whose partial sums
// are added in chunk order, and each chunk sums in fixed lanes, so the result does not depend on the thread count.
template <typename T>
double sum_squares(const T* x, size_t n) {
  constexpr size_t kChunk = 4096;
  const size_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> part(chunks);
#pragma omp parallel for schedule(static)
  for (size_t c = 0; c < chunks; c++) {
    const size_t b = c * kChunk, e = b + kChunk < n ? b + kChunk : n;
    const T* xc = x + b;  // 32 lanes of double (cpu/lane_sum.h): four zmm chains instead of one scalar chain
    part[c] = lane_sum<32, double>(int64_t(e - b), [&](int64_t i) { return double(xc[i]) * double(xc[i]); });
  }
  double s = 0;
  for (double p : part) s += p;
  return s;
}

// x (n) *= s
template <typename T>
void scale_inplace(T* x, size_t n, T s) {
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; i++) x[i] *= s;
}

}  // namespace beop::cpu
