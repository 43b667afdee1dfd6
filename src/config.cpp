#include "src/config.h"

#include "src/common.h"

namespace beop {

void ModelConfig::validate() const {
  auto positive = [&](const char* what, long v) {
    BEOP_CHECK(v > 0, "model config '", name, "': ", what, " must be positive, got ", v);
  };
  positive("vocab_size", vocab_size);
  positive("d_model", d_model);
  positive("n_layers", n_layers);
  positive("n_heads", n_heads);
  positive("n_kv_heads", n_kv_heads);
  positive("head_dim", head_dim);
  positive("ffn_hidden", ffn_hidden);
  positive("max_seq_len", max_seq_len);
  // max_seq_len is the one field no tensor's size checks, and the RoPE tables (and a generator's KV cache) are
  // allocated for all of it when a model loads: a corrupt or hostile config must not make a loader allocate
  // gigabytes. 2^20 positions is above every released Llama/Qwen2 context (Qwen2.5-1M: 1,010,000).
  BEOP_CHECK(max_seq_len <= kMaxSeqLenLimit, "model config '", name, "': max_seq_len ", max_seq_len,
             " exceeds beop's limit of ", kMaxSeqLenLimit, " positions");
  // Every size derived from the fields must fit the types that hold it (padded vocab and H*D in int, the parameter
  // count in int64): a corrupt or hostile config is then this one-line error, not an overflow, billions of tensors
  // or a bad_alloc in a loader. Computed in 128 bits from the raw fields, before any derived getter runs.
  {
    using u128 = unsigned __int128;
    const u128 Vp = (u128(vocab_size) + 127) / 128 * 128, C = u128(d_model), F = u128(ffn_hidden);
    const u128 q = u128(n_heads) * u128(head_dim), kv = u128(n_kv_heads) * u128(head_dim);
    BEOP_CHECK(Vp <= INT32_MAX && q + 2 * kv <= INT32_MAX, "model config '", name,
               "': vocab_size or n_heads/n_kv_heads x head_dim is too large for 32-bit dimensions");
    const u128 per_layer = C + C * q + 2 * C * kv + q * C + (attn_bias ? q + 2 * kv : 0) + C + 3 * C * F;
    const u128 total = Vp * C + u128(n_layers) * per_layer + C + (tied_embeddings ? 0 : Vp * C);
    BEOP_CHECK(total <= kMaxParamsLimit, "model config '", name, "': its dimensions imply more than 2^40 parameters");
  }
  BEOP_CHECK(n_heads % n_kv_heads == 0, "model config '", name, "': n_heads ", n_heads,
             " is not divisible by n_kv_heads ", n_kv_heads);
  BEOP_CHECK(head_dim % 2 == 0, "model config '", name, "': head_dim ", head_dim,
             " is odd (RoPE rotates pairs of dimensions)");
  BEOP_CHECK(rope_theta > 0, "model config '", name, "': rope_theta must be positive, got ", rope_theta);
  BEOP_CHECK(rms_eps > 0, "model config '", name, "': rms_eps must be positive, got ", rms_eps);
  BEOP_CHECK(rope_scaling == "none" || rope_scaling == "llama3", "model config '", name,
             "': unsupported rope scaling '", rope_scaling, "' (supported: none, llama3)");
  if (rope_scaling == "llama3")
    BEOP_CHECK(rope_factor > 0 && rope_high_freq_factor > rope_low_freq_factor && rope_original_max_pos > 0,
               "model config '", name, "': llama3 rope scaling needs factor > 0, high_freq_factor > ",
               "low_freq_factor and original_max_position_embeddings > 0");
}

int64_t ModelConfig::num_params() const {
  const int64_t C = d_model, Vp = padded_vocab(), F = ffn_hidden;
  const int64_t per_layer = C                        // input_layernorm
                            + C * q_dim()            // q_proj
                            + 2 * C * kv_dim()       // k_proj, v_proj
                            + q_dim() * C            // o_proj
                            + (attn_bias ? qkv_dim() : 0)  // q/k/v biases
                            + C                      // post_attention_layernorm
                            + 3 * C * F;             // gate, up, down
  return Vp * C + n_layers * per_layer + C + (tied_embeddings ? 0 : Vp * C);
}

std::string ModelConfig::summary() const {
  return cat(name, ": V=", vocab_size, " (padded ", padded_vocab(), ") C=", d_model, " L=", n_layers,
             " H=", n_heads, " KV=", n_kv_heads, " D=", head_dim, " F=", ffn_hidden, " T=", max_seq_len,
             tied_embeddings ? " tied" : " untied", " params=", num_params());
}

namespace {
ModelConfig make(const char* name, int V, int C, int L, int H, int KV, int D, int F, int T, float theta,
                 bool tied) {
  ModelConfig c;
  c.name = name;
  c.vocab_size = V;
  c.d_model = C;
  c.n_layers = L;
  c.n_heads = H;
  c.n_kv_heads = KV;
  c.head_dim = D;
  c.ffn_hidden = F;
  c.max_seq_len = T;
  c.rope_theta = theta;
  c.tied_embeddings = tied;
  return c;
}
}  // namespace

ModelConfig preset(const std::string& name) {
  //                 name    V       C     L   H   KV  D    F     T     theta     tied
  if (name == "tiny") return make("tiny", 2048, 128, 4, 4, 2, 32, 384, 256, 10000.f, false);  // 1.3M, tests
  if (name == "small") return make("small", 8192, 256, 6, 8, 4, 32, 704, 256, 10000.f, false);  // 8.7M, CPU
  if (name == "125m") return make("125m", 32768, 768, 12, 12, 4, 64, 2048, 1024, 500000.f, false);  // GPU
  // Llama-3.2-1B shape (vocab 128256 is already a multiple of 128).
  if (name == "1b") return make("1b", 128256, 2048, 16, 32, 8, 64, 8192, 2048, 500000.f, true);
  std::string known;
  for (auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
  fail("unknown model preset '", name, "' (known: ", known, ")");
}

std::vector<std::string> preset_names() { return {"tiny", "small", "125m", "1b"}; }

}  // namespace beop
