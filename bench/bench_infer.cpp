// Inference benchmark of the CPU path (issue: infer). Prints, in one run:
//   - batch-1 prefill and decode tokens/s through the KV cache (CausalLM::step, the path ./infer uses) for the
//     `small` preset and for a model whose weights do not fit in cache ("large": C=1024, L=8, V=32768);
//   - the memory-bandwidth bound of decoding, measured in the same run: a STREAM-style read (sum) of a buffer
//     as large as the weights one decode step reads (every matrix but the embedding table, of which one row is
//     read), bound = bandwidth / bytes per token, and decode / bound;
//   - server throughput: 8 concurrent clients against an in-process ChatServer (small model, 32 new tokens per
//     request, greedy, no end-of-turn stop): requests/s and generated tokens/s.
// Random weights throughout (speed does not depend on the values). Usage: build/bench/bench_infer [--quick]
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

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

static Row bench_model(const std::string& name, const ModelConfig& cfg, int prompt_len, int decode_steps, int reps) {
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
  r.bw = read_bandwidth(size_t(bytes), 5);
  r.bound = r.bw / bytes;
  return r;
}

static void bench_server(int clients, int per_client, int max_tokens) {
  BpeTrainOptions bo;
  bo.vocab_size = 400, bo.progress = false;
  const Tokenizer tok = Tokenizer::train_from_texts(
      {"법원은 판결한다. 임대차는 등기가 없는 경우에도 효력이 있다.", "To be or not to be, that is the question."}, bo);
  ModelConfig c = preset("small");
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
  so.queue_limit = clients;
  ChatServer server(gen, so);
  const int port = server.bind("127.0.0.1", 0);
  std::thread th([&] { server.run(); });
  for (int i = 0; i < 200; i++) {
    httplib::Client cl("127.0.0.1", port);
    if (auto r = cl.Get("/health"); r && r->status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
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
        tokens[size_t(k)] += nlohmann::json::parse(r->body)["usage"]["completion_tokens"].get<long>();
      }
    });
  for (auto& t : ts) t.join();
  const double secs = since(t0);
  long tok_sum = 0, fail_sum = 0;
  for (int k = 0; k < clients; k++) tok_sum += tokens[size_t(k)], fail_sum += failures[size_t(k)];
  server.stop();
  th.join();
  std::printf("server (small, %d clients x %d requests, %d new tokens each): %.2f requests/s, %.1f tokens/s, %ld failed\n",
              clients, per_client, max_tokens, clients * per_client / secs, tok_sum / secs, fail_sum);
}

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  std::printf("bench_infer: %d OpenMP threads, fp32, batch 1\n", omp_get_max_threads());
  ModelConfig large = preset("small");
  large.name = "large";
  large.vocab_size = 32768, large.d_model = 1024, large.n_layers = 8, large.n_heads = 16, large.n_kv_heads = 4;
  large.head_dim = 64, large.ffn_hidden = 2816, large.max_seq_len = 1024;
  std::vector<Row> rows;
  rows.push_back(bench_model("small", preset("small"), 128, quick ? 16 : 64, quick ? 1 : 3));
  rows.push_back(bench_model("large", large, 128, quick ? 8 : 32, quick ? 1 : 2));
  std::printf("| model | params (M) | weights read per decode token (MB) | prefill tok/s (P=128) | decode tok/s | "
              "read bandwidth (GB/s) | decode bound (tok/s) | decode / bound |\n|---|---|---|---|---|---|---|---|\n");
  for (const Row& r : rows)
    std::printf("| %s | %.1f | %.1f | %.0f | %.1f | %.1f | %.1f | %.0f%% |\n", r.name.c_str(), r.params_m,
                r.mb_per_token, r.prefill, r.decode, r.bw / 1e9, r.bound, 100 * r.decode / r.bound);
  bench_server(8, quick ? 1 : 4, 32);
  return 0;
}
