// The CPU model: Model<> driven by the reference kernels. CpuModel trains in float; CpuModelF64 runs the
// identical code in double for gradient checks.
#pragma once
#include "cpu/ops.h"
#include "src/generator.h"
#include "src/model.h"

namespace beop {
using CpuModel = Model<cpu::CpuOps<float>>;
using CpuModelF64 = Model<cpu::CpuOps<double>>;

namespace cpu {
// A CausalLM (src/generator.h) on the CPU from a config and fp32 parameters in ParamLayout order; the twin of
// cuda_backend::make_lm (cuda/backend.h).
std::unique_ptr<CausalLM> make_lm(const ModelConfig& cfg, const std::vector<float>& params);
}  // namespace cpu

// load_weights (src/generator.h: step dir, run dir or hf:DIR), then a CPU model. The twin of
// cuda_backend::load_lm (cuda/backend.h).
std::unique_ptr<CausalLM> load_causal_lm(const std::string& spec, Tokenizer* tok, std::string* dir_out = nullptr);
}  // namespace beop
