// End-to-end tests of ./train (built by `make test` before the test binaries): exact resume, signals,
// run-directory policy, NaN guard, bad input. Fixtures (a small tokenizer and random-walk token shards) are
// written into build/test_train/ by the test itself.
#include <doctest/doctest.h>

#include "test_util.h"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

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

// A tokenizer (vocab 300) and two sources of token shards whose text is a random walk over a few ids, so
// the loss has something to learn.
static void make_fixture() {
  static bool done = false;
  if (done) return;
  fs::remove_all(kDir);
  make_dirs(kDir);
  BpeTrainOptions bo;
  bo.vocab_size = 300;
  bo.progress = false;
  Tokenizer::train_from_texts({"법원은 판결한다. 임대차는 등기가 없는 경우에도 효력이 있다.", "To be or not to be."}, bo)
      .save(kDir + "/tok.json");
  Rng r(3);
  for (const char* src : {"legal", "general"}) {
    for (const char* split : {"train", "val"}) {
      ShardWriter w(kDir + "/" + src + "_" + split + "_000.bin", 300);
      for (int d = 0; d < (std::string(split) == "train" ? 40 : 6); d++) {
        std::vector<int32_t> doc;
        int32_t t = int32_t(r.below(50)) + (src[0] == 'l' ? 0 : 100);
        for (int i = 0; i < 200; i++) doc.push_back(t = (t + int32_t(r.below(3))) % 300);
        w.add_document(doc);
      }
      w.finish();
    }
  }
  done = true;
}

static std::string train_cmd(const std::string& out, const std::string& extra = "") {
  return "./train --tokenizer " + kDir + "/tok.json --data 'legal=" + kDir + "/legal_train_*.bin:0.7,general=" +
         kDir + "/general_train_*.bin:0.3' --val 'legal=" + kDir + "/legal_val_*.bin,general=" + kDir +
         "/general_val_*.bin' --batch 2 --seq 32 --eval-every 5 --val-batches 2 --quiet --threads 2 --out " + out +
         " " + extra;
}

static std::vector<std::string> train_lines(const std::string& run) {
  std::ifstream in(run + "/metrics.jsonl");
  std::vector<std::string> v;
  std::string line;
  while (std::getline(in, line))
    if (line.find("\"type\":\"train\"") != std::string::npos) {
      // tok_s is a timing, not a result
      const size_t a = line.find(",\"tok_s\":");
      if (a != std::string::npos) line.erase(a, line.find_first_of(",}", a + 1) - a);
      v.push_back(line);
    }
  return v;
}

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
  CHECK(r.rc == 1);
  CHECK(r.out.find("--device cuda") != std::string::npos);
  r = sh(train_cmd(kDir + "/flashcpu", "--steps 1 --attention flash"));  // flash is a CUDA kernel
  CHECK(r.rc == 1);
  CHECK(r.out.find("--attention flash: the cpu backend has only 'gemm' attention") != std::string::npos);
}
