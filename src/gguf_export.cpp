#include "src/gguf_export.h"

#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>

#include "src/common.h"
#include "src/hf_model.h"
#include "src/io.h"
#include "src/param_layout.h"
#include "src/q8_0.h"
#include "src/rope_tables.h"
#include "src/tokenizer.h"

namespace beop {
namespace {

// rows x cols fp32 (row-major) -> the bytes of a ggml tensor {cols, rows} of type t.
std::string encode(const float* x, int64_t rows, int64_t cols, GgmlType t, const std::string& name) {
  const size_t n = size_t(rows * cols);
  std::string o;
  if (t == GgmlType::F32) {
    o.assign(reinterpret_cast<const char*>(x), n * 4);
  } else if (t == GgmlType::BF16) {
    o.resize(n * 2);
    for (size_t i = 0; i < n; i++) {
      const uint16_t b = fp32_to_bf16(x[i]);
      std::memcpy(&o[i * 2], &b, 2);
    }
  } else {
    BEOP_CHECK(cols % kQ8Block == 0, "export-gguf --dtype q8_0: ", name, " has rows of ", cols,
               " values, not a multiple of ", kQ8Block, " (Q8_0 blocks); use --dtype bf16 or f32");
    o.resize(n / kQ8Block * sizeof(BlockQ8_0));
    q8_0_quantize(reinterpret_cast<BlockQ8_0*>(&o[0]), x, n);
  }
  return o;
}

// HF rotate-half rows -> llama.cpp's interleaved pairs, per head (see the header).
std::vector<float> permute_rope_rows(const float* w, int heads, int D, int C) {
  std::vector<float> o(size_t(heads) * D * C);
  for (int h = 0; h < heads; h++)
    for (int i = 0; i < 2; i++)
      for (int j = 0; j < D / 2; j++)
        std::memcpy(&o[(size_t(h) * D + 2 * j + i) * C], w + (size_t(h) * D + i * (D / 2) + j) * C, size_t(C) * 4);
  return o;
}

void add_tokenizer(GgufWriter& g, const ModelConfig& cfg, const std::string& path) {
  const Tokenizer tok = Tokenizer::load(path);  // the checks beop itself relies on
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": not valid JSON (", e.what(), ")");
  }
  if (j.contains("normalizer") && !j["normalizer"].is_null())
    fail(path, ": has a normalizer (the Qwen2 layout); GGUF's 'llama-bpe' pre-tokenizer is Llama 3's, which has none");
  BEOP_CHECK(tok.vocab_size() <= cfg.vocab_size, path, ": ", tok.vocab_size(), " ids but the model's vocab_size is ",
             cfg.vocab_size);
  const int V = cfg.vocab_size;
  std::vector<std::string> tokens(static_cast<size_t>(V));
  std::vector<int32_t> types(size_t(V), 0);
  for (const auto& [text, id] : j["model"]["vocab"].items()) {
    const int64_t i = id.get<int64_t>();
    BEOP_CHECK(i >= 0 && i < V, path, ": token '", text, "' has id ", i, " outside the vocabulary of ", V);
    tokens[size_t(i)] = text, types[size_t(i)] = 1;  // NORMAL
  }
  if (j.contains("added_tokens"))
    for (const auto& a : j["added_tokens"]) {
      const int64_t i = a["id"].get<int64_t>();
      BEOP_CHECK(i >= 0 && i < V, path, ": added token id ", i, " outside the vocabulary of ", V);
      tokens[size_t(i)] = a["content"].get<std::string>();
      types[size_t(i)] = a.value("special", true) ? 3 : 4;  // CONTROL : USER_DEFINED
    }
  for (int i = 0; i < V; i++)
    if (types[size_t(i)] == 0) tokens[size_t(i)] = cat("[PAD", i, "]"), types[size_t(i)] = 5;  // UNUSED (padded rows)
  std::vector<std::string> merges;
  for (const auto& m : j["model"]["merges"])
    merges.push_back(m.is_string() ? m.get<std::string>() : m[0].get<std::string>() + " " + m[1].get<std::string>());
  g.add_string("tokenizer.ggml.model", "gpt2");
  g.add_string("tokenizer.ggml.pre", "llama-bpe");
  g.add_strings("tokenizer.ggml.tokens", tokens);
  g.add_i32s("tokenizer.ggml.token_type", types);
  g.add_strings("tokenizer.ggml.merges", merges);
  if (tok.bos_id() >= 0) g.add_u32("tokenizer.ggml.bos_token_id", uint32_t(tok.bos_id()));
  if (tok.eos_id() >= 0) {
    g.add_u32("tokenizer.ggml.eos_token_id", uint32_t(tok.eos_id()));
    g.add_u32("tokenizer.ggml.padding_token_id", uint32_t(tok.eos_id()));
  }
  if (tok.eot_id() >= 0) g.add_u32("tokenizer.ggml.eot_token_id", uint32_t(tok.eot_id()));
  g.add_bool("tokenizer.ggml.add_bos_token", false);
  g.add_bool("tokenizer.ggml.add_eos_token", false);
  if (tok.bos_id() >= 0 && tok.start_header_id() >= 0 && tok.end_header_id() >= 0 && tok.eot_id() >= 0)
    g.add_string("tokenizer.chat_template", hf_chat_template_jinja());
}

}  // namespace

void export_gguf(const ModelConfig& cfg, const float* params, const std::string& tokenizer_path,
                 const std::string& out_path, GgmlType dtype) {
  BEOP_CHECK(dtype == GgmlType::F32 || dtype == GgmlType::BF16 || dtype == GgmlType::Q8_0,
             "export-gguf: dtype must be f32, bf16 or q8_0");
  if (cfg.attn_bias)
    fail("export-gguf: the model has q/k/v biases (Qwen2); llama.cpp's 'llama' architecture has none, so it cannot "
         "be represented");
  BEOP_CHECK(cfg.rope_scaling == "none" || cfg.rope_scaling == "llama3", "export-gguf: rope scaling '",
             cfg.rope_scaling, "' has no GGUF 'llama' form");
  const int C = cfg.d_model, V = cfg.vocab_size, H = cfg.n_heads, KV = cfg.n_kv_heads, D = cfg.head_dim,
            F = cfg.ffn_hidden;
  GgufWriter g;
  g.add_string("general.architecture", "llama");
  g.add_string("general.name", cfg.name);
  g.add_u32("general.file_type", dtype == GgmlType::F32 ? 0 : dtype == GgmlType::BF16 ? 32 : 7);
  if (dtype == GgmlType::Q8_0) g.add_u32("general.quantization_version", 2);
  g.add_u32("llama.vocab_size", uint32_t(V));
  g.add_u32("llama.context_length", uint32_t(cfg.max_seq_len));
  g.add_u32("llama.embedding_length", uint32_t(C));
  g.add_u32("llama.block_count", uint32_t(cfg.n_layers));
  g.add_u32("llama.feed_forward_length", uint32_t(F));
  g.add_u32("llama.attention.head_count", uint32_t(H));
  g.add_u32("llama.attention.head_count_kv", uint32_t(KV));
  g.add_u32("llama.attention.key_length", uint32_t(D));
  g.add_u32("llama.attention.value_length", uint32_t(D));
  g.add_u32("llama.rope.dimension_count", uint32_t(D));
  g.add_f32("llama.rope.freq_base", cfg.rope_theta);
  g.add_f32("llama.attention.layer_norm_rms_epsilon", cfg.rms_eps);
  add_tokenizer(g, cfg, tokenizer_path);

  const ParamLayout lay(cfg);
  const Weights<const float> w = bind_weights(lay, params);
  auto mat = [&](const std::string& name, const float* x, int64_t rows, int64_t cols) {
    g.add_tensor(name, {cols, rows}, dtype, encode(x, rows, cols, dtype, name));
  };
  auto vec = [&](const std::string& name, const float* x, int64_t n) {
    g.add_tensor(name, {n}, GgmlType::F32, encode(x, 1, n, GgmlType::F32, name));
  };
  mat("token_embd.weight", w.tok_emb, V, C);
  if (cfg.rope_scaling == "llama3") {  // divisors of the default frequencies, as convert_hf_to_gguf.py writes them
    const std::vector<double> scaled = rope_inv_freq(cfg);
    std::vector<float> f(scaled.size());
    for (size_t i = 0; i < f.size(); i++)
      f[i] = float(std::pow(double(cfg.rope_theta), -2.0 * double(i) / D) / scaled[i]);
    vec("rope_freqs.weight", f.data(), int64_t(f.size()));
  }
  for (int l = 0; l < cfg.n_layers; l++) {
    const LayerWeights<const float>& lw = w.layers[size_t(l)];
    const std::string p = cat("blk.", l, ".");
    vec(p + "attn_norm.weight", lw.attn_norm, C);
    mat(p + "attn_q.weight", permute_rope_rows(lw.wq, H, D, C).data(), int64_t(H) * D, C);
    mat(p + "attn_k.weight", permute_rope_rows(lw.wk, KV, D, C).data(), int64_t(KV) * D, C);
    mat(p + "attn_v.weight", lw.wv, int64_t(KV) * D, C);
    mat(p + "attn_output.weight", lw.wo, C, int64_t(H) * D);
    vec(p + "ffn_norm.weight", lw.mlp_norm, C);
    mat(p + "ffn_gate.weight", lw.w_gate, F, C);
    mat(p + "ffn_up.weight", lw.w_up, F, C);
    mat(p + "ffn_down.weight", lw.w_down, C, F);
  }
  vec("output_norm.weight", w.final_norm, C);
  if (!cfg.tied_embeddings) mat("output.weight", w.lm_head, V, C);  // tied: llama.cpp reads token_embd
  g.write(out_path);
}

}  // namespace beop
