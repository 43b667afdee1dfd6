// Tokenizer benchmark: (1) BPE training time for vocab 8192 on the bundled corpus (statutes, precedents,
// easylaw, general_ko, tinyshakespeare); (2) single-thread encode throughput of beop vs HF tokenizers on the
// same tokenizer.json (the one just trained) and the same text, cut into lines (each keeps its '\n'): beop
// encodes line by line, HF with one encode_batch(lines) call under RAYON_NUM_THREADS=1
// (bench/hf_tokenizer_speed.py); the concatenated ids of both must be identical.
//   build/bench/bench_tokenizer [--threads N] [--encode-mb 8]     (run from the repo root)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <omp.h>

#include "bench/tokenizer_bench_util.h"
#include "src/common.h"
#include "src/io.h"
#include "src/tokenizer.h"

namespace fs = std::filesystem;
using namespace beop::bench;



int main(int argc, char** argv) {
  try {
    int threads = 0;
    double encode_mb = 8;
    for (int i = 1; i < argc; i++) {
      if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
      else if (!std::strcmp(argv[i], "--encode-mb") && i + 1 < argc) encode_mb = std::atof(argv[++i]);
      else beop::fail("usage: bench_tokenizer [--threads N] [--encode-mb MB]");
    }
    const std::string d = beop::data_dir(), out = "build/bench/tokenizer";
    beop::make_dirs(out);
    const std::vector<std::string> corpus = training_corpus(d);
    size_t corpus_bytes = 0;
    for (auto& f : corpus) corpus_bytes += fs::file_size(f);

    // 1. Training.
    beop::BpeTrainOptions opt;
    opt.vocab_size = 8192;
    opt.threads = threads;
    const int used_threads = threads > 0 ? threads : omp_get_max_threads();
    double t0 = now_s();
    beop::Tokenizer tk = beop::Tokenizer::train(corpus, opt);
    const double train_s = now_s() - t0;
    const std::string tok_path = out + "/bench_8192.json";
    tk.save(tok_path);

    // 2. Encode text: statutes + tinyshakespeare + precedents, cut to --encode-mb at a character boundary.
    const std::string text = encode_text(d, encode_mb);
    const std::string text_path = out + "/encode_text.txt";
    beop::write_file_atomic(text_path, text);

    const std::vector<std::string_view> lines = lines_of(text);
    std::vector<int32_t> ids;
    double cold = 0, best = 1e30;
    for (int r = 0; r < 3; r++) {
      ids.clear();
      t0 = now_s();
      for (auto ln : lines) {
        const auto v = tk.encode(ln);
        ids.insert(ids.end(), v.begin(), v.end());
      }
      const double dt = now_s() - t0;
      if (r == 0) cold = dt;
      best = std::min(best, dt);
    }
    // The same text as one document (beop only: HF is ~40x slower in this mode, see hf_tokenizer_speed.py).
    t0 = now_s();
    const auto doc_ids = tk.encode(text);  // differs from the per-line ids where "\n\n" etc. is one piece
    const double doc_s = now_s() - t0;
    if (tk.decode(doc_ids) != text) beop::fail("round trip failed on the bench text");

    const std::string ids_path = out + "/hf_ids.bin", res_path = out + "/hf_speed.json";
    const std::string cmd = "RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false .venv/bin/python bench/hf_tokenizer_speed.py"
                            " --tokenizer " + tok_path + " --text " + text_path + " --ids-out " + ids_path + " > " + res_path;
    if (std::system(cmd.c_str()) != 0) beop::fail("HF speed script failed: ", cmd);
    const auto hf = nlohmann::json::parse(beop::read_file(res_path));
    const std::string raw = beop::read_file(ids_path);
    std::vector<int32_t> hf_ids(raw.size() / 4);
    std::memcpy(hf_ids.data(), raw.data(), hf_ids.size() * 4);
    const bool same = hf_ids == ids;

    const double mb = text.size() / 1e6, beop_mbs = mb / best, hf_mbs = hf["mb_per_s"].get<double>();
    std::printf("\n| measurement | beop | HF tokenizers %s | beop/HF |\n|---|---|---|---|\n",
                hf["version"].get<std::string>().c_str());
    std::printf("| encode, 1 thread, %.1f MB in %zu lines (best of 3) | %.1f MB/s | %.1f MB/s | %.2fx |\n", mb,
                lines.size(), beop_mbs, hf_mbs, beop_mbs / hf_mbs);
    std::printf("| encode, first (cold-cache) run | %.1f MB/s | | |\n", mb / cold);
    std::printf("| encode, whole text as one call | %.1f MB/s | | |\n", mb / doc_s);
    std::printf("| tokens (ids identical to HF: %s) | %zu | %zu | |\n", same ? "yes" : "NO", ids.size(), hf_ids.size());
    std::printf("| BPE training, vocab 8192, %.1f MB corpus, %d threads | %.1f s | | |\n", corpus_bytes / 1e6,
                used_threads, train_s);
    return same ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
