// Hugging Face directories through the programs: a beop checkpoint exported with `prep export-hf` and served
// back with `infer --model hf:DIR` must generate exactly what the original checkpoint generates (export is
// exact in f32), and `train --init hf:DIR` must continue it. Also `infer --device cuda` where this machine has no
// GPU (or no CUDA backend): one clear line, exit 1.
#include <doctest/doctest.h>

#include "test_util.h"
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "infer_fixture.h"

namespace {
using Result = beop::test::ShellResult;
Result sh(const std::string& cmd) { return beop::test::shell(cmd); }
const std::string kDir = "build/test_hf_cli";
}  // namespace

TEST_CASE("export-hf -> infer --model hf:DIR generates the same text; train --init hf:DIR continues it") {
  const std::string run = beop::test::make_infer_fixture(kDir, 128);
  const std::string hf = kDir + "/hf";
  std::filesystem::remove_all(hf);
  Result r = sh("./prep export-hf --model " + run + " --out " + hf);
  REQUIRE_MESSAGE(r.rc == 0, r.out);
  const std::string gen = " --prompt '법원은 판결한다' --temperature 0 --max-tokens 16 --threads 1";
  const Result a = sh("./infer generate --model " + run + gen);
  const Result b = sh("./infer generate --model hf:" + hf + gen);
  REQUIRE_MESSAGE(a.rc == 0, a.out);
  REQUIRE_MESSAGE(b.rc == 0, b.out);
  CHECK(a.out == b.out);
  CHECK(a.out.size() > std::string("법원은 판결한다").size());  // it generated something

  // CPT from the HF directory on a tiny shard of the fixture's own tokens
  const std::string shard_dir = kDir + "/data";
  std::filesystem::create_directories(shard_dir);
  std::FILE* f = std::fopen((shard_dir + "/text.txt").c_str(), "w");
  for (int i = 0; i < 60; i++) std::fputs("법원은 판결한다. 임대차는 등기가 없는 경우에도 효력이 있다.\n", f);
  std::fclose(f);
  r = sh("./prep shards --tokenizer " + hf + "/tokenizer.json --out-prefix " + shard_dir + "/text --val-fraction 0 " +
         "--doc-split line --quiet " + shard_dir + "/text.txt");
  REQUIRE_MESSAGE(r.rc == 0, r.out);
  r = sh("./train --stage cpt --init hf:" + hf + " --data 'legal=" + shard_dir + "/text_train_*.bin' --batch 2 --seq 32 " +
         "--steps 2 --quiet --force --out " + kDir + "/cpt");
  CHECK_MESSAGE(r.rc == 0, r.out);
  CHECK(r.out.find("done: 2 steps") != std::string::npos);

  r = sh("./infer generate --model hf:" + kDir + "/nope" + gen);
  CHECK(r.rc == 1);
  CHECK(r.out.find("nope") != std::string::npos);
}

TEST_CASE("infer --device cuda without a usable GPU: one clear line, exit 1") {
  const std::string run = beop::test::make_infer_fixture(kDir, 128);
  const Result r = sh("./infer generate --model " + run + " --prompt x --device cuda");
  CHECK(r.rc == 1);
  const bool no_backend = r.out.find("this build has no CUDA backend") != std::string::npos;
  const bool no_device = r.out.find("--device cuda: no CUDA device found") != std::string::npos;
  CHECK((no_backend || no_device));
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);
  CHECK(sh("./infer generate --model " + run + " --prompt x --device tpu").rc != 0);
}
