// legalize-kr statute Markdown -> articles. Grammar and error policy: statutes.h. JSONL schema: docs/DATA.md.
#include "legal/statutes.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "src/common.h"
#include "src/io.h"

namespace beop::statutes {

namespace {

// ---- small string helpers (UTF-8 aware where it matters) ------------------------------------------------

bool starts_with(const std::string& s, const char* p) { return s.compare(0, std::strlen(p), p) == 0; }
bool ends_with(const std::string& s, const char* p) {
  size_t n = std::strlen(p);
  return s.size() >= n && s.compare(s.size() - n, n, p) == 0;
}
bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && is_ws(s[a])) a++;
  while (b > a && is_ws(s[b - 1])) b--;
  return s.substr(a, b - a);
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Decodes the code point at s[i] (assumes valid UTF-8; returns 0xFFFD and length 1 on a bad byte).
char32_t cp_at(const std::string& s, size_t i, size_t* len) {
  auto b = static_cast<unsigned char>(s[i]);
  int n = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
  if (n == 0 || i + size_t(n) > s.size()) {
    *len = 1;
    return 0xFFFD;
  }
  char32_t c = n == 1 ? b : n == 2 ? (b & 0x1F) : n == 3 ? (b & 0x0F) : (b & 0x07);
  for (int k = 1; k < n; k++) c = (c << 6) | (static_cast<unsigned char>(s[i + size_t(k)]) & 0x3F);
  *len = size_t(n);
  return c;
}
bool is_hangul_syllable(char32_t c) { return c >= 0xAC00 && c <= 0xD7A3; }

// Byte offset of the first invalid UTF-8 sequence in s, or npos when s is valid (no overlongs/surrogates).
size_t utf8_invalid_at(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    auto b = static_cast<unsigned char>(s[i]);
    int n = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || i + size_t(n) > s.size()) return i;
    char32_t c = n == 1 ? b : n == 2 ? (b & 0x1F) : n == 3 ? (b & 0x0F) : (b & 0x07);
    for (int k = 1; k < n; k++) {
      auto cb = static_cast<unsigned char>(s[i + size_t(k)]);
      if ((cb & 0xC0) != 0x80) return i;
      c = (c << 6) | (cb & 0x3F);
    }
    static const char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < kMin[n] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return i;
    i += size_t(n);
  }
  return std::string::npos;
}

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

const char* kCircled[] = {"①", "②", "③", "④", "⑤", "⑥", "⑦", "⑧", "⑨", "⑩",
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

}  // namespace

std::string Issue::str() const { return line ? cat(file, ":", line, ": ", message) : cat(file, ": ", message); }

ParsedLaw parse_statute(const std::string& text, const std::string& file) {
  ParsedLaw law;
  auto issue = [&](int line, const std::string& msg) { law.issues.push_back({file, line, msg}); };

  std::vector<std::string> lines;
  for (size_t i = 0; i <= text.size();) {
    size_t nl = text.find('\n', i);
    if (nl == std::string::npos) nl = text.size();
    std::string l = text.substr(i, nl - i);
    if (!l.empty() && l.back() == '\r') l.pop_back();
    lines.push_back(l);
    i = nl + 1;
  }
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) lines[0].erase(0, 3);  // tolerate a BOM
  for (size_t i = 0; i < lines.size(); i++) {
    size_t bad = utf8_invalid_at(lines[i]);
    if (bad != std::string::npos) {
      issue(int(i) + 1, cat("invalid UTF-8 at byte ", bad, " of the line; file skipped"));
      law.skipped = true;
      return law;
    }
  }

  // Front matter.
  if (lines.empty() || trim(lines[0]) != "---") {
    issue(1, "no YAML front matter (first line must be '---'); file skipped");
    law.skipped = true;
    return law;
  }
  size_t end = 1;
  std::map<std::string, std::string> fm;
  std::string last_key;
  for (; end < lines.size() && trim(lines[end]) != "---"; end++) {
    const std::string& l = lines[end];
    if (l.empty()) continue;
    if (l[0] == '-' && !last_key.empty()) {  // "- 법무부": a list item of the last key
      if (last_key == "소관부처") law.info.ministries.push_back(unquote(l.substr(1)));
      continue;
    }
    if (is_ws(l[0])) continue;  // nested map lines (첨부파일)
    size_t colon = l.find(':');
    if (colon == std::string::npos) {
      issue(int(end) + 1, "front matter line is not 'key: value': " + clip(l, 80));
      continue;
    }
    last_key = trim(l.substr(0, colon));
    fm[last_key] = unquote(l.substr(colon + 1));
  }
  if (end >= lines.size()) {
    issue(1, "front matter not closed by '---'; file skipped");
    law.skipped = true;
    return law;
  }
  LawInfo& info = law.info;
  info.title = fm["제목"];
  if (info.title.empty()) {
    issue(1, "front matter has no 제목; file skipped");
    law.skipped = true;
    return law;
  }
  info.kind = fm["법령구분"];
  info.promulgation_date = fm["공포일자"];
  info.effective_date = fm["시행일자"];
  info.promulgation_no = fm["공포번호"];
  info.mst = fm["법령MST"];
  info.law_id = fm["법령ID"];
  info.status = fm["상태"];
  info.source_url = fm["출처"];
  if (info.kind.empty()) issue(1, "front matter has no 법령구분");
  if (info.effective_date.empty()) issue(1, "front matter has no 시행일자");
  if (info.promulgation_date.empty()) issue(1, "front matter has no 공포일자");

  // Body.
  std::vector<std::pair<int, std::string>> path;  // (level, heading) stack
  bool seen_title = false, in_preamble = false, skipping = false;
  Article* art = nullptr;           // the article being filled, or null outside articles
  Item* cur_item = nullptr;         // last 호 of the current paragraph
  Item* cur_sub = nullptr;          // last 목 of the current 호
  Item* cur_detail = nullptr;       // last 세목
  std::string* last_text = nullptr; // where continuation lines go
  std::vector<std::string>* last_notes = nullptr;

  auto close_article = [&] {
    if (art) art->text = render_text(*art);
    art = nullptr;
    cur_item = cur_sub = cur_detail = nullptr;
    last_text = nullptr;
    last_notes = nullptr;
  };
  auto para = [&]() -> Paragraph& {  // the current paragraph, creating the unnumbered one if needed
    if (art->paragraphs.empty()) art->paragraphs.push_back(Paragraph{});
    return art->paragraphs.back();
  };
  auto bad_line = [&](int ln, const std::string& msg) {
    issue(ln, msg);
    law.skipped_lines++;
  };

  for (size_t li = end + 1; li < lines.size(); li++) {
    const std::string& s = lines[li];
    const int ln = int(li) + 1;
    if (starts_with(s, "## 부칙")) break;
    if (trim(s).empty()) continue;

    // Headings: '#'..'####' + space = section; '#####' = article.
    size_t hashes = 0;
    while (hashes < s.size() && s[hashes] == '#') hashes++;
    bool bold_heading = starts_with(s, "**") && ends_with(s, "**") && s.size() > 4 && !circled_at(s, 2);
    if ((hashes >= 1 && hashes <= 4 && hashes < s.size() && s[hashes] == ' ') || bold_heading) {
      close_article();
      skipping = false;
      in_preamble = false;
      std::vector<std::string> ignored;
      std::string h = bold_heading ? s.substr(2, s.size() - 4) : s.substr(hashes + 1);
      h = strip_notes(trim(h), &ignored);
      int level = bold_heading ? 5 : int(hashes);
      if (level == 1 && !seen_title && h == info.title) {
        seen_title = true;
        continue;
      }
      while (!path.empty() && path.back().first >= level) path.pop_back();
      path.emplace_back(level, h);
      continue;
    }
    if (hashes >= 5) {
      close_article();
      in_preamble = false;
      Article a;
      if (!parse_article_heading(s, &a)) {
        bad_line(ln, "article heading does not match '##### 제N조[의M] [(제목)]': " + clip(s, 120));
        skipping = true;  // its body cannot be attributed to an article
        continue;
      }
      skipping = false;
      a.law = info.title;
      a.effective_date = info.effective_date;
      a.file = file;
      a.line = ln;
      for (const auto& p : path) a.chapter_path.push_back(p.second);
      law.articles.push_back(std::move(a));
      art = &law.articles.back();
      continue;
    }
    if (skipping) {
      law.skipped_lines++;
      continue;
    }

    if (!art) {
      // Outside any article: only the constitution's preamble ("전문" after the title) is allowed.
      if (in_preamble) {
        info.preamble += (info.preamble.empty() ? "" : "\n") + trim(s);
        continue;
      }
      if (trim(s) == "전문" && law.articles.empty() && path.empty() && info.preamble.empty()) {
        in_preamble = true;
        continue;
      }
      bad_line(ln, law.articles.empty() ? "text before the first article: " + clip(trim(s), 60)
                                        : "text outside an article: " + clip(trim(s), 60));
      continue;
    }

    // Inside an article.
    std::string label, rest;
    if (art->deleted) {
      bad_line(ln, "text after 삭제 in a deleted article " + art->id);
      continue;
    }
    if (starts_with(s, "**") && circled_at(s, 2) && s.compare(2 + 3, 2, "**") == 0) {
      Paragraph p;
      p.number = circled_at(s, 2);
      p.text = strip_notes(trim(s.substr(7)), &p.notes);
      if (!art->paragraphs.empty() && art->paragraphs.back().number >= p.number)
        issue(ln, cat("paragraph ", kCircled[p.number - 1], " out of order in ", art->id, " (kept)"));
      art->paragraphs.push_back(std::move(p));
      cur_item = cur_sub = cur_detail = nullptr;
      last_text = &art->paragraphs.back().text;
      last_notes = &art->paragraphs.back().notes;
    } else if (match_item(s, &label, &rest)) {
      Item it;
      it.label = label;
      it.text = strip_notes(trim(rest), &it.notes);
      Paragraph& p = para();
      p.items.push_back(std::move(it));
      cur_item = &p.items.back();
      cur_sub = cur_detail = nullptr;
      last_text = &cur_item->text;
      last_notes = &cur_item->notes;
    } else if (match_subitem(s, &label, &rest)) {
      if (!cur_item) {
        bad_line(ln, "목 '" + label + "' without a preceding 호 in " + art->id);
        continue;
      }
      Item it;
      it.label = label;
      it.text = strip_notes(trim(rest), &it.notes);
      cur_item->children.push_back(std::move(it));
      cur_sub = &cur_item->children.back();
      cur_detail = nullptr;
      last_text = &cur_sub->text;
      last_notes = &cur_sub->notes;
    } else if (match_detail(s, &label, &rest)) {
      Item* parent = cur_sub ? cur_sub : cur_item;  // 세목 normally sit under a 목
      if (!parent) {
        bad_line(ln, "세목 '" + label + "' without a preceding 호/목 in " + art->id);
        continue;
      }
      Item it;
      it.label = label;
      it.text = strip_notes(trim(rest), &it.notes);
      parent->children.push_back(std::move(it));
      cur_detail = &parent->children.back();
      last_text = &cur_detail->text;
      last_notes = &cur_detail->notes;
    } else if (is_ws(s[0]) && last_text) {
      std::vector<std::string> notes;
      append_text(last_text, strip_notes(trim(s), &notes));
      last_notes->insert(last_notes->end(), notes.begin(), notes.end());
    } else if (art->paragraphs.empty() && starts_with(trim(s), "삭제") &&
               strip_notes(trim(s), &art->notes) == "삭제") {
      art->deleted = true;
    } else if (s[0] == '[' && s.back() == ']' && !note_content(s.substr(1, s.size() - 2)).empty()) {
      art->notes.push_back(note_content(s.substr(1, s.size() - 2)));  // "[본조신설 2008.3.21]"
    } else if (art->paragraphs.empty()) {
      Paragraph& p = para();
      p.text = strip_notes(trim(s), &p.notes);
      last_text = &p.text;
      last_notes = &p.notes;
    } else if (last_text) {
      std::vector<std::string> notes;
      append_text(last_text, strip_notes(trim(s), &notes));
      last_notes->insert(last_notes->end(), notes.begin(), notes.end());
    } else {
      bad_line(ln, "unrecognised line in " + art->id + ": " + clip(trim(s), 60));
    }
  }
  close_article();
  // Articles whose heading had no body at all are kept (empty paragraphs) but reported.
  for (const Article& a : law.articles)
    if (!a.deleted && a.paragraphs.empty()) issue(a.line, "article " + a.id + " has no text");
  return law;
}

ParsedLaw parse_statute_file(const std::string& path) {
  return parse_statute(read_file(path), std::filesystem::path(path).filename().string());
}

std::vector<ParsedLaw> parse_statute_dir(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.is_regular_file() && e.path().extension() == ".md") files.push_back(e.path().string());
  if (ec) fail("cannot list statutes directory ", dir, ": ", ec.message());
  std::sort(files.begin(), files.end());
  std::vector<ParsedLaw> out;
  for (const auto& f : files) out.push_back(parse_statute_file(f));
  return out;
}

std::string citation(const std::string& law, const std::string& article_id, int paragraph, const std::string& item,
                     const std::string& subitem) {
  std::string c = law + " " + article_id;
  if (paragraph > 0) c += " 제" + std::to_string(paragraph) + "항";
  // Branch numbers follow the unit, as in the statutes' own cross-references: 호 "1의2" -> "제1호의2",
  // 목 "가의2" -> "가목의2".
  auto with_branch = [](const std::string& label, const char* unit) {
    size_t u = label.find("의");
    return u == std::string::npos ? label + unit : label.substr(0, u) + unit + label.substr(u);
  };
  if (!item.empty()) c += " 제" + with_branch(item, "호");
  if (!subitem.empty()) c += " " + with_branch(subitem, "목");
  return c;
}

namespace {
nlohmann::ordered_json item_json(const Item& it, const std::string& law, const std::string& aid, int para,
                                 const std::string& item_label, int level) {
  nlohmann::ordered_json j;
  j["label"] = it.label;
  j["text"] = it.text;
  j["notes"] = it.notes;
  if (level == 1) j["citation"] = citation(law, aid, para, it.label);
  if (level == 2) j["citation"] = citation(law, aid, para, item_label, it.label);
  if (level <= 2) {
    nlohmann::ordered_json kids = nlohmann::ordered_json::array();
    for (const Item& k : it.children)
      kids.push_back(item_json(k, law, aid, para, level == 1 ? it.label : item_label, level + 1));
    j[level == 1 ? "subitems" : "details"] = kids;
  }
  return j;
}
}  // namespace

std::string article_json_line(const Article& a) {
  nlohmann::ordered_json j;
  j["law"] = a.law;
  j["article_id"] = a.id;
  j["article_no"] = a.number;
  j["branch_no"] = a.branch;
  j["title"] = a.title;
  j["chapter_path"] = a.chapter_path;
  j["citation"] = citation(a.law, a.id);
  j["effective_date"] = a.effective_date;
  j["deleted"] = a.deleted;
  j["notes"] = a.notes;
  nlohmann::ordered_json ps = nlohmann::ordered_json::array();
  for (const Paragraph& p : a.paragraphs) {
    nlohmann::ordered_json pj;
    pj["number"] = p.number;
    pj["citation"] = citation(a.law, a.id, p.number);
    pj["text"] = p.text;
    pj["notes"] = p.notes;
    nlohmann::ordered_json items = nlohmann::ordered_json::array();
    for (const Item& it : p.items) items.push_back(item_json(it, a.law, a.id, p.number, "", 1));
    pj["items"] = items;
    ps.push_back(pj);
  }
  j["paragraphs"] = ps;
  j["text"] = a.text;
  j["source"] = a.file + ":" + std::to_string(a.line);
  // strict UTF-8: invalid bytes in a corrupted file throw instead of writing garbage.
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::strict);
}

int prep_statutes_main(int argc, char** argv) {
  std::string out = "data/build/articles.jsonl", data = data_dir();
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if ((a == "--out" || a == "--data") && i + 1 < argc) {
      (a == "--out" ? out : data) = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: prep statutes [--out FILE] [--data DIR]\n"
                   "  parses DIR/statutes/*.md (legalize-kr Markdown) into one JSON article per line in FILE\n"
                   "  (default data/build/articles.jsonl; DIR defaults to $BEOP_DATA or ../shared/data)\n");
      return (a == "--help" || a == "-h") ? 0 : 2;  // prep convention: 2 = usage error
    }
  }
  try {
    std::string dir = data + "/statutes";
    if (!std::filesystem::is_directory(dir)) dir = data;  // --data may name the statutes folder itself
    std::vector<ParsedLaw> laws = parse_statute_dir(dir);
    if (laws.empty()) fail("no *.md statute files in ", dir);
    std::string body;
    size_t n_articles = 0, n_deleted = 0, n_paras = 0, n_items = 0, skipped_files = 0, skipped_lines = 0,
           n_issues = 0;
    std::printf("%8s %8s %8s %8s  %s\n", "articles", "deleted", "paras", "items", "law");
    for (const ParsedLaw& law : laws) {
      for (const Issue& is : law.issues) std::fprintf(stderr, "%s\n", is.str().c_str());
      n_issues += law.issues.size();
      skipped_lines += size_t(law.skipped_lines);
      if (law.skipped) {
        skipped_files++;
        continue;
      }
      size_t del = 0, paras = 0, items = 0;
      for (const Article& a : law.articles) {
        body += article_json_line(a) + "\n";
        del += a.deleted;
        for (const Paragraph& p : a.paragraphs) paras += p.number > 0, items += p.items.size();
      }
      std::printf("%8zu %8zu %8zu %8zu  %s\n", law.articles.size(), del, paras, items, law.info.title.c_str());
      n_articles += law.articles.size();
      n_deleted += del;
      n_paras += paras;
      n_items += items;
    }
    std::string parent = std::filesystem::path(out).parent_path().string();
    if (!parent.empty()) make_dirs(parent);
    write_file_atomic(out, body);
    std::printf("%zu files (%zu skipped), %zu articles (%zu deleted), %zu 항, %zu 호; %zu issues, %zu lines skipped"
                " -> %s\n",
                laws.size(), skipped_files, n_articles, n_deleted, n_paras, n_items, n_issues, skipped_lines,
                out.c_str());
    return 0;
  } catch (const std::exception& e) {  // beop::Error (I/O) or anything unexpected: one line, exit 1
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}

}  // namespace beop::statutes
