// ModelConfig <-> JSON: the config.json of a checkpoint and the config inside model.bin (docs/FORMATS.md,
// "Checkpoints"), and the check that two configs describe the same architecture.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "src/config.h"

namespace beop {

// to_json writes every field; the optional ones (attn_bias, rope_scaling) only when set, so files of models
// without them stay as they were. from_json throws Error naming `what` and the missing/mistyped key, and
// validates the config.
nlohmann::json config_to_json(const ModelConfig& cfg);
ModelConfig config_from_json(const nlohmann::json& j, const std::string& what);

// Throws Error naming the first architecture field that differs:
//   "<what> has d_model 256, run expects 128"
// Compared: vocab_size, d_model, n_layers, n_heads, n_kv_heads, head_dim, ffn_hidden, rope_theta, rms_eps,
// tied_embeddings, max_seq_len, attn_bias, rope_scaling, rope_factor (not the name).
void check_compatible(const ModelConfig& expected, const ModelConfig& got, const std::string& what);

}  // namespace beop
