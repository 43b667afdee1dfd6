// THE model definition: the forward and backward pass of the Llama-family transformer, written once over
// an `Ops` backend (cpu/ops.h for the CPU reference; cuda/ for the GPU). Every tensor is a named view from
// the parameter layout (src/param_layout.h) or the activation plan (src/activation_layout.h).
//
//   x = embed(tokens)                                                   (B, T, C)
//   for each layer:
//     h   = x + o_proj(attention(rope(qkv_proj(rmsnorm(x)))))           qkv (B, T, (H+2KV)*D)
//     x   = h + down_proj(silu(gate_proj(rmsnorm(h))) * up_proj(...))   gate|up (B, T, 2F)
//   logits = lm_head(rmsnorm(x))                                        (B, T, Vp)
//   loss   = masked mean cross-entropy over the real V columns
//
// The backward pass runs the same list in reverse; `d_resid` carries the residual-stream gradient, into
// which every branch's backward adds (so residual adds need no backward kernel).
#pragma once
#include <cstdint>
#include <vector>

#include "src/activation_layout.h"
#include "src/config.h"
#include "src/param_layout.h"

namespace beop {

// Inference key/value cache: for layer l, k = k + l * layer_stride and v likewise, each (B, Tmax, KV, D).
template <typename T>
struct KVCacheView {
  T* k = nullptr;
  T* v = nullptr;
  int Tmax = 0;
  size_t layer_stride = 0;
};

template <class Ops>
struct Transformer {
  using T = typename Ops::real;

  // tokens, targets (B*Tn) and mask (B*Tn, or nullptr = all ones) are backend pointers. With targets ==
  // nullptr only the logits are computed.
  // Inference: with a KV cache, the Tn tokens sit at positions pos0 .. pos0+Tn-1 after a cached prefix, their
  // k/v are appended to the cache and attention reads the cache; with last_only, logits (B, Vp) are computed
  // for the last position of each row only.
  static void forward(Ops& ops, const ModelConfig& cfg, const Weights<T>& w, Acts<T>& a, const int32_t* tokens,
                      const int32_t* targets, const uint8_t* mask, int B, int Tn,
                      const KVCacheView<T>* cache = nullptr, int pos0 = 0, bool last_only = false) {
    const int N = B * Tn, C = cfg.d_model, H = cfg.n_heads, KV = cfg.n_kv_heads, D = cfg.head_dim;
    if (cache) {
      layers(ops, cfg, w, a, tokens, N, [&](int l, LayerActs<T>& la) {
        T* kc = cache->k + l * cache->layer_stride;
        T* vc = cache->v + l * cache->layer_stride;
        ops.kv_store(kc, vc, la.qkv, B, Tn, H, KV, D, pos0, cache->Tmax);
        ops.attention_cached(la.attn_y, la.qkv, kc, vc, B, Tn, H, KV, D, pos0, cache->Tmax);
      }, B, Tn, pos0);
    } else {
      layers(ops, cfg, w, a, tokens, N, [&](int, LayerActs<T>& la) {
        ops.attention_forward(la.attn_y, la.att, la.qkv, B, Tn, H, KV, D);
      }, B, Tn, 0);
    }
    if (last_only) {  // row b's last position only: xn_final (B, C), logits (B, Vp)
      for (int b = 0; b < B; b++)
        ops.rmsnorm_forward(a.xn_final + int64_t(b) * C, a.rstd_final + b,
                            a.resid_out + (int64_t(b) * Tn + Tn - 1) * C, w.final_norm, 1, C, cfg.rms_eps);
      ops.linear_forward(a.logits, a.xn_final, w.lm_head, B, C, cfg.padded_vocab());
      return;
    }
    ops.rmsnorm_forward(a.xn_final, a.rstd_final, a.resid_out, w.final_norm, N, C, cfg.rms_eps);
    ops.linear_forward(a.logits, a.xn_final, w.lm_head, N, C, cfg.padded_vocab());
    if (targets)
      ops.cross_entropy_forward(a.losses, a.logits, targets, mask, N, cfg.vocab_size, cfg.padded_vocab());
  }

  // Batched decoding (continuous batching, src/batch_generator.h): n sequences, one new token each. Row i's
  // token sits at position pos[i] of cache slot slot[i] (host arrays; slots distinct, each slot a (Tmax, KV, D)
  // block of every layer's (slots, Tmax, KV, D) cache). Every weight matrix is read once for all n rows: the
  // norms, projections and the MLP run on (n, C) activations through the same ops.linear_forward as every other
  // forward (M = n); only RoPE, the cache store and attention run per row, each over its own cache and position,
  // with the same ops a batch-1 decode calls. Logits (n, Vp) in a.logits (a: a kInfer plan of B >= n, T = 1).
  static void decode(Ops& ops, const ModelConfig& cfg, const Weights<T>& w, Acts<T>& a, const int32_t* tokens,
                     int n, const int* slot, const int* pos, const KVCacheView<T>& cache) {
    const int C = cfg.d_model, H = cfg.n_heads, KV = cfg.n_kv_heads, D = cfg.head_dim;
    const int QKV = cfg.qkv_dim(), HD = cfg.q_dim();
    const int64_t slot_stride = int64_t(cache.Tmax) * KV * D;
    layers(ops, cfg, w, a, tokens, n, [&](int l, LayerActs<T>& la) {
      for (int i = 0; i < n; i++) {
        T* qkv = la.qkv + int64_t(i) * QKV;
        T* kc = cache.k + l * cache.layer_stride + slot[i] * slot_stride;
        T* vc = cache.v + l * cache.layer_stride + slot[i] * slot_stride;
        ops.rope_forward(qkv, 1, 1, H, KV, D, pos[i]);
        ops.kv_store(kc, vc, qkv, 1, 1, H, KV, D, pos[i], cache.Tmax);
        ops.attention_cached(la.attn_y + int64_t(i) * HD, qkv, kc, vc, 1, 1, H, KV, D, pos[i], cache.Tmax);
      }
    }, n, 1, -1);
    ops.rmsnorm_forward(a.xn_final, a.rstd_final, a.resid_out, w.final_norm, n, C, cfg.rms_eps);
    ops.linear_forward(a.logits, a.xn_final, w.lm_head, n, C, cfg.padded_vocab());
  }

  // Batched prefill (continuous batching, src/batch_generator.h): n prompts at once, prompt i's len[i] tokens at
  // positions 0 .. len[i]-1 of cache slot slot[i] (host arrays; slots distinct), concatenated in tokens (sum len
  // rows). As in decode, the norms, projections and the MLP run once on all rows (every weight matrix read once for
  // all the prompts); RoPE, the cache store and attention run per prompt over its own slot, with the calls a
  // one-prompt prefill makes. logits (n, Vp) = each prompt's last position. a: a kInfer plan of >= sum len rows.
  static void prefill(Ops& ops, const ModelConfig& cfg, const Weights<T>& w, Acts<T>& a, T* logits,
                      const int32_t* tokens, int n, const int* slot, const int* len, const KVCacheView<T>& cache) {
    const int C = cfg.d_model, H = cfg.n_heads, KV = cfg.n_kv_heads, D = cfg.head_dim;
    const int QKV = cfg.qkv_dim(), HD = cfg.q_dim();
    const int64_t slot_stride = int64_t(cache.Tmax) * KV * D;
    std::vector<int64_t> row0(size_t(n) + 1, 0);  // prompt i's rows: row0[i] .. row0[i+1]-1
    for (int i = 0; i < n; i++) row0[size_t(i) + 1] = row0[size_t(i)] + len[i];
    const int N = int(row0[size_t(n)]);
    layers(ops, cfg, w, a, tokens, N, [&](int l, LayerActs<T>& la) {
      for (int i = 0; i < n; i++) {
        T* qkv = la.qkv + row0[size_t(i)] * QKV;
        T* kc = cache.k + l * cache.layer_stride + slot[i] * slot_stride;
        T* vc = cache.v + l * cache.layer_stride + slot[i] * slot_stride;
        ops.rope_forward(qkv, 1, len[i], H, KV, D, 0);
        ops.kv_store(kc, vc, qkv, 1, len[i], H, KV, D, 0, cache.Tmax);
        ops.attention_cached(la.attn_y + row0[size_t(i)] * HD, qkv, kc, vc, 1, len[i], H, KV, D, 0, cache.Tmax);
      }
    }, 1, N, -1);
    for (int i = 0; i < n; i++)  // xn_final rows 0 .. n-1: the prompts' last positions
      ops.rmsnorm_forward(a.xn_final + int64_t(i) * C, a.rstd_final + i, a.resid_out + (row0[size_t(i) + 1] - 1) * C,
                          w.final_norm, 1, C, cfg.rms_eps);
    ops.linear_forward(logits, a.xn_final, w.lm_head, n, C, cfg.padded_vocab());
  }

  // Adds this micro-batch's gradients into g (call zero_grad before the first micro-batch of a step).
  // inv_count = 1 / (number of unmasked targets in the whole optimizer batch). Overwrites a.logits.
  static void backward(Ops& ops, const ModelConfig& cfg, const Weights<T>& w, const Weights<T>& g, Acts<T>& a,
                       const int32_t* tokens, const int32_t* targets, const uint8_t* mask, int B, int Tn,
                       T inv_count) {
    const int N = B * Tn, C = cfg.d_model, H = cfg.n_heads, KV = cfg.n_kv_heads, D = cfg.head_dim;
    const int F = cfg.ffn_hidden, QKV = cfg.qkv_dim(), HD = cfg.q_dim();
    const int L = cfg.n_layers;
    ops.cross_entropy_backward(a.logits, targets, mask, N, cfg.vocab_size, cfg.padded_vocab(), inv_count);
    ops.linear_backward(a.d_xn, g.lm_head, a.logits, a.xn_final, w.lm_head, N, C, cfg.padded_vocab(), false);
    ops.zero(a.d_resid, int64_t(N) * C);
    ops.rmsnorm_backward(a.d_resid, g.final_norm, a.d_xn, a.resid_out, w.final_norm, a.rstd_final, N, C);
    for (int l = L - 1; l >= 0; l--) {
      const LayerWeights<T>& lw = w.layers[l];
      const LayerWeights<T>& lg = g.layers[l];
      LayerActs<T>& la = a.layers[l];
      // MLP block; d_resid = d(layer output)
      ops.linear_backward(a.d_act, lg.w_down, a.d_resid, la.act, lw.w_down, N, F, C, false);
      ops.swiglu_backward(a.d_gate_up, a.d_act, la.gate_up, N, F);
      ops.linear_backward(a.d_xn, lg.w_gate, a.d_gate_up, la.xn_mlp, lw.w_gate, N, C, 2 * F, false);
      ops.rmsnorm_backward(a.d_resid, lg.mlp_norm, a.d_xn, la.resid_mid, lw.mlp_norm, la.rstd_mlp, N, C);
      // attention block; d_resid = d(resid_mid)
      ops.linear_backward(a.d_attn_y, lg.wo, a.d_resid, la.attn_y, lw.wo, N, HD, C, false);
      ops.attention_backward(a.d_qkv, a.d_att, a.d_attn_y, la.attn_y, la.att, la.qkv, B, Tn, H, KV, D);
      ops.rope_backward(a.d_qkv, B, Tn, H, KV, D, 0);
      if (lg.bq) ops.bias_backward(lg.bq, a.d_qkv, N, QKV);
      ops.linear_backward(a.d_xn, lg.wq, a.d_qkv, la.xn_attn, lw.wq, N, C, QKV, false);
      ops.rmsnorm_backward(a.d_resid, lg.attn_norm, a.d_xn, la.resid_in, lw.attn_norm, la.rstd_attn, N, C);
    }
    ops.embedding_backward(g.tok_emb, a.d_resid, tokens, N, C);
  }

 private:
  // Embedding and the layer stack over N = B*Tn rows. attend(l, la) turns la.qkv into la.attn_y; RoPE is applied
  // before it with positions pos0.. (pos0 < 0: attend applies RoPE itself, per row).
  template <class Attend>
  static void layers(Ops& ops, const ModelConfig& cfg, const Weights<T>& w, Acts<T>& a, const int32_t* tokens, int N,
                     Attend&& attend, int B, int Tn, int pos0) {
    const int C = cfg.d_model, H = cfg.n_heads, KV = cfg.n_kv_heads, D = cfg.head_dim;
    const int F = cfg.ffn_hidden, QKV = cfg.qkv_dim(), HD = cfg.q_dim();
    const int L = cfg.n_layers;
    T* x0 = L > 0 ? a.layers[0].resid_in : a.resid_out;
    ops.embedding_forward(x0, tokens, w.tok_emb, N, C);
    for (int l = 0; l < L; l++) {
      const LayerWeights<T>& lw = w.layers[l];
      LayerActs<T>& la = a.layers[l];
      T* x_next = l + 1 < L ? a.layers[l + 1].resid_in : a.resid_out;
      // attention block
      ops.rmsnorm_forward(la.xn_attn, la.rstd_attn, la.resid_in, lw.attn_norm, N, C, cfg.rms_eps);
      ops.linear_forward(la.qkv, la.xn_attn, lw.wq, N, C, QKV);  // wq|wk|wv is one (QKV, C) matrix
      if (lw.bq) ops.bias_forward(la.qkv, lw.bq, N, QKV);
      if (pos0 >= 0) ops.rope_forward(la.qkv, B, Tn, H, KV, D, pos0);
      attend(l, la);
      ops.linear_forward(la.resid_mid, la.attn_y, lw.wo, N, HD, C);
      ops.residual_forward(la.resid_mid, la.resid_in, la.resid_mid, int64_t(N) * C);
      // MLP block
      ops.rmsnorm_forward(la.xn_mlp, la.rstd_mlp, la.resid_mid, lw.mlp_norm, N, C, cfg.rms_eps);
      ops.linear_forward(la.gate_up, la.xn_mlp, lw.w_gate, N, C, 2 * F);  // w_gate|w_up is one (2F, C) matrix
      ops.swiglu_forward(la.act, la.gate_up, N, F);
      ops.linear_forward(x_next, la.act, lw.w_down, N, F, C);
      ops.residual_forward(x_next, la.resid_mid, x_next, int64_t(N) * C);
    }
  }
};

}  // namespace beop
