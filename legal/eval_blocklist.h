// EvalBlocklist: the evaluation data a training corpus must not contain (the precedents TEST split, KoBLEX,
// KMMLU Criminal-Law test, NHRCK counsel cases; corpora.h says why), matched by id, case number and long
// verbatim text segments.
#pragma once
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace beop::corpora {

class EvalBlocklist {
 public:
  static constexpr size_t kMinSegmentBytes = 48;  // text segments shorter than this are not matched (16 Hangul)
  // Reads the evaluation files under the corpora root (missing files throw Error: a blocklist that silently
  // lost a source would let it leak).
  static EvalBlocklist load(const std::string& data_root);

  void add_id(const std::string& id) { ids_.insert(id); }
  void add_case_no(const std::string& case_no);  // "2016다249557"; "a, b" lists are split
  void add_text(const std::string& text);        // split into segments ([n] items, sentences); long ones kept

  bool blocked_id(const std::string& id) const { return ids_.count(id) > 0; }
  // The first blocked case number or segment found in `text`, or "" when clean.
  std::string find_leak(const std::string& text) const;

  // Exempts every segment that occurs verbatim in `text` (the statutes); returns how many were newly exempted.
  size_t exempt_found_in(const std::string& text);

  size_t n_ids() const { return ids_.size(); }
  size_t n_case_nos() const { return case_nos_.size(); }
  size_t n_segments() const { return segments_.size(); }

 private:
  std::set<std::string> ids_, case_nos_;
  void scan(const std::string& text, const std::function<bool(size_t)>& hit) const;  // hit(segment) -> continue?
  std::vector<std::string> segments_;
  std::set<size_t> exempt_;
  std::unordered_multimap<std::string, size_t> prefix_;  // first kMinSegmentBytes bytes -> segment index
  std::unordered_set<uint64_t> hashes_;                  // rolling hashes of those prefixes
};

// Case numbers written in a text: digit run + Hangul run + digit run, e.g. "2016다249557", "2002도1283".
std::vector<std::string> case_numbers_in(const std::string& text);

}  // namespace beop::corpora
