// Statute retrieval: tokenizer, query references, BM25 index, its file format, reference formatting.
// Format and design: docs/DATA.md, "Retrieval".
#include "legal/retrieval.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "legal/prompt.h"
#include "legal/statutes.h"
#include "src/common.h"
#include "src/io.h"

namespace beop::retrieval {

namespace {

// Lenient UTF-8 decoding: an invalid byte decodes to U+FFFD (a separator), so a bad query never throws.
std::vector<char32_t> decode(const std::string& s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) { out.push_back(0xFFFD); i++; continue; }
    char32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    bool ok = true;
    for (int k = 1; k < n; k++) {
      unsigned char d = s[i + k];
      if ((d >> 6) != 2) { ok = false; break; }
      cp = (cp << 6) | (d & 0x3F);
    }
    if (!ok) { out.push_back(0xFFFD); i++; continue; }
    out.push_back(cp);
    i += n;
  }
  return out;
}

void append(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += char(c);
  } else if (c < 0x800) {
    out += char(0xC0 | (c >> 6));
    out += char(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += char(0xE0 | (c >> 12));
    out += char(0x80 | ((c >> 6) & 0x3F));
    out += char(0x80 | (c & 0x3F));
  } else {
    out += char(0xF0 | (c >> 18));
    out += char(0x80 | ((c >> 12) & 0x3F));
    out += char(0x80 | ((c >> 6) & 0x3F));
    out += char(0x80 | (c & 0x3F));
  }
}

bool is_hangul(char32_t c) { return c >= 0xAC00 && c <= 0xD7A3; }
bool is_han(char32_t c) {  // CJK unified ideographs (+ extension A, compatibility ideographs)
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0xF900 && c <= 0xFAFF);
}
// Letters/digits of other scripts: ASCII alnum, Latin-1/Latin Extended letters, Greek, Cyrillic, fullwidth alnum.
bool is_alnum(char32_t c) {
  if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  if (c == 0xD7 || c == 0xF7) return false;  // × ÷
  return (c >= 0xC0 && c <= 0x24F) || (c >= 0x370 && c <= 0x3FF && c != 0x387) || (c >= 0x400 && c <= 0x4FF) ||
         (c >= 0xFF10 && c <= 0xFF19) || (c >= 0xFF21 && c <= 0xFF3A) || (c >= 0xFF41 && c <= 0xFF5A);
}
enum Cls { kSep, kHangul, kAlnum };
Cls cls(char32_t c) { return is_hangul(c) || is_han(c) ? kHangul : is_alnum(c) ? kAlnum : kSep; }

// Trailing particles, longest first (two-character ones before the one-character ones they end with).
const char32_t* const kParticles[] = {U"에서는", U"으로서", U"으로써", U"에게서", U"으로", U"에서", U"에게", U"까지", U"부터",
                                      U"보다", U"이나", U"이며", U"에는", U"와는", U"과는", U"로서", U"로써", U"은", U"는",
                                      U"이", U"가", U"을", U"를", U"의", U"에", U"와", U"과", U"도", U"로", U"만"};

size_t particle_len(const char32_t* run, size_t n) {
  for (const char32_t* p : kParticles) {
    size_t m = std::char_traits<char32_t>::length(p);
    if (n >= m + 2 && std::equal(p, p + m, run + n - m)) return m;
  }
  return 0;
}

void emit_run(const char32_t* run, size_t n, Cls c, const TokenizerOptions& opt, std::vector<std::string>* out) {
  if (c == kAlnum) {
    std::string t;
    for (size_t i = 0; i < n; i++) {
      char32_t x = run[i];
      if (x >= 'A' && x <= 'Z') x += 32;
      append(t, x);
    }
    out->push_back(std::move(t));
    return;
  }
  if (opt.strip_particles && n >= 3) n -= particle_len(run, n);
  if (n == 1) {
    std::string t;
    append(t, run[0]);
    out->push_back(std::move(t));
    return;
  }
  for (size_t i = 0; i + 1 < n; i++) {
    std::string t;
    append(t, run[i]);
    append(t, run[i + 1]);
    out->push_back(std::move(t));
  }
}

uint64_t fnv1a(const char* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
  return h;
}

// "제3조의2" -> "제3조의2"; strips leading zeros ("제03조" names 제3조).
std::string article_id(const std::string& num, const std::string& branch) {
  auto strip = [](std::string s) {
    size_t z = s.find_first_not_of('0');
    return z == std::string::npos ? std::string("0") : s.substr(z);
  };
  std::string id = "제" + strip(num) + "조";
  if (!branch.empty()) id += "의" + strip(branch);
  return id;
}

}  // namespace

std::vector<std::string> tokenize(const std::string& text, const TokenizerOptions& opt) {
  std::vector<char32_t> cps = decode(text);
  std::vector<std::string> out;
  size_t i = 0;
  while (i < cps.size()) {
    Cls c = cls(cps[i]);
    size_t j = i + 1;
    while (j < cps.size() && cls(cps[j]) == c) j++;
    if (c != kSep) emit_run(cps.data() + i, j - i, c, opt, &out);
    i = j;
  }
  return out;
}

QueryRefs find_references(const std::string& query, const std::vector<std::string>& law_titles) {
  QueryRefs r;
  std::vector<char32_t> q = decode(query);
  // Compact query: no whitespace and no 「」『』; pos[i] = index in q of compact character i.
  std::vector<char32_t> compact;
  std::vector<size_t> pos;
  for (size_t i = 0; i < q.size(); i++) {
    char32_t c = q[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0xA0 || c == U'「' || c == U'」' || c == U'『' ||
        c == U'』')
      continue;
    compact.push_back(c);
    pos.push_back(i);
  }
  // Names to look for: (compact name, canonical title), longest first.
  std::vector<std::pair<std::vector<char32_t>, std::string>> names;
  for (auto& t : law_titles) {
    std::vector<char32_t> n;
    for (char32_t c : decode(t))
      if (c != ' ' && c != U'「' && c != U'」') n.push_back(c);
    if (!n.empty()) names.push_back({n, t});
  }
  for (auto& t : law_titles)
    if (t == "대한민국헌법") names.push_back({decode("헌법"), t});
  std::stable_sort(names.begin(), names.end(), [](auto& a, auto& b) { return a.first.size() > b.first.size(); });
  for (size_t i = 0; i < compact.size();) {
    size_t matched = 0;
    for (auto& [n, title] : names) {
      if (i + n.size() > compact.size() || !std::equal(n.begin(), n.end(), compact.begin() + i)) continue;
      // Two-syllable names must start an eojeol: the original character before them is not Hangul/Han.
      if (n.size() <= 2 && pos[i] > 0 && cls(q[pos[i] - 1]) == kHangul) continue;
      if (std::find(r.laws.begin(), r.laws.end(), title) == r.laws.end()) r.laws.push_back(title);
      matched = n.size();
      r.spans.push_back({pos[i], pos[i + n.size() - 1] + 1});
      break;
    }
    i += matched ? matched : 1;
  }
  // Article numbers on the compact text: [제] digits 조 [의 digits].
  for (size_t i = 0; i < compact.size(); i++) {
    if (!(compact[i] >= '0' && compact[i] <= '9')) continue;
    size_t start = i > 0 && compact[i - 1] == U'제' ? i - 1 : i;
    if (i > 0 && compact[i - 1] >= '0' && compact[i - 1] <= '9') continue;
    size_t j = i;
    std::string num, branch;
    while (j < compact.size() && compact[j] >= '0' && compact[j] <= '9') num += char(compact[j++]);
    if (j >= compact.size() || compact[j] != U'조' || num.size() > 6) continue;
    j++;
    if (j + 1 < compact.size() && compact[j] == U'의' && compact[j + 1] >= '0' && compact[j + 1] <= '9') {
      j++;
      while (j < compact.size() && compact[j] >= '0' && compact[j] <= '9' && branch.size() < 6) branch += char(compact[j++]);
    }
    std::string id = article_id(num, branch);
    if (std::find(r.article_ids.begin(), r.article_ids.end(), id) == r.article_ids.end()) r.article_ids.push_back(id);
    r.spans.push_back({pos[start], pos[j - 1] + 1});
    i = j - 1;
  }
  return r;
}

std::string without_references(const std::string& query, const QueryRefs& refs) {
  std::vector<char32_t> q = decode(query);
  for (auto& [b, e] : refs.spans)
    for (size_t i = b; i < e && i < q.size(); i++) q[i] = ' ';
  std::string out;
  for (char32_t c : q) append(out, c);
  return out;
}

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
  h.u64(fnv1a(p.s.data(), p.s.size()));
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
  if (fnv1a(s.data() + kHeader, payload) != sum) fail(pre, "checksum mismatch (corrupted payload)");
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
