// The packed fp32 GEMM (cpu/gemm_f32.h) against Eigen's (cpu/linear.h's path, which it replaced in training) on
// the linear layers of a training step: for each projection of the `small` preset at B 8, T 256 (N = 2048 rows),
// GFLOP/s of the forward (x W^T) and of the backward (d_in = dy W and d_W += dy^T x together); then the time of
// one of each projection's three products, which is what a step spends per layer (the LM head once) in them. Median of 5, the two GEMMs alternating, the process's CPU time (with one
// thread: the time the GEMM computed, whatever else holds the machine).
// Usage: OMP_NUM_THREADS=1 build/bench/bench_gemm_f32 [--preset small] [--rows 2048]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "cpu/gemm_f32.h"
#include "cpu/linear.h"
#include "src/config.h"
#include "src/rng.h"

using namespace beop;

static double cpu_now() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

int main(int argc, char** argv) {
  std::string name = "small";
  int N = 2048;
  for (int i = 1; i < argc; i++) {
    if (!std::strcmp(argv[i], "--preset") && i + 1 < argc) name = argv[++i];
    else if (!std::strcmp(argv[i], "--rows") && i + 1 < argc) N = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "error: unknown flag %s (usage: bench_gemm_f32 [--preset NAME] [--rows N])\n", argv[i]);
      return 2;
    }
  }
  if (N <= 4) {
    std::fprintf(stderr, "error: --rows must be above 4 (fewer rows run the decode kernels)\n");
    return 2;
  }
  if (!cpu::gemm_f32_enabled()) {
    std::printf("bench_gemm_f32: the packed fp32 GEMM does not run on this CPU (no AVX-512F, or BEOP_F32_GEMM=eigen)\n");
    return 0;
  }
  ModelConfig cfg;
  try {
    cfg = preset(name);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  struct Proj { const char* name; int IC, OC; };
  const int C = cfg.d_model, F = cfg.ffn_hidden, QKV = cfg.q_dim() + 2 * cfg.kv_dim();
  const Proj projs[] = {{"wq|wk|wv", C, QKV}, {"wo", cfg.q_dim(), C}, {"w_gate|w_up", C, 2 * F}, {"w_down", F, C},
                        {"lm_head", C, cfg.padded_vocab()}};
  std::printf("bench_gemm_f32: preset %s, N = %d rows; GFLOP/s, median of 5, CPU time\n", name.c_str(), N);
  std::printf("%-12s %6s %6s | %-19s | %s\n", "projection", "IC", "OC", "forward Eigen / beop",
              "backward (d_in + d_W) Eigen / beop");
  double total[2] = {0, 0};
  Rng rng(1);
  for (const Proj& p : projs) {
    std::vector<float> x(size_t(N) * p.IC), w(size_t(p.OC) * p.IC), dy(size_t(N) * p.OC), y(dy.size()),
        dx(x.size()), dw(w.size());
    for (float& v : x) v = float(rng.normal());
    for (float& v : w) v = float(0.05 * rng.normal());
    for (float& v : dy) v = float(rng.normal());
    std::vector<double> t[2][2];  // [eigen, packed][forward, backward]
    for (int rep = 0; rep < 5; rep++)
      for (int packed = 0; packed < 2; packed++) {
        cpu::set_gemm_f32_enabled(packed == 1);
        double t0 = cpu_now();
        cpu::linear_forward_f32(y.data(), x.data(), w.data(), N, p.IC, p.OC);
        double t1 = cpu_now();
        cpu::linear_backward_f32(dx.data(), dw.data(), dy.data(), x.data(), w.data(), N, p.IC, p.OC, false);
        double t2 = cpu_now();
        t[packed][0].push_back(t1 - t0);
        t[packed][1].push_back(t2 - t1);
      }
    cpu::set_gemm_f32_enabled(true);
    const double gf = 2.0 * N * p.IC * double(p.OC) * 1e-9;
    double med[2][2];
    for (int k = 0; k < 2; k++)
      for (int j = 0; j < 2; j++) {
        std::sort(t[k][j].begin(), t[k][j].end());
        med[k][j] = t[k][j][2];
      }
    std::printf("%-12s %6d %6d | %8.1f / %8.1f | %8.1f / %8.1f\n", p.name, p.IC, p.OC,
                gf / med[0][0], gf / med[1][0], 2 * gf / med[0][1], 2 * gf / med[1][1]);
    for (int k = 0; k < 2; k++) total[k] += med[k][0] + med[k][1];
  }
  std::printf("one layer's linear GEMMs and the LM head's: Eigen %.1f ms, beop %.1f ms: %.2fx\n", 1e3 * total[0],
              1e3 * total[1], total[0] / total[1]);
  return 0;
}
