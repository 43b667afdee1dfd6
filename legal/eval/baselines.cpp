// No-model baselines (baselines.h).
#include "legal/eval/baselines.h"

#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "legal/eval/task_split.h"
#include "legal/retrieval.h"
#include "src/common.h"
#include "src/io.h"

namespace beop::eval {

const char* baseline_name(Baseline b) {
  switch (b) {
    case Baseline::Copy: return "copy_input";
    case Baseline::Lead: return "lead_n";
    case Baseline::Retrieve: return "retrieve_article";
  }
  return "?";
}

std::string first_eojeols(const std::string& text, int n) {
  std::istringstream in(text);
  std::string out, w;
  for (int k = 0; k < n && in >> w; k++) out += (out.empty() ? "" : " ") + w;
  return out;
}

std::string baseline_prediction(Baseline b, const TaskItem& it, int lead_n, const retrieval::RetrievalIndex* idx) {
  const std::string& input = item_input(it);
  switch (b) {
    case Baseline::Copy: return input;
    case Baseline::Lead: return first_eojeols(it.document.empty() ? input : it.document, lead_n);
    case Baseline::Retrieve: {
      BEOP_CHECK(idx != nullptr, "retrieve_article baseline without an index");
      const auto hits = idx->search(input, 1);
      return hits.empty() ? std::string() : hits[0].citation + "\n" + hits[0].text;
    }
  }
  return "";
}

std::vector<EvalReport> run_baselines(const std::vector<std::pair<Task, std::vector<TaskItem>>>& items,
                                      const EvalOptions& o, const Tokenizer* tok) {
  BEOP_CHECK(file_exists(o.index_path), "retrieval index ", o.index_path,
             " does not exist (the retrieve_article baseline needs it: ./prep index --out ", o.index_path, ")");
  const retrieval::RetrievalIndex idx = retrieval::RetrievalIndex::load(o.index_path);
  std::vector<EvalReport> rows;
  for (Baseline b : kBaselines) {
    EvalReport rep;
    rep.label = std::string("baseline: ") + baseline_name(b);
    rep.model_dir = "(no model)";
    const std::string dir = o.out_dir + "/baseline_" + baseline_name(b);
    make_dirs(dir);
    for (auto& [task, chosen] : items) {
      if (!is_rouge_task(task)) continue;
      TaskSummary ts;
      ts.task = task;
      ts.source = "the model row's items";
      std::string lines;
      double rsum[3] = {0, 0, 0};
      for (const TaskItem& it : chosen) {
        const std::string pred = baseline_prediction(b, it, o.lead_n, &idx);
        double r[3] = {0, 0, 0};
        for (int k = 0; k < 3; k++)
          if (RougeTok(k) != RougeTok::Tokenizer || tok != nullptr) r[k] = rouge_l_f(it.reference, pred, RougeTok(k), tok);
        for (int k = 0; k < 3; k++) rsum[k] += r[k];
        ts.ids.push_back(it.id);
        ts.scores.push_back(r[int(o.rouge)]);
        ts.n++;
        nlohmann::json j = {{"id", it.id}, {"prediction", pred}, {"reference", it.reference},
                            {"score", r[int(o.rouge)]},
                            {"rouge", {{"whitespace", r[0]}, {"character", r[1]}, {"tokenizer", r[2]}}}};
        lines += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
      }
      if (ts.n > 0) {
        double s = 0;
        for (double x : ts.scores) s += x;
        ts.rouge_l_f = s / ts.n;
        for (int k = 0; k < 3; k++) ts.rouge_by_tok[k] = rsum[k] / ts.n;
      }
      write_file_atomic(dir + "/" + task_name(task) + ".jsonl", lines);
      rep.tasks.push_back(ts);
    }
    compute_avg(rep);
    rows.push_back(std::move(rep));
  }
  return rows;
}

}  // namespace beop::eval
