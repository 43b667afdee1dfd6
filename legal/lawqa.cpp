// Law QA: conversation lines (their layouts come from legal/prompt.h), statute units, the citation index, the
// template generator and the grounding check. The endpoint generator is in lawqa_endpoint.cpp, `prep lawqa` in
// data/prep/prep_lawqa.cpp.
#include "legal/lawqa.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "legal/prompt.h"
#include "src/common.h"
#include "src/hash.h"
#include "src/rng.h"
#include "src/utf8.h"

namespace beop::lawqa {

using json = nlohmann::ordered_json;
using statutes::Article;

// ------------------------------------------------------------------------------------------- formats

const char* format_name(Format f) {
  switch (f) {
    case Format::QA: return "qa";
    case Format::RefOut: return "qa_ref_out";
    case Format::RefIn: return "qa_ref_in";
  }
  return "?";
}

Format parse_format(const std::string& s) {
  if (s == "qa") return Format::QA;
  if (s == "qa_ref_out") return Format::RefOut;
  if (s == "qa_ref_in") return Format::RefIn;
  fail("unknown law-QA format '", s, "' (want qa, qa_ref_out or qa_ref_in)");
}

std::string conversation_json_line(const QAItem& it, Format f) {
  std::vector<prompt::Reference> refs = it.refs_in;
  if (refs.empty()) refs.emplace_back(it.citation, it.reference);
  std::string user = f == Format::RefIn ? prompt::user_with_references(refs, it.question) : it.question;
  std::string asst = f == Format::RefOut ? prompt::answer_with_reference(it.answer, it.citation, it.reference) : it.answer;
  json j;
  j["messages"] = json::array({json{{"role", "user"}, {"content", user}}, json{{"role", "assistant"}, {"content", asst}}});
  json m;
  m["source"] = "lawqa";
  m["generator"] = it.generator;
  m["type"] = it.type;
  m["format"] = format_name(f);
  m["citation"] = it.citation;
  m["law"] = it.law;
  m["article_id"] = it.article_id;
  m["key"] = it.key;
  m["style"] = it.style;
  std::string distractor;
  for (auto& r : it.refs_in)
    if (r.first != it.citation) distractor = r.first;
  m["distractor_ref"] = distractor;
  j["meta"] = m;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict) + "\n";
}

// ------------------------------------------------------------------------------------------- units + index

namespace {

void render_items(const std::vector<statutes::Item>& items, std::string* out) {
  for (const auto& it : items) {
    bool detail = it.label.find(')') != std::string::npos;  // 세목 "1)" has no dot (as in Article::text)
    *out += "\n" + it.label + (detail ? " " : ". ") + it.text;
    render_items(it.children, out);
  }
}

std::string block_text(const std::string& head, const std::vector<statutes::Item>& items) {
  std::string s = head;
  render_items(items, &s);
  if (!s.empty() && s[0] == '\n') s.erase(0, 1);
  return s;
}

}  // namespace

std::vector<Unit> units_of(const Article& a) {
  std::vector<Unit> out;
  if (a.deleted) return out;
  bool numbered = false;
  for (auto& p : a.paragraphs) numbered |= p.number > 0;
  for (auto& p : a.paragraphs) {
    if (numbered && p.number == 0) continue;  // stray text before ①: its citation would be the article's
    Unit u;
    u.article = &a;
    u.paragraph = p.number;
    u.citation = statutes::citation(a.law, a.id, p.number);
    u.text = numbered ? block_text(p.text, p.items) : a.text;
    if (u.text.empty()) continue;
    out.push_back(std::move(u));
  }
  return out;
}

std::string CitationIndex::normalize(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') { i++; continue; }
    if (s.compare(i, 3, "「") == 0 || s.compare(i, 3, "」") == 0) { i += 3; continue; }
    out += s[i++];
  }
  return out;
}

void CitationIndex::add(const std::string& law, const std::string& id, const std::string& citation,
                        const std::string& text) {
  text_[normalize(citation)] = Entry{citation, text, law, id};
}

CitationIndex::CitationIndex(const std::vector<Article>& articles) {
  for (auto& a : articles) {
    if (!laws_.count(normalize(a.law))) titles_.push_back(a.law);
    laws_[normalize(a.law)]++;
    if (a.deleted) continue;
    add(a.law, a.id, statutes::citation(a.law, a.id), a.text);
    for (auto& p : a.paragraphs) {
      if (p.number > 0) add(a.law, a.id, statutes::citation(a.law, a.id, p.number), block_text(p.text, p.items));
      for (auto& it : p.items) {
        add(a.law, a.id, statutes::citation(a.law, a.id, p.number, it.label), block_text(it.text, it.children));
        for (auto& sub : it.children)
          add(a.law, a.id, statutes::citation(a.law, a.id, p.number, it.label, sub.label),
              block_text(sub.text, sub.children));
      }
    }
  }
}

const CitationIndex::Entry* CitationIndex::find(const std::string& citation) const {
  auto it = text_.find(normalize(citation));
  return it == text_.end() ? nullptr : &it->second;
}

bool CitationIndex::resolve(const std::string& citation, std::string* text) const {
  const Entry* e = find(citation);
  if (!e) return false;
  if (text) *text = e->text;
  return true;
}

bool CitationIndex::is_law_name(const std::string& s) const { return laws_.count(normalize(s)) > 0; }

std::vector<Article> filter_laws(const std::vector<Article>& all, const std::vector<std::string>& only,
                                 const std::vector<std::string>& exclude) {
  auto key_of = [](const Article& a) {
    std::string stem = a.file.size() > 3 && a.file.compare(a.file.size() - 3, 3, ".md") == 0
                           ? a.file.substr(0, a.file.size() - 3) : a.file;
    return std::make_pair(CitationIndex::normalize(a.law), CitationIndex::normalize(stem));
  };
  std::set<std::string> known;
  for (auto& a : all) {
    auto k = key_of(a);
    known.insert(k.first);
    known.insert(k.second);
  }
  auto norm_set = [&](const std::vector<std::string>& v, const char* flag) {
    std::set<std::string> s;
    for (auto& x : v) {
      std::string n = CitationIndex::normalize(x);
      if (!known.count(n)) fail(flag, ": no parsed statute is named '", x, "'");
      s.insert(n);
    }
    return s;
  };
  auto o = norm_set(only, "--only-laws"), e = norm_set(exclude, "--exclude-laws");
  std::vector<Article> out;
  for (auto& a : all) {
    auto k = key_of(a);
    bool in_only = o.empty() || o.count(k.first) || o.count(k.second);
    bool in_excl = e.count(k.first) || e.count(k.second);
    if (in_only && !in_excl) out.push_back(a);
  }
  return out;
}

}  // namespace beop::lawqa
