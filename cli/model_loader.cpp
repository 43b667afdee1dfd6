// Model loading by --device (cli/model_loader.h).
#include "cli/model_loader.h"

#include "cpu/model_cpu.h"
#include "cuda/backend.h"

namespace beop::cli {

void add_device_flag(Flags& f) { f.add("device", "cpu", "cpu | cuda (bf16) | cuda-bf16 | cuda-fp32"); }

std::unique_ptr<CausalLM> load_model(const std::string& spec, const std::string& device, Tokenizer* tok,
                                     std::string* dir) {
  if (device == "cpu") return load_causal_lm(spec, tok, dir);
  if (device != "cuda" && device != "cuda-bf16" && device != "cuda-fp32")
    throw UsageError("--device must be cpu, cuda, cuda-bf16 or cuda-fp32, got '" + device + "'");
  return cuda_backend::load_lm(spec, tok, cuda_backend::precision_of(device), dir);
}

}  // namespace beop::cli
