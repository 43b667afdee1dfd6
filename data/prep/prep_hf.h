// `prep` subcommands for Hugging Face interop (src/hf_model.h, docs/HF.md):
//
//   prep export-hf --model CKPT --out DIR [--dtype f32|bf16] [--max-shard-gb 5]
//       a beop checkpoint (step_* dir, run dir = its newest, or a model.bin) -> a transformers model directory
//   prep export-gguf --model CKPT --out FILE.gguf [--dtype f32|bf16|q8_0]
//       a beop checkpoint -> a GGUF v3 file for llama.cpp / Ollama (src/gguf_export.h)
//   prep import-hf --hf DIR --out RUN_DIR [--max-seq N]
//       a transformers model directory -> RUN_DIR/step_000000, a weights-only beop checkpoint
//   prep hf-memory (--hf DIR | --preset NAME) --batch B --seq T [--max-seq N] [--ranks N]
//       beop's memory table (parameters, gradients, AdamW moments, activations) for training that model,
//       computed from ParamLayout / ActivationLayout without allocating anything
// argv[0] is the subcommand name; exit status as every prep subcommand (0 ok, 1 failure, 2 usage).
#pragma once

namespace beop::prep {

int prep_export_hf_main(int argc, char** argv);
int prep_export_gguf_main(int argc, char** argv);
int prep_import_hf_main(int argc, char** argv);
int prep_hf_memory_main(int argc, char** argv);

}  // namespace beop::prep
