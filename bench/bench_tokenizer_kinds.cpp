// Encode speed of the tokenizer.json kinds beop loads, on the same tokenizer (vocab 8192, trained by beop on
// the bundled corpus), the same text and one thread, in one run: Llama-3 (Llama-3 regex, no normalizer), Qwen2
// (Qwen2 regex + NFC) and Qwen2 without NFC (to separate the regex from the normalizer); plus NFC on its own,
// on the text as it is (already NFC: the quick check alone) and on the same text with every Hangul syllable
// decomposed into jamo (every stretch goes through the full algorithm). The Qwen2 ids are checked against HF
// tokenizers (bench/hf_tokenizer_speed.py, RAYON_NUM_THREADS=1), whose speed is printed too.
//   build/bench/bench_tokenizer_kinds [--encode-mb 8]     (run from the repo root)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "bench/tokenizer_bench_util.h"
#include "src/common.h"
#include "src/io.h"
#include "src/nfc.h"
#include "src/tokenizer.h"
#include "src/unicode.h"

using namespace beop::bench;




int main(int argc, char** argv) {
  try {
    double encode_mb = 8;
    for (int i = 1; i < argc; i++) {
      if (!std::strcmp(argv[i], "--encode-mb") && i + 1 < argc) encode_mb = std::atof(argv[++i]);
      else beop::fail("usage: bench_tokenizer_kinds [--encode-mb MB]");
    }
    const std::string d = beop::data_dir(), out = "build/bench/tokenizer_kinds";
    beop::make_dirs(out);
    const std::vector<std::string> corpus = training_corpus(d);
    beop::BpeTrainOptions opt;
    opt.vocab_size = 8192;
    opt.progress = false;
    const std::string llama3_json = beop::Tokenizer::train(corpus, opt).to_json();

    // The same merges under the three pipelines.
    auto variant = [&](const char* name, const char* pattern, bool nfc) {
      auto j = nlohmann::json::parse(llama3_json);
      j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = pattern;
      j["normalizer"] = nfc ? nlohmann::json{{"type", "NFC"}} : nlohmann::json();
      const std::string p = out + "/" + name + ".json";
      beop::write_file_atomic(p, j.dump());
      return p;
    };
    struct Kind {
      const char* label;
      std::string path;
    };
    const Kind kinds[3] = {{"Llama-3 (Llama-3 regex, no normalizer)", variant("llama3", beop::kLlama3Pattern, false)},
                           {"Qwen2 (Qwen2 regex + NFC)", variant("qwen2", beop::kQwen2Pattern, true)},
                           {"Qwen2 regex, no normalizer", variant("qwen2_no_nfc", beop::kQwen2Pattern, false)}};

    // Text: statutes + tinyshakespeare + precedents, cut to --encode-mb at a character boundary, in lines.
    const std::string text = encode_text(d, encode_mb);
    const std::string text_path = out + "/encode_text.txt";
    beop::write_file_atomic(text_path, text);
    const auto lines = lines_of(text);
    const double mb = text.size() / 1e6;

    std::printf("| measurement (1 thread, %.1f MB in %zu lines, best of 3) | MB/s | tokens |\n|---|---|---|\n", mb,
                lines.size());
    std::vector<int32_t> qwen2_ids;
    double llama3_s = 0;
    for (int k = 0; k < 3; k++) {
      const beop::Tokenizer tk = beop::Tokenizer::load(kinds[k].path);
      std::vector<int32_t> ids;
      const double s = best_of_3([&] {
        ids.clear();
        for (auto ln : lines) {
          const auto v = tk.encode(ln);
          ids.insert(ids.end(), v.begin(), v.end());
        }
      });
      if (k == 0) llama3_s = s;
      if (k == 1) qwen2_ids = ids;
      std::printf("| encode, %s | %.1f (%.2fx Llama-3) | %zu |\n", kinds[k].label, mb / s, llama3_s / s, ids.size());
    }
    std::string scratch;
    size_t changed = 0;
    const double nfc_s = best_of_3([&] {
      changed = 0;
      for (auto ln : lines) changed += beop::nfc_normalize(ln, &scratch);
    });
    std::printf("| NFC alone, the text as is (%zu of %zu lines not NFC) | %.1f | |\n", changed, lines.size(), mb / nfc_s);
    // Worst case: every Hangul syllable written as its jamo (L V [T]), which NFC must compose back.
    std::string jamo;
    for (size_t i = 0; i < text.size();) {
      int len;
      const uint32_t cp = beop::utf8_decode_at(text.data(), i, &len);
      i += size_t(len);
      if (cp < 0xAC00 || cp > 0xD7A3) {
        beop::utf8_append(jamo, cp);
        continue;
      }
      const uint32_t s = cp - 0xAC00;
      beop::utf8_append(jamo, 0x1100 + s / 588);
      beop::utf8_append(jamo, 0x1161 + s % 588 / 28);
      if (s % 28) beop::utf8_append(jamo, 0x11A7 + s % 28);
    }
    const auto jlines = lines_of(jamo);
    if (jlines.size() != lines.size()) beop::fail("decomposed text has a different line count");
    for (size_t i = 0; i < jlines.size(); i++)
      if (beop::nfc(jlines[i]) != beop::nfc(lines[i])) beop::fail("NFC of decomposed line ", i, " is not NFC of the line");
    const double jamo_s = best_of_3([&] {
      for (auto ln : jlines) beop::nfc_normalize(ln, &scratch);
    });
    std::printf("| NFC alone, Hangul decomposed to jamo (%.1f MB, composes back to the text: yes) | %.1f | |\n",
                jamo.size() / 1e6, jamo.size() / 1e6 / jamo_s);

    const std::string ids_path = out + "/hf_ids.bin", res_path = out + "/hf_speed.json";
    const std::string cmd = "RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false .venv/bin/python bench/hf_tokenizer_speed.py"
                            " --repeat 1 --tokenizer " + kinds[1].path + " --text " + text_path + " --ids-out " +
                            ids_path + " > " + res_path;
    if (std::system(cmd.c_str()) != 0) beop::fail("HF speed script failed: ", cmd);
    const auto hf = nlohmann::json::parse(beop::read_file(res_path));
    const std::string raw = beop::read_file(ids_path);
    std::vector<int32_t> hf_ids(raw.size() / 4);
    std::memcpy(hf_ids.data(), raw.data(), hf_ids.size() * 4);
    const bool ok = hf_ids == qwen2_ids;
    std::printf("| HF tokenizers %s encode_batch, Qwen2 kind (ids identical to beop: %s) | %.1f | %zu |\n",
                hf["version"].get<std::string>().c_str(), ok ? "yes" : "NO", hf["mb_per_s"].get<double>(), hf_ids.size());
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
