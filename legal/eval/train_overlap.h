// Near-duplicates of evaluation items in training corpora at the character n-gram level (docs/EVAL.md, "Overlap
// rules"). prep corpora's EvalBlocklist (legal/eval_blocklist.h) removes training documents that hold an
// evaluation text verbatim (48-byte segments); this measures what that leaves: for each item, the share of its
// reference's (and its input's) character n-grams that occur anywhere in the given training files — a paraphrase
// or a lightly edited copy keeps most of its 13-grams even when no 48-byte segment survives.
#pragma once
#include <string>
#include <vector>

#include "legal/eval/tasks.h"

namespace beop::eval {

inline constexpr int kNearDupN = 13;  // code points (whitespace collapsed); 13 Hangul ≈ 4–5 eojeols

struct NearDup {
  Task task = Task::QA;
  int items = 0;
  int ref_half = 0, ref_most = 0;      // items with > 50% / > 90% of their reference's n-grams in training text
  int input_half = 0;                  // items with > 50% of their input's n-grams in training text
  double mean_ref = 0, mean_input = 0; // mean shares
};

// One row per task present in `items` (task order). Training files are read as raw text (JSON string escapes
// \n \t \" become their characters' separators), so the check does not depend on their schema. A missing file is
// an Error naming it.
std::vector<NearDup> near_duplicates(const std::vector<TaskItem>& items, const std::vector<std::string>& train_files,
                                     int n = kNearDupN);

// The per-item shares behind near_duplicates (reference, input), for tests.
struct ItemShare {
  double ref = 0, input = 0;
};
std::vector<ItemShare> item_shares(const std::vector<TaskItem>& items, const std::vector<std::string>& train_texts,
                                   int n = kNearDupN);

}  // namespace beop::eval
