#include "data/prep/prep_tasks.h"

#include <cstdio>
#include <iostream>

#include "legal/eval/task_split.h"
#include "legal/eval/tasks.h"
#include "legal/eval/train_overlap.h"
#include "src/common.h"
#include "src/flags.h"
#include "src/io.h"
#include "src/mixture_loader.h"
#include "src/text.h"

namespace beop::eval {

int prep_tasks_main(int argc, char** argv) {
  Flags f("prep tasks", "--out DIR [--data ROOT] [--train GLOB,GLOB...]",
                "Builds the evaluation task files DIR/{complaint,summary,petition,qa,mrc}.jsonl from the bundled\n"
                "corpora (docs/EVAL.md). MC and KorQuAD are read verbatim at evaluation time and never written.\n"
                "Prints the overlap audit (shared references, reference n-grams in the item's own input) and, with\n"
                "--train, the character 13-gram near-duplicate counts of every item against those training files.");
  f.add("out", "data/build/tasks", "output directory");
  f.add("data", "", "corpora root (default $BEOP_DATA or ../shared/data)");
  f.add("train", "", "comma list of training JSONL globs to check the items against (character 13-grams)");
  if (!f.parse(argc, argv)) return 0;
  if (!f.positional().empty()) throw UsageError("unexpected argument '" + f.positional()[0] + "'");
  const std::string root = f.str("data").empty() ? data_dir() : f.str("data");
  const std::string out = f.str("out");
  std::vector<std::string> train_files;
  for (const std::string& g : split(f.str("train"), ',')) {
    if (trim(g).empty()) continue;
    const auto m = expand_glob(trim(g));
    if (m.empty()) throw UsageError("--train " + trim(g) + ": no file matches");
    train_files.insert(train_files.end(), m.begin(), m.end());
  }
  make_dirs(out);
  std::vector<TaskItem> all;
  for (Task t : {Task::Complaint, Task::Summary, Task::Petition, Task::QA, Task::MRC}) {
    const std::vector<TaskItem> items = build_task(t, root);
    const std::string path = out + "/" + task_name(t) + ".jsonl";
    write_task_file(path, items);
    std::cout << "prep tasks: " << path << ": " << items.size() << " items\n";
    all.insert(all.end(), items.begin(), items.end());
  }
  const std::vector<TaskItem> mc = load_mc(root);
  std::cout << "prep tasks: mc (" << mc.size()
            << " KMMLU Criminal-Law test items) and korquad are formatted at load time (CC BY-ND), not written\n";
  all.insert(all.end(), mc.begin(), mc.end());
  const TaskAudit a = audit_tasks(all);
  std::printf("prep tasks: audit of %d items: %d share their reference with another item (%d with another task); "
              "reference %d-grams in the item's own input: mean %.3f, max %.3f, %d items over 0.5\n",
              a.items, a.shared_references, a.cross_task_references, kContainN, a.mean_containment,
              a.max_containment, a.contained);
  if (!train_files.empty()) {
    std::printf("prep tasks: near-duplicates in %zu training files (character %d-grams; items with > 50%% / > 90%% "
                "of their reference's n-grams in training text, > 50%% of their input's):\n",
                train_files.size(), kNearDupN);
    for (const NearDup& d : near_duplicates(all, train_files))
      std::printf("  %-9s %4d items  reference >50%% %3d  >90%% %3d  (mean %.3f)  input >50%% %3d (mean %.3f)\n",
                  task_title(d.task), d.items, d.ref_half, d.ref_most, d.mean_ref, d.input_half, d.mean_input);
  }
  return 0;
}

}  // namespace beop::eval
