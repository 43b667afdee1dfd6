// The fp32 linear op for a few rows (cpu/matmul_smallm.h) against the Eigen path it replaced (cpu/linear.h):
// milliseconds per (N, IC) x (OC, IC)^T for N = 1 .. 128 on the "large" bench model's two MLP shapes, 6 weight
// copies in rotation (so W comes from memory / L3, as in decode), median of 5, the two kernels alternating.
// Sets kSmallmMaxRows (the crossover). Usage: OMP_NUM_THREADS=1 build/bench/bench_smallm
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "cpu/linear.h"
#include "cpu/matmul_smallm.h"
#include "src/rng.h"

using namespace beop;

static double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int main() {
  const int kMaxN = 128, kCopies = 6, kReps = 5;
  for (const auto& [OC, IC] : std::vector<std::pair<int, int>>{{5632, 1024}, {1024, 2816}}) {
    Rng rng(1);
    std::vector<std::vector<float>> W(kCopies, std::vector<float>(size_t(OC) * IC));
    for (auto& w : W)
      for (float& v : w) v = float(rng.normal());
    std::vector<float> x(size_t(kMaxN) * IC), o(size_t(kMaxN) * OC);
    for (float& v : x) v = float(rng.normal());
    std::printf("W (%d, %d): N, Eigen ms, small-M ms, Eigen / small-M\n", OC, IC);
    for (int N : {1, 2, 4, 8, 16, 32, 64, 128}) {
      std::vector<double> te, ts;
      for (int r = 0; r < kReps; r++) {
        double t0 = now();
        for (auto& w : W) cpu::linear_forward(o.data(), x.data(), w.data(), N, IC, OC);
        te.push_back((now() - t0) / kCopies);
        if (N > cpu::kSmallmMaxRows) continue;
        t0 = now();
        for (auto& w : W) cpu::linear_smallm(o.data(), x.data(), w.data(), N, IC, OC);
        ts.push_back((now() - t0) / kCopies);
      }
      std::sort(te.begin(), te.end()), std::sort(ts.begin(), ts.end());
      if (ts.empty()) std::printf("%4d %8.3f        - (over kSmallmMaxRows)\n", N, te[kReps / 2] * 1e3);
      else std::printf("%4d %8.3f %8.3f %5.2fx\n", N, te[kReps / 2] * 1e3, ts[kReps / 2] * 1e3, te[kReps / 2] / ts[kReps / 2]);
    }
  }
  return 0;
}
