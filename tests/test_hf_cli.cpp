// Hugging Face directories through the programs: a beop checkpoint exported with `prep export-hf` and served
// back with `infer --model hf:DIR` must generate exactly what the original checkpoint generates (export is
// exact in f32), and `train --init hf:DIR` must continue it. Also `infer --device cuda`: it generates where there is a
// GPU, and where there is none (or no CUDA backend) it fails with one clear line, exit 1 (tests/cuda_expect.h).
#include <doctest/doctest.h>

#include "cpu/model_cpu.h"
#include "tests/test_util.h"
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "src/generator.h"
#include "src/param_layout.h"
#include "tests/cuda_expect.h"
#include "tests/infer_fixture.h"

namespace {
using Result = beop::test::ShellResult;
Result sh(const std::string& cmd) { return beop::test::shell(cmd); }
const std::string kDir = "build/test_hf_cli";
}  // namespace

// `train --stage cpt --init hf:HF` for 2 steps on a tiny shard of the fixture's own text (encoded with HF's
// tokenizer.json) into kDir/NAME; returns train's result.
static Result cpt_from_hf(const std::string& hf, const std::string& name) {
  const std::string shard_dir = kDir + "/data_" + name;
  std::filesystem::create_directories(shard_dir);
  std::FILE* f = std::fopen((shard_dir + "/text.txt").c_str(), "w");
  for (int i = 0; i < 60; i++) std::fputs("법원은 판결한다. 임대차는 등기가 없는 경우에도 효력이 있다.\n", f);
  std::fclose(f);
  const Result r = sh("./prep shards --tokenizer " + hf + "/tokenizer.json --out-prefix " + shard_dir +
                      "/text --val-fraction 0 --doc-split line --quiet " + shard_dir + "/text.txt");
  REQUIRE_MESSAGE(r.rc == 0, r.out);
  return sh("./train --stage cpt --init hf:" + hf + " --data 'legal=" + shard_dir + "/text_train_*.bin' --batch 2 " +
            "--seq 32 --steps 2 --quiet --force --out " + kDir + "/" + name);
}

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
  r = cpt_from_hf(hf, "cpt");
  CHECK_MESSAGE(r.rc == 0, r.out);
  CHECK(r.out.find("done: 2 steps") != std::string::npos);

  r = sh("./infer generate --model hf:" + kDir + "/nope" + gen);
  CHECK(r.rc == 1);
  CHECK(r.out.find("nope") != std::string::npos);
}

// The fixture's checkpoint with `extra` more vocabulary rows than its tokenizer has ids, as HF models ship
// (Qwen2.5: 151,936 rows, 151,665 ids). The real rows are unchanged; padding row n + j is 100 x the lm_head row
// of picks[j] (the token greedy decoding picks at step j), so without masking greedy decoding would pick a
// padding id (which the tokenizer cannot decode). Returns the run directory.
std::string make_padded_run(const std::string& run, int extra, const std::vector<int32_t>& picks) {
  const beop::LoadedCheckpoint ck = beop::load_checkpoint(beop::latest_checkpoint(run), false);
  beop::ModelConfig c = ck.config;
  const int n = c.vocab_size;
  c.vocab_size = n + extra;
  REQUIRE(c.padded_vocab() == ck.config.padded_vocab());  // same layout: the padding rows exist already
  std::vector<float> p = ck.params;
  const beop::ParamLayout lay(c);
  for (int j = 0; j < extra; j++)
    for (int k = 0; k < c.d_model; k++)
      p[lay.lm_head + size_t(n + j) * c.d_model + k] = 100.0f * p[lay.lm_head + size_t(picks[size_t(j) % picks.size()]) * c.d_model + k];
  const std::string out = kDir + "/padded_run";
  std::filesystem::remove_all(out);
  beop::CheckpointState st;
  st.stage = "it";
  beop::save_checkpoint(out, 1, c, p.data(), nullptr, nullptr, p.size(), 0, st, ck.tokenizer_path);
  return out;
}

TEST_CASE("a padded vocabulary (more model rows than tokenizer ids): infer hf:DIR, train --init hf:DIR, infer on "
          "that checkpoint and prep import-hf accept it, and padding ids are never generated") {
  const std::string run = beop::test::make_infer_fixture(kDir, 128);
  const beop::Tokenizer tok = beop::Tokenizer::load(kDir + "/tok.json");
  const int n = tok.vocab_size();
  const std::string prompt = "법원은 판결한다";
  const std::string gen = " --prompt '" + prompt + "' --temperature 0 --max-tokens 16 --threads 1";
  const Result a = sh("./infer generate --model " + run + gen);
  REQUIRE_MESSAGE(a.rc == 0, a.out);
  // the ids the original model picks, so the padding rows can outbid them
  const std::vector<int32_t> ids = tok.encode(prompt);
  std::vector<int32_t> picks;
  {
    beop::Tokenizer t;
    auto lm = beop::load_causal_lm(run, &t);
    beop::Generator g(*lm, t);
    beop::GenerateOptions o;
    o.sampling.temperature = 0, o.max_new_tokens = 16;
    picks = g.generate(ids, o).tokens;
  }
  const std::string padded = make_padded_run(run, 23, picks);
  {  // the test means something: unmasked, the padded model's first choice is a padding id
    beop::Tokenizer t;
    auto lm = beop::load_causal_lm(padded, &t);
    REQUIRE(lm->config().vocab_size == n + 23);
    lm->reset(lm->config().max_seq_len);
    const std::vector<float> logits = lm->step(ids.data(), int(ids.size()), 0);
    REQUIRE(logits.size() == size_t(n + 23));
    CHECK(beop::argmax(logits) >= n);
  }
  const std::string hf = kDir + "/hf_padded";
  std::filesystem::remove_all(hf);
  Result r = sh("./prep export-hf --model " + padded + " --out " + hf);
  REQUIRE_MESSAGE(r.rc == 0, r.out);
  CHECK(beop::read_file(hf + "/config.json").find("\"vocab_size\": " + std::to_string(n + 23)) != std::string::npos);

  // Same text as the unpadded model: the real rows are the same and the padding ids are masked.
  r = sh("./infer generate --model " + padded + gen);
  CHECK_MESSAGE(r.rc == 0, r.out);
  CHECK(r.out == a.out);
  r = sh("./infer generate --model hf:" + hf + gen);
  CHECK_MESSAGE(r.rc == 0, r.out);
  CHECK(r.out == a.out);
  // sampling never draws a padding id either (they would take almost all the probability mass)
  r = sh("./infer generate --model hf:" + hf + " --prompt '" + prompt + "' --temperature 1 --max-tokens 24 --seed 3 --threads 1");
  CHECK_MESSAGE(r.rc == 0, r.out);

  // prep import-hf -> a checkpoint infer loads, generating the same text
  const std::string imported = kDir + "/imported";
  std::filesystem::remove_all(imported);
  r = sh("./prep import-hf --hf " + hf + " --out " + imported);
  REQUIRE_MESSAGE(r.rc == 0, r.out);
  r = sh("./infer generate --model " + imported + gen);
  CHECK_MESSAGE(r.rc == 0, r.out);
  CHECK(r.out == a.out);

  // CPT from the padded HF directory, then infer on the checkpoint it wrote
  r = cpt_from_hf(hf, "cpt_padded");
  REQUIRE_MESSAGE(r.rc == 0, r.out);
  r = sh("./infer generate --model " + kDir + "/cpt_padded" + gen);
  CHECK_MESSAGE(r.rc == 0, r.out);
  CHECK(r.out.size() > prompt.size());

  // A model with fewer rows than the tokenizer has ids is refused: one line naming both numbers.
  std::string cfg = beop::read_file(hf + "/config.json");
  const std::string key = "\"vocab_size\": " + std::to_string(n + 23);
  cfg.replace(cfg.find(key), key.size(), "\"vocab_size\": " + std::to_string(n - 1));
  beop::write_file_atomic(hf + "/config.json", cfg);
  r = sh("./infer generate --model hf:" + hf + gen);
  CHECK(r.rc == 1);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);
  CHECK(r.out.find(std::to_string(n)) != std::string::npos);
  CHECK(r.out.find(std::to_string(n - 1)) != std::string::npos);
}

TEST_CASE("infer --device cuda: generates on a GPU; without a usable one, one clear line and exit 1") {
  const std::string run = beop::test::make_infer_fixture(kDir, 128);
  for (const char* dev : {"cuda", "cuda-bf16", "cuda-fp32"}) {
    CAPTURE(dev);
    const Result r = sh("./infer generate --model " + run + " --prompt x --max-tokens 2 --temperature 0 --device " + dev);
    CAPTURE(r.out);
    if (const beop::test::CudaState cs = beop::test::cuda_state(); cs == beop::test::CudaState::Device) {
      CHECK(r.rc == 0);
      CHECK(r.out.rfind("x", 0) == 0);  // the prompt, then the completion
    } else {
      CHECK(r.rc == 1);
      CHECK(r.out.find(beop::test::cuda_unavailable_message(cs)) == 0);
      CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);
    }
  }
  const Result bad = sh("./infer generate --model " + run + " --prompt x --device tpu");
  CHECK(bad.rc == 2);
  CHECK(bad.out == "infer: --device must be cpu, cuda, cuda-bf16 or cuda-fp32, got 'tpu'\n");
}
