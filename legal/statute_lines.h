// The statute line grammar, internal to the parser (statutes.cpp): recognisers for each kind of line of a
// legalize-kr statute file, amendment-note handling and the plain-text rendering of an article. Lines are
// valid UTF-8 (parse_statute rejects a file with an invalid line before any of these run).
#pragma once
#include <string>
#include <vector>

#include "legal/statutes.h"

namespace beop::statutes::lines {

bool starts_with(const std::string& s, const char* p);
bool ends_with(const std::string& s, const char* p);
bool is_ws(char c);                        // C isspace(): the statute files' whitespace
std::string trim(const std::string& s);    // strips is_ws characters
bool is_digit(char c);
char32_t cp_at(const std::string& s, size_t i, size_t* len);
bool is_hangul_syllable(char32_t c);
std::string clip(const std::string& s, size_t max_bytes);  // at most max_bytes, cut at a character, for messages
size_t parse_int(const std::string& s, size_t i, int* v);

// "<개정 2015.1.6>" inner text -> the note ("개정 2015.1.6"), or "" when the bracketed text is not a note.
std::string note_content(const std::string& inner);
// s without its amendment notes, which are appended to *notes.
std::string strip_notes(const std::string& s, std::vector<std::string>* notes);
std::string unquote(std::string v);        // a front-matter value without its quotes

extern const char* const kCircled[20];     // ① .. ⑳
int circled_at(const std::string& s, size_t i);  // 1..20 for a circled number at s[i], else 0
bool parse_article_heading(const std::string& s, Article* a);  // "##### 제3조의2 (제목)"
bool match_item(const std::string& s, std::string* label, std::string* rest);     // 호 "  1\. "
bool match_subitem(const std::string& s, std::string* label, std::string* rest);  // 목 "    가\. "
bool match_detail(const std::string& s, std::string* label, std::string* rest);   // 세목 " 1) "

void append_text(std::string* dst, const std::string& more);  // joins a continuation line with a space
std::string render_text(const Article& a);                    // Article::text

}  // namespace beop::statutes::lines
