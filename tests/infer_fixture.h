// Test fixtures for the inference tests: a small byte-level BPE tokenizer with beop's special tokens and a
// random tiny Llama checkpoint saved with save_checkpoint, written into build/<name>/ by the test itself.
#pragma once
#include <filesystem>
#include <string>

#include "cpu/model_cpu.h"
#include "src/checkpoint.h"
#include "src/io.h"
#include "src/tokenizer.h"

namespace beop::test {

// Writes DIR/tok.json and DIR/run/step_000001 (random weights scaled by `sharpen` so greedy decoding is not a
// near-uniform coin toss). Returns the run directory. Idempotent within one process.
inline std::string make_infer_fixture(const std::string& dir, int max_seq_len = 128, int n_layers = 2,
                                      double sharpen = 6.0) {
  const std::string run = dir + "/run";
  if (!latest_checkpoint(run).empty() && file_exists(dir + "/tok.json")) return run;
  std::filesystem::remove_all(dir);
  make_dirs(dir);
  BpeTrainOptions bo;
  bo.vocab_size = 400;
  bo.progress = false;
  bo.threads = 1;
  Tokenizer::train_from_texts({"법원은 판결한다. 임대차는 등기가 없는 경우에도 효력이 있다. 민법 제618조 제1항.",
                               "To be or not to be, that is the question. hello world STOP",
                               "근로기준법 제23조 제1항에 따라 사용자는 정당한 이유 없이 근로자를 해고하지 못한다."},
                              bo)
      .save(dir + "/tok.json");
  const Tokenizer tok = Tokenizer::load(dir + "/tok.json");
  ModelConfig c = preset("tiny");
  c.name = "fixture";
  c.vocab_size = tok.vocab_size();
  c.n_layers = n_layers;
  c.max_seq_len = max_seq_len;
  CpuModel m(c);
  m.init_random(11);
  for (size_t i = 0; i < m.layout().total; i++) m.params()[i] *= float(sharpen);
  CheckpointState st;
  st.stage = "it";
  save_checkpoint(run, 1, c, m.params(), nullptr, nullptr, m.layout().total, 0, st, dir + "/tok.json");
  return run;
}

}  // namespace beop::test
