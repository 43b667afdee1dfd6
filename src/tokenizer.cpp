// Byte-level BPE (GPT-2 / Llama-3 / Qwen2 family): the encoder and decoder. The vocabulary comes from
// tokenizer.json (tokenizer_json.cpp) or from training (bpe_trainer.cpp); this file builds the lookup tables.
//
// Representation: every token is its raw byte string. Byte b's token is byte_id[b]; a merge (left id,
// right id) -> (rank, new id) lives in an open-addressing hash map keyed by the pair.
//
// encode(): UTF-8 check -> split on the normalized=false added tokens (special ones only with allow_special,
// non-special ones always, as HF does), leftmost-longest like HF's Aho-Corasick -> per stretch between them:
// NFC (nfc.cpp) when the tokenizer has that normalizer -> split on the normalized=true added tokens (their
// content normalized too), as HF's AddedVocabulary does -> Llama-3
// or Qwen2 pre-tokenizer (unicode.cpp) -> per piece: thread-local cache piece bytes -> ids, else BPE with a
// min-heap over (rank, position), the same order HF's Word::merge_all applies merges in.
#include "src/tokenizer.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <unordered_map>

#include "src/bpe_trainer.h"
#include "src/common.h"
#include "src/io.h"
#include "src/nfc.h"
#include "src/tokenizer_json.h"
#include "src/unicode.h"

namespace beop {

namespace {

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

}  // namespace

// The vocabulary (toks, merge_list, pre-tokenizer, normalizer) and the lookup tables finalize() builds from it.
struct Tokenizer::Impl : TokenizerVocab {
  std::unordered_map<std::string, int32_t> model_by_bytes;  // byte-level model tokens, bytes -> id
  int32_t byte_id[256];                                   // token of each single byte, -1 if missing
  PairMap merges;
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
      entries.push_back({bpe_pair_key(a, b), PairMap::Val{int32_t(r), it->second}});
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
    if (const PairMap::Val* v = merges.find(bpe_pair_key(l, r))) {
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
// Where the vocabulary comes from: tokenizer.json, or training.

Tokenizer Tokenizer::load(const std::string& path) {
  Tokenizer tk;
  static_cast<TokenizerVocab&>(*tk.impl_) = parse_tokenizer_json(read_file(path), path);
  tk.impl_->finalize();
  return tk;
}

std::string Tokenizer::to_json() const { return tokenizer_json(*impl_); }

void Tokenizer::save(const std::string& path) const { write_file_atomic(path, to_json()); }

Tokenizer Tokenizer::train(const std::vector<std::string>& files, const BpeTrainOptions& opt) {
  std::vector<std::string> texts;
  texts.reserve(files.size());
  for (const auto& f : files) {
    texts.push_back(read_file(f));
    utf8_check(texts.back(), "tokenizer training file " + f);
  }
  return train_from_texts(texts, opt);
}

Tokenizer Tokenizer::train_from_texts(const std::vector<std::string>& texts, const BpeTrainOptions& opt) {
  Tokenizer tk;
  static_cast<TokenizerVocab&>(*tk.impl_) = train_bpe(texts, opt);
  tk.impl_->finalize();
  return tk;
}

}  // namespace beop
