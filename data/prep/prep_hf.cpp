#include "data/prep/prep_hf.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/checkpoint.h"
#include "src/checkpoint_spec.h"
#include "src/common.h"
#include "src/flags.h"
#include "src/gguf_export.h"
#include "src/hf_model.h"
#include "src/io.h"

namespace beop::prep {

namespace {
// --model for the exports: a model.bin file itself, or a checkpoint spec (src/checkpoint_spec.h); the tokenizer.json
// next to the model.bin.
LoadedCheckpoint load_for_export(std::string m, std::string* bin, std::string* tok) {
  if (!(m.size() > 4 && m.compare(m.size() - 4, 4, ".bin") == 0)) m = resolve_checkpoint(m, "--model");
  *bin = file_exists(m + "/model.bin") ? m + "/model.bin" : m;
  const std::string dir = bin->substr(0, bin->find_last_of('/') == std::string::npos ? 0 : bin->find_last_of('/'));
  *tok = (dir.empty() ? "." : dir) + "/tokenizer.json";
  return load_model_file(*bin);
}

// The flags both exports take: the checkpoint, where to write, and the weight format.
void add_export_flags(Flags& f, const char* out_help, const char* dtype_help) {
  f.add("model", "", "a checkpoint step_* directory, a run directory (its newest checkpoint) or a model.bin", true);
  f.add("out", "", out_help, true);
  f.add("dtype", "f32", dtype_help);
}

// After parsing: no stray argument, and --dtype one of `allowed` (returned).
std::string checked_export_dtype(const Flags& f, const std::vector<std::string>& allowed) {
  if (!f.positional().empty()) throw UsageError(cat("unexpected argument '", f.positional()[0], "'"));
  const std::string dt = f.str("dtype");
  if (std::find(allowed.begin(), allowed.end(), dt) == allowed.end()) {
    std::string want;
    for (size_t i = 0; i < allowed.size(); i++) want += (i ? (i + 1 == allowed.size() ? " or " : ", ") : "") + allowed[i];
    throw UsageError(cat("--dtype: '", dt, "' (want ", want, ")"));
  }
  return dt;
}
}  // namespace

int prep_export_hf_main(int argc, char** argv) {
  Flags f("prep export-hf", "--model CKPT --out DIR [flags]",
          "Exports a beop checkpoint as a Hugging Face model directory (config.json, model.safetensors, tokenizer.json,\n"
          "generation_config.json, tokenizer_config.json with the chat template) for transformers / vLLM / llama.cpp.");
  add_export_flags(f, "output directory", "f32 (exact) or bf16");
  f.add("max-shard-gb", "5", "shard model.safetensors above this many GiB");
  if (!f.parse(argc, argv)) return 0;
  const std::string dt = checked_export_dtype(f, {"f32", "bf16"});
  HfExportOptions o;
  o.dtype = dt == "bf16" ? StDType::BF16 : StDType::F32;
  const double gb = f.f64("max-shard-gb");
  if (!(gb > 0)) throw UsageError("--max-shard-gb must be positive");
  o.max_shard_bytes = size_t(gb * double(size_t(1) << 30));
  std::string bin;
  std::string tok;
  const LoadedCheckpoint ck = load_for_export(f.str("model"), &bin, &tok);
  export_hf_model(ck.config, ck.params.data(), tok, f.str("out"), o);
  std::printf("exported %s (%s) to %s\n", bin.c_str(), ck.config.summary().c_str(), f.str("out").c_str());
  return 0;
}

int prep_export_gguf_main(int argc, char** argv) {
  Flags f("prep export-gguf", "--model CKPT --out FILE.gguf [--dtype f32|bf16|q8_0]",
          "Exports a beop checkpoint as a GGUF v3 file (architecture llama, the Llama-3 BPE tokenizer and chat template)\n"
          "that llama.cpp and Ollama load (docs/HF.md). q8_0 holds exactly the weights of `infer --dtype q8`.");
  add_export_flags(f, "output .gguf file (written atomically)",
                   "f32 (exact), bf16 or q8_0 for the matrices (norms stay f32)");
  if (!f.parse(argc, argv)) return 0;
  const std::string dt = checked_export_dtype(f, {"f32", "bf16", "q8_0"});
  std::string bin, tok;
  const LoadedCheckpoint ck = load_for_export(f.str("model"), &bin, &tok);
  export_gguf(ck.config, ck.params.data(), tok, f.str("out"),
              dt == "f32" ? GgmlType::F32 : dt == "bf16" ? GgmlType::BF16 : GgmlType::Q8_0);
  std::printf("exported %s (%s) to %s (%s)\n", bin.c_str(), ck.config.summary().c_str(), f.str("out").c_str(), dt.c_str());
  return 0;
}

int prep_import_hf_main(int argc, char** argv) {
  Flags f("prep import-hf", "--hf DIR --out RUN_DIR [flags]",
          "Imports a Hugging Face Llama/Qwen2/Mistral model directory as RUN_DIR/step_000000 (weights only), e.g. to\n"
          "evaluate it with beop's tools. `train --init hf:DIR` reads the directory directly.");
  f.add("hf", "", "Hugging Face model directory (config.json, model.safetensors[.index.json], tokenizer.json)", true);
  f.add("out", "", "run directory to write step_000000 into", true);
  f.add("max-seq", "0", "cap max_seq_len (0 = config.json's max_position_embeddings)");
  if (!f.parse(argc, argv)) return 0;
  if (!f.positional().empty()) throw UsageError(cat("unexpected argument '", f.positional()[0], "'"));
  HfLoadOptions lo;
  lo.max_seq_len_cap = int(f.i64("max-seq"));
  const HfModel m = load_hf_model(f.str("hf"), lo);
  for (const std::string& n : m.notes) std::fprintf(stderr, "note: %s\n", n.c_str());
  CheckpointState st;
  // A released base model is a pretrained one: checkpoints know only pretrain, cpt and it (state.json is read
  // back with that check), so the import is "pretrain" and where it came from goes into meta.
  st.stage = "pretrain";
  st.meta = {{"source", "hf-import"}, {"hf_dir", f.str("hf")}, {"architecture", m.architecture}};
  const std::string dir = save_checkpoint(f.str("out"), 0, m.config, m.params.data(), nullptr, nullptr, m.params.size(), 0,
                                          st, m.tokenizer_path);
  std::printf("imported %s (%s) as %s\n", f.str("hf").c_str(), m.config.summary().c_str(), dir.c_str());
  return 0;
}

int prep_hf_memory_main(int argc, char** argv) {
  Flags f("prep hf-memory", "(--hf DIR | --preset NAME) --batch B --seq T",
          "Prints beop's memory table for training a model in float32: every parameter tensor, the activation plan\n"
          "for (batch, seq), and the totals of parameters + gradients + AdamW m, v + activations. Nothing is allocated;\n"
          "--hf reads only config.json.");
  f.add("hf", "", "Hugging Face model directory (only config.json is read)");
  f.add("preset", "", "or a beop preset (tiny, small, 125m, 1b)");
  f.add("batch", "1", "sequences per micro-batch");
  f.add("seq", "2048", "tokens per sequence");
  f.add("max-seq", "0", "cap max_seq_len (0 = config.json's)");
  f.add("ranks", "1", "data-parallel ranks: per-rank bytes with ZeRO-1 (optimizer state in 1/N shards)");
  if (!f.parse(argc, argv)) return 0;
  if (f.str("hf").empty() == f.str("preset").empty()) throw UsageError("give exactly one of --hf and --preset");
  ModelConfig cfg;
  if (!f.str("hf").empty()) {
    const std::string p = f.str("hf") + "/config.json";
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(read_file(p));
    } catch (const nlohmann::json::exception& e) {
      fail(p, ": not valid JSON (", e.what(), ")");
    }
    cfg = hf_config_from_json(j, p, int(f.i64("max-seq")));
    std::string n = f.str("hf");
    while (n.size() > 1 && n.back() == '/') n.pop_back();
    cfg.name = n.substr(n.find_last_of('/') == std::string::npos ? 0 : n.find_last_of('/') + 1);
  } else {
    cfg = preset(f.str("preset"));
  }
  const int64_t B = f.i64("batch"), T = f.i64("seq");
  if (B <= 0 || T <= 0) throw UsageError("--batch and --seq must be positive");
  const int64_t ranks = f.i64("ranks");
  if (ranks <= 0 || ranks > 1000000) throw UsageError("--ranks must be between 1 and 1000000");
  std::fputs(hf_memory_report(cfg, int(B), int(T), int(ranks)).c_str(), stdout);
  return 0;
}

}  // namespace beop::prep
