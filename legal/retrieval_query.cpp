// Statute retrieval, the text side: the Hangul-aware tokenizer and the law / article references a query names
// (retrieval.h documents both). The BM25 index that uses them is in retrieval.cpp.
#include "legal/retrieval.h"

#include <algorithm>
#include <string>

#include "src/utf8.h"

namespace beop::retrieval {

namespace {

// Lenient UTF-8 decoding: an invalid byte decodes to U+FFFD (a separator), so a bad query never throws.
std::vector<char32_t> decode(const std::string& s) { return utf8_decode(s, Utf8Bad::kReplace); }

bool is_hangul(char32_t c) { return c >= 0xAC00 && c <= 0xD7A3; }
bool is_han(char32_t c) {  // CJK unified ideographs (+ extension A, compatibility ideographs)
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0xF900 && c <= 0xFAFF);
}
// Letters/digits of other scripts: ASCII alnum, Latin-1/Latin Extended letters, Greek, Cyrillic, fullwidth alnum.
bool is_alnum(char32_t c) {
  if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  if (c == 0xD7 || c == 0xF7) return false;  // × ÷
  return (c >= 0xC0 && c <= 0x24F) || (c >= 0x370 && c <= 0x3FF && c != 0x387) || (c >= 0x400 && c <= 0x4FF) ||
         (c >= 0xFF10 && c <= 0xFF19) || (c >= 0xFF21 && c <= 0xFF3A) || (c >= 0xFF41 && c <= 0xFF5A);
}
enum Cls { kSep, kHangul, kAlnum };
Cls cls(char32_t c) { return is_hangul(c) || is_han(c) ? kHangul : is_alnum(c) ? kAlnum : kSep; }

// Trailing particles, longest first (two-character ones before the one-character ones they end with).
const char32_t* const kParticles[] = {U"에서는", U"으로서", U"으로써", U"에게서", U"으로", U"에서", U"에게", U"까지", U"부터",
                                      U"보다", U"이나", U"이며", U"에는", U"와는", U"과는", U"로서", U"로써", U"은", U"는",
                                      U"이", U"가", U"을", U"를", U"의", U"에", U"와", U"과", U"도", U"로", U"만"};

size_t particle_len(const char32_t* run, size_t n) {
  for (const char32_t* p : kParticles) {
    size_t m = std::char_traits<char32_t>::length(p);
    if (n >= m + 2 && std::equal(p, p + m, run + n - m)) return m;
  }
  return 0;
}

void emit_run(const char32_t* run, size_t n, Cls c, const TokenizerOptions& opt, std::vector<std::string>* out) {
  if (c == kAlnum) {
    std::string t;
    for (size_t i = 0; i < n; i++) {
      char32_t x = run[i];
      if (x >= 'A' && x <= 'Z') x += 32;
      utf8_append(t, x);
    }
    out->push_back(std::move(t));
    return;
  }
  if (opt.strip_particles && n >= 3) n -= particle_len(run, n);
  if (n == 1) {
    std::string t;
    utf8_append(t, run[0]);
    out->push_back(std::move(t));
    return;
  }
  for (size_t i = 0; i + 1 < n; i++) {
    std::string t;
    utf8_append(t, run[i]);
    utf8_append(t, run[i + 1]);
    out->push_back(std::move(t));
  }
}

// "제3조의2" -> "제3조의2"; strips leading zeros ("제03조" names 제3조).
std::string article_id(const std::string& num, const std::string& branch) {
  auto strip = [](std::string s) {
    size_t z = s.find_first_not_of('0');
    return z == std::string::npos ? std::string("0") : s.substr(z);
  };
  std::string id = "제" + strip(num) + "조";
  if (!branch.empty()) id += "의" + strip(branch);
  return id;
}

}  // namespace

std::vector<std::string> tokenize(const std::string& text, const TokenizerOptions& opt) {
  std::vector<char32_t> cps = decode(text);
  std::vector<std::string> out;
  size_t i = 0;
  while (i < cps.size()) {
    Cls c = cls(cps[i]);
    size_t j = i + 1;
    while (j < cps.size() && cls(cps[j]) == c) j++;
    if (c != kSep) emit_run(cps.data() + i, j - i, c, opt, &out);
    i = j;
  }
  return out;
}

QueryRefs find_references(const std::string& query, const std::vector<std::string>& law_titles) {
  QueryRefs r;
  std::vector<char32_t> q = decode(query);
  // Compact query: no whitespace and no 「」『』; pos[i] = index in q of compact character i.
  std::vector<char32_t> compact;
  std::vector<size_t> pos;
  for (size_t i = 0; i < q.size(); i++) {
    char32_t c = q[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0xA0 || c == U'「' || c == U'」' || c == U'『' ||
        c == U'』')
      continue;
    compact.push_back(c);
    pos.push_back(i);
  }
  // Names to look for: (compact name, canonical title), longest first.
  std::vector<std::pair<std::vector<char32_t>, std::string>> names;
  for (auto& t : law_titles) {
    std::vector<char32_t> n;
    for (char32_t c : decode(t))
      if (c != ' ' && c != U'「' && c != U'」') n.push_back(c);
    if (!n.empty()) names.push_back({n, t});
  }
  for (auto& t : law_titles)
    if (t == "대한민국헌법") names.push_back({decode("헌법"), t});
  std::stable_sort(names.begin(), names.end(), [](auto& a, auto& b) { return a.first.size() > b.first.size(); });
  for (size_t i = 0; i < compact.size();) {
    size_t matched = 0;
    for (auto& [n, title] : names) {
      if (i + n.size() > compact.size() || !std::equal(n.begin(), n.end(), compact.begin() + i)) continue;
      // Two-syllable names must start an eojeol: the original character before them is not Hangul/Han.
      if (n.size() <= 2 && pos[i] > 0 && cls(q[pos[i] - 1]) == kHangul) continue;
      if (std::find(r.laws.begin(), r.laws.end(), title) == r.laws.end()) r.laws.push_back(title);
      matched = n.size();
      r.spans.push_back({pos[i], pos[i + n.size() - 1] + 1});
      break;
    }
    i += matched ? matched : 1;
  }
  // Article numbers on the compact text: [제] digits 조 [의 digits].
  for (size_t i = 0; i < compact.size(); i++) {
    if (!(compact[i] >= '0' && compact[i] <= '9')) continue;
    size_t start = i > 0 && compact[i - 1] == U'제' ? i - 1 : i;
    if (i > 0 && compact[i - 1] >= '0' && compact[i - 1] <= '9') continue;
    size_t j = i;
    std::string num, branch;
    while (j < compact.size() && compact[j] >= '0' && compact[j] <= '9') num += char(compact[j++]);
    if (j >= compact.size() || compact[j] != U'조' || num.size() > 6) continue;
    j++;
    if (j + 1 < compact.size() && compact[j] == U'의' && compact[j + 1] >= '0' && compact[j + 1] <= '9') {
      j++;
      while (j < compact.size() && compact[j] >= '0' && compact[j] <= '9' && branch.size() < 6) branch += char(compact[j++]);
    }
    std::string id = article_id(num, branch);
    if (std::find(r.article_ids.begin(), r.article_ids.end(), id) == r.article_ids.end()) r.article_ids.push_back(id);
    r.spans.push_back({pos[start], pos[j - 1] + 1});
    i = j - 1;
  }
  return r;
}

std::string without_references(const std::string& query, const QueryRefs& refs) {
  std::vector<char32_t> q = decode(query);
  for (auto& [b, e] : refs.spans)
    for (size_t i = b; i < e && i < q.size(); i++) q[i] = ' ';
  return utf8_encode(q.data(), q.data() + q.size());
}

}  // namespace beop::retrieval
