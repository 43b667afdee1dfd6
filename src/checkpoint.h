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
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/config.h"

namespace beop {

inline constexpr char kModelFileMagic[8] = {'B', 'E', 'O', 'P', 'M', 'D', 'L', '\0'};  // model.bin
inline constexpr char kOptimFileMagic[8] = {'B', 'E', 'O', 'P', 'O', 'P', 'T', '\0'};  // optim.bin
inline constexpr uint32_t kCheckpointVersion = 1;

// Element type of a tensor payload. f32 is what this build writes and reads; bf16 is reserved for the CUDA
// backend's weights-only exports (a reader of this version rejects it with a clear message).
enum class CkptDType : uint32_t { f32 = 0, bf16 = 1 };

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

// "step_000100" for 100 (at least 6 digits; more when the step needs them).
std::string checkpoint_dir_name(long step);

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

// The newest complete step_* directory of RUN_DIR (by step number), or "" if none (or RUN_DIR missing).
// Complete = model.bin, state.json, config.json and tokenizer.json present and model.bin's size equal to what
// its header implies. .tmp_* leftovers and incomplete directories are ignored.
std::string latest_checkpoint(const std::string& run_dir);

// All complete step_* directories of RUN_DIR, oldest first.
std::vector<std::string> list_checkpoints(const std::string& run_dir);

// Removes complete step_* directories except the newest keep_last and any marked KEEP (each is renamed to
// .trash_step_N.<pid> before its files are deleted, so a kill mid-delete never leaves a half step_* dir); then
// remove_checkpoint_leftovers. keep_last <= 0 removes nothing. Returns the removed paths.
std::vector<std::string> prune_checkpoints(const std::string& run_dir, int keep_last);

// Removes what interrupted saves and prunes left: .trash_* directories, and .tmp_* directories of processes that
// no longer exist. Returns the removed paths.
std::vector<std::string> remove_checkpoint_leftovers(const std::string& run_dir);

// Writes DIR/KEEP so prune_checkpoints never removes DIR.
void mark_checkpoint(const std::string& ckpt_dir);

// Throws Error naming the first architecture field that differs:
//   "<what> has d_model 256, run expects 128"
// Compared: vocab_size, d_model, n_layers, n_heads, n_kv_heads, head_dim, ffn_hidden, rope_theta, rms_eps,
// tied_embeddings, max_seq_len (not the name).
void check_compatible(const ModelConfig& expected, const ModelConfig& got, const std::string& what);

// ModelConfig <-> JSON (config.json and the config inside model.bin). from_json throws Error naming `what` and
// the missing/mistyped key, and validates the config.
nlohmann::json config_to_json(const ModelConfig& cfg);
ModelConfig config_from_json(const nlohmann::json& j, const std::string& what);

// Helpers (exposed for tests and other formats).
uint32_t crc32(const void* data, size_t bytes, uint32_t crc = 0);  // IEEE 802.3 (zlib's crc32)
std::string base64_encode(const std::string& bytes);
std::string base64_decode(const std::string& text, const std::string& what);  // throws Error on bad input

// Test hook: when set, save_checkpoint calls it with a stage name ("model.bin", "optim.bin", "state.json",
// "tokenizer.json", "config.json" after each file is written into the temp dir, then "rename" just before the
// rename; prune_checkpoints calls it with "prune" between a step dir's rename to .trash_ and its deletion); a
// throw from it simulates a crash/failure at that point.
extern std::function<void(const std::string& stage)> g_checkpoint_fault_hook;

}  // namespace beop
