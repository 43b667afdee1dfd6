// Explicit instantiations, so the heavy templates compile once into the library; and the CPU model loader.
#include "cpu/model_cpu.h"

namespace beop {
template class Model<cpu::CpuOps<float>>;
template class Model<cpu::CpuOps<double>>;

std::unique_ptr<CausalLM> cpu::make_lm(const ModelConfig& cfg, const std::vector<float>& params) {
  auto m = std::make_unique<CpuModel>(cfg);
  m->ops().upload(m->params(), params.data(), params.size());
  return std::make_unique<ModelLM<CpuModel>>(std::move(m));
}

std::unique_ptr<CausalLM> load_causal_lm(const std::string& spec, Tokenizer* tok, std::string* dir_out) {
  LoadedWeights w = load_weights(spec);
  std::unique_ptr<CausalLM> lm = cpu::make_lm(w.config, w.params);
  if (tok) *tok = std::move(w.tok);
  if (dir_out) *dir_out = w.dir;
  return lm;
}
}  // namespace beop
