// Decode speed of `infer --dtype fp32 | bf16 | q8` (cpu/matmul_lowp.h) on a model whose weights do not fit in cache
// ("large": C=1024, L=8, H=16, KV=4, F=2816, V=32768, 157 M parameters; random weights: speed does not depend on the
// values), against the memory-bandwidth bound at each format's bytes per weight (fp32 4, bf16 2, Q8_0 34/32), and,
// where a llama.cpp build is present, against llama.cpp on the same model exported with `prep export-gguf`
// (src/gguf_export.h) at F32 / BF16 / Q8_0, same threads, same prompt ids and steps (bench/llama_cpp_bin.h). Each round runs every engine and format
// once, alternating; the table shows the median of the rounds, and every ratio is taken from the same round.
//   build/bench/bench_infer_dtype [--quick] [--rounds N] [--threads 1,2]   (default: 1 and OMP_NUM_THREADS / all cores)
// llama.cpp: bench/llama_cpp_bin.h finds it; otherwise beop's figures alone.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "cpu/model_cpu.h"
#include "src/checkpoint.h"
#include "src/gguf_export.h"
#include "src/io.h"
#include "src/text.h"
#include "src/generator.h"
#include "tests/test_util.h"
#include "bench/llama_cpp_bin.h"
#include "bench/read_bandwidth.h"

using namespace beop;
using Clock = std::chrono::steady_clock;
using beop::bench::read_bandwidth;
static double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// beop decode tokens/s: a 16-token prompt, then `steps` single-token steps (greedy), as ./infer decodes.
static double beop_decode(CausalLM& lm, int vocab, int steps) {
  std::vector<int32_t> prompt(16);
  for (size_t i = 0; i < prompt.size(); i++) prompt[i] = int32_t((i * 7919) % size_t(vocab));
  lm.reset(int(prompt.size()) + steps + 1);
  int32_t tok = argmax(lm.step(prompt.data(), int(prompt.size()), 0));
  const auto t0 = Clock::now();
  for (int s = 0; s < steps; s++) tok = argmax(lm.step(&tok, 1, int(prompt.size()) + s));
  return steps / since(t0);
}

// llama.cpp's decode tokens/s on the same prompt ids and steps (bench/llama_greedy_client.cc: one prompt batch,
// then `steps` one-token llama_decode calls with the argmax, timed as beop_decode times), or 0 when it fails.
static double llama_decode(const std::string& client, const std::string& gguf, int vocab, int threads, int steps) {
  std::string ids;
  for (size_t i = 0; i < 16; i++) ids += cat(" ", (i * 7919) % size_t(vocab));
  const test::ShellResult r = test::shell(cat(client, " ", gguf, " ", steps + 1, " ", threads, ids), false);
  const size_t at = r.out.find("decode_tok_s ");
  return r.rc == 0 && at != std::string::npos ? std::atof(r.out.c_str() + at + 13) : 0;
}

int main(int argc, char** argv) {
  bool quick = false;
  int rounds = 3;
  std::vector<int> thread_counts;
  for (int i = 1; i < argc; i++) {
    if (std::strcmp(argv[i], "--quick") == 0) quick = true, rounds = 1;
    if (std::strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) rounds = std::max(1, std::atoi(argv[++i]));
    if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc)  // e.g. 1,2: every count in every round
      for (std::string t : split(argv[++i], ',')) thread_counts.push_back(std::max(1, std::atoi(t.c_str())));
  }
  if (thread_counts.empty()) {  // 1 thread and all of them (OMP_NUM_THREADS or the cores)
    thread_counts.push_back(1);
    if (omp_get_max_threads() > 1) thread_counts.push_back(omp_get_max_threads());
  }
  const int steps = quick ? 8 : 32, nt = int(thread_counts.size());
  ModelConfig c = preset("small");
  c.name = "large";
  c.vocab_size = 32768, c.d_model = 1024, c.n_layers = 8, c.n_heads = 16, c.n_kv_heads = 4;
  c.head_dim = 64, c.ffn_hidden = 2816, c.max_seq_len = 1024;
  std::vector<float> params;
  {
    CpuModel m(c);
    m.init_random(1);
    params.assign(m.params(), m.params() + m.layout().total);
  }
  // weights one decode step streams: every matrix (the embedding table contributes one row)
  const double weights = double(ParamLayout(c).total) - double(c.padded_vocab()) * c.d_model;
  const std::vector<std::string> dtypes = {"fp32", "bf16", "q8"};
  const std::vector<std::string> gguf_types = {"f32", "bf16", "q8_0"};
  const double bytes_per_weight[3] = {4.0, 2.0, 34.0 / 32.0};
  const std::string llama = beop::bench::find_llama();
  const std::string work = "build/bench_infer_dtype";
  const std::string client = llama.empty() ? "" : beop::bench::llama_client(llama, work);
  std::vector<std::string> ggufs;
  if (!client.empty()) {
    BpeTrainOptions bo;
    bo.vocab_size = 400, bo.progress = false;
    Tokenizer::train_from_texts({"법원은 판결한다. 임대차는 등기가 없는 경우에도 효력이 있다.", "To be or not to be."}, bo)
        .save(work + "/tokenizer.json");
    for (size_t k = 0; k < 3; k++) {
      ggufs.push_back(work + "/large_" + gguf_types[k] + ".gguf");
      if (!file_exists(ggufs.back()))
        export_gguf(c, params.data(), work + "/tokenizer.json", ggufs.back(),
                    k == 0 ? GgmlType::F32 : k == 1 ? GgmlType::BF16 : GgmlType::Q8_0);
    }
  }
  std::printf("bench_infer_dtype: model large (%.1f M weights streamed per token), %d decode steps, %d rounds%s\n",
              weights / 1e6, steps, rounds, client.empty() ? ", no llama.cpp build found" : (", llama.cpp: " + llama).c_str());
  // [thread count][dtype]: per-round figures
  std::vector<std::vector<double>> beop_ts(size_t(nt) * 3), llama_ts(size_t(nt) * 3), ratio(size_t(nt) * 3);
  std::vector<std::vector<double>> bw(static_cast<size_t>(nt));
  for (int r = 0; r < rounds; r++) {
    for (int ti = 0; ti < nt; ti++) {
      const int threads = thread_counts[size_t(ti)];
      omp_set_num_threads(threads);
      for (int k = 0; k < 3; k++) {
        const size_t at = size_t(ti) * 3 + size_t(k);
        {  // one model at a time: a CpuModel also holds gradient and AdamW buffers (4 x 630 MB here)
          auto lm = cpu::make_lm(c, params, dtypes[size_t(k)]);
          beop_ts[at].push_back(beop_decode(*lm, c.vocab_size, steps));
        }
        if (!client.empty()) {
          llama_ts[at].push_back(llama_decode(client, ggufs[size_t(k)], c.vocab_size, threads, steps));
          ratio[at].push_back(llama_ts[at].back() > 0 ? beop_ts[at].back() / llama_ts[at].back() : 0);
        }
      }
      bw[size_t(ti)].push_back(read_bandwidth(size_t(weights * 4), 3));
    }
  }
  std::printf("bound = read bandwidth (STREAM-style sum of a %.0f MB buffer, same threads, median of the rounds) / "
              "bytes per token at the format\n\n", weights * 4 / 1e6);
  std::printf("| threads | dtype | bytes/weight | beop decode tok/s | bound tok/s | beop / bound | llama.cpp tok/s | "
              "llama.cpp / bound | beop / llama.cpp |\n|---|---|---|---|---|---|---|---|---|\n");
  for (int ti = 0; ti < nt; ti++) {
    const double B = median(bw[size_t(ti)]);
    for (int k = 0; k < 3; k++) {
      const size_t at = size_t(ti) * 3 + size_t(k);
      const double bound = B / (weights * bytes_per_weight[k]), b = median(beop_ts[at]), l = median(llama_ts[at]);
      std::printf("| %d | %s | %.4g | %.1f | %.1f | %.0f%% | %s | %s | %s |\n", thread_counts[size_t(ti)],
                  dtypes[size_t(k)].c_str(), bytes_per_weight[k], b, bound, 100 * b / bound,
                  client.empty() ? "n/a" : cat(l).c_str(), client.empty() ? "n/a" : cat(int(100 * l / bound + 0.5), "%").c_str(),
                  client.empty() ? "n/a" : cat(median(ratio[at])).c_str());
    }
    std::printf("(%d threads: read bandwidth %.1f GB/s)\n", thread_counts[size_t(ti)], B / 1e9);
  }
  return 0;
}
