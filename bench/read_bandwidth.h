// STREAM-style read bandwidth, the denominator of every decode bound in bench_infer and bench_infer_dtype.
#pragma once
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "cpu/host_memory.h"

namespace beop::bench {

// STREAM-style read bandwidth (bytes/s): sum of a float buffer of `bytes`, all threads, best of `reps`.
inline double read_bandwidth(size_t bytes, int reps) {
  const size_t n = bytes / sizeof(float);
  std::vector<float, cpu::HostAllocator<float>> buf(n);
#pragma omp parallel for schedule(static)
  for (long i = 0; i < long(n); i++) buf[size_t(i)] = float(i & 7);  // touch every page before timing
  double best = 1e30, sink = 0;
  for (int r = 0; r < reps; r++) {
    const auto t0 = std::chrono::steady_clock::now();
    // 16 independent accumulators per thread: the loop vectorises and is load-bound, not bound by the latency
    // of one serial add chain (a plain `s += x` reduction measures ~5x less here)
    double s = 0;
#pragma omp parallel reduction(+ : s)
    {
      const int nt = omp_get_num_threads(), id = omp_get_thread_num();
      const size_t lo = n / 16 * size_t(id) / size_t(nt) * 16, hi = n / 16 * size_t(id + 1) / size_t(nt) * 16;
      float acc[16] = {0};
      for (size_t i = lo; i < hi; i += 16)
        for (int k = 0; k < 16; k++) acc[k] += buf[i + size_t(k)];
      for (float a : acc) s += a;
    }
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    sink += s;
  }
  if (sink == 42) std::printf(" ");  // keep the sum alive
  return double(n * sizeof(float)) / best;
}

}  // namespace beop::bench
