// Tests of the byte-level BPE tokenizer (src/tokenizer.h) and the Llama-3 pre-tokenizer (src/unicode.h).
// Oracles: hand-derived regex splits; HF `tokenizers` (tests/reference/hf_tokenizer_oracle.py) for ids and
// pieces; the round-trip identity decode(encode(x)) == x on the bundled corpora and random UTF-8.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "src/common.h"
#include "src/io.h"
#include "src/tokenizer.h"
#include "src/unicode.h"
#include "tests/tokenizer_samples.h"

using beop::Tokenizer;
using namespace beop::tok_test;
namespace fs = std::filesystem;

namespace {

const std::string kWork = "build/tests/tokenizer";

beop::BpeTrainOptions small_opts(int vocab) {
  beop::BpeTrainOptions o;
  o.vocab_size = vocab;
  o.progress = false;
  return o;
}

std::vector<std::string> training_files() {
  static const std::vector<std::string> files = beop::tok_test::training_files(kWork);
  return files;
}

constexpr int kVocab = 1500;

const Tokenizer& trained() {
  static Tokenizer tk = Tokenizer::train(training_files(), small_opts(kVocab));
  return tk;
}

void check_round_trip(const Tokenizer& tk, const std::string& text, const std::string& what) {
  const auto ids = tk.encode(text);
  const std::string back = tk.decode(ids);
  if (back != text) {
    size_t k = 0;
    while (k < back.size() && k < text.size() && back[k] == text[k]) k++;
    FAIL_CHECK(what << ": round trip differs at byte " << k);
  }
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& p : v) s += "[" + p + "]";
  return s;
}

}  // namespace

TEST_CASE("pre-tokenizer: splits derived by hand from the Llama-3 regex") {
  // Each expectation is worked out from the alternatives, tried left to right at each position:
  // A1 contractions, A2 [^\r\n L N]?L+, A3 N{1,3}, A4 ' '?[^\s L N]+[\r\n]*, A5 \s*[\r\n]+, A6 \s+(?!\S), A7 \s+.
  struct Case {
    std::string text;
    std::vector<std::string> pieces;
  };
  const std::vector<Case> cases = {
      {"Hello world", {"Hello", " world"}},                      // A2, A2 with the space prefix
      {"I'm here", {"I", "'m", " here"}},                        // A1 beats A2's "'m"
      {"HE'LL DON'T", {"HE", "'LL", " DON", "'T"}},              // A1 is case-insensitive
      {"'sa", {"'s", "a"}},                                      // A1 wins at position 0 even mid-word
      {"대한민국 헌법 제1조", {"대한민국", " 헌법", " 제", "1", "조"}},  // Hangul is L; digits split off (A3)
      {"12345", {"123", "45"}},                                  // A3 takes at most 3
      {"**①** 임대차는", {"**", "①", "**", " 임대차는"}},           // ① is No (a number), '*' run is A4
      {"제3조의2(대항력)", {"제", "3", "조의", "2", "(대항력", ")"}},  // '(' is A2's optional prefix
      {"<개정 2020.6.9>", {"<개정", " ", "202", "0", ".", "6", ".", "9", ">"}},  // lone space before a digit: A7
      {"Hello  world", {"Hello", " ", " world"}},                // A6 leaves the last space to A2
      {"a\n\nb", {"a", "\n\n", "b"}},                            // A5
      {"a \n b", {"a", " \n", " b"}},                            // A5 ends after the last \n of the run
      {"x   ", {"x", "   "}},                                    // A6 at the end of the text: whole run
      {"法律 law", {"法律", " law"}},                              // Hanja is L (Lo)
      {"tab\tsep", {"tab", "\tsep"}},                            // a tab is a valid A2 prefix
      {"end.\r\nNext", {"end", ".\r\n", "Next"}},                // A4 swallows the trailing \r\n
      {"\xF0\x9F\x98\x80\xF0\x9F\x98\x80 ok", {"\xF0\x9F\x98\x80\xF0\x9F\x98\x80", " ok"}},  // emoji: A4
      {"  hi", {" ", " hi"}},                                    // A6 then A2
      {"...hello", {"...", "hello"}},                            // A2 needs the letter right after 1 char
      {"(사)한국", {"(사", ")한국"}},                              // ')' + letter is also an A2 prefix
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    CHECK(join(beop::llama3_split_strings(c.text)) == join(c.pieces));
  }
}

TEST_CASE("invalid UTF-8 is an Error naming the byte offset") {
  Tokenizer tk = Tokenizer::train_from_texts({"abc abc abd"}, small_opts(300));
  struct Bad {
    std::string text;
    size_t offset;
  };
  const std::vector<Bad> bad = {
      {"abc\xFF", 3},                        // byte never valid
      {"ab\x80xyz", 2},                      // lone continuation byte
      {"\xC3", 0},                           // truncated 2-byte sequence
      {"ok \xE2\x82", 3},                    // truncated 3-byte sequence
      {"\xF0\x9F\x98", 0},                   // truncated 4-byte sequence
      {"aa\xC0\x80", 2},                     // overlong NUL
      {"\xE0\x80\x80", 0},                   // overlong 3-byte
      {"x\xF0\x80\x80\x80", 1},              // overlong 4-byte
      {"\xED\xA0\x80", 0},                   // UTF-16 surrogate D800
      {"\xF4\x90\x80\x80", 0},               // above U+10FFFF
      {"\xC3\xA9\xC3(", 2},                  // é then a lead byte followed by ASCII
      {"\xEA\xB0\x80\xEA\xB0\x80\xEA\xB0\x80\xEA\xB0\x80\xEA\xB0\x80\xEA\xB0\x80\xFE", 18},  // after the fast path
  };
  for (const auto& b : bad) {
    CAPTURE(b.text);
    CHECK(beop::utf8_invalid_offset(b.text) == b.offset);
    bool threw = false;
    try {
      tk.encode(b.text);
    } catch (const beop::Error& e) {
      threw = true;
      CHECK(std::string(e.what()).find("byte offset " + std::to_string(b.offset)) != std::string::npos);
    }
    CHECK(threw);
  }
  // Valid edge cases: U+0000, U+D7FF, U+E000, U+FFFF, U+10FFFF.
  const std::string good = std::string("a\0b", 3) + "\xED\x9F\xBF\xEE\x80\x80\xEF\xBF\xBF\xF4\x8F\xBF\xBF";
  CHECK(beop::utf8_invalid_offset(good) == std::string::npos);
  CHECK(tk.decode(tk.encode(good)) == good);
  // A training file with invalid UTF-8 names the file and the offset.
  beop::make_dirs(kWork);
  beop::write_file_atomic(kWork + "/bad_utf8.txt", "hello\n\xC3(");
  CHECK_THROWS_WITH_AS(Tokenizer::train({kWork + "/bad_utf8.txt"}, small_opts(300)),
                       doctest::Contains("bad_utf8.txt: invalid UTF-8 at byte offset 6"), beop::Error);
}

TEST_CASE("decode(encode(x)) == x on statutes, precedents, Shakespeare and random UTF-8") {
  const Tokenizer& tk = trained();
  CHECK(tk.vocab_size() == kVocab);
  size_t bytes = 0, tokens = 0;
  for (const auto& f : statute_files()) {
    const std::string t = beop::read_file(f);
    check_round_trip(tk, t, f);
    bytes += t.size();
    tokens += tk.encode(t).size();
  }
  // BPE must compress: a 1500-token vocabulary trained on statutes gives well under 1 token per byte on them
  // (Korean syllables are 3 bytes; even byte-pair merges alone would halve that).
  CHECK(double(tokens) < 0.6 * double(bytes));
  for (const auto& t : precedent_texts(300)) check_round_trip(tk, t, "precedent");
  check_round_trip(tk, shakespeare(), "tinyshakespeare");
  std::mt19937 rng(1234);
  for (int i = 0; i < 2000; i++) check_round_trip(tk, random_utf8(rng, 1 + i % 200), "random " + std::to_string(i));
  check_round_trip(tk, "", "empty");
  check_round_trip(tk, std::string(5000, ' ') + std::string(3000, '=') + "\n", "long runs");
}

TEST_CASE("special tokens are matched only with allow_special") {
  const Tokenizer& tk = trained();
  const int32_t bos = tk.bos_id(), eos = tk.eos_id(), eot = tk.eot_id(), sh = tk.start_header_id(),
                eh = tk.end_header_id();
  // Specials sit after the ordinary tokens, in the order of BpeTrainOptions::special_tokens.
  CHECK(bos == kVocab - 5);
  CHECK(eos == kVocab - 4);
  CHECK(sh == kVocab - 3);
  CHECK(eh == kVocab - 2);
  CHECK(eot == kVocab - 1);
  CHECK(tk.token_id("<|not_a_token|>") == -1);
  CHECK(tk.token_text(eot) == "<|eot_id|>");
  const std::string chat = "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n임대차 기간은?<|eot_id|>";
  const auto with = tk.encode(chat, true);
  REQUIRE(with.size() >= 6);
  CHECK(with[0] == bos);
  CHECK(with[1] == sh);
  CHECK(with.back() == eot);
  CHECK(std::count(with.begin(), with.end(), eh) == 1);
  CHECK(tk.decode(with) == chat);
  // The same pieces between the specials encode as if alone.
  const auto user = tk.encode("user"), body = tk.encode("\n\n임대차 기간은?");
  std::vector<int32_t> expect = {bos, sh};
  expect.insert(expect.end(), user.begin(), user.end());
  expect.push_back(eh);
  expect.insert(expect.end(), body.begin(), body.end());
  expect.push_back(eot);
  CHECK(with == expect);
  const auto without = tk.encode(chat, false);
  for (int32_t id : without) CHECK(id < kVocab - 5);
  CHECK(tk.decode(without) == chat);
  CHECK(tk.encode("<|eot_id", true) == tk.encode("<|eot_id", false));  // a partial special is ordinary text
  CHECK_THROWS_AS(tk.decode({kVocab}), beop::Error);
  CHECK_THROWS_AS(tk.decode({-1}), beop::Error);
}

TEST_CASE("training does not depend on the thread count; save/load keeps every id") {
  std::string text = utf8_prefix(beop::read_file(statute_files()[0]), 150000) + utf8_prefix(shakespeare(), 50000);
  auto o1 = small_opts(700);
  o1.threads = 1;
  auto o2 = o1;
  o2.threads = 2;
  const Tokenizer a = Tokenizer::train_from_texts({text}, o1), b = Tokenizer::train_from_texts({text}, o2);
  CHECK(a.to_json() == b.to_json());
  beop::make_dirs(kWork);
  const std::string path = kWork + "/saved.json";
  a.save(path);
  const Tokenizer c = Tokenizer::load(path);
  CHECK(c.to_json() == a.to_json());
  CHECK(c.vocab_size() == 700);
  CHECK(c.encode(text, true) == a.encode(text, true));
  CHECK(c.eot_id() == a.eot_id());
}

TEST_CASE("concurrent encode from several threads gives the serial result") {
  const Tokenizer& tk = trained();
  const auto texts = precedent_texts(40);
  std::vector<std::vector<int32_t>> serial;
  for (const auto& t : texts) serial.push_back(tk.encode(t));
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> pool;
  for (int w = 0; w < 4; w++)
    pool.emplace_back([&, w] {
      for (int rep = 0; rep < 3; rep++)
        for (size_t i = w; i < texts.size(); i += 2)  // overlapping halves, so threads share words
          if (tk.encode(texts[i]) != serial[i]) mismatches[w]++;
    });
  for (auto& t : pool) t.join();
  for (int w = 0; w < 4; w++) CHECK(mismatches[w] == 0);
}

TEST_CASE("unsupported or malformed tokenizer.json is a clear Error") {
  beop::make_dirs(kWork);
  const std::string good = trained().to_json();
  auto load_text = [&](const std::string& name, const std::string& body) {
    const std::string p = kWork + "/" + name;
    beop::write_file_atomic(p, body);
    return Tokenizer::load(p);
  };
  CHECK_THROWS_WITH_AS(load_text("bad1.json", good.substr(0, good.size() / 2)), doctest::Contains("malformed JSON"), beop::Error);
  CHECK_THROWS_WITH_AS(load_text("bad2.json", "[1, 2]"), doctest::Contains("not a tokenizer.json"), beop::Error);
  auto j = nlohmann::json::parse(good);
  auto wp = j;
  wp["model"]["type"] = "WordPiece";
  CHECK_THROWS_WITH_AS(load_text("bad3.json", wp.dump()), doctest::Contains("model type 'WordPiece' is not supported"), beop::Error);
  auto pt = j;
  pt["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}, {"trim_offsets", true}};
  CHECK_THROWS_WITH_AS(load_text("bad4.json", pt.dump()), doctest::Contains("unsupported pre_tokenizer"), beop::Error);
  auto mg = j;
  mg["model"]["merges"].push_back(nlohmann::json::array({"zzzq", "x"}));
  CHECK_THROWS_WITH_AS(load_text("bad5.json", mg.dump()), doctest::Contains("not in the vocab"), beop::Error);
  auto nm = j;  // NFC is supported (Qwen2); the other normalizers are refused: tests/test_tokenizer_qwen2.cpp
  nm["normalizer"] = {{"type", "NFKC"}};
  CHECK_THROWS_WITH_AS(load_text("bad6.json", nm.dump()), doctest::Contains("normalizer 'NFKC' is not supported"), beop::Error);
  auto gap = j;  // model ids with a hole below the specials: HF would give an added token a model token's id
  gap["model"]["vocab"].erase(gap["model"]["vocab"].begin().key());
  CHECK_THROWS_WITH_AS(load_text("bad7.json", gap.dump()), doctest::Contains("not contiguous"), beop::Error);
  CHECK_THROWS_AS(Tokenizer::load(kWork + "/does_not_exist.json"), beop::Error);
}

TEST_CASE("HF tokenizers parity: beop-trained and HF-trained tokenizer.json give identical ids") {
  const Tokenizer& beop_tk = trained();
  beop::make_dirs(kWork);
  const std::string beop_json = kWork + "/beop.json";
  beop_tk.save(beop_json);
  // ~200 KB of samples: statutes, precedents, English, plus random UTF-8 and a chat with special tokens.
  std::vector<std::string> texts;
  {
    texts = corpus_samples();
    texts.push_back("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n전세 보증금?<|eot_id|>");
    texts.push_back("I'm sure they'll say it's 'OK' — we've 3,000,000 won; 'ſ 'Ll");
    // Added-token matching (hf_llama3.json also has "<|eot", "<|reserved_special_token_0|>"): leftmost-longest.
    texts.push_back("a<|eot_id|>b<|eot|>c<|eot<|eot_id|><|reserved_special_token_0|>d <|end_of_text|>");
  }
  size_t total = 0;
  for (const auto& t : texts) total += t.size();
  MESSAGE("parity texts: " << texts.size() << " strings, " << total << " bytes");
  const std::string texts_path = kWork + "/parity_texts.json";
  beop::write_file_atomic(texts_path, nlohmann::json(texts).dump());
  const auto files = training_files();
  std::string cmd = ".venv/bin/python tests/reference/hf_tokenizer_oracle.py --vocab " + std::to_string(kVocab) + " --train";
  for (const auto& f : files) cmd += " " + f;
  cmd += " --texts " + texts_path + " --beop " + beop_json + " --out " + kWork + " 2>&1";
  const int rc = std::system(cmd.c_str());
  REQUIRE_MESSAGE(rc == 0, "HF oracle failed: " << cmd);
  const auto out = nlohmann::json::parse(beop::read_file(kWork + "/oracle_out.json"));
  REQUIRE(out["beop"].size() == texts.size());

  const Tokenizer hf = Tokenizer::load(kWork + "/hf.json");
  const Tokenizer hf_l3 = Tokenizer::load(kWork + "/hf_llama3.json");
  CHECK(hf.vocab_size() == out["hf_vocab_size"].get<int>());
  // Llama-3 layout: the 5 specials leave model.vocab (1495 ordinary ids 0..1494), then 7 added tokens follow.
  CHECK(hf_l3.vocab_size() == hf.vocab_size() + 2);
  CHECK(hf_l3.bos_id() == hf.vocab_size() - 5);
  CHECK(hf_l3.eot_id() == hf.vocab_size() - 1);
  CHECK(hf_l3.token_id("<|eot") == hf.vocab_size() + 1);
  int bad_pieces = 0, bad_beop = 0, bad_hf = 0, bad_l3 = 0;
  for (size_t i = 0; i < texts.size(); i++) {
    CAPTURE(i);
    const auto pieces = beop::llama3_split_strings(texts[i]);
    const auto want = out["pieces"][i].get<std::vector<std::string>>();
    if (pieces != want && bad_pieces++ < 3) {
      size_t k = 0;
      while (k < pieces.size() && k < want.size() && pieces[k] == want[k]) k++;
      FAIL_CHECK("pre-tokenizer differs from HF on text " << i << " at piece " << k << ": beop "
                 << codepoints(k < pieces.size() ? pieces[k] : "") << " HF " << codepoints(k < want.size() ? want[k] : ""));
    }
    if (beop_tk.encode(texts[i], true) != out["beop"][i].get<std::vector<int32_t>>() && bad_beop++ < 3)
      FAIL_CHECK("beop-trained tokenizer: ids differ from HF on text " << i);
    const auto hf_ids = hf.encode(texts[i], true);
    if (hf_ids != out["hf"][i].get<std::vector<int32_t>>() && bad_hf++ < 3)
      FAIL_CHECK("HF-trained tokenizer: ids differ from HF on text " << i);
    if (hf_l3.encode(texts[i], true) != out["hf_llama3"][i].get<std::vector<int32_t>>() && bad_l3++ < 3)
      FAIL_CHECK("HF-trained Llama-3-style tokenizer: ids differ from HF on text " << i);
    CHECK(hf.decode(hf_ids) == texts[i]);
  }
  CHECK(bad_pieces == 0);
  CHECK(bad_beop == 0);
  CHECK(bad_hf == 0);
  CHECK(bad_l3 == 0);
}
