// Law QA (data/prep/lawqa*): template generator determinism and per-type consistency with the statutes, the three
// conversation layouts and the grounding check (the endpoint generator: tests/py/test_lawqa_endpoint.py and
// tests/test_lawqa_endpoint.cpp). Oracles: the parsed Article::text blocks (split by the test itself, not by
// lawqa's unit code) and the layout strings as documented in docs/DATA.md written out literally.
// Run from the repository root; corpora come from beop::data_dir().
#include <doctest/doctest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "legal/lawqa.h"
#include "legal/metrics/rouge.h"
#include "legal/prompt.h"
#include "legal/statutes.h"
#include "src/common.h"
#include "src/io.h"

using namespace beop;
using namespace beop::lawqa;
using json = nlohmann::json;

namespace {

const std::vector<statutes::Article>& all_articles() {
  static std::vector<statutes::Article> v = [] {
    std::vector<statutes::Article> out;
    for (auto& law : statutes::parse_statute_dir(data_dir() + "/statutes"))
      for (auto& a : law.articles) out.push_back(a);
    return out;
  }();
  return v;
}

std::vector<statutes::Article> some_laws() {  // three laws of different size keep the test fast
  return filter_laws(all_articles(), {"주택임대차보호법", "민법", "이자제한법"}, {});
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  for (;;) {
    size_t j = s.find('\n', i);
    out.push_back(s.substr(i, j == std::string::npos ? std::string::npos : j - i));
    if (j == std::string::npos) return out;
    i = j + 1;
  }
}

// Independent unit text: the lines of Article::text from "<circled n> " up to the next circled marker, with the
// marker removed. Article-level citations (no 항) map to the whole Article::text.
std::string oracle_reference(const statutes::Article& a, int para) {
  if (para == 0) return a.text;
  static const char* circ[] = {"①", "②", "③", "④", "⑤", "⑥", "⑦", "⑧", "⑨", "⑩",
                               "⑪", "⑫", "⑬", "⑭", "⑮", "⑯", "⑰", "⑱", "⑲", "⑳"};
  std::string out;
  bool in = false;
  for (auto& l : split_lines(a.text)) {
    bool starts_para = false;
    for (auto* c : circ) starts_para |= l.rfind(c, 0) == 0;
    if (starts_para) {
      if (in) break;
      if (l.rfind(circ[para - 1], 0) == 0) {
        in = true;
        std::string rest = l.substr(3);
        if (!rest.empty() && rest[0] == ' ') rest.erase(0, 1);
        out = rest;
        continue;
      }
    }
    if (in) out += (out.empty() ? "" : "\n") + l;
  }
  return out;
}

const statutes::Article* find_article(const std::vector<statutes::Article>& arts, const std::string& law,
                                      const std::string& id) {
  for (auto& a : arts)
    if (a.law == law && a.id == id) return &a;
  return nullptr;
}

int paragraph_of(const std::string& citation) {  // "... 제3조 제2항" -> 2, else 0
  size_t p = citation.rfind(" 제");
  if (p == std::string::npos || citation.size() < 3 || citation.compare(citation.size() - 3, 3, "항") != 0) return 0;
  return std::stoi(citation.substr(p + 4));
}

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> w;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n')) i++;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\n') j++;
    if (j > i) w.push_back(s.substr(i, j - i));
    i = j;
  }
  return w;
}

std::string all_lines(const std::vector<QAItem>& items, Format f) {
  std::string s;
  for (auto& it : items) s += conversation_json_line(it, f);
  return s;
}

int run_prep(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(&s[0]);
  return prep_lawqa_main(int(argv.size()), argv.data());
}

}  // namespace

TEST_CASE("template generator: same seed -> byte-identical output, other seed differs") {
  auto arts = some_laws();
  TemplateOptions o;
  o.seed = 7;
  auto a = generate_template(arts, o), b = generate_template(arts, o);
  o.seed = 8;
  auto c = generate_template(arts, o);
  REQUIRE(a.size() > 1000);
  CHECK(all_lines(a, Format::RefIn) == all_lines(b, Format::RefIn));
  CHECK(all_lines(a, Format::RefIn) != all_lines(c, Format::RefIn));

  // Through the CLI: two runs into different prefixes give byte-identical files for every format.
  make_dirs("build/test_lawqa_tmp");
  for (auto* p : {"build/test_lawqa_tmp/r1", "build/test_lawqa_tmp/r2"})
    REQUIRE(run_prep({"lawqa", "--out-prefix", p, "--seed", "3", "--only-laws", "주택임대차보호법,이자제한법",
                      "--data", data_dir()}) == 0);
  for (auto* f : {"qa", "qa_ref_out", "qa_ref_in"}) {
    std::string x = read_file(std::string("build/test_lawqa_tmp/r1_") + f + ".jsonl");
    CHECK(!x.empty());
    CHECK(x == read_file(std::string("build/test_lawqa_tmp/r2_") + f + ".jsonl"));
  }
}

TEST_CASE("every template item is consistent with its cited statute text") {
  auto arts = some_laws();
  TemplateOptions o;
  o.seed = 1;
  auto items = generate_template(arts, o);
  std::map<std::string, int> n;
  std::map<std::string, std::set<std::string>> law_text;  // all article texts of a law, for distractors
  for (auto& a : arts) law_text[a.law].insert(a.text);
  for (auto& it : items) {
    n[it.type]++;
    CAPTURE(it.citation);
    CAPTURE(it.type);
    // The citation names a parsed, non-deleted article (and paragraph); the reference is that unit's text.
    const statutes::Article* a = find_article(arts, it.law, it.article_id);
    REQUIRE(a != nullptr);
    CHECK(!a->deleted);
    int para = paragraph_of(it.citation);
    std::string expect_cit = it.law + " " + it.article_id + (para ? " 제" + std::to_string(para) + "항" : "");
    CHECK(it.citation == expect_cit);
    CHECK(it.reference == oracle_reference(*a, para));
    CHECK(!it.reference.empty());

    if (it.type == "content") {
      CHECK(it.answer.find(it.reference) != std::string::npos);
      CHECK(it.question.find(it.citation) != std::string::npos);
    } else if (it.type == "title") {
      CHECK(para == 0);
      CHECK(it.answer.find(it.citation + "(" + a->title + ")") != std::string::npos);
      CHECK(it.answer.find(a->text) != std::string::npos);
    } else if (it.type == "cloze") {
      // The key occurs once in the reference; putting it into the blank restores the reference exactly.
      std::string q = it.question.substr(it.question.find('\n') + 1);
      size_t blank = q.find("____");
      REQUIRE(blank != std::string::npos);
      CHECK(q.find("____", blank + 1) == std::string::npos);
      std::string filled = q;
      filled.replace(blank, 4, it.key);
      CHECK(filled == it.reference);
      size_t first = it.reference.find(it.key);
      CHECK(first != std::string::npos);
      CHECK(it.reference.find(it.key, first + 1) == std::string::npos);
      CHECK(it.answer.find("\"" + it.key + "\"") != std::string::npos);
    } else if (it.type == "truefalse") {
      size_t a0 = it.question.find('"'), a1 = it.question.rfind('"');
      REQUIRE(a1 > a0);
      std::string stmt = it.question.substr(a0 + 1, a1 - a0 - 1);
      // The answer quotes the true text, which is in the reference.
      size_t q0 = it.answer.find('"'), q1 = it.answer.rfind('"');
      REQUIRE(q1 > q0);
      std::string truth = it.answer.substr(q0 + 1, q1 - q0 - 1);
      CHECK(it.reference.find(truth) != std::string::npos);
      if (it.key == "예") {
        CHECK(it.answer.rfind("예", 0) == 0);
        CHECK(stmt == truth);
      } else {
        REQUIRE(it.key == "아니요");
        CHECK(it.answer.rfind("아니요", 0) == 0);
        CHECK(it.reference.find(stmt) == std::string::npos);
        // Exactly one word differs, and the new word comes from another article of the same law.
        auto ws = words(stmt), wt = words(truth);
        REQUIRE(ws.size() == wt.size());
        int diff = 0;
        std::string swapped;
        for (size_t k = 0; k < ws.size(); k++)
          if (ws[k] != wt[k]) diff++, swapped = ws[k];
        CHECK(diff == 1);
        bool elsewhere = false;
        for (auto& t : law_text[it.law]) elsewhere |= t != a->text && t.find(swapped) != std::string::npos;
        CHECK(elsewhere);
      }
    } else if (it.type == "mc") {
      auto ls = split_lines(it.question);
      REQUIRE(ls.size() == 5);
      std::set<std::string> opts;
      int correct = 0, correct_no = 0;
      for (int k = 1; k <= 4; k++) {
        std::string pre = std::to_string(k) + ". ";
        REQUIRE(ls[k].rfind(pre, 0) == 0);
        std::string opt = ls[k].substr(pre.size());
        opts.insert(opt);
        if (it.reference.find(opt) != std::string::npos) {
          correct++;
          correct_no = k;
        } else {
          // A distractor is text of another article of the same law.
          bool found = false;
          for (auto& t : law_text[it.law]) found |= t.find(opt) != std::string::npos;
          CHECK(found);
        }
      }
      CHECK(opts.size() == 4);
      CHECK(correct == 1);
      CHECK(it.key == std::to_string(correct_no));
      CHECK(it.answer.rfind("정답은 " + it.key + "번", 0) == 0);
    } else {
      FAIL("unexpected type " << it.type);
    }
  }
  for (auto* t : {"content", "title", "cloze", "truefalse", "mc"}) CHECK(n[t] > 50);
  // Both truth values occur (the coin is fair: ~50% each of >50 items).
  int yes = 0, no = 0;
  for (auto& it : items)
    if (it.type == "truefalse") (it.key == "예" ? yes : no)++;
  CHECK(yes > n["truefalse"] / 4);
  CHECK(no > n["truefalse"] / 4);
}

TEST_CASE("deleted articles produce no items; citations of every item resolve") {
  auto arts = some_laws();
  std::set<std::string> deleted;
  for (auto& a : arts)
    if (a.deleted) deleted.insert(a.law + " " + a.id);
  REQUIRE(!deleted.empty());  // 민법 has deleted articles
  CitationIndex idx(all_articles());
  for (auto& it : generate_template(arts, TemplateOptions{})) {
    CHECK(deleted.count(it.law + " " + it.article_id) == 0);
    std::string text;
    CHECK(idx.resolve(it.citation, &text));
    CHECK(text == it.reference);
  }
  // Whitespace and 「」 do not matter; an article that does not exist does not resolve.
  CHECK(idx.resolve("「주택임대차보호법」 제3조제1항", nullptr));
  CHECK(!idx.resolve("주택임대차보호법 제999조", nullptr));
}

TEST_CASE("the three formats differ exactly as documented") {
  // docs/DATA.md layouts, spelled out literally here.
  CHECK(prompt::format_reference_block("민법 제1조", "본문") == "[참조 조문] 민법 제1조\n본문");
  QAItem it;
  it.type = "content";
  it.question = "질문?";
  it.answer = "답.";
  it.citation = "민법 제1조";
  it.reference = "민사에 관하여 법률에 규정이 없으면 관습법에 의하고 관습법이 없으면 조리에 의한다.";
  auto msg = [&](Format f, int k) { return json::parse(conversation_json_line(it, f))["messages"][k]; };
  for (Format f : {Format::QA, Format::RefOut, Format::RefIn}) {
    CHECK(msg(f, 0)["role"] == "user");
    CHECK(msg(f, 1)["role"] == "assistant");
    CHECK(json::parse(conversation_json_line(it, f))["messages"].size() == 2);  // no system prompt
  }
  CHECK(msg(Format::QA, 0)["content"] == it.question);
  CHECK(msg(Format::QA, 1)["content"] == it.answer);
  CHECK(msg(Format::RefOut, 0)["content"] == it.question);
  CHECK(msg(Format::RefOut, 1)["content"] == it.answer + "\n\n[근거 조문] " + it.citation + "\n" + it.reference);
  CHECK(msg(Format::RefIn, 0)["content"] == "[참조 조문] " + it.citation + "\n" + it.reference + "\n\n[질문] " + it.question);
  CHECK(msg(Format::RefIn, 1)["content"] == it.answer);
  // One JSON object per line, UTF-8 kept as is.
  std::string line = conversation_json_line(it, Format::QA);
  CHECK(line.back() == '\n');
  CHECK(line.find('\n') == line.size() - 1);
  CHECK(line.find("민법") != std::string::npos);
}

TEST_CASE("grounding rule: quotes verbatim, law names exempt, ROUGE-L threshold") {
  CitationIndex idx(all_articles());
  std::string ref;
  REQUIRE(idx.resolve("주택임대차보호법 제3조 제1항", &ref));
  CHECK(quoted_spans("「민법」에 따르면 \"가나\" 및 ‘다라’, “마바”") ==
        std::vector<std::string>{"민법", "가나", "다라", "마바"});
  std::string line0 = ref.substr(0, ref.find('\n'));
  Verdict ok = verify_item(idx, "q", "「주택임대차보호법」에 따르면 \"" + line0 + "\"", "주택임대차보호법 제3조 제1항", 0.3);
  CHECK(ok.ok);
  // The score is rouge-score's ROUGE-L F over code points (checked against rouge-score in test_rouge).
  RougeOptions ro;
  ro.tokenize = RougeTokenize::Character;
  CHECK(ok.rouge == rouge_l(ref, "「주택임대차보호법」에 따르면 \"" + line0 + "\"", ro).fmeasure);
  Verdict bad = verify_item(idx, "q", "\"임대인은 언제든지 계약을 해지할 수 있다\"", "주택임대차보호법 제3조 제1항", 0.3);
  CHECK(!bad.ok);
  CHECK(bad.reason == "quote_not_in_text");
  Verdict unres = verify_item(idx, "q", line0, "주택임대차보호법 제3조 제99항", 0.3);
  CHECK(unres.reason == "citation_unresolved");
  Verdict low = verify_item(idx, "q", "잘 모르겠습니다.", "주택임대차보호법 제3조 제1항", 0.3);
  CHECK(low.reason == "not_grounded");
  CHECK(verify_item(idx, "", "a", "주택임대차보호법 제3조", 0.3).reason == "empty_field");
}

TEST_CASE("prep lawqa: held-out laws and usage errors") {
  make_dirs("build/test_lawqa_tmp");
  REQUIRE(run_prep({"lawqa", "--out-prefix", "build/test_lawqa_tmp/ex", "--format", "qa", "--exclude-laws",
                    "민법,상법,형법,민사소송법,형사소송법,도로교통법", "--types", "content", "--data", data_dir()}) == 0);
  std::string s = read_file("build/test_lawqa_tmp/ex_qa.jsonl");
  CHECK(!file_exists("build/test_lawqa_tmp/ex_qa_ref_in.jsonl"));
  size_t lines = 0, held = 0;
  for (auto& l : split_lines(s)) {
    if (l.empty()) continue;
    lines++;
    std::string law = json::parse(l)["meta"]["law"];
    held += law == "민법" || law == "상법" || law == "형법";
  }
  CHECK(lines > 1000);
  CHECK(held == 0);
  CHECK_THROWS_AS(run_prep({"lawqa", "--out-prefix", "build/test_lawqa_tmp/x", "--only-laws", "없는법"}), Error);
  CHECK_THROWS_AS(run_prep({"lawqa", "--out-prefix", "build/test_lawqa_tmp/x", "--format", "bad"}), Error);
  CHECK_THROWS_AS(run_prep({"lawqa", "--out-prefix", "build/test_lawqa_tmp/x", "--generator", "endpoint"}), Error);
}
