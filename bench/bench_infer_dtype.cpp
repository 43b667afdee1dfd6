// Decode speed of `infer --dtype fp32 | bf16 | q8` (cpu/matmul_lowp.h) on a model whose weights do not fit in cache
// ("large": C=1024, L=8, H=16, KV=4, F=2816, V=32768, 157 M parameters; random weights: speed does not depend on the
// values), against the memory-bandwidth bound at each format's bytes per weight (fp32 4, bf16 2, Q8_0 34/32), and,
// where a llama.cpp build is present, against llama.cpp's llama-bench on the same model exported with
// `prep export-gguf` (src/gguf_export.h) at F32 / BF16 / Q8_0, same threads. Each round runs every engine and format
// once, alternating; the table shows the median of the rounds, and every ratio is taken from the same round.
//   build/bench/bench_infer_dtype [--quick] [--rounds N]
// llama.cpp: $LLAMA_CPP_BIN (a directory with llama-bench), else build/llama/*/vendor/llama.cpp/build/bin when that
// exists (bench/llama_cpp_build.sh builds it there, outside git). Otherwise beop's figures alone.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cpu/model_cpu.h"
#include "src/checkpoint.h"
#include "src/gguf_export.h"
#include "src/io.h"
#include "src/generator.h"
#include "tests/test_util.h"
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

// llama-bench's decode tokens/s (-p 0 -n steps, one repetition), or 0 when it fails.
static double llama_decode(const std::string& bin, const std::string& gguf, int threads, int steps) {
  const test::ShellResult r = test::shell(cat(bin, "/llama-bench -m ", gguf, " -p 0 -n ", steps, " -r 1 -t ", threads,
                                              " -o json"), false);
  if (r.rc != 0) return 0;
  try {
    return nlohmann::json::parse(r.out).at(0).at("avg_ts").get<double>();
  } catch (const std::exception&) {
    return 0;
  }
}

static std::string find_llama() {
  if (const char* e = std::getenv("LLAMA_CPP_BIN")) return e;
  std::error_code ec;
  for (const auto& d : std::filesystem::directory_iterator("build/llama", ec)) {
    const std::string bin = d.path().string() + "/vendor/llama.cpp/build/bin";
    if (file_exists(bin + "/llama-bench")) return bin;
  }
  return "";
}

int main(int argc, char** argv) {
  bool quick = false;
  int rounds = 3;
  for (int i = 1; i < argc; i++) {
    if (std::strcmp(argv[i], "--quick") == 0) quick = true, rounds = 1;
    if (std::strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) rounds = std::max(1, std::atoi(argv[++i]));
  }
  const int threads = omp_get_max_threads(), steps = quick ? 8 : 32;
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
  const std::string llama = find_llama();
  const std::string work = "build/bench_infer_dtype";
  std::vector<std::string> ggufs;
  if (!llama.empty()) {
    make_dirs(work);
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
  std::printf("bench_infer_dtype: model large (%.1f M weights streamed per token), %d threads, %d decode steps, %d rounds%s\n",
              weights / 1e6, threads, steps, rounds, llama.empty() ? ", no llama.cpp build found" : (", llama.cpp: " + llama).c_str());
  std::vector<double> beop_ts[3], llama_ts[3], ratio[3], bw;
  for (int r = 0; r < rounds; r++) {
    for (int k = 0; k < 3; k++) {
      {  // one model at a time: a CpuModel also holds gradient and AdamW buffers (4 x 630 MB here)
        auto lm = cpu::make_lm(c, params, dtypes[size_t(k)]);
        beop_ts[k].push_back(beop_decode(*lm, c.vocab_size, steps));
      }
      if (!llama.empty()) {
        llama_ts[k].push_back(llama_decode(llama, ggufs[size_t(k)], threads, steps));
        ratio[k].push_back(llama_ts[k].back() > 0 ? beop_ts[k].back() / llama_ts[k].back() : 0);
      }
    }
    bw.push_back(read_bandwidth(size_t(weights * 4), 3));
  }
  const double B = median(bw);
  std::printf("read bandwidth (STREAM-style sum, %.0f MB buffer): %.1f GB/s (median of %d)\n\n", weights * 4 / 1e6, B / 1e9, rounds);
  std::printf("| dtype | bytes/weight | beop decode tok/s | bound tok/s | beop / bound | llama.cpp tok/s | beop / llama.cpp |\n"
              "|---|---|---|---|---|---|---|\n");
  for (int k = 0; k < 3; k++) {
    const double bound = B / (weights * bytes_per_weight[k]), b = median(beop_ts[k]);
    std::printf("| %s | %.4g | %.1f | %.1f | %.0f%% | %s | %s |\n", dtypes[size_t(k)].c_str(), bytes_per_weight[k], b,
                bound, 100 * b / bound, llama.empty() ? "n/a" : cat(median(llama_ts[k])).c_str(),
                llama.empty() ? "n/a" : cat(median(ratio[k])).c_str());
  }
  return 0;
}
