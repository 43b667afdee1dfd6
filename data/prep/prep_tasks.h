// `prep tasks --out data/build/tasks [--data ROOT]`: writes the evaluation task files (legal/eval/tasks.h schema,
// docs/EVAL.md) for the tasks whose licences allow a derived file: complaint, summary, petition, qa, mrc.
// MC (KMMLU, CC BY-ND) and KorQuAD (CC BY-ND) are formatted at load time by `infer eval` and never written.
#pragma once

namespace beop::eval {

// argv[0] is the subcommand name. Exit status (prep convention): 0 written, 1 failure, 2 usage error.
int prep_tasks_main(int argc, char** argv);

}  // namespace beop::eval
