// The activation plan: every buffer the forward pass saves for the backward pass, and the scratch the
// backward pass needs, for a batch of B sequences of T tokens. Like the parameters, all activations are one
// allocation; this layout names each tensor and binds typed views. Both backends allocate exactly this plan
// (the memory table printed at start comes from it).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "src/config.h"
#include "src/memory_table.h"

namespace beop {

struct LayerActOffsets {
  size_t resid_in, xn_attn, rstd_attn, qkv, att, attn_y, resid_mid, xn_mlp, rstd_mlp, gate_up, act;
};

// kTrain: every layer's activations saved for the backward pass, plus backward scratch.
// kEval:  forward only (validation loss, scoring): one set of layer buffers that every layer reuses in turn.
// kInfer: like kEval for generation with a KV cache: no attention-probability buffer, and logits only for
//         the last position of each row (B, Vp).
enum class ActMode { kTrain, kEval, kInfer };

// What a backend's attention forward saves for its backward pass (Ops::attention_saves()):
// kProbabilities: the softmax P (B, H, T, T), and the backward needs a (B, H, T, T) dP/dS scratch — the CPU
//                 reference and the cuBLAS-GEMM CUDA attention (cpu/attention.h, cuda/kernels/attention.cuh).
// kLogsumexp:     one fp32 logsumexp per (b, h, t) (B, H, T), and a (B, H, T) fp32 scratch for the backward's
//                 row dots — the flash kernels (cuda/kernels/attention_flash*.cuh, cpu/attention_flash.h), which
//                 rebuild P on the fly. (In a double plan, the CPU's gradient checks, both are double.)
enum class AttentionSaves { kProbabilities, kLogsumexp };

struct ActivationLayout {
  int B = 0, T = 0;
  ActMode mode = ActMode::kTrain;
  AttentionSaves saves = AttentionSaves::kProbabilities;
  size_t elem_bytes = sizeof(float);  // bytes of one element of the backend's activation type
  size_t total = 0;  // elements; every tensor starts on a 16-byte boundary
  std::vector<LayerActOffsets> layers;
  size_t resid_out, xn_final, rstd_final, logits, losses;       // forward
  size_t d_resid, d_xn, d_qkv, d_att, d_attn_y, d_gate_up, d_act;  // backward scratch
  MemoryTable table{"activations"};

  ActivationLayout(const ModelConfig& cfg, int B, int T, ActMode mode = ActMode::kTrain,
                   AttentionSaves saves = AttentionSaves::kProbabilities, size_t elem_bytes = sizeof(float));
};

template <typename T>
struct LayerActs {
  T* resid_in;   // (B, T, C)      residual stream entering the layer
  T* xn_attn;    // (B, T, C)      RMSNorm(resid_in) * attn_norm
  T* rstd_attn;  // (B, T)         1 / sqrt(mean(x^2) + eps), saved for the backward pass
  T* qkv;        // (B, T, (H+2KV)*D)  q | k | v per token; q and k after RoPE
  T* att;        // (B, H, T, T)   softmax probabilities (row t, column s <= t; the rest 0); or, with
                 //                AttentionSaves::kLogsumexp, (B, H, T) fp32 (double in a double plan)
                 //                logsumexps; null in kInfer
  T* attn_y;     // (B, T, H*D)    attention output before o_proj
  T* resid_mid;  // (B, T, C)      resid_in + o_proj(attn_y)
  T* xn_mlp;     // (B, T, C)      RMSNorm(resid_mid) * mlp_norm
  T* rstd_mlp;   // (B, T)
  T* gate_up;    // (B, T, 2F)     gate | up pre-activation
  T* act;        // (B, T, F)      silu(gate) * up
};

template <typename T>
struct Acts {
  std::vector<LayerActs<T>> layers;
  T* resid_out;   // (B, T, C)   after the last layer
  T* xn_final;    // (B, T, C)
  T* rstd_final;  // (B, T)
  T* logits;      // (B, T, Vp)  overwritten by d logits in the backward pass; (B, Vp) in kInfer
  T* losses;      // (B, T)      per-token loss (0 where masked)
  // backward scratch
  T* d_resid;     // (B, T, C)   gradient flowing along the residual stream
  T* d_xn;        // (B, T, C)
  T* d_qkv;       // (B, T, (H+2KV)*D)
  T* d_att;       // (B, H, T, T), or (B, H, T) fp32 with AttentionSaves::kLogsumexp
  T* d_attn_y;    // (B, T, H*D)
  T* d_gate_up;   // (B, T, 2F)
  T* d_act;       // (B, T, F)
};

template <typename T>
Acts<T> bind_acts(const ActivationLayout& lay, T* base) {
  Acts<T> a;
  for (const LayerActOffsets& o : lay.layers)
    a.layers.push_back({base + o.resid_in, base + o.xn_attn, base + o.rstd_attn, base + o.qkv,
                        o.att == size_t(-1) ? nullptr : base + o.att,
                        base + o.attn_y, base + o.resid_mid, base + o.xn_mlp, base + o.rstd_mlp,
                        base + o.gate_up, base + o.act});
  a.resid_out = base + lay.resid_out;
  a.xn_final = base + lay.xn_final;
  a.rstd_final = base + lay.rstd_final;
  a.logits = base + lay.logits;
  a.losses = base + lay.losses;
  const bool bw = lay.d_resid != size_t(-1);
  auto opt = [&](size_t off) { return bw ? base + off : nullptr; };
  a.d_resid = opt(lay.d_resid);
  a.d_xn = opt(lay.d_xn);
  a.d_qkv = opt(lay.d_qkv);
  a.d_att = opt(lay.d_att);
  a.d_attn_y = opt(lay.d_attn_y);
  a.d_gate_up = opt(lay.d_gate_up);
  a.d_act = opt(lay.d_act);
  return a;
}

}  // namespace beop
