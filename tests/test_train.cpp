// End-to-end tests of ./train (built by `make test` before the test binaries): exact resume, signals,
// run-directory policy, NaN guard, bad input. Fixtures (a small tokenizer and random-walk token shards) are
// written into build/test_train/ by the test itself.
#include <doctest/doctest.h>

#include "tests/cuda_expect.h"
#include "tests/test_util.h"
#include "tests/train_fixture.h"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include <nlohmann/json.hpp>

#include "src/checkpoint.h"
#include "src/io.h"
#include "src/rng.h"
#include "src/shard.h"
#include "src/tokenizer.h"

namespace fs = std::filesystem;
using namespace beop;

static const std::string kDir = "build/test_train";

using Result = beop::test::ShellResult;
static Result sh(const std::string& cmd) { return beop::test::shell(cmd); }

// The fixture (tests/train_fixture.h): a small tokenizer and random-walk token shards in kDir.
static void make_fixture() {
  static bool done = false;
  if (!done) beop::test::make_train_fixture(kDir);
  done = true;
}
static std::string train_cmd(const std::string& out, const std::string& extra = "") {
  return beop::test::train_command(kDir, out, extra);
}
static std::vector<std::string> train_lines(const std::string& run) { return beop::test::logged_train_lines(run); }

TEST_CASE("resume is bit-identical: 20 steps straight == 10 + resume + 10") {
  make_fixture();
  const std::string a = kDir + "/straight", b = kDir + "/resumed";
  REQUIRE(sh(train_cmd(a, "--steps 20 --lr 1e-2")).rc == 0);
  const Result first = sh(train_cmd(b, "--steps 20 --lr 1e-2 --stop-after 10"));
  REQUIRE(first.rc == 0);
  CHECK(first.out.find("stopped at step 10") != std::string::npos);
  CHECK(latest_checkpoint(b) == b + "/step_000010");
  REQUIRE(sh(train_cmd(b, "--steps 20 --lr 1e-2 --resume")).rc == 0);
  const auto la = train_lines(a), lb = train_lines(b);
  REQUIRE(la.size() == 20);
  CHECK(la == lb);  // every step's loss, lr and grad norm, to the last printed digit
  CHECK(read_file(a + "/step_000020/model.bin") == read_file(b + "/step_000020/model.bin"));
  CHECK(read_file(a + "/step_000020/optim.bin") == read_file(b + "/step_000020/optim.bin"));
  // the validation loss went down from the random init
  const LoadedCheckpoint ck = load_checkpoint(a + "/step_000020", false);
  CHECK(ck.state.tokens_seen == 20 * 2 * 32);
  CHECK(ck.state.stage == "pretrain");
  CHECK(ck.state.val_loss < 5.5);  // it learned: ln(300) = 5.70 at init
}

TEST_CASE("SIGTERM saves a checkpoint and exits 128+15") {
  make_fixture();
  const std::string run = kDir + "/signal";
  fs::remove_all(run);
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + train_cmd(run, "--steps 100000 > /dev/null 2>&1")).c_str(), nullptr);
    _exit(127);
  }
  // wait for a few steps to be logged, then stop it
  for (int i = 0; i < 600 && train_lines(run).size() < 3; i++) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(train_lines(run).size() >= 3);
  kill(pid, SIGTERM);
  int st = 0;
  waitpid(pid, &st, 0);
  REQUIRE(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 128 + SIGTERM);
  const std::string last = latest_checkpoint(run);
  REQUIRE(!last.empty());
  CHECK(load_checkpoint(last, true).state.step == long(train_lines(run).size()));
  // and it resumes from there
  CHECK(sh(train_cmd(run, "--steps " + std::to_string(train_lines(run).size() + 2) + " --resume")).rc == 0);
}

TEST_CASE("a run directory holding another run is refused unless --resume or --force") {
  make_fixture();
  const std::string run = kDir + "/policy";
  fs::remove_all(run);
  REQUIRE(sh(train_cmd(run, "--steps 2")).rc == 0);
  Result r = sh(train_cmd(run, "--steps 2"));
  CHECK(r.rc == 1);
  CHECK(r.out.find("already holds a run: pass --resume to continue it or --force to overwrite it") != std::string::npos);
  CHECK(latest_checkpoint(run) == run + "/step_000002");  // untouched
  CHECK(sh(train_cmd(run, "--steps 3 --force")).rc == 0);
  CHECK(latest_checkpoint(run) == run + "/step_000003");
  CHECK(!fs::exists(run + "/step_000002"));
}

TEST_CASE("NaN/Inf guard: stop without saving bad weights, or skip with --skip-bad-steps") {
  make_fixture();
  const std::string run = kDir + "/nan";
  fs::remove_all(run);
  // lr 1e30 blows the weights up: the first update overflows, the next loss is not finite
  Result r = sh(train_cmd(run, "--steps 6 --save-every 1 --lr 1e30 --warmup 0 --schedule constant"));
  CHECK(r.rc == 1);
  CHECK((r.out.find("not finite") != std::string::npos || r.out.find("loss is") != std::string::npos ||
         r.out.find("gradient norm is") != std::string::npos));
  // whatever was saved is finite
  for (const std::string& d : list_checkpoints(run))
    for (float p : load_checkpoint(d, false).params) REQUIRE(std::isfinite(p));
  fs::remove_all(run);
  r = sh(train_cmd(run, "--steps 4 --lr 1e30 --schedule constant --skip-bad-steps"));
  CHECK(r.rc == 0);
  CHECK(r.out.find("skipped") != std::string::npos);
}

TEST_CASE("bad input: missing data, other config, corrupt checkpoint, unwritable output, flags") {
  make_fixture();
  Result r = sh("./train --tokenizer " + kDir + "/tok.json --data 'legal=" + kDir + "/nothing_*.bin' --steps 1 --out " +
                kDir + "/bad1");
  CHECK(r.rc == 1);
  CHECK(r.out.find("nothing_*.bin") != std::string::npos);

  const std::string base = kDir + "/base";
  fs::remove_all(base);
  REQUIRE(sh(train_cmd(base, "--steps 2")).rc == 0);
  r = sh(train_cmd(kDir + "/cpt_other", "--stage cpt --init " + base + " --preset small --steps 1 --force"));
  CHECK(r.rc == 1);
  CHECK(r.out.find("has d_model 128, run expects 256") != std::string::npos);
  r = sh(train_cmd(kDir + "/cpt_noinit", "--stage cpt --steps 1 --force"));
  CHECK(r.rc == 1);
  CHECK(r.out.find("--stage cpt continues a model: pass --init CHECKPOINT") != std::string::npos);
  // a CPT run from the base works
  CHECK(sh(train_cmd(kDir + "/cpt_ok", "--stage cpt --init " + base + " --steps 2 --force")).rc == 0);

  // flip one payload byte of the newest checkpoint: --resume refuses, names the file, writes nothing
  const std::string ck = latest_checkpoint(base);
  std::string bytes = read_file(ck + "/model.bin");
  bytes[bytes.size() / 2] ^= 0x5a;
  write_file_atomic(ck + "/model.bin", bytes);
  r = sh(train_cmd(base, "--steps 4 --resume"));
  CHECK(r.rc == 1);
  CHECK(r.out.find("model.bin") != std::string::npos);
  CHECK(list_checkpoints(base).size() == 1);

  write_file_atomic(kDir + "/afile", "x");
  r = sh(train_cmd(kDir + "/afile/run", "--steps 1"));
  CHECK(r.rc == 1);
  CHECK(r.out.find("afile") != std::string::npos);

  r = sh("./train --bogus 1");
  CHECK(r.rc == 2);
  CHECK(r.out.find("unknown flag --bogus") != std::string::npos);
  r = sh("./train --help");
  CHECK(r.rc == 0);
  for (const char* flag : {"--preset", "--init", "--stage", "--data", "--val", "--batch", "--seq", "--grad-accum",
                           "--steps", "--tokens", "--lr", "--schedule", "--warmup", "--weight-decay", "--clip",
                           "--seed", "--threads", "--out", "--resume", "--skip-bad-steps", "--attention"})
    CHECK(r.out.find(flag) != std::string::npos);
  r = sh(train_cmd(kDir + "/dev", "--steps 1 --device cuda"));
  CAPTURE(r.out);
  if (const test::CudaState cs = test::cuda_state(); cs == test::CudaState::Device) {
    CHECK(r.rc == 0);  // a GPU: the step runs there, and the run says which device
    CHECK(r.out.find("device: ") != std::string::npos);
  } else {  // no backend in this build, or no GPU: one clear line
    CHECK(r.rc == 1);
    CHECK(r.out.find(test::cuda_unavailable_message(cs)) == 0);
    CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);
  }
  r = sh(train_cmd(kDir + "/badattn", "--steps 1 --attention fused"));
  CHECK(r.rc == 1);
  CHECK(r.out.find("--attention fused: expected auto, flash or gemm") != std::string::npos);
}

// The "loss" of every logged train line of RUN.
static std::vector<double> train_losses(const std::string& run) {
  std::vector<double> v;
  for (const std::string& line : train_lines(run)) v.push_back(nlohmann::json::parse(line).at("loss").get<double>());
  return v;
}
// The rows of the activation plan in train's memory table (printed at start, after the parameters' table).
static std::string activation_rows(const std::string& out) {
  const size_t a = out.find("activations");
  return a == std::string::npos ? "" : out.substr(a);
}

// Issue 17.2: the CPU flash attention (cpu/attention_flash.h) bound into CpuOps. The same training as the GEMM
// attention up to fp32 rounding: the two sum the softmax in another order (a few ulps, 1e-7 relative, per attention
// output), which the gradients and AdamW's updates carry into the weights: over 6 steps at lr 1e-2 the losses agree
// to 6e-7 relative (measured; 1e-8 at step 1). 2e-5 leaves a 30x margin, while a flash kernel that forgets to
// rescale its running sum across key tiles moves the losses by 3e-4 relative (checked with that line removed).
// The (B, H, T, T) buffers leave the memory table, and a checkpoint written under one kind resumes under the
// other (the attention kind is not model state).
TEST_CASE("--attention flash and gemm on the CPU: the same losses, a smaller activation plan, resume across kinds") {
  make_fixture();
  const std::string g = kDir + "/attn_gemm", f = kDir + "/attn_flash", m = kDir + "/attn_mixed";
  // --seq 96: two 64-query tiles, the second partial, so the online softmax's rescaling across tiles runs
  const std::string flags = "--steps 6 --lr 1e-2 --eval-every 100 --seq 96";
  const Result rg = sh(train_cmd(g, flags + " --attention gemm"));
  const Result rf = sh(train_cmd(f, flags + " --force"));  // auto = flash on the CPU
  REQUIRE(rg.rc == 0);
  REQUIRE(rf.rc == 0);
  REQUIRE(sh(train_cmd(m, flags + " --attention flash --stop-after 3")).rc == 0);
  REQUIRE(sh(train_cmd(m, flags + " --attention gemm --resume")).rc == 0);
  const std::vector<double> lg = train_losses(g), lf = train_losses(f), lm = train_losses(m);
  REQUIRE(lg.size() == 6);
  REQUIRE(lf.size() == 6);
  REQUIRE(lm.size() == 6);
  for (int i = 0; i < 6; i++) {
    CAPTURE(i);
    CHECK(std::abs(lf[i] - lg[i]) <= 2e-5 * lg[i]);
    CHECK(std::abs(lm[i] - lg[i]) <= 2e-5 * lg[i]);
  }
  // the curve moves by far more than the tolerance, so equal curves are not two flat lines
  CHECK(*std::max_element(lg.begin(), lg.end()) - *std::min_element(lg.begin(), lg.end()) > 0.1);
  // tiny: H 4, T 96, B 2: gemm saves att (2, 4, 96, 96) per layer and a d_att scratch; flash (2, 4, 96) fp32 each
  const std::string tg = activation_rows(rg.out), tf = activation_rows(rf.out);
  CHECK(tg.find("att_lse") == std::string::npos);
  CHECK(tg.find("(2, 4, 96, 96)") != std::string::npos);
  CHECK(tf.find("att_lse (fp32)") != std::string::npos);
  CHECK(tf.find("d_att_rowdot (fp32)") != std::string::npos);
  CHECK(tf.find("(2, 4, 96, 96)") == std::string::npos);
}

// Issue #14.1: train copied tokenizer.json from the checkpoint it resumed from at every save, and --keep-last
// had pruned that checkpoint by the third save after the resume ("cannot read RUN/step_000002/tokenizer.json").
TEST_CASE("a resumed run outlives the checkpoint it resumed from (pruned by --keep-last)") {
  make_fixture();
  const std::string run = kDir + "/prune_resume";
  fs::remove_all(run);
  const std::string flags = "--steps 8 --save-every 1 --keep-last 2";
  REQUIRE(sh(train_cmd(run, flags + " --stop-after 2")).rc == 0);
  const Result r = sh(train_cmd(run, flags + " --resume"));
  INFO(r.out);
  CHECK(r.rc == 0);
  CHECK(list_checkpoints(run) == std::vector<std::string>{run + "/step_000007", run + "/step_000008"});
  CHECK(read_file(run + "/step_000008/tokenizer.json") == read_file(kDir + "/tok.json"));
}

// Issue #14.2: --resume trusted state.json (a step of -5 ran 36 steps, 10^12 trained nothing and exited 0) and a
// truncated tokenizer.json (copied into every later checkpoint). Now each is refused before anything is written.
TEST_CASE("resume refuses a tampered or damaged checkpoint, and a run past its end, writing nothing") {
  make_fixture();
  const std::string base = kDir + "/tamper_base";
  fs::remove_all(base);
  REQUIRE(sh(train_cmd(base, "--steps 4 --save-every 1 --keep-last 10")).rc == 0);
  struct Case {
    const char* what;
    std::function<void(const std::string& ck)> damage;
    std::string expect;
  };
  auto set_step = [](long long v) {
    return [v](const std::string& ck) {
      auto j = nlohmann::json::parse(read_file(ck + "/state.json"));
      j["step"] = v;
      write_file_atomic(ck + "/state.json", j.dump());
    };
  };
  const std::vector<Case> cases = {
      {"truncated tokenizer.json",
       [](const std::string& ck) {
         const std::string b = read_file(ck + "/tokenizer.json");
         write_file_atomic(ck + "/tokenizer.json", b.substr(0, b.size() - 100));
       },
       "step_000004/tokenizer.json: malformed JSON"},
      {"step -5", set_step(-5), "state.json: field 'step' is negative (-5)"},
      {"step 10^12", set_step(1000000000000LL), "field 'step' is 1000000000000 but the directory is step_000004"},
      {"step 3 beside step-4 weights", set_step(3), "field 'step' is 3 but the directory is step_000004"},
      {"optimizer of another save",
       [](const std::string& ck) { fs::copy_file(ck + "/../step_000003/optim.bin", ck + "/optim.bin",
                                                 fs::copy_options::overwrite_existing); },
       "optim.bin: AdamW step 3 does not match state.json's step 4"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    const std::string run = kDir + "/tamper";
    fs::remove_all(run);
    fs::copy(base, run, fs::copy_options::recursive);
    c.damage(run + "/step_000004");
    const auto before = list_checkpoints(run);
    const Result r = sh(train_cmd(run, "--steps 8 --save-every 1 --keep-last 10 --resume"));
    CHECK(r.rc == 1);
    CHECK_MESSAGE(r.out.find(c.expect) != std::string::npos, r.out);
    CHECK(list_checkpoints(run) == before);
  }
  // A run whose checkpoint is past the requested length is refused; one at its end has nothing to do.
  Result r = sh(train_cmd(base, "--steps 3 --resume"));
  CHECK(r.rc == 1);
  CHECK(r.out.find("checkpoint is at step 4, past this run's 3 steps") != std::string::npos);
  r = sh(train_cmd(base, "--steps 4 --resume"));
  CHECK(r.rc == 0);
  CHECK(r.out.find("nothing to do: the run is complete at step 4 of 4") != std::string::npos);
  CHECK(r.out.find("nan") == std::string::npos);
}

// Issue #14.8: without --val, train ended with "val loss nan".
TEST_CASE("a run without --val says so instead of printing a NaN validation loss") {
  make_fixture();
  const std::string run = kDir + "/noval";
  fs::remove_all(run);
  const std::string cmd = "./train --tokenizer " + kDir + "/tok.json --data 'legal=" + kDir +
                          "/legal_train_*.bin' --batch 2 --seq 32 --steps 2 --quiet --threads 2 --out " + run;
  const Result r = sh(cmd);
  REQUIRE(r.rc == 0);
  CHECK(r.out.find("val loss - (no --val)") != std::string::npos);
  CHECK(r.out.find("nan") == std::string::npos);
}
