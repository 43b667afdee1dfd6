// --model + --device -> a CausalLM on the chosen backend: the ONE place the programs load a model for inference
// (infer generate/chat/serve/score and infer eval).
//   cpu                    cpu/model_cpu.h load_causal_lm (--dtype fp32 | bf16 | q8)
//   cuda, cuda-bf16        cuda/backend.h load_lm, bf16 (the speed path)
//   cuda-fp32              cuda/backend.h load_lm, fp32
// Where this build has no CUDA backend, or the machine no device, a cuda* device is an Error saying which.
#pragma once
#include <memory>
#include <string>

#include "src/flags.h"
#include "src/generator.h"
#include "src/tokenizer.h"

namespace beop::cli {

// Adds --device (default cpu) and --dtype (default fp32: the CPU's weight format, cpu/matmul_lowp.h) to a command's
// flags.
void add_device_flag(Flags& f);

// spec: a checkpoint spec (src/checkpoint_spec.h). `dir` (optional) receives the resolved directory. Throws
// UsageError on an unknown device or dtype, or a dtype other than fp32 on a cuda device.
std::unique_ptr<CausalLM> load_model(const std::string& spec, const std::string& device, Tokenizer* tok,
                                     std::string* dir = nullptr, const std::string& dtype = "fp32");

}  // namespace beop::cli
