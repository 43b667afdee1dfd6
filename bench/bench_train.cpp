// Training-throughput benchmark of the CPU path (issue: foundation). Prints, in one run:
//   - this machine's fp32 GEMM ceiling (Eigen, all threads, square 2048 GEMM, best of 3);
//   - beop training steps (forward + backward + clip + AdamW) on the `small` preset at B=8, T=256:
//     tokens/s, achieved GFLOP/s, and the ratio to the ceiling;
//   - the PyTorch reference (bench/torch_train_bench.py, same config) tokens/s, and beop / PyTorch.
// FLOPs per token: linear layers and causal attention (QK^T, PV) forward and backward,
// counted as the CPU path computes them; see flops_per_token.
// Usage: build/bench/bench_train [--preset small] [--batch 8] [--seq 256] [--steps 4] [--no-torch]
#include <omp.h>

#include <Eigen/Core>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "cpu/model_cpu.h"
#include "src/rng.h"

using namespace beop;
using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

static double gemm_ceiling_gflops() {
  const int n = 2048;
  Eigen::MatrixXf a = Eigen::MatrixXf::Random(n, n), b = Eigen::MatrixXf::Random(n, n), c(n, n);
  c.noalias() = a * b;  // warm-up
  double best = 1e30;
  for (int r = 0; r < 3; r++) {
    auto t0 = Clock::now();
    c.noalias() = a * b;
    best = std::min(best, seconds_since(t0));
  }
  return 2.0 * n * n * double(n) / best / 1e9;
}

// Model FLOPs per trained token, counting what the CPU path computes: every linear layer costs 2 FLOPs per
// weight forward and 4 backward (6 in all); causal attention computes only s <= t, so QK^T and PV cost
// 2 * 2 * D * (T+1)/2 per head and token forward, times 3 with the backward pass.
static double flops_per_token(const ModelConfig& c, int T) {
  const double C = c.d_model, F = c.ffn_hidden;
  const double linear = c.n_layers * (C * c.qkv_dim() + c.q_dim() * C + 3 * C * F) + C * c.padded_vocab();
  const double attn = c.n_layers * c.n_heads * 3.0 * (2 * 2 * c.head_dim * (T + 1) / 2.0);
  return 6 * linear + attn;
}

int main(int argc, char** argv) {
  std::string preset_name = "small";
  int B = 8, T = 256, steps = 4;
  bool torch = true;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) { std::fprintf(stderr, "error: %s needs a value\n", a.c_str()); std::exit(2); }
      return argv[++i];
    };
    if (a == "--preset") preset_name = next();
    else if (a == "--batch") B = std::atoi(next());
    else if (a == "--seq") T = std::atoi(next());
    else if (a == "--steps") steps = std::atoi(next());
    else if (a == "--no-torch") torch = false;
    else { std::fprintf(stderr, "error: unknown flag %s\n", a.c_str()); return 2; }
  }
  try {
    const int threads = omp_get_max_threads();
    std::printf("bench_train: preset %s, B=%d T=%d, %d steps, %d threads\n", preset_name.c_str(), B, T, steps, threads);
    const double ceiling = gemm_ceiling_gflops();
    std::printf("fp32 GEMM ceiling (Eigen 2048^3, %d threads): %.1f GFLOP/s\n", threads, ceiling);

    CpuModel m(preset(preset_name));
    m.init_random(1);
    m.reserve(B, T);
    Rng rng(7);
    std::vector<int32_t> x(size_t(B) * T), y(size_t(B) * T);
    AdamWConfig opt;
    double total = 0;
    for (int s = 0; s <= steps; s++) {  // step 0 is the warm-up
      for (size_t i = 0; i < x.size(); i++) x[i] = int32_t(rng.below(m.config().vocab_size));
      for (size_t i = 0; i < y.size(); i++) y[i] = int32_t(rng.below(m.config().vocab_size));
      auto t0 = Clock::now();
      m.zero_grad();
      LossSum ls = m.forward(x.data(), y.data(), nullptr, B, T);
      m.backward(1.0 / double(ls.count));
      m.step(opt, 1e-4);
      if (s > 0) total += seconds_since(t0);
    }
    const double tok_s = double(B) * T * steps / total;
    const double gflops = tok_s * flops_per_token(m.config(), T) / 1e9;
    std::printf("beop cpu    : %8.0f tokens/s  %7.1f ms/step  %6.1f GFLOP/s  = %.0f%% of GEMM ceiling\n", tok_s,
                1e3 * total / steps, gflops, 100 * gflops / ceiling);
    if (torch) {
      const std::string cmd = "/usr/bin/python3 bench/torch_train_bench.py --preset " + preset_name +
                              " --batch " + std::to_string(B) + " --seq " + std::to_string(T) + " --steps " +
                              std::to_string(steps) + " --threads " + std::to_string(threads);
      FILE* p = popen(cmd.c_str(), "r");
      char buf[4096];
      double torch_tok = 0;
      std::string blas;
      while (p && std::fgets(buf, sizeof buf, p)) {
        const char* k = std::strstr(buf, "\"tokens_per_s\":");
        if (k) torch_tok = std::atof(k + 15);
        const char* bl = std::strstr(buf, "\"blas\":");
        if (bl) blas = std::string(bl + 7).substr(0, 60);
      }
      const int rc = p ? pclose(p) : -1;
      if (rc != 0 || torch_tok <= 0) {
        std::printf("pytorch     : failed to run (%s)\n", cmd.c_str());
        return 1;
      }
      std::printf("pytorch     : %8.0f tokens/s  (%s)\n", torch_tok, blas.c_str());
      std::printf("beop / pytorch = %.2fx\n", tok_s / torch_tok);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
