// ROUGE-L against Google's rouge-score (tests/reference/rouge_oracle.py, run with .venv/bin/python), plus
// hand-derived cases. Run from the repository root (tests/run_all.sh does); corpora come from beop::data_dir().
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "legal/metrics/rouge.h"
#include "src/common.h"
#include "src/io.h"

using namespace beop;
using json = nlohmann::json;

TEST_CASE("rouge-L hand-derived cases") {
  // "a b c d" (reference) vs "a c e" (candidate): LCS = "a c" = 2 -> P = 2/3, R = 2/4, F = 2PR/(P+R) = 4/7.
  RougeScore s = rouge_l("a b c d", "a c e");
  CHECK(s.lcs == 2);
  CHECK(s.n_reference == 4);
  CHECK(s.n_candidate == 3);
  CHECK(s.precision == doctest::Approx(2.0 / 3).epsilon(1e-15));
  CHECK(s.recall == doctest::Approx(0.5).epsilon(1e-15));
  CHECK(s.fmeasure == doctest::Approx(4.0 / 7).epsilon(1e-15));

  // Character level, Hangul kept: 대한민국 vs "대한 국민" -> 대,한,민,국 vs 대,한,국,민: LCS 3, P = R = F = 3/4.
  RougeOptions ch;
  ch.tokenize = RougeTokenize::Character;
  s = rouge_l("대한민국", "대한 국민", ch);
  CHECK(s.lcs == 3);
  CHECK(s.n_candidate == 4);  // the space is not a token
  CHECK(s.fmeasure == doctest::Approx(0.75).epsilon(1e-15));

  // Eojeol level: 민법 제3조 vs 민법 제3조의2: tokens {민법, 제3조} vs {민법, 제3조의2}: LCS 1 -> F = 1/2.
  s = rouge_l("민법 제3조", "민법 제3조의2");
  CHECK(s.lcs == 1);
  CHECK(s.fmeasure == doctest::Approx(0.5).epsilon(1e-15));

  // Empty sides give 0 (rouge-score: "if not target_tokens or not prediction_tokens"); identical give 1.
  CHECK(rouge_l("", "").fmeasure == 0.0);
  CHECK(rouge_l("가 나", " \u3000\t").fmeasure == 0.0);  // whitespace-only = no tokens
  CHECK(rouge_l("임대차는 등기가 없는 경우에도", "임대차는 등기가 없는 경우에도").fmeasure == 1.0);
  // No common token: P = R = 0 -> F = 0, not NaN.
  s = rouge_l("가 나", "다 라");
  CHECK(s.fmeasure == 0.0);

  // Token-id overload: a = 1 2 3 2 1 (reference), b = 2 1 2 (candidate). The only length-3 subsequence of b is
  // "2 1 2", which is not in a (after 2..1 at positions 1,4 no 2 follows); "2 2" is. So LCS = 2: P = 2/3, R = 2/5.
  s = rouge_l(std::vector<int32_t>{1, 2, 3, 2, 1}, std::vector<int32_t>{2, 1, 2});
  CHECK(s.lcs == 2);
  CHECK(s.precision == doctest::Approx(2.0 / 3).epsilon(1e-15));
  CHECK(s.recall == doctest::Approx(0.4).epsilon(1e-15));
  CHECK(lcs_length({1, 2, 3, 2, 1}, {2, 1, 2}) == lcs_length({2, 1, 2}, {1, 2, 3, 2, 1}));

  // Corpus helper: mean of per-item F (here 4/7 and 1) and summed counts.
  RougeCorpus c = rouge_l_corpus(std::vector<std::string>{"a b c d", "x"}, std::vector<std::string>{"a c e", "x"});
  CHECK(c.items == 2);
  CHECK(c.fmeasure == doctest::Approx((4.0 / 7 + 1.0) / 2).epsilon(1e-15));
  CHECK(c.lcs == 3);
  CHECK_THROWS_AS(rouge_l_corpus(std::vector<std::string>{"a"}, std::vector<std::string>{}), Error);
  CHECK(rouge_l_corpus(std::vector<std::string>{}, std::vector<std::string>{}).fmeasure == 0.0);
}

TEST_CASE("rouge tokenisation") {
  RougeOptions o;
  CHECK(rouge_tokenize("법률.  제1조\u3000(목적)", o) == std::vector<std::string>{"법률.", "제1조", "(목적)"});
  o.strip_punct = true;
  CHECK(rouge_tokenize("법률.  제1조 ( ) 「민법」", o) == std::vector<std::string>{"법률", "제1조", "민법"});
  o = {};
  o.lowercase_ascii = true;
  CHECK(rouge_tokenize("ABC Éa 가", o) == std::vector<std::string>{"abc", "Éa", "가"});  // ASCII-only folding
  o = {};
  o.tokenize = RougeTokenize::Character;
  CHECK(rouge_tokenize("정치ㆍ경제 a", o) == std::vector<std::string>{"정", "치", "ㆍ", "경", "제", "a"});
  CHECK_THROWS_AS(rouge_tokenize(std::string("ab\xff"), o), Error);
  CHECK_THROWS_AS(rouge_tokenize(std::string("\xed\xa0\x80"), o), Error);  // UTF-8 encoded surrogate
  CHECK_THROWS_AS(rouge_tokenize(std::string("\xea\xb0"), o), Error);      // truncated 가
}

// ---- oracle comparison ---------------------------------------------------------------------------------

static std::vector<std::string> korean_sentences() {
  // Statute paragraph lines and precedent 판결요지 (truncated to 300 code points to keep char-level LCS cheap).
  std::vector<std::string> out;
  for (const char* f : {"statutes/주택임대차보호법.md", "statutes/민법.md", "statutes/형법.md"}) {
    std::ifstream in(data_dir() + "/" + f);
    REQUIRE_MESSAGE(in.good(), "cannot read ", data_dir(), "/", f);
    std::string line;
    int taken = 0;
    while (std::getline(in, line) && taken < 40)
      if (line.rfind("**", 0) == 0 && line.size() > 40) out.push_back(line), taken++;
  }
  std::ifstream in(data_dir() + "/precedents/precedents_sc_850.jsonl");
  REQUIRE_MESSAGE(in.good(), "cannot read precedents_sc_850.jsonl under ", data_dir());
  std::string line;
  for (int i = 0; i < 40 && std::getline(in, line); i++) {
    std::string s = json::parse(line).value("holding_summary", "");
    size_t n = 0, bytes = 0;
    // Cut at a code-point boundary: count lead bytes.
    for (bytes = 0; bytes < s.size() && n < 300; bytes++)
      if ((static_cast<unsigned char>(s[bytes]) & 0xC0) != 0x80) n++;
    while (bytes < s.size() && (static_cast<unsigned char>(s[bytes]) & 0xC0) == 0x80) bytes++;
    if (!s.empty()) out.push_back(s.substr(0, bytes));
  }
  return out;
}

static std::vector<std::string> split_ascii_space(const std::string& s) {
  std::vector<std::string> t;
  std::string cur;
  for (char c : s) {
    if (c == ' ') {
      if (!cur.empty()) t.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) t.push_back(cur);
  return t;
}

TEST_CASE("rouge-L equals rouge-score on random and Korean cases") {
  std::mt19937_64 rng(20260608);
  auto uni = [&](int lo, int hi) { return int(std::uniform_int_distribution<int>(lo, hi)(rng)); };
  json cases = json::array();

  // 1) Random sequences over a small alphabet, as ids and as space-joined tokens (mixed ASCII/Hangul).
  const std::vector<std::string> alpha = {"a", "b", "c", "가", "나", "Ab", "법."};
  for (int i = 0; i < 300; i++) {
    int k = uni(1, 5);
    std::vector<int32_t> r(uni(0, 25)), c(uni(0, 25));
    for (auto& x : r) x = uni(0, k - 1);
    for (auto& x : c) x = uni(0, k - 1);
    cases.push_back({{"mode", "ids"}, {"ref", r}, {"cand", c}});
    std::string rs, cs;
    for (auto x : r) rs += alpha[x] + (uni(0, 9) ? " " : "\u3000");
    for (auto x : c) cs += alpha[x] + (uni(0, 9) ? " " : "\t");
    cases.push_back({{"mode", "ws"}, {"ref", rs}, {"cand", cs}, {"lower", bool(uni(0, 1))}, {"punct", bool(uni(0, 1))}});
  }

  // 2) Korean sentences with random token edits, in both text modes, with and without normalisation.
  std::vector<std::string> sents = korean_sentences();
  REQUIRE(sents.size() >= 100);
  const std::vector<std::string> spaces = {" ", "\t", "\u3000", "\u00a0", "\u2009", "\x1c", "\n", "\u202f"};
  const std::vector<std::string> extra = {"ABC", "법률.", "「민법」", "…", "ㆍ", "제3조의2", "\u200b"};  // U+200B is not space
  for (size_t i = 0; i < sents.size(); i++) {
    std::vector<std::string> toks = split_ascii_space(sents[i]);
    int edits = uni(0, 8);
    for (int e = 0; e < edits && !toks.empty(); e++) {
      size_t p = size_t(uni(0, int(toks.size()) - 1));
      switch (uni(0, 4)) {
        case 0: toks.erase(toks.begin() + long(p)); break;
        case 1: toks.insert(toks.begin() + long(p), extra[size_t(uni(0, int(extra.size()) - 1))]); break;
        case 2: {  // substitute a token from another sentence
          std::vector<std::string> o = split_ascii_space(sents[size_t(uni(0, int(sents.size()) - 1))]);
          toks[p] = o[size_t(uni(0, int(o.size()) - 1))];
          break;
        }
        case 3: if (p + 1 < toks.size()) std::swap(toks[p], toks[p + 1]); break;
        case 4: toks.insert(toks.begin() + long(p), toks[p]); break;
      }
    }
    std::string cand;
    for (size_t t = 0; t < toks.size(); t++) cand += (t ? spaces[size_t(uni(0, int(spaces.size()) - 1))] : "") + toks[t];
    for (const char* mode : {"ws", "char"})
      cases.push_back({{"mode", mode}, {"ref", sents[i]}, {"cand", cand}, {"lower", bool(uni(0, 1))},
                       {"punct", bool(uni(0, 1))}});
  }

  // 3) Empty, whitespace-only and identical inputs.
  for (const char* mode : {"ws", "char"}) {
    cases.push_back({{"mode", mode}, {"ref", ""}, {"cand", ""}});
    cases.push_back({{"mode", mode}, {"ref", ""}, {"cand", "가 나"}});
    cases.push_back({{"mode", mode}, {"ref", "가 나"}, {"cand", ""}});
    cases.push_back({{"mode", mode}, {"ref", " \u3000\t"}, {"cand", "가"}});
    cases.push_back({{"mode", mode}, {"ref", "...「」"}, {"cand", "..."}, {"punct", true}});  // all punct -> empty
    cases.push_back({{"mode", mode}, {"ref", sents[0]}, {"cand", sents[0]}});
    cases.push_back({{"mode", mode}, {"ref", sents[1]}, {"cand", sents[1]}, {"lower", true}, {"punct", true}});
  }
  cases.push_back({{"mode", "ids"}, {"ref", std::vector<int32_t>{}}, {"cand", std::vector<int32_t>{}}});
  cases.push_back({{"mode", "ids"}, {"ref", std::vector<int32_t>{7, 7, 7}}, {"cand", std::vector<int32_t>{7, 7, 7}}});

  make_dirs("build/tests/rouge");
  const std::string in_path = "build/tests/rouge/cases.jsonl", out_path = "build/tests/rouge/oracle.jsonl";
  std::string body;
  for (const auto& c : cases) body += c.dump() + "\n";
  write_file_atomic(in_path, body);
  std::remove(out_path.c_str());
  std::string cmd = ".venv/bin/python tests/reference/rouge_oracle.py " + in_path + " " + out_path;
  int rc = std::system(cmd.c_str());
  REQUIRE_MESSAGE(rc == 0, "oracle failed (", rc, "): ", cmd);  // fails, never skips, if the oracle cannot run

  std::ifstream in(out_path);
  std::vector<json> got;
  std::string line;
  while (std::getline(in, line)) got.push_back(json::parse(line));
  REQUIRE(got.size() == cases.size() + 2);

  // Both sides compute P = lcs/|cand|, R = lcs/|ref|, F = 2*P*R/(P+R) in IEEE double from the same integers, in
  // the same order of operations, so they should agree to the last bit; 1e-9 is a loose bound that still catches
  // any off-by-one in the LCS (the smallest possible F difference between distinct integer LCS values here is
  // far above 1e-6).
  int exact = 0, worst_i = -1;
  double worst = 0;
  std::vector<std::string> refs, cnds;
  std::vector<double> fs;
  for (size_t i = 0; i < cases.size(); i++) {
    const json& c = cases[i];
    RougeScore s;
    if (c["mode"] == "ids") {
      s = rouge_l(c["ref"].get<std::vector<int32_t>>(), c["cand"].get<std::vector<int32_t>>());
    } else {
      RougeOptions o;
      o.tokenize = c["mode"] == "char" ? RougeTokenize::Character : RougeTokenize::Whitespace;
      o.lowercase_ascii = c.value("lower", false);
      o.strip_punct = c.value("punct", false);
      s = rouge_l(c["ref"].get<std::string>(), c["cand"].get<std::string>(), o);
    }
    double d = std::max({std::fabs(s.fmeasure - got[i]["f"].get<double>()),
                         std::fabs(s.precision - got[i]["p"].get<double>()),
                         std::fabs(s.recall - got[i]["r"].get<double>())});
    if (d > worst) worst = d, worst_i = int(i);
    exact += (s.fmeasure == got[i]["f"].get<double>() && s.precision == got[i]["p"].get<double>() &&
              s.recall == got[i]["r"].get<double>());
    fs.push_back(s.fmeasure);
  }
  MESSAGE(cases.size(), " cases, ", exact, " bit-identical to rouge-score, worst |diff| ", worst,
          (worst_i >= 0 ? " at case " + std::to_string(worst_i) + ": " + cases[size_t(worst_i)].dump() : ""));
  CHECK(worst <= 1e-9);

  // Corpus mean over all cases (same left-to-right summation as Python's sum()).
  double mean = 0;
  for (double f : fs) mean += f;
  mean /= double(fs.size());
  CHECK(std::fabs(mean - got[cases.size()]["corpus_f"].get<double>()) <= 1e-12);

  // is_unicode_space is exactly Python's str.isspace().
  std::vector<char32_t> py_space;
  for (const auto& v : got[cases.size() + 1]["isspace"]) py_space.push_back(char32_t(v.get<int64_t>()));
  std::vector<char32_t> ours;
  for (char32_t cp = 0; cp < 0x110000; cp++)
    if (is_unicode_space(cp)) ours.push_back(cp);
  CHECK(ours == py_space);
}

TEST_CASE("lcs is quadratic time, linear memory: 4000 x 3000 ids") {
  std::mt19937 rng(1);
  std::vector<int32_t> a(4000), b(3000);
  for (auto& x : a) x = int32_t(rng() % 4);
  for (auto& x : b) x = int32_t(rng() % 4);
  // Brute-force full-table LCS on a 300 x 200 prefix as an independent check of the rolling-row version.
  auto full = [](const std::vector<int32_t>& x, const std::vector<int32_t>& y) {
    std::vector<std::vector<int>> t(x.size() + 1, std::vector<int>(y.size() + 1, 0));
    for (size_t i = 1; i <= x.size(); i++)
      for (size_t j = 1; j <= y.size(); j++)
        t[i][j] = x[i - 1] == y[j - 1] ? t[i - 1][j - 1] + 1 : std::max(t[i - 1][j], t[i][j - 1]);
    return int64_t(t[x.size()][y.size()]);
  };
  std::vector<int32_t> a2(a.begin(), a.begin() + 300), b2(b.begin(), b.begin() + 200);
  CHECK(lcs_length(a2, b2) == full(a2, b2));
  CHECK(lcs_length(b2, a2) == full(a2, b2));
  int64_t l = lcs_length(a, b);
  CHECK(l <= 3000);
  CHECK(l >= 1500);  // 4-letter alphabet: expected LCS fraction ~0.65 of the shorter length
}
