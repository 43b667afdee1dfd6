// Run-directory bookkeeping for checkpoints: naming, listing, pruning, leftovers; see run_dir.h.
#include "src/run_dir.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "src/checkpoint_format.h"
#include "src/common.h"
#include "src/io.h"

namespace beop {

std::function<void(const std::string&)> g_checkpoint_fault_hook;

namespace fs = std::filesystem;

namespace {

bool is_complete(const std::string& dir) {
  for (const char* f : {"model.bin", "state.json", "config.json", "tokenizer.json"})
    if (!file_exists(dir + "/" + f)) return false;
  // model.bin's size must be what its header says (a cheap truncation check; load validates fully).
  return model_file_complete(dir + "/model.bin");
}

}  // namespace

std::string checkpoint_dir_name(long step) {
  if (step < 0) fail("checkpoint step ", step, " is negative");
  char buf[32];
  std::snprintf(buf, sizeof buf, "step_%06ld", step);
  return buf;
}

bool parse_checkpoint_dir_name(const std::string& name, long& step) {
  if (name.size() < 6 || name.compare(0, 5, "step_") != 0) return false;
  for (size_t i = 5; i < name.size(); i++)
    if (!std::isdigit((unsigned char)name[i])) return false;
  if (name.size() > 5 + 18) return false;
  step = std::stol(name.substr(5));
  return true;
}

std::vector<std::string> list_checkpoints(const std::string& run_dir) {
  std::vector<std::pair<long, std::string>> found;
  std::error_code ec;
  if (!fs::is_directory(run_dir, ec)) return {};
  for (const auto& e : fs::directory_iterator(run_dir, ec)) {
    long step;
    const std::string name = e.path().filename().string();
    if (!parse_checkpoint_dir_name(name, step) || !e.is_directory(ec)) continue;
    const std::string d = run_dir + "/" + name;
    if (is_complete(d)) found.push_back({step, d});
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(f.second);
  return out;
}

std::string latest_checkpoint(const std::string& run_dir) {
  auto all = list_checkpoints(run_dir);
  return all.empty() ? "" : all.back();
}

void mark_checkpoint(const std::string& dir) {
  struct stat sb;
  if (::stat(dir.c_str(), &sb) != 0 || !S_ISDIR(sb.st_mode)) fail("mark_checkpoint: ", dir, " is not a directory");
  write_file_atomic(dir + "/KEEP", "kept: prune_checkpoints never removes this checkpoint\n");
}

std::vector<std::string> remove_checkpoint_leftovers(const std::string& run_dir) {
  std::vector<std::string> removed;
  std::error_code ec;
  std::vector<std::string> names;  // collected first: removing while iterating is unspecified
  for (const auto& e : fs::directory_iterator(run_dir, ec)) names.push_back(e.path().filename().string());
  for (const std::string& name : names) {
    const bool trash = name.compare(0, 8, ".trash_s") == 0;  // ".trash_step_N.<pid>": pruned, never read again
    if (!trash && name.compare(0, 10, ".tmp_step_") != 0) continue;
    const size_t dot = name.find_last_of('.');
    if (dot == 0 || dot + 1 >= name.size()) continue;
    const long pid = std::strtol(name.c_str() + dot + 1, nullptr, 10);
    // A .tmp_ dir of a live process is a save in progress; a .trash_ dir is garbage whoever made it.
    if (!trash && (pid <= 0 || (::kill((pid_t)pid, 0) == 0 || errno != ESRCH))) continue;
    std::error_code ec2;
    fs::remove_all(run_dir + "/" + name, ec2);
    if (!ec2) removed.push_back(run_dir + "/" + name);
  }
  return removed;
}

std::vector<std::string> prune_checkpoints(const std::string& run_dir, int keep_last) {
  std::vector<std::string> removed;
  if (keep_last <= 0) return removed;
  auto all = list_checkpoints(run_dir);
  std::error_code ec;
  for (size_t i = 0; i + (size_t)keep_last < all.size(); i++) {
    if (file_exists(all[i] + "/KEEP")) continue;
    // Rename first, then delete: a kill during the (non-atomic) recursive delete leaves a .trash_ directory,
    // which the next save or start removes, never a half-deleted step_* that looks like a checkpoint.
    const std::string trash = run_dir + "/.trash_" + fs::path(all[i]).filename().string() + "." +
                              std::to_string(::getpid());
    fs::remove_all(trash, ec);
    if (::rename(all[i].c_str(), trash.c_str()) != 0)
      fail("cannot remove old checkpoint ", all[i], ": ", std::strerror(errno));
    if (g_checkpoint_fault_hook) g_checkpoint_fault_hook("prune");
    fs::remove_all(trash, ec);
    if (ec) fail("cannot remove old checkpoint ", trash, ": ", ec.message());
    removed.push_back(all[i]);
  }
  for (std::string& d : remove_checkpoint_leftovers(run_dir)) removed.push_back(std::move(d));
  return removed;
}

}  // namespace beop
