// A beop model as a GGUF file for llama.cpp / Ollama (`prep export-gguf`, docs/HF.md): architecture "llama",
// llama.cpp's tensor names and key names (those of its convert_hf_to_gguf.py for a HF Llama), weights as F32, BF16
// or Q8_0 (src/q8_0.h: the same blocks `infer --dtype q8` computes with), norms always F32, and the tokenizer as a
// "gpt2" BPE with the Llama-3 pre-tokenizer ("llama-bpe"), merges, special tokens, the chat template and
// add_bos_token = false (beop never prepends <|begin_of_text|> to raw text).
//
// Q and K rows are permuted as convert_hf_to_gguf.py permutes HF Llama's: beop (like HF) rotates the pairs
// (i, i + D/2) of a head, llama.cpp's "llama" RoPE rotates (2i, 2i + 1), so row h*D + i*D/2 + j goes to h*D + 2j + i.
// Llama 3.1 RoPE scaling is written as the rope_freqs tensor (per-frequency divisors), as the converter does.
//
// Refused with the reason (an Error): q/k/v biases (Qwen2: not the "llama" architecture), a tokenizer.json that is
// not the Llama-3 layout (a normalizer, i.e. Qwen2's), tokenizer ids beyond the model's vocabulary, and for Q8_0 a
// matrix whose input dimension is not a multiple of 32.
#pragma once
#include <string>

#include "src/config.h"
#include "src/gguf_writer.h"

namespace beop {

// params: (ParamLayout(cfg).total,) host floats. dtype: F32, BF16 or Q8_0.
void export_gguf(const ModelConfig& cfg, const float* params, const std::string& tokenizer_path,
                 const std::string& out_path, GgmlType dtype);

}  // namespace beop
