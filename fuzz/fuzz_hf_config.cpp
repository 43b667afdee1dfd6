// libFuzzer harness: model config JSON, both kinds: a Hugging Face config.json (hf_config_from_json,
// src/hf_model.h) and beop's own checkpoint config (config_from_json, src/checkpoint.h). The input is the JSON
// text. A config either is accepted or is a one-line beop::Error; an accepted one must survive its writer:
// hf_config_to_json / config_to_json and back gives the same architecture. JSON that does not parse is
// rejected by the loaders' own json::parse wrappers (not part of these functions) and skipped here.
// fuzz-sources: src/hf_model.cpp src/checkpoint.cpp src/safetensors.cpp src/tokenizer.cpp src/unicode.cpp src/utf8.cpp src/nfc.cpp src/config.cpp src/param_layout.cpp src/memory_table.cpp src/activation_layout.cpp src/io.cpp src/common.cpp src/checkpoint_format.cpp src/checksum.cpp src/config_json.cpp src/run_dir.cpp src/tokenizer_json.cpp src/bpe_trainer.cpp src/progress.cpp
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz/fuzz_util.h"
#include "src/checkpoint.h"
#include "src/common.h"
#include "src/config.h"
#include "src/hf_model.h"

void beop_fuzz_seeds(const std::string& dir) {
  beop::ModelConfig c = beop::preset("tiny");
  beop_fuzz::seed(dir, "beop_tiny.json", beop::config_to_json(c).dump(2));
  beop_fuzz::seed(dir, "hf_llama.json", beop::hf_config_to_json(c, 1, {2, 3}).dump(2));
  c.attn_bias = true;
  beop_fuzz::seed(dir, "hf_qwen2.json", beop::hf_config_to_json(c, 1, {2}, "bfloat16").dump(2));
  c.attn_bias = false;
  c.rope_scaling = "llama3", c.rope_factor = 32, c.rope_low_freq_factor = 1, c.rope_high_freq_factor = 4;
  c.rope_original_max_pos = 8192, c.tied_embeddings = true;
  beop_fuzz::seed(dir, "hf_llama3_scaling.json", beop::hf_config_to_json(c).dump(2));
  beop_fuzz::seed(dir, "beop_llama3_scaling.json", beop::config_to_json(c).dump(2));
  // transformers >= 5 layout, and a Mistral one with a sliding window
  beop_fuzz::seed(dir, "hf_v5.json",
                  R"({"architectures":["LlamaForCausalLM"],"hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,)"
                  R"("num_key_value_heads":2,"intermediate_size":128,"vocab_size":300,"rms_norm_eps":1e-5,)"
                  R"("max_position_embeddings":128,"rope_parameters":{"rope_theta":500000.0,"rope_type":"default"},)"
                  R"("hidden_act":"silu","tie_word_embeddings":true})");
  beop_fuzz::seed(dir, "hf_mistral.json",
                  R"({"model_type":"mistral","hidden_size":64,"num_hidden_layers":1,"num_attention_heads":4,)"
                  R"("intermediate_size":96,"vocab_size":260,"rms_norm_eps":1e-5,"max_position_embeddings":4096,)"
                  R"("sliding_window":4096,"head_dim":16,"rope_scaling":null})");
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(data, data + size);
  } catch (const nlohmann::json::exception&) {
    return 0;
  }
  try {
    std::string arch;
    const int cap = size ? int(data[size - 1]) * 16 : 0;  // exercise --max-seq capping too
    const beop::ModelConfig c = beop::hf_config_from_json(j, "config.json", cap, &arch);
    const nlohmann::json back = nlohmann::json::parse(beop::hf_config_to_json(c).dump());
    const beop::ModelConfig c2 = beop::hf_config_from_json(back, "round trip");
    beop::check_compatible(c, c2, "hf round trip");
  } catch (const beop::Error&) {
  }
  try {
    const beop::ModelConfig c = beop::config_from_json(j, "config.json");
    beop::check_compatible(c, beop::config_from_json(beop::config_to_json(c), "round trip"), "beop round trip");
  } catch (const beop::Error&) {
  }
  return 0;
}
