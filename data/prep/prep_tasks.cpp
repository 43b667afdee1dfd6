#include "data/prep/prep_tasks.h"

#include <iostream>

#include "legal/eval/tasks.h"
#include "src/common.h"
#include "src/flags.h"
#include "src/io.h"

namespace beop::eval {

int prep_tasks_main(int argc, char** argv) {
  Flags f("prep tasks", "--out DIR [--data ROOT]",
                "Builds the evaluation task files DIR/{complaint,summary,petition,qa,mrc}.jsonl from the bundled\n"
                "corpora (docs/EVAL.md). MC and KorQuAD are read verbatim at evaluation time and never written.");
  f.add("out", "data/build/tasks", "output directory");
  f.add("data", "", "corpora root (default $BEOP_DATA or ../shared/data)");
  if (!f.parse(argc, argv)) return 0;
  if (!f.positional().empty()) throw UsageError("unexpected argument '" + f.positional()[0] + "'");
  const std::string root = f.str("data").empty() ? data_dir() : f.str("data");
  const std::string out = f.str("out");
  make_dirs(out);
  for (Task t : {Task::Complaint, Task::Summary, Task::Petition, Task::QA, Task::MRC}) {
    const std::vector<TaskItem> items = build_task(t, root);
    const std::string path = out + "/" + task_name(t) + ".jsonl";
    write_task_file(path, items);
    std::cout << "prep tasks: " << path << ": " << items.size() << " items\n";
  }
  std::cout << "prep tasks: mc (" << load_mc(root).size()
            << " KMMLU Criminal-Law test items) and korquad are formatted at load time (CC BY-ND), not written\n";
  return 0;
}

}  // namespace beop::eval
