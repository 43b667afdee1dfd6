// The statute line grammar (statutes.h lists it): the per-line recognisers, amendment notes and the plain-text
// rendering of an article. parse_statute (statutes.cpp) drives them line by line.
#include "legal/statute_lines.h"

#include <cstring>

#include "src/text.h"
#include "src/utf8.h"

namespace beop::statutes::lines {

// ---- small string helpers (UTF-8 aware where it matters) ------------------------------------------------

bool starts_with(const std::string& s, const char* p) { return s.compare(0, std::strlen(p), p) == 0; }
bool ends_with(const std::string& s, const char* p) {
  size_t n = std::strlen(p);
  return s.size() >= n && s.compare(s.size() - n, n, p) == 0;
}
bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

// The statute files' whitespace is C isspace(): \f and \v count too.
std::string trim(const std::string& s) { return beop::trim(s, kAsciiSpace); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The code point at s[i] of a line parse_statute has validated (s[size()] is '\0': 0 past the end).
char32_t cp_at(const std::string& s, size_t i, size_t* len) {
  int n;
  const char32_t c = utf8_decode_at(s.data(), i, &n);
  *len = size_t(n);
  return c;
}
bool is_hangul_syllable(char32_t c) { return c >= 0xAC00 && c <= 0xD7A3; }

// At most `max_bytes` of s, cut at a code-point boundary (for messages).
std::string clip(const std::string& s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  size_t n = max_bytes;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) n--;
  return s.substr(0, n) + "...";
}

// Parses digits at s[i..]; returns the count of digits consumed (0 = none) and the value (capped, no overflow).
size_t parse_int(const std::string& s, size_t i, int* v) {
  size_t j = i;
  long long x = 0;
  while (j < s.size() && is_digit(s[j])) {
    if (x < 100000000) x = x * 10 + (s[j] - '0');
    j++;
  }
  *v = int(x);
  return j - i;
}

// ---- notes --------------------------------------------------------------------------------------------

// "<개정 2015.1.6, 2016.5.29>" -> the inner text if it is an amendment note: an optional kind made of Hangul
// syllables (개정, 신설, 전문개정, 본조신설, 제목개정, ...), then only digits . ㆍ , and spaces, with at least one
// YYYY.M.D date. Returns "" when the bracketed text is not a note (then it stays in the text).
std::string note_content(const std::string& inner) {
  size_t i = 0, len = 0;
  std::string kind;
  while (i < inner.size()) {
    char32_t c = cp_at(inner, i, &len);
    if (!is_hangul_syllable(c)) break;
    kind += inner.substr(i, len);
    i += len;
  }
  std::string rest = trim(inner.substr(i));
  bool has_date = false;
  for (size_t k = 0; k < rest.size();) {
    if (is_digit(rest[k])) {
      int v;
      size_t d = parse_int(rest, k, &v);
      if (d == 4 && k + 4 < rest.size() && (rest[k + 4] == '.' || starts_with(rest.substr(k + 4), "ㆍ")))
        has_date = true;
      k += d;
    } else if (rest[k] == '.' || rest[k] == ',' || rest[k] == ' ') {
      k++;
    } else if (starts_with(rest.substr(k), "ㆍ")) {
      k += 3;
    } else {
      return "";
    }
  }
  if (!has_date) return "";
  return kind.empty() ? rest : kind + " " + rest;
}

// Cuts every amendment note "<...>" out of `s` (with the spaces before it) and appends it to `notes`.
// A bare date "<2013.7.30>" after 삭제 becomes "삭제 2013.7.30".
std::string strip_notes(const std::string& s, std::vector<std::string>* notes) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    size_t lt = s.find('<', i);
    if (lt == std::string::npos) break;
    size_t gt = s.find('>', lt + 1);
    if (gt == std::string::npos) break;
    std::string note = note_content(s.substr(lt + 1, gt - lt - 1));
    if (note.empty() || s.find('<', lt + 1) < gt) {  // not a note (or nested '<'): keep the '<' literally
      out += s.substr(i, lt + 1 - i);
      i = lt + 1;
      continue;
    }
    out += s.substr(i, lt - i);
    while (!out.empty() && out.back() == ' ') out.pop_back();
    bool bare = !note.empty() && is_digit(note[0]);
    notes->push_back(bare && ends_with(trim(out), "삭제") ? "삭제 " + note : note);
    i = gt + 1;
  }
  out += s.substr(i);
  return trim(out);
}

// ---- front matter --------------------------------------------------------------------------------------

std::string unquote(std::string v) {
  v = trim(v);
  if (v.size() >= 2 && ((v.front() == '\'' && v.back() == '\'') || (v.front() == '"' && v.back() == '"')))
    v = v.substr(1, v.size() - 2);
  return v;
}

// ---- the line-by-line parser ------------------------------------------------------------------------------

// Circled number at s[i]: ① U+2460 .. ⑳ U+2473 -> 1..20, else 0.
int circled_at(const std::string& s, size_t i) {
  size_t len;
  if (i >= s.size()) return 0;
  char32_t c = cp_at(s, i, &len);
  return (c >= 0x2460 && c <= 0x2473) ? int(c - 0x2460) + 1 : 0;
}

const char* const kCircled[20] = {"①", "②", "③", "④", "⑤", "⑥", "⑦", "⑧", "⑨", "⑩",
                          "⑪", "⑫", "⑬", "⑭", "⑮", "⑯", "⑰", "⑱", "⑲", "⑳"};

// "##### 제3조의2 (보증금의 회수)" -> number 3, branch 2, title; the README's pattern
// ^##### 제([0-9]+)조(?:의([0-9]+))? ?(?:\((.*)\))?$ without std::regex.
bool parse_article_heading(const std::string& s, Article* a) {
  if (!starts_with(s, "##### 제")) return false;
  size_t i = std::strlen("##### 제");
  int num = 0, br = 0;
  size_t d = parse_int(s, i, &num);
  if (d == 0 || d > 6 || num == 0) return false;
  i += d;
  if (s.compare(i, 3, "조") != 0) return false;
  i += 3;
  if (s.compare(i, 3, "의") == 0) {
    i += 3;
    d = parse_int(s, i, &br);
    if (d == 0 || d > 6 || br == 0) return false;
    i += d;
  }
  if (i < s.size() && s[i] == ' ') i++;
  std::string title;
  if (i < s.size()) {
    if (s[i] != '(' || s.back() != ')' || s.size() - i < 2) return false;
    title = s.substr(i + 1, s.size() - i - 2);
  }
  a->number = num;
  a->branch = br;
  a->title = trim(title);
  a->id = "제" + std::to_string(num) + "조" + (br ? "의" + std::to_string(br) : "");
  return true;
}

// Item-type markers. Each returns true and fills label/rest when the line is of that type.
bool match_item(const std::string& s, std::string* label, std::string* rest) {  // "  1\. " / "  1의2\. "
  if (!starts_with(s, "  ") || s.size() < 3 || !is_digit(s[2])) return false;
  int v;
  size_t i = 2 + parse_int(s, 2, &v);
  if (s.compare(i, 3, "의") == 0 && i + 3 < s.size() && is_digit(s[i + 3])) i += 3 + parse_int(s, i + 3, &v);
  if (s.compare(i, 2, "\\.") != 0) return false;
  *label = s.substr(2, i - 2);
  *rest = s.substr(i + 2);
  return true;
}
bool match_subitem(const std::string& s, std::string* label, std::string* rest) {  // "    가\. "
  if (!starts_with(s, "    ") || s.size() < 7) return false;
  size_t len;
  if (!is_hangul_syllable(cp_at(s, 4, &len))) return false;
  size_t i = 4 + len;
  int v;
  if (s.compare(i, 3, "의") == 0 && i + 3 < s.size() && is_digit(s[i + 3])) i += 3 + parse_int(s, i + 3, &v);
  if (s.compare(i, 2, "\\.") != 0) return false;
  *label = s.substr(4, i - 4);
  *rest = s.substr(i + 2);
  return true;
}
bool match_detail(const std::string& s, std::string* label, std::string* rest) {  // " 1) " / " 1)의2 "
  if (s.size() < 3 || s[0] != ' ' || !is_digit(s[1])) return false;
  int v;
  size_t i = 1 + parse_int(s, 1, &v);
  if (i >= s.size() || s[i] != ')') return false;
  i++;
  if (s.compare(i, 3, "의") == 0 && i + 3 < s.size() && is_digit(s[i + 3])) i += 3 + parse_int(s, i + 3, &v);
  if (i < s.size() && s[i] != ' ') return false;
  *label = s.substr(1, i - 1);
  *rest = s.substr(i);
  return true;
}

void append_text(std::string* dst, const std::string& more) {
  if (more.empty()) return;
  if (!dst->empty()) *dst += ' ';
  *dst += more;
}

void render_items(const std::vector<Item>& items, std::string* out) {
  for (const Item& it : items) {
    bool detail = !it.label.empty() && it.label.find(')') != std::string::npos;
    *out += "\n" + it.label + (detail ? " " : ". ") + it.text;
    render_items(it.children, out);
  }
}

std::string render_text(const Article& a) {
  if (a.deleted) return "삭제";
  std::string out;
  for (const Paragraph& p : a.paragraphs) {
    std::string block = p.number ? std::string(kCircled[p.number - 1]) + (p.text.empty() ? "" : " ") + p.text
                                 : p.text;
    render_items(p.items, &block);
    if (!block.empty() && block[0] == '\n') block.erase(0, 1);  // unnumbered paragraph without text
    if (!out.empty()) out += "\n";
    out += block;
  }
  return out;
}

}  // namespace beop::statutes::lines
