// Hugging Face interop: import a Llama-family model directory (as written by transformers' save_pretrained /
// downloaded with huggingface-cli) into beop's ModelConfig + flat parameter array, and export a beop model back
// to that layout, so base models (Mi:dm 2.0, Llama 3, Qwen2) can be continued with beop and the result loaded
// by transformers, vLLM or llama.cpp's convert_hf_to_gguf.py. Walkthrough: docs/HF.md.
//
// A model directory holds
//   config.json                 architecture hyper-parameters (keys below)
//   model.safetensors           weights (or model.safetensors.index.json + model-0000k-of-0000n.safetensors)
//   tokenizer.json              the tokenizer (loaded with beop::Tokenizer::load)
//   generation_config.json      bos/eos ids (written on export)
//   tokenizer_config.json       chat_template (written on export)
//
// Tensor names are identical on both sides (ParamLayout uses the HF names). Differences bridged here:
//   - beop pads the vocabulary to a multiple of 128 rows (embed_tokens, lm_head): import fills rows V..Vp-1
//     with zeros, export writes the V real rows only;
//   - HF files are usually bf16/f16; beop trains in f32 (conversion is exact); export writes f32 (or bf16);
//   - tied embeddings: save_pretrained omits lm_head.weight; one that is present must equal embed_tokens.
//
// config.json mapping (architectures[0] = LlamaForCausalLM, Qwen2ForCausalLM or MistralForCausalLM):
//   hidden_size -> d_model, num_hidden_layers -> n_layers, num_attention_heads -> n_heads,
//   num_key_value_heads (default = heads) -> n_kv_heads, head_dim (default hidden/heads), intermediate_size ->
//   ffn_hidden, vocab_size, rope_theta (or rope_parameters.rope_theta, transformers >= 5), rms_norm_eps,
//   tie_word_embeddings (default false), max_position_embeddings -> max_seq_len (optionally capped),
//   rope_scaling / rope_parameters {rope_type|type: "default" | "llama3", factor, low_freq_factor,
//   high_freq_factor, original_max_position_embeddings}. Refused with an Error naming the key: hidden_act other
//   than silu, other rope scalings (linear, dynamic, yarn, longrope, ...), Llama attention_bias (it also adds an
//   o_proj bias) or mlp_bias, a sliding window narrower than the context (Mistral, Qwen2 use_sliding_window).
//   Qwen2 always has q/k/v biases (attn_bias = true).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/config.h"
#include "src/safetensors.h"

namespace beop {

struct HfLoadOptions {
  int max_seq_len_cap = 0;  // > 0: max_seq_len = min(max_position_embeddings, cap) (a 128k context is rarely needed)
  bool load_tokenizer = true;  // check tokenizer.json with Tokenizer::load (vocab fits, chat-template tokens)
};

struct HfModel {
  std::string dir;
  std::string architecture;        // "LlamaForCausalLM", "Qwen2ForCausalLM", "MistralForCausalLM"
  ModelConfig config;              // name = the directory's base name
  std::vector<float> params;       // (ParamLayout(config).total,) in ParamLayout order; padded vocab rows 0
  std::string tokenizer_path;      // dir + "/tokenizer.json"
  std::vector<std::string> notes;  // things the user should know (e.g. the chat template's tokens are missing)
};

// The ModelConfig a HF config.json describes (see the mapping above). `what` names the file in errors.
ModelConfig hf_config_from_json(const nlohmann::json& j, const std::string& what, int max_seq_len_cap = 0,
                                std::string* architecture = nullptr);

// config.json for a beop model: LlamaForCausalLM, or Qwen2ForCausalLM when attn_bias. bos/eos ids < 0 are omitted.
nlohmann::ordered_json hf_config_to_json(const ModelConfig& cfg, int bos_id = -1, const std::vector<int>& eos_ids = {},
                                 const std::string& torch_dtype = "float32");

// Loads DIR completely or not at all: every tensor named, shaped and typed as config.json implies (missing,
// misshapen or unexpected tensors -> Error naming the tensor; rotary_emb.inv_freq buffers are ignored).
HfModel load_hf_model(const std::string& dir, const HfLoadOptions& opt = {});

// "hf:DIR" -> DIR, anything else -> "" (how --init / --model recognise a Hugging Face directory).
std::string hf_spec_dir(const std::string& spec);

struct HfExportOptions {
  StDType dtype = StDType::F32;            // F32 (exact) or BF16 (half the size; what most HF releases ship)
  size_t max_shard_bytes = size_t(5) << 30;  // transformers' default: shard above 5 GiB
  bool chat_template = true;               // tokenizer_config.json with beop's chat template in Jinja
};

// Writes OUT_DIR/config.json, model.safetensors (or shards), tokenizer.json (a copy of tokenizer_path),
// generation_config.json and tokenizer_config.json. params: (ParamLayout(cfg).total,) host floats.
void export_hf_model(const ModelConfig& cfg, const float* params, const std::string& tokenizer_path,
                     const std::string& out_dir, const HfExportOptions& opt = {});

// beop's chat template (src/chat_template.h) as the Jinja string transformers' apply_chat_template renders.
std::string hf_chat_template_jinja();

// Weights to memory: one human-readable table from beop's own layouts (ParamLayout, ActivationLayout) for
// training cfg at (batch, seq) in float32: parameters, gradients, AdamW m and v, activations. ranks > 1: per rank
// of a data-parallel run with ZeRO-1 (AdamW moments and, bf16, the fp32 master in 1/ranks shards), and what it saves.
std::string hf_memory_report(const ModelConfig& cfg, int batch, int seq, int ranks = 1);

}  // namespace beop
