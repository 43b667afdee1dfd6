// `infer eval` (cli/eval_command.h).
#include "cli/eval_command.h"

#include <omp.h>

#include <cstdio>

#include "cli/model_loader.h"
#include "cli/run_command.h"
#include "legal/eval/runner.h"
#include "legal/reference_hook.h"
#include "src/flags.h"
#include "src/io.h"

namespace beop::cli {

using namespace beop::eval;

int eval_main(int argc, char** argv) {
  return run_command("infer eval", [&] {
    Flags f("infer eval", "--model CKPT [--tasks all|complaint,summary,petition,qa,mrc,mc,korquad] [flags]",
            "Evaluates a checkpoint on the legal tasks (docs/EVAL.md): greedy decoding, ROUGE-L F for Complaint,\n"
            "Summary, Petition, QA, MRC (and KorQuAD, general domain), accuracy for MC; writes OUT/<task>.jsonl,\n"
            "OUT/report.md and OUT/report.json.");
    f.add("model", "", "checkpoint step directory, a run directory (its newest checkpoint), hf:DIR, or none "
          "(with --baselines: the baseline rows only)", true);
    add_device_flag(f);
    f.add("tasks", "all", "all (the six legal tasks) or a comma list of complaint,summary,petition,qa,mrc,mc,korquad");
    f.add("limit", "0", "items per task (0 = all), taken at an even stride over the task");
    f.add("mc-limit", "-1", "MC items (-1 = same as --limit, 0 = all)");
    f.add("korquad-limit", "-1", "KorQuAD items (-1 = same as --limit, 0 = all 5,774)");
    f.add("system", "legal", "system prompt at inference: legal (prompts/legal_advisor.txt) | none | FILE");
    f.add("ref", "none", "statute references retrieved into QA/Complaint/Petition/MC prompts: auto | none");
    f.add("ref-k", "1", "references per prompt with --ref auto");
    f.add("index", "data/build/statutes.idx", "statute retrieval index for --ref auto (build it with ./prep index)");
    f.add("max-new-tokens", "128", "maximum generated tokens per item (capped at half the context)");
    f.add("rouge-tokens", "whitespace", "ROUGE-L tokens: whitespace (eojeol) | character | tokenizer (model tokens)");
    f.add("task-dir", "data/build/tasks", "task files from `prep tasks` (a task without a file is built in memory)");
    f.add("data", "", "corpora root (default $BEOP_DATA or ../shared/data)");
    f.add("out", "", "output directory (default: <checkpoint>/eval)");
    f.add("label", "", "the report row's name (default: the checkpoint path)");
    f.add("general-val", "", "glob of general-domain validation token shards: report their loss");
    f.add("general-val-tokens", "16384", "tokens of --general-val scored");
    f.add("threads", "0", "OpenMP threads (0 = all cores)");
    f.add_bool("baselines", "add no-model rows to the report: copy_input, lead_n, retrieve_article (BM25, --index)");
    f.add("lead-n", "64", "eojeols of the lead_n baseline");
    f.add_bool("quiet", "no progress bar");
    if (!f.parse(argc, argv)) return 0;
    if (!f.positional().empty()) throw UsageError("unexpected argument '" + f.positional()[0] + "'");
    EvalOptions o;
    try {
      o.tasks = parse_task_list(f.str("tasks"));
      o.rouge = parse_rouge_tok(f.str("rouge-tokens"));
    } catch (const UsageError&) {
      throw;
    } catch (const Error& e) {
      throw UsageError(e.what());
    }
    o.limit = int(f.i64("limit"));
    if (o.limit < 0) throw UsageError("--limit must be >= 0");
    o.mc_limit = int(f.i64("mc-limit"));
    if (o.mc_limit < -1) throw UsageError("--mc-limit must be >= -1");
    o.korquad_limit = int(f.i64("korquad-limit"));
    if (o.korquad_limit < -1) throw UsageError("--korquad-limit must be >= -1");
    o.max_new_tokens = int(f.i64("max-new-tokens"));
    if (o.max_new_tokens <= 0) throw UsageError("--max-new-tokens must be positive");
    o.ref = f.str("ref");
    o.ref_k = int(f.i64("ref-k"));
    o.index_path = f.str("index");
    const std::string sys = f.str("system");
    o.system_name = sys;
    if (sys == "legal") o.system = legal_advisor_prompt();
    else if (sys == "none" || sys.empty()) o.system = "", o.system_name = "none";
    else if (file_exists(sys)) o.system = read_file(sys);
    else throw UsageError("--system " + sys + ": not 'legal', 'none' or an existing file");
    o.task_dir = f.str("task-dir");
    o.data_root = f.str("data").empty() ? data_dir() : f.str("data");
    o.label = f.str("label");
    o.general_val = f.str("general-val");
    o.general_val_tokens = f.i64("general-val-tokens");
    if (o.general_val_tokens < 2) throw UsageError("--general-val-tokens must be >= 2");
    o.progress = !f.on("quiet");
    if (f.i64("threads") > 0) omp_set_num_threads(int(f.i64("threads")));
    o.baselines = f.on("baselines");
    o.lead_n = int(f.i64("lead-n"));
    if (o.lead_n < 1) throw UsageError("--lead-n must be >= 1");
    if (o.baselines && !file_exists(o.index_path))  // before the (slow) model load
      throw Error("retrieval index " + o.index_path + " does not exist (--baselines' retrieve_article needs it: "
                  "./prep index --out " + o.index_path + ")");
    o.reference = prompt::ReferenceHook::make(o.ref, o.index_path, o.ref_k);  // before the (slow) model load
    if (f.str("model") == "none") {
      if (!o.baselines) throw UsageError("--model none evaluates nothing without --baselines");
      if (f.str("out").empty()) throw UsageError("--model none needs --out");
      o.out_dir = f.str("out");
      if (o.label.empty()) o.label = "baselines";
      const EvalReport r = run_eval(nullptr, nullptr, "(no model)", o);
      std::printf("%s", report_markdown(r, o).c_str());
      std::printf("wrote %s/report.md, %s/report.json\n", o.out_dir.c_str(), o.out_dir.c_str());
      return 0;
    }
    Tokenizer tok;
    std::string dir;
    auto lm = load_model(f.str("model"), f.str("device"), &tok, &dir, f.str("dtype"));
    o.out_dir = f.str("out").empty() ? dir + "/eval" : f.str("out");
    std::printf("eval %s (%s) -> %s\n", dir.c_str(), lm->config().summary().c_str(), o.out_dir.c_str());
    const EvalReport r = run_eval(*lm, tok, dir, o);
    std::printf("%s", report_markdown(r, o).c_str());
    std::printf("wrote %s/report.md, %s/report.json\n", o.out_dir.c_str(), o.out_dir.c_str());
    return 0;
  });
}

}  // namespace beop::cli
