// The checkpoints of a run directory: RUN_DIR/step_000100/ per saved step (see checkpoint.h for what one
// holds), plus the leftovers of interrupted saves (.tmp_step_*.<pid>) and prunes (.trash_step_*.<pid>).
// Listing only counts complete step directories, so a half-written one is never resumed from.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace beop {

// "step_000100" for 100 (at least 6 digits; more when the step needs them).
std::string checkpoint_dir_name(long step);
// The inverse: true and the step for "step_" + 1..18 digits, else false.
bool parse_checkpoint_dir_name(const std::string& name, long& step);

// The newest complete step_* directory of RUN_DIR (by step number), or "" if none (or RUN_DIR missing).
// Complete = model.bin, state.json, config.json and tokenizer.json present and model.bin's size equal to what
// its header implies. .tmp_* leftovers and incomplete directories are ignored.
std::string latest_checkpoint(const std::string& run_dir);

// All complete step_* directories of RUN_DIR, oldest first.
std::vector<std::string> list_checkpoints(const std::string& run_dir);

// Removes complete step_* directories except the newest keep_last and any marked KEEP (each is renamed to
// .trash_step_N.<pid> before its files are deleted, so a kill mid-delete never leaves a half step_* dir); then
// remove_checkpoint_leftovers. keep_last <= 0 removes nothing. Returns the removed paths.
std::vector<std::string> prune_checkpoints(const std::string& run_dir, int keep_last);

// Removes what interrupted saves and prunes left: .trash_* directories, and .tmp_* directories of processes that
// no longer exist. Returns the removed paths.
std::vector<std::string> remove_checkpoint_leftovers(const std::string& run_dir);

// Writes DIR/KEEP so prune_checkpoints never removes DIR.
void mark_checkpoint(const std::string& ckpt_dir);

// Test hook: when set, save_checkpoint calls it with a stage name ("model.bin", "optim.bin", "state.json",
// "tokenizer.json", "config.json" after each file is written into the temp dir, then "rename" just before the
// rename; prune_checkpoints calls it with "prune" between a step dir's rename to .trash_ and its deletion); a
// throw from it simulates a crash/failure at that point. (Defined here, the lower of the two files using it.)
extern std::function<void(const std::string& stage)> g_checkpoint_fault_hook;

}  // namespace beop
