// Statute sentences taken apart for the law-QA templates (see the header). The statutes' register is regular:
// "<actor>는 <condition> 경우에는 <effect>한다." covers most provisions that describe a situation.
#include "legal/lawqa_sentence.h"

#include <algorithm>

#include "legal/lawqa_facts.h"
#include "src/utf8.h"

namespace beop::lawqa::sentence {

namespace {

size_t cps(const std::string& s) { return utf8_decode(s, Utf8Bad::kReplace).size(); }

bool all_hangul(const std::string& s) {
  for (char32_t c : utf8_decode(s, Utf8Bad::kReplace))
    if (c < 0xAC00 || c > 0xD7A3) return false;
  return !s.empty();
}

bool ends_with(const std::string& s, const std::string& t) {
  return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}

size_t count_occ(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) n++;
  return n;
}

// Parties that come in pairs in the statutes; swapping one for the other keeps the particle (same final syllable).
const std::pair<const char*, const char*> kActorPairs[] = {
    {"임대인", "임차인"}, {"사용자", "근로자"}, {"채권자", "채무자"}, {"매도인", "매수인"}, {"원고", "피고"},
    {"위임인", "수임인"}, {"양도인", "양수인"}, {"도급인", "수급인"}, {"보험자", "보험계약자"}, {"질권자", "질권설정자"},
    {"신청인", "피신청인"}, {"청구인", "피청구인"}, {"가해자", "피해자"}, {"저작자", "이용자"}, {"사업자", "소비자"}};

// Negations that stay grammatical when swapped.
const std::pair<const char*, const char*> kNegations[] = {
    {"할 수 있다.", "할 수 없다."}, {"하여야 한다.", "하지 아니하여도 된다."}, {"효력이 있다.", "효력이 없다."},
    {"효력이 생긴다.", "효력이 생기지 아니한다."}, {"처벌한다.", "처벌하지 아니한다."}, {"청구할 수 있다", "청구할 수 없다"}};

const std::pair<const char*, const char*> kQualifiers[] = {{"이상", "이하"}, {"미만", "초과"}};

}  // namespace

std::string first_sentence(const std::string& unit_text) {
  std::string head = unit_text.substr(0, unit_text.find('\n'));
  size_t p = head.find("다.");
  std::string s = p == std::string::npos ? head : head.substr(0, p + 4);  // "다." = 3 + 1 bytes
  size_t n = cps(s);
  return n < 15 || n > 250 ? "" : s;
}

std::string exception_sentence(const std::string& unit_text) {
  std::string head = unit_text.substr(0, unit_text.find('\n'));
  size_t p = head.find("다. ");
  if (p == std::string::npos) return "";
  std::string rest = head.substr(p + 5);
  size_t q = rest.find("다.");
  if (q == std::string::npos) return "";
  rest = rest.substr(0, q + 4);
  bool exc = rest.rfind("다만, ", 0) == 0 || rest.rfind("그러나 ", 0) == 0;
  return exc && cps(rest) <= 200 && !is_dependent(rest) ? rest : "";
}

bool is_dependent(const std::string& s) {
  for (const char* m : {"다음 각 호", "각 호의", "전항", "전조", "전2조", "전3조", "전 각 항", "같은 항", "이 경우"})
    if (s.find(m) != std::string::npos) return true;
  for (size_t p = s.find("전"); p != std::string::npos; p = s.find("전", p + 3))
    if (p + 3 < s.size() && s[p + 3] >= '0' && s[p + 3] <= '9') return true;  // 전5조
  return s.rfind("제", 0) == 0;  // "제1항의 경우에 …"
}

Parts parse(const std::string& s) {
  Parts p;
  auto ws = facts::words(s);
  size_t start = 0;
  if (!ws.empty() && (ends_with(ws[0], "는") || ends_with(ws[0], "은"))) {
    std::string noun = ws[0].substr(0, ws[0].size() - 3);
    if (all_hangul(noun) && cps(noun) >= 2) {
      p.actor = noun;
      start = 1;
      for (const char* suf : {"자", "인", "원", "장", "관", "사", "회", "청", "부", "국", "소", "단", "주", "가"})
        p.person |= ends_with(noun, suf);
    }
  }
  // The condition ends at the first "…경우에는", "…때에는" or "…면" word (not the last word).
  size_t cond_end = std::string::npos;
  std::string cond_word;
  for (size_t i = start; i + 1 < ws.size() && cond_end == std::string::npos; i++) {
    const std::string& w = ws[i];
    bool noun = false;
    for (const char* m : {"경우에는", "때에는", "경우에", "때에", "경우"})
      noun |= ends_with(w, m) && (w == m || std::string(m).rfind("경우", 0) == 0);  // "…한 때에는": 때 is a word
    if (noun) {
      cond_end = i;
      cond_word = w.substr(0, w.size() - (ends_with(w, "에는") ? 6 : ends_with(w, "에") ? 3 : 0));
    } else if (ends_with(w, "면") && !ends_with(w, "따르면") && all_hangul(w) && i > start) {
      cond_end = i;
      cond_word = w;
    }
  }
  if (cond_end != std::string::npos) {
    std::string c;
    for (size_t i = start; i < cond_end; i++) c += ws[i] + " ";
    c += cond_word;
    std::string e;
    for (size_t i = cond_end + 1; i < ws.size(); i++) e += (e.empty() ? "" : " ") + ws[i];
    if (cps(c) >= 6 && cps(c) <= 120 && cps(e) >= 4 && !is_dependent(c) && s.find(c) != std::string::npos) {
      p.condition = c;
      p.effect = e;
    }
  }
  if (p.condition.empty()) {
    std::string e;
    for (size_t i = start; i < ws.size(); i++) e += (e.empty() ? "" : " ") + ws[i];
    p.effect = e;
  }
  const std::string& e = p.effect;
  if (e.find("수 없다") != std::string::npos || ends_with(e, "아니한다.") || ends_with(e, "못한다.")) p.kind = Parts::Bar;
  else if (e.find("하여야 한다") != std::string::npos) p.kind = Parts::Duty;
  else if (e.find("수 있다") != std::string::npos) p.kind = Parts::Power;
  return p;
}

void LawPool::add(const std::string& unit_text) {
  for (auto& q : facts::quantities(unit_text))
    if (!(q.unit == "년" && q.number.size() >= 4))  // a year of a date (2007년) is no period to swap in
      quantity_spans[q.unit].insert(unit_text.substr(q.begin, q.end - q.begin));
  text += unit_text;
  text += '\n';
}

std::vector<std::string> false_variants(const std::string& s, const LawPool& pool, const std::string& own) {
  std::vector<std::string> out;
  auto push = [&](const std::string& v) {
    if (v != s && own.find(v) == std::string::npos && std::find(out.begin(), out.end(), v) == out.end())
      out.push_back(v);
  };
  for (auto& q : facts::quantities(s)) {
    std::string span = s.substr(q.begin, q.end - q.begin);
    auto it = pool.quantity_spans.find(q.unit);
    if (it != pool.quantity_spans.end())
      for (auto& other : it->second) {
        if (facts::quantities(other).front().number == q.number) continue;
        push(s.substr(0, q.begin) + other + s.substr(q.end));
      }
    for (auto& [a, b] : kQualifiers)
      for (int dir = 0; dir < 2; dir++) {
        std::string from = dir ? b : a, to = dir ? a : b;
        size_t p = s.find(from, q.end);
        // only before a particle that fits both (이상의/이하의; not 이상으로/이하으로)
        size_t after = p + from.size();
        bool fits = after == s.size() || s[after] == ' ' || s.compare(after, 3, "의") == 0 || s.compare(after, 3, "에") == 0;
        if (p != std::string::npos && p <= q.end + 1 && fits) push(s.substr(0, p) + to + s.substr(after));
      }
  }
  for (auto& [a, b] : kActorPairs)
    for (int dir = 0; dir < 2; dir++) {
      std::string from = dir ? b : a, to = dir ? a : b;
      size_t p = s.find(from);
      // whole noun only (not 임차인 inside 전차인), and the substitute must occur in the same statute
      if (p == std::string::npos || count_occ(s, from) != 1 || pool.text.find(to) == std::string::npos) continue;
      if (p > 0 && s[p - 1] != ' ') continue;
      if (s.compare(p, to.size(), to) == 0) continue;  // 피고 inside 피고인
      push(s.substr(0, p) + to + s.substr(p + from.size()));
    }
  for (auto& [a, b] : kNegations)
    for (int dir = 0; dir < 2; dir++) {
      std::string from = dir ? b : a, to = dir ? a : b;
      if (ends_with(s, from) || (from.back() != '.' && s.find(from) != std::string::npos)) {
        size_t p = s.rfind(from);
        push(s.substr(0, p) + to + s.substr(p + from.size()));
      }
    }
  return out;
}

std::vector<std::string> cloze_spans(const std::string& text, const std::string& actor) {
  static const char* kEffects[] = {"무효", "취소", "해지", "해제", "손해배상", "과태료", "벌금", "징역", "금고",
                                   "구류", "과료", "몰수", "추징", "대항력", "우선변제권", "소멸시효", "손해를 배상",
                                   "효력을 잃는다", "효력이 생긴다", "처벌한다", "지급하여야", "반환하여야",
                                   "통지하여야", "신고하여야", "허가", "승인", "동의"};
  std::vector<std::string> out;
  auto add = [&](const std::string& w) {
    if (!w.empty() && count_occ(text, w) == 1 && std::find(out.begin(), out.end(), w) == out.end()) out.push_back(w);
  };
  for (auto& q : facts::quantities(text)) {
    std::string span = text.substr(q.begin, q.end - q.begin);
    size_t p = q.end;
    if (p < text.size() && text[p] == ' ' && !q.qualifier.empty() && text.compare(p + 1, 6, q.qualifier) == 0)
      span += " " + q.qualifier;  // "14일 이내" is the fact, not "14일" alone
    add(span);
  }
  for (const char* e : kEffects) add(e);
  add(actor);
  return out;
}

std::string topic(const std::string& noun) { return noun + (facts::has_final_consonant(noun) ? "은" : "는"); }

}  // namespace beop::lawqa::sentence
