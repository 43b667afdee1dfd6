// report.md / report.json of `infer eval` (runner.h): the study's table with a bootstrap 95% interval under every
// score, the baseline rows, and the per-task details.
#include "legal/eval/report.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "legal/eval/runner.h"

namespace beop::eval {

using nlohmann::json;

std::string fmt_pct(double x) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", 100 * x);
  return b;
}

std::string fmt_ci(const Interval& c) { return "[" + fmt_pct(c.lo) + ", " + fmt_pct(c.hi) + "]"; }

void compute_avg(EvalReport& r) {
  double s = 0;
  r.avg_over.clear();
  for (auto& t : r.tasks)
    if (in_legal_avg(t.task) && t.n > 0) s += t.rouge_l_f, r.avg_over.push_back(task_name(t.task));
  r.avg = r.avg_over.empty() ? 0 : s / double(r.avg_over.size());
}

void compute_intervals(EvalReport& r) {
  std::vector<std::vector<double>> avg_groups;
  for (auto& t : r.tasks) {
    t.ci = bootstrap_mean(t.scores);
    if (t.task == Task::MC)
      for (int m = 0; m < 5; m++) t.mc_ci[m] = bootstrap_mean(t.mc_correct[m]);
    if (in_legal_avg(t.task) && t.n > 0) avg_groups.push_back(t.scores);
  }
  r.avg_ci = bootstrap_mean_of_means(avg_groups);
  for (auto& b : r.baselines) compute_intervals(b);
}

namespace {

const TaskSummary* find_task(const EvalReport& r, Task c) {
  for (auto& x : r.tasks)
    if (x.task == c && x.n > 0) return &x;
  return nullptr;
}

std::string table_row(const EvalReport& r) {
  const Task cols[6] = {Task::Complaint, Task::Summary, Task::Petition, Task::QA, Task::MRC, Task::MC};
  std::string m = "| " + r.label;
  for (Task c : cols) {
    const TaskSummary* t = find_task(r, c);
    m += " | " + (t == nullptr ? std::string("—")
                               : fmt_pct(c == Task::MC ? t->acc_letter : t->rouge_l_f) + " " + fmt_ci(t->ci));
  }
  m += " | " + (r.avg_over.empty() ? std::string("—") : fmt_pct(r.avg) + " " + fmt_ci(r.avg_ci));
  const TaskSummary* kq = find_task(r, Task::KorQuAD);
  m += " | " + (kq == nullptr ? std::string("—") : fmt_pct(kq->rouge_l_f) + " " + fmt_ci(kq->ci)) + " |\n";
  return m;
}

}  // namespace

std::string report_markdown(const EvalReport& r, const EvalOptions& o) {
  std::string m = "# beop eval: " + r.label + "\n\nmodel `" + r.model_dir + "`; system prompt " + o.system_name +
                  ", references " + o.ref + ", greedy, max " + std::to_string(o.max_new_tokens) +
                  " new tokens, ROUGE-L F (" + rouge_tok_name(o.rouge) + " tokens) ×100; MC accuracy ×100 by the " +
                  "answer letter's probability after the prompt (KMMLU/MMLU convention); AVG = mean of the five " +
                  "ROUGE-L columns. [lo, hi] = 95% percentile bootstrap interval over items (" +
                  std::to_string(kBootstrapResamples) + " resamples).";
  if (!r.baselines.empty())
    m += " Baseline rows: no model, the same items (copy_input = the whole input, lead_n = its first " +
         std::to_string(o.lead_n) + " eojeols, retrieve_article = the top BM25 statute); read every model row " +
         "against them.";
  m += "\n\n| setting | Complaint | Summary | Petition | QA | MRC | MC | AVG | KorQuAD |\n"
       "|---|---|---|---|---|---|---|---|---|\n";
  bool any_model = false;
  for (auto& t : r.tasks) any_model = any_model || t.n > 0;
  if (any_model) m += table_row(r);
  for (auto& b : r.baselines) m += table_row(b);
  if (!r.avg_over.empty() && r.avg_over.size() < 5) m += "\nAVG over " + std::to_string(r.avg_over.size()) + " of 5 tasks.\n";
  if (any_model) {
    m += "\n| task | items | skipped | truncated | score [95% interval] | source |\n|---|---|---|---|---|---|\n";
    for (auto& t : r.tasks) {
      std::string score;
      if (t.task == Task::MC) {
        const double acc[5] = {t.acc_letter, t.acc_ll_byte, t.acc_gen, t.acc_ll, t.acc_ll_norm};
        const char* what[5] = {"letter probability", "LL per byte", "generated letter", "sum LL", "LL per token"};
        for (int k = 0; k < 5; k++)
          score += std::string(k ? " / " : "acc ") + what[k] + " " + fmt_pct(acc[k]) + " " + fmt_ci(t.mc_ci[k]) +
                   (k == 2 ? " (" + std::to_string(t.unparsed) + " unparsed)" : "");
      } else {
        score = "ROUGE-L F " + fmt_pct(t.rouge_l_f) + " " + fmt_ci(t.ci) + " (whitespace / character / tokenizer: " +
                fmt_pct(t.rouge_by_tok[0]) + " / " + fmt_pct(t.rouge_by_tok[1]) + " / " + fmt_pct(t.rouge_by_tok[2]) + ")";
      }
      m += "| " + std::string(task_title(t.task)) + " | " + std::to_string(t.n) + " | " + std::to_string(t.skipped) +
           " | " + std::to_string(t.truncated) + " | " + score + " | " + t.source + " |\n";
    }
  }
  if (r.general_val_loss >= 0) {
    char b[128];
    std::snprintf(b, sizeof b, "%.4f nats/token over %lld tokens", r.general_val_loss, (long long)r.general_val_tokens);
    m += "\nGeneral-domain validation loss (`" + o.general_val + "`): " + b + "\n";
  }
  if (!r.errors.empty()) {
    m += "\nSkipped items:\n";
    for (auto& e : r.errors) m += "- " + e + "\n";
  }
  return m;
}

namespace {

json ci_json(const Interval& c) { return json::array({c.lo, c.hi}); }

json tasks_json(const EvalReport& r) {
  json tasks = json::object();
  for (auto& t : r.tasks) {
    if (t.n == 0 && !r.baselines.empty() && t.task == Task::MC) continue;
    json x = {{"n", t.n}, {"skipped", t.skipped}, {"truncated", t.truncated}, {"source", t.source}, {"ci", ci_json(t.ci)}};
    if (t.task == Task::MC) {
      x["acc_letter"] = t.acc_letter;
      x["acc_ll_byte"] = t.acc_ll_byte;
      x["acc_gen"] = t.acc_gen;
      x["acc_ll"] = t.acc_ll;
      x["acc_ll_norm"] = t.acc_ll_norm;
      x["unparsed"] = t.unparsed;
      json c = json::object();
      for (int m = 0; m < 5; m++) c[kMcMethods[m]] = ci_json(t.mc_ci[m]);
      x["ci_by_method"] = c;
    } else {
      x["rouge_l_f"] = t.rouge_l_f;
      x["rouge_l_f_by_tokens"] = {{"whitespace", t.rouge_by_tok[0]}, {"character", t.rouge_by_tok[1]},
                                  {"tokenizer", t.rouge_by_tok[2]}};
    }
    tasks[task_name(t.task)] = x;
  }
  return tasks;
}

}  // namespace

std::string report_json(const EvalReport& r, const EvalOptions& o) {
  json j;
  j["model"] = r.model_dir;
  j["label"] = r.label;
  j["settings"] = {{"system", o.system_name}, {"ref", o.ref},          {"ref_k", o.ref_k},
                   {"max_new_tokens", o.max_new_tokens}, {"limit", o.limit}, {"mc_limit", o.mc_limit}, {"korquad_limit", o.korquad_limit}, {"rouge_tokens", rouge_tok_name(o.rouge)},
                   {"decoding", "greedy"}, {"bootstrap", {{"resamples", kBootstrapResamples}, {"seed", kBootstrapSeed}, {"level", 0.95}}}};
  j["tasks"] = tasks_json(r);
  j["avg"] = r.avg_over.empty() ? json(nullptr) : json(r.avg);
  j["avg_ci"] = r.avg_over.empty() ? json(nullptr) : ci_json(r.avg_ci);
  j["avg_over"] = r.avg_over;
  j["general"] = {{"val_loss", r.general_val_loss >= 0 ? json(r.general_val_loss) : json(nullptr)},
                  {"val_tokens", r.general_val_tokens},
                  {"val_glob", o.general_val}};
  json bs = json::array();
  for (auto& b : r.baselines)
    bs.push_back({{"label", b.label}, {"tasks", tasks_json(b)}, {"avg", b.avg_over.empty() ? json(nullptr) : json(b.avg)},
                  {"avg_ci", b.avg_over.empty() ? json(nullptr) : ci_json(b.avg_ci)}, {"lead_n", o.lead_n}});
  j["baselines"] = bs;
  j["errors"] = r.errors;
  return j.dump(2) + "\n";
}

}  // namespace beop::eval
