// Backend-independent pieces of the training loop: run-directory bookkeeping, metrics log, stop signals,
// the progress line. The loop itself is src/trainer.h.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "src/progress.h"
#include "src/train_options.h"

namespace beop {

// SIGINT/SIGTERM set a flag instead of killing the process; the loop checks it after each step, saves a
// checkpoint and exits with 128 + signal (the shell convention, so a scheduler sees the run did not finish).
void install_stop_handlers();
int stop_signal();  // 0, or the signal received

// Crash-test hook (tests/test_train_kill.cpp): with BEOP_TEST_KILL_AT=STAGE:N in the environment, the process
// sends itself SIGKILL the N-th time a checkpoint save or prune reaches STAGE (a g_checkpoint_fault_hook stage:
// model.bin, optim.bin, state.json, tokenizer.json, config.json, rename, prune), so a test can kill it at an
// exact point of a save. Unset: does nothing.
void install_test_kill_hook();

// RUN_DIR policy: a directory that already holds a run (run.json, step_* or metrics.jsonl) is refused unless
// --resume (continue it) or --force (its run files are removed first). Creates RUN_DIR and checks it is
// writable. Writes run.json (the options) atomically.
void prepare_run_dir(const TrainOptions& o);

// metrics.jsonl: one JSON object per line, flushed as written. On resume, lines after the resumed step are
// dropped first (they belong to the interrupted run's unsaved tail), so the log matches an uninterrupted run.
class MetricsLog {
 public:
  MetricsLog(const std::string& run_dir, long resume_step);  // resume_step < 0: start a new log
  ~MetricsLog();
  void write(const nlohmann::json& j);

 private:
  std::FILE* f_ = nullptr;
  std::string path_;
};

// "1h02m", "3m07s", "12s"
std::string format_duration(double seconds);

// The live training line: rewritten in place on a terminal (a StatusLine on stderr), else printed to stdout
// every `every` steps (and at the last), so a log file gets one line per `every` steps.
class ProgressLine {
 public:
  ProgressLine(bool quiet, long every);
  void update(long step, long total, double loss, double lr, double gnorm, double tok_s, double eta_s);
  void clear();  // ends the in-place line before other output

 private:
  StatusLine line_;
  bool quiet_;
  long every_;
};

}  // namespace beop
