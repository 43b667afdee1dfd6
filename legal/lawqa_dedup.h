// Near-duplicate detection for generated questions (law-QA endpoint generator): a teacher asked about many
// articles of one law often writes the same question twice with cosmetic changes. Two questions are
// near-duplicates when the Jaccard similarity of their character n-gram sets (n = 3 code points, after
// normalize()) is >= the threshold (default 0.8: the tests' pair of 40-syllable questions that differ in one
// ending scores 0.85, two different tenancy questions 0.0). Candidates come from an inverted index of the
// n-grams, so a check costs the postings of its own n-grams, not a scan of every kept question.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace beop::lawqa {

class NearDupIndex {
 public:
  explicit NearDupIndex(double threshold = 0.8, int n = 3) : threshold_(threshold), n_(n) {}
  // NFC, ASCII lowercased, whitespace and punctuation (ASCII, general, CJK and full-width) dropped.
  static std::string normalize(const std::string& s);
  // Distinct hashed character n-grams of normalize(s) (the whole text when shorter than n).
  std::vector<uint64_t> shingles(const std::string& s) const;
  static double jaccard(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b);  // both sorted, distinct
  // Index of the most similar added text with Jaccard >= threshold (its score in *score), or -1.
  long find(const std::string& s, double* score = nullptr) const;
  void add(const std::string& s);
  size_t size() const { return sets_.size(); }
  double threshold() const { return threshold_; }

 private:
  double threshold_;
  int n_;
  std::vector<std::vector<uint64_t>> sets_;
  std::unordered_map<uint64_t, std::vector<uint32_t>> postings_;
};

}  // namespace beop::lawqa
