// Training checkpoints: one directory per saved step, RUN_DIR/step_000100/, holding
//
//   model.bin       parameters (versioned binary: magic, version, config JSON, dtype, tensor table, payload, CRC)
//   optim.bin       AdamW m and v and the Adam step (same style); absent for a weights-only checkpoint
//   state.json      human-readable training state: stage, step, tokens seen, data/val specs, lr schedule, seed,
//                   training RNG, mixture-loader state (base64), git commit, date, command line, losses
//   tokenizer.json  the tokenizer the run trains with (a byte copy)
//   config.json     the model config, human-readable
//
// Byte layouts are in docs/FORMATS.md ("Checkpoints"). save_checkpoint writes everything into
// RUN_DIR/.tmp_step_000100.<pid>/, fsyncs every file, renames the directory onto RUN_DIR/step_000100 and fsyncs
// RUN_DIR: a crash at any point leaves either the old set of checkpoints or the old set plus the new complete
// one, never a half-written step_* directory. load_checkpoint validates every byte it reads and throws a
// one-line Error naming the file and what is wrong.
//
// This header is the one most callers need; it includes the pieces, each in its own file: the binary files
// (checkpoint_format.h), the config JSON (config_json.h), CRC32/base64 (checksum.h) and the run directory's
// listing and pruning (run_dir.h).
//
//   CheckpointState st; st.stage = "pretrain"; st.tokens_seen = ...; st.loader_state = loader.save_state();
//   std::string dir = save_checkpoint(run_dir, step, cfg, params, m, v, n, model.adam_step(), st, tok_path);
//   prune_checkpoints(run_dir, 3);
//   ...
//   std::string last = latest_checkpoint(run_dir);           // "" when none
//   LoadedCheckpoint ck = load_checkpoint(last, /*with_optimizer=*/true);
//   check_compatible(cfg, ck.config, "checkpoint " + last);
#pragma once
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/checkpoint_format.h"  // model.bin / optim.bin, kCheckpointVersion
#include "src/checksum.h"           // crc32, base64 (state.json's loader state)
#include "src/config.h"
#include "src/config_json.h"        // config_to_json, config_from_json, check_compatible
#include "src/run_dir.h"            // checkpoint_dir_name, latest / list / prune checkpoints

namespace beop {

// The training state saved next to the weights. Everything here round-trips exactly through state.json.
struct CheckpointState {
  std::string stage = "pretrain";     // pretrain | cpt | it
  long step = 0;                      // filled by load_checkpoint (save takes the step as an argument)
  int64_t tokens_seen = 0;            // training tokens consumed so far (all ranks)
  uint64_t seed = 0;                  // the run's seed
  std::array<uint64_t, 4> rng_state{};  // training Rng::s (xoshiro256**), stored as hex strings
  std::string loader_state;           // MixtureLoader::save_state() bytes (binary; base64 in state.json)
  std::string data_spec;              // mixture spec the run trains on
  std::string val_spec;               // validation spec
  nlohmann::json lr_schedule = nlohmann::json::object();  // e.g. {"kind":"cosine","lr":3e-4,"warmup":100,...}
  double last_loss = NAN;             // last training loss (NaN -> null in JSON)
  double val_loss = NAN;              // last validation loss (NaN -> null)
  std::string command_line;           // argv joined with spaces
  nlohmann::json meta = nlohmann::json::object();  // anything else the trainer wants kept (free-form)
  // Filled by save_checkpoint (inputs ignored) and read back by load_checkpoint:
  std::string git_commit;             // `git rev-parse HEAD` of the working directory, else "unknown"
  std::string date;                   // UTC, ISO 8601
};

struct LoadedCheckpoint {
  std::string dir;             // the step directory
  ModelConfig config;
  std::vector<float> params;   // (n,) ParamLayout(config) order
  std::vector<float> m, v;     // (n,) AdamW moments; empty unless loaded with_optimizer
  long adam_step = 0;          // 0 unless loaded with_optimizer
  CheckpointState state;
  std::string tokenizer_path;  // dir + "/tokenizer.json"
};

// Writes RUN_DIR/step_NNNNNN atomically (see the top of this file) and returns its path. params, m, v are host
// arrays of n = ParamLayout(cfg).total floats (n must match); m and v may both be null for a weights-only
// checkpoint (no optim.bin). RUN_DIR is created if missing. If RUN_DIR/step_NNNNNN already exists it is
// replaced atomically (renameat2 RENAME_EXCHANGE). Any error (unwritable dir, disk full, missing tokenizer)
// throws Error and removes the temp directory; existing checkpoints are untouched.
std::string save_checkpoint(const std::string& run_dir, long step, const ModelConfig& cfg, const float* params,
                            const float* m, const float* v, size_t n, long adam_step, const CheckpointState& st,
                            const std::string& tokenizer_json_path);

// The same, with the tokenizer.json bytes given (a trainer reads them once at its start, so no save depends on
// a file --keep-last may have pruned since).
std::string save_checkpoint_with_tokenizer(const std::string& run_dir, long step, const ModelConfig& cfg,
                                           const float* params, const float* m, const float* v, size_t n,
                                           long adam_step, const CheckpointState& st,
                                           const std::string& tokenizer_json_bytes);

// Loads and validates a step directory: every file present, magic, version, sizes (truncation), CRC32 of each
// payload, the tensor table against ParamLayout(config), finite weights, config.json == the config inside
// model.bin, tokenizer.json parsed with its ids within vocab_size, state.json's fields with its step >= 0 and
// equal to the step_NNNNNN name. with_optimizer=false skips optim.bin entirely (it may be absent); with it, the
// moments must be finite (v >= 0) and the AdamW step must equal step - meta.skipped_steps.
LoadedCheckpoint load_checkpoint(const std::string& ckpt_dir, bool with_optimizer);

// Reads only model.bin (for serving / eval): config + parameters, fully validated.
LoadedCheckpoint load_model_file(const std::string& model_bin_path);

}  // namespace beop
