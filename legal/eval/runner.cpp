#include "legal/eval/runner.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "legal/eval/baselines.h"
#include "legal/eval/report.h"
#include "src/common.h"
#include "src/flags.h"
#include "src/io.h"
#include "src/mixture_loader.h"
#include "src/shard.h"

namespace beop::eval {

using nlohmann::json;

namespace {

const char* kCut = " …(이하 생략)";

// The first n code points of s (s is valid UTF-8).
std::string utf8_prefix(const std::string& s, size_t n) {
  size_t i = 0, cps = 0;
  while (i < s.size() && cps < n) {
    unsigned char c = (unsigned char)s[i];
    i += c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    cps++;
  }
  return s.substr(0, std::min(i, s.size()));
}
size_t utf8_length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Tasks whose user turn is a question a statute could answer: --ref auto puts retrieved references in front of
// it (the Q + Ref layout). Summary/MRC/KorQuAD already carry their document.
bool ref_applies(Task t) { return t == Task::Complaint || t == Task::Petition || t == Task::QA || t == Task::MC; }

std::vector<size_t> stride_subset(size_t n, int limit) {
  std::vector<size_t> idx;
  if (limit <= 0 || size_t(limit) >= n) {
    for (size_t i = 0; i < n; i++) idx.push_back(i);
  } else {
    for (int i = 0; i < limit; i++) idx.push_back(size_t(double(i) * double(n) / double(limit)));
  }
  return idx;
}


}  // namespace

FittedPrompt fit_prompt(const Tokenizer& tok, Conversation conv, const std::string& document, int budget) {
  BEOP_CHECK(budget >= 8, "prompt budget of ", budget, " tokens is too small");
  FittedPrompt f;
  f.tokens = encode_chat(tok, conv, true).tokens;
  f.full_tokens = int(f.tokens.size());
  std::string& content = conv.back().content;
  const size_t at = document.empty() ? std::string::npos : content.find(document);
  if (at != std::string::npos && int(f.tokens.size()) > budget) {
    const std::string head = content.substr(0, at), tail = content.substr(at + document.size());
    size_t keep = utf8_length(document);
    for (int iter = 0; iter < 12 && int(f.tokens.size()) > budget && keep > 0; iter++) {
      // Shrink proportionally to the overshoot (tokens per code point is roughly constant within a text), with
      // a 10% margin; at least one code point per round so the loop ends.
      const double ratio = double(budget) / double(f.tokens.size());
      const size_t next = size_t(double(keep) * ratio * 0.9);
      keep = std::min(keep - 1, next);
      content = head + utf8_prefix(document, keep) + kCut + tail;
      f.tokens = encode_chat(tok, conv, true).tokens;
      f.doc_cut = true;
    }
  }
  if (int(f.tokens.size()) > budget) {
    const size_t h = size_t(budget / 2), t = size_t(budget) - h;
    std::vector<int32_t> cut(f.tokens.begin(), f.tokens.begin() + long(h));
    cut.insert(cut.end(), f.tokens.end() - long(t), f.tokens.end());
    f.tokens = std::move(cut);
    f.middle_cut = true;
  }
  return f;
}

Conversation item_conversation(const TaskItem& it, const std::string& system, const prompt::ReferenceHook& ref) {
  Conversation conv;
  if (!system.empty()) conv.push_back({"system", system});
  if (!it.messages.empty()) {
    for (auto& m : it.messages) conv.push_back(m);
  } else {
    conv.push_back({"user", it.prompt});  // raw prompts are evaluated in the chat layout too (documented)
  }
  if (ref && ref_applies(it.task)) conv.back().content = ref.user_turn(conv.back().content);
  return conv;
}

double general_val_loss(CausalLM& lm, const std::string& glob, int64_t max_tokens, int64_t* used) {
  std::vector<int32_t> toks;
  for (auto& path : expand_glob(glob)) {
    ShardReader r(path, lm.config().vocab_size);
    const int64_t n = std::min<int64_t>(r.n_tokens(), max_tokens - int64_t(toks.size()));
    if (n <= 0) break;
    const size_t at = toks.size();
    toks.resize(at + size_t(n));
    r.read_tokens(0, n, toks.data() + at);
  }
  BEOP_CHECK(toks.size() >= 2, "--general-val ", glob, ": fewer than 2 tokens");
  const std::vector<double> lp = score_tokens(lm, toks);
  double s = 0;
  for (double x : lp) s += x;
  if (used) *used = int64_t(lp.size());
  return -s / double(lp.size());
}

namespace {

// Runs the model on one task's chosen items: fills ts (n, scores, per-item vectors, means) and writes
// OUT/<task>.jsonl; items that fail are skipped and reported in rep->errors.
void run_task(CausalLM& lm, const Tokenizer& tok, const EvalOptions& o, const std::vector<TaskItem>& chosen,
              TaskSummary* tsp, EvalReport* rep) {
  TaskSummary& ts = *tsp;
  const Task task = ts.task;
  const int T = lm.config().max_seq_len;
  const int max_new = std::min(o.max_new_tokens, T / 2);
  if (max_new < o.max_new_tokens && task == o.tasks.front())
    std::fprintf(stderr, "eval: --max-new-tokens %d capped at %d (half the model's context of %d)\n",
                 o.max_new_tokens, max_new, T);
  // The caller normally builds the hook (to fail on a missing index before loading a model); a library caller
  // may leave it to the options.
  const prompt::ReferenceHook ref = o.reference || o.ref == "none" ? o.reference
                                                                    : prompt::ReferenceHook::make(o.ref, o.index_path, o.ref_k);
  Generator gen(lm, tok);
  GenerateOptions go;
  go.sampling.temperature = 0;  // greedy
  go.sampling.top_k = 0, go.sampling.top_p = 1, go.sampling.repetition_penalty = 1;
  go.max_new_tokens = max_new;
  Progress bar(std::string("eval ") + task_name(task), chosen.size(), o.progress && ::isatty(2));
  std::string out_lines;
  double rsum[3] = {0, 0, 0};
  for (size_t i = 0; i < chosen.size(); i++) {
    const TaskItem& it = chosen[i];
    try {
      const Conversation conv = item_conversation(it, o.system, ref);
      ItemResult r;
      r.id = it.id;
      if (task == Task::MC) {
        std::vector<std::vector<int32_t>> opts, letters;
        std::vector<size_t> bytes;
        size_t longest = 0;
        for (size_t k = 0; k < it.options.size(); k++) {
          std::vector<int32_t> ids = tok.encode(it.options[k]);
          if (int(ids.size()) > T / 2) ids.resize(size_t(T / 2));  // very long option: its first T/2 tokens
          longest = std::max(longest, ids.size());
          opts.push_back(std::move(ids));
          bytes.push_back(it.options[k].size());
          letters.push_back(tok.encode(std::string(1, char('A' + k))));
        }
        const FittedPrompt fp = fit_prompt(tok, conv, it.document, T - int(longest));
        MCScore s = score_options(lm, fp.tokens, opts, bytes);
        score_letters(lm, fp.tokens, letters, &s);
        GenerateOptions g1 = go;
        g1.max_new_tokens = std::min(8, max_new);
        const FittedPrompt fg = fit_prompt(tok, conv, it.document, T - g1.max_new_tokens);
        const GenerateResult gr = gen.generate(fg.tokens, g1);
        r.pick_sum = s.pick_sum, r.pick_norm = s.pick_norm, r.pick_byte = s.pick_byte, r.pick_letter = s.pick_letter;
        r.pick_gen = parse_choice(gr.text, int(it.options.size()));
        r.answer = it.answer;
        r.option_logprob = s.sum_logprob, r.option_tokens = s.n_tokens, r.letter_logprob = s.letter_logprob;
        r.prediction = gr.text;
        r.reference = std::string(1, char('A' + it.answer));
        r.score = r.pick_letter == it.answer;
        r.prompt_tokens = int(fp.tokens.size()), r.full_prompt_tokens = fp.full_tokens;
        r.truncated = fp.doc_cut || fp.middle_cut;
        const int picks[5] = {r.pick_letter, r.pick_byte, r.pick_gen, r.pick_sum, r.pick_norm};
        for (int m = 0; m < 5; m++) ts.mc_correct[m].push_back(picks[m] == it.answer);
        ts.unparsed += r.pick_gen < 0;
      } else {
        const FittedPrompt fp = fit_prompt(tok, conv, it.document, T - max_new);
        const GenerateResult gr = gen.generate(fp.tokens, go);
        r.prediction = gr.text;
        r.reference = it.reference;
        for (int k = 0; k < 3; k++) r.rouge_by_tok[k] = rouge_l_f(it.reference, gr.text, RougeTok(k), &tok);
        r.score = r.rouge_by_tok[int(o.rouge)];
        for (int k = 0; k < 3; k++) rsum[k] += r.rouge_by_tok[k];
        r.prompt_tokens = int(fp.tokens.size()), r.full_prompt_tokens = fp.full_tokens;
        r.truncated = fp.doc_cut || fp.middle_cut;
      }
      ts.ids.push_back(r.id);
      ts.scores.push_back(r.score);
      ts.n++;
      ts.truncated += r.truncated;
      json j = {{"id", r.id}, {"prediction", r.prediction}, {"reference", r.reference}, {"score", r.score},
                {"prompt_tokens", r.prompt_tokens}, {"full_prompt_tokens", r.full_prompt_tokens},
                {"truncated", r.truncated}};
      if (task != Task::MC)
        j["rouge"] = {{"whitespace", r.rouge_by_tok[0]}, {"character", r.rouge_by_tok[1]},
                      {"tokenizer", r.rouge_by_tok[2]}};
      if (task == Task::MC) {
        auto L = [](int k) { return k < 0 ? json(nullptr) : json(std::string(1, char('A' + k))); };
        j["answer"] = L(r.answer);
        j["pick_letter"] = L(r.pick_letter);
        j["pick_ll_byte"] = L(r.pick_byte);
        j["pick_gen"] = L(r.pick_gen);
        j["pick_ll"] = L(r.pick_sum);
        j["pick_ll_norm"] = L(r.pick_norm);
        j["letter_logprob"] = r.letter_logprob;
        j["option_logprob"] = r.option_logprob;
        j["option_tokens"] = r.option_tokens;
      }
      out_lines += j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    } catch (const Error& e) {
      const std::string msg = cat(task_name(task), " item ", it.id, ": ", e.what());
      std::fprintf(stderr, "eval: skipped %s\n", msg.c_str());
      rep->errors.push_back(msg);
      ts.skipped++;
    }
    bar.update(i + 1);
  }
  bar.finish();
  auto mean = [](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? 0.0 : s / double(v.size());
  };
  if (ts.n > 0) {
    if (task == Task::MC) {
      ts.acc_letter = mean(ts.mc_correct[0]), ts.acc_ll_byte = mean(ts.mc_correct[1]), ts.acc_gen = mean(ts.mc_correct[2]);
      ts.acc_ll = mean(ts.mc_correct[3]), ts.acc_ll_norm = mean(ts.mc_correct[4]);
    } else {
      ts.rouge_l_f = mean(ts.scores);
      for (int k = 0; k < 3; k++) ts.rouge_by_tok[k] = rsum[k] / ts.n;
    }
  }
  write_file_atomic(o.out_dir + "/" + task_name(task) + ".jsonl", out_lines);
  if (task == Task::MC)
    std::printf("%-9s %4d items  acc %s (letter prob)  %s (LL/byte)  %s (generated, %d unparsed)  %s (sum LL)\n",
                task_title(task), ts.n, fmt_pct(ts.acc_letter).c_str(), fmt_pct(ts.acc_ll_byte).c_str(),
                fmt_pct(ts.acc_gen).c_str(), ts.unparsed, fmt_pct(ts.acc_ll).c_str());
  else
    std::printf("%-9s %4d items  ROUGE-L F %s  (%d truncated, %d skipped)\n", task_title(task), ts.n,
                fmt_pct(ts.rouge_l_f).c_str(), ts.truncated, ts.skipped);
  std::fflush(stdout);
}

}  // namespace

std::vector<TaskItem> choose_items(Task task, const EvalOptions& o, std::vector<std::string>* errors, int* skipped,
                                   std::string* source) {
  std::vector<TaskItem> items;
  std::vector<std::string> bad;
  const std::string file = o.task_dir + "/" + task_name(task) + ".jsonl";
  if (task_file_allowed(task) && !o.task_dir.empty() && file_exists(file)) {
    items = read_task_file(file, &bad);
    *source = file;
  } else {
    items = build_task(task, o.data_root);
    *source = task == Task::MC || task == Task::KorQuAD ? "corpora (formatted at load time)" : "corpora (built in memory)";
  }
  for (auto& e : bad) std::fprintf(stderr, "eval: skipped %s\n", e.c_str()), errors->push_back(e);
  *skipped += int(bad.size());
  std::vector<TaskItem> chosen;
  const int limit = task == Task::MC && o.mc_limit >= 0           ? o.mc_limit
                    : task == Task::KorQuAD && o.korquad_limit >= 0 ? o.korquad_limit
                                                                    : o.limit;
  for (size_t i : stride_subset(items.size(), limit))
    if (items[i].task == task) chosen.push_back(items[i]);
    else errors->push_back(cat(file, " (", items[i].id, "): task '", task_name(items[i].task), "' in the ",
                               task_name(task), " file")), (*skipped)++;
  return chosen;
}

EvalReport run_eval(CausalLM& lm, const Tokenizer& tok, const std::string& model_dir, const EvalOptions& o) {
  return run_eval(&lm, &tok, model_dir, o);
}

EvalReport run_eval(CausalLM* lm, const Tokenizer* tok, const std::string& model_dir, const EvalOptions& o) {
  BEOP_CHECK(lm != nullptr || o.baselines, "infer eval: no model and no baselines: nothing to evaluate");
  EvalReport rep;
  rep.model_dir = model_dir;
  rep.label = o.label.empty() ? model_dir : o.label;
  make_dirs(o.out_dir);
  std::vector<std::pair<Task, std::vector<TaskItem>>> all;
  for (Task task : o.tasks) {
    TaskSummary ts;
    ts.task = task;
    std::vector<TaskItem> chosen = choose_items(task, o, &rep.errors, &ts.skipped, &ts.source);
    if (lm != nullptr) run_task(*lm, *tok, o, chosen, &ts, &rep);
    all.push_back({task, std::move(chosen)});
    rep.tasks.push_back(ts);
  }
  if (lm != nullptr && !o.general_val.empty()) {
    rep.general_val_loss = general_val_loss(*lm, o.general_val, o.general_val_tokens, &rep.general_val_tokens);
    std::printf("general   val loss %.4f over %lld tokens\n", rep.general_val_loss, (long long)rep.general_val_tokens);
  }
  if (o.baselines) rep.baselines = run_baselines(all, o, tok);
  compute_avg(rep);
  compute_intervals(rep);
  write_file_atomic(o.out_dir + "/report.md", report_markdown(rep, o));
  write_file_atomic(o.out_dir + "/report.json", report_json(rep, o));
  return rep;
}

}  // namespace beop::eval
