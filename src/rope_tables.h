// Rotary position embedding tables, shared by every backend.
// Convention: Hugging Face Llama "rotate half". For head dimension D, dimension i in [0, D/2) is paired with
// i + D/2 (NOT with i+1 as in the original RoPE paper / Meta's complex-number code), rotated by the angle
// pos * inv_freq[i], inv_freq[i] = theta^(-2i/D). Checkpoints converted to HF layout (Llama 3, Qwen2,
// Mi:dm 2.0) use this pairing, which is why beop uses it too.
#pragma once
#include <vector>

#include "src/config.h"

namespace beop {

std::vector<double> rope_inv_freq(const ModelConfig& cfg);  // (D/2)

// cos/sin tables (max_seq_len, D/2), row p = position p, computed in double then rounded to T.
template <typename T>
void rope_tables(const ModelConfig& cfg, std::vector<T>& cos_t, std::vector<T>& sin_t);

}  // namespace beop
