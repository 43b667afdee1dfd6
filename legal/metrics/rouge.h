// ROUGE-L (sentence level), computed exactly as Google's rouge-score computes `rougeL`
// (rouge_score/rouge_scorer.py: _score_lcs + scoring.fmeasure):
//   lcs = |LCS(reference tokens, candidate tokens)|
//   P   = lcs / |candidate|,  R = lcs / |reference|
//   F   = 2*P*R / (P+R)   (beta = 1), and P = R = F = 0 when either side has no tokens or P+R = 0.
// The arithmetic is the same double-precision operations in the same order as the Python code, so for the same
// token sequences beop and rouge-score give the same doubles (tests/test_rouge.cpp checks this).
//
// Tokenisation is always stated by the caller; there is deliberately no "default" tokenizer like
// rouge-score's, which lower-cases, keeps only [a-z0-9] and so silently drops every Hangul syllable.
//   Whitespace  eojeol split: the text is split on Unicode whitespace exactly as Python's str.split() with no
//               argument does (the 29 code points for which str.isspace() is true: U+0009-000D, U+001C-001F,
//               U+0020, U+0085, U+00A0, U+1680, U+2000-200A, U+2028, U+2029, U+202F, U+205F, U+3000).
//               Hangul, Hanja and punctuation stay inside their eojeol ("법률." is one token).
//   Character   every Unicode code point that is not whitespace (as above) is one token.
//   token ids   a caller-supplied id sequence (e.g. the model tokenizer's output): overloads on int32 vectors.
// Optional normalisation (off by default), applied before tokens are compared:
//   lowercase_ascii   A-Z -> a-z only (Hangul has no case; full Unicode case folding is not attempted).
//   strip_punct       removes the punctuation set kPunctuation below from every token; tokens left empty are
//                     dropped. ㆍ (U+318D, the statutes' middle dot) is a Hangul letter, not punctuation.
// Input must be valid UTF-8; invalid bytes throw beop::Error naming the byte offset.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace beop {

enum class RougeTokenize { Whitespace, Character };

struct RougeOptions {
  RougeTokenize tokenize = RougeTokenize::Whitespace;
  bool lowercase_ascii = false;
  bool strip_punct = false;
};

// The code points removed by strip_punct: ASCII punctuation (Python's string.punctuation) and
// ‘ ’ “ ” · … 、 。 〈 〉 《 》 「 」 『 』 【 】 〔 〕 ｢ ｣.
extern const char32_t kPunctuation[];
extern const int kNumPunctuation;

struct RougeScore {
  double precision = 0, recall = 0, fmeasure = 0;
  int64_t lcs = 0;        // length of the longest common subsequence, in tokens
  int64_t n_reference = 0, n_candidate = 0;  // token counts after tokenisation
};

// True for exactly the code points Python's str.isspace() accepts (see above).
bool is_unicode_space(char32_t c);

// The tokens (as UTF-8 strings) that rouge_l() compares, after the chosen tokenisation and normalisation.
std::vector<std::string> rouge_tokenize(const std::string& text, const RougeOptions& opt);

// |LCS(a, b)| in O(|a|*|b|) time and O(min(|a|,|b|)) memory.
int64_t lcs_length(const std::vector<int32_t>& a, const std::vector<int32_t>& b);

// Score from counts exactly as rouge-score does it (so every overload below shares the same arithmetic).
RougeScore rouge_from_lcs(int64_t lcs, int64_t n_reference, int64_t n_candidate);

// Argument order follows rouge_scorer.score(target, prediction): reference first, candidate second.
RougeScore rouge_l(const std::string& reference, const std::string& candidate, const RougeOptions& opt = {});
RougeScore rouge_l(const std::vector<int32_t>& reference, const std::vector<int32_t>& candidate);

// Corpus level: the unweighted mean of P, R and F over the pairs (what rouge-score users usually report when
// they average per-example scores). lcs/n_* are summed. An empty corpus gives all zeros; a size mismatch throws.
struct RougeCorpus {
  double precision = 0, recall = 0, fmeasure = 0;  // means over items
  int64_t items = 0, lcs = 0, n_reference = 0, n_candidate = 0;
};
RougeCorpus rouge_l_corpus(const std::vector<std::string>& references, const std::vector<std::string>& candidates,
                           const RougeOptions& opt = {});
RougeCorpus rouge_l_corpus(const std::vector<std::vector<int32_t>>& references,
                           const std::vector<std::vector<int32_t>>& candidates);

}  // namespace beop
