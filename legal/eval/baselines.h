// No-model baselines for `infer eval --baselines` (docs/EVAL.md, "Baselines"): every model row of report.md is
// read against what a program with no model scores on the same items.
//   copy_input        the prediction is the item's whole input (the last user message)
//   lead_n            the first N eojeols of the item's document (Summary, KorQuAD) or else of its input
//   retrieve_article  the text of the top BM25 article (legal/retrieval.h, the statute index) for the input
// MC has no baseline row (chance is 1 / options).
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "legal/eval/runner.h"

namespace beop::retrieval {
class RetrievalIndex;
}

namespace beop::eval {

enum class Baseline { Copy, Lead, Retrieve };
inline constexpr Baseline kBaselines[3] = {Baseline::Copy, Baseline::Lead, Baseline::Retrieve};
const char* baseline_name(Baseline b);  // copy_input | lead_n | retrieve_article

// The first n whitespace-separated tokens of text, joined by single spaces.
std::string first_eojeols(const std::string& text, int n);

// One baseline's prediction for an item (idx is needed for Retrieve only; no hit -> "").
std::string baseline_prediction(Baseline b, const TaskItem& it, int lead_n, const retrieval::RetrievalIndex* idx);

// The baseline rows on the chosen items of each task (MC skipped), scored like the model's (tok == nullptr: the
// tokenizer column of ROUGE stays 0). Writes OUT/baseline_<name>/<task>.jsonl. The index is loaded from
// o.index_path (a missing file: Error naming `./prep index`).
std::vector<EvalReport> run_baselines(const std::vector<std::pair<Task, std::vector<TaskItem>>>& items,
                                      const EvalOptions& o, const Tokenizer* tok);

}  // namespace beop::eval
