// Checkpoint arguments (src/checkpoint_spec.h).
#include "src/checkpoint_spec.h"

#include "src/checkpoint.h"
#include "src/common.h"
#include "src/hf_model.h"
#include "src/io.h"

namespace beop {

CheckpointSpec resolve_checkpoint_spec(const std::string& spec, const std::string& flag) {
  BEOP_CHECK(!spec.empty(), flag, " is required (a checkpoint step directory, a run directory or hf:DIR)");
  CheckpointSpec c;
  c.hf_dir = hf_spec_dir(spec);
  if (c.is_hf()) return c;
  if (file_exists(spec + "/model.bin")) {
    c.step_dir = spec;
    return c;
  }
  c.step_dir = latest_checkpoint(spec);
  BEOP_CHECK(!c.step_dir.empty(), flag, " ", spec, ": no model.bin there and no complete step_* checkpoint in it");
  return c;
}

std::string resolve_checkpoint(const std::string& spec, const std::string& flag) {
  const CheckpointSpec c = resolve_checkpoint_spec(spec, flag);
  BEOP_CHECK(!c.is_hf(), flag, " ", spec, ": a Hugging Face directory, not a beop checkpoint");
  return c.step_dir;
}

}  // namespace beop
