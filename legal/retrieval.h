// Statute retrieval for "Q + Ref => A": a BM25 index over the parsed articles (one document per article) with
// Hangul-aware character-bigram tokens and a boost for the law / article number a query names. `infer chat
// --ref auto` searches it and puts the hits into the user turn with format_references(), which uses legal/prompt.h's
// format_reference_block() so the layout is byte-identical to the qa_ref_in training data.
// Design, index file format and measured recall: docs/DATA.md, "Retrieval".
//
//   auto arts = ...parse_statute_dir...;                    // legal/statutes.h
//   RetrievalIndex idx = RetrievalIndex::build(arts);       // ~6,200 non-deleted articles: well under a second
//   idx.save("data/build/statutes.idx");                    // AtomicFile; magic "BEOPRIDX", version 1
//   RetrievalIndex idx2 = RetrievalIndex::load(path);       // throws Error "retrieval index <path>: ..." when bad
//   auto hits = idx2.search("주택임대차보호법 제3조의 대항력은?", 5);
//   std::string refs = format_references(hits);            // blocks joined by "\n\n"
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace beop::statutes {
struct Article;
}

namespace beop::retrieval {

// ------------------------------------------------------------------------------------------- tokenizer
// Text is cut into runs of one script class: Hangul syllables and CJK ideographs (한자 in titles such as
// "파양(罷養)") form "Hangul" runs, letters and digits of other scripts "alnum" runs; everything else
// (whitespace, punctuation, 「」『』, the middle dots ㆍ U+318D and · U+00B7, circled numbers ①, brackets) separates.
//   Hangul run of n >= 2 characters -> its n-1 character bigrams ("임대차" -> "임대", "대차")
//   Hangul run of 1 character       -> that character ("및", "법")
//   alnum run                       -> the run, ASCII lower-cased ("GPS", "3" -> "gps", "3")
// With strip_particles, a Hangul run of >= 3 characters loses one trailing particle (은 는 이 가 을 를 의 에 와
// 과 도 로 으로 에서 에게 까지 부터 ...; longest first) as long as >= 2 characters remain. Off by default: the
// measurement in docs/DATA.md shows it does not improve recall (bigrams already share the stem).
struct TokenizerOptions {
  bool strip_particles = false;
};
std::vector<std::string> tokenize(const std::string& text, const TokenizerOptions& opt = {});

// ------------------------------------------------------------------------------------------- query references
// The laws and article numbers a query names. Law names match with whitespace and 「」 ignored ("개인정보보호법"
// finds "개인정보 보호법"), longest name first at each position (so "헌법재판소법" is not "헌법"), plus the alias
// "헌법" -> "대한민국헌법". Two-syllable names (민법, 형법, 상법, 헌법) must start an eojeol (or follow 「), so
// "국가배상법" and "손해배상법" do not name 상법. Article numbers: "제3조", "제 3 조", "3조", "제3조의2" ->
// "제3조", "제3조의2" (canonical Article::id form).
struct QueryRefs {
  std::vector<std::string> laws;         // canonical law titles (Article::law), in query order, unique
  std::vector<std::string> article_ids;  // "제3조", "제3조의2", in query order, unique
  // Code-point ranges [begin, end) of the query where a law name or an article number was found. search() blanks
  // them before BM25: the boost already accounts for them, and the bigrams of "근로기준법" would otherwise pull in
  // every article whose text says "근로" / "기준" (measured: docs/DATA.md).
  std::vector<std::pair<size_t, size_t>> spans;
};
// The query with the spans of find_references() replaced by spaces.
std::string without_references(const std::string& query, const QueryRefs& refs);
QueryRefs find_references(const std::string& query, const std::vector<std::string>& law_titles);

// ------------------------------------------------------------------------------------------- index

struct Params {
  float k1 = 1.2f;  // BM25 term-frequency saturation
  float b = 0.75f;  // BM25 length normalisation
  // Boosts, as fractions of the best plain BM25 score of the query (so they are scale-free, whatever the query
  // length): a document of a named law gets + law_boost * best, one whose article id is named (and whose law is
  // named, when the query names any law) + article_boost * best. Law + article named => rank 1.
  float law_boost = 0.5f;
  float article_boost = 1.0f;
  // The title is indexed this many times before the text (a BM25F-style field weight: titles are short and say
  // what the article is about). 3 measured best of 1/2/3 on the dev laws (docs/DATA.md).
  uint32_t title_repeat = 3;
  TokenizerOptions tok;
};

// One document = one non-deleted article. BM25 sees ("title\n" x title_repeat) + text (the law name is not indexed as text: it
// would add the same bigrams to every article of a law; the law boost does that job explicitly).
struct Doc {
  std::string law, article_id, title, citation, text;  // citation = statutes::citation(law, id); text = Article::text
  uint32_t length = 0;                                  // tokens of the indexed text (titles + text)
};

struct Hit {
  std::string citation, law, article_id;
  double score = 0;
  std::string text;
  uint32_t doc = 0;  // index into RetrievalIndex::docs()
};

class RetrievalIndex {
 public:
  static constexpr uint32_t kVersion = 1;

  // Deleted articles are left out. Throws Error when no article remains.
  static RetrievalIndex build(const std::vector<statutes::Article>& articles, const Params& params = {});
  static RetrievalIndex build_docs(std::vector<Doc> docs, const Params& params = {});  // Doc::length is recomputed

  void save(const std::string& path) const;  // atomic (beop::AtomicFile)
  // Validates magic, version, size, checksum and every posting; throws Error "retrieval index <path>: ..." (one
  // line: foreign file, other version, truncated at offset N, checksum mismatch, bad posting).
  static RetrievalIndex load(const std::string& path);

  // Top k hits, best first; ties broken by document order. Empty when no document scores above 0.
  std::vector<Hit> search(const std::string& query, int k) const;
  // Plain BM25 score of every document (no boosts): sum over query tokens t (repeats count) of
  //   idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avglen)),  idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))
  std::vector<double> bm25_scores(const std::string& query) const;

  const std::vector<Doc>& docs() const { return docs_; }
  const std::vector<std::string>& law_titles() const { return laws_; }
  const Params& params() const { return params_; }
  void set_boosts(float law_boost, float article_boost);  // search-time only (tuning, docs/DATA.md)
  size_t vocab_size() const { return terms_.size(); }
  size_t postings() const { return post_doc_.size(); }
  double avg_length() const { return avglen_; }

 private:
  void finish();  // law list, term lookup, avglen (after build or load)
  Params params_;
  std::vector<Doc> docs_;
  std::vector<std::string> terms_;        // sorted (byte order)
  std::vector<uint32_t> term_start_;      // [terms + 1] offsets into post_*
  std::vector<uint32_t> post_doc_;        // [postings] ascending within a term
  std::vector<uint32_t> post_tf_;         // [postings] >= 1
  std::unordered_map<std::string, uint32_t> term_id_;
  std::vector<std::string> laws_;         // distinct Doc::law, first-seen order
  double avglen_ = 0;
};

// The hits as reference blocks, exactly prompt::format_reference_block(hit.citation, hit.text), joined by
// "\n\n" (the multi-reference layout of prompt::user_with_references; append "\n\n[질문] " + question).
std::string format_references(const std::vector<Hit>& hits);

}  // namespace beop::retrieval
