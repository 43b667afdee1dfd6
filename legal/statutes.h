// Parser for legalize-kr statute Markdown (shared/data/statutes/*.md; format in shared/data/README.md) into
// articles (조) with their paragraphs (항), items (호), sub-items (목) and details (세목, "1)"), and their JSONL
// form (schema: docs/DATA.md, "Statute parser"; `prep statutes`, data/prep/prep_statutes.h, writes the file).
//
// Line grammar (everything before the first "## 부칙" line; the supplementary provisions are not parsed):
//   ---\n<YAML>\n---      front matter: flat `key: value` lines and `- item` lists (제목 is required)
//   # .. ####  text       편/장/절/관 headings; the first "# <제목>" is the law's title, not part of the path
//   **text**              a bold sub-heading below 관 (민법 "**제1항 협의상 파양**"), path level 5
//   ##### 제N조[의M] [(제목)]   an article (title optional: 대한민국헌법 has none)
//   **①** text            a paragraph (①..⑳); text without a marker right after the heading = unnumbered paragraph
//   "  N\. text"          an item (호), also "  N의M\. text"
//   "    가\. text"        a sub-item (목)
//   " N) text"            a detail (세목), also " N)의M text"
//   other lines starting with whitespace: continuation of the block above (joined with a space)
//   삭제 <YYYY.M.D>        as the whole body: a deleted article
// Inline notes <개정 ...>, <신설 ...>, <전문개정 ...> (and <YYYY.M.D> after 삭제) are cut from the text and kept in
// `notes` of the block they were on. Problems are collected as Issues (file:line: message) instead of thrown,
// so one bad file or line never stops a run: a file without front matter or 제목 is skipped whole; a bad line
// (an article heading that does not parse, text before the first article) is skipped with its article body.
#pragma once
#include <string>
#include <vector>

namespace beop::statutes {

struct Item {                       // 호 (level 1), 목 (level 2) or 세목 (level 3)
  std::string label;                // as written, without the trailing "\.": "1", "1의2", "가", "1)", "1)의2"
  std::string text;                 // notes removed
  std::vector<std::string> notes;   // e.g. "개정 2015.1.6"
  std::vector<Item> children;       // 호 -> 목 -> 세목
};

struct Paragraph {                  // 항
  int number = 0;                   // 1..20 for ①..⑳; 0 = the unnumbered text of an article without ①
  std::string text;
  std::vector<std::string> notes;
  std::vector<Item> items;          // 호
};

struct Article {
  std::string law;                  // 제목 from the front matter, e.g. "주택임대차보호법"
  std::string id;                   // "제3조", "제3조의2"
  int number = 0, branch = 0;       // 3, 2 for 제3조의2; branch 0 = none
  std::string title;                // "대항력 등"; empty when the heading has none (헌법)
  std::vector<std::string> chapter_path;  // e.g. {"제1편 총칙", "제1장 통칙"}, notes removed
  std::vector<Paragraph> paragraphs;      // empty for a deleted article
  std::string text;                 // plain text of the body, one block per line ("① ...", "1. ...", "가. ...")
  std::string effective_date;       // 시행일자 of the law (YYYY-MM-DD): the texts carry no per-article dates
  bool deleted = false;
  std::vector<std::string> notes;   // article-level notes (삭제 date, bracketed [본조신설 ...] lines)
  std::string file;                 // source file name (no directory)
  int line = 0;                     // 1-based line of the heading
};

struct LawInfo {
  std::string title, kind, promulgation_date, effective_date, promulgation_no, mst, law_id, status, source_url;
  std::vector<std::string> ministries;  // 소관부처
  std::string preamble;             // 대한민국헌법 "전문" text, else empty
};

struct Issue {
  std::string file;
  int line = 0;                     // 0 = whole file
  std::string message;
  std::string str() const;          // "file:line: message"
};

struct ParsedLaw {
  LawInfo info;
  std::vector<Article> articles;    // in file order
  std::vector<Issue> issues;
  bool skipped = false;             // whole file rejected (no front matter / no 제목)
  int skipped_lines = 0;            // non-blank body lines dropped because of an issue
};

// Parses one file's contents; `file` is used in Articles and Issues. Never throws on bad input.
ParsedLaw parse_statute(const std::string& text, const std::string& file);
// Reads and parses one file (throws beop::Error only when the file cannot be read).
ParsedLaw parse_statute_file(const std::string& path);
// Every *.md in `dir`, sorted by file name (byte order), so output order is deterministic.
std::vector<ParsedLaw> parse_statute_dir(const std::string& dir);

// Canonical citation: "주택임대차보호법 제3조", "... 제3조 제1항", "... 제3조 제1항 제2호", "... 제2조 제1호의2 가목".
// paragraph 0 = no 항 (article-level, or an item of an unnumbered paragraph); empty item/subitem = omitted.
std::string citation(const std::string& law, const std::string& article_id, int paragraph = 0,
                     const std::string& item = "", const std::string& subitem = "");

// The article as one JSON object (docs/DATA.md), dumped on one line, UTF-8, keys in schema order.
std::string article_json_line(const Article& a);

}  // namespace beop::statutes
