// Inference benchmark of the CPU path (issue: infer). Prints, in one run:
//   - batch-1 prefill and decode tokens/s through the KV cache (CausalLM::step, the path ./infer uses) for the
//     `small` preset and for a model whose weights do not fit in cache ("large": C=1024, L=8, V=32768);
//   - the memory-bandwidth bound of decoding, measured in the same run: a STREAM-style read (sum) of a buffer
//     as large as the weights one decode step reads (every matrix but the embedding table, of which one row is
//     read), bound = bandwidth / bytes per token, and decode / bound;
//   - server throughput with continuous batching: aggregate generated tokens/s of 8 concurrent clients against
//     one client's, on an in-process ChatServer over the "large" dims (weight-bandwidth-bound in decode), 32 new
//     tokens per request, greedy, no end-of-turn stop; rounds alternate, median of 3.
// --decode-only: only the decode tok/s of "large" (bench/contention.sh runs it under competing busy loops).
// Random weights throughout (speed does not depend on the values). Usage: build/bench/bench_infer [--quick | --decode-only | --serve-only]
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cpu/matmul_smallm.h"
#include "cpu/model_cpu.h"
#include "legal/serve/httplib_config.h"
#include "legal/serve/server.h"
#include "src/generator.h"
#include "bench/read_bandwidth.h"

using namespace beop;
using beop::bench::read_bandwidth;
using Clock = std::chrono::steady_clock;

static double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Row {
  std::string name;
  double params_m = 0, mb_per_token = 0, prefill = 0, decode = 0, bw = 0, bound = 0;
};

static Row bench_model(const std::string& name, const ModelConfig& cfg, int prompt_len, int decode_steps, int reps,
                       bool probe_bandwidth = true) {
  auto m = std::make_unique<CpuModel>(cfg);
  m->init_random(1);
  const ParamLayout& L = m->layout();
  // bytes one decode step must stream: all parameters except the embedding table (one row of it)
  const double bytes = double(L.total - size_t(cfg.padded_vocab()) * size_t(cfg.d_model)) * sizeof(float);
  ModelLM<CpuModel> lm(std::move(m));
  Row r;
  r.name = name;
  r.params_m = double(cfg.num_params()) / 1e6;
  r.mb_per_token = bytes / 1e6;
  lm.reset(prompt_len + decode_steps + 1);
  std::vector<int32_t> prompt(static_cast<size_t>(prompt_len));
  Rng rng(5);
  for (auto& t : prompt) t = int32_t(rng.below(uint64_t(cfg.vocab_size)));
  double best_prefill = 1e30, best_decode = 1e30;
  for (int k = 0; k < reps; k++) {
    auto t0 = Clock::now();
    std::vector<float> logits = lm.step(prompt.data(), prompt_len, 0);
    best_prefill = std::min(best_prefill, since(t0));
    int32_t tok = argmax(logits);
    t0 = Clock::now();
    for (int s = 0; s < decode_steps; s++) tok = argmax(lm.step(&tok, 1, prompt_len + s));
    best_decode = std::min(best_decode, since(t0));
  }
  r.prefill = prompt_len / best_prefill;
  r.decode = decode_steps / best_decode;
  if (!probe_bandwidth) return r;
  r.bw = read_bandwidth(size_t(bytes), 5);
  r.bound = r.bw / bytes;
  return r;
}

static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Model-level continuous-batching throughput, no HTTP: decode tokens/s of one sequence (Model::slot_decode with
// n = 1) and of n sequences per step, alternating, median of `rounds`; each round decodes `steps` steps.
static void bench_batched_decode(const ModelConfig& cfg, int n, int steps, int rounds) {
  auto m = std::make_unique<CpuModel>(cfg);
  m->init_random(1);
  const int P = 16;
  m->slots_reserve(n, P + rounds * 4 * steps + 2);  // slot 0 advances in all four runs of a round
  std::vector<int32_t> prompt(static_cast<size_t>(P), 5);
  for (int s = 0; s < n; s++) m->slot_prefill(prompt.data(), P, 0, s);
  std::vector<int32_t> tok(static_cast<size_t>(n), 7);
  std::vector<int> slot(static_cast<size_t>(n)), pos(static_cast<size_t>(n), P);
  for (int s = 0; s < n; s++) slot[size_t(s)] = s;
  std::vector<double> one, many, one_old, many_old;
  auto run = [&](int k) {
    const auto t0 = Clock::now();
    for (int i = 0; i < steps; i++) {
      m->slot_decode(tok.data(), slot.data(), pos.data(), k);
      for (int s = 0; s < k; s++) pos[size_t(s)]++;
    }
    return double(k) * steps / since(t0);
  };
  // each round: the small-M kernel (cpu/matmul_smallm.h), then cpu::linear_forward's Eigen path it replaced
  for (int r = 0; r < rounds; r++) {
    cpu::smallm_set_enabled(true);
    one.push_back(run(1)), many.push_back(run(n));
    cpu::smallm_set_enabled(false);
    one_old.push_back(run(1)), many_old.push_back(run(n));
  }
  cpu::smallm_set_enabled(true);
  const double a = median(one), b = median(many), a0 = median(one_old), b0 = median(many_old);
  std::printf("batched decode (%s dims, %.1f M params, Model::slot_decode, %d steps, median of %d alternating rounds): "
              "1 sequence %.1f tok/s, %d sequences %.1f tok/s = %.2fx; Eigen few-row path (BEOP_SMALLM=0): "
              "%.1f, %.1f tok/s = %.2fx\n",
              cfg.name.c_str(), double(cfg.num_params()) / 1e6, steps, rounds, a, n, b, b / a, a0, b0, b0 / a0);
}

static std::atomic<long> g_prompt_tokens{0};  // a request's prompt length (prefill rows), for the printout

// Aggregate generated tokens/s of `clients` concurrent clients, each sending `per_client` chat requests.
static double serve_round(int port, int clients, int per_client, long* failed) {
  std::vector<long> tokens(size_t(clients), 0), failures(size_t(clients), 0);
  const auto t0 = Clock::now();
  std::vector<std::thread> ts;
  for (int k = 0; k < clients; k++)
    ts.emplace_back([&, k] {
      httplib::Client cl("127.0.0.1", port);
      cl.set_read_timeout(300, 0);
      for (int i = 0; i < per_client; i++) {
        const nlohmann::json req = {{"messages", {{{"role", "user"}, {"content", "임대차 질문 " + std::to_string(k * 100 + i)}}}}};
        auto r = cl.Post("/v1/chat/completions", req.dump(), "application/json");
        if (!r || r->status != 200) {
          failures[size_t(k)]++;
          continue;
        }
        const nlohmann::json u = nlohmann::json::parse(r->body)["usage"];
        tokens[size_t(k)] += u["completion_tokens"].get<long>();
        g_prompt_tokens = u["prompt_tokens"].get<long>();
      }
    });
  for (auto& t : ts) t.join();
  const double secs = since(t0);
  long tok_sum = 0;
  for (int k = 0; k < clients; k++) tok_sum += tokens[size_t(k)], *failed += failures[size_t(k)];
  return double(tok_sum) / secs;
}

// Continuous batching (src/batch_generator.h): one in-process ChatServer (--max-batch 8), rounds of 1 client and
// of 8 concurrent clients alternating, median of `rounds` each; the model is `cfg` with the test tokenizer's
// vocabulary (greedy, max_tokens new tokens per request, no end-of-turn stop).
static void bench_server(const ModelConfig& dims, int clients, int rounds, int max_tokens) {
  BpeTrainOptions bo;
  bo.vocab_size = 400, bo.progress = false;
  const Tokenizer tok = Tokenizer::train_from_texts(
      {"법원은 판결한다. 임대차는 등기가 없는 경우에도 효력이 있다.", "To be or not to be, that is the question."}, bo);
  ModelConfig c = dims;
  c.vocab_size = tok.vocab_size();
  auto m = std::make_unique<CpuModel>(c);
  m->init_random(2);
  ModelLM<CpuModel> lm(std::move(m));
  Generator gen(lm, tok);
  ServerOptions so;
  so.defaults.sampling.temperature = 0;
  so.defaults.max_new_tokens = max_tokens;
  so.defaults.stop_at_eos = false;
  so.default_system = "none";
  so.max_batch = clients, so.queue_limit = clients;
  ChatServer server(gen, so);
  const int port = server.bind("127.0.0.1", 0);
  std::thread th([&] { server.run(); });
  for (int i = 0; i < 200; i++) {
    httplib::Client cl("127.0.0.1", port);
    if (auto r = cl.Get("/health"); r && r->status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  long failed = 0;
  std::vector<double> one, many, one_old, many_old;
  for (int r = 0; r < rounds; r++) {  // the small-M kernel, then the Eigen path (between rounds: the server is idle)
    cpu::smallm_set_enabled(true);
    one.push_back(serve_round(port, 1, 2, &failed));
    many.push_back(serve_round(port, clients, 1, &failed));
    cpu::smallm_set_enabled(false);
    one_old.push_back(serve_round(port, 1, 2, &failed));
    many_old.push_back(serve_round(port, clients, 1, &failed));
  }
  cpu::smallm_set_enabled(true);
  server.stop();
  th.join();
  const double a = median(one), b = median(many), a0 = median(one_old), b0 = median(many_old);
  std::printf("server (%s dims, %.1f M params, V %d, --max-batch %d, %d new tokens per request, median of %d "
              "alternating rounds): 1 client %.1f tokens/s, %d concurrent clients %.1f tokens/s = %.2fx; Eigen few-row "
              "path (BEOP_SMALLM=0): %.1f, %.1f tokens/s = %.2fx; %ld failed; prompts of %ld tokens\n",
              c.name.c_str(), double(c.num_params()) / 1e6, c.vocab_size, clients, max_tokens, rounds, a, clients, b,
              b / a, a0, b0, b0 / a0, failed, g_prompt_tokens.load());
}

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  std::printf("bench_infer: %d OpenMP threads, fp32, batch 1\n", omp_get_max_threads());
  ModelConfig large = preset("small");
  large.name = "large";
  large.vocab_size = 32768, large.d_model = 1024, large.n_layers = 8, large.n_heads = 16, large.n_kv_heads = 4;
  large.head_dim = 64, large.ffn_hidden = 2816, large.max_seq_len = 1024;
  if (argc > 1 && std::strcmp(argv[1], "--decode-only") == 0) {
    const Row a = bench_model("small", preset("small"), 16, 64, 1, false);
    const Row b = bench_model("large", large, 16, 16, 1, false);
    std::printf("decode tok/s: small %.1f large %.1f\n", a.decode, b.decode);
    return 0;
  }
  if (argc > 1 && std::strcmp(argv[1], "--serve-only") == 0) {
    // --new-tokens 32,128: the generation lengths to serve (each its own alternating run; default 32). The share
    // of a request's time that is its prompt's prefill, which batching cannot share, falls as answers get longer.
    std::vector<int> lengths;
    for (int i = 2; i < argc; i++) {
      if (std::strcmp(argv[i], "--new-tokens") != 0 || i + 1 >= argc) {
        std::fprintf(stderr, "error: --serve-only takes only --new-tokens N[,N...], not '%s'\n", argv[i]);
        return 2;
      }
      for (const char* p = argv[++i]; *p;) {
        char* end = nullptr;
        const long n = std::strtol(p, &end, 10);
        if (end == p || n <= 0 || n > 512 || (*end && *end != ',')) {
          std::fprintf(stderr, "error: --new-tokens: '%s' is not a list of counts in 1..512\n", argv[i]);
          return 2;
        }
        lengths.push_back(int(n));
        p = *end ? end + 1 : end;
      }
    }
    if (lengths.empty()) lengths.push_back(32);
    double load[3] = {0, 0, 0};
    if (getloadavg(load, 3) == 3) std::printf("load average at start: %.2f %.2f %.2f\n", load[0], load[1], load[2]);
    bench_batched_decode(large, 8, 8, 3);
    for (int n : lengths) bench_server(large, 8, 3, n);
    if (getloadavg(load, 3) == 3) std::printf("load average at the end: %.2f %.2f %.2f\n", load[0], load[1], load[2]);
    return 0;
  }
  std::vector<Row> rows;
  rows.push_back(bench_model("small", preset("small"), 128, quick ? 16 : 64, quick ? 1 : 3));
  rows.push_back(bench_model("large", large, 128, quick ? 8 : 32, quick ? 1 : 2));
  std::printf("| model | params (M) | weights read per decode token (MB) | prefill tok/s (P=128) | decode tok/s | "
              "read bandwidth (GB/s) | decode bound (tok/s) | decode / bound |\n|---|---|---|---|---|---|---|---|\n");
  for (const Row& r : rows)
    std::printf("| %s | %.1f | %.1f | %.0f | %.1f | %.1f | %.1f | %.0f%% |\n", r.name.c_str(), r.params_m,
                r.mb_per_token, r.prefill, r.decode, r.bw / 1e9, r.bound, 100 * r.decode / r.bound);
  bench_batched_decode(large, 8, quick ? 4 : 8, 3);
  bench_server(large, 8, quick ? 1 : 3, 32);
  return 0;
}
