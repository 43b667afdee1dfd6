// Byte-level BPE training; see bpe_trainer.h.
#include "src/bpe_trainer.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <queue>
#include <string_view>
#include <unordered_map>

#include "src/common.h"
#include "src/progress.h"
#include "src/unicode.h"

namespace beop {

namespace {

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
  Progress bar("pre-tokenize", chunks.size(), progress);
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
    if (omp_get_thread_num() == 0) bar.update(uint64_t(d));
  }
  bar.finish(uint64_t(done));
  WordCounts all = std::move(local[0]);
  for (int t = 1; t < threads; t++)
    for (auto& [w, c] : local[t]) all[w] += c;
  return all;
}

}  // namespace

// Classic incremental BPE training on unique pre-tokenized words with counts:
//   pair counts (parallel first pass) + for each pair the words it occurs in + a lazy max-heap of counts.
// Each step merges the most frequent pair (ties: smallest (left id, right id), so results do not depend on
// the thread count), rewrites only the words holding it and adjusts the counts of the neighbouring pairs.
TokenizerVocab train_bpe(const std::vector<std::string>& text_list, const BpeTrainOptions& opt) {
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
      for (uint32_t k = 0; k + 1 < words[w].len; k++) pc[bpe_pair_key(s[k], s[k + 1])] += words[w].count;
    }
    pair_count = std::move(local[0]);
    for (int t = 1; t < threads; t++)
      for (auto& [p, c] : local[t]) pair_count[p] += c;
  }
  std::unordered_map<uint64_t, std::vector<int32_t>> where;  // pair -> words containing it (maybe repeated)
  for (size_t w = 0; w < words.size(); w++) {
    const int32_t* s = syms.data() + words[w].off;
    for (uint32_t k = 0; k + 1 < words[w].len; k++) {
      auto& v = where[bpe_pair_key(s[k], s[k + 1])];
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
  Progress bar("bpe merges", uint64_t(target - 256), opt.progress);
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
      const uint64_t k = bpe_pair_key(l, r);
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
    bar.update(tok_bytes.size() - 256);
  }
  bar.finish(tok_bytes.size() - 256);

  // 4. The vocabulary: bytes 0..255, merged tokens, then the special tokens.
  TokenizerVocab vocab;
  vocab.toks.resize(tok_bytes.size() + n_special);
  for (size_t id = 0; id < tok_bytes.size(); id++) {
    vocab.toks[id].bytes = tok_bytes[id];
    vocab.toks[id].exists = vocab.toks[id].in_model = true;
  }
  for (int i = 0; i < n_special; i++) {
    auto& t = vocab.toks[tok_bytes.size() + i];
    t.bytes = opt.special_tokens[i];
    t.exists = t.added = t.special = true;
  }
  vocab.merge_list = std::move(merge_list);
  return vocab;
}

}  // namespace beop
