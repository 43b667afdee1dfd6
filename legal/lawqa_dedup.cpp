// Character n-gram near-duplicate index (see lawqa_dedup.h).
#include "legal/lawqa_dedup.h"

#include <algorithm>

#include "src/hash.h"
#include "src/nfc.h"
#include "src/utf8.h"

namespace beop::lawqa {

namespace {

bool is_punct_or_space(char32_t c) {
  if (c < 0x80) return !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
  return (c >= 0x80 && c <= 0xBF) || (c >= 0x2000 && c <= 0x206F) || (c >= 0x3000 && c <= 0x303F) ||
         (c >= 0xFF01 && c <= 0xFF0F) || (c >= 0xFF1A && c <= 0xFF20) || (c >= 0xFF3B && c <= 0xFF40) ||
         (c >= 0xFF5B && c <= 0xFF65) || c == 0xFEFF;
}

}  // namespace

std::string NearDupIndex::normalize(const std::string& s) {
  std::string n;
  if (!nfc_normalize(s, &n)) n = s;  // invalid UTF-8: decode below replaces the bad bytes
  std::u32string out;
  for (char32_t c : utf8_decode(n, Utf8Bad::kReplace)) {
    if (is_punct_or_space(c)) continue;
    out.push_back(c >= 'A' && c <= 'Z' ? c + 32 : c);
  }
  return utf8_encode(out.data(), out.data() + out.size());
}

std::vector<uint64_t> NearDupIndex::shingles(const std::string& s) const {
  std::vector<char32_t> cps = utf8_decode(normalize(s), Utf8Bad::kReplace);
  std::vector<uint64_t> out;
  if (cps.empty()) return out;
  size_t k = std::min<size_t>((size_t)n_, cps.size());
  for (size_t i = 0; i + k <= cps.size(); i++) out.push_back(fnv1a64(std::string_view(reinterpret_cast<const char*>(cps.data() + i), k * sizeof(char32_t))));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

double NearDupIndex::jaccard(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  if (a.empty() && b.empty()) return 1;
  size_t i = 0, j = 0, both = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i] == b[j]) both++, i++, j++;
    else if (a[i] < b[j]) i++;
    else j++;
  }
  return double(both) / double(a.size() + b.size() - both);
}

long NearDupIndex::find(const std::string& s, double* score) const {
  std::vector<uint64_t> q = shingles(s);
  std::unordered_map<uint32_t, uint32_t> shared;  // candidate -> n-grams in common
  for (uint64_t h : q) {
    auto it = postings_.find(h);
    if (it != postings_.end())
      for (uint32_t d : it->second) shared[d]++;
  }
  long best = -1;
  double best_j = -1;
  for (auto& [d, both] : shared) {
    double j = double(both) / double(q.size() + sets_[d].size() - both);
    if (j >= threshold_ && (j > best_j || (j == best_j && (long)d < best))) best = d, best_j = j;
  }
  if (q.empty())  // nothing to index (all punctuation): equal only to another empty text
    for (size_t d = 0; d < sets_.size() && best < 0; d++)
      if (sets_[d].empty()) best = (long)d, best_j = 1;
  if (score) *score = best < 0 ? 0 : best_j;
  return best;
}

void NearDupIndex::add(const std::string& s) {
  uint32_t d = (uint32_t)sets_.size();
  sets_.push_back(shingles(s));
  for (uint64_t h : sets_.back()) postings_[h].push_back(d);
}

}  // namespace beop::lawqa
