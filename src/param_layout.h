// Where every parameter lives. All parameters are one allocation (so the optimizer, gradient norm and
// checkpoint code see one flat array); this layout names each tensor (Hugging Face names, so real
// checkpoints map 1:1), gives its shape and offset, and binds typed views onto any buffer of the same
// layout (parameters, gradients, Adam moments).
//
// q_proj/k_proj/v_proj are laid out back to back, so together they are one ((H+2KV)*D, C) row-major matrix
// and the attention input projection is a single GEMM; gate_proj/up_proj likewise form one (2F, C) matrix.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "src/config.h"

namespace beop {

struct TensorInfo {
  std::string name;            // e.g. "model.layers.3.self_attn.q_proj.weight"
  std::vector<int64_t> shape;  // row-major; embedding/lm_head use the padded vocabulary Vp
  size_t offset = 0;           // in elements from the start of the parameter buffer
  size_t numel = 0;
  bool decay = false;          // AdamW weight decay applies (2-D weights only, not norm gains)
};

struct LayerOffsets {
  size_t attn_norm, wq, wk, wv, bq = size_t(-1), wo, mlp_norm, w_gate, w_up, w_down;  // bq: -1 = no biases
};

struct ParamLayout {
  std::vector<TensorInfo> tensors;  // in memory order
  size_t total = 0;                 // elements
  size_t tok_emb = 0, final_norm = 0, lm_head = 0;  // lm_head == tok_emb when tied
  std::vector<LayerOffsets> layers;

  explicit ParamLayout(const ModelConfig& cfg);
  const TensorInfo* find(const std::string& name) const;  // nullptr if absent
};

// Typed views of one buffer laid out by ParamLayout. T is float/double on the CPU, a device type on CUDA.
template <typename T>
struct LayerWeights {
  T* attn_norm;  // (C)
  T* wq;         // (H*D, C)   wq, wk, wv contiguous: one ((H+2KV)*D, C) matrix
  T* wk;         // (KV*D, C)
  T* wv;         // (KV*D, C)
  T* bq;         // ((H+2KV)*D) q|k|v biases (Qwen2), nullptr when the model has none
  T* wo;         // (C, H*D)
  T* mlp_norm;   // (C)
  T* w_gate;     // (F, C)     w_gate, w_up contiguous: one (2F, C) matrix
  T* w_up;       // (F, C)
  T* w_down;     // (C, F)
};

template <typename T>
struct Weights {
  T* tok_emb;     // (Vp, C)
  std::vector<LayerWeights<T>> layers;
  T* final_norm;  // (C)
  T* lm_head;     // (Vp, C); aliases tok_emb when tied
};

template <typename T>
Weights<T> bind_weights(const ParamLayout& lay, T* base) {
  Weights<T> w;
  w.tok_emb = base + lay.tok_emb;
  w.final_norm = base + lay.final_norm;
  w.lm_head = base + lay.lm_head;
  for (const LayerOffsets& o : lay.layers)
    w.layers.push_back({base + o.attn_norm, base + o.wq, base + o.wk, base + o.wv,
                        o.bq == size_t(-1) ? nullptr : base + o.bq, base + o.wo,
                        base + o.mlp_norm, base + o.w_gate, base + o.w_up, base + o.w_down});
  return w;
}

// One table row per tensor (name, shape, bytes) and totals, for the memory table printed at start.
std::string format_param_table(const ParamLayout& lay, size_t bytes_per_elem);

}  // namespace beop
