// What a checkpoint argument names, resolved in ONE place for every program: `infer --model`, `infer eval
// --model`, `train --init` and `prep export-hf --model` all accept
//   STEP_DIR   a checkpoint step directory (has model.bin)
//   RUN_DIR    a run directory: its newest complete step_* checkpoint
//   hf:DIR     a Hugging Face model directory (src/hf_model.h)
#pragma once
#include <string>

namespace beop {

struct CheckpointSpec {
  std::string hf_dir;    // hf:DIR -> DIR ("" otherwise)
  std::string step_dir;  // the resolved step directory ("" for hf:DIR)
  bool is_hf() const { return !hf_dir.empty(); }
};

// `flag` names the argument in errors ("--model", "--init"). Throws Error when spec is empty, or names neither a
// step directory nor a run directory holding a complete checkpoint. An hf:DIR is not opened here (its loader
// reports what is missing).
CheckpointSpec resolve_checkpoint_spec(const std::string& spec, const std::string& flag = "--model");

// The step directory of a beop checkpoint spec (hf:DIR is an Error: it has none).
std::string resolve_checkpoint(const std::string& spec, const std::string& flag = "--model");

}  // namespace beop
