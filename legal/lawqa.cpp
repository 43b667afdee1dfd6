// Law QA: conversation lines (their layouts come from legal/prompt.h), statute units, the citation index, the
// template generator and the grounding check. The endpoint generator is in lawqa_endpoint.cpp, `prep lawqa` in
// data/prep/prep_lawqa.cpp.
#include "legal/lawqa.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "legal/metrics/rouge.h"
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
  std::string user = f == Format::RefIn ? prompt::user_with_reference(it.citation, it.reference, it.question) : it.question;
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

bool is_hangul_syllable(char32_t c) { return c >= 0xAC00 && c <= 0xD7A3; }

// Topic particle after s: "은" when the last Hangul syllable has a final consonant (제1항은), else "는" (제3조는).
std::string topic(const std::string& s) {
  auto cps = utf8_decode(s);
  for (size_t i = cps.size(); i-- > 0;)
    if (is_hangul_syllable(cps[i])) return s + ((cps[i] - 0xAC00) % 28 ? "은" : "는");
  return s + "은(는)";
}

Rng stream(uint64_t seed, const std::string& key) {
  uint64_t x = seed ^ 0x6c61777161ull;  // "lawqa"
  return Rng(splitmix64(x) ^ fnv1a64(key));
}

size_t pick(Rng& r, size_t n) { return (size_t)(r.uniform() * (double)n); }

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

// ------------------------------------------------------------------------------------------- template generator

namespace {

// Whitespace-separated words (eojeol) of s that are all Hangul syllables (or ㆍ) and at least 3 code points
// long: the phrases cloze and true/false substitution work with (no digits, brackets or punctuation, so a
// blank or a swap never breaks a number or a cross-reference).
std::vector<std::string> content_words(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n')) i++;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\n') j++;
    if (j > i) {
      std::string w = s.substr(i, j - i);
      auto cps = utf8_decode(w);
      bool ok = cps.size() >= 3;
      for (char32_t c : cps) ok &= is_hangul_syllable(c) || c == 0x318D;
      if (ok) out.push_back(w);
    }
    i = j;
  }
  return out;
}

size_t count_occ(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) n++;
  return n;
}

// The first sentence of a unit's own paragraph text (up to and including the first "다."), used as a
// statement for true/false and multiple choice. Empty when too short or too long to make a good statement.
std::string first_sentence(const Unit& u) {
  std::string head = u.text.substr(0, u.text.find('\n'));
  size_t p = head.find("다.");
  std::string s = p == std::string::npos ? head : head.substr(0, p + 4);  // "다." = 3 + 1 bytes
  size_t cps = utf8_decode(s).size();
  if (cps < 15 || cps > 250) return "";
  return s;
}

struct LawUnits {
  std::vector<const Unit*> units;  // of this law, in file order
};

}  // namespace

std::vector<QAItem> generate_template(const std::vector<Article>& articles, const TemplateOptions& opt) {
  std::set<std::string> types(opt.types.begin(), opt.types.end());
  for (auto& t : types)
    if (t != "content" && t != "title" && t != "cloze" && t != "truefalse" && t != "mc")
      fail("unknown question type '", t, "' (want content, title, cloze, truefalse, mc)");
  std::vector<std::vector<Unit>> units(articles.size());
  std::map<std::string, LawUnits> by_law;
  std::map<std::string, std::map<std::string, int>> title_count;  // law -> title -> articles with it
  for (size_t i = 0; i < articles.size(); i++) {
    units[i] = units_of(articles[i]);
    for (auto& u : units[i]) by_law[articles[i].law].units.push_back(&u);
    if (!articles[i].deleted && !articles[i].title.empty()) title_count[articles[i].law][articles[i].title]++;
  }

  std::vector<QAItem> out;
  auto base = [&](const Unit& u, const char* type) {
    QAItem q;
    q.type = type;
    q.citation = u.citation;
    q.reference = u.text;
    q.law = u.article->law;
    q.article_id = u.article->id;
    q.generator = "template";
    return q;
  };

  for (size_t ai = 0; ai < articles.size(); ai++) {
    const Article& a = articles[ai];
    if (a.deleted) continue;
    const auto& law_units = by_law[a.law].units;

    // title -> content: one per article whose title names exactly one article of its law.
    if (types.count("title") && !a.title.empty() && title_count[a.law][a.title] == 1) {
      QAItem q;
      q.type = "title";
      q.citation = statutes::citation(a.law, a.id);
      q.reference = a.text;
      q.law = a.law;
      q.article_id = a.id;
      q.generator = "template";
      q.question = a.law + "에서 '" + a.title + "'에 관하여 규정한 조문은 무엇이며, 그 내용은 무엇인가요?";
      q.answer = q.citation + "(" + a.title + ")입니다. 그 내용은 다음과 같습니다.\n" + a.text;
      q.key = q.citation;
      out.push_back(std::move(q));
    }

    for (const Unit& u : units[ai]) {
      if (types.count("content")) {
        QAItem q = base(u, "content");
        q.question = topic(u.citation) + " 무엇을 규정하고 있나요?";
        q.answer = topic(u.citation) + " 다음과 같이 규정하고 있습니다.\n" + u.text;
        out.push_back(std::move(q));
      }

      if (types.count("cloze")) {
        Rng r = stream(opt.seed, u.citation + "#cloze");
        std::vector<std::string> cand;
        for (auto& w : content_words(u.text))
          if (count_occ(u.text, w) == 1) cand.push_back(w);
        if (!cand.empty()) {
          std::string w = cand[pick(r, cand.size())];
          std::string blanked = u.text;
          blanked.replace(blanked.find(w), w.size(), "____");
          QAItem q = base(u, "cloze");
          q.question = "다음은 " + u.citation + "의 내용입니다. 빈칸(____)에 들어갈 말은 무엇인가요?\n" + blanked;
          q.answer = "빈칸에 들어갈 말은 \"" + w + "\"입니다.";
          q.key = w;
          out.push_back(std::move(q));
        }
      }

      std::string stmt = first_sentence(u);
      if (types.count("truefalse") && !stmt.empty()) {
        Rng r = stream(opt.seed, u.citation + "#truefalse");
        bool truth = r.uniform() < 0.5;
        std::string shown = stmt;
        if (!truth) {
          // Swap one word of the statement for a word of another article of the same law.
          std::vector<std::string> mine;
          for (auto& w : content_words(stmt))
            if (count_occ(stmt, w) == 1) mine.push_back(w);
          bool swapped = false;
          for (int attempt = 0; attempt < 20 && !mine.empty() && law_units.size() > 1 && !swapped; attempt++) {
            const Unit* other = law_units[pick(r, law_units.size())];
            if (other->article == u.article) continue;
            auto theirs = content_words(other->text);
            if (theirs.empty()) continue;
            std::string from = mine[pick(r, mine.size())], to = theirs[pick(r, theirs.size())];
            if (to == from || stmt.find(to) != std::string::npos) continue;
            shown.replace(shown.find(from), from.size(), to);
            swapped = true;
          }
          if (!swapped) shown.clear();
        }
        if (!shown.empty()) {
          QAItem q = base(u, "truefalse");
          q.question = u.citation + "에 비추어 볼 때, 다음 진술은 옳은가요?\n\"" + shown + "\"";
          q.answer = std::string(truth ? "예, 옳습니다. " : "아니요, 옳지 않습니다. ") + topic(u.citation) + " \"" +
                     stmt + "\"라고 규정하고 있습니다.";
          q.key = truth ? "예" : "아니요";
          out.push_back(std::move(q));
        }
      }

      if (types.count("mc") && !stmt.empty()) {
        Rng r = stream(opt.seed, u.citation + "#mc");
        std::vector<std::string> opts = {stmt};
        for (int attempt = 0; attempt < 60 && opts.size() < 4 && law_units.size() > 1; attempt++) {
          const Unit* other = law_units[pick(r, law_units.size())];
          if (other->article == u.article) continue;
          std::string s = first_sentence(*other);
          if (s.empty() || std::find(opts.begin(), opts.end(), s) != opts.end()) continue;
          opts.push_back(s);
        }
        if (opts.size() == 4) {
          for (size_t i = 3; i > 0; i--) std::swap(opts[i], opts[pick(r, i + 1)]);  // Fisher-Yates
          size_t k = std::find(opts.begin(), opts.end(), stmt) - opts.begin();
          QAItem q = base(u, "mc");
          q.question = "다음 중 " + u.citation + "의 내용으로 옳은 것은?";
          for (size_t i = 0; i < 4; i++) q.question += "\n" + std::to_string(i + 1) + ". " + opts[i];
          q.answer = "정답은 " + std::to_string(k + 1) + "번입니다. " + topic(u.citation) + " \"" + stmt +
                     "\"라고 규정하고 있습니다.";
          q.key = std::to_string(k + 1);
          out.push_back(std::move(q));
        }
      }
    }
  }
  return out;
}

// ------------------------------------------------------------------------------------------- verification

std::vector<std::string> quoted_spans(const std::string& s) {
  static const std::pair<char32_t, char32_t> kPairs[] = {
      {U'「', U'」'}, {U'“', U'”'}, {U'‘', U'’'}, {U'"', U'"'}, {U'\'', U'\''}, {U'『', U'』'}};
  auto cps = utf8_decode(s);
  std::vector<std::string> out;
  for (size_t i = 0; i < cps.size(); i++) {
    for (auto& pr : kPairs) {
      if (cps[i] != pr.first) continue;
      size_t j = i + 1;
      while (j < cps.size() && cps[j] != pr.second) j++;
      if (j >= cps.size()) break;  // unclosed: not a quote
      std::string span = utf8_encode(cps.data() + i + 1, cps.data() + j);
      if (!span.empty()) out.push_back(span);
      i = j;
      break;
    }
  }
  return out;
}

Verdict verify_item(const CitationIndex& index, const std::string& question, const std::string& answer,
                    const std::string& citation, double min_rouge) {
  Verdict v;
  if (question.empty() || answer.empty() || citation.empty()) {
    v.reason = "empty_field";
    return v;
  }
  if (!index.resolve(citation, &v.reference)) {
    v.reason = "citation_unresolved";
    v.detail = citation;
    return v;
  }
  for (auto& span : quoted_spans(answer)) {
    if (v.reference.find(span) != std::string::npos) continue;
    if (index.is_law_name(span) || index.resolve(span, nullptr)) continue;  // 「민법」, 「민법 제3조」
    v.reason = "quote_not_in_text";
    v.detail = span;
    return v;
  }
  RougeOptions ro;
  ro.tokenize = RougeTokenize::Character;
  v.rouge = rouge_l(v.reference, answer, ro).fmeasure;
  if (v.rouge < min_rouge) {
    v.reason = "not_grounded";
    v.detail = cat("rougeL_f=", v.rouge, " < ", min_rouge);
    return v;
  }
  v.ok = true;
  return v;
}

}  // namespace beop::lawqa
