// kill -9 during training, resumed each time (docs/RELIABILITY.md, "Checkpoints and resume"): a run is killed
// with SIGKILL at every stage of a save and a prune (BEOP_TEST_KILL_AT) and at >= 20 random moments, resumed
// after each kill, and its final model.bin and optim.bin must be byte-identical to those of a run that was never
// interrupted, with the same logged losses, and no debris left in the run directory.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "src/checkpoint.h"
#include "src/io.h"
#include "src/rng.h"
#include "tests/test_util.h"
#include "tests/train_fixture.h"

namespace fs = std::filesystem;
using namespace beop;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kDir = "build/test_train_kill";
// 40 steps, a checkpoint after each, two kept: every save after the second prunes one. One thread: the test
// measures its own timing to spread the kills, and two spinning OpenMP threads on a loaded 2-core machine make
// a step 20x slower and erratic.
const int kSteps = 40;
const std::string kFlags = "--steps 40 --lr 1e-2 --save-every 1 --keep-last 2 --threads 1";

struct Outcome {
  bool killed = false;  // ended by SIGKILL (ours or the hook's)
  int rc = -1;          // exit status when it exited
};

// Starts `cmd` (with env BEOP_TEST_KILL_AT=kill_at when not empty); after delay_s (< 0: never) sends SIGKILL.
Outcome run_and_kill(const std::string& cmd, double delay_s, const std::string& kill_at = "") {
  const pid_t pid = fork();
  if (pid == 0) {
    if (!kill_at.empty()) setenv("BEOP_TEST_KILL_AT", kill_at.c_str(), 1);
    execl("/bin/sh", "sh", "-c", ("exec " + cmd + " > /dev/null 2>&1").c_str(), nullptr);
    _exit(127);
  }
  int st = 0;
  const auto until = Clock::now() + std::chrono::duration<double>(delay_s < 0 ? 1e9 : delay_s);
  for (;;) {  // wait for the deadline or the exit, whichever comes first
    if (waitpid(pid, &st, WNOHANG) == pid) break;
    if (Clock::now() >= until) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  Outcome o;
  o.killed = WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
  o.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return o;
}

// The next launch of the interrupted run: resume when a checkpoint exists, else start over.
std::string next_command(const std::string& run) {
  return test::train_command(kDir, run, kFlags + (latest_checkpoint(run).empty() ? " --force" : " --resume"));
}

// Names in RUN_DIR left by an interrupted save (.tmp_*) or prune (.trash_*).
std::vector<std::string> debris(const std::string& run) {
  std::vector<std::string> v;
  for (const auto& e : fs::directory_iterator(run)) {
    const std::string n = e.path().filename().string();
    if (n.rfind(".tmp_", 0) == 0 || n.rfind(".trash_", 0) == 0) v.push_back(n);
  }
  return v;
}

// The step of RUN's newest checkpoint, 0 when it has none.
int step_reached(const std::string& run) {
  const std::string last = fs::exists(run) ? latest_checkpoint(run) : "";
  return last.empty() ? 0 : std::stoi(fs::path(last).filename().string().substr(5));  // "step_NNNNNN"
}

// A run that was killed and resumed ends exactly where the uninterrupted one did: same bytes, same logged
// losses, no debris, the last two checkpoints kept.
void check_same_as(const std::string& straight, const std::string& run) {
  const std::string a = straight + "/step_000040", b = run + "/step_000040";
  CHECK(read_file(a + "/model.bin") == read_file(b + "/model.bin"));
  CHECK(read_file(a + "/optim.bin") == read_file(b + "/optim.bin"));
  CHECK(read_file(a + "/tokenizer.json") == read_file(b + "/tokenizer.json"));
  CHECK(test::logged_train_lines(run) == test::logged_train_lines(straight));
  CHECK(debris(run).empty());
  CHECK(list_checkpoints(run) == std::vector<std::string>{run + "/step_000039", run + "/step_000040"});
}

double seconds_of(const std::string& cmd) {
  const auto t0 = Clock::now();
  REQUIRE(test::shell(cmd).rc == 0);
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

TEST_CASE("SIGKILL inside every save and prune stage and at 20+ random moments: resume is byte-identical") {
  test::make_train_fixture(kDir);
  const std::string straight = kDir + "/straight", run = kDir + "/killed";
  // The uninterrupted reference, and the time of a 1-step run (start-up + one step), to spread the kills.
  const double t_all = seconds_of(test::train_command(kDir, straight, kFlags));
  const double t1 = seconds_of(test::train_command(kDir, kDir + "/one", kFlags + " --steps 1 --force"));
  const double step_s = std::max(1e-3, (t_all - t1) / (kSteps - 1));
  MESSAGE("1-step run ", t1, " s, then ", step_s, " s per step with its save");

  // 1. A kill at each stage of a save (after each file is written into the temp dir, and just before the
  //    rename) and of a prune (between the rename to .trash_ and the delete): the hook kills the process the
  //    2nd time it reaches that stage, so the run has checkpoints and is mid-way.
  fs::remove_all(run);
  for (const char* stage : {"model.bin", "optim.bin", "state.json", "tokenizer.json", "config.json", "rename",
                            "prune"}) {
    CAPTURE(stage);
    const Outcome o = run_and_kill(next_command(run), -1, std::string(stage) + ":2");
    REQUIRE(o.killed);  // the hook fired (the run did not end first)
    const std::vector<std::string> left = debris(run);
    REQUIRE(left.size() == 1);  // the interrupted save's temp dir, or the interrupted prune's trash dir
    CHECK(left[0].rfind(std::string(stage) == "prune" ? ".trash_step_" : ".tmp_step_", 0) == 0);
    for (const std::string& d : list_checkpoints(run)) load_checkpoint(d, true);  // every checkpoint loads
  }

  // 2. Kills at random moments: start-up, steps, evaluations, saves and prunes alike. The window is measured
  //    above, but a shared machine's speed changes while the test runs (a loaded first measurement makes every
  //    later launch run many steps): the window shrinks whenever a launch got further than ~2 steps, and a run
  //    that reaches its end before enough kills is checked against the reference and started over, so the kill
  //    count does not depend on the machine's load.
  Rng r(20261205);
  double window = t1 + 2 * step_s;  // anywhere from the process start to about two steps after its start-up
  int kills = 0, with_debris = 0, launches = 0, cycles = 0;
  for (; kills < 24 && launches < 400; launches++) {
    const int before = step_reached(run);
    const Outcome o = run_and_kill(next_command(run), r.uniform() * window);
    if (!o.killed) {  // it finished before the kill came: check this cycle, then start a new one
      REQUIRE(o.rc == 0);
      check_same_as(straight, run);
      cycles++;
      fs::remove_all(run);
      continue;
    }
    kills++;
    if (step_reached(run) - before > 2) window *= 0.7;
    if (!debris(run).empty()) with_debris++;
    for (const std::string& d : list_checkpoints(run)) load_checkpoint(d, true);
  }
  MESSAGE(kills, " random kills in ", launches, " launches (", cycles, " runs finished early), ", with_debris,
          " inside a save or a prune");
  CHECK(kills >= 20);

  // 3. Resume to the end, uninterrupted.
  const test::ShellResult last = test::shell(next_command(run));
  REQUIRE(last.rc == 0);
  check_same_as(straight, run);
}
