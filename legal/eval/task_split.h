// Keeping the evaluation tasks apart (docs/EVAL.md, "Overlap rules"): which task a test precedent serves, the
// character n-gram containment of a reference in a text, the removal of the input sentences that quote an item's
// own reference, and the audit `prep tasks` prints and tests/test_eval_tasks.cpp asserts.
//
// Why: the Supreme Court's 판결요지 is mostly lifted from the decision's 이유 (on average 72% of its 20-grams), so a
// Summary or Complaint input holding the full 이유 lets copy-the-input win; and one 판결요지 used as the reference
// of three tasks makes the tasks one task.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "legal/eval/tasks.h"

namespace beop::eval {

// The n of the character n-grams (code points, whitespace runs collapsed to one space) used for containment.
inline constexpr int kContainN = 20;
// An item whose input holds more than this share of its reference's n-grams is not built (MRC) or has the quoting
// sentences removed from its input (Summary, Complaint).
inline constexpr double kMaxContainment = 0.5;

// Which task a test precedent serves, by its position in the test split and its case type: the non-criminal
// ones (the only possible 소장) rotate Complaint, Summary, QA; the criminal ones alternate Summary, QA.
// `k` counts within its group (non-criminal / criminal), in source order.
Task precedent_owner(bool criminal, size_t k);

// Share (0..1) of the distinct character n-grams of `reference` that also occur in `text` (0 when the reference
// is shorter than n).
double ngram_containment(const std::string& reference, const std::string& text, int n = kContainN);

// `text` without the sentences (split at newlines and at "다." + space) that share a character n-gram with
// `reference`; *removed (optional) counts the dropped sentences. Kept sentences stay in order, lines keep their
// breaks.
std::string strip_quoted_sentences(const std::string& text, const std::string& reference, int n = kContainN,
                                   int* removed = nullptr);

// The text an item's model sees before its request: the last user message (or prompt).
const std::string& item_input(const TaskItem& it);

struct TaskAudit {
  int items = 0;
  int shared_references = 0;     // items whose reference text is also another item's reference (MC not counted:
                                 // its reference is one option, and options like "1, 2" recur across questions)
  int cross_task_references = 0; // ... of an item of another task
  int contained = 0;             // items whose input holds > kMaxContainment of their reference's n-grams
  double max_containment = 0, mean_containment = 0;
};
// Audits a set of items (all tasks together).
TaskAudit audit_tasks(const std::vector<TaskItem>& items, int n = kContainN);

}  // namespace beop::eval
