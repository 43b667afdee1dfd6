// The model definition's hyper-parameters: one struct shared by every backend, plus named presets.
// Architecture: Llama family (the architecture of Mi:dm 2.0, Llama 3, Qwen2 without biases):
//   token embedding -> L x [RMSNorm -> GQA attention with RoPE -> residual, RMSNorm -> SwiGLU MLP -> residual]
//   -> final RMSNorm -> LM head (tied to the embedding or separate).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace beop {

inline constexpr int kMaxSeqLenLimit = 1 << 20;  // the largest max_seq_len a config may claim (config.cpp says why)
inline constexpr int64_t kMaxParamsLimit = int64_t(1) << 40;  // ~1.1e12: above every released model (405B = 4e11)

struct ModelConfig {
  std::string name = "custom";
  int vocab_size = 0;      // V: real vocabulary (the tokenizer's size)
  int d_model = 0;         // C
  int n_layers = 0;        // L
  int n_heads = 0;         // H: query heads
  int n_kv_heads = 0;      // KV: key/value heads (H % KV == 0; H/KV query heads share one KV head)
  int head_dim = 0;        // D: must be even (RoPE rotates pairs)
  int ffn_hidden = 0;      // F: SwiGLU hidden size
  float rope_theta = 10000.0f;
  float rms_eps = 1e-5f;
  bool tied_embeddings = false;  // LM head shares the embedding matrix
  bool attn_bias = false;        // q/k/v projections have biases (Qwen2); Llama has none
  // RoPE frequency scaling. "none", or "llama3": Llama 3.1's rule — wavelengths longer than
  // original_max_pos / low_freq_factor are divided by factor, shorter than original_max_pos / high_freq_factor
  // kept, and those in between interpolated (see rope_inv_freq in src/rope_tables.cpp).
  std::string rope_scaling = "none";
  float rope_factor = 1.0f, rope_low_freq_factor = 1.0f, rope_high_freq_factor = 4.0f;
  int rope_original_max_pos = 8192;
  int max_seq_len = 0;     // T_max

  // Vp: V rounded up to a multiple of 128 so the embedding / LM-head GEMMs have aligned shapes. Rows
  // V..Vp-1 stay zero, and the softmax ignores those logits.
  int padded_vocab() const { return (vocab_size + 127) / 128 * 128; }
  int q_dim() const { return n_heads * head_dim; }      // H*D
  int kv_dim() const { return n_kv_heads * head_dim; }  // KV*D
  int qkv_dim() const { return q_dim() + 2 * kv_dim(); }

  void validate() const;        // throws Error naming the inconsistent value
  int64_t num_params() const;   // parameters counted with the padded vocabulary (what is allocated)
  std::string summary() const;  // one line: name, V, C, L, H, KV, D, F, T, params
};

ModelConfig preset(const std::string& name);  // throws Error listing the known presets
std::vector<std::string> preset_names();

}  // namespace beop
