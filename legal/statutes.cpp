// legalize-kr statute Markdown -> articles. Grammar and error policy: statutes.h. JSONL schema: docs/DATA.md.
#include "legal/statutes.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "legal/statute_lines.h"
#include "src/common.h"
#include "src/io.h"
#include "src/text.h"
#include "src/utf8.h"

namespace beop::statutes {

using namespace lines;

std::string Issue::str() const { return line ? cat(file, ":", line, ": ", message) : cat(file, ": ", message); }

namespace {

// Step 1: the file's lines (LF or CRLF; a BOM dropped). False, with the issue, when a line is not valid UTF-8:
// the whole file is skipped (the line recognisers assume valid text).
bool read_lines(const std::string& text, ParsedLaw& law, const std::string& file, std::vector<std::string>* lines) {
  *lines = split_lines(text);
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) (*lines)[0].erase(0, 3);  // tolerate a BOM
  for (size_t i = 0; i < lines->size(); i++) {
    size_t bad = utf8_invalid_offset((*lines)[i]);
    if (bad != std::string::npos) {
      law.issues.push_back({file, int(i) + 1, cat("invalid UTF-8 at byte ", bad, " of the line; file skipped")});
      law.skipped = true;
      return false;
    }
  }
  return true;
}

// Step 2: the YAML front matter -> law.info. Returns the index of its closing "---" line, or 0 (with the issue,
// law.skipped set) when the file has no usable front matter.
size_t read_front_matter(const std::vector<std::string>& lines, ParsedLaw& law, const std::string& file) {
  auto skip_file = [&](const std::string& msg) {
    law.issues.push_back({file, 1, msg + "; file skipped"});
    law.skipped = true;
    return size_t(0);
  };
  if (lines.empty() || trim(lines[0]) != "---") return skip_file("no YAML front matter (first line must be '---')");
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
      law.issues.push_back({file, int(end) + 1, "front matter line is not 'key: value': " + clip(l, 80)});
      continue;
    }
    last_key = trim(l.substr(0, colon));
    fm[last_key] = unquote(l.substr(colon + 1));
  }
  if (end >= lines.size()) return skip_file("front matter not closed by '---'");
  LawInfo& info = law.info;
  info.title = fm["제목"];
  if (info.title.empty()) return skip_file("front matter has no 제목");
  info.kind = fm["법령구분"];
  info.promulgation_date = fm["공포일자"];
  info.effective_date = fm["시행일자"];
  info.promulgation_no = fm["공포번호"];
  info.mst = fm["법령MST"];
  info.law_id = fm["법령ID"];
  info.status = fm["상태"];
  info.source_url = fm["출처"];
  if (info.kind.empty()) law.issues.push_back({file, 1, "front matter has no 법령구분"});
  if (info.effective_date.empty()) law.issues.push_back({file, 1, "front matter has no 시행일자"});
  if (info.promulgation_date.empty()) law.issues.push_back({file, 1, "front matter has no 공포일자"});
  return end;
}

// Step 3: the body, one non-blank line at a time. The state: the section path above the current article,
// the article being filled and the block (paragraph, item, sub-item, detail) continuation lines extend.
class BodyParser {
 public:
  BodyParser(ParsedLaw& law, const std::string& file) : law_(law), file_(file) {}

  void line(const std::string& s, int ln) {
    size_t hashes = 0;  // '#'..'####' + space = section; '#####' = article
    while (hashes < s.size() && s[hashes] == '#') hashes++;
    bool bold_heading = starts_with(s, "**") && ends_with(s, "**") && s.size() > 4 && !circled_at(s, 2);
    if ((hashes >= 1 && hashes <= 4 && hashes < s.size() && s[hashes] == ' ') || bold_heading)
      section_heading(bold_heading ? s.substr(2, s.size() - 4) : s.substr(hashes + 1), bold_heading ? 5 : int(hashes));
    else if (hashes >= 5)
      article_heading(s, ln);
    else if (skipping_)
      law_.skipped_lines++;
    else if (!art_)
      outside_article(s, ln);
    else
      article_line(s, ln);
  }

  // Ends the last article and reports articles whose heading had no body (kept, with empty paragraphs).
  void finish() {
    close_article();
    for (const Article& a : law_.articles)
      if (!a.deleted && a.paragraphs.empty()) issue(a.line, "article " + a.id + " has no text");
  }

 private:
  void issue(int ln, const std::string& msg) { law_.issues.push_back({file_, ln, msg}); }
  void bad_line(int ln, const std::string& msg) {
    issue(ln, msg);
    law_.skipped_lines++;
  }
  void close_article() {
    if (art_) art_->text = render_text(*art_);
    art_ = nullptr;
    cur_item_ = cur_sub_ = cur_detail_ = nullptr;
    last_text_ = nullptr;
    last_notes_ = nullptr;
  }
  Paragraph& para() {  // the current paragraph, creating the unnumbered one if needed
    if (art_->paragraphs.empty()) art_->paragraphs.push_back(Paragraph{});
    return art_->paragraphs.back();
  }
  void continue_block(const std::string& s) {  // appends a continuation line to the current block
    std::vector<std::string> notes;
    append_text(last_text_, strip_notes(trim(s), &notes));
    last_notes_->insert(last_notes_->end(), notes.begin(), notes.end());
  }

  // 편/장/절/관 heading or bold sub-heading: updates the path (the first "# <제목>" is the title, not a section).
  void section_heading(const std::string& text, int level) {
    close_article();
    skipping_ = false;
    in_preamble_ = false;
    std::vector<std::string> ignored;
    std::string h = strip_notes(trim(text), &ignored);
    if (level == 1 && !seen_title_ && h == law_.info.title) {
      seen_title_ = true;
      return;
    }
    while (!path_.empty() && path_.back().first >= level) path_.pop_back();
    path_.emplace_back(level, h);
  }

  void article_heading(const std::string& s, int ln) {
    close_article();
    in_preamble_ = false;
    Article a;
    if (!parse_article_heading(s, &a)) {
      bad_line(ln, "article heading does not match '##### 제N조[의M] [(제목)]': " + clip(s, 120));
      skipping_ = true;  // its body cannot be attributed to an article
      return;
    }
    skipping_ = false;
    a.law = law_.info.title;
    a.effective_date = law_.info.effective_date;
    a.file = file_;
    a.line = ln;
    for (const auto& p : path_) a.chapter_path.push_back(p.second);
    law_.articles.push_back(std::move(a));
    art_ = &law_.articles.back();
  }

  // Outside any article: only the constitution's preamble ("전문" after the title) is allowed.
  void outside_article(const std::string& s, int ln) {
    std::string& preamble = law_.info.preamble;
    if (in_preamble_) {
      preamble += (preamble.empty() ? "" : "\n") + trim(s);
    } else if (trim(s) == "전문" && law_.articles.empty() && path_.empty() && preamble.empty()) {
      in_preamble_ = true;
    } else {
      bad_line(ln, law_.articles.empty() ? "text before the first article: " + clip(trim(s), 60)
                                         : "text outside an article: " + clip(trim(s), 60));
    }
  }

  // Inside an article: a paragraph, item, sub-item or detail starts, or the current block continues.
  void article_line(const std::string& s, int ln) {
    std::string label, rest;
    if (art_->deleted) {
      bad_line(ln, "text after 삭제 in a deleted article " + art_->id);
    } else if (starts_with(s, "**") && circled_at(s, 2) && s.compare(2 + 3, 2, "**") == 0) {
      Paragraph p;
      p.number = circled_at(s, 2);
      p.text = strip_notes(trim(s.substr(7)), &p.notes);
      if (!art_->paragraphs.empty() && art_->paragraphs.back().number >= p.number)
        issue(ln, cat("paragraph ", kCircled[p.number - 1], " out of order in ", art_->id, " (kept)"));
      art_->paragraphs.push_back(std::move(p));
      cur_item_ = cur_sub_ = cur_detail_ = nullptr;
      set_block(&art_->paragraphs.back().text, &art_->paragraphs.back().notes);
    } else if (match_item(s, &label, &rest)) {
      Paragraph& p = para();
      p.items.push_back(new_item(label, rest));
      cur_item_ = &p.items.back();
      cur_sub_ = cur_detail_ = nullptr;
      set_block(&cur_item_->text, &cur_item_->notes);
    } else if (match_subitem(s, &label, &rest)) {
      if (!cur_item_) return bad_line(ln, "목 '" + label + "' without a preceding 호 in " + art_->id);
      cur_item_->children.push_back(new_item(label, rest));
      cur_sub_ = &cur_item_->children.back();
      cur_detail_ = nullptr;
      set_block(&cur_sub_->text, &cur_sub_->notes);
    } else if (match_detail(s, &label, &rest)) {
      Item* parent = cur_sub_ ? cur_sub_ : cur_item_;  // 세목 normally sit under a 목
      if (!parent) return bad_line(ln, "세목 '" + label + "' without a preceding 호/목 in " + art_->id);
      parent->children.push_back(new_item(label, rest));
      cur_detail_ = &parent->children.back();
      set_block(&cur_detail_->text, &cur_detail_->notes);
    } else if (is_ws(s[0]) && last_text_) {
      continue_block(s);
    } else if (art_->paragraphs.empty() && starts_with(trim(s), "삭제") &&
               strip_notes(trim(s), &art_->notes) == "삭제") {
      art_->deleted = true;
    } else if (s[0] == '[' && s.back() == ']' && !note_content(s.substr(1, s.size() - 2)).empty()) {
      art_->notes.push_back(note_content(s.substr(1, s.size() - 2)));  // "[본조신설 2008.3.21]"
    } else if (art_->paragraphs.empty()) {
      Paragraph& p = para();
      p.text = strip_notes(trim(s), &p.notes);
      set_block(&p.text, &p.notes);
    } else if (last_text_) {
      continue_block(s);
    } else {
      bad_line(ln, "unrecognised line in " + art_->id + ": " + clip(trim(s), 60));
    }
  }

  static Item new_item(const std::string& label, const std::string& rest) {
    Item it;
    it.label = label;
    it.text = strip_notes(trim(rest), &it.notes);
    return it;
  }
  void set_block(std::string* text, std::vector<std::string>* notes) {
    last_text_ = text;
    last_notes_ = notes;
  }

  ParsedLaw& law_;
  const std::string& file_;
  std::vector<std::pair<int, std::string>> path_;  // (level, heading) stack
  bool seen_title_ = false, in_preamble_ = false, skipping_ = false;
  Article* art_ = nullptr;             // the article being filled, or null outside articles
  Item* cur_item_ = nullptr;           // last 호 of the current paragraph
  Item* cur_sub_ = nullptr;            // last 목 of the current 호
  Item* cur_detail_ = nullptr;         // last 세목
  std::string* last_text_ = nullptr;   // where continuation lines go
  std::vector<std::string>* last_notes_ = nullptr;
};

}  // namespace

ParsedLaw parse_statute(const std::string& text, const std::string& file) {
  ParsedLaw law;
  std::vector<std::string> lines;
  if (!read_lines(text, law, file, &lines)) return law;
  const size_t end = read_front_matter(lines, law, file);
  if (end == 0) return law;
  BodyParser body(law, file);
  for (size_t li = end + 1; li < lines.size(); li++) {
    const std::string& s = lines[li];
    if (starts_with(s, "## 부칙")) break;  // the supplementary provisions are not parsed
    if (!trim(s).empty()) body.line(s, int(li) + 1);
  }
  body.finish();
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

}  // namespace beop::statutes
