#include "activation_layout.h"

#include "common.h"

namespace beop {

ActivationLayout::ActivationLayout(const ModelConfig& cfg, int B_, int T_, ActMode mode_) : B(B_), T(T_), mode(mode_) {
  cfg.validate();
  BEOP_CHECK(B > 0, "batch size must be positive, got ", B);
  BEOP_CHECK(T > 0 && T <= cfg.max_seq_len, "sequence length ", T, " is outside 1..", cfg.max_seq_len,
             " (the model's max_seq_len)");
  const int64_t C = cfg.d_model, F = cfg.ffn_hidden;
  auto add = [&](const std::string& name, std::vector<int64_t> shape) {
    size_t n = 1;
    for (int64_t d : shape) n *= size_t(d);
    size_t off = total;
    total += n;
    table.add(name, shape, n * sizeof(float));
    return off;
  };
  const bool train = mode == ActMode::kTrain;
  // Outside training nothing is kept for a backward pass, so all layers share one set of buffers (layer l+1
  // overwrites its input buffer only after layer l no longer needs it).
  for (int l = 0; l < (train ? cfg.n_layers : 1); l++) {
    const std::string p = train ? "layers." + std::to_string(l) + "." : "layer (shared).";
    LayerActOffsets o;
    o.resid_in = add(p + "resid_in", {B, T, C});
    o.xn_attn = add(p + "xn_attn", {B, T, C});
    o.rstd_attn = add(p + "rstd_attn", {B, T});
    o.qkv = add(p + "qkv", {B, T, cfg.qkv_dim()});
    o.att = mode == ActMode::kInfer ? size_t(-1) : add(p + "att", {B, cfg.n_heads, T, T});
    o.attn_y = add(p + "attn_y", {B, T, cfg.q_dim()});
    o.resid_mid = add(p + "resid_mid", {B, T, C});
    o.xn_mlp = add(p + "xn_mlp", {B, T, C});
    o.rstd_mlp = add(p + "rstd_mlp", {B, T});
    o.gate_up = add(p + "gate_up", {B, T, 2 * F});
    o.act = add(p + "act", {B, T, F});
    layers.push_back(o);
  }
  if (!train) layers.resize(cfg.n_layers, layers[0]);
  resid_out = add("resid_out", {B, T, C});
  xn_final = add("xn_final", {B, T, C});
  rstd_final = add("rstd_final", {B, T});
  logits = mode == ActMode::kInfer ? add("logits (last position)", {B, cfg.padded_vocab()})
                                   : add("logits", {B, T, cfg.padded_vocab()});
  losses = add("losses", {B, T});
  if (train) {
    d_resid = add("d_resid", {B, T, C});
    d_xn = add("d_xn", {B, T, C});
    d_qkv = add("d_qkv", {B, T, cfg.qkv_dim()});
    d_att = add("d_att", {B, cfg.n_heads, T, T});
    d_attn_y = add("d_attn_y", {B, T, cfg.q_dim()});
    d_gate_up = add("d_gate_up", {B, T, 2 * F});
    d_act = add("d_act", {B, T, F});
  } else {
    d_resid = d_xn = d_qkv = d_att = d_attn_y = d_gate_up = d_act = size_t(-1);
  }
}

}  // namespace beop
