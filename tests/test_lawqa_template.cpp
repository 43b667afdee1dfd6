// The template law-QA generator (legal/lawqa_template.cpp) item by item against the statutes: every item's
// citation and reference are the cited unit (an oracle that splits Article::text itself), each type keeps its
// promise (situation questions carry the article's condition and no article number, answers apply it and cite
// it; cloze blanks are legally meaningful spans; false statements and MC distractors are legal edits of the
// true sentence; no lead-in or 전항 options), the article-number style is a minority, distractor references are
// near articles of the same law, and the 시행일 note appears exactly for laws not yet in force.
#include <doctest/doctest.h>

#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "legal/lawqa.h"
#include "legal/lawqa_facts.h"
#include "legal/statutes.h"
#include "src/common.h"

using namespace beop;
using namespace beop::lawqa;

namespace {

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// Independent unit text: the lines of Article::text from "<circled n> " up to the next circled marker, with the
// marker removed. Article-level citations (no 항) map to the whole Article::text.
std::string oracle_reference(const statutes::Article& a, int para) {
  if (para == 0) return a.text;
  static const char* circ[] = {"①", "②", "③", "④", "⑤", "⑥", "⑦", "⑧", "⑨", "⑩",
                               "⑪", "⑫", "⑬", "⑭", "⑮", "⑯", "⑰", "⑱", "⑲", "⑳"};
  std::string out;
  bool in = false;
  for (auto& l : lines_of(a.text)) {
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

bool contains(const std::string& s, const std::string& t) { return s.find(t) != std::string::npos; }

// A false statement differs from the true sentence by a legal edit: its numbers with units differ, or a party
// is swapped for its counterpart, or a negation is flipped.
bool legal_edit(const std::string& shown, const std::string& truth) {
  std::multiset<std::string> a, b;
  for (auto& q : facts::quantities(shown)) a.insert(q.text());
  for (auto& q : facts::quantities(truth)) b.insert(q.text());
  if (a != b) return true;
  for (auto* p : {"임대인", "임차인", "사용자", "근로자", "채권자", "채무자", "매도인", "매수인", "원고", "피고", "위임인",
                  "수임인", "양도인", "양수인", "도급인", "수급인", "보험자", "보험계약자", "질권자", "질권설정자", "신청인",
                  "피신청인", "청구인", "피청구인", "가해자", "피해자", "저작자", "이용자", "사업자", "소비자"})
    if (contains(shown, p) != contains(truth, p)) return true;
  for (auto* n : {"수 없다", "수 있다", "아니하여도 된다", "하여야 한다", "효력이 없다", "효력이 있다", "생기지 아니한다",
                  "처벌하지 아니한다"})
    if (contains(shown, n) != contains(truth, n)) return true;
  return false;
}

}  // namespace

TEST_CASE("every template item keeps its type's promise against the cited statute text") {
  std::vector<statutes::Article> all;
  for (auto& law : statutes::parse_statute_dir(data_dir() + "/statutes"))
    for (auto& a : law.articles) all.push_back(a);
  if (all.empty()) {
    MESSAGE("skipped: no statutes under " << data_dir() << "/statutes (set BEOP_DATA)");
    return;
  }
  auto arts = filter_laws(all, {"주택임대차보호법", "민법", "근로기준법", "형법"}, {});
  TemplateOptions o;
  o.as_of = "2026-06-02";
  auto items = generate_template(arts, o);
  std::map<std::string, int> n, style;
  int distractors = 0, notes = 0;
  for (auto& it : items) {
    n[it.type]++;
    style[it.style]++;
    CAPTURE(it.citation);
    CAPTURE(it.type);
    CAPTURE(it.question);
    const statutes::Article* a = find_article(arts, it.law, it.article_id);
    REQUIRE(a != nullptr);
    CHECK(!a->deleted);
    int para = paragraph_of(it.citation);
    CHECK(it.citation == it.law + " " + it.article_id + (para ? " 제" + std::to_string(para) + "항" : ""));
    CHECK(it.reference == oracle_reference(*a, para));
    // 시행일: stated exactly when the law's text comes into force after the as-of date, on the answers that say
    // what the law provides (situation, content), not on a cloze word, a verdict, a title or an MC key.
    bool later = a->effective_date > o.as_of && (it.type == "situation" || it.type == "content");
    CHECK(contains(it.answer, "시행일은 " + a->effective_date) == later);
    notes += later;
    std::string answer = it.answer.substr(0, it.answer.find("\n(참고: "));
    std::string head = it.question.substr(0, it.question.find('\n'));
    if (it.type != "content" && it.type != "title") CHECK(!contains(head, it.citation));  // no article number
    if (it.type == "situation") {
      CHECK(contains(answer, it.citation));
      if (it.style == "situation") {
        CHECK(!it.key.empty());  // the condition: in the question, quoted in the answer, verbatim in the text
        CHECK(contains(it.question, it.key));
        CHECK(contains(answer, "\"" + it.key + "\"에 해당합니다. 따라서"));
        CHECK(contains(it.reference, it.key));
      } else {
        CHECK(it.style == "actor");
      }
    } else if (it.type == "content") {
      CHECK(it.style == "article_number");
      CHECK(contains(answer, it.reference));
    } else if (it.type == "title") {
      CHECK(contains(answer, it.citation + "(" + a->title + ")"));
      CHECK(contains(answer, a->text));
    } else if (it.type == "cloze") {
      std::string q = it.question.substr(it.question.find('\n') + 1);
      size_t blank = q.find("____");
      REQUIRE(blank != std::string::npos);
      std::string filled = q;
      filled.replace(blank, 4, it.key);
      CHECK(filled == it.reference);
      // A legally meaningful span: a number with a unit, a legal effect or the provision's actor, never a particle.
      bool number = !facts::quantities(it.key).empty();
      bool effect = false;
      for (auto* e : {"무효", "취소", "해지", "해제", "손해배상", "과태료", "벌금", "징역", "금고", "구류", "과료", "몰수",
                      "추징", "대항력", "우선변제권", "소멸시효", "손해를 배상", "효력을 잃는다", "효력이 생긴다", "처벌한다",
                      "지급하여야", "반환하여야", "통지하여야", "신고하여야", "허가", "승인", "동의"})
        effect |= it.key == e;
      bool actor = it.reference.rfind(it.key, 0) == 0;
      CHECK((number || effect || actor));
      for (auto* bad : {"때에는", "경우에는", "대하여", "에게", "으로"}) CHECK(it.key != bad);
    } else if (it.type == "truefalse" || it.type == "mc") {
      size_t q0 = answer.find('"'), q1 = answer.rfind('"');
      REQUIRE(q1 > q0);
      std::string truth = answer.substr(q0 + 1, q1 - q0 - 1);
      CHECK(contains(it.reference, truth));
      std::vector<std::string> shown;
      if (it.type == "truefalse") {
        size_t a0 = it.question.find('"'), a1 = it.question.rfind('"');
        shown.push_back(it.question.substr(a0 + 1, a1 - a0 - 1));
        CHECK((it.key == "예") == (shown[0] == truth));
      } else {
        auto ls = lines_of(it.question);
        REQUIRE(ls.size() == 5);
        for (int k = 1; k <= 4; k++) shown.push_back(ls[k].substr(3));
        CHECK(shown[std::stoi(it.key) - 1] == truth);
        CHECK(contains(answer, "정답은 " + it.key + "번입니다."));
        CHECK(std::set<std::string>(shown.begin(), shown.end()).size() == 4);
      }
      for (auto& s : shown) {
        CHECK(!contains(s, "다음 각 호"));
        CHECK(s.rfind("전항", 0) != 0);
        if (s != truth) {
          CHECK(!contains(it.reference, s));
          CHECK(legal_edit(s, truth));
        }
      }
    } else {
      FAIL("unexpected type " << it.type);
    }
    if (!it.refs_in.empty()) {  // a near but wrong article beside the right one
      distractors++;
      REQUIRE(it.refs_in.size() == 2);
      int right = (it.refs_in[0].first == it.citation) + (it.refs_in[1].first == it.citation);
      CHECK(right == 1);
      for (auto& r : it.refs_in) {
        CHECK(r.first.rfind(it.law + " ", 0) == 0);
        if (r.first != it.citation) CHECK(r.first.rfind(it.law + " " + it.article_id + " ", 0) != 0);
      }
    }
  }
  for (auto* t : {"situation", "content", "title", "cloze", "truefalse", "mc"}) CHECK(n[t] > 30);
  int total = (int)items.size();
  CHECK(style["article_number"] * 4 < total);  // the article-number style is a minority (~10%)
  CHECK(style["situation"] * 10 > total);
  CHECK(distractors * 8 > total);
  CHECK(distractors * 2 < total);
  CHECK(notes > 0);  // 근로기준법 (2027-01-01) and 형법 (2026-09-13) are later than the as-of date
  int yes = 0;
  for (auto& it : items) yes += it.type == "truefalse" && it.key == "예";
  CHECK(yes > n["truefalse"] / 4);
  CHECK(yes < n["truefalse"] * 3 / 4);
}

TEST_CASE("template items pass the fact check; it rejects their falsified twins") {
  std::vector<statutes::Article> all;
  for (auto& law : statutes::parse_statute_dir(data_dir() + "/statutes"))
    for (auto& a : law.articles) all.push_back(a);
  if (all.empty()) return;
  CitationIndex idx(all);
  TemplateOptions o;
  o.as_of = "2026-06-02";
  auto items = generate_template(filter_laws(all, {"주택임대차보호법", "근로기준법"}, {}), o);
  VerifyReport r;
  auto kept = verify_items(idx, items, 0.3, &r);
  CHECK(r.checked == (int)items.size());
  CHECK(r.kept == (int)kept.size());
  CHECK(r.kept * 100 >= r.checked * 98);  // nearly all: what fails is reported per rule
  // The same items with the true statement replaced by a false variant in the answer are rejected.
  int falsified = 0, rejected = 0;
  for (auto& it : items) {
    if (it.type != "mc") continue;
    auto ls = lines_of(it.question);
    std::string wrong = ls[it.key == "1" ? 2 : 1].substr(3);
    size_t q0 = it.answer.find('"'), q1 = it.answer.rfind('"');
    std::string a = it.answer.substr(0, q0 + 1) + wrong + it.answer.substr(q1);
    falsified++;
    rejected += !verify_item(idx, it.question, a, it.citation, 0.3).ok;
  }
  REQUIRE(falsified > 10);
  CHECK(rejected == falsified);
}
