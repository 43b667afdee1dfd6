// The evaluation runner behind `infer eval` (the command itself, flags and model loading, is cli/eval_command.h):
// runs the evaluation tasks (legal/eval/tasks.h) on one checkpoint with greedy decoding, scores them
// (legal/eval/scoring.h) and writes per-item outputs plus a report in the study's layout (docs/EVAL.md).
//
//   ./infer eval --model runs/it --tasks all --limit 20 --system legal --ref none --out runs/it/eval
//     -> OUT/<task>.jsonl  {"id","prediction","reference","score",...} per item
//        OUT/report.md     | setting | Complaint | Summary | Petition | QA | MRC | MC | AVG |
//        OUT/report.json   the same numbers (fractions, not percent) + settings + general-domain figures
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "legal/eval/bootstrap.h"
#include "legal/eval/scoring.h"
#include "legal/eval/tasks.h"
#include "legal/reference_hook.h"
#include "src/generator.h"

namespace beop::eval {

// Fits a prompt into `budget` tokens (docs/EVAL.md, "Truncation"):
//   1. while it is too long and the item has a `document`, the document is cut to its first k code points
//      (k shrinking proportionally) and "…(이하 생략)" appended — the instruction before it and the request after
//      it stay whole;
//   2. if it is still too long, the middle of the token sequence is dropped: the first budget/2 tokens
//      (<|begin_of_text|>, system prompt, instruction) and the last budget - budget/2 (the end of the question and
//      the assistant header) are kept.
// `conv` holds the whole conversation (system first if any); the document lives in its last message.
struct FittedPrompt {
  std::vector<int32_t> tokens;
  int full_tokens = 0;      // before any truncation
  bool doc_cut = false;     // step 1 happened
  bool middle_cut = false;  // step 2 happened
};
FittedPrompt fit_prompt(const Tokenizer& tok, Conversation conv, const std::string& document, int budget);

// One scored item (what <task>.jsonl holds).
struct ItemResult {
  std::string id, prediction, reference;
  double score = 0;          // ROUGE-L F, or MC correct (sum-LL pick) 0/1
  double rouge_by_tok[3] = {0, 0, 0};  // ROUGE tasks: F with whitespace / character / model-tokenizer tokens
  int prompt_tokens = 0, full_prompt_tokens = 0;
  bool truncated = false;
  // MC only
  int answer = -1, pick_sum = -1, pick_norm = -1, pick_byte = -1, pick_letter = -1, pick_gen = -1;
  std::vector<double> option_logprob, letter_logprob;
  std::vector<int> option_tokens;
};

struct TaskSummary {
  Task task = Task::QA;
  int n = 0;                 // scored items
  int skipped = 0;           // bad items (file) + items that failed at run time
  double rouge_l_f = 0;      // mean ROUGE-L F (ROUGE tasks), with the selected tokenisation
  double rouge_by_tok[3] = {0, 0, 0};  // mean ROUGE-L F with whitespace / character / model-tokenizer tokens
  // MC: accuracy by the letter's probability after the prompt (KMMLU/MMLU convention; the table's MC column), by
  // the option log-likelihood per byte, by the generated letter, by the summed and per-token log-likelihood.
  double acc_letter = 0, acc_ll_byte = 0, acc_gen = 0, acc_ll = 0, acc_ll_norm = 0;
  int unparsed = 0;          // MC generations with no option letter
  int truncated = 0;
  std::string source;        // where the items came from
  // Per item, in item order (for the intervals and for paired comparisons): the main score (ROUGE-L F with the
  // selected tokens / MC correct by letter probability), and for MC each method's 0/1 (kMcMethods order).
  std::vector<std::string> ids;
  std::vector<double> scores;
  std::vector<double> mc_correct[5];
  Interval ci;               // of the main score (bootstrap.h), computed by compute_intervals
  Interval mc_ci[5];
};
// MC methods in TaskSummary::mc_correct order.
inline constexpr const char* kMcMethods[5] = {"letter", "ll_byte", "gen", "ll_sum", "ll_token"};

struct EvalOptions {
  std::vector<Task> tasks;
  int limit = 0;                    // items per task (0 = all), an even stride over the task
  int mc_limit = -1;                // MC items (-1 = the same as limit): log-likelihood scoring is cheap
  int korquad_limit = -1;           // KorQuAD items (-1 = the same as limit): 5,774 in all, a general-domain row
  std::string system;               // system prompt text ("" = none)
  std::string system_name = "none"; // legal | none | FILE (for the report)
  std::string ref = "none";         // none | auto
  int ref_k = 1;
  std::string index_path;           // retrieval index (./prep index); missing with ref auto: an Error
  prompt::ReferenceHook reference;  // built from ref/index_path/ref_k by the caller; left empty, run_eval builds it
  int max_new_tokens = 128;
  RougeTok rouge = RougeTok::Whitespace;
  std::string task_dir = "data/build/tasks";
  std::string data_root;            // corpora root
  std::string out_dir;
  std::string label;                // the report row's name
  std::string general_val;          // glob of general-domain validation shards ("" = skip)
  int64_t general_val_tokens = 16384;
  bool progress = true;
  bool baselines = false;           // add the no-model rows (legal/eval/baselines.h) to the report
  int lead_n = 64;                  // lead-N baseline: the first N eojeols of the input
};

struct EvalReport {
  std::string model_dir, label;
  std::vector<TaskSummary> tasks;
  double avg = 0;                   // mean ROUGE-L F over the legal ROUGE tasks present
  std::vector<std::string> avg_over;
  double general_val_loss = -1;     // -1 = not measured
  int64_t general_val_tokens = 0;
  std::vector<std::string> errors;  // skipped items, one line each
  Interval avg_ci;                  // AVG's bootstrap interval (tasks resampled independently)
  std::vector<EvalReport> baselines;  // no-model rows (--baselines), same items
};

// AVG = the mean of the five legal ROUGE-L columns that are present (MC and KorQuAD are not in it).
void compute_avg(EvalReport& r);
// The bootstrap intervals of every task score and of AVG (and of the baseline rows).
void compute_intervals(EvalReport& r);

// The Markdown table (one row) and the JSON, in the study's column order.
std::string report_markdown(const EvalReport& r, const EvalOptions& o);
std::string report_json(const EvalReport& r, const EvalOptions& o);

// The conversation an item is asked in: the system prompt (if any), then the item's turns (a raw prompt becomes
// one user turn); with an active hook, the last user turn of Complaint/Petition/QA/MC in the Q + Ref layout
// (legal/reference_hook.h, byte-identical to chat, serve and the qa_ref_in training data).
Conversation item_conversation(const TaskItem& it, const std::string& system, const prompt::ReferenceHook& ref);

// Runs everything and writes OUT/<task>.jsonl, OUT/report.md, OUT/report.json (with --baselines also
// OUT/baseline_<name>/<task>.jsonl). lm == nullptr (then tok may be null too): baselines only.
EvalReport run_eval(CausalLM& lm, const Tokenizer& tok, const std::string& model_dir, const EvalOptions& o);
EvalReport run_eval(CausalLM* lm, const Tokenizer* tok, const std::string& model_dir, const EvalOptions& o);

// The items of one task as run_eval chooses them (the task file or the corpora, then --limit / --mc-limit);
// bad lines are appended to *errors and counted in *skipped. *source says where they came from.
std::vector<TaskItem> choose_items(Task task, const EvalOptions& o, std::vector<std::string>* errors, int* skipped,
                                   std::string* source);

// Mean loss (nats/token) over the first max_tokens tokens of the shards matching glob (windows of the model's
// context overlapping by one token, like `infer score`).
double general_val_loss(CausalLM& lm, const std::string& glob, int64_t max_tokens, int64_t* tokens_used);

}  // namespace beop::eval
