#include "src/param_layout.h"

#include <cstdio>

#include "src/common.h"
#include "src/memory_table.h"

namespace beop {

ParamLayout::ParamLayout(const ModelConfig& cfg) {
  cfg.validate();
  const int64_t C = cfg.d_model, Vp = cfg.padded_vocab(), F = cfg.ffn_hidden;
  auto add = [&](std::string name, std::vector<int64_t> shape, bool decay) {
    TensorInfo t{std::move(name), std::move(shape), total, 1, decay};
    for (int64_t d : t.shape) t.numel *= size_t(d);
    total += t.numel;
    tensors.push_back(t);
    return t.offset;
  };
  tok_emb = add("model.embed_tokens.weight", {Vp, C}, true);
  for (int l = 0; l < cfg.n_layers; l++) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LayerOffsets o;
    o.attn_norm = add(p + "input_layernorm.weight", {C}, false);
    o.wq = add(p + "self_attn.q_proj.weight", {cfg.q_dim(), C}, true);
    o.wk = add(p + "self_attn.k_proj.weight", {cfg.kv_dim(), C}, true);
    o.wv = add(p + "self_attn.v_proj.weight", {cfg.kv_dim(), C}, true);
    if (cfg.attn_bias) {  // contiguous: one (QKV) bias vector for the fused projection
      o.bq = add(p + "self_attn.q_proj.bias", {cfg.q_dim()}, false);
      add(p + "self_attn.k_proj.bias", {cfg.kv_dim()}, false);
      add(p + "self_attn.v_proj.bias", {cfg.kv_dim()}, false);
    }
    o.wo = add(p + "self_attn.o_proj.weight", {C, cfg.q_dim()}, true);
    o.mlp_norm = add(p + "post_attention_layernorm.weight", {C}, false);
    o.w_gate = add(p + "mlp.gate_proj.weight", {F, C}, true);
    o.w_up = add(p + "mlp.up_proj.weight", {F, C}, true);
    o.w_down = add(p + "mlp.down_proj.weight", {C, F}, true);
    layers.push_back(o);
  }
  final_norm = add("model.norm.weight", {C}, false);
  lm_head = cfg.tied_embeddings ? tok_emb : add("lm_head.weight", {Vp, C}, true);
}

const TensorInfo* ParamLayout::find(const std::string& name) const {
  for (const TensorInfo& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

std::string format_param_table(const ParamLayout& lay, size_t bytes_per_elem) {
  MemoryTable table("parameters");
  for (const TensorInfo& t : lay.tensors) table.add(t.name, t.shape, t.numel * bytes_per_elem);
  return table.str();
}

}  // namespace beop
