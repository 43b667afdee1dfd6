// Tests of the Qwen2 tokenizer.json layout (NFC normalizer + the Qwen2 pre-tokenizer regex) and of NFC itself
// (src/nfc.h). Oracles: values from the Unicode standard and hand-derived regex splits; a Qwen2 tokenizer.json
// made by transformers' own Qwen2 converter from a BPE that HF `tokenizers` trained, and HF `tokenizers`' ids,
// pieces and NFC (tests/reference/hf_qwen2_oracle.py) on the shared corpus samples, Korean, combining marks,
// digits and every code point.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <random>

#include "src/common.h"
#include "src/io.h"
#include "src/nfc.h"
#include "src/shard.h"
#include "src/tokenizer.h"
#include "src/unicode.h"
#include "tests/prep_runner.h"
#include "tests/tokenizer_samples.h"

using beop::PreTokenizer;
using beop::Tokenizer;
using namespace beop::tok_test;

namespace {

const std::string kWork = "build/tests/tokenizer_qwen2";
constexpr int kVocab = 1500;  // 256 bytes + merges; transformers adds <|endoftext|> at 1500, then the others

std::string u(std::initializer_list<uint32_t> cps) {  // UTF-8 of code points
  std::string s;
  for (uint32_t c : cps) beop::utf8_append(s, c);
  return s;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& p : v) s += "[" + p + "]";
  return s;
}

void run(const std::string& cmd) {
  const int rc = std::system((cmd + " 2>&1").c_str());
  REQUIRE_MESSAGE(rc == 0, "oracle failed: " << cmd);
}

// Random strings made to stress NFC: starters that compose, combining marks of many classes in any order,
// Hangul L/V/T jamo and syllables, decomposable and excluded characters, characters newer than Unicode 9.
std::string random_nfc_stress(std::mt19937& rng) {
  static const uint32_t kRanges[][2] = {
      {'A', 'Z'}, {'a', 'z'}, {'<', '>'}, {0x300, 0x36F}, {0x300, 0x36F}, {0x1AB0, 0x1AFF}, {0x1DC0, 0x1DFF},
      {0x20D0, 0x20FF}, {0x591, 0x5C7}, {0x64B, 0x65F}, {0x93C, 0x954}, {0xF71, 0xF84}, {0x3099, 0x309A},
      {0x1100, 0x1112}, {0x1161, 0x1175}, {0x11A7, 0x11C3}, {0x1100, 0x11FF}, {0xAC00, 0xD7A3}, {0xC0, 0x17F},
      {0x1E00, 0x1EFF}, {0x1F00, 0x1FFF}, {0x958, 0x95F}, {0xF900, 0xFAFF}, {0x2126, 0x212B}, {0x2ADC, 0x2ADC},
      {0xFB1D, 0xFB4E}, {0x3040, 0x30FF}, {0x1D15E, 0x1D164}, {0x11099, 0x110BA}, {0x11930, 0x1193F},
      {0x0898, 0x089F}, {0x340, 0x344}, {' ', ' '}};
  const size_t nr = sizeof(kRanges) / sizeof(kRanges[0]);
  std::string s;
  const int n = std::uniform_int_distribution<int>(1, 12)(rng);
  for (int i = 0; i < n; i++) {
    const auto& r = kRanges[std::uniform_int_distribution<size_t>(0, nr - 1)(rng)];
    beop::utf8_append(s, std::uniform_int_distribution<uint32_t>(r[0], r[1])(rng));
  }
  return s;
}

// Texts for the tokenizer parity: the shared corpus samples plus digits, Korean (with decomposed jamo that NFC
// composes), Latin combining marks, mixed scripts, the added tokens, and NFC stress strings.
std::vector<std::string> parity_texts() {
  std::vector<std::string> t = corpus_samples();
  const std::vector<std::string> extra = {
      "12345678901234567890", "제1조 제2항 제30호 2020.06.09. 1,234,567원 (3.14%)", "①②③ ٣٤٥ ４５６ Ⅻ ½ x1y22z333",
      u({0x1112, 0x1161, 0x11AB, 0x1100, 0x1173, 0x11AF}) + " 대한민국 " + u({0x1100, 0x1161, 0x1100, 0x1161, 0x11A8}),
      "가" + u({0x11A8}) + " 한" + u({0x11AB, 0x11AB}) + " " + u({0x1100, 0x1161, 0x11A7}) + "법률" + u({0x1161}),
      "Cafe" + u({0x301}) + " re" + u({0x301}) + "sume" + u({0x301}) + " nai" + u({0x308}) + "ve " + u({0x212B, 0x2126, 0x212A}),
      "A" + u({0x30A, 0x301}) + " a" + u({0x301, 0x316}) + " " + u({0x958, 0xFB1D, 0x2ADC, 0x344, 0xF73}) + " q" + u({0x307, 0x323}),
      "법률 law 法律 Закон قانون नियम " + u({0x1F9D1, 0x200D, 0x2696, 0xFE0F}) + " 123",
      u({0x11935, 0x11930}) + " a" + u({0x1DFA, 0x301}) + " " + u({0x304B, 0x3099}) + u({0x1D15F, 0x1D165}),
      "<|im_start|>user\n전세 보증금을 돌려받지 못했어요" + u({0x1100, 0x1161}) + "?<|im_end|>\n<|im_start|>assistant\n",
      "<tool_call>{\"name\": \"x\"}</tool_call> e" + u({0x301}) + "<|im_end|>" + u({0x301}) + "<|endoftext|>",
      u({0xC5}) + "B " + "A" + u({0x30A}) + "B " + u({0x212B}) + "B " + "A" + u({0x30A, 0x301}) + "B " + u({0xC5}) + "B!",
      "x" + u({0x301}) + "y " + u({0xFD}) + " <tool_call" + u({0x301}) + "> B" + u({0x301}) + "!",
      // non-special added tokens next to special ones, and "im_st" (non-special in the overlap variant) inside
      // and outside "<|im_start|>"
      "<|im_start|>system\nim_st <tool_call>B!" + u({0x212B}) + "B<|im_end|>im_start<tool_call><tool_call>",
      "im_st<|im_start|>im_st|im_start|> <tool_call x" + u({0x301}) + "yB!B! " + u({0xC5}) + "B" + u({0x301}),
  };
  t.insert(t.end(), extra.begin(), extra.end());
  std::mt19937 rng(5);
  for (int i = 0; i < 400; i++) t.push_back(random_nfc_stress(rng));
  return t;
}

// NFC-only inputs: every code point (one string, '\n'-separated: a starter nothing composes with or reorders
// across, so each line normalizes alone) and 20,000 stress strings.
std::vector<std::string> nfc_texts() {
  std::string all;
  for (uint32_t cp = 0; cp < 0x110000; cp++) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    beop::utf8_append(all, cp);
    all += '\n';
  }
  std::vector<std::string> t = {all};
  std::mt19937 rng(17);
  for (int i = 0; i < 20000; i++) t.push_back(random_nfc_stress(rng));
  return t;
}

struct Oracle {
  // transformers' file; beop's save of it; Sequence[NFC] variant; a variant with one more non-special added
  // token, "im_st" (normalized=false), that lies inside the special "<|im_start|>"
  std::string qwen2_json, saved_json, seq_json, overlap_json;
  std::vector<std::string> texts, nfc_in;
  nlohmann::json out;
};

// Runs the oracle once: train (tokenizers) -> convert (transformers) -> beop saves its load of the file ->
// HF encodes the texts with both files and the Sequence[NFC] variant.
const Oracle& oracle() {
  static const Oracle o = [] {
    Oracle o;
    beop::make_dirs(kWork);
    std::string cmd = ".venv/bin/python tests/reference/hf_qwen2_oracle.py train --vocab " + std::to_string(kVocab) + " --train";
    for (const auto& f : training_files(kWork)) cmd += " " + f;
    run(cmd + " --out " + kWork);
    run(".venv-hf/bin/python tests/reference/hf_qwen2_oracle.py convert --out " + kWork);
    o.qwen2_json = kWork + "/qwen2/tokenizer.json";
    o.saved_json = kWork + "/beop_saved.json";
    Tokenizer::load(o.qwen2_json).save(o.saved_json);
    auto j = nlohmann::json::parse(beop::read_file(o.qwen2_json));
    j["normalizer"] = {{"type", "Sequence"}, {"normalizers", nlohmann::json::array({{{"type", "NFC"}}})}};
    o.seq_json = kWork + "/qwen2_sequence_nfc.json";
    beop::write_file_atomic(o.seq_json, j.dump());
    j = nlohmann::json::parse(beop::read_file(o.qwen2_json));
    j["added_tokens"].push_back({{"id", kVocab + 7}, {"content", "im_st"}, {"single_word", false}, {"lstrip", false},
                                 {"rstrip", false}, {"normalized", false}, {"special", false}});
    o.overlap_json = kWork + "/qwen2_overlap.json";
    beop::write_file_atomic(o.overlap_json, j.dump());
    o.texts = parity_texts();
    o.nfc_in = nfc_texts();
    beop::write_file_atomic(kWork + "/texts.json", nlohmann::json(o.texts).dump());
    beop::write_file_atomic(kWork + "/nfc.json", nlohmann::json(o.nfc_in).dump());
    run(".venv/bin/python tests/reference/hf_qwen2_oracle.py encode --tokenizer " + o.qwen2_json + " " + o.saved_json +
        " " + o.seq_json + " " + o.overlap_json + " --texts " + kWork + "/texts.json --nfc " + kWork + "/nfc.json --out " + kWork + "/out.json");
    o.out = nlohmann::json::parse(beop::read_file(kWork + "/out.json"));
    return o;
  }();
  return o;
}

}  // namespace

TEST_CASE("Qwen2 pre-tokenizer: digits one at a time, everything else as the Llama-3 regex") {
  struct Case {
    std::string text;
    std::vector<std::string> pieces;
  };
  // Worked out from the alternatives, tried left to right: A1 contractions, A2 [^\r\n L N]?L+, A3 N (one),
  // A4 ' '?[^\s L N]+[\r\n]*, A5 \s*[\r\n]+, A6 \s+(?!\S), A7 \s+.
  const std::vector<Case> cases = {
      {"12345", {"1", "2", "3", "4", "5"}},
      {"제3조의2(대항력)", {"제", "3", "조의", "2", "(대항력", ")"}},
      {"<개정 2020.6.9>", {"<개정", " ", "2", "0", "2", "0", ".", "6", ".", "9", ">"}},
      {"**①②** 임대차", {"**", "①", "②", "**", " 임대차"}},   // circled digits are No: numbers, one each
      {"x1y22", {"x", "1", "y", "2", "2"}},
      {"I'm 30", {"I", "'m", " ", "3", "0"}},
      {"٣٤ ４５", {"٣", "٤", " ", "４", "５"}},                  // Arabic-Indic and fullwidth digits are Nd
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    CHECK(join(beop::pre_tokenize_strings(c.text, PreTokenizer::kQwen2)) == join(c.pieces));
  }
  // The two regexes differ only in \p{N}{1,3} vs \p{N}: the Qwen2 pieces are the Llama-3 pieces with each
  // all-number piece cut into single characters (only A3 pieces contain numbers).
  std::mt19937 rng(3);
  std::vector<std::string> texts = corpus_samples();
  for (int i = 0; i < 2000; i++) texts.push_back(random_utf8(rng, 1 + i % 150));
  int bad = 0;
  for (const auto& t : texts) {
    std::vector<std::string> want;
    for (const auto& p : beop::llama3_split_strings(t)) {
      int len;
      if (beop::char_class(beop::utf8_decode_at(p.data(), 0, &len)) != beop::kClassNumber) {
        want.push_back(p);
        continue;
      }
      for (size_t i = 0; i < p.size(); i += size_t(len)) {
        beop::utf8_decode_at(p.data(), i, &len);
        want.push_back(p.substr(i, size_t(len)));
      }
    }
    if (beop::pre_tokenize_strings(t, PreTokenizer::kQwen2) != want && bad++ < 3) FAIL_CHECK("differs on " << codepoints(t));
  }
  CHECK(bad == 0);
}

TEST_CASE("NFC: values from the Unicode standard") {
  struct Case {
    std::string in, want, why;
  };
  const std::vector<Case> cases = {
      {"e" + u({0x301}), u({0xE9}), "e + acute composes to U+00E9"},
      {u({0x1100, 0x1161}), u({0xAC00}), "Hangul L + V -> LV syllable 가"},
      {u({0x1100, 0x1161, 0x11A8}), u({0xAC01}), "L + V + T -> LVT syllable 각"},
      {u({0xAC00, 0x11A8}), u({0xAC01}), "LV syllable + T -> LVT"},
      {u({0xAC01, 0x11A8}), u({0xAC01, 0x11A8}), "an LVT syllable takes no further T"},
      {u({0x1100, 0x1161, 0x11A7}), u({0xAC00, 0x11A7}), "U+11A7 is TBase itself, not a trailing consonant"},
      {u({0x1112, 0x1161, 0x11AB, 0x1100, 0x1173, 0x11AF}), "한글", "decomposed 한글"},
      {u({0x212B}), u({0xC5}), "singleton: ANGSTROM SIGN -> Å"},
      {u({0x2126}), u({0x3A9}), "singleton: OHM SIGN -> Ω"},
      {u({0x212A}), "K", "singleton: KELVIN SIGN -> K"},
      {u({0xF900}), u({0x8C48}), "CJK compatibility ideograph -> unified"},
      {u({0x958}), u({0x915, 0x93C}), "composition exclusion: DEVANAGARI QA stays decomposed"},
      {u({0x915, 0x93C}), u({0x915, 0x93C}), "... and is not composed from its parts"},
      {u({0xFB1D}), u({0x5D9, 0x5B4}), "composition exclusion: HEBREW YOD WITH HIRIQ"},
      {u({0x2ADC}), u({0x2ADD, 0x338}), "composition exclusion: FORKING"},
      {u({0x344}), u({0x308, 0x301}), "non-starter decomposition"},
      {u({0xF73}), u({0xF71, 0xF72}), "non-starter decomposition (Tibetan)"},
      {"a" + u({0x301, 0x316}), u({0xE1, 0x316}), "reorder (220 before 230), then a + acute"},
      {"a" + u({0x316, 0x301}), u({0xE1, 0x316}), "already ordered"},
      {"a" + u({0x301, 0x301}), u({0xE1, 0x301}), "second acute is blocked by the first (same class)"},
      {"A" + u({0x30A, 0x301}), u({0x1FA}), "A + ring -> Å, + acute -> Ǻ"},
      {u({0x212B, 0x301}), u({0x1FA}), "Å from a singleton still composes further"},
      {u({0x1E0A, 0x323}), u({0x1E0C, 0x307}), "Ḋ + dot below -> Ḍ + dot above (canonical reordering)"},
      {"<" + u({0x338}), u({0x226E}), "< + combining solidus -> ≮"},
      {u({0x304B, 0x3099}), u({0x304C}), "か + voiced mark -> が"},
      {u({0x1D158, 0x1D165}), u({0x1D158, 0x1D165}), "musical symbol composition is excluded"},
      {u({0x1D15F}), u({0x1D158, 0x1D165}), "... so the precomposed one decomposes"},
      {u({0x1D160}), u({0x1D158, 0x1D165, 0x1D16E}), "... and decomposes fully"},
      // HF's NFC uses Unicode 9.0 data: later additions are unknown to it (Unicode 13's Dives Akuru vowel
      // stays apart; Unicode 14's U+1DFA is a starter there, so it blocks the acute from the a).
      {u({0x11935, 0x11930}), u({0x11935, 0x11930}), "Unicode 13.0 composition unknown to HF"},
      {"a" + u({0x1DFA, 0x301}), "a" + u({0x1DFA, 0x301}), "Unicode 14.0 combining mark is a starter for HF"},
      {"abc e" + u({0x301}) + " 가" + u({0x11A8}) + " xyz 법", "abc " + u({0xE9}) + " 각 xyz 법", "stretches between"},
      {u({0x301}) + "a", u({0x301}) + "a", "a leading non-starter has nothing to compose with"},
      {"", "", "empty"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.why);
    CHECK(codepoints(beop::nfc(c.in)) == codepoints(c.want));
  }
  CHECK(beop::nfc_combining_class(0x301) == 230);
  CHECK(beop::nfc_combining_class(0x316) == 220);
  CHECK(beop::nfc_combining_class(0x334) == 1);
  CHECK(beop::nfc_combining_class(0x5B4) == 14);
  CHECK(beop::nfc_combining_class(0x3099) == 8);
  CHECK(beop::nfc_combining_class('a') == 0);
  CHECK(beop::nfc_combining_class(0x1DFA) == 0);  // 218 since Unicode 14; HF has 9.0
  CHECK(beop::nfc_combining_class(0x110000) == 0);
  // The quick check: text that is already NFC is not copied.
  std::string out = "untouched";
  CHECK_FALSE(beop::nfc_normalize("Hello, 대한민국 헌법 제1조 法律 " + u({0xE9, 0x1F600}), &out));
  CHECK(out == "untouched");
  CHECK(beop::nfc_normalize("e" + u({0x301}), &out));
  CHECK(out == u({0xE9}));
  CHECK_THROWS_AS(beop::nfc("\xC3("), beop::Error);
}

TEST_CASE("NFC matches HF tokenizers on every code point and 20,000 random mark-heavy strings") {
  const Oracle& o = oracle();
  const auto& want = o.out["nfc_only"];
  REQUIRE(want.size() == o.nfc_in.size());
  // Every code point: compare line by line to name the first one that differs.
  const std::string got = beop::nfc(o.nfc_in[0]), hf = want[0].get<std::string>();
  if (got != hf) {
    size_t a = 0, b = 0;
    while (true) {
      const size_t ea = got.find('\n', a), eb = hf.find('\n', b);
      if (got.compare(a, ea - a, hf, b, eb - b) != 0) {
        FAIL_CHECK("NFC differs: beop " << codepoints(got.substr(a, ea - a)) << " HF " << codepoints(hf.substr(b, eb - b)));
        break;
      }
      if (ea == std::string::npos || eb == std::string::npos) break;
      a = ea + 1;
      b = eb + 1;
    }
  }
  CHECK(got.size() == hf.size());
  int bad = 0;
  for (size_t i = 1; i < o.nfc_in.size(); i++) {
    const std::string g = beop::nfc(o.nfc_in[i]), w = want[i].get<std::string>();
    if (g != w && bad++ < 5)
      FAIL_CHECK("NFC of " << codepoints(o.nfc_in[i]) << ": beop " << codepoints(g) << " HF " << codepoints(w));
  }
  CHECK(bad == 0);
}

TEST_CASE("a Qwen2 tokenizer.json made by transformers: ids identical to HF, before and after beop's save") {
  const Oracle& o = oracle();
  const Tokenizer tk = Tokenizer::load(o.qwen2_json), saved = Tokenizer::load(o.saved_json),
                  seq = Tokenizer::load(o.seq_json);
  CHECK(tk.pre_tokenizer() == PreTokenizer::kQwen2);
  CHECK(tk.normalizes_nfc());
  CHECK(seq.normalizes_nfc());
  // transformers' layout: 1500 model ids, then <|endoftext|>, <|im_start|>, <|im_end|>, then the added ones.
  CHECK(tk.vocab_size() == kVocab + 7);
  CHECK(tk.token_id("<|endoftext|>") == kVocab);
  CHECK(tk.token_id("<|im_end|>") == kVocab + 2);
  size_t total = 0;
  for (const auto& t : o.texts) total += t.size();
  MESSAGE("parity texts: " << o.texts.size() << " strings, " << total << " bytes, HF tokenizers "
          << o.out["version"].get<std::string>());
  const auto& ids = o.out["ids"];
  REQUIRE(ids.size() == 4);
  int bad_nfc = 0, bad_pieces = 0, bad_ids[3] = {0, 0, 0}, bad_rt = 0;
  const Tokenizer* tks[3] = {&tk, &saved, &seq};
  const std::string names[3] = {"transformers' file", "beop's save of it", "Sequence[NFC] variant"};
  for (size_t i = 0; i < o.texts.size(); i++) {
    CAPTURE(i);
    const std::string n = beop::nfc(o.texts[i]);
    if (n != o.out["nfc"][i].get<std::string>() && bad_nfc++ < 3) FAIL_CHECK("NFC differs from HF on text " << i);
    if (beop::pre_tokenize_strings(n, PreTokenizer::kQwen2) != o.out["pieces"][i].get<std::vector<std::string>>() &&
        bad_pieces++ < 3)
      FAIL_CHECK("Qwen2 pre-tokenizer differs from HF on text " << i << ": " << codepoints(utf8_prefix(n, 200)));
    for (int k = 0; k < 3; k++)
      if (tks[k]->encode(o.texts[i], true) != ids[k][i].get<std::vector<int32_t>>() && bad_ids[k]++ < 3)
        FAIL_CHECK(names[k] << ": ids differ from HF on text " << i << ": " << codepoints(utf8_prefix(o.texts[i], 200)));
    // (A matched non-special added token decodes to its content, which need not be NFC: compared after NFC.)
    if (beop::nfc(tk.decode(tk.encode(o.texts[i], false))) != n && bad_rt++ < 3)
      FAIL_CHECK("NFC(decode(encode(x))) != NFC(x), text " << i);
  }
  CHECK(bad_nfc == 0);
  CHECK(bad_pieces == 0);
  CHECK(bad_ids[0] == 0);
  CHECK(bad_ids[1] == 0);
  CHECK(bad_ids[2] == 0);
  CHECK(bad_rt == 0);
}

TEST_CASE("Qwen2 added tokens: normalized=false ones match the raw text, normalized=true ones the NFC text") {
  const Tokenizer tk = Tokenizer::load(oracle().qwen2_json);
  const int32_t im_start = kVocab + 1, im_end = kVocab + 2, tool = kVocab + 3, b_bang = kVocab + 4, xy = kVocab + 5,
                ab = kVocab + 6;
  CHECK(tk.token_id("<|im_start|>") == im_start);
  CHECK(tk.token_id("<tool_call>") == tool);
  CHECK(tk.token_id("A" + u({0x30A}) + "B") == ab);  // looked up by its content as written
  // "A\u030aB" (normalized=true) is matched after NFC, so all three spellings of ÅB give it.
  for (const std::string& s : {u({0xC5}) + "B", "A" + u({0x30A}) + "B", u({0x212B}) + "B"}) {
    CAPTURE(codepoints(s));
    CHECK(tk.encode(s, true) == std::vector<int32_t>{ab});
    CHECK(tk.decode(tk.encode(s, true)) == "A" + u({0x30A}) + "B");  // decode gives the token's content
  }
  // HF matches normalized=false tokens first, in the raw text: in "ÅB!" the "B!" wins although "ÅB" starts
  // further left, and the Å left over is ordinary text.
  std::vector<int32_t> want = tk.encode(u({0xC5}));
  want.push_back(b_bang);
  CHECK(tk.encode(u({0xC5}) + "B!", true) == want);
  // "x\u0301y" (normalized=false) only in the raw spelling.
  CHECK(tk.encode("x" + u({0x301}) + "y", true) == std::vector<int32_t>{xy});
  // Stretches between raw-matched tokens are normalized separately: the acute after <|im_end|> has no base.
  want = tk.encode(u({0xE9}));
  want.push_back(im_end);
  const auto acute = tk.encode(u({0x301}));
  want.insert(want.end(), acute.begin(), acute.end());
  CHECK(tk.encode("e" + u({0x301}) + "<|im_end|>" + u({0x301}), true) == want);
  CHECK(tk.encode("<|im_start|><tool_call>", true) == std::vector<int32_t>{im_start, tool});
  // allow_special=false: special tokens are text, non-special ones (<tool_call>, ÅB after NFC) still match.
  const std::vector<int32_t> plain = tk.encode(u({0x212B}) + "B <|im_end|> <tool_call>", false);
  CHECK(std::count(plain.begin(), plain.end(), ab) == 1);
  CHECK(std::count(plain.begin(), plain.end(), tool) == 1);
  CHECK(std::count(plain.begin(), plain.end(), im_end) == 0);
  CHECK(tk.decode(plain) == "A" + u({0x30A}) + "B <|im_end|> <tool_call>");
  CHECK(tk.encode(u({0x212B}) + "B", false) == tk.encode(u({0xC5}) + "B", false));
}

TEST_CASE("non-special added tokens are single tokens without allow_special too: ids and decode as HF") {
  // HF matches every added token in the raw text; beop's allow_special=false is HF's encode_special_tokens=True,
  // under which only the special ones become text (a special match is consumed whole, so "im_st" inside
  // "<|im_start|>" stays text in the overlap variant).
  const Oracle& o = oracle();
  const Tokenizer tks[4] = {Tokenizer::load(o.qwen2_json), Tokenizer::load(o.saved_json), Tokenizer::load(o.seq_json),
                            Tokenizer::load(o.overlap_json)};
  const std::string names[4] = {"transformers' file", "beop's save of it", "Sequence[NFC] variant", "overlap variant"};
  REQUIRE(o.out["ids_plain"].size() == 4);
  const int32_t tool = kVocab + 3, im_st = kVocab + 7;
  REQUIRE(tks[3].token_id("im_st") == im_st);
  int bad_ids[4] = {0, 0, 0, 0}, bad_dec[4] = {0, 0, 0, 0}, with_added = 0, mangled = 0;
  for (size_t i = 0; i < o.texts.size(); i++) {
    CAPTURE(i);
    for (int k = 0; k < 4; k++) {
      const std::vector<int32_t> got = tks[k].encode(o.texts[i], false);
      if (got != o.out["ids_plain"][k][i].get<std::vector<int32_t>>() && bad_ids[k]++ < 3)
        FAIL_CHECK(names[k] << ": ids differ from HF on text " << i << ": " << codepoints(utf8_prefix(o.texts[i], 200)));
      // Decoding round-trips up to NFC. It equals HF's decode, except where HF's ByteLevel decoder mangles an
      // added token's content outside the byte alphabet ("A\u030aB" -> U+FFFD "B"); beop gives the content.
      const std::string dec = tks[k].decode(got), hf = o.out["decoded_plain"][k][i].get<std::string>();
      const bool hf_mangled = hf.find("\xEF\xBF\xBD") != std::string::npos && o.texts[i].find("\xEF\xBF\xBD") == std::string::npos;
      if ((beop::nfc(dec) != o.out["nfc"][i].get<std::string>() || (!hf_mangled && dec != hf)) && bad_dec[k]++ < 3)
        FAIL_CHECK(names[k] << ": decode(encode(x)) is not NFC(x) or differs from HF's decode on text " << i);
      mangled += k == 0 && hf_mangled;
      if (k == 0) with_added += std::any_of(got.begin(), got.end(), [](int32_t id) { return id > kVocab + 2; });
    }
  }
  for (int k = 0; k < 4; k++) {
    CAPTURE(names[k]);
    CHECK(bad_ids[k] == 0);
    CHECK(bad_dec[k] == 0);
  }
  CHECK(with_added >= 4);  // the comparison covered texts where non-special added tokens matched
  CHECK(mangled <= 3);     // the three texts with "A\u030aB"; all others decode exactly as HF
  // By hand: the text round-trips exactly where nothing needs NFC.
  const std::string t = "<|im_start|>im_st <tool_call>{\"a\": 1}</tool_call><|im_end|>";
  const std::vector<int32_t> ids = tks[3].encode(t, false);
  CHECK(std::count(ids.begin(), ids.end(), tool) == 1);
  CHECK(std::count(ids.begin(), ids.end(), im_st) == 1);  // the one outside <|im_start|>
  CHECK(tks[3].decode(ids) == t);
}

TEST_CASE("Qwen2 tokenizer.json: save writes NFC and the Qwen2 regex back; load -> save -> load is exact") {
  const Oracle& o = oracle();
  const auto hf = nlohmann::json::parse(beop::read_file(o.qwen2_json));
  // The regex transformers' Qwen2 converter writes is beop's, byte for byte.
  CHECK(hf["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"].get<std::string>() == beop::kQwen2Pattern);
  const auto saved = nlohmann::json::parse(beop::read_file(o.saved_json));
  CHECK(saved["normalizer"] == nlohmann::json{{"type", "NFC"}});
  CHECK(saved["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] == hf["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"]);
  CHECK(saved["model"]["vocab"] == hf["model"]["vocab"]);
  CHECK(saved["model"]["merges"] == hf["model"]["merges"]);
  REQUIRE(saved["added_tokens"].size() == hf["added_tokens"].size());
  for (size_t i = 0; i < hf["added_tokens"].size(); i++)
    for (const char* k : {"id", "content", "normalized", "special"}) CHECK(saved["added_tokens"][i][k] == hf["added_tokens"][i][k]);
  const Tokenizer a = Tokenizer::load(o.saved_json);
  CHECK(a.to_json() == Tokenizer::load(o.qwen2_json).to_json());
  CHECK(a.to_json() == beop::read_file(o.saved_json));
  // A beop-trained tokenizer stays Llama-3 with no normalizer.
  const Tokenizer t = Tokenizer::train_from_texts({"abc abc 123"}, [] {
    beop::BpeTrainOptions opt;
    opt.vocab_size = 270;
    opt.progress = false;
    return opt;
  }());
  CHECK(t.pre_tokenizer() == PreTokenizer::kLlama3);
  CHECK_FALSE(t.normalizes_nfc());
  CHECK(nlohmann::json::parse(t.to_json())["normalizer"].is_null());
}

TEST_CASE("other normalizers and pre-tokenizer regexes are refused, naming them") {
  const auto good = nlohmann::json::parse(beop::read_file(oracle().qwen2_json));
  auto load_with = [&](const std::string& name, const nlohmann::json& j) {
    const std::string p = kWork + "/" + name;
    beop::write_file_atomic(p, j.dump());
    return Tokenizer::load(p);
  };
  const std::vector<std::pair<nlohmann::json, std::string>> normalizers = {
      {{{"type", "NFKC"}}, "normalizer 'NFKC' is not supported"},
      {{{"type", "NFD"}}, "normalizer 'NFD' is not supported"},
      {{{"type", "Lowercase"}}, "normalizer 'Lowercase' is not supported"},
      {{{"type", "Sequence"}, {"normalizers", nlohmann::json::array({{{"type", "NFC"}}, {{"type", "Lowercase"}}})}},
       "normalizer 'Lowercase' is not supported"},
      {{{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "_"}}, "normalizer 'Replace' is not supported"},
  };
  for (const auto& [n, msg] : normalizers) {
    CAPTURE(n.dump());
    auto j = good;
    j["normalizer"] = n;
    CHECK_THROWS_WITH_AS(load_with("bad_norm.json", j), doctest::Contains(msg.c_str()), beop::Error);
  }
  std::string two_digits = beop::kQwen2Pattern;  // \p{N}{1,2}: close to both, still neither
  two_digits.replace(two_digits.find("\\p{N}|"), 6, "\\p{N}{1,2}|");
  const std::string gpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
  for (const std::string& re : {two_digits, gpt2}) {
    CAPTURE(re);
    auto j = good;
    j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = re;
    CHECK_THROWS_WITH_AS(load_with("bad_re.json", j), doctest::Contains("neither the Llama-3 nor the Qwen2 regex"), beop::Error);
  }
}

TEST_CASE("Qwen2 end of document is <|endoftext|>: prep shards appends it, and it is HF's id") {
  const Oracle& o = oracle();
  const Tokenizer tk = Tokenizer::load(o.qwen2_json);
  const auto hf = nlohmann::json::parse(beop::read_file(o.qwen2_json));
  int64_t hf_id = -1;  // the id HF's file gives <|endoftext|>
  for (const auto& a : hf["added_tokens"])
    if (a["content"] == "<|endoftext|>") hf_id = a["id"].get<int64_t>();
  REQUIRE(hf_id >= 0);
  CHECK(tk.token_id(beop::kEndOfText) == -1);  // no Llama-3 <|end_of_text|> in a Qwen2 vocabulary
  CHECK(tk.eos_token() == "<|endoftext|>");
  CHECK(tk.eos_id() == hf_id);

  const std::string doc = kWork + "/eos_docs.txt", prefix = kWork + "/eos/legal";
  beop::write_file_atomic(doc, "제1조 목적 123\n\n제2조 정의\n");  // two documents (blank-line separated)
  const beop::test::PrepRun r = beop::test::run_prep(
      {"shards", "--tokenizer", o.qwen2_json, "--out-prefix", prefix, "--val-fraction", "0", "--doc-split", "blank", doc});
  INFO(r.out, r.err);
  REQUIRE(r.rc == 0);
  beop::ShardReader sh(prefix + "_train_000.bin", tk.vocab_size());
  REQUIRE(sh.n_docs() == 2);
  for (int64_t d = 0; d < 2; d++) {
    const std::vector<int32_t> ids = sh.document(d);
    REQUIRE(!ids.empty());
    CHECK(ids.back() == hf_id);  // each document ends with exactly one <|endoftext|>
    CHECK(std::count(ids.begin(), ids.end(), int32_t(hf_id)) == 1);
  }
}
