// The ONE retrieval hook of "Q + Ref => A" (--ref auto): question -> user turn with the top-k retrieved statutes
// in front (legal/prompt.h's layout), plus the citations it used. infer chat, infer serve ("reference":"auto"),
// infer eval and prep chat --ref auto all build it here, with one policy for a missing index: an Error naming
// the file and the command that builds it (nothing is built behind the caller's back).
//
//   ReferenceHook ref = ReferenceHook::make("auto", "data/build/statutes.idx", 3);
//   std::vector<std::string> cited;
//   std::string turn = ref.user_turn("전세 보증금을 못 받았어요", &cited);   // no hits: the question unchanged
#pragma once
#include <memory>
#include <string>
#include <vector>

namespace beop::retrieval {
class RetrievalIndex;
}

namespace beop::prompt {

class ReferenceHook {
 public:
  ReferenceHook() = default;  // --ref none: user_turn returns the question
  // mode "none" -> an inactive hook; "auto" -> the index at index_path, k articles per question. Throws
  // UsageError on another mode or k < 1, Error when the index file is missing (naming `./prep index --out PATH`).
  static ReferenceHook make(const std::string& mode, const std::string& index_path, int k);
  // An index already in memory (tests, callers that built one themselves).
  static ReferenceHook with_index(std::shared_ptr<const retrieval::RetrievalIndex> index, int k);

  bool active() const { return index_ != nullptr; }
  explicit operator bool() const { return active(); }
  // Thread-safe (the index is read-only). `cited` (optional) receives the citations put into the turn.
  std::string user_turn(const std::string& question, std::vector<std::string>* cited = nullptr) const;
  std::string operator()(const std::string& question) const { return user_turn(question); }

 private:
  std::shared_ptr<const retrieval::RetrievalIndex> index_;
  int k_ = 0;
};

}  // namespace beop::prompt
