// Text samples shared by the tokenizer tests (tests/test_tokenizer*.cpp): the bundled corpora (statutes,
// precedents, Shakespeare), random UTF-8 that stresses the pre-tokenizer, and small UTF-8 helpers.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "src/common.h"
#include "src/io.h"
#include "src/unicode.h"

namespace beop::tok_test {

namespace fs = std::filesystem;

// The longest prefix of s of at most n bytes that ends on a UTF-8 character boundary.
inline std::string utf8_prefix(const std::string& s, size_t n) {
  if (n >= s.size()) return s;
  while (n > 0 && (uint8_t(s[n]) & 0xC0) == 0x80) n--;
  return s.substr(0, n);
}

inline std::vector<std::string> statute_files() {
  std::vector<std::string> v;
  for (const auto& e : fs::directory_iterator(beop::data_dir() + "/statutes"))
    if (e.path().extension() == ".md") v.push_back(e.path().string());
  std::sort(v.begin(), v.end());
  REQUIRE(v.size() >= 30);
  return v;
}

// The suffix of s from byte `off`, moved forward to a character boundary.
inline std::string utf8_suffix(const std::string& s, size_t off) {
  while (off < s.size() && (uint8_t(s[off]) & 0xC0) == 0x80) off++;
  return off < s.size() ? s.substr(off) : std::string();
}

// Full texts of the first `n` decisions (real Korean prose with newlines, not JSON-escaped).
inline std::vector<std::string> precedent_texts(size_t n) {
  std::ifstream f(beop::data_dir() + "/precedents/precedents_sc_850.jsonl");
  REQUIRE(f.good());
  std::vector<std::string> out;
  std::string line;
  while (out.size() < n && std::getline(f, line)) {
    auto j = nlohmann::json::parse(line);
    out.push_back(j["holding_issues"].get<std::string>() + "\n" + j["full_text"].get<std::string>());
  }
  return out;
}

inline std::string shakespeare() { return beop::read_file(beop::data_dir() + "/general_en/tinyshakespeare.txt"); }

// Random valid UTF-8 mixing the character kinds that stress the pre-tokenizer and the byte-level alphabet:
// ASCII (letters, digits, punctuation, apostrophe contractions, \r\n, tabs), Hangul syllables and jamo, Hanja,
// combining marks, emoji and other 4-byte characters, non-ASCII digits, Unicode spaces, anything in range.
inline std::string random_utf8(std::mt19937& rng, int n_chars) {
  static const char* kSnippets[] = {"'s", "'S", "'ll", "'LL", "'re", "'ve", "'m", "'d", "'t", "\r\n", "\r\n\r\n",
                                    "\t", "  ", "   ", " \n ", "'", "12345678", " 2020.6.9", "**①**", "ſ"};
  auto pick = [&](uint32_t lo, uint32_t hi) { return std::uniform_int_distribution<uint32_t>(lo, hi)(rng); };
  std::string s;
  for (int i = 0; i < n_chars; i++) {
    uint32_t cp;
    switch (pick(0, 15)) {
      case 0: case 1: cp = pick(0x20, 0x7E); break;                // printable ASCII
      case 2: cp = pick('a', 'z'); break;
      case 3: cp = pick(0, 0x1F); break;                           // controls incl. \t \n \r
      case 4: case 5: cp = pick(0xAC00, 0xD7A3); break;            // Hangul syllables (3 bytes)
      case 6: cp = pick(0x4E00, 0x9FFF); break;                    // CJK / Hanja
      case 7: cp = pick(0x0300, 0x036F); break;                    // combining marks (Mn)
      case 8: cp = pick(0x1F300, 0x1FAFF); break;                  // emoji (4 bytes)
      case 9: cp = pick(0x20000, 0x2A6DF); break;                  // CJK Ext B (4 bytes, Lo)
      case 10: { static const uint32_t sp[] = {0x85, 0xA0, 0x1680, 0x2000, 0x2009, 0x2028, 0x2029, 0x202F, 0x3000, 0x200B, 0xFEFF, 0x180E};
                 cp = sp[pick(0, 11)]; break; }
      case 11: { static const uint32_t dg[] = {0x0660, 0x06F5, 0x0966, 0xFF11, 0x2460, 0x00B2, 0x2155, 0x216B, 0x3007};
                 cp = dg[pick(0, 8)]; break; }                      // Nd / No / Nl digits
      case 12: cp = pick(0x80, 0x7FF); break;                       // 2-byte range
      case 13: s += kSnippets[pick(0, sizeof(kSnippets) / sizeof(*kSnippets) - 1)]; continue;
      default: cp = pick(0x800, 0x10FFFF); if (cp >= 0xD800 && cp <= 0xDFFF) cp -= 0x800; break;
    }
    beop::utf8_append(s, cp);
  }
  return s;
}

// Training files (~1 MB, written under `dir`): statutes, precedents, Shakespeare. The HF oracles train on the
// same files.
inline std::vector<std::string> training_files(const std::string& dir) {
  beop::make_dirs(dir);
  std::string st;
  for (const auto& f : statute_files()) st += beop::read_file(f);
  std::string pr;
  for (const auto& t : precedent_texts(200)) pr += t + "\n";
  const std::string parts[3] = {utf8_prefix(st, 420000), utf8_prefix(utf8_suffix(pr, pr.size() / 2), 420000),
                                utf8_prefix(shakespeare(), 200000)};
  std::vector<std::string> files;
  for (int i = 0; i < 3; i++) {
    files.push_back(dir + "/train_" + std::to_string(i) + ".txt");
    beop::write_file_atomic(files.back(), parts[i]);
  }
  return files;
}

// ~200 KB of parity samples (texts the training files do not contain): statute excerpts that may start
// mid-line, precedents, English, and 300 random UTF-8 strings.
inline std::vector<std::string> corpus_samples() {
  std::vector<std::string> texts;
    const auto files = statute_files();
    for (size_t i = 0; i < files.size(); i += 4) {
      const std::string t = beop::read_file(files[i]);
      texts.push_back(utf8_prefix(utf8_suffix(t, t.size() / 3), 8000));  // may start mid-line
    }
    const auto prec = precedent_texts(400);
    for (size_t i = 300; i < 400; i += 5) texts.push_back(utf8_prefix(prec[i], 4000));
    const std::string sh = shakespeare();
    for (size_t off = 300000; off < 300000 + 40000; off += 4000) texts.push_back(utf8_prefix(utf8_suffix(sh, off), 4000));
    std::mt19937 rng(99);
    for (int i = 0; i < 300; i++) texts.push_back(random_utf8(rng, 1 + i % 120));
  return texts;
}

inline std::string codepoints(const std::string& s) {  // "U+0041 U+AC00 ..." for failure messages
  std::string out;
  for (size_t i = 0; i < s.size();) {
    int len;
    char buf[16];
    std::snprintf(buf, sizeof buf, "U+%04X ", beop::utf8_decode_at(s.data(), i, &len));
    out += buf;
    i += len;
  }
  return "[" + out + "]";
}


}  // namespace beop::tok_test
