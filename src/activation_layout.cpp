#include "src/activation_layout.h"

#include <algorithm>

#include "src/common.h"

namespace beop {

ActivationLayout::ActivationLayout(const ModelConfig& cfg, int B_, int T_, ActMode mode_, AttentionSaves saves_,
                                   size_t elem_bytes_)
    : B(B_), T(T_), mode(mode_), saves(saves_), elem_bytes(elem_bytes_) {
  cfg.validate();
  BEOP_CHECK(B > 0, "batch size must be positive, got ", B);
  BEOP_CHECK(T > 0 && T <= cfg.max_seq_len, "sequence length ", T, " is outside 1..", cfg.max_seq_len,
             " (the model's max_seq_len)");
  BEOP_CHECK(elem_bytes == 2 || elem_bytes == 4 || elem_bytes == 8, "activation element of ", elem_bytes,
             " bytes: expected 2, 4 or 8");
  const int64_t C = cfg.d_model, F = cfg.ffn_hidden;
  // Offsets are rounded up to 16 bytes so that any tensor may be read as float/float4 whatever the element
  // type (the fp32 logsumexps inside a bf16 plan). item_bytes: the tensor's own element size.
  const size_t align = 16 / std::min<size_t>(elem_bytes, 16);
  auto add = [&](const std::string& name, std::vector<int64_t> shape, size_t item_bytes = 0) {
    if (item_bytes == 0) item_bytes = elem_bytes;
    size_t n = 1;
    for (int64_t d : shape) n *= size_t(d);
    const size_t bytes = n * item_bytes;
    total = (total + align - 1) / align * align;
    size_t off = total;
    total += (bytes + elem_bytes - 1) / elem_bytes;
    table.add(name, shape, bytes);
    return off;
  };
  const bool lse = saves == AttentionSaves::kLogsumexp;
  // The logsumexps and row dots are fp32 (bf16/fp32 plans), or double in a double plan (the CPU's gradient checks)
  const size_t lse_bytes = std::max(sizeof(float), elem_bytes);
  const std::string lse_type = lse_bytes == sizeof(float) ? " (fp32)" : "";
  const int64_t H = cfg.n_heads;
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
    o.att = mode == ActMode::kInfer ? size_t(-1)
            : lse                   ? add(p + "att_lse" + lse_type, {B, H, T}, lse_bytes)
                                    : add(p + "att", {B, H, T, T});
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
    d_att = lse ? add("d_att_rowdot" + lse_type, {B, H, T}, lse_bytes) : add("d_att", {B, H, T, T});
    d_attn_y = add("d_attn_y", {B, T, cfg.q_dim()});
    d_gate_up = add("d_gate_up", {B, T, 2 * F});
    d_act = add("d_act", {B, T, F});
  } else {
    d_resid = d_xn = d_qkv = d_att = d_attn_y = d_gate_up = d_act = size_t(-1);
  }
}

}  // namespace beop
