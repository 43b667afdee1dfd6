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
