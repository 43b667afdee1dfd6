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
// cuda_backend::make_lm (cuda/backend.h). dtype "fp32" (exact), "bf16" or "q8": the linear layers' weights are
// converted at load (convert_lowp).
std::unique_ptr<CausalLM> make_lm(const ModelConfig& cfg, const std::vector<float>& params,
                                  const std::string& dtype = "fp32");
// Inference in bf16 / Q8_0 (cpu/matmul_lowp.h): converts every linear layer's weights (q|k|v, o, gate|up, down,
// lm_head; norms and biases stay fp32) and rounds the embedding table through the format in place. Error naming
// the tensor when q8 meets a dimension that is not a multiple of 32.
void convert_lowp(CpuModel& m, LowpType t);
}  // namespace cpu

// load_weights (src/generator.h: step dir, run dir or hf:DIR), then a CPU model. The twin of
// cuda_backend::load_lm (cuda/backend.h).
std::unique_ptr<CausalLM> load_causal_lm(const std::string& spec, Tokenizer* tok, std::string* dir_out = nullptr,
                                         const std::string& dtype = "fp32");
}  // namespace beop
