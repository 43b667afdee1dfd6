// Statute retrieval: the BM25 index (build, search), its file format, reference formatting. The tokenizer and
// the query references are in retrieval_query.cpp.
// Format and design: docs/DATA.md, "Retrieval".
#include "legal/retrieval.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "legal/prompt.h"
#include "legal/statutes.h"
#include "src/common.h"
#include "src/hash.h"
#include "src/io.h"

namespace beop::retrieval {

// ------------------------------------------------------------------------------------------- build

RetrievalIndex RetrievalIndex::build(const std::vector<statutes::Article>& articles, const Params& params) {
  std::vector<Doc> docs;
  for (auto& a : articles) {
    if (a.deleted) continue;
    Doc d;
    d.law = a.law;
    d.article_id = a.id;
    d.title = a.title;
    d.citation = statutes::citation(a.law, a.id);
    d.text = a.text;
    docs.push_back(std::move(d));
  }
  return build_docs(std::move(docs), params);
}

RetrievalIndex RetrievalIndex::build_docs(std::vector<Doc> docs, const Params& params) {
  BEOP_CHECK(!docs.empty(), "retrieval index: no (non-deleted) articles to index");
  BEOP_CHECK(params.k1 >= 0 && params.b >= 0 && params.b <= 1, "retrieval index: bad BM25 parameters k1=", params.k1,
             " b=", params.b);
  BEOP_CHECK(params.title_repeat <= 16, "retrieval index: title_repeat ", params.title_repeat, " > 16");
  BEOP_CHECK(docs.size() < (1u << 31), "retrieval index: too many documents (", docs.size(), ")");
  RetrievalIndex ix;
  ix.params_ = params;
  // term -> [(doc, tf)] with docs ascending (documents are visited in order).
  std::map<std::string, std::vector<std::pair<uint32_t, uint32_t>>> inv;
  for (uint32_t d = 0; d < docs.size(); d++) {
    std::string indexed;  // the title title_repeat times, then the text
    for (uint32_t r = 0; r < params.title_repeat; r++) indexed += docs[d].title + "\n";
    std::vector<std::string> toks = tokenize(indexed + docs[d].text, params.tok);
    docs[d].length = (uint32_t)toks.size();
    std::unordered_map<std::string, uint32_t> tf;
    for (auto& t : toks) tf[t]++;
    for (auto& [t, n] : tf) inv[t].push_back({d, n});
  }
  ix.docs_ = std::move(docs);
  ix.term_start_.push_back(0);
  for (auto& [t, plist] : inv) {
    ix.terms_.push_back(t);
    for (auto& [d, n] : plist) {
      ix.post_doc_.push_back(d);
      ix.post_tf_.push_back(n);
    }
    BEOP_CHECK(ix.post_doc_.size() < (1ull << 32), "retrieval index: too many postings");
    ix.term_start_.push_back((uint32_t)ix.post_doc_.size());
  }
  ix.finish();
  return ix;
}

void RetrievalIndex::finish() {
  term_id_.clear();
  term_id_.reserve(terms_.size());
  for (uint32_t i = 0; i < terms_.size(); i++) term_id_[terms_[i]] = i;
  laws_.clear();
  std::map<std::string, int> seen;
  double total = 0;
  for (auto& d : docs_) {
    if (!seen.count(d.law)) {
      seen[d.law] = 1;
      laws_.push_back(d.law);
    }
    total += d.length;
  }
  avglen_ = docs_.empty() ? 0 : total / (double)docs_.size();
}

void RetrievalIndex::set_boosts(float law_boost, float article_boost) {
  params_.law_boost = law_boost;
  params_.article_boost = article_boost;
}

// ------------------------------------------------------------------------------------------- search

std::vector<double> RetrievalIndex::bm25_scores(const std::string& query) const {
  std::vector<double> score(docs_.size(), 0.0);
  std::unordered_map<uint32_t, int> qtf;  // term id -> occurrences in the query
  for (auto& t : tokenize(query, params_.tok)) {
    auto it = term_id_.find(t);
    if (it != term_id_.end()) qtf[it->second]++;
  }
  const double N = (double)docs_.size(), k1 = params_.k1, b = params_.b;
  const double avg = avglen_ > 0 ? avglen_ : 1;
  for (auto& [tid, q] : qtf) {
    uint32_t s = term_start_[tid], e = term_start_[tid + 1];
    double df = (double)(e - s);
    double idf = std::log(1.0 + (N - df + 0.5) / (df + 0.5));
    for (uint32_t p = s; p < e; p++) {
      double tf = post_tf_[p], len = docs_[post_doc_[p]].length;
      score[post_doc_[p]] += q * idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avg));
    }
  }
  return score;
}

std::vector<Hit> RetrievalIndex::search(const std::string& query, int k) const {
  std::vector<Hit> hits;
  if (k <= 0) return hits;
  QueryRefs refs = find_references(query, laws_);
  std::vector<double> score = bm25_scores(refs.spans.empty() ? query : without_references(query, refs));
  double best = 0;
  for (double s : score) best = std::max(best, s);
  if (!refs.laws.empty() || !refs.article_ids.empty()) {
    double unit = best > 0 ? best : 1.0;  // a query with no indexed token still ranks the named article first
    for (size_t d = 0; d < docs_.size(); d++) {
      bool law = std::find(refs.laws.begin(), refs.laws.end(), docs_[d].law) != refs.laws.end();
      bool art = std::find(refs.article_ids.begin(), refs.article_ids.end(), docs_[d].article_id) != refs.article_ids.end();
      if (law) score[d] += params_.law_boost * unit;
      if (art && (refs.laws.empty() || law)) score[d] += params_.article_boost * unit;
    }
  }
  std::vector<uint32_t> order;
  for (uint32_t d = 0; d < docs_.size(); d++)
    if (score[d] > 0) order.push_back(d);
  size_t n = std::min<size_t>((size_t)k, order.size());
  std::partial_sort(order.begin(), order.begin() + n, order.end(), [&](uint32_t a, uint32_t c) {
    return score[a] != score[c] ? score[a] > score[c] : a < c;
  });
  for (size_t i = 0; i < n; i++) {
    const Doc& d = docs_[order[i]];
    hits.push_back(Hit{d.citation, d.law, d.article_id, score[order[i]], d.text, order[i]});
  }
  return hits;
}

std::string format_references(const std::vector<Hit>& hits) {
  std::string out;
  for (auto& h : hits) {
    if (!out.empty()) out += "\n\n";
    out += prompt::format_reference_block(h.citation, h.text);
  }
  return out;
}

// ------------------------------------------------------------------------------------------- file format
// Little-endian. Header (56 bytes):
//   0  char[8]  magic "BEOPRIDX"
//   8  u32      version (1)
//  12  u32      flags: bit 0 = TokenizerOptions::strip_particles
//  16  f32 x4   k1, b, law_boost, article_boost
//  32  u32      title_repeat
//  36  u32      reserved (0)
//  40  u64      payload bytes (the file is exactly 56 + this long)
//  48  u64      FNV-1a 64 of the payload
// Payload: u32 ndocs; per doc: str law, str article_id, str title, str citation, str text, u32 length;
//          u32 nterms; per term (byte order, unique): str term, u32 df, df x (u32 doc, u32 tf), docs ascending.
//          str = u32 byte length + bytes.

namespace {

constexpr char kMagic[8] = {'B', 'E', 'O', 'P', 'R', 'I', 'D', 'X'};
constexpr size_t kHeader = 56;

struct Writer {
  std::string s;
  void u32(uint32_t v) { s.append((const char*)&v, 4); }
  void u64(uint64_t v) { s.append((const char*)&v, 8); }
  void f32(float v) { s.append((const char*)&v, 4); }
  void str(const std::string& v) {
    BEOP_CHECK(v.size() < (1ull << 32), "retrieval index: string too long");
    u32((uint32_t)v.size());
    s += v;
  }
};

struct Reader {
  const std::string& path;
  const std::string& s;
  size_t off;
  void need(size_t n, const char* what) {
    if (n > s.size() - off) fail("retrieval index ", path, ": truncated at offset ", off, " reading ", what);
  }
  uint32_t u32(const char* what) {
    need(4, what);
    uint32_t v;
    std::memcpy(&v, s.data() + off, 4);
    off += 4;
    return v;
  }
  std::string str(const char* what) {
    uint32_t n = u32(what);
    need(n, what);
    std::string v = s.substr(off, n);
    off += n;
    return v;
  }
};

bool little_endian() {
  uint32_t x = 1;
  char c;
  std::memcpy(&c, &x, 1);
  return c == 1;
}

}  // namespace

void RetrievalIndex::save(const std::string& path) const {
  BEOP_CHECK(little_endian(), "retrieval index: big-endian hosts are not supported");
  Writer p;
  p.u32((uint32_t)docs_.size());
  for (auto& d : docs_) {
    p.str(d.law);
    p.str(d.article_id);
    p.str(d.title);
    p.str(d.citation);
    p.str(d.text);
    p.u32(d.length);
  }
  p.u32((uint32_t)terms_.size());
  for (size_t t = 0; t < terms_.size(); t++) {
    p.str(terms_[t]);
    p.u32(term_start_[t + 1] - term_start_[t]);
    for (uint32_t i = term_start_[t]; i < term_start_[t + 1]; i++) {
      p.u32(post_doc_[i]);
      p.u32(post_tf_[i]);
    }
  }
  Writer h;
  h.s.append(kMagic, 8);
  h.u32(kVersion);
  h.u32(params_.tok.strip_particles ? 1u : 0u);
  h.f32(params_.k1);
  h.f32(params_.b);
  h.f32(params_.law_boost);
  h.f32(params_.article_boost);
  h.u32(params_.title_repeat);
  h.u32(0);
  h.u64(p.s.size());
  h.u64(fnv1a64(p.s));
  AtomicFile f(path);
  f.write(h.s);
  f.write(p.s);
  f.commit();
}

RetrievalIndex RetrievalIndex::load(const std::string& path) {
  BEOP_CHECK(little_endian(), "retrieval index: big-endian hosts are not supported");
  std::string s = read_file(path);
  const std::string pre = cat("retrieval index ", path, ": ");
  if (s.size() < 8 || std::memcmp(s.data(), kMagic, 8) != 0)
    fail(pre, "not a beop retrieval index (no \"BEOPRIDX\" magic at offset 0)");
  if (s.size() < kHeader) fail(pre, "truncated header (", s.size(), " of ", kHeader, " bytes)");
  uint32_t version, flags, title_repeat, reserved;
  float f[4];
  uint64_t payload, sum;
  std::memcpy(&version, s.data() + 8, 4);
  std::memcpy(&flags, s.data() + 12, 4);
  std::memcpy(f, s.data() + 16, 16);
  std::memcpy(&title_repeat, s.data() + 32, 4);
  std::memcpy(&reserved, s.data() + 36, 4);
  std::memcpy(&payload, s.data() + 40, 8);
  std::memcpy(&sum, s.data() + 48, 8);
  if (version != kVersion) fail(pre, "format version ", version, ", this build reads version ", kVersion);
  if (flags > 1 || reserved != 0) fail(pre, "unknown flags 0x", std::hex, flags, " / reserved 0x", reserved);
  if (title_repeat > 16) fail(pre, "title_repeat ", title_repeat, " > 16");
  if (s.size() - kHeader < payload)
    fail(pre, "truncated: header promises ", payload, " payload bytes, file has ", s.size() - kHeader);
  if (s.size() - kHeader > payload) fail(pre, s.size() - kHeader - payload, " trailing bytes after the payload");
  if (fnv1a64(std::string_view(s).substr(kHeader, payload)) != sum) fail(pre, "checksum mismatch (corrupted payload)");
  RetrievalIndex ix;
  ix.params_.tok.strip_particles = flags & 1;
  ix.params_.k1 = f[0];
  ix.params_.b = f[1];
  ix.params_.law_boost = f[2];
  ix.params_.article_boost = f[3];
  ix.params_.title_repeat = title_repeat;
  if (!(f[0] >= 0 && f[1] >= 0 && f[1] <= 1 && std::isfinite(f[2]) && std::isfinite(f[3])))
    fail(pre, "bad parameters k1=", f[0], " b=", f[1], " boosts ", f[2], ", ", f[3]);

  Reader r{path, s, kHeader};
  uint32_t nd = r.u32("document count");
  if (nd == 0) fail(pre, "no documents");
  if ((uint64_t)nd * 24 > payload) fail(pre, "document count ", nd, " does not fit in ", payload, " bytes");
  ix.docs_.resize(nd);
  for (auto& d : ix.docs_) {
    d.law = r.str("document law");
    d.article_id = r.str("document article id");
    d.title = r.str("document title");
    d.citation = r.str("document citation");
    d.text = r.str("document text");
    d.length = r.u32("document length");
  }
  uint32_t nt = r.u32("term count");
  std::vector<uint64_t> len(nd, 0);
  ix.term_start_.push_back(0);
  for (uint32_t t = 0; t < nt; t++) {
    size_t at = r.off;
    std::string term = r.str("term");
    if (term.empty() || (t > 0 && !(ix.terms_.back() < term)))
      fail(pre, "term ", t, " at offset ", at, " is empty or out of order");
    uint32_t df = r.u32("document frequency");
    if (df == 0 || df > nd) fail(pre, "term ", t, " at offset ", at, ": document frequency ", df, " (", nd, " documents)");
    r.need((size_t)df * 8, "postings");
    int64_t prev = -1;
    for (uint32_t i = 0; i < df; i++) {
      uint32_t d = r.u32("posting"), tf = r.u32("posting");
      if ((int64_t)d <= prev || d >= nd || tf == 0)
        fail(pre, "bad posting (doc ", d, ", tf ", tf, ") of term ", t, " at offset ", r.off - 8);
      prev = d;
      len[d] += tf;
      ix.post_doc_.push_back(d);
      ix.post_tf_.push_back(tf);
    }
    ix.terms_.push_back(std::move(term));
    ix.term_start_.push_back((uint32_t)ix.post_doc_.size());
  }
  if (r.off != s.size()) fail(pre, s.size() - r.off, " unparsed bytes at offset ", r.off);
  for (uint32_t d = 0; d < nd; d++)
    if (len[d] != ix.docs_[d].length)
      fail(pre, "document ", d, " (", ix.docs_[d].citation, ") has length ", ix.docs_[d].length, " but its postings sum to ",
           len[d]);
  ix.finish();
  return ix;
}

}  // namespace beop::retrieval
