// Model loading by --device (cli/model_loader.h).
#include "cli/model_loader.h"

#include "cpu/model_cpu.h"
#include "cuda/backend.h"

namespace beop::cli {

void add_device_flag(Flags& f) {
  f.add("device", "cpu", "cpu | cuda (bf16) | cuda-bf16 | cuda-fp32");
  f.add("dtype", "fp32", "cpu weights: fp32 | bf16 | q8 (int8 blocks of 32, GGUF's Q8_0), converted at load");
}

std::unique_ptr<CausalLM> load_model(const std::string& spec, const std::string& device, Tokenizer* tok,
                                     std::string* dir, const std::string& dtype) {
  if (dtype != "fp32" && dtype != "bf16" && dtype != "q8")
    throw UsageError("--dtype must be fp32, bf16 or q8, got '" + dtype + "'");
  if (device == "cpu") return load_causal_lm(spec, tok, dir, dtype);
  if (dtype != "fp32")
    throw UsageError("--dtype " + dtype + " is for --device cpu (on a GPU use --device cuda-bf16 or cuda-fp32)");
  if (device != "cuda" && device != "cuda-bf16" && device != "cuda-fp32")
    throw UsageError("--device must be cpu, cuda, cuda-bf16 or cuda-fp32, got '" + device + "'");
  return cuda_backend::load_lm(spec, tok, cuda_backend::precision_of(device), dir);
}

}  // namespace beop::cli
