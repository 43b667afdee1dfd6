// The law-QA fact check: an item (question, answer, citation) is kept only when its citation resolves and its
// answer agrees with the cited text on what can be checked mechanically (quotes, numbers with units, negation,
// named articles) and addresses its question. Used for template and endpoint items alike (docs/DATA.md).
#include <algorithm>

#include "legal/lawqa.h"
#include "legal/lawqa_facts.h"
#include "legal/metrics/rouge.h"
#include "src/common.h"
#include "src/utf8.h"

namespace beop::lawqa {

std::vector<std::string> quoted_spans(const std::string& s) {
  static const std::pair<char32_t, char32_t> kPairs[] = {
      {U'「', U'」'}, {U'“', U'”'}, {U'‘', U'’'}, {U'"', U'"'}, {U'\'', U'\''}, {U'『', U'』'}};
  auto cps = utf8_decode(s, Utf8Bad::kReplace);
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

namespace {

// Articles the answer names: "제3조", "제3조의2", with the law written before it when there is one
// ("「민법」 제162조", "근로기준법 제36조"); law "" = none named.
struct Named {
  std::string law, id;
};
std::vector<Named> named_articles(const CitationIndex& index, const std::string& s) {
  std::vector<Named> out;
  auto digit = [&](size_t i) { return i < s.size() && s[i] >= '0' && s[i] <= '9'; };
  for (size_t p = s.find("제"); p != std::string::npos; p = s.find("제", p + 3)) {
    size_t j = p + 3;
    if (!digit(j)) continue;
    while (digit(j)) j++;
    if (s.compare(j, 3, "조") != 0) continue;
    j += 3;
    if (s.compare(j, 3, "의") == 0 && digit(j + 3)) {
      j += 3;
      while (digit(j)) j++;
    }
    Named n;
    n.id = s.substr(p, j - p);
    std::string before = CitationIndex::normalize(s.substr(p > 60 ? p - 60 : 0, p > 60 ? 60 : p));
    size_t best = 0;
    for (auto& t : index.law_titles()) {
      std::string nt = CitationIndex::normalize(t);
      if (nt.size() > best && before.size() >= nt.size() &&
          before.compare(before.size() - nt.size(), nt.size(), nt) == 0)
        best = nt.size(), n.law = t;
    }
    out.push_back(n);
  }
  return out;
}

std::string without_law_names(const CitationIndex& index, std::string s) {
  for (auto& t : index.law_titles())
    for (size_t p = s.find(t); p != std::string::npos; p = s.find(t, p)) s.replace(p, t.size(), " ");
  return s;
}

}  // namespace

Verdict verify_item(const CitationIndex& index, const std::string& question, const std::string& answer,
                    const std::string& citation, double min_rouge) {
  Verdict v;
  if (question.empty() || answer.empty() || citation.empty()) {
    v.reason = "empty_field";
    return v;
  }
  const CitationIndex::Entry* e = index.find(citation);
  if (!e) {
    v.reason = "citation_unresolved";
    v.detail = citation;
    return v;
  }
  v.reference = e->text;
  auto reject = [&](const char* reason, const std::string& detail) {
    v.reason = reason;
    v.detail = detail;
    return v;
  };
  for (auto& n : named_articles(index, answer)) {
    std::string law = n.law.empty() ? e->law : n.law;
    bool same = CitationIndex::normalize(law) == CitationIndex::normalize(e->law) && n.id == e->article_id;
    bool mentioned = v.reference.find(n.id) != std::string::npos;  // a cross-reference of the cited text
    if (same || mentioned) continue;
    if (!index.find(law + " " + n.id)) return reject("citation_unresolved", law + " " + n.id);
    if (!n.law.empty()) return reject("citation_mismatch", n.law + " " + n.id + " named, " + e->citation + " cited");
  }
  for (auto& span : quoted_spans(answer)) {
    if (v.reference.find(span) != std::string::npos) continue;
    if (index.is_law_name(span) || index.resolve(span, nullptr)) continue;  // 「민법」, 「민법 제3조」
    if (span.size() > 3 && span.compare(span.size() - 3, 3, "법") == 0 && span.find(' ') == std::string::npos)
      continue;  // a law outside the bundle, as the statutes name it (「국가유산기본법」)
    return reject("quote_not_in_text", span);
  }
  auto text_q = facts::quantities(v.reference);
  for (auto& q : facts::quantities(answer)) {
    std::string why = facts::quantity_conflict(q, text_q);
    if (!why.empty()) return reject("number_mismatch", why);
  }
  std::set<std::pair<std::string, bool>> keys;
  for (auto& p : facts::explicit_polarities(answer)) keys.insert({p.key, p.noun});
  for (auto& p : facts::explicit_polarities(v.reference)) keys.insert({p.key, p.noun});
  for (auto& [k, noun] : keys) {
    auto pa = facts::polarity_of(answer, k, noun), pr = facts::polarity_of(v.reference, k, noun);
    for (int code : pa) {
      bool same_kind = pr.count(code & facts::kCond) || pr.count((code & facts::kCond) | facts::kNeg);
      if (!same_kind || pr.count(code)) continue;  // compared only with uses of the same kind (condition or not)
      bool neg = code & facts::kNeg;
      return reject("negation_mismatch", cat("'", k, "' is ", neg ? "negated" : "affirmed", " in the answer, ",
                                             neg ? "affirmed" : "negated", " in ", e->citation));
    }
  }
  // A closing "(참고: …)" note (the generator's 시행일 line) is about the law, not the question: topic and
  // grounding look at the answer without it (its citations, quotes and numbers were checked above).
  std::string body = answer.substr(0, answer.find("\n(참고: "));
  auto qb = facts::content_bigrams(without_law_names(index, question));
  auto ab = facts::content_bigrams(without_law_names(index, body));
  size_t support = facts::overlap(ab, facts::content_bigrams(v.reference));
  bool supported = ab.empty() || 2 * support >= ab.size();
  // Addressing the question: two shared content bigrams, or one when the answer states the cited rule (a
  // paraphrase in the statute's words: 훔치면 / 절취한 share nothing, 재물 is enough).
  size_t shared = facts::overlap(qb, ab);
  if (qb.size() >= 2 && shared < (supported ? 1u : 2u))
    return reject("off_topic", cat(shared, " content bigrams shared with the question"));
  // ROUGE-L is quadratic in length: a long answer already supported by the text (a whole-article title answer)
  // skips it and reports rouge 0.
  RougeOptions ro;
  ro.tokenize = RougeTokenize::Character;
  if (!(supported && body.size() > 1500)) v.rouge = rouge_l(v.reference, body, ro).fmeasure;
  if (v.rouge < min_rouge && !supported)
    return reject("not_grounded", cat("rougeL_f=", v.rouge, " < ", min_rouge, ", ", support, " of ", ab.size(),
                                      " content bigrams in the article"));
  v.ok = true;
  return v;
}

std::vector<QAItem> verify_items(const CitationIndex& index, std::vector<QAItem> items, double min_rouge,
                                 VerifyReport* report) {
  std::vector<QAItem> kept;
  kept.reserve(items.size());
  for (auto& it : items) {
    report->checked++;
    Verdict v = verify_item(index, it.question, it.answer, it.citation, min_rouge);
    if (v.ok) {
      report->kept++;
      kept.push_back(std::move(it));
      continue;
    }
    if (report->by_reason[v.reason]++ == 0) report->examples.push_back(v.reason + " " + it.citation + ": " + v.detail);
  }
  return kept;
}

}  // namespace beop::lawqa
