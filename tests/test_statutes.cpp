// Statute parser (data/prep/statutes.*) on the 36 bundled legalize-kr files and on malformed fixtures.
// Independent oracles: line-prefix scans of the files written here (no parser code), and articles read by hand.
// Run from the repository root (tests/run_all.sh does); corpora come from beop::data_dir().
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "data/prep/prep_statutes.h"
#include "legal/statutes.h"
#include "src/common.h"
#include "src/io.h"

using namespace beop;
using namespace beop::statutes;
namespace fs = std::filesystem;

namespace {

std::string statutes_dir() { return data_dir() + "/statutes"; }

std::vector<std::string> md_files() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(statutes_dir()))
    if (e.path().extension() == ".md") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> file_lines(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot read ", path);
  std::vector<std::string> v;
  std::string l;
  while (std::getline(in, l)) v.push_back(l);
  return v;
}

bool has_prefix(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

size_t count_sub(const std::string& s, const std::string& needle) {
  size_t n = 0;
  for (size_t i = s.find(needle); i != std::string::npos; i = s.find(needle, i + 1)) n++;
  return n;
}

const Article& find(const std::vector<ParsedLaw>& laws, const std::string& law, const std::string& id) {
  for (const auto& l : laws)
    for (const auto& a : l.articles)
      if (a.law == law && a.id == id) return a;
  FAIL("article not found: ", law, " ", id);
  throw 0;
}

size_t count_notes(const std::vector<Item>& items) {
  size_t n = 0;
  for (const Item& it : items) n += it.notes.size() + count_notes(it.children);
  return n;
}

void all_texts(const std::vector<Item>& items, std::vector<std::string>* out) {
  for (const Item& it : items) {
    out->push_back(it.text);
    all_texts(it.children, out);
  }
}

}  // namespace

TEST_CASE("every bundled statute parses; article counts match a line-prefix scan") {
  std::vector<std::string> files = md_files();
  REQUIRE(files.size() == 36);
  std::vector<ParsedLaw> laws = parse_statute_dir(statutes_dir());
  REQUIRE(laws.size() == files.size());

  size_t total_before = 0, total_whole = 0, total_parsed = 0;
  for (size_t f = 0; f < files.size(); f++) {
    const ParsedLaw& law = laws[f];
    INFO(files[f]);
    CHECK_FALSE(law.skipped);
    CHECK(law.skipped_lines == 0);
    for (const Issue& is : law.issues) FAIL_CHECK("unexpected issue: ", is.str());

    // Independent scan: article headings, numbered paragraphs, items, deleted articles and inline notes, each by
    // a plain line-prefix / substring test on the body (front matter excluded) up to the first "## 부칙".
    std::vector<std::string> L = file_lines(files[f]);
    size_t headings = 0, headings_whole = 0, paras = 0, items = 0, deleted = 0, notes = 0;
    bool body = false, fm_closed = false;
    std::string prev_nonblank;
    for (size_t i = 1; i < L.size(); i++) {
      const std::string& s = L[i];
      if (!fm_closed) {
        fm_closed = s == "---";
        continue;
      }
      if (has_prefix(s, "##### ")) headings_whole++;
      if (has_prefix(s, "## 부칙")) body = true;  // from here on: supplementary provisions
      if (body) continue;
      if (has_prefix(s, "##### ")) headings++;
      if (has_prefix(s, "**") && s.size() > 7 && s.compare(5, 2, "**") == 0 && s.compare(2, 2, "\xE2\x91") == 0)
        paras++;  // "**" + ①..⑳ (E2 91 A0..B3) + "**"
      if (s.size() > 3 && s[0] == ' ' && s[1] == ' ' && s[2] >= '0' && s[2] <= '9' && s.find("\\.") != std::string::npos &&
          s.find("\\.") < 12)
        items++;
      if (has_prefix(s, "삭제 <") && has_prefix(prev_nonblank, "##### ")) deleted++;
      if (s[0] != '#' && !(has_prefix(s, "**") && s.size() > 4 && s.compare(s.size() - 2, 2, "**") == 0 && s.compare(2, 2, "\xE2\x91") != 0))
        notes += count_sub(s, "<개정") + count_sub(s, "<신설") + count_sub(s, "<전문개정") + count_sub(s, "삭제 <");
      if (!s.empty() && s.find_first_not_of(" \t") != std::string::npos) prev_nonblank = s;
    }
    size_t p_parsed = 0, i_parsed = 0, d_parsed = 0, n_parsed = 0;
    for (const Article& a : law.articles) {
      d_parsed += a.deleted;
      n_parsed += a.notes.size();
      for (const Paragraph& p : a.paragraphs) {
        p_parsed += p.number > 0;
        i_parsed += p.items.size();
        n_parsed += p.notes.size() + count_notes(p.items);
      }
    }
    CHECK(law.articles.size() == headings);
    CHECK(p_parsed == paras);
    CHECK(i_parsed == items);
    CHECK(d_parsed == deleted);
    CHECK(n_parsed == notes);
    total_before += headings;
    total_whole += headings_whole;
    total_parsed += law.articles.size();
  }
  // The README says "6,529 article headings". A grep of the files gives 6,456 '##### ' lines, all of them before
  // "## 부칙" (the supplementary provisions are plain text without headings), so the README figure does not come
  // from counting 부칙 headings; it overstates the bundled files by 73. The relation that holds is:
  // headings before 부칙 == headings in the whole file == parsed articles == 6,456 (grep -c '^##### ').
  CHECK(total_before == total_whole);
  CHECK(total_parsed == total_before);
  CHECK(total_parsed == 6456);
  MESSAGE("articles parsed: ", total_parsed, " (README states 6,529)");

  // Every article is well-formed: id matches number/branch, not empty, no note or Markdown escape left in text.
  for (const ParsedLaw& law : laws)
    for (const Article& a : law.articles) {
      INFO(a.file, ":", a.line, " ", a.id);
      CHECK(a.id == "제" + std::to_string(a.number) + "조" + (a.branch ? "의" + std::to_string(a.branch) : ""));
      CHECK(a.law == law.info.title);
      CHECK(a.effective_date == law.info.effective_date);
      CHECK_FALSE(a.text.empty());
      CHECK(a.deleted == (a.text == "삭제"));
      std::vector<std::string> texts = {a.text};
      for (const Paragraph& p : a.paragraphs) {
        texts.push_back(p.text);
        all_texts(p.items, &texts);
      }
      for (const std::string& t : texts)
        for (const char* bad : {"<개정", "<신설", "<전문개정", "\\.", "**"})
          if (t.find(bad) != std::string::npos) FAIL_CHECK("'", bad, "' left in text: ", t.substr(0, 80));
    }
}

TEST_CASE("articles read by hand") {
  std::vector<ParsedLaw> laws = parse_statute_dir(statutes_dir());

  // 주택임대차보호법 front matter (lines 2-15) and 제3조 (lines 28-40).
  const ParsedLaw* jt = nullptr;
  for (const auto& l : laws)
    if (l.info.title == "주택임대차보호법") jt = &l;
  REQUIRE(jt);
  CHECK(jt->info.kind == "법률");
  CHECK(jt->info.promulgation_date == "2025-10-01");
  CHECK(jt->info.effective_date == "2026-01-02");
  CHECK(jt->info.law_id == "001248");  // quoted in YAML: '001248'
  CHECK(jt->info.ministries == std::vector<std::string>{"법무부"});
  const Article& a3 = find(laws, "주택임대차보호법", "제3조");
  CHECK(a3.title == "대항력 등");
  CHECK(a3.number == 3);
  CHECK(a3.branch == 0);
  CHECK(a3.line == 28);  // grep -n '^##### 제3조 '
  CHECK(a3.effective_date == "2026-01-02");
  CHECK(a3.chapter_path.empty());  // this law has no 장
  REQUIRE(a3.paragraphs.size() == 6);
  for (int i = 0; i < 6; i++) CHECK(a3.paragraphs[size_t(i)].number == i + 1);
  CHECK(has_prefix(a3.paragraphs[0].text, "임대차는 그 등기(登記)가 없는 경우에도"));
  CHECK(a3.paragraphs[0].notes.empty());
  CHECK(a3.paragraphs[1].text.substr(a3.paragraphs[1].text.size() - std::string("대통령령으로 정한다.").size()) ==
        "대통령령으로 정한다.");  // "<개정 2015.1.6>" cut off
  CHECK(a3.paragraphs[1].notes == std::vector<std::string>{"개정 2015.1.6"});
  CHECK(a3.paragraphs[2].notes == std::vector<std::string>{"신설 2013.8.13"});
  CHECK(has_prefix(a3.text, "① 임대차는"));
  CHECK(a3.text.find("\n② 주택도시기금을") != std::string::npos);
  CHECK(citation(a3.law, a3.id) == "주택임대차보호법 제3조");
  CHECK(citation(a3.law, a3.id, 1) == "주택임대차보호법 제3조 제1항");

  // 제3조의2 (line 42): ⑦ lists ten 호; its note has three dates.
  const Article& a32 = find(laws, "주택임대차보호법", "제3조의2");
  CHECK(a32.number == 3);
  CHECK(a32.branch == 2);
  CHECK(a32.title == "보증금의 회수");
  CHECK(a32.line == 42);
  REQUIRE(a32.paragraphs.size() >= 7);
  const Paragraph& p7 = a32.paragraphs[6];
  CHECK(p7.number == 7);
  CHECK(p7.notes == std::vector<std::string>{"신설 2013.8.13, 2015.1.6, 2016.5.29"});
  REQUIRE(p7.items.size() == 10);
  CHECK(p7.items[0].label == "1");
  CHECK(p7.items[0].text == "「은행법」에 따른 은행");
  CHECK(p7.items[9].label == "10");
  CHECK(p7.items[9].text == "그 밖에 제1호부터 제9호까지에 준하는 것으로서 대통령령으로 정하는 기관");
  CHECK(citation(a32.law, a32.id, 7, "10") == "주택임대차보호법 제3조의2 제7항 제10호");

  // Deleted articles: 가사소송법 제32조 (line 576) under "## 제4장 삭제 <2005.3.31>".
  const Article& d = find(laws, "가사소송법", "제32조");
  CHECK(d.deleted);
  CHECK(d.title.empty());
  CHECK(d.paragraphs.empty());
  CHECK(d.text == "삭제");
  CHECK(d.notes == std::vector<std::string>{"삭제 2005.3.31"});
  CHECK(d.chapter_path == std::vector<std::string>{"제2편 가사소송", "제4장 삭제"});

  // 호 and 목: 헌법재판소법 제62조 ① has 호 1-3; 호 2 has 목 가,나; 호 3 has 목 가,나,다; 호 1 has a continuation
  // line that starts with one space (" 국회, 정부, ...").
  const Article& h62 = find(laws, "헌법재판소법", "제62조");
  CHECK(h62.title == "권한쟁의심판의 종류");
  REQUIRE(h62.paragraphs.size() == 2);
  const Paragraph& hp = h62.paragraphs[0];
  REQUIRE(hp.items.size() == 3);
  CHECK(hp.items[0].children.empty());
  CHECK(hp.items[0].text == "국가기관 상호간의 권한쟁의심판 국회, 정부, 법원 및 중앙선거관리위원회 상호간의 권한쟁의심판");
  REQUIRE(hp.items[1].children.size() == 2);
  CHECK(hp.items[1].children[1].label == "나");
  CHECK(has_prefix(hp.items[1].children[1].text, "정부와 시ㆍ군 또는 지방자치단체인 구"));
  CHECK(hp.items[2].children.size() == 3);
  CHECK(citation(h62.law, h62.id, 1, "2", "나") == "헌법재판소법 제62조 제1항 제2호 나목");

  // 세목 under 목 with branch labels: 가사소송법 제2조 ① 2호 가목 (라류) holds "1)", "1)의2", ...
  const Article& g2 = find(laws, "가사소송법", "제2조");
  REQUIRE(g2.paragraphs.size() >= 1);
  REQUIRE(g2.paragraphs[0].items.size() == 2);
  const Item& ra = g2.paragraphs[0].items[1].children.at(0);
  CHECK(ra.label == "가");
  CHECK(ra.text == "라류(類) 사건");
  REQUIRE(ra.children.size() >= 2);
  CHECK(ra.children[0].label == "1)");
  CHECK(ra.children[1].label == "1)의2");
  CHECK(has_prefix(ra.children[1].text, "「민법」 제10조제2항 및 제3항에 따른"));

  // 대한민국헌법: headings without titles, a preamble, and a tab-indented continuation (제69조, the oath).
  const Article& k1 = find(laws, "대한민국헌법", "제1조");
  CHECK(k1.title.empty());
  CHECK(k1.chapter_path == std::vector<std::string>{"제1장 총강"});
  REQUIRE(k1.paragraphs.size() == 2);
  CHECK(k1.paragraphs[0].text == "대한민국은 민주공화국이다.");
  CHECK(k1.paragraphs[1].text == "대한민국의 주권은 국민에게 있고, 모든 권력은 국민으로부터 나온다.");
  const Article& k3 = find(laws, "대한민국헌법", "제3조");
  REQUIRE(k3.paragraphs.size() == 1);
  CHECK(k3.paragraphs[0].number == 0);  // unnumbered
  CHECK(k3.text == "대한민국의 영토는 한반도와 그 부속도서로 한다.");
  CHECK(citation(k3.law, k3.id) == "대한민국헌법 제3조");
  const Article& k69 = find(laws, "대한민국헌법", "제69조");
  CHECK(has_prefix(k69.text, "대통령은 취임에 즈음하여 다음의 선서를 한다. \"나는 헌법을 준수하고"));
  for (const auto& l : laws)
    if (l.info.title == "대한민국헌법") {
      CHECK(has_prefix(l.info.preamble, "유구한 역사와 전통에 빛나는"));
      CHECK(l.info.kind == "헌법");
    }

  // 민법 제898조 sits under the bold sub-heading "**제1항 협의상 파양 <개정 2012.2.10>**" below 제3관.
  const Article& m898 = find(laws, "민법", "제898조");
  CHECK(m898.chapter_path ==
        std::vector<std::string>{"제4편 친족", "제4장 부모와 자", "제2절 양자(養子)", "제3관 파양(罷養)", "제1항 협의상 파양"});

  // 민사소송법 has a future 시행일자 (README: 2028-03-01).
  CHECK(find(laws, "민사소송법", "제1조").effective_date == "2028-03-01");

  // Citations of branch items: 호 "1의2" -> 제1호의2.
  CHECK(citation("개인정보 보호법", "제2조", 0, "1의2") == "개인정보 보호법 제2조 제1호의2");
  CHECK(citation("민법", "제1조", 2, "3", "가의2") == "민법 제1조 제2항 제3호 가목의2");
}

TEST_CASE("malformed statute files are reported with file:line and the run continues") {
  const std::string dir = "build/tests/statutes/fixtures";
  fs::remove_all(dir);
  make_dirs(dir);
  const std::string fm = "---\n제목: 시험법\n법령구분: 법률\n공포일자: 2020-01-01\n시행일자: 2020-07-01\n---\n";
  write_file_atomic(dir + "/a_good.md", fm +
                                            "# 시험법\n\n## 제1장 총칙\n\n##### 제1조 (목적)\n\n"
                                            "이 법은 시험을 목적으로 한다. <개정 2021.1.1>\n\n"
                                            "##### 제2조\n\n삭제 <2019.1.1>\n\n## 부칙\n\n##### 제9조 (무시)\n");
  write_file_atomic(dir + "/b_no_front_matter.md", "# 시험법\n\n##### 제1조 (목적)\n\n본문\n");
  write_file_atomic(dir + "/c_no_title.md", "---\n법령구분: 법률\n---\n\n##### 제1조 (목적)\n\n본문\n");
  // Line 9 is a broken heading; its body (line 11) is skipped; 제3조 (line 13) still parses.
  write_file_atomic(dir + "/d_bad_heading.md", fm +
                                                   "\n"                        // 7
                                                   "##### 제1조 (목적)\n"      // 8
                                                   "##### 제2조 (목적\n"       // 9: no closing ')'
                                                   "\n"                        // 10
                                                   "본문\n"                    // 11
                                                   "\n"                        // 12
                                                   "##### 제3조의2 (정의)\n"   // 13
                                                   "\n**①** 첫째 <신설 2020.1.1>\n"
                                                   "\n  1\\. 하나\n    가\\. 가목\n");
  // Line 9 is text before the first article (not a heading).
  write_file_atomic(dir + "/e_text_before.md", fm +
                                                   "\n"                // 7
                                                   "# 시험법\n"        // 8
                                                   "머리말입니다\n"    // 9
                                                   "\n"                // 10
                                                   "##### 제1조\n\n본문\n");

  std::vector<ParsedLaw> laws = parse_statute_dir(dir);
  REQUIRE(laws.size() == 5);
  // a_good
  CHECK(laws[0].issues.empty());
  REQUIRE(laws[0].articles.size() == 2);  // 제9조 after "## 부칙" is not an article
  CHECK(laws[0].articles[0].chapter_path == std::vector<std::string>{"제1장 총칙"});
  CHECK(laws[0].articles[0].text == "이 법은 시험을 목적으로 한다.");
  CHECK(laws[0].articles[0].paragraphs[0].notes == std::vector<std::string>{"개정 2021.1.1"});
  CHECK(laws[0].articles[1].deleted);
  CHECK(laws[0].articles[1].effective_date == "2020-07-01");
  // b, c: skipped whole
  CHECK(laws[1].skipped);
  REQUIRE(laws[1].issues.size() == 1);
  CHECK(has_prefix(laws[1].issues[0].str(), "b_no_front_matter.md:1: no YAML front matter"));
  CHECK(laws[2].skipped);
  REQUIRE(laws[2].issues.size() == 1);
  CHECK(laws[2].issues[0].str().find("c_no_title.md:1:") == 0);
  CHECK(laws[2].issues[0].message.find("제목") != std::string::npos);
  // d: bad heading reported at line 9, its body line skipped, the rest parsed
  CHECK_FALSE(laws[3].skipped);
  REQUIRE(laws[3].issues.size() >= 1);
  CHECK(laws[3].issues[0].str().find("d_bad_heading.md:9: article heading does not match") == 0);
  CHECK(laws[3].skipped_lines == 2);  // the heading and "본문"
  REQUIRE(laws[3].articles.size() == 2);
  CHECK(laws[3].articles[1].id == "제3조의2");
  CHECK(laws[3].articles[1].paragraphs[0].items[0].children[0].text == "가목");
  // 제1조 has no body at all: kept, but reported at its own line
  bool empty_reported = false;
  for (const Issue& is : laws[3].issues) empty_reported |= is.str() == "d_bad_heading.md:8: article 제1조 has no text";
  CHECK(empty_reported);
  // e: stray text before the first article
  REQUIRE(laws[4].issues.size() == 1);
  CHECK(laws[4].issues[0].str() == "e_text_before.md:9: text before the first article: 머리말입니다");
  CHECK(laws[4].skipped_lines == 1);
  REQUIRE(laws[4].articles.size() == 1);
  CHECK(laws[4].articles[0].text == "본문");

  // The prep subcommand on the fixtures: exit 0, JSONL with the 5 good articles (2 + 2 + 1), no temp file left.
  const std::string out = "build/tests/statutes/fixtures_out/articles.jsonl";
  fs::remove_all("build/tests/statutes/fixtures_out");
  std::vector<std::string> args = {"statutes", "--out", out, "--data", dir};
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(&s[0]);
  CHECK(prep_statutes_main(int(argv.size()), argv.data()) == 0);
  std::vector<std::string> lines = file_lines(out);
  CHECK(lines.size() == 5);
  CHECK(nlohmann::json::parse(lines[0])["citation"] == "시험법 제1조");
  for (const auto& e : fs::directory_iterator("build/tests/statutes/fixtures_out"))
    CHECK(e.path().filename().string() == "articles.jsonl");
}

TEST_CASE("prep statutes writes one JSON article per line, deterministically") {
  const std::string out = "build/tests/statutes/articles.jsonl";
  std::vector<std::string> args = {"statutes", "--out", out, "--data", data_dir()};
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(&s[0]);
  REQUIRE(prep_statutes_main(int(argv.size()), argv.data()) == 0);
  std::string first = read_file(out);
  REQUIRE(prep_statutes_main(int(argv.size()), argv.data()) == 0);
  CHECK(read_file(out) == first);  // byte-identical on a rerun

  std::istringstream in(first);
  std::string line;
  size_t n = 0;
  std::string prev_file;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line);
    n++;
    for (const char* k : {"law", "article_id", "article_no", "branch_no", "title", "chapter_path", "citation",
                          "effective_date", "deleted", "notes", "paragraphs", "text", "source"})
      REQUIRE_MESSAGE(j.contains(k), "missing key ", k, " in line ", n);
    CHECK(j["citation"].get<std::string>() == j["law"].get<std::string>() + " " + j["article_id"].get<std::string>());
    std::string file = j["source"].get<std::string>().substr(0, j["source"].get<std::string>().find(':'));
    CHECK(file >= prev_file);  // files in byte order
    prev_file = file;
    if (j["law"] == "주택임대차보호법" && j["article_id"] == "제3조") {
      CHECK(j["paragraphs"][0]["citation"] == "주택임대차보호법 제3조 제1항");
      CHECK(j["paragraphs"][1]["notes"][0] == "개정 2015.1.6");
    }
  }
  CHECK(n == 6456);  // the grep count of '##### ' lines, see the first test case
}

TEST_CASE("mutated statute text never throws or crashes the parser") {
  // 300 random mutations of a real file (line deletions/duplications, injected marker lines, random bytes):
  // parse_statute must return (issues, not exceptions), and every kept article must serialise to JSON.
  const std::string base = read_file(statutes_dir() + "/주택임대차보호법.md");
  std::vector<std::string> L;
  {
    std::istringstream in(base);
    std::string l;
    while (std::getline(in, l)) L.push_back(l);
  }
  const std::vector<std::string> inject = {"##### 제", "##### 제3조의", "##### 제4조 (", "**⑤**", "**⑤", "**",
                                           "    가\\.", "  1\\.", " 1)", "\t", "삭제 <", "<개정 2020.1.1",
                                           "## 부칙", "---", "# ", "**제1항 x**", "[본조신설 2000.1.1]"};
  uint64_t x = 12345;
  auto rnd = [&](uint64_t n) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // xorshift64
    return size_t(x % n);
  };
  int skipped = 0, with_issues = 0;
  for (int t = 0; t < 300; t++) {
    std::vector<std::string> M = L;
    for (int e = 0; e < 8; e++) {
      size_t p = 1 + rnd(M.size() - 1);
      switch (rnd(4)) {
        case 0: M.erase(M.begin() + long(p)); break;
        case 1: M.insert(M.begin() + long(p), M[rnd(M.size())]); break;
        case 2: M.insert(M.begin() + long(p), inject[rnd(inject.size())]); break;
        case 3: {  // an ASCII byte at a code-point boundary; in one file of ten any byte anywhere (usually
                   // invalid UTF-8 -> file skipped)
          size_t at = rnd(M[p].size() + 1);
          while (t % 10 && at > 0 && at < M[p].size() && (static_cast<unsigned char>(M[p][at]) & 0xC0) == 0x80) at--;
          M[p].insert(at, 1, char(t % 10 == 0 ? rnd(256) : 32 + rnd(95)));
          break;
        }
      }
    }
    std::string text;
    for (const auto& l : M) text += l + "\n";
    ParsedLaw law;
    CHECK_NOTHROW(law = parse_statute(text, "fuzz.md"));
    skipped += law.skipped;
    with_issues += !law.issues.empty();
    for (const Issue& is : law.issues) CHECK(is.line >= 0);
    for (const Article& a : law.articles) CHECK_NOTHROW(article_json_line(a));
  }
  MESSAGE("fuzz: ", skipped, " of 300 mutated files skipped, ", with_issues, " with issues");
  CHECK(with_issues > 0);  // the mutations must actually have hit the error paths
}

TEST_CASE("invalid UTF-8 skips the file with its line number") {
  ParsedLaw law = parse_statute("---\n제목: 시험법\n---\n\n##### 제1조\n\n본\xff문\n", "bad_utf8.md");
  CHECK(law.skipped);
  REQUIRE(law.issues.size() == 1);
  CHECK(law.issues[0].str() == "bad_utf8.md:7: invalid UTF-8 at byte 3 of the line; file skipped");
}

TEST_CASE("prep statutes exit status") {
  auto run = [](std::vector<std::string> args) {
    std::vector<char*> argv;
    for (auto& s : args) argv.push_back(&s[0]);
    return prep_statutes_main(int(argv.size()), argv.data());
  };
  CHECK(run({"statutes", "--bogus"}) == 2);
  CHECK(run({"statutes", "--out"}) == 2);  // flag without value
  make_dirs("build/tests/statutes/empty");
  CHECK(run({"statutes", "--data", "build/tests/statutes/empty", "--out", "build/tests/statutes/none.jsonl"}) == 1);
  CHECK_FALSE(file_exists("build/tests/statutes/none.jsonl"));
}
