// Shared by the CUDA backend tests (tests/test_cuda_{mma,cp_async,kernels,model,bf16}.cpp): the ONE fp32
// tolerance, the error measure, device buffers that start POISONED, and a guard for the SIMT schedule.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cuda/simt/simt.h"

namespace beop::cudatest {

// fp32 CUDA kernel vs fp32 CPU reference (cpu/*.h), both computing the same formula: they differ only in
// the ORDER of additions (block/warp trees and two-stage chunked sums on the GPU side, sequential loops or a
// differently blocked Eigen GEMM on the CPU side). Reordering a sum of n fp32 terms moves it by about
// sqrt(n) * 2^-24 of the sum's magnitude (worst case n * 2^-24); with the n <= ~1000 terms here that is
// ~1e-6 of the tensor's scale, and a few chained ops (whole model, 10 AdamW steps) stay within a few times
// that. 1e-5 leaves that margin, while a wrong index, a dropped term or an unwritten element gives O(1).
constexpr double kTolF32 = 1e-5;

// bf16 CUDA kernel (bf16 storage, fp32 arithmetic) vs the fp32 CPU reference run on the SAME bf16 values
// widened to fp32 (exact). bf16 keeps 8 significant bits, so one rounding moves a value by at most
// u = 2^-9 relative (round to nearest) and one ulp is 2^-8 = 3.9e-3 of its magnitude. The sums themselves are
// fp32 (reductions of n <= ~1000 terms: ~1e-6, negligible), so the error is the bf16 roundings of the results
// and of the intermediates a kernel or model stores in bf16 — e.g. attention stores S, then P, and P·V is
// rounded again; a score error of u·|S| becomes a relative error of u·|S|·scale in exp(), with |S|·scale up to
// ~4 for unit-normal inputs. A handful of such roundings, each ~2^-9..2^-8, adds up to ~5 ulp-halves = 1e-2;
// 2e-2 is that with a factor-2 margin, while a wrong index, a dropped term or an unwritten element still gives
// O(1). The same bound serves for the whole bf16 model's loss vs the fp32 CPU model (the loss is a mean over
// tokens, so the per-element roundings average rather than add).
constexpr double kTolBf16 = 2e-2;

// max_i |got_i - ref_i| / max_i |ref_i|; +inf if got has a non-finite element where ref is finite (so a
// poisoned element the kernel never wrote — NaN — fails the comparison instead of being skipped by max()).
template <typename T, typename U>
double rel_err(const std::vector<T>& got, const std::vector<U>& ref) {
  if (got.size() != ref.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); i++) {
    if (!std::isfinite(double(got[i])) && std::isfinite(double(ref[i]))) return INFINITY;
    num = std::max(num, std::fabs(double(got[i]) - double(ref[i])));
    den = std::max(den, std::fabs(double(ref[i])));
  }
  return den == 0 ? num : num / den;
}

// The elements of one slot of a (B, T, (H+2KV)*D) q|k|v tensor: part 0 = q, 1 = k, 2 = v. Attention
// gradients are compared per slot, so that a small error in dq cannot hide behind larger dk/dv values.
inline std::vector<float> qkv_slot(const std::vector<float>& v, int H, int KV, int D, int part) {
  const int row = (H + 2 * KV) * D;
  const int lo = part == 0 ? 0 : part == 1 ? H * D : (H + KV) * D;
  const int hi = part == 0 ? H * D : part == 1 ? (H + KV) * D : row;
  std::vector<float> out;
  for (size_t i = 0; i < v.size(); i++)
    if (int(i % row) >= lo && int(i % row) < hi) out.push_back(v[i]);
  return out;
}

// A "device" buffer (cudaMalloc; host memory under SIMT). Made from host data, or of n elements filled
// with 0xFF bytes = NaN for float (-1 for int): the poison that catches elements a kernel does not write.
template <typename T>
struct Dev {
  T* p = nullptr;
  size_t n = 0;
  explicit Dev(size_t n_) : n(n_) {
    REQUIRE(cudaMalloc(&p, n * sizeof(T) + 1) == cudaSuccess);
    REQUIRE(cudaMemset(p, 0xFF, n * sizeof(T)) == cudaSuccess);
  }
  explicit Dev(const std::vector<T>& h) : Dev(h.size()) { set(h); }
  void set(const std::vector<T>& h) {
    REQUIRE(h.size() == n);
    REQUIRE(cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice) == cudaSuccess);
  }
  std::vector<T> get() const {
    std::vector<T> h(n);
    REQUIRE(cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost) == cudaSuccess);
    return h;
  }
  ~Dev() { cudaFree(p); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
};

// Restores the SIMT schedule (order, seed) and the cp.async landing mode when a test that changes them ends,
// also when it ends by a failed REQUIRE, so that later tests run with the defaults. (No-ops under nvcc, where
// the hardware decides both.)
struct ScheduleGuard {
  simt::Order order = simt::order();
  uint64_t seed = simt::seed();
  simt::CopyLanding landing = simt::copy_landing();
  ~ScheduleGuard() {
    simt::set_order(order, seed);
    simt::set_copy_landing(landing);
  }
};

}  // namespace beop::cudatest
