#include "src/trainer_util.h"

#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <memory>
#include <filesystem>
#include <fstream>

#include "src/checkpoint.h"
#include "src/common.h"
#include "src/io.h"

namespace fs = std::filesystem;

namespace beop {

namespace {
volatile std::sig_atomic_t g_stop_signal = 0;  // written only by the signal handler
void on_stop(int sig) { g_stop_signal = sig; }
}  // namespace

void install_stop_handlers() {
  std::signal(SIGINT, on_stop);
  std::signal(SIGTERM, on_stop);
}
int stop_signal() { return int(g_stop_signal); }

void install_test_kill_hook() {
  const char* env = std::getenv("BEOP_TEST_KILL_AT");
  if (!env || !*env) return;
  const std::string spec = env;
  const size_t colon = spec.rfind(':');
  char* end = nullptr;
  const long n = colon == std::string::npos ? 0 : std::strtol(spec.c_str() + colon + 1, &end, 10);
  BEOP_CHECK(colon != std::string::npos && colon > 0 && n >= 1 && end && *end == '\0', "BEOP_TEST_KILL_AT='", spec,
             "' is not STAGE:N with N >= 1");
  auto seen = std::make_shared<long>(0);
  g_checkpoint_fault_hook = [stage = spec.substr(0, colon), n, seen](const std::string& at) {
    if (at == stage && ++*seen == n) ::kill(::getpid(), SIGKILL);
  };
}

void prepare_run_dir(const TrainOptions& o) {
  BEOP_CHECK(!o.out.empty(), "--out RUN_DIR is required");
  std::error_code ec;
  bool holds_run = false;
  if (fs::is_directory(o.out, ec)) {
    for (const auto& e : fs::directory_iterator(o.out, ec)) {
      const std::string n = e.path().filename().string();
      if (n == "run.json" || n == "metrics.jsonl" || n.rfind("step_", 0) == 0) holds_run = true;
    }
  } else if (fs::exists(o.out, ec)) {
    fail("--out ", o.out, " exists and is not a directory");
  }
  if (holds_run && !o.resume && !o.force)
    fail("run directory ", o.out, " already holds a run: pass --resume to continue it or --force to overwrite it");
  if (holds_run && o.force && !o.resume) {
    for (const auto& e : fs::directory_iterator(o.out, ec)) {
      const std::string n = e.path().filename().string();
      if (n == "run.json" || n == "metrics.jsonl" || n == "metrics.png" || n.rfind("step_", 0) == 0 ||
          n.rfind(".tmp_", 0) == 0 || n.rfind(".trash_", 0) == 0)
        fs::remove_all(e.path(), ec);
    }
  }
  make_dirs(o.out);
  BEOP_CHECK(::access(o.out.c_str(), W_OK) == 0, "run directory ", o.out, " is not writable");
  nlohmann::json j = {{"command_line", o.command_line}, {"stage", o.stage},   {"preset", o.preset},
                      {"config", o.config_path},         {"init", o.init},     {"tokenizer", o.tokenizer},
                      {"data", o.data},                  {"val", o.val},       {"batch", o.batch},
                      {"seq", o.seq},                    {"grad_accum", o.grad_accum}, {"steps", o.steps},
                      {"tokens", o.tokens},              {"lr", o.lr},         {"schedule", o.schedule},
                      {"warmup", o.warmup},              {"seed", o.seed},     {"device", o.device}, {"dtype", o.dtype},
                      {"attention", o.attention}};
  write_file_atomic(o.out + "/run.json", j.dump(2) + "\n");
}

MetricsLog::MetricsLog(const std::string& run_dir, long resume_step) : path_(run_dir + "/metrics.jsonl") {
  std::string kept;
  if (resume_step >= 0 && file_exists(path_)) {
    std::ifstream in(path_);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded()) continue;  // a line cut by a crash
      if (j.value("step", 0L) <= resume_step) kept += line + "\n";
    }
  }
  write_file_atomic(path_, kept);
  f_ = std::fopen(path_.c_str(), "a");
  BEOP_CHECK(f_, "cannot append to ", path_);
}

MetricsLog::~MetricsLog() {
  if (f_) std::fclose(f_);
}

void MetricsLog::write(const nlohmann::json& j) {
  const std::string s = j.dump() + "\n";
  if (std::fwrite(s.data(), 1, s.size(), f_) != s.size() || std::fflush(f_) != 0)
    fail("cannot write ", path_, " (disk full?)");
}

std::string format_duration(double s) {
  if (!(s >= 0) || s > 1e8) return "?";
  const long t = long(s + 0.5);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, t % 3600 / 60);
  else if (t >= 60) std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%lds", t);
  return buf;
}

ProgressLine::ProgressLine(bool quiet, long every) : line_(!quiet), quiet_(quiet), every_(every < 1 ? 1 : every) {}

void ProgressLine::update(long step, long total, double loss, double lr, double gnorm, double tok_s, double eta) {
  if (quiet_) return;
  char buf[256];
  std::snprintf(buf, sizeof buf, "step %ld/%ld | loss %.4f | lr %.2e | grad norm %.3f | %.0f tok/s | ETA %s", step,
                total, loss, lr, gnorm, tok_s, format_duration(eta).c_str());
  if (line_.on()) {
    line_.draw(buf);
  } else if (step % every_ == 0 || step == total) {
    std::printf("%s\n", buf);
    std::fflush(stdout);
  }
}

void ProgressLine::clear() { line_.end(); }

}  // namespace beop
