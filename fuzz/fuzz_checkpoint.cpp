// libFuzzer harness: checkpoint files (src/checkpoint.h). The first input byte picks the file, the rest is its
// content, written into a scratch step directory whose other files are a valid checkpoint (made once):
//   0 model.bin, as is              -> load_model_file, latest_checkpoint (the cheap completeness check)
//   1 model.bin, checksums repaired -> the same, past the CRCs: the header/table/config parsing itself
//   2 optim.bin, checksums repaired -> load_checkpoint(with_optimizer = true)
//   3 state.json                    -> load_checkpoint(with_optimizer = false)
//   4 config.json                   -> load_checkpoint(with_optimizer = false)
// Random bytes almost never carry a valid CRC32, so modes 1 and 2 recompute both checksums the way the writer
// does before loading. A loaded checkpoint must match its config's layout. Only beop::Error may come out.
// fuzz-sources: src/checkpoint.cpp src/checkpoint_format.cpp src/checksum.cpp src/config_json.cpp src/run_dir.cpp src/tokenizer.cpp src/tokenizer_json.cpp src/bpe_trainer.cpp src/progress.cpp src/unicode.cpp src/utf8.cpp src/nfc.cpp src/config.cpp src/param_layout.cpp src/memory_table.cpp src/io.cpp src/common.cpp
#include <cstring>
#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "src/checkpoint.h"
#include "src/common.h"
#include "src/io.h"
#include "src/param_layout.h"

namespace {

const char* const kFiles[] = {"model.bin", "model.bin", "optim.bin", "state.json", "config.json"};

beop::ModelConfig small_config() {
  beop::ModelConfig c;
  c.name = "fuzz";
  c.vocab_size = 200, c.d_model = 8, c.n_layers = 1, c.n_heads = 2, c.n_kv_heads = 1, c.head_dim = 4;
  c.ffn_hidden = 12, c.max_seq_len = 16;
  return c;
}

// Writes RUN/step_000001 (with optimizer state) and returns its path.
std::string make_checkpoint(const std::string& run, bool llama3) {
  beop::ModelConfig cfg = small_config();
  if (llama3) {
    cfg.rope_scaling = "llama3", cfg.rope_factor = 8, cfg.rope_low_freq_factor = 1, cfg.rope_high_freq_factor = 4;
    cfg.rope_original_max_pos = 8192, cfg.attn_bias = true;
  }
  const beop::ParamLayout lay(cfg);
  std::vector<float> p(lay.total), m(lay.total), v(lay.total);
  for (size_t i = 0; i < lay.total; i++) p[i] = float(i % 13) * 0.25f, m[i] = -p[i], v[i] = p[i] * p[i];
  beop::make_dirs(run);
  beop::write_file_atomic(run + "/tok.json", "{\"model\": {}}");
  beop::CheckpointState st;
  st.stage = "cpt", st.tokens_seen = 12345, st.seed = 7, st.rng_state = {1, 2, 3, 0xffffffffffffffffull};
  st.loader_state = std::string("\0\1binary\xff", 9), st.data_spec = "a.bin:1", st.val_spec = "v.bin";
  st.lr_schedule = {{"kind", "cosine"}, {"lr", 3e-4}}, st.last_loss = 2.5, st.command_line = "train --fuzz";
  return beop::save_checkpoint(run, 1, cfg, p.data(), m.data(), v.data(), lay.total, 42, st, run + "/tok.json");
}

// The step directory the inputs are loaded from, and its valid files.
struct Base {
  std::string run, dir;
  std::string files[5];
  Base() {
    run = beop_fuzz::scratch_dir() + "/run";
    dir = make_checkpoint(run, false);
    for (int k = 0; k < 5; k++) files[k] = beop::read_file(dir + "/" + kFiles[k]);
  }
};

void put_u32(std::string& b, size_t at, uint32_t v) { std::memcpy(&b[at], &v, 4); }

// Recomputes model.bin's / optim.bin's two trailing CRC32s (payload, header) as the writer does, where the
// header_bytes field leaves room for them.
void repair_crcs(std::string& b, bool optim) {
  if (b.size() < 24) return;
  uint32_t hb;
  std::memcpy(&hb, b.data() + 12, 4);
  if (hb > b.size() - 8) return;
  const size_t payload = b.size() - 8 - hb;
  uint32_t pc;
  if (optim) {  // m then v, each half of the payload
    pc = beop::crc32(b.data() + hb + payload / 2, payload / 2, beop::crc32(b.data() + hb, payload / 2));
  } else {
    pc = beop::crc32(b.data() + hb, payload);
  }
  put_u32(b, b.size() - 8, pc);
  put_u32(b, b.size() - 4, beop::crc32(b.data(), hb));
}

}  // namespace

void beop_fuzz_seeds(const std::string& dir) {
  for (bool llama3 : {false, true}) {
    const std::string run = beop_fuzz::scratch_dir() + "/seed_run" + (llama3 ? "3" : "");
    const std::string ck = make_checkpoint(run, llama3);
    for (int k = 0; k < 5; k++)
      beop_fuzz::seed(dir, std::string(llama3 ? "llama3_" : "") + std::to_string(k) + "_" + kFiles[k],
                      std::string(1, char(k)) + beop::read_file(ck + "/" + kFiles[k]));
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Base base;
  if (size == 0) return 0;
  const int mode = data[0] % 5;
  std::string content(reinterpret_cast<const char*>(data + 1), size - 1);
  if (mode == 1 || mode == 2) repair_crcs(content, mode == 2);
  const std::string path = base.dir + "/" + kFiles[mode];
  beop_fuzz::put_file(path, content);
  try {
    if (mode <= 1) {
      beop::LoadedCheckpoint ck = beop::load_model_file(path);
      if (ck.params.size() != beop::ParamLayout(ck.config).total) std::abort();
      (void)beop::latest_checkpoint(base.run);
    } else {
      beop::LoadedCheckpoint ck = beop::load_checkpoint(base.dir, mode == 2);
      if (mode == 2 && (ck.m.size() != ck.params.size() || ck.v.size() != ck.params.size())) std::abort();
    }
  } catch (const beop::Error&) {
  }
  beop_fuzz::put_file(path, base.files[mode]);  // the next input starts from a valid checkpoint again
  return 0;
}
