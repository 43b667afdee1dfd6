// Greedy-id check against llama.cpp (issue 17): the model exported by `prep export-gguf` (src/gguf_export.h) at
// F32, BF16 and Q8_0 is loaded by llama.cpp, and its greedy ids for the same prompt ids (no BOS) are compared with
// beop's `infer generate --temperature 0` (Generator, greedy, at --dtype fp32 / bf16 / q8) token by token.
//   build/bench/bench_llama_greedy [--model CKPT] [--tokens N] [--prompt TEXT]
// Without --model: random weights of the "small" preset and a tokenizer trained on two sentences (what it checks is
// the export and the arithmetic, not the text). Verdict: f32 must give identical ids for all N tokens (the same
// fp32 model; only the summation order differs); bf16 and q8_0 report their first divergence (roundings of the
// activations and different summation orders move near-ties after many tokens). Exit status 1 when llama.cpp cannot
// load an export or f32 diverges. Without a llama.cpp build (bench/llama_cpp_bin.h) it says so and exits 0.
// llama.cpp's side is bench/llama_greedy_client.cc, compiled against that build into build/bench_llama_greedy/.
#include <omp.h>

#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "bench/llama_cpp_bin.h"
#include "cpu/model_cpu.h"
#include "src/gguf_export.h"
#include "src/generator.h"
#include "src/io.h"
#include "tests/test_util.h"

using namespace beop;

static std::vector<int32_t> parse_ids(const std::string& s) {
  std::vector<int32_t> v;
  std::istringstream in(s);
  for (int x; in >> x;) v.push_back(x);
  return v;
}

static std::string join(const std::vector<int32_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); i++) s += (i ? " " : "") + std::to_string(v[i]);
  return s;
}

int main(int argc, char** argv) {
  std::string model, prompt = "대법원은 임대차 계약의 해지에 관하여 다음과 같이 판결하였다. 원고의 청구를";
  int n = 32;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--model") == 0) model = argv[i + 1];
    else if (std::strcmp(argv[i], "--tokens") == 0) n = std::max(1, std::atoi(argv[i + 1]));
    else if (std::strcmp(argv[i], "--prompt") == 0) prompt = argv[i + 1];
    else return std::fprintf(stderr, "usage: bench_llama_greedy [--model CKPT] [--tokens N] [--prompt TEXT]\n"), 2;
  }
  const std::string llama = bench::find_llama();
  if (llama.empty()) {
    std::printf("bench_llama_greedy: no llama.cpp build found (bash bench/llama_cpp_build.sh, or LLAMA_CPP_BIN=DIR): "
                "greedy-id check skipped\n");
    return 0;
  }
  const std::string work = "build/bench_llama_greedy", client = bench::llama_client(llama, work);
  if (client.empty()) return 1;

  ModelConfig cfg;
  std::vector<float> params;
  std::string tok_path;
  if (!model.empty()) {
    LoadedWeights w = load_weights(model);
    cfg = w.config, params = std::move(w.params), tok_path = w.dir + "/tokenizer.json";
  } else {
    BpeTrainOptions bo;
    bo.vocab_size = 400, bo.progress = false;
    tok_path = work + "/tokenizer.json";
    Tokenizer::train_from_texts({prompt, "법원은 판결한다. 임대차는 등기가 없는 경우에도 효력이 있다."}, bo).save(tok_path);
    cfg = preset("small");
    // no rows beyond the tokenizer's ids: beop's Generator never picks those, llama.cpp's argmax would
    cfg.vocab_size = Tokenizer::load(tok_path).vocab_size();
    CpuModel m(cfg);
    m.init_random(1);
    params.assign(m.params(), m.params() + m.layout().total);
  }
  const Tokenizer tok = Tokenizer::load(tok_path);
  const std::vector<int32_t> ids = tok.encode(prompt);
  const int threads = omp_get_max_threads();
  std::printf("bench_llama_greedy: model %s (%s), %zu prompt ids (no BOS), %d greedy tokens, %d threads, llama.cpp: %s\n",
              model.empty() ? "random small" : model.c_str(), cfg.summary().c_str(), ids.size(), n, threads,
              llama.c_str());
  std::printf("prompt ids: %s\n", join(ids).c_str());
  const char* beop_dt[3] = {"fp32", "bf16", "q8"};
  const char* gguf_dt[3] = {"f32", "bf16", "q8_0"};
  const GgmlType types[3] = {GgmlType::F32, GgmlType::BF16, GgmlType::Q8_0};
  bool ok = true;
  for (int k = 0; k < 3; k++) {
    const std::string gguf = cat(work, "/model_", gguf_dt[k], ".gguf");
    export_gguf(cfg, params.data(), tok_path, gguf, types[k]);
    std::vector<int32_t> ours;
    {
      auto lm = cpu::make_lm(cfg, params, beop_dt[k]);
      Generator gen(*lm, tok);
      GenerateOptions o;
      o.sampling.temperature = 0, o.max_new_tokens = n, o.stop_at_eos = false;
      ours = gen.generate(ids, o).tokens;
    }
    const test::ShellResult r = test::shell(cat(client, " ", gguf, " ", n, " ", threads, " ", join(ids)), false);
    const std::vector<int32_t> theirs = parse_ids(r.out.substr(0, r.out.find('\n')));
    if (r.rc != 0 || theirs.size() != size_t(n)) {
      std::printf("%-5s llama.cpp FAILED on %s (exit %d): %s\n", gguf_dt[k], gguf.c_str(), r.rc, r.out.c_str());
      ok = false;
      continue;
    }
    size_t same = 0;
    while (same < ours.size() && same < theirs.size() && ours[same] == theirs[same]) same++;
    if (same == size_t(n))
      std::printf("%-5s identical: %d of %d greedy ids\n", gguf_dt[k], n, n);
    else
      std::printf("%-5s first divergence at generated token %zu (beop %d, llama.cpp %d)\n", gguf_dt[k], same,
                  same < ours.size() ? ours[same] : -1, theirs[same]);
    std::printf("      beop:      %s\n      llama.cpp: %s\n", join(ours).c_str(), join(theirs).c_str());
    if (k == 0 && same != size_t(n)) ok = false;
  }
  std::printf("verdict: %s\n", ok ? "PASS (llama.cpp loads every export; f32 greedy ids identical)"
                                  : "FAIL (see above)");
  return ok ? 0 : 1;
}
