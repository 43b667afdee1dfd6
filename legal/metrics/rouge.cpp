// ROUGE-L: tokenisation, LCS and the rouge-score arithmetic. See rouge.h for the definitions.
#include "legal/metrics/rouge.h"

#include <algorithm>
#include <unordered_map>

#include "src/common.h"
#include "src/utf8.h"

namespace beop {

const char32_t kPunctuation[] = {
    // ASCII punctuation (Python string.punctuation), then the common CJK/Korean marks.
    U'!', U'"', U'#', U'$', U'%', U'&', U'\'', U'(', U')', U'*', U'+', U',', U'-', U'.', U'/', U':', U';', U'<',
    U'=', U'>', U'?', U'@', U'[', U'\\', U']', U'^', U'_', U'`', U'{', U'|', U'}', U'~',
    U'\u2018', U'\u2019', U'\u201C', U'\u201D', U'\u00B7', U'\u2026', U'\u3001', U'\u3002', U'\u3008', U'\u3009',
    U'\u300A', U'\u300B', U'\u300C', U'\u300D', U'\u300E', U'\u300F', U'\u3010', U'\u3011', U'\u3014', U'\u3015',
    U'\uFF62', U'\uFF63'};
const int kNumPunctuation = int(sizeof(kPunctuation) / sizeof(kPunctuation[0]));

bool is_unicode_space(char32_t c) {
  if (c <= 0x20) return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
  if (c < 0x85) return false;
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

static bool is_punct(char32_t c) {
  for (int i = 0; i < kNumPunctuation; i++)
    if (kPunctuation[i] == c) return true;
  return false;
}

std::vector<std::string> rouge_tokenize(const std::string& text, const RougeOptions& opt) {
  std::vector<std::string> toks;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty()) toks.push_back(cur);  // also drops tokens emptied by strip_punct
    cur.clear();
  };
  for (char32_t c : utf8_decode(text)) {
    if (is_unicode_space(c)) {
      flush();
      continue;
    }
    if (opt.lowercase_ascii && c >= U'A' && c <= U'Z') c = c - U'A' + U'a';
    if (opt.strip_punct && is_punct(c)) continue;
    utf8_append(cur, c);
    if (opt.tokenize == RougeTokenize::Character) flush();
  }
  flush();
  return toks;
}

int64_t lcs_length(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  // Classic DP over the longer sequence (rows) with one row over the shorter one (columns):
  // row[j] = LCS(long[0..i), short[0..j)); `diag` carries row_{i-1}[j-1].
  const std::vector<int32_t>& lng = a.size() >= b.size() ? a : b;
  const std::vector<int32_t>& sht = a.size() >= b.size() ? b : a;
  const size_t m = sht.size();
  if (m == 0) return 0;
  std::vector<int64_t> row(m + 1, 0);  // [m+1]
  for (int32_t x : lng) {
    int64_t diag = 0;  // row_{i-1}[0]
    for (size_t j = 1; j <= m; j++) {
      int64_t up = row[j];
      row[j] = (x == sht[j - 1]) ? diag + 1 : std::max(up, row[j - 1]);
      diag = up;
    }
  }
  return row[m];
}

RougeScore rouge_from_lcs(int64_t lcs, int64_t n_reference, int64_t n_candidate) {
  RougeScore s;
  s.lcs = lcs;
  s.n_reference = n_reference;
  s.n_candidate = n_candidate;
  if (n_reference == 0 || n_candidate == 0) return s;  // rouge-score: "if not target or not prediction"
  // Same operations, same order as rouge_score: precision = lcs / len(prediction), recall = lcs / len(target),
  // fmeasure = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.
  s.precision = double(lcs) / double(n_candidate);
  s.recall = double(lcs) / double(n_reference);
  s.fmeasure = (s.precision + s.recall > 0) ? 2 * s.precision * s.recall / (s.precision + s.recall) : 0.0;
  return s;
}

RougeScore rouge_l(const std::vector<int32_t>& reference, const std::vector<int32_t>& candidate) {
  return rouge_from_lcs(lcs_length(reference, candidate), int64_t(reference.size()), int64_t(candidate.size()));
}

RougeScore rouge_l(const std::string& reference, const std::string& candidate, const RougeOptions& opt) {
  // Intern the string tokens as ids so the LCS compares ints; equal strings <=> equal ids.
  std::unordered_map<std::string, int32_t> vocab;
  auto ids = [&](const std::vector<std::string>& toks) {
    std::vector<int32_t> out;
    out.reserve(toks.size());
    for (const auto& t : toks) out.push_back(vocab.emplace(t, int32_t(vocab.size())).first->second);
    return out;
  };
  std::vector<int32_t> r = ids(rouge_tokenize(reference, opt));
  std::vector<int32_t> c = ids(rouge_tokenize(candidate, opt));
  return rouge_l(r, c);
}

template <typename T, typename F>
static RougeCorpus corpus_mean(const std::vector<T>& refs, const std::vector<T>& cands, F score) {
  if (refs.size() != cands.size())
    fail("rouge_l_corpus: ", refs.size(), " references but ", cands.size(), " candidates");
  RougeCorpus out;
  for (size_t i = 0; i < refs.size(); i++) {
    RougeScore s = score(refs[i], cands[i]);
    out.precision += s.precision;
    out.recall += s.recall;
    out.fmeasure += s.fmeasure;
    out.lcs += s.lcs;
    out.n_reference += s.n_reference;
    out.n_candidate += s.n_candidate;
  }
  out.items = int64_t(refs.size());
  if (out.items) {
    out.precision /= double(out.items);
    out.recall /= double(out.items);
    out.fmeasure /= double(out.items);
  }
  return out;
}

RougeCorpus rouge_l_corpus(const std::vector<std::string>& references, const std::vector<std::string>& candidates,
                           const RougeOptions& opt) {
  return corpus_mean(references, candidates,
                     [&](const std::string& r, const std::string& c) { return rouge_l(r, c, opt); });
}

RougeCorpus rouge_l_corpus(const std::vector<std::vector<int32_t>>& references,
                           const std::vector<std::vector<int32_t>>& candidates) {
  return corpus_mean(references, candidates, [](const std::vector<int32_t>& r, const std::vector<int32_t>& c) {
    return rouge_l(r, c);
  });
}

}  // namespace beop
