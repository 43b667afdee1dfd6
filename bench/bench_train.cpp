// Training-throughput benchmark of the CPU path against PyTorch 2.x (issues 2 and 17). Prints, in one run:
//   - this machine's fp32 GEMM ceiling (the faster of Eigen and beop's packed cpu/gemm_f32.h, all threads,
//     square 2048 GEMM, best of 3) and the bf16 one
//     (beop's cpu/gemm_bf16.h at 2048^3, fp32 sums; on a CPU with AMX also the AVX512-BF16 kernel's);
//   - beop training steps (forward + backward + clip + AdamW) on the `small` preset at B=8, T=256, fp32 and
//     --dtype bf16: tokens/s, achieved GFLOP/s, and the ratio to the ceiling; where bf16 runs on AMX
//     (cpu/gemm_amx.h) also "bf16-avx512", the same steps with AMX off (as BEOP_BF16_NO_AMX=1);
//   - PyTorch 2.x from PyPI (bench/torch_train_bench.py in the venv of bench/torch_venv.sh, same model and
//     shapes): eager fp32, eager bf16 autocast, and with --compile torch.compile of both;
//   - beop / PyTorch per precision. beop and PyTorch run alternately, --rounds times (default 3); each figure
//     is the median over the rounds, so a load change on a shared machine hits both sides alike.
// FLOPs per token: linear layers and causal attention (QK^T, PV) forward and backward,
// counted as the CPU path computes them; see flops_per_token.
//   - with --attention both, beop's fp32 steps once with each attention (cpu/attention.h, cpu/attention_flash.h).
// Usage: build/bench/bench_train [--preset small] [--batch 8] [--seq 256] [--steps 3] [--rounds 3] [--no-torch]
//                                [--compile] [--dtype fp32|bf16|both] [--attention flash|gemm|both] [--cpu-time]
#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <ctime>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cpu/gemm_amx.h"
#include "cpu/gemm_bf16.h"
#include "cpu/gemm_f32.h"
#include "cpu/model_cpu.h"
#include "src/rng.h"

using namespace beop;


// --cpu-time: steps and the ceiling are timed in the process's CPU time instead of wall time. With one thread
// that is the time the step computed, whatever else holds the machine (the torch side passes --cpu-time too).
static bool g_cpu_time = false;
struct Clock {
  using time_point = double;
  static double now() {
    timespec ts;
    clock_gettime(g_cpu_time ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
  }
};
static double seconds_since(double t0) { return Clock::now() - t0; }

// The fp32 GEMM ceiling: the faster of Eigen's and beop's packed GEMM (cpu/gemm_f32.h, where the CPU runs it) on
// a square 2048 product, best of 3 each; *eigen and *packed get each one's figure (0: not run).
static double gemm_ceiling_gflops(double* eigen = nullptr, double* packed = nullptr) {
  const int n = 2048;
  Eigen::MatrixXf a = Eigen::MatrixXf::Random(n, n), b = Eigen::MatrixXf::Random(n, n), c(n, n);
  auto best_of_3 = [&](auto&& product) {
    product();  // warm-up
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
      auto t0 = Clock::now();
      product();
      best = std::min(best, seconds_since(t0));
    }
    return 2.0 * n * n * double(n) / best / 1e9;
  };
  const double e = best_of_3([&] { c.noalias() = a * b; });
  double p = 0;
  if (cpu::gemm_f32_enabled())  // column-major a, b, c as row-major transposes: c^T = b^T a^T
    p = best_of_3([&] { cpu::gemm_f32(n, n, n, b.data(), n, 1, a.data(), n, 1, c.data(), n, false); });
  if (eigen) *eigen = e;
  if (packed) *packed = p;
  return std::max(e, p);
}

static const char* kernel_name(cpu::Bf16Kernel k) {
  return k == cpu::Bf16Kernel::kAmx ? "amx" : k == cpu::Bf16Kernel::kAvx512 ? "avx512_bf16" : "portable";
}

static double gemm_bf16_ceiling_gflops() {
  const int n = 2048;
  Eigen::MatrixXf a = Eigen::MatrixXf::Random(n, n), b = Eigen::MatrixXf::Random(n, n), c(n, n);
  double best = 1e30;
  for (int r = 0; r < 4; r++) {  // the first is the warm-up
    auto t0 = Clock::now();
    cpu::gemm_bf16(n, n, n, a.data(), n, 1, b.data(), n, 1, c.data(), n, false);
    if (r > 0) best = std::min(best, seconds_since(t0));
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

static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// beop: `steps` timed full steps after one warm-up; tokens/s.
static double beop_tok_s(CpuModel& m, int B, int T, int steps, Rng& rng) {
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
  return double(B) * T * steps / total;
}

// One run of bench/torch_train_bench.py; tokens/s, or 0 (with the reason printed) when it failed.
static double torch_tok_s(const std::string& py, const std::string& args, std::string* info) {
  const std::string cmd = py + " bench/torch_train_bench.py " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  char buf[8192];
  double tok = 0;
  std::string last;
  while (p && std::fgets(buf, sizeof buf, p)) {
    last = buf;
    if (const char* k = std::strstr(buf, "\"tokens_per_s\":")) tok = std::atof(k + 15);
    if (const char* v = std::strstr(buf, "\"torch\": \"")) *info = std::string(v + 10, std::strcspn(v + 10, "\""));
    if (const char* bl = std::strstr(buf, "BLAS_INFO=")) *info += std::string(", ") + std::string(bl, std::strcspn(bl, "\"]"));
  }
  const int rc = p ? pclose(p) : -1;
  if (rc != 0 || tok <= 0) {
    std::printf("  pytorch %s: failed (%s)\n", args.c_str(), last.substr(0, 200).c_str());
    return 0;
  }
  return tok;
}

int main(int argc, char** argv) {
  std::string preset_name = "small", dtypes = "both", attention = "flash";
  int B = 8, T = 256, steps = 3, rounds = 3;
  bool torch = true, compile = false;
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
    else if (a == "--rounds") rounds = std::atoi(next());
    else if (a == "--dtype") dtypes = next();
    else if (a == "--attention") attention = next();
    else if (a == "--no-torch") torch = false;
    else if (a == "--cpu-time") g_cpu_time = true;
    else if (a == "--compile") compile = true;
    else { std::fprintf(stderr, "error: unknown flag %s\n", a.c_str()); return 2; }
  }
  if (B <= 0 || T <= 0 || steps <= 0 || rounds <= 0 || (dtypes != "fp32" && dtypes != "bf16" && dtypes != "both") ||
      (attention != "flash" && attention != "gemm" && attention != "both")) {
    std::fprintf(stderr, "error: --batch, --seq, --steps, --rounds must be positive; --dtype fp32|bf16|both; "
                 "--attention flash|gemm|both\n");
    return 2;
  }
  try {
    const int threads = omp_get_max_threads();
    std::printf("bench_train: preset %s, B=%d T=%d, %d steps x %d rounds, %d threads, %s time\n", preset_name.c_str(),
                B, T, steps, rounds, threads, g_cpu_time ? "CPU" : "wall");
    // The fp32 ceiling is measured again in every round and its median taken, so that "% of the ceiling" compares
    // figures from the same stretch of a shared machine's load.
    double eigen_gf = 0, packed_gf = 0;
    std::vector<double> ceilings{gemm_ceiling_gflops(&eigen_gf, &packed_gf)};
    std::printf("fp32 GEMM ceiling (2048^3, %d threads): Eigen %.1f GFLOP/s, beop gemm_f32 %.1f (0: not on this CPU)\n",
                threads, eigen_gf, packed_gf);
    std::vector<std::string> dts;
    if (dtypes != "bf16") dts.push_back("fp32");
    if (dtypes != "fp32") dts.push_back("bf16");
    double ceiling16 = 0, ceiling16_avx = 0;
    if (dtypes != "fp32") {
      ceiling16 = gemm_bf16_ceiling_gflops();
      std::printf("bf16 GEMM ceiling (beop gemm_bf16 2048^3, %s kernel): %.1f GFLOP/s\n",
                  kernel_name(cpu::bf16_kernel()), ceiling16);
      if (cpu::bf16_kernel() == cpu::Bf16Kernel::kAmx) {  // the AVX512-BF16 kernel too, in the same run
        dts.push_back("bf16-avx512");
        cpu::set_bf16_kernel(cpu::Bf16Kernel::kAvx512);
        ceiling16_avx = gemm_bf16_ceiling_gflops();
        cpu::set_bf16_kernel(cpu::Bf16Kernel::kAuto);
        std::printf("bf16 GEMM ceiling (beop gemm_bf16 2048^3, avx512_bf16 kernel): %.1f GFLOP/s\n", ceiling16_avx);
      }
    }
    std::string py;
    if (torch) {
      FILE* p = popen("bash bench/torch_venv.sh", "r");
      char buf[4096];
      while (p && std::fgets(buf, sizeof buf, p)) py = std::string(buf, std::strcspn(buf, "\n"));
      if (!p || pclose(p) != 0 || py.empty()) {
        std::printf("pytorch     : unavailable (bench/torch_venv.sh failed): beop figures only\n");
        torch = false;
      }
    }
    const ModelConfig cfg = preset(preset_name);
    const double fpt = flops_per_token(cfg, T);
    struct Series { std::string name; std::vector<double> tok; };
    std::vector<Series> series;
    auto add = [&](const std::string& name, double v) {
      for (Series& s : series)
        if (s.name == name) return s.tok.push_back(v);
      series.push_back({name, {v}});
    };
    std::string torch_info;
    Rng rng(7);
    for (int r = 0; r < rounds; r++) {
      if (r > 0) ceilings.push_back(gemm_ceiling_gflops());
      for (const std::string& dt : dts) {
        const bool avx = dt == "bf16-avx512";
        const std::string torch_dt = dt.substr(0, 4);  // fp32 | bf16
        // the gemm attention first, as a baseline, when both are asked for (fp32 only); the flash one is "beop dt"
        for (const std::string attn : {"gemm", "flash"}) {
          if (attention != "both" && attn != attention) continue;
          if (attention == "both" && attn == "gemm" && dt != "fp32") continue;
          cpu::set_bf16_kernel(avx ? cpu::Bf16Kernel::kAvx512 : cpu::Bf16Kernel::kAuto);
          CpuModel m(cfg);
          m.ops().set_gemm_dtype(torch_dt);
          m.ops().set_attention(attn);
          m.init_random(1);
          m.reserve(B, T);
          const double b = beop_tok_s(m, B, T, steps, rng);
          const std::string name = "beop " + dt + (attention == "both" && attn == "gemm" ? " gemm-attn" : "");
          add(name, b);
          std::printf("round %d  %s: %.0f tokens/s\n", r + 1, name.c_str(), b);
          std::fflush(stdout);
          cpu::set_bf16_kernel(cpu::Bf16Kernel::kAuto);
        }
        if (!torch || avx) continue;
        const std::string args = "--preset " + preset_name + " --batch " + std::to_string(B) + " --seq " +
                                 std::to_string(T) + " --steps " + std::to_string(steps) + " --threads " +
                                 std::to_string(threads) + " --dtype " + torch_dt + (g_cpu_time ? " --cpu-time" : "");
        for (int c = 0; c < (compile ? 2 : 1); c++) {
          const std::string name = std::string("pytorch ") + (c ? "compile " : "eager ") + dt;
          const double t = torch_tok_s(py, args + (c ? " --compile --warmup 2" : ""), &torch_info);
          if (t > 0) add(name, t);
          std::printf("round %d  %s: %.0f tokens/s\n", r + 1, name.c_str(), t);
          std::fflush(stdout);
        }
      }
    }
    const double ceiling = median(ceilings);
    std::printf("\nmedians over %d rounds (%s); fp32 GEMM ceiling %.1f GFLOP/s\n", rounds,
                torch ? torch_info.c_str() : "beop only", ceiling);
    for (const Series& s : series) {
      const double tok = median(s.tok);
      std::printf("%-22s %8.0f tokens/s  %7.1f ms/step", s.name.c_str(), tok, 1e3 * B * T / tok);
      if (s.name.compare(0, 4, "beop") == 0) {
        const double gf = tok * fpt / 1e9;
        const double ceil = s.name.compare(0, 9, "beop fp32") == 0   ? ceiling
                            : s.name.compare(0, 16, "beop bf16-avx512") == 0 ? ceiling16_avx
                                                                          : ceiling16;
        std::printf("  %6.1f GFLOP/s = %.0f%% of the %s GEMM ceiling", gf, 100 * gf / ceil,
                    s.name.compare(0, 16, "beop bf16-avx512") == 0 ? "bf16-avx512" : s.name.substr(5, 4).c_str());
      }
      std::printf("\n");
    }
    for (const std::string& dt : dts)
      for (const Series& s : series)
        if (s.name.compare(0, 8, "pytorch ") == 0 && s.name.size() > 4 &&
            s.name.substr(s.name.size() - 4) == dt.substr(0, 4))
          for (const Series& b : series)
            if (b.name == "beop " + dt)
              std::printf("beop %s / %s = %.2fx\n", dt.c_str(), s.name.c_str(), median(b.tok) / median(s.tok));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
