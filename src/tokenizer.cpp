// Byte-level BPE (GPT-2 / Llama-3 / Qwen2 family): encoder, decoder, trainer and HF tokenizer.json load/save.
//
// Representation: every token is its raw byte string. The GPT-2 byte-to-unicode alphabet (bytes -> printable
// code points, so "Ġ" is a space) only appears at the tokenizer.json boundary. Byte b's token is byte_id[b];
// a merge (left id, right id) -> (rank, new id) lives in an open-addressing hash map keyed by the pair.
//
// encode(): UTF-8 check -> split on the normalized=false added tokens (special ones only with allow_special,
// non-special ones always, as HF does), leftmost-longest like HF's Aho-Corasick -> per stretch between them:
// NFC (nfc.cpp) when the tokenizer has that normalizer -> split on the normalized=true added tokens (their
// content normalized too), as HF's AddedVocabulary does -> Llama-3
// or Qwen2 pre-tokenizer (unicode.cpp) -> per piece: thread-local cache piece bytes -> ids, else BPE with a
// min-heap over (rank, position), the same order HF's Word::merge_all applies merges in.
#include "src/tokenizer.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <queue>
#include <unordered_map>

#include "src/common.h"
#include "src/io.h"
#include "src/nfc.h"
#include "src/unicode.h"

namespace beop {

namespace {

// ---------------------------------------------------------------------------------------------------------
// GPT-2 bytes_to_unicode(): printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100.. in order.
struct ByteMap {
  uint32_t b2u[256];
  int16_t u2b[324];  // code point -> byte, -1 where not in the alphabet (all alphabet code points are < 324)
  ByteMap() {
    std::fill(std::begin(u2b), std::end(u2b), int16_t(-1));
    uint32_t extra = 256;
    for (int b = 0; b < 256; b++) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      b2u[b] = printable ? uint32_t(b) : extra++;
      u2b[b2u[b]] = int16_t(b);
    }
  }
};
const ByteMap& byte_map() {
  static const ByteMap m;
  return m;
}

std::string bytes_to_unicode(std::string_view bytes) {
  const ByteMap& m = byte_map();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) utf8_append(out, m.b2u[b]);
  return out;
}

// Inverse; false if `s` (valid UTF-8) holds a character outside the 256-character alphabet.
bool unicode_to_bytes(std::string_view s, std::string* out) {
  const ByteMap& m = byte_map();
  out->clear();
  for (size_t i = 0; i < s.size();) {
    int len;
    const uint32_t cp = utf8_decode_at(s.data(), i, &len);
    if (cp >= 324 || m.u2b[cp] < 0) return false;
    *out += char(m.u2b[cp]);
    i += len;
  }
  return true;
}

inline uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

inline uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return x;
}

// Hash of a short byte string, 8 bytes per step. Never 0 (0 marks an empty cache slot).
inline uint64_t hash_bytes(const char* p, size_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xC2B2AE3D27D4EB4Full);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ mix64(w)) * 0x9E3779B97F4A7C15ull;
  }
  uint64_t w = 0;
  std::memcpy(&w, p + i, n - i);
  h = mix64(h ^ w ^ (uint64_t(n - i) << 56));
  return h ? h : 1;
}

// Merge table: (left id, right id) -> (rank, new id). Open addressing, linear probing, load <= 1/2.
class PairMap {
 public:
  struct Val {
    int32_t rank, id;
  };
  void build(const std::vector<std::pair<uint64_t, Val>>& entries) {
    size_t cap = 16;
    while (cap < entries.size() * 2) cap *= 2;
    keys_.assign(cap, kEmpty);
    vals_.assign(cap, Val{-1, -1});
    mask_ = cap - 1;
    for (const auto& e : entries) {  // a repeated pair keeps its last rank, as HF's HashMap collect does
      size_t i = mix64(e.first) & mask_;
      while (keys_[i] != kEmpty && keys_[i] != e.first) i = (i + 1) & mask_;
      keys_[i] = e.first;
      vals_[i] = e.second;
    }
  }
  const Val* find(uint64_t key) const {
    if (keys_.empty()) return nullptr;
    size_t i = mix64(key) & mask_;
    while (true) {
      if (keys_[i] == key) return &vals_[i];
      if (keys_[i] == kEmpty) return nullptr;
      i = (i + 1) & mask_;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~0ull;
  std::vector<uint64_t> keys_;
  std::vector<Val> vals_;
  size_t mask_ = 0;
};

// Per-thread cache piece bytes -> ids of the tokenizer `owner` (Impl::uid). encode() is const and may run
// on many threads at once; a thread-local cache needs no lock. A full cache is simply cleared.
struct PieceCache {
  struct Slot {
    uint64_t hash = 0;  // 0 = empty
    uint32_t key_off, key_len, ids_off, ids_len;
  };
  static constexpr size_t kSlots = size_t(1) << 16;
  static constexpr size_t kMaxPiece = 256;  // longer pieces are rare (runs of spaces or symbols): not cached
  uint64_t owner = 0;
  std::vector<Slot> slots;
  std::string keys;
  std::vector<int32_t> ids;
  size_t used = 0;

  void reset(uint64_t o) {
    owner = o;
    slots.assign(kSlots, Slot{});
    keys.clear();
    ids.clear();
    used = 0;
  }
  const Slot* find(std::string_view k, uint64_t h) const {
    size_t i = h & (kSlots - 1);
    while (true) {
      const Slot& s = slots[i];
      if (s.hash == 0) return nullptr;
      if (s.hash == h && s.key_len == k.size() && std::memcmp(keys.data() + s.key_off, k.data(), k.size()) == 0)
        return &s;
      i = (i + 1) & (kSlots - 1);
    }
  }
  void insert(std::string_view k, uint64_t h, const int32_t* p, size_t n) {
    if (used * 2 >= kSlots) reset(owner);
    size_t i = h & (kSlots - 1);
    while (slots[i].hash != 0) i = (i + 1) & (kSlots - 1);
    Slot& s = slots[i];
    s.hash = h;
    s.key_off = uint32_t(keys.size());
    s.key_len = uint32_t(k.size());
    s.ids_off = uint32_t(ids.size());
    s.ids_len = uint32_t(n);
    keys.append(k);
    ids.insert(ids.end(), p, p + n);
    used++;
  }
};

std::atomic<uint64_t> g_next_uid{1};

std::string preview(const nlohmann::json& j) {
  std::string s = j.dump();
  return s.size() > 160 ? s.substr(0, 160) + "..." : s;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
struct Tokenizer::Impl {
  struct Tok {
    std::string bytes;      // what decode() emits (added tokens: their content)
    bool exists = false;    // false for a gap in the id space
    bool in_model = false;  // in model.vocab (else only in added_tokens)
    bool raw = false;       // model.vocab string that is not in the byte-level alphabet (kept verbatim)
    bool added = false, special = false;
    bool normalized = false;  // added token: matched after normalization (HF "normalized"), else in the raw text
    std::string match;        // added token: what is matched (content, NFC'd when normalized under NFC)
  };
  std::vector<Tok> toks;                                  // [n_ids]
  std::unordered_map<std::string, int32_t> model_by_bytes;  // byte-level model tokens, bytes -> id
  int32_t byte_id[256];                                   // token of each single byte, -1 if missing
  PairMap merges;
  std::vector<std::pair<int32_t, int32_t>> merge_list;  // by rank (for save)
  bool ignore_merges = false;                           // HF BPE option (Llama 3 sets it): whole-piece lookup first
  PreTokenizer pre = PreTokenizer::kLlama3;
  bool nfc = false;  // normalizer NFC (Qwen2)
  std::unordered_map<std::string, int32_t> added_by_content;
  // Added ids by the first byte of their match string, longest first (leftmost-longest): normalized=false
  // tokens (matched in the raw text) and normalized=true ones (matched in normalized text).
  std::vector<int32_t> raw_by_first[256], norm_by_first[256];
  bool has_norm_added = false;
  bool has_plain_added = false;  // some added token is not special: matched even without allow_special
  uint64_t uid = g_next_uid++;

  void finalize() {  // builds the lookup structures from toks / merge_list
    model_by_bytes.clear();
    added_by_content.clear();
    for (auto& v : raw_by_first) v.clear();
    for (auto& v : norm_by_first) v.clear();
    has_norm_added = has_plain_added = false;
    for (int32_t id = 0; id < int32_t(toks.size()); id++) {
      Tok& t = toks[id];
      if (t.in_model && !t.raw) model_by_bytes.emplace(t.bytes, id);
      if (t.added && !t.bytes.empty()) {
        added_by_content[t.bytes] = id;
        t.match = t.normalized && nfc ? beop::nfc(t.bytes) : t.bytes;
        (t.normalized ? norm_by_first : raw_by_first)[uint8_t(t.match[0])].push_back(id);
        has_norm_added |= t.normalized;
        has_plain_added |= !t.special;
      }
    }
    auto longest_first = [&](int32_t a, int32_t b) { return toks[a].match.size() > toks[b].match.size(); };
    for (auto& v : raw_by_first) std::stable_sort(v.begin(), v.end(), longest_first);
    for (auto& v : norm_by_first) std::stable_sort(v.begin(), v.end(), longest_first);
    for (int b = 0; b < 256; b++) {
      auto it = model_by_bytes.find(std::string(1, char(b)));
      byte_id[b] = it == model_by_bytes.end() ? -1 : it->second;
    }
    std::vector<std::pair<uint64_t, PairMap::Val>> entries;
    entries.reserve(merge_list.size());
    for (size_t r = 0; r < merge_list.size(); r++) {
      const auto [a, b] = merge_list[r];
      auto it = model_by_bytes.find(toks[a].bytes + toks[b].bytes);
      if (it == model_by_bytes.end())
        fail("merge ", r, " (", a, ", ", b, ") produces a token that is not in the vocabulary");
      entries.push_back({pair_key(a, b), PairMap::Val{int32_t(r), it->second}});
    }
    merges.build(entries);
    uid = g_next_uid++;  // any cached encodings of an older state are now stale
  }

  void bpe(std::string_view piece, std::vector<int32_t>& out) const;
  void encode_ordinary(std::string_view text, std::vector<int32_t>& out) const;
  void encode_stretch(std::string_view text, bool match_added, bool specials, std::vector<int32_t>& out) const;

  // Leftmost-longest matching of the added tokens in `by_first` over s: their ids go to `out`, the text
  // between matches to gap(sub). Without `specials`, a match of a special token stays text (it is still
  // consumed, so a shorter added token inside it does not match there): HF's AddedVocabulary with
  // encode_special_tokens, which finds all matches and then skips the special ones. Non-special added tokens
  // (Qwen2.5's <tool_call>, <|fim_prefix|>) are always single tokens, as in HF.
  template <class Gap>
  void split_added(std::string_view s, const std::vector<int32_t> (&by_first)[256], bool specials,
                   std::vector<int32_t>& out, Gap&& gap) const {
    size_t seg = 0, i = 0;
    while (i < s.size()) {
      int32_t hit = -1;
      for (int32_t id : by_first[uint8_t(s[i])]) {
        const std::string& c = toks[id].match;
        if (s.compare(i, c.size(), c) == 0) {
          hit = id;
          break;
        }
      }
      if (hit < 0) {
        i++;
        continue;
      }
      if (toks[hit].special && !specials) {
        i += toks[hit].match.size();
        continue;
      }
      gap(s.substr(seg, i - seg));
      out.push_back(hit);
      i += toks[hit].match.size();
      seg = i;
    }
    gap(s.substr(seg));
  }
};

// BPE of one pre-tokenized piece. Merges are applied lowest rank first, leftmost first among equal ranks,
// one occurrence at a time (a min-heap of candidate pairs over a linked list of symbols), exactly HF's order.
void Tokenizer::Impl::bpe(std::string_view piece, std::vector<int32_t>& out) const {
  const size_t m = piece.size();
  if (ignore_merges) {
    auto it = model_by_bytes.find(std::string(piece));
    if (it != model_by_bytes.end()) {
      out.push_back(it->second);
      return;
    }
  }
  struct Cand {
    int32_t rank, pos, left, right, id;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  thread_local std::vector<int32_t> sym, prev, next;
  thread_local std::vector<Cand> heap;
  sym.resize(m);
  prev.resize(m);
  next.resize(m);
  heap.clear();
  for (size_t k = 0; k < m; k++) {
    const int32_t id = byte_id[uint8_t(piece[k])];
    if (id < 0) fail("encode: byte ", int(uint8_t(piece[k])), " has no token in the vocabulary");
    sym[k] = id;
    prev[k] = int32_t(k) - 1;
    next[k] = k + 1 < m ? int32_t(k + 1) : -1;
  }
  auto push = [&](int32_t pos, int32_t l, int32_t r) {
    if (const PairMap::Val* v = merges.find(pair_key(l, r))) {
      heap.push_back(Cand{v->rank, pos, l, r, v->id});
      std::push_heap(heap.begin(), heap.end(), std::greater<Cand>());
    }
  };
  for (size_t k = 0; k + 1 < m; k++) push(int32_t(k), sym[k], sym[k + 1]);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<Cand>());
    const Cand c = heap.back();
    heap.pop_back();
    const int32_t nx = next[c.pos];
    // Stale candidates: the left symbol was merged away (sym = -1), changed, or its right neighbour changed.
    if (sym[c.pos] != c.left || nx < 0 || sym[nx] != c.right) continue;
    sym[c.pos] = c.id;
    sym[nx] = -1;
    next[c.pos] = next[nx];
    if (next[nx] >= 0) prev[next[nx]] = c.pos;
    if (prev[c.pos] >= 0) push(prev[c.pos], sym[prev[c.pos]], c.id);
    if (next[c.pos] >= 0) push(c.pos, c.id, sym[next[c.pos]]);
  }
  for (int32_t k = 0; k >= 0; k = next[k]) out.push_back(sym[k]);
}

void Tokenizer::Impl::encode_ordinary(std::string_view text, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  thread_local std::vector<size_t> ends;
  thread_local PieceCache cache;
  ends.clear();
  pre_tokenize(text, pre, &ends);
  if (cache.owner != uid) cache.reset(uid);
  size_t start = 0;
  for (size_t e : ends) {
    const std::string_view piece = text.substr(start, e - start);
    start = e;
    if (piece.size() == 1) {  // single byte: no merge can apply
      const int32_t id = byte_id[uint8_t(piece[0])];
      if (id < 0) fail("encode: byte ", int(uint8_t(piece[0])), " has no token in the vocabulary");
      out.push_back(id);
      continue;
    }
    if (piece.size() > PieceCache::kMaxPiece) {
      bpe(piece, out);
      continue;
    }
    const uint64_t h = hash_bytes(piece.data(), piece.size());
    if (const PieceCache::Slot* s = cache.find(piece, h)) {
      out.insert(out.end(), cache.ids.begin() + s->ids_off, cache.ids.begin() + s->ids_off + s->ids_len);
      continue;
    }
    const size_t before = out.size();
    bpe(piece, out);
    cache.insert(piece, h, out.data() + before, out.size() - before);
  }
}

// ---------------------------------------------------------------------------------------------------------
Tokenizer::Tokenizer() : impl_(std::make_unique<Impl>()) { impl_->finalize(); }
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

// One stretch of text between normalized=false added tokens: normalize, then (match_added) split on the
// normalized=true added tokens (special ones only with `specials`), then BPE. Stretches are normalized
// separately, as in HF.
void Tokenizer::Impl::encode_stretch(std::string_view text, bool match_added, bool specials,
                                     std::vector<int32_t>& out) const {
  std::string normalized;
  if (nfc && nfc_normalize(text, &normalized)) text = normalized;
  if (match_added && has_norm_added)
    split_added(text, norm_by_first, specials, out, [&](std::string_view g) { encode_ordinary(g, out); });
  else
    encode_ordinary(text, out);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool allow_special) const {
  utf8_check(text, "encode");
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 8);
  const Impl& im = *impl_;
  // Fast path: nothing can match (no added tokens, or only special ones and allow_special is off).
  if (im.added_by_content.empty() || (!allow_special && !im.has_plain_added)) {
    im.encode_stretch(text, false, false, out);
    return out;
  }
  im.split_added(text, im.raw_by_first, allow_special, out,
                 [&](std::string_view g) { im.encode_stretch(g, true, allow_special, out); });
  return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  for (int32_t id : ids) {
    if (id < 0 || id >= int32_t(impl_->toks.size()) || !impl_->toks[id].exists)
      fail("decode: token id ", id, " is not in the vocabulary (", impl_->toks.size(), " ids)");
    out += impl_->toks[id].bytes;
  }
  return out;
}

std::string Tokenizer::token_text(int32_t id) const { return decode({id}); }

int Tokenizer::vocab_size() const { return int(impl_->toks.size()); }
PreTokenizer Tokenizer::pre_tokenizer() const { return impl_->pre; }
bool Tokenizer::normalizes_nfc() const { return impl_->nfc; }

int32_t Tokenizer::token_id(std::string_view tok) const {
  auto it = impl_->added_by_content.find(std::string(tok));
  return it == impl_->added_by_content.end() ? -1 : it->second;
}

// ---------------------------------------------------------------------------------------------------------
// tokenizer.json

namespace {
const char* kSplitBehavior = "Isolated";

// The pre_tokenizer must be Llama 3's or Qwen2's: Sequence[Split(Regex=<Llama-3 or Qwen2 pattern>, Isolated),
// ByteLevel(no prefix space, no regex)]. Returns which.
PreTokenizer check_pre_tokenizer(const nlohmann::json& pt, const std::string& path) {
  auto bad = [&](const std::string& why) {
    fail(path, ": unsupported pre_tokenizer (", why, "); beop implements only Llama 3's and Qwen2's "
         "Sequence[Split(Regex=<Llama-3 or Qwen2 pattern>, Isolated), ByteLevel(add_prefix_space=false, "
         "use_regex=false)], got ", preview(pt));
  };
  if (!pt.is_object() || pt.value("type", "") != "Sequence") bad("not a Sequence");
  const auto& seq = pt.at("pretokenizers");
  if (!seq.is_array() || seq.size() != 2) bad("not 2 steps");
  const auto& sp = seq[0];
  if (sp.value("type", "") != "Split") bad("first step is not Split");
  if (!sp.contains("pattern") || !sp["pattern"].contains("Regex") || !sp["pattern"]["Regex"].is_string())
    bad("Split pattern is not a Regex");
  const std::string re = sp["pattern"]["Regex"].get<std::string>();
  PreTokenizer kind;
  if (re == kLlama3Pattern) kind = PreTokenizer::kLlama3;
  else if (re == kQwen2Pattern) kind = PreTokenizer::kQwen2;
  else bad("Split pattern is neither the Llama-3 nor the Qwen2 regex");
  if (sp.value("behavior", "") != kSplitBehavior) bad("Split behavior is not Isolated");
  if (sp.value("invert", false)) bad("Split invert=true");
  const auto& bl = seq[1];
  if (bl.value("type", "") != "ByteLevel") bad("second step is not ByteLevel");
  if (bl.value("add_prefix_space", true)) bad("ByteLevel add_prefix_space=true");
  if (bl.value("use_regex", true)) bad("ByteLevel use_regex=true");
  return kind;
}

// The normalizer: none (Llama 3) -> false, NFC or a Sequence of only NFC steps (Qwen2) -> true; any other is an
// Error naming its type.
bool check_normalizer(const nlohmann::json& n, const std::string& path) {
  if (n.is_null()) return false;
  auto type = [](const nlohmann::json& x) {
    return x.is_object() && x.contains("type") && x["type"].is_string() ? x["type"].get<std::string>() : preview(x);
  };
  auto bad = [&](const nlohmann::json& x) {
    fail(path, ": normalizer '", type(x), "' is not supported (beop implements NFC, as Qwen2 uses, or none, as "
         "Llama 3): ", preview(n));
  };
  if (type(n) == "NFC") return true;
  if (type(n) != "Sequence" || !n.contains("normalizers") || !n["normalizers"].is_array()) bad(n);
  for (const auto& step : n["normalizers"])
    if (type(step) != "NFC") bad(step);
  return !n["normalizers"].empty();
}

void append_json_string(std::string& out, const std::string& s) { out += nlohmann::json(s).dump(); }
}  // namespace

Tokenizer Tokenizer::load(const std::string& path) {
  const std::string text = read_file(path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": malformed JSON: ", e.what());
  }
  Tokenizer tk;
  Impl& im = *tk.impl_;
  try {
    if (!j.is_object() || !j.contains("model") || !j["model"].is_object())
      fail(path, ": not a tokenizer.json (no \"model\" object)");
    const auto& model = j["model"];
    const std::string type = model.contains("type") ? model["type"].get<std::string>() : "BPE";
    if (type != "BPE") fail(path, ": model type '", type, "' is not supported (beop loads only byte-level BPE)");
    if (!model.contains("vocab") || !model["vocab"].is_object() || !model.contains("merges") || !model["merges"].is_array())
      fail(path, ": BPE model without a vocab object and a merges array");
    if (model.contains("dropout") && !model["dropout"].is_null() && model["dropout"].get<double>() != 0.0)
      fail(path, ": BPE dropout ", model["dropout"].dump(), " is not supported (encoding must be deterministic)");
    for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"})
      if (model.contains(k) && !model[k].is_null() && !model[k].get<std::string>().empty())
        fail(path, ": BPE ", k, "=", model[k].dump(), " is not supported by byte-level BPE");
    if (model.value("byte_fallback", false)) fail(path, ": BPE byte_fallback=true is not supported by byte-level BPE");
    im.ignore_merges = model.value("ignore_merges", false);
    if (j.contains("normalizer")) im.nfc = check_normalizer(j["normalizer"], path);
    if (!j.contains("pre_tokenizer")) fail(path, ": no pre_tokenizer");
    im.pre = check_pre_tokenizer(j["pre_tokenizer"], path);
    if (j.contains("decoder") && !j["decoder"].is_null() && j["decoder"].value("type", "") != "ByteLevel")
      fail(path, ": decoder ", preview(j["decoder"]), " is not supported (ByteLevel expected)");

    // Vocabulary.
    std::unordered_map<std::string, int32_t> by_str;  // vocab string as written in the file -> id
    int32_t max_id = -1;
    // The token table is indexed by id (max id + 1 entries), so every id is bounded by the entries the file
    // holds: a hostile id (1e9) is this one-line error instead of a multi-GB allocation failing as bad_alloc.
    const size_t n_added_entries = j.contains("added_tokens") && j["added_tokens"].is_array() ? j["added_tokens"].size() : 0;
    const int64_t id_limit = int64_t(model["vocab"].size() + n_added_entries);
    for (const auto& [s, v] : model["vocab"].items()) {
      if (!v.is_number_integer())
        fail(path, ": model.vocab id of ", nlohmann::json(s).dump(), " is not an integer: ", preview(v));
      const int64_t id = v.get<int64_t>();
      if (id < 0 || id >= id_limit)
        fail(path, ": model.vocab id ", id, " of ", nlohmann::json(s).dump(), " is outside [0, ", id_limit, ") (the file has ",
             model["vocab"].size(), " vocab entries and ", n_added_entries, " added tokens)");
      max_id = std::max(max_id, int32_t(id));
      by_str.emplace(s, int32_t(id));
    }
    // Added tokens get their ids the way HF's AddedVocabulary assigns them (the "id" written in the file is
    // not used by HF): a content already in model.vocab keeps that id; otherwise the next id after the
    // largest added id so far, or model.vocab's size (its entry count) if that is larger. For Llama 3
    // (model ids 0..127999) this reproduces the file's ids 128000..; a vocab with gaps would make HF hand
    // out ids the model already uses, which is reported as an error.
    struct Added {
      int32_t id;
      std::string content;
      bool special, normalized;
    };
    std::vector<Added> added;
    if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
      const int32_t model_size = int32_t(by_str.size());
      std::vector<bool> model_id_used(size_t(max_id + 1), false);
      for (const auto& kv : by_str) model_id_used[kv.second] = true;
      int32_t max_added = -1;
      std::unordered_map<std::string, int32_t> seen;
      for (const auto& a : j["added_tokens"]) {
        const std::string content = a.at("content").get<std::string>();
        for (const char* k : {"lstrip", "rstrip", "single_word"})
          if (a.value(k, false))
            fail(path, ": added token ", nlohmann::json(content).dump(), " has ", k, "=true, which beop does not support");
        int32_t id;
        if (auto it = by_str.find(content); it != by_str.end()) {
          id = it->second;
        } else if (auto it2 = seen.find(content); it2 != seen.end()) {
          id = it2->second;
        } else {
          id = max_added >= model_size || model_size == 0 ? max_added + 1 : model_size;
          if (id <= max_id && model_id_used[id])
            fail(path, ": added token ", nlohmann::json(content).dump(), " would get id ", id,
                 " (HF assigns added ids after the ", model_size, " model tokens), which model.vocab already uses:"
                 " the vocab ids are not contiguous");
        }
        seen[content] = id;
        max_added = std::max(max_added, id);
        const bool special = a.value("special", false);
        // HF requires the field; where it is missing, HF's AddedToken::from default (special ones are not).
        added.push_back(Added{id, content, special, a.value("normalized", !special)});
      }
      for (const auto& a : added) max_id = std::max(max_id, a.id);
    }
    im.toks.assign(size_t(max_id + 1), Impl::Tok{});
    for (const auto& [s, id] : by_str) {
      Impl::Tok& t = im.toks[id];
      if (t.exists) fail(path, ": vocab id ", id, " is used twice");
      t.exists = t.in_model = true;
      if (!unicode_to_bytes(s, &t.bytes)) {
        t.raw = true;
        t.bytes = s;
      }
    }
    for (const auto& a : added) {
      Impl::Tok& t = im.toks[a.id];
      t.exists = true;
      t.added = true;
      t.special = a.special;
      t.normalized = a.normalized;
      t.bytes = a.content;
    }
    // Merges: "a b" strings (older files) or ["a", "b"] pairs (tokenizers >= 0.20).
    const auto& mj = model["merges"];
    im.merge_list.reserve(mj.size());
    for (size_t r = 0; r < mj.size(); r++) {
      std::string a, b;
      if (mj[r].is_string()) {
        const std::string s = mj[r].get<std::string>();
        const size_t sp = s.find(' ');
        if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
          fail(path, ": merge ", r, " ", nlohmann::json(s).dump(), " is not two tokens separated by one space");
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      } else if (mj[r].is_array() && mj[r].size() == 2) {
        a = mj[r][0].get<std::string>();
        b = mj[r][1].get<std::string>();
      } else {
        fail(path, ": merge ", r, " is neither \"a b\" nor [\"a\", \"b\"]: ", preview(mj[r]));
      }
      auto ia = by_str.find(a), ib = by_str.find(b), ic = by_str.find(a + b);
      if (ia == by_str.end() || ib == by_str.end() || ic == by_str.end())
        fail(path, ": merge ", r, " (", nlohmann::json(a).dump(), ", ", nlohmann::json(b).dump(), ") uses or makes a token not in the vocab");
      if (im.toks[ia->second].raw || im.toks[ib->second].raw)
        fail(path, ": merge ", r, " uses a token that is not byte-level");
      im.merge_list.push_back({ia->second, ib->second});
    }
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": unexpected tokenizer.json structure: ", e.what());
  }
  im.finalize();
  return tk;
}

std::string Tokenizer::to_json() const {
  const Impl& im = *impl_;
  auto str = [&](int32_t id) { return im.toks[id].raw ? im.toks[id].bytes : bytes_to_unicode(im.toks[id].bytes); };
  std::string o;
  o += "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [";
  bool first = true;
  for (int32_t id = 0; id < int32_t(im.toks.size()); id++) {
    const Impl::Tok& t = im.toks[id];
    if (!t.added) continue;
    o += first ? "\n" : ",\n";
    first = false;
    o += "    {\"id\": " + std::to_string(id) + ", \"content\": ";
    append_json_string(o, t.bytes);
    o += ", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": ";
    o += t.normalized ? "true, \"special\": " : "false, \"special\": ";
    o += t.special ? "true}" : "false}";
  }
  o += first ? "],\n" : "\n  ],\n";
  o += im.nfc ? "  \"normalizer\": {\"type\": \"NFC\"},\n" : "  \"normalizer\": null,\n";
  o += "  \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": ";
  append_json_string(o, pre_tokenizer_pattern(im.pre));
  o += "}, \"behavior\": \"Isolated\", \"invert\": false}, {\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
       "\"trim_offsets\": true, \"use_regex\": false}]},\n";
  o += "  \"post_processor\": null,\n";
  o += "  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, \"use_regex\": true},\n";
  o += "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n"
       "    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n    \"fuse_unk\": false,\n"
       "    \"byte_fallback\": false,\n    \"ignore_merges\": ";
  o += im.ignore_merges ? "true" : "false";
  o += ",\n    \"vocab\": {";
  first = true;
  for (int32_t id = 0; id < int32_t(im.toks.size()); id++) {
    if (!im.toks[id].in_model) continue;
    o += first ? "\n      " : ",\n      ";
    first = false;
    append_json_string(o, str(id));
    o += ": " + std::to_string(id);
  }
  o += "\n    },\n    \"merges\": [";
  first = true;
  for (const auto& [a, b] : im.merge_list) {
    o += first ? "\n      [" : ",\n      [";
    first = false;
    append_json_string(o, str(a));
    o += ", ";
    append_json_string(o, str(b));
    o += "]";
  }
  o += "\n    ]\n  }\n}\n";
  return o;
}

void Tokenizer::save(const std::string& path) const { write_file_atomic(path, to_json()); }

// ---------------------------------------------------------------------------------------------------------
// Training

namespace {

class Progress {
 public:
  Progress(bool on, const char* what, int64_t total) : on_(on), what_(what), total_(std::max<int64_t>(total, 1)) {
    t0_ = last_ = std::chrono::steady_clock::now();
  }
  void update(int64_t done, bool force = false) {
    if (!on_) return;
    const auto now = std::chrono::steady_clock::now();
    if (!force && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    const double frac = std::min(1.0, double(done) / double(total_));
    const int width = 30, fill = int(frac * width);
    const double secs = std::chrono::duration<double>(now - t0_).count();
    std::fprintf(stderr, "\r%-14s [%s%s] %5.1f%% %lld/%lld %.1fs", what_, std::string(fill, '#').c_str(),
                 std::string(width - fill, '.').c_str(), 100.0 * frac, (long long)done, (long long)total_, secs);
    std::fflush(stderr);
  }
  void finish(int64_t done) {
    if (!on_) return;
    update(done, true);
    std::fprintf(stderr, "\n");
  }

 private:
  bool on_;
  const char* what_;
  int64_t total_;
  std::chrono::steady_clock::time_point t0_, last_;
};

// Cuts text into chunks of about `target` bytes at boundaries the pre-tokenizer never crosses: just after a
// '\n' that is followed by a non-space character (every piece that can contain '\n' ends at the end of its
// \r\n / whitespace run, and no alternative looks behind), so chunks pre-tokenize exactly like the whole.
void cut_chunks(std::string_view text, size_t target, std::vector<std::string_view>* out) {
  size_t start = 0;
  while (start < text.size()) {
    size_t p = start + target;
    size_t end = text.size();
    while (p + 1 < text.size()) {
      p = text.find('\n', p);
      if (p == std::string_view::npos || p + 1 >= text.size()) break;
      int len;
      if (char_class(utf8_decode_at(text.data(), p + 1, &len)) != kClassSpace) {
        end = p + 1;
        break;
      }
      p++;
    }
    if (start + target >= text.size()) end = text.size();
    out->push_back(text.substr(start, end - start));
    start = end;
  }
}

using WordCounts = std::unordered_map<std::string, uint64_t>;

WordCounts count_words(const std::vector<std::string_view>& texts, int threads, bool progress) {
  std::vector<std::string_view> chunks;
  for (auto t : texts) cut_chunks(t, size_t(1) << 20, &chunks);
  std::vector<WordCounts> local(threads);
  Progress bar(progress, "pre-tokenize", int64_t(chunks.size()));
  std::atomic<int64_t> done{0};
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (size_t c = 0; c < chunks.size(); c++) {
    WordCounts& wc = local[omp_get_thread_num()];
    std::vector<size_t> ends;
    llama3_split(chunks[c], &ends);
    size_t start = 0;
    for (size_t e : ends) {
      wc[std::string(chunks[c].substr(start, e - start))]++;
      start = e;
    }
    const int64_t d = ++done;
    if (omp_get_thread_num() == 0) bar.update(d);
  }
  bar.finish(done);
  WordCounts all = std::move(local[0]);
  for (int t = 1; t < threads; t++)
    for (auto& [w, c] : local[t]) all[w] += c;
  return all;
}

}  // namespace

Tokenizer Tokenizer::train(const std::vector<std::string>& files, const BpeTrainOptions& opt) {
  std::vector<std::string> texts;
  texts.reserve(files.size());
  for (const auto& f : files) {
    texts.push_back(read_file(f));
    utf8_check(texts.back(), "tokenizer training file " + f);
  }
  return train_from_texts(texts, opt);
}

// Classic incremental BPE training on unique pre-tokenized words with counts:
//   pair counts (parallel first pass) + for each pair the words it occurs in + a lazy max-heap of counts.
// Each step merges the most frequent pair (ties: smallest (left id, right id), so results do not depend on
// the thread count), rewrites only the words holding it and adjusts the counts of the neighbouring pairs.
Tokenizer Tokenizer::train_from_texts(const std::vector<std::string>& text_list, const BpeTrainOptions& opt) {
  for (size_t i = 0; i < text_list.size(); i++) utf8_check(text_list[i], cat("training text ", i));
  const std::vector<std::string_view> texts(text_list.begin(), text_list.end());
  const int threads = opt.threads > 0 ? opt.threads : omp_get_max_threads();
  const int n_special = int(opt.special_tokens.size());
  for (size_t i = 0; i < opt.special_tokens.size(); i++) {
    if (opt.special_tokens[i].empty()) fail("BPE training: special token ", i, " is empty");
    utf8_check(opt.special_tokens[i], cat("special token ", i));
    for (size_t k = 0; k < i; k++)
      if (opt.special_tokens[k] == opt.special_tokens[i]) fail("BPE training: special token ", opt.special_tokens[i], " given twice");
  }
  if (opt.vocab_size < 256 + n_special)
    fail("BPE training: vocab_size ", opt.vocab_size, " < 256 byte tokens + ", n_special, " special tokens");
  const int32_t target = opt.vocab_size - n_special;  // ordinary tokens

  // 1. Unique words with counts.
  WordCounts wc = count_words(texts, threads, opt.progress);
  struct Word {
    uint32_t off, len;
    int64_t count;
  };
  std::vector<Word> words;
  std::vector<int32_t> syms;
  words.reserve(wc.size());
  {
    size_t total = 0;
    for (auto& [w, c] : wc) total += w.size();
    syms.reserve(total);
    // Sorted so the order (hence nothing downstream) depends on hash-map iteration order.
    std::vector<std::pair<const std::string*, uint64_t>> sorted;
    sorted.reserve(wc.size());
    for (auto& [w, c] : wc) sorted.push_back({&w, c});
    std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return *a.first < *b.first; });
    for (auto& [w, c] : sorted) {
      words.push_back(Word{uint32_t(syms.size()), uint32_t(w->size()), int64_t(c)});
      for (unsigned char ch : *w) syms.push_back(ch);  // byte b is token b
    }
  }
  WordCounts().swap(wc);

  // 2. Pair counts, in parallel over the words.
  std::unordered_map<uint64_t, int64_t> pair_count;
  {
    std::vector<std::unordered_map<uint64_t, int64_t>> local(threads);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t w = 0; w < words.size(); w++) {
      auto& pc = local[omp_get_thread_num()];
      const int32_t* s = syms.data() + words[w].off;
      for (uint32_t k = 0; k + 1 < words[w].len; k++) pc[pair_key(s[k], s[k + 1])] += words[w].count;
    }
    pair_count = std::move(local[0]);
    for (int t = 1; t < threads; t++)
      for (auto& [p, c] : local[t]) pair_count[p] += c;
  }
  std::unordered_map<uint64_t, std::vector<int32_t>> where;  // pair -> words containing it (maybe repeated)
  for (size_t w = 0; w < words.size(); w++) {
    const int32_t* s = syms.data() + words[w].off;
    for (uint32_t k = 0; k + 1 < words[w].len; k++) {
      auto& v = where[pair_key(s[k], s[k + 1])];
      if (v.empty() || v.back() != int32_t(w)) v.push_back(int32_t(w));
    }
  }
  struct HeapItem {
    int64_t count;
    uint64_t pair;
    bool operator<(const HeapItem& o) const { return count != o.count ? count < o.count : pair > o.pair; }
  };
  std::priority_queue<HeapItem> heap;
  for (auto& [p, c] : pair_count) heap.push(HeapItem{c, p});

  // 3. Merges.
  std::vector<std::string> tok_bytes(256);
  for (int b = 0; b < 256; b++) tok_bytes[b] = std::string(1, char(b));
  std::unordered_map<std::string, int32_t> id_of;
  for (int b = 0; b < 256; b++) id_of[tok_bytes[b]] = b;
  std::vector<std::pair<int32_t, int32_t>> merge_list;
  std::vector<int32_t> last_seen(words.size(), -1);
  Progress bar(opt.progress, "bpe merges", target - 256);
  while (int32_t(tok_bytes.size()) < target && !heap.empty()) {
    const HeapItem top = heap.top();
    heap.pop();
    auto pc = pair_count.find(top.pair);
    const int64_t cur = pc == pair_count.end() ? 0 : pc->second;
    if (cur != top.count) {  // stale entry: requeue with the current count
      if (cur > 0) heap.push(HeapItem{cur, top.pair});
      continue;
    }
    if (cur <= 0) break;
    const int32_t a = int32_t(top.pair >> 32), b = int32_t(top.pair & 0xffffffffu);
    std::string nb = tok_bytes[a] + tok_bytes[b];
    int32_t nid;
    auto it = id_of.find(nb);
    if (it != id_of.end()) {
      nid = it->second;  // the same bytes were already made by another merge: reuse the id, as HF does
    } else {
      nid = int32_t(tok_bytes.size());
      tok_bytes.push_back(nb);
      id_of.emplace(std::move(nb), nid);
    }
    merge_list.push_back({a, b});
    const int32_t step = int32_t(merge_list.size());
    std::vector<int32_t> list = std::move(where[top.pair]);
    where.erase(top.pair);
    std::vector<uint64_t> grown;  // pairs whose count went up: must be (re)queued
    auto add = [&](int32_t l, int32_t r, int64_t d, int32_t w) {
      const uint64_t k = pair_key(l, r);
      pair_count[k] += d;
      if (d > 0) {
        grown.push_back(k);
        auto& v = where[k];
        if (v.empty() || v.back() != w) v.push_back(w);
      }
    };
    for (int32_t w : list) {
      if (last_seen[w] == step) continue;
      last_seen[w] = step;
      Word& wd = words[w];
      int32_t* s = syms.data() + wd.off;
      uint32_t out = 0;
      for (uint32_t k = 0; k < wd.len;) {
        if (k + 1 < wd.len && s[k] == a && s[k + 1] == b) {
          // x a b y -> x ab y ; s[out-1] is the already rewritten left neighbour.
          if (out > 0) {
            add(s[out - 1], a, -wd.count, w);
            add(s[out - 1], nid, wd.count, w);
          }
          if (k + 2 < wd.len) {
            add(b, s[k + 2], -wd.count, w);
            add(nid, s[k + 2], wd.count, w);
          }
          s[out++] = nid;
          k += 2;
        } else {
          s[out++] = s[k++];
        }
      }
      wd.len = out;
    }
    pair_count.erase(top.pair);
    std::sort(grown.begin(), grown.end());
    grown.erase(std::unique(grown.begin(), grown.end()), grown.end());
    for (uint64_t k : grown) heap.push(HeapItem{pair_count[k], k});
    bar.update(int64_t(tok_bytes.size()) - 256);
  }
  bar.finish(int64_t(tok_bytes.size()) - 256);

  // 4. The tokenizer: bytes 0..255, merged tokens, then the special tokens.
  Tokenizer tk;
  Impl& im = *tk.impl_;
  im.toks.resize(tok_bytes.size() + n_special);
  for (size_t id = 0; id < tok_bytes.size(); id++) {
    im.toks[id].bytes = tok_bytes[id];
    im.toks[id].exists = im.toks[id].in_model = true;
  }
  for (int i = 0; i < n_special; i++) {
    auto& t = im.toks[tok_bytes.size() + i];
    t.bytes = opt.special_tokens[i];
    t.exists = t.added = t.special = true;
  }
  im.merge_list = std::move(merge_list);
  im.finalize();
  return tk;
}

}  // namespace beop
