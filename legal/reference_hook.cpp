// The retrieval hook (legal/reference_hook.h).
#include "legal/reference_hook.h"

#include "legal/prompt.h"
#include "legal/retrieval.h"
#include "src/common.h"
#include "src/flags.h"
#include "src/io.h"

namespace beop::prompt {

ReferenceHook ReferenceHook::make(const std::string& mode, const std::string& index_path, int k) {
  if (mode == "none") return {};
  if (mode != "auto") throw UsageError(cat("--ref must be auto or none, got '", mode, "'"));
  if (k < 1) throw UsageError(cat("--ref-k must be positive, got ", k));
  BEOP_CHECK(!index_path.empty() && file_exists(index_path), "--ref auto: statute index ", index_path,
             " not found (build it with: ./prep index --out ", index_path, ")");
  return with_index(std::make_shared<const retrieval::RetrievalIndex>(retrieval::RetrievalIndex::load(index_path)), k);
}

ReferenceHook ReferenceHook::with_index(std::shared_ptr<const retrieval::RetrievalIndex> index, int k) {
  BEOP_CHECK(index != nullptr && k >= 1, "ReferenceHook: needs an index and k >= 1");
  ReferenceHook h;
  h.index_ = std::move(index);
  h.k_ = k;
  return h;
}

std::string ReferenceHook::user_turn(const std::string& question, std::vector<std::string>* cited) const {
  if (cited) cited->clear();
  if (!index_) return question;
  std::vector<Reference> refs;
  for (const retrieval::Hit& h : index_->search(question, k_)) {
    refs.push_back({h.citation, h.text});
    if (cited) cited->push_back(h.citation);
  }
  return user_with_references(refs, question);
}

}  // namespace beop::prompt
