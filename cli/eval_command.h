// `infer eval`: the command line of the evaluation (flags, --device model loading, the --ref hook) around
// legal/eval/runner.h's run_eval. Flags: infer eval --help; docs/EVAL.md.
#pragma once

namespace beop::cli {

// `infer eval ...` (argv[0] = "eval"). Exit: 0 done, 1 error, 2 usage error.
int eval_main(int argc, char** argv);

}  // namespace beop::cli
