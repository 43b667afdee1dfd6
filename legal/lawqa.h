// Statute-grounded law QA (the LegalMiDM recipe): question/answer pairs, each tied to one article or paragraph
// of the parsed statutes (legal/statutes.h), written as conversation JSONL in three layouts:
//   qa          Q => A            user: question;                         assistant: answer
//   qa_ref_out  Q => A + Ref      user: question;                         assistant: prompt::answer_with_reference(...)
//   qa_ref_in   Q + Ref => A      user: prompt::user_with_reference(...); assistant: answer
// Two generators: `template` (deterministic question types over every non-deleted unit) and `endpoint` (an
// OpenAI-compatible /v1/chat/completions server writes the item; every item is verified against the cited text
// before it is kept). Schema and rules: docs/DATA.md, "Law QA".
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "legal/statutes.h"

namespace beop::lawqa {

// ------------------------------------------------------------------------------------------- formats
// The three layouts' user/assistant texts come from legal/prompt.h (the one place they are defined, shared with
// chat, serve and eval).
enum class Format { QA, RefOut, RefIn };
const char* format_name(Format f);  // "qa", "qa_ref_out", "qa_ref_in"
Format parse_format(const std::string& s);  // throws Error on anything else

// ------------------------------------------------------------------------------------------- items

struct QAItem {
  std::string type;       // content | title | cloze | truefalse | mc | endpoint
  std::string question;   // the user question (MC: with its numbered options)
  std::string answer;     // the assistant answer
  std::string citation;   // exact reference citation, e.g. "주택임대차보호법 제3조 제1항"
  std::string reference;  // the cited unit's text (unit_text / Article::text)
  std::string law, article_id;
  std::string key;        // the checkable core of the answer: cloze phrase, "예"/"아니요", MC option number
  std::string generator;  // "template" or "endpoint:<model>"
  std::string style;      // how the question is put: situation | article_number | law_title
  // qa_ref_in only: the reference blocks in order when the input also carries a near but wrong article
  // (a distractor); empty = the one block (citation, reference).
  std::vector<std::pair<std::string, std::string>> refs_in;
};

// {"messages":[{"role":"user",...},{"role":"assistant",...}],"meta":{...}} on one line (UTF-8, no \u escapes).
std::string conversation_json_line(const QAItem& item, Format f);

// ------------------------------------------------------------------------------------------- statute units

// A unit is what a question is grounded in: one paragraph (항) of an article with numbered paragraphs, or the
// article itself when it has only its unnumbered paragraph. Its text is the paragraph text followed by its
// items as lines "1. …", "가. …", "1) …" (the same block layout as Article::text, without the ① marker).
struct Unit {
  const statutes::Article* article = nullptr;
  int paragraph = 0;       // 0 = article-level unit
  std::string citation;    // statutes::citation(law, id, paragraph)
  std::string text;
};
std::vector<Unit> units_of(const statutes::Article& a);  // empty for a deleted article

// Resolves a citation string to the text of what it names: an article (Article::text), a paragraph
// (unit text) or an item/sub-item (its text plus children). Matching ignores whitespace and 「」, so
// "「개인정보 보호법」 제15조제1항" resolves like "개인정보 보호법 제15조 제1항".
class CitationIndex {
 public:
  explicit CitationIndex(const std::vector<statutes::Article>& articles);
  struct Entry {
    std::string citation, text, law, article_id;  // canonical citation and what it names
  };
  bool resolve(const std::string& citation, std::string* text) const;
  const Entry* find(const std::string& citation) const;  // nullptr when it does not resolve
  bool is_law_name(const std::string& s) const;  // a parsed law title (normalised the same way)
  static std::string normalize(const std::string& s);
  const std::vector<std::string>& law_titles() const { return titles_; }  // as written, in first-seen order

 private:
  void add(const std::string& law, const std::string& id, const std::string& citation, const std::string& text);
  std::map<std::string, Entry> text_;
  std::map<std::string, int> laws_;
  std::vector<std::string> titles_;
};

// Keeps articles whose law passes the filters (names compared after CitationIndex::normalize; the statute file
// stem also matches). Empty lists = no filter. Unknown names in either list throw Error (a typo must not
// silently hold nothing out).
std::vector<statutes::Article> filter_laws(const std::vector<statutes::Article>& all,
                                           const std::vector<std::string>& only, const std::vector<std::string>& exclude);

// ------------------------------------------------------------------------------------------- template generator

struct TemplateOptions {
  uint64_t seed = 1;
  std::vector<std::string> types = {"situation", "content", "title", "cloze", "truefalse", "mc"};
  std::string as_of;               // YYYY-MM-DD: answers of laws whose 시행일자 is later state it ("" = never)
  double content_share = 0.2;      // share of units that also get the article-number `content` question
  double distractor_share = 0.25;  // share of items whose qa_ref_in input also holds a near but wrong article
};
// Deterministic: each unit's random choices come from a stream keyed by (seed, citation, type), so the output
// depends only on the seed and the articles, not on the order or on other laws.
std::vector<QAItem> generate_template(const std::vector<statutes::Article>& articles, const TemplateOptions& opt);

// ------------------------------------------------------------------------------------------- verification

// Quoted spans of s: text inside 「」, “”, ‘’, "" and '' pairs (innermost text, non-empty).
std::vector<std::string> quoted_spans(const std::string& s);

struct Verdict {
  bool ok = false;
  // "" | empty_field | citation_unresolved | citation_mismatch | quote_not_in_text | number_mismatch |
  // negation_mismatch | off_topic | not_grounded (the rules in order; the first that fails is the reason)
  std::string reason;
  std::string detail;   // the offending span, or the score
  double rouge = 0;     // ROUGE-L F (character tokens) of the answer against the cited text
  std::string reference;  // resolved text (when the citation resolved)
};
// The fact check (legal/lawqa_verify.cpp; rules in docs/DATA.md, "The fact check"):
//   citation_unresolved  the citation, or an article the answer names ("민법 제999조"), does not exist;
//   citation_mismatch    the answer names another existing article that the cited text does not mention;
//   quote_not_in_text    a quoted span is not verbatim in the cited text (law names / citations exempt);
//   number_mismatch      a number with a unit, period, amount or fraction (with 이상/이하/이내/미만/초과)
//                        that the cited text does not have;
//   negation_mismatch    a predicate negated where the text affirms it, or the reverse (행사하면 vs 행사하지
//                        아니하면, 해지할 수 없다 vs 해지할 수 있다, 효력이 생기지 않는다 vs 효력이 생긴다);
//   off_topic            the answer shares fewer than 2 content bigrams with the question (skipped when the
//                        question has fewer than 2: nothing to compare);
//   not_grounded         ROUGE-L F (character tokens) < min_rouge AND under half of the answer's content
//                        bigrams occur in the cited text (a paraphrase stating the article's rule passes).
Verdict verify_item(const CitationIndex& index, const std::string& question, const std::string& answer,
                    const std::string& citation, double min_rouge);

// verify_item over generated items: the kept ones, and per-rule rejection counts for the generation report.
struct VerifyReport {
  int checked = 0, kept = 0;
  std::map<std::string, int> by_reason;
  std::vector<std::string> examples;  // first rejection of each reason: "reason citation: detail"
};
std::vector<QAItem> verify_items(const CitationIndex& index, std::vector<QAItem> items, double min_rouge,
                                 VerifyReport* report);

// ------------------------------------------------------------------------------------------- endpoint generator

struct EndpointOptions {
  std::string url;        // http(s)://host[:port][/v1[/chat/completions]]
  std::string model;
  std::string api_key;    // sent as "Authorization: Bearer ..." when non-empty
  std::string ca_cert;    // extra trusted CA (PEM) for https; "" = the system store (verification is always on)
  double timeout_s = 60;  // per attempt: connect + send + receive
  double min_rouge = 0.3;
  double temperature = 0;
  int concurrency = 1;     // requests in flight
  int max_attempts = 5;    // per unit; retried on 429, 5xx, timeouts and connection failures
  double retry_base_s = 1, retry_max_s = 60;  // backoff base * 2^(k-1) with jitter, capped; Retry-After honoured
  double dedup_threshold = 0.8;  // character 3-gram Jaccard of normalised questions (legal/lawqa_dedup.h)
  double price_in = 0, price_out = 0;  // USD per 1M prompt / completion tokens, for the cost estimate
  std::string items_path;  // kept items, one JSON line each, appended as they come ("" = memory only)
  std::string log_path;    // rejected/failed units, one JSON line each, appended likewise ("" = memory only)
  bool resume = false;     // keep both files and skip the units they already answer (docs/DATA.md)
  bool progress = false;   // the progress/cost line on stderr (a terminal only)
  uint64_t seed = 1;       // of the retry jitter
};

struct EndpointRun {
  std::vector<QAItem> kept;  // every kept item (resumed ones included), in unit order
  std::vector<std::string> log;  // this run's rejected/failed units, one JSON object each
  int requested = 0;  // units finished in this run (kept + rejected + failed)
  int kept_n = 0, rejected = 0, failed = 0;  // this run; rejected = answered but not kept, failed = no answer
  int skipped = 0;    // units already answered in the resumed files
  int http_requests = 0, retries = 0;
  long long prompt_tokens = 0, completion_tokens = 0;  // from the replies' `usage`
  double cost = 0;    // prompt_tokens * price_in + completion_tokens * price_out, per 1M
  std::map<std::string, int> by_reason;
  std::string fatal;  // "" or the one line that stopped the run early (untrusted certificate, rejected key, ...)
};

// The Korean generation prompt for one unit (user message content).
std::string endpoint_prompt(const Unit& u);
// One request per unit. Never throws on endpoint trouble: each failure (timeout, refused connection, HTTP error,
// truncated or non-JSON reply, JSON without question/answer/reference) and each item the verifier rejects or
// dedup drops is logged with the unit's citation and counted, and the run continues; a condition that would fail
// every request (untrusted certificate, rejected key) ends it with run.fatal set. Throws Error only on a bad URL
// or an unusable resume file.
EndpointRun generate_endpoint(const std::vector<Unit>& units, const CitationIndex& index, const EndpointOptions& opt);
// "12/40 units, 15 requests (3 retries), kept 9, rejected 2 (citation_unresolved 1, ...), failed 1 (...),
// tokens 1234 in / 567 out, ~$0.0123"
std::string endpoint_summary(const EndpointRun& run, size_t total_units);

// `prep lawqa` (flags: prep lawqa --help). Exit status per prep convention.
int prep_lawqa_main(int argc, char** argv);

}  // namespace beop::lawqa
