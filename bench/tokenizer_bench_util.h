// Shared by the tokenizer benchmarks (bench_tokenizer.cpp, bench_tokenizer_kinds.cpp): the BPE training
// corpus, the encode text and its lines, and timing — so both measure exactly the same inputs.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "src/io.h"

namespace beop::bench {

inline double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Regular files of dir, sorted (a fixed order: the corpus and the text must not depend on readdir).
inline std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> v;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.is_regular_file()) v.push_back(e.path().string());
  std::sort(v.begin(), v.end());
  return v;
}

// The BPE training corpus: statutes, precedents, easylaw, general Korean, tinyshakespeare (under data dir d).
inline std::vector<std::string> training_corpus(const std::string& d) {
  std::vector<std::string> corpus;
  for (const char* sub : {"statutes", "precedents", "legal_plain_ko", "general_ko"})
    for (auto& f : files_in(d + "/" + sub)) corpus.push_back(f);
  corpus.push_back(d + "/general_en/tinyshakespeare.txt");
  return corpus;
}

// The encode text: statutes + tinyshakespeare + precedents, cut to `mb` MB at a character boundary.
inline std::string encode_text(const std::string& d, double mb) {
  std::string text;
  for (auto& f : files_in(d + "/statutes")) text += read_file(f);
  text += read_file(d + "/general_en/tinyshakespeare.txt");
  text += read_file(d + "/precedents/precedents_sc_850.jsonl");
  size_t n = std::min(text.size(), size_t(mb * 1e6));
  while (n > 0 && (uint8_t(text[n]) & 0xC0) == 0x80) n--;
  text.resize(n);
  return text;
}

// Lines of t, each keeping its '\n' (views into t).
inline std::vector<std::string_view> lines_of(const std::string& t) {
  std::vector<std::string_view> v;
  for (size_t s = 0; s < t.size();) {
    size_t e = t.find('\n', s);
    e = e == std::string::npos ? t.size() : e + 1;
    v.push_back(std::string_view(t).substr(s, e - s));
    s = e;
  }
  return v;
}

// Best of 3 wall-clock seconds of fn() (the first run also warms caches).
template <class F>
double best_of_3(F&& fn) {
  double best = 1e30;
  for (int r = 0; r < 3; r++) {
    const double t0 = now_s();
    fn();
    best = std::min(best, now_s() - t0);
  }
  return best;
}

}  // namespace beop::bench
