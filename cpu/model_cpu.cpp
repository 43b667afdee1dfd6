// Explicit instantiations, so the heavy templates compile once into the library; and the CPU model loader.
#include "cpu/model_cpu.h"

#include "src/q8_0.h"

namespace beop {
template class Model<cpu::CpuOps<float>>;
template class Model<cpu::CpuOps<double>>;

void cpu::convert_lowp(CpuModel& m, LowpType t) {
  auto lw = std::make_shared<LowpWeights>();
  lw->type = t;
  const ModelConfig& c = m.config();
  const Weights<float>& w = m.weights();
  auto add = [&](const float* W, int OC, int IC, const std::string& name) {
    lw->by_weight.emplace(W, std::make_unique<LowpMatrix>(t, W, OC, IC, name));
  };
  for (int l = 0; l < c.n_layers; l++) {
    const LayerWeights<float>& lw_ = w.layers[size_t(l)];
    const std::string p = cat("model.layers.", l, ".");
    add(lw_.wq, c.qkv_dim(), c.d_model, p + "self_attn.q_proj|k_proj|v_proj");
    add(lw_.wo, c.d_model, c.q_dim(), p + "self_attn.o_proj");
    add(lw_.w_gate, 2 * c.ffn_hidden, c.d_model, p + "mlp.gate_proj|up_proj");
    add(lw_.w_down, c.d_model, c.ffn_hidden, p + "mlp.down_proj");
  }
  add(w.lm_head, c.padded_vocab(), c.d_model, "lm_head");  // from the fp32 values, before the embedding's round trip
  // The embedding table stays fp32 (one row is read per token: no bandwidth to save) but holds the values of the
  // format, so the model computes with exactly the weights a GGUF export at this dtype holds (src/q8_0.h).
  const size_t n = size_t(c.padded_vocab()) * c.d_model;
  if (t == LowpType::kQ8)
    q8_0_round_trip(w.tok_emb, n);
  else
    bf16_round_trip(w.tok_emb, n);
  lowp_notice(t);
  m.ops().lowp = std::move(lw);
}

std::unique_ptr<CausalLM> cpu::make_lm(const ModelConfig& cfg, const std::vector<float>& params, const std::string& dtype) {
  auto m = std::make_unique<CpuModel>(cfg);
  m->ops().upload(m->params(), params.data(), params.size());
  cpu::LowpType t;
  if (cpu::parse_lowp_dtype(dtype, &t)) convert_lowp(*m, t);
  return std::make_unique<ModelLM<CpuModel>>(std::move(m));
}

std::unique_ptr<CausalLM> load_causal_lm(const std::string& spec, Tokenizer* tok, std::string* dir_out,
                                         const std::string& dtype) {
  cpu::LowpType t;
  cpu::parse_lowp_dtype(dtype, &t);  // a bad --dtype fails before the weights are read
  LoadedWeights w = load_weights(spec);
  std::unique_ptr<CausalLM> lm = cpu::make_lm(w.config, w.params, dtype);
  if (tok) *tok = std::move(w.tok);
  if (dir_out) *dir_out = w.dir;
  return lm;
}
}  // namespace beop
