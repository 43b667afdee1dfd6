// Checkable facts of statute sentences (see the header for the why). Everything works on UTF-8 text split into
// whitespace words; Hangul syllables are decomposed arithmetically (U+AC00 + (cho*21 + jung)*28 + jong).
#include "legal/lawqa_facts.h"

#include <algorithm>
#include <tuple>

#include "src/utf8.h"

namespace beop::lawqa::facts {

namespace {

bool hangul(char32_t c) { return c >= 0xAC00 && c <= 0xD7A3; }
int jong(char32_t c) { return hangul(c) ? int((c - 0xAC00) % 28) : -1; }
char32_t with_jong(char32_t c, int j) { return c - (char32_t)jong(c) + (char32_t)j; }
constexpr int kNieun = 4, kRieul = 8, kBieup = 17;

std::u32string u32(const std::string& s) {
  auto v = utf8_decode(s, Utf8Bad::kReplace);
  return std::u32string(v.begin(), v.end());
}
std::string u8(const std::u32string& s) { return utf8_encode(s.data(), s.data() + s.size()); }

bool starts(const std::u32string& s, const char32_t* p) { return s.rfind(p, 0) == 0; }

// Runs of Hangul, digits and letters: quotes and punctuation separate ("취소"입니다 is 취소 + 입니다).
std::vector<std::u32string> bare_words(const std::string& s) {
  std::vector<std::u32string> out;
  std::u32string cur;
  for (char32_t c : u32(s)) {
    bool word = hangul(c) || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    if (word) {
      cur += c;
    } else if (!cur.empty()) {
      out.push_back(cur);
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

bool is_neg_word(const std::u32string& w) { return starts(w, U"아니") || starts(w, U"않") || starts(w, U"못"); }

// The stem of a modifier before 수: "청구할" -> "청구", "받을" -> "받", "볼" -> "보".
std::u32string modifier_stem(const std::u32string& w) {
  if (w.empty()) return w;
  char32_t l = w.back();
  if (l == U'할' || l == U'을' || l == U'될') return w.substr(0, w.size() - 1);
  if (jong(l) == kRieul) return w.substr(0, w.size() - 1) + with_jong(l, 0);
  return w.substr(0, w.size() - 1);
}

}  // namespace

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t')) i++;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\n' && s[j] != '\t') j++;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

bool has_final_consonant(const std::string& word) {
  auto w = u32(word);
  for (size_t i = w.size(); i-- > 0;)
    if (hangul(w[i])) return jong(w[i]) > 0;
  return false;
}

// ------------------------------------------------------------------------------------------- quantities

bool Quantity::operator<(const Quantity& o) const {
  return std::tie(number, unit, qualifier) < std::tie(o.number, o.unit, o.qualifier);
}

std::vector<Quantity> quantities(const std::string& s) {
  // Longest first, so 개월 wins over 월 and 만원 over 원. 조/항/호/목 are citations, not quantities.
  static const char* kUnits[] = {"킬로미터", "제곱미터", "퍼센트", "천만원", "백만원", "개월", "주일", "시간",
                                 "억원",     "만원",     "천원",   "미터",   "년",     "월",   "일",   "주",
                                 "분",       "초",       "세",     "명",     "인",     "회",   "배",   "%",
                                 "원",       "개",       "층",     "건"};
  static const char* kQual[] = {"이상", "이하", "이내", "미만", "초과"};
  std::vector<Quantity> out;
  auto digit = [&](size_t i) { return i < s.size() && s[i] >= '0' && s[i] <= '9'; };
  for (size_t i = 0; i < s.size(); i++) {
    if (!digit(i) || (i > 0 && (digit(i - 1) || s[i - 1] == '.' || s[i - 1] == ','))) continue;
    Quantity q;
    q.begin = i;
    size_t j = i;
    while (digit(j) || (s[j] == ',' && digit(j + 1) && digit(j + 2) && digit(j + 3)) || (s[j] == '.' && digit(j + 1))) {
      if (s[j] != ',') q.number += s[j];
      j++;
    }
    size_t k = j;
    if (k < s.size() && s[k] == ' ') k++;
    if (s.compare(k, 6, "분의") == 0) {  // fraction "3분의 2", "2분의1"
      size_t m = k + 6;
      if (m < s.size() && s[m] == ' ') m++;
      size_t e = m;
      while (digit(e)) e++;
      if (e == m) continue;
      q.number += "분의" + s.substr(m, e - m);
      q.end = e;
      size_t k2 = e < s.size() && s[e] == ' ' ? e + 1 : e;
      for (const char* ql : kQual)
        if (s.compare(k2, 6, ql) == 0) q.qualifier = ql;  // "5분의 1 이상"
      out.push_back(q);
      i = e - 1;
      continue;
    }
    for (const char* u : kUnits) {
      size_t n = std::char_traits<char>::length(u);
      if (s.compare(k, n, u) == 0) {
        q.unit = u;
        q.end = k + n;
        break;
      }
    }
    if (q.unit.empty()) continue;
    size_t m = q.end;
    if (s.compare(m, 3, "간") == 0) m += 3;  // 10년간
    if (s.compare(m, 3, "내") == 0) q.qualifier = "이내";  // 2년내에
    if (m < s.size() && s[m] == ' ') m++;
    for (const char* ql : kQual)
      if (s.compare(m, 6, ql) == 0) q.qualifier = ql;
    out.push_back(q);
    i = q.end - 1;
  }
  return out;
}

std::string quantity_conflict(const Quantity& q, const std::vector<Quantity>& text) {
  bool same = false, qual_ok = q.qualifier.empty();
  std::string have;
  for (auto& t : text) {
    if (t.unit == q.unit && !have.empty() && have.size() < 80) have += ", ";
    if (t.unit == q.unit && have.size() < 80) have += t.text();
    if (t.number != q.number || t.unit != q.unit) continue;
    same = true;
    qual_ok |= t.qualifier.empty() || t.qualifier == q.qualifier;
  }
  if (!same) return "\"" + q.text() + "\" is not in the article" + (have.empty() ? "" : " (it has " + have + ")");
  if (!qual_ok) return "\"" + q.text() + "\": the article has " + have;
  return "";
}

// ------------------------------------------------------------------------------------------- polarity

std::vector<Polarity> explicit_polarities(const std::string& s) {
  auto w = bare_words(s);
  std::vector<Polarity> out;
  auto add = [&](const std::u32string& key, bool neg, bool noun = false, size_t min = 2) {
    if (key.size() >= min) out.push_back({u8(key), neg, noun});
  };
  for (size_t i = 0; i + 1 < w.size(); i++) {
    const auto& a = w[i];
    const auto& b = w[i + 1];
    if (a.empty()) continue;
    if (i + 2 < w.size() && b == U"수" && (starts(w[i + 2], U"있") || starts(w[i + 2], U"없")))
      add(modifier_stem(a), starts(w[i + 2], U"없"));
    else if (a.size() >= 2 && a.back() == U'지' && is_neg_word(b)) {
      auto k = a.substr(0, a.size() - 1);
      bool ha = !k.empty() && k.back() == U'하';
      if (ha) k.pop_back();
      add(k, true, false, ha ? 1 : 2);  // 벌하지 아니한다 -> 벌 (a 하-verb, so 벌금 does not match)
    } else if (a.size() >= 3 && (a.back() == U'이' || a.back() == U'가') && (starts(b, U"있") || starts(b, U"없")))
      add(a.substr(0, a.size() - 1), starts(b, U"없"), true);
  }
  return out;
}

std::set<int> polarity_of(const std::string& s, const std::string& key8, bool noun) {
  auto key = u32(key8);
  auto w = bare_words(s);
  std::set<int> out;
  auto cond = [](const std::u32string& x) { return !x.empty() && x.back() == U'면' ? kCond : 0; };
  if (key.empty()) return out;
  for (size_t i = 0; i < w.size(); i++) {
    const auto& a = w[i];
    if (a.size() < key.size()) continue;
    size_t n = key.size();
    if (a.compare(0, n - 1, key, 0, n - 1) != 0) continue;
    char32_t kl = key[n - 1], al = a[n - 1];
    bool exact = kl == al, fuzzy = hangul(kl) && hangul(al) && jong(kl) == 0 && with_jong(al, 0) == kl && al != kl;
    if (!exact && !fuzzy) continue;
    std::u32string rest = exact ? a.substr(n) : a.substr(n - 1);  // fuzzy: the syllable carries the ending
    const std::u32string next = i + 1 < w.size() ? w[i + 1] : U"", next2 = i + 2 < w.size() ? w[i + 2] : U"";
    if (noun) {
      if (exact && (rest == U"이" || rest == U"가") && (starts(next, U"있") || starts(next, U"없")))
        out.insert((starts(next, U"없") ? kNeg : 0) | cond(next));
      continue;
    }
    if (next == U"수" && (starts(next2, U"있") || starts(next2, U"없"))) {
      out.insert((starts(next2, U"없") ? kNeg : 0) | cond(next2));
      continue;
    }
    if (!a.empty() && a.back() == U'지' && is_neg_word(next)) {
      out.insert(kNeg | cond(next));
      continue;
    }
    static const std::u32string kVerb = U"하한할함합해했되된될됨됩돼";
    if (exact && (rest.empty() || kVerb.find(rest[0]) == std::u32string::npos)) continue;  // a noun use: 적용제외
    out.insert(cond(a));
  }
  return out;
}

// ------------------------------------------------------------------------------------------- topic bigrams

std::set<std::string> content_bigrams(const std::string& s) {
  static const std::set<std::string> kStop = [] {
    std::set<std::string> st;
    const char* ws[] = {"어떻게", "하나요", "있나요", "되나요", "무엇인가요", "합니다", "습니다", "됩니다", "입니다",
                        "해야", "경우에는", "때에는", "규정하고", "조문", "법률", "법령", "따르면", "따라", "대하여",
                        "관하여", "관한", "다음", "내용", "옳은", "질문", "상황", "해당", "이때", "그리고", "또는",
                        "그러나", "다만", "말씀", "하는", "있는", "없는", "것이", "것을", "하여", "하고", "하며",
                        "있다", "없다", "한다", "된다", "빈칸에", "들어갈", "정답은", "옳습니다", "옳지", "않습니다",
                        "아니요", "궁금합니다", "알려", "주세요", "무엇을", "가요", "나요", "있을까요", "할까요",
                        "되는지", "하는지", "참조", "근거", "라고", "규정하고", "같이", "다음과", "완성된", "문장은",
                        "질문하신", "사정은", "정한", "요건인", "따라서", "해당합니다", "있습니다", "없습니다"};
    for (auto* w : ws) {
      auto u = u32(w);
      for (size_t i = 0; i + 1 < u.size(); i++) st.insert(u8(u.substr(i, 2)));
    }
    return st;
  }();
  std::set<std::string> out;
  for (auto& w : bare_words(s))
    for (size_t i = 0; i + 1 < w.size(); i++)
      if (hangul(w[i]) && hangul(w[i + 1])) {
        std::string b = u8(w.substr(i, 2));
        if (!kStop.count(b)) out.insert(b);
      }
  return out;
}

size_t overlap(const std::set<std::string>& a, const std::set<std::string>& b) {
  size_t n = 0;
  for (auto& x : a) n += b.count(x);
  return n;
}

// ------------------------------------------------------------------------------------------- polite register

std::string polite(const std::string& sentence) {
  auto s = u32(sentence);
  std::u32string out;
  for (size_t i = 0; i < s.size(); i++) {
    bool end = s[i] == U'다' && i + 1 < s.size() && s[i + 1] == U'.' && (i + 2 == s.size() || s[i + 2] == U' ' ||
                                                                          s[i + 2] == U'\n');
    if (!end || out.empty() || !hangul(out.back())) {
      out += s[i];
      continue;
    }
    char32_t p = out.back();
    if (p == U'는' && out.size() >= 2 && hangul(out[out.size() - 2])) {  // 않는다 -> 않습니다
      out.pop_back();
      out += U"습니";
    } else if (jong(p) == kNieun || jong(p) == 0) {  // 한다 -> 합니다, 이다 -> 입니다
      out.back() = with_jong(p, kBieup);
      out += U"니";
    } else {  // 있다 -> 있습니다
      out += U"습니";
    }
    out += U'다';
  }
  return u8(out);
}

}  // namespace beop::lawqa::facts
