// Model<Ops>: owns one backend's buffers for the model of src/transformer.h — parameters, gradients and
// AdamW moments (four buffers of ParamLayout::total elements) and the activation plan for the current
// batch shape — and offers the training primitives: forward, backward, clip + AdamW step.
//
// Typical step with gradient accumulation over M micro-batches:
//   model.zero_grad();
//   count = total unmasked targets over the M micro-batches;
//   for each micro-batch: model.forward(x, y, mask, B, T); model.backward(1.0 / count);
//   model.step(adamw, lr);
// Pointers passed to forward are host pointers; the model copies them to the backend.
//
// ZeRO-1 (docs/DISTRIBUTED.md): after set_shard(), the model holds the AdamW moments (and, kMixed, the fp32 master
// weights) of one contiguous shard of the flat parameter buffer only, and step_shard() updates that shard; the
// caller (src/trainer.h) reduce-scatters the gradients before and all-gathers the working weights after.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "src/activation_layout.h"
#include "src/comm.h"
#include "src/common.h"
#include "src/config.h"
#include "src/memory_table.h"
#include "src/optim.h"
#include "src/param_layout.h"
#include "src/rng.h"
#include "src/transformer.h"

namespace beop {

struct LossSum {
  double sum = 0;     // sum of per-token losses over unmasked targets
  int64_t count = 0;  // number of unmasked targets
  double mean() const { return count ? sum / double(count) : NAN; }
};

// Checks a batch before it reaches a kernel: token ids and (unmasked) targets inside [0, V), T within the
// model's context. Throws Error naming the offending value and its position.
void validate_batch(const ModelConfig& cfg, const int32_t* tokens, const int32_t* targets, const uint8_t* mask,
                    int B, int T);

// Mixed precision: an Ops type may declare `using master = float;` next to `using real = ...` (e.g. bf16).
// Model then keeps the parameters the optimizer owns — master weights and AdamW moments — in `master`, and a
// working copy of the weights in `real` that the forward/backward read; gradients and activations are `real`.
// Without `master` (CpuOps, CudaOps<float>) master == real and there is one copy: nothing changes.
template <class Ops, class = void>
struct MasterOf {
  using type = typename Ops::real;
};
template <class Ops>
struct MasterOf<Ops, std::void_t<typename Ops::master>> {
  using type = typename Ops::master;
};

// Ops whose buffers are host memory declare `static constexpr bool kHostMemory = true;` (CpuOps): the trainer then
// hands them to a host transport (MPI) without a copy.
template <class Ops, class = void>
struct HostMemoryOf : std::false_type {};
template <class Ops>
struct HostMemoryOf<Ops, std::void_t<decltype(Ops::kHostMemory)>> : std::integral_constant<bool, Ops::kHostMemory> {};

template <class Ops>
class Model {
 public:
  using T = typename Ops::real;                   // working weights, gradients, activations
  using MT = typename MasterOf<Ops>::type;        // master weights and AdamW moments
  static constexpr bool kMixed = !std::is_same<T, MT>::value;
  static constexpr bool kHostMemory = HostMemoryOf<Ops>::value;

  explicit Model(const ModelConfig& cfg) : cfg_(cfg), layout_(cfg), ops_(cfg) {
    const size_t n = layout_.total;
    shard_ = {0, n};
    params_ = ops_.template alloc<MT>(n);
    grads_ = ops_.template alloc<T>(n);
    m_ = ops_.template alloc<MT>(n);
    v_ = ops_.template alloc<MT>(n);
    if constexpr (kMixed)
      work_ = ops_.template alloc<T>(n);
    else
      work_ = params_;
    w_ = bind_weights(layout_, work_);
    g_ = bind_weights(layout_, grads_);
  }
  ~Model() {
    for (void* p : {(void*)params_, (void*)grads_, (void*)m_, (void*)v_, (void*)acts_buf_, (void*)tokens_,
                    (void*)targets_, (void*)mask_})
      if (p) ops_.release(p);
    if constexpr (kMixed) ops_.release(work_);
    release_infer();
  }
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelConfig& config() const { return cfg_; }
  const ParamLayout& layout() const { return layout_; }
  Ops& ops() { return ops_; }
  // Backend pointers, ParamLayout order. params() is the master copy; with kMixed, calling it marks the
  // working copy stale (the caller may write through the pointer, e.g. load a checkpoint), and the next
  // forward/infer_step re-derives it from the master (round to nearest).
  // (A sharded kMixed master is only this rank's shard: write it through load_params.)
  MT* params() {
    work_stale_ = kMixed && !sharded();
    return params_;
  }
  const MT* master() const { return params_; }  // params() without marking the working copy stale
  // kMixed: re-derives the working copy of shard() from the master (round to nearest), as loading does; after a
  // save, so that a run resumed from it continues exactly (when sharded, the caller all-gathers the working copy).
  void rederive_work() {
    if constexpr (kMixed) {
      if (sharded())
        ops_.convert(work_ + shard_.lo, params_, int64_t(shard_.size()));
      else
        work_stale_ = true;
    }
  }
  T* grads() { return grads_; }
  // The AdamW moments of shard() (all of the parameters unless set_shard); with kMixed, params() is that shard's
  // master too (master_size() elements).
  MT* adam_m() { return m_; }
  MT* adam_v() { return v_; }
  const ShardRange& shard() const { return shard_; }
  bool sharded() const { return shard_.size() != layout_.total; }
  size_t master_size() const { return kMixed ? shard_.size() : layout_.total; }

  // ZeRO-1: from now on this model owns only elements [s.lo, s.hi) of the optimizer state (one of `ranks` shards).
  // Reallocates the moments (and the kMixed master) at shard size, zeroed: call before init_random or loading.
  void set_shard(ShardRange s, int ranks) {
    BEOP_CHECK(s.lo <= s.hi && s.hi <= layout_.total, "set_shard: [", s.lo, ", ", s.hi, ") outside ", layout_.total);
    shard_ = s, shard_ranks_ = ranks;
    const size_t n = std::max<size_t>(s.size(), 1);  // a rank may own nothing (more ranks than elements)
    ops_.release(m_), ops_.release(v_);
    m_ = ops_.template alloc<MT>(n);
    v_ = ops_.template alloc<MT>(n);
    if constexpr (kMixed) {
      ops_.release(params_);
      params_ = ops_.template alloc<MT>(n);
    }
    adam_t_ = 0;
  }

  // Every parameter from a full host copy in ParamLayout order (fp32 master values); with a sharded kMixed master,
  // this rank keeps its shard of the master and rounds the whole working copy from a temporary fp32 buffer.
  void load_params(const MT* host) {
    if constexpr (kMixed) {
      if (sharded()) {
        MT* tmp = ops_.template alloc<MT>(layout_.total);
        ops_.upload(tmp, host, layout_.total);
        ops_.convert(work_, tmp, int64_t(layout_.total));
        ops_.release(tmp);
        ops_.upload(params_, host + shard_.lo, shard_.size());
        work_stale_ = false;
        return;
      }
    }
    ops_.upload(params_, host, layout_.total);
    work_stale_ = kMixed;
  }
  T* work_params() { return work_; }  // what the kernels read; == params() unless kMixed
  // Seed of the stochastic rounding of the working copy (kMixed only; see Ops::adamw_update_mixed).
  void set_rounding_seed(uint64_t s) { sr_seed_ = s; }
  long adam_step() const { return adam_t_; }
  void set_adam_step(long t) { adam_t_ = t; }
  const Weights<T>& weights() const { return w_; }
  const Acts<T>& acts() const { return acts_; }
  const ActivationLayout* plan() const { return plan_.get(); }

  // GPT-2/Llama-style init: 2-D weights ~ N(0, 0.02), the two projections that write into the residual
  // stream (o_proj, down_proj) scaled by 1/sqrt(2L) so the stream's variance does not grow with depth,
  // norm gains 1, padded vocabulary rows 0. Generated on the host from one seed, so every backend and
  // thread count starts from identical weights.
  void init_random(uint64_t seed) {
    const std::vector<MT> host = random_params(seed);
    load_params(host.data());
    ops_.zero(m_, int64_t(shard_.size()));
    ops_.zero(v_, int64_t(shard_.size()));
    adam_t_ = 0;
  }
  std::vector<MT> random_params(uint64_t seed) const {
    std::vector<MT> host(layout_.total, MT(0));
    Rng rng(seed);
    const double resid_scale = 1.0 / std::sqrt(2.0 * cfg_.n_layers);
    for (const TensorInfo& t : layout_.tensors) {
      MT* p = host.data() + t.offset;
      if (t.shape.size() == 1) {  // norm gains start at 1, biases at 0
        const bool bias = t.name.size() > 5 && t.name.compare(t.name.size() - 5, 5, ".bias") == 0;
        for (size_t i = 0; i < t.numel; i++) p[i] = MT(bias ? 0 : 1);
        continue;
      }
      const bool resid = t.name.find("o_proj") != std::string::npos || t.name.find("down_proj") != std::string::npos;
      const double std = 0.02 * (resid ? resid_scale : 1.0);
      size_t rows_used = size_t(t.shape[0]);
      if (t.offset == layout_.tok_emb || t.offset == layout_.lm_head) rows_used = size_t(cfg_.vocab_size);
      const size_t cols = size_t(t.shape[1]);
      for (size_t i = 0; i < rows_used * cols; i++) p[i] = MT(std * rng.normal());
    }
    return host;
  }

  // Sizes the activation plan for (B, T) (kTrain: with backward buffers; kEval: forward only); reallocates
  // only when the shape or mode changes.
  void reserve(int B, int Tn, ActMode mode = ActMode::kTrain) {
    BEOP_CHECK(mode != ActMode::kInfer, "reserve(): use infer_reserve() for generation");
    const AttentionSaves saves = ops_.attention_saves();  // the backend's attention decides its saved state
    if (plan_ && plan_->B == B && plan_->T == Tn && plan_->mode == mode && plan_->saves == saves) return;
    plan_.reset(new ActivationLayout(cfg_, B, Tn, mode, saves, sizeof(T)));
    if (acts_buf_) ops_.release(acts_buf_), ops_.release(tokens_), ops_.release(targets_), ops_.release(mask_);
    acts_buf_ = ops_.template alloc<T>(plan_->total);
    tokens_ = ops_.template alloc<int32_t>(size_t(B) * Tn);
    targets_ = ops_.template alloc<int32_t>(size_t(B) * Tn);
    mask_ = ops_.template alloc<uint8_t>(size_t(B) * Tn);
    acts_ = bind_acts(*plan_, acts_buf_);
  }

  // Generation: a KV cache for B rows of up to Tmax positions (<= max_seq_len) and a forward-only plan.
  void infer_reserve(int B, int Tmax) {
    BEOP_CHECK(Tmax > 0 && Tmax <= cfg_.max_seq_len, "context of ", Tmax, " tokens exceeds the model's max_seq_len ",
               cfg_.max_seq_len);
    if (infer_plan_ && infer_plan_->B == B && infer_plan_->T == Tmax && slots_ == 0) return;
    release_infer();
    infer_plan_.reset(new ActivationLayout(cfg_, B, Tmax, ActMode::kInfer, ops_.attention_saves(), sizeof(T)));
    infer_buf_ = ops_.template alloc<T>(infer_plan_->total);
    infer_acts_ = bind_acts(*infer_plan_, infer_buf_);
    infer_tokens_ = ops_.template alloc<int32_t>(size_t(B) * Tmax);
    cache_.Tmax = Tmax;
    cache_.layer_stride = size_t(B) * Tmax * cfg_.kv_dim();
    cache_.k = ops_.template alloc<T>(cache_.layer_stride * cfg_.n_layers);
    cache_.v = ops_.template alloc<T>(cache_.layer_stride * cfg_.n_layers);
  }
  size_t kv_cache_bytes() const { return infer_plan_ ? 2 * cache_.layer_stride * cfg_.n_layers * sizeof(T) : 0; }

  // Runs tokens (B, Tn) at positions pos0 .. pos0+Tn-1 of every row (host array), appending their keys and
  // values to the cache; the prefix 0 .. pos0-1 must already be in the cache. Returns the logits of each
  // row's last position, (B, Vp) on the backend (use download_logits for the host).
  const T* infer_step(const int32_t* tokens, int B, int Tn, int pos0) {
    BEOP_CHECK(infer_plan_ && B == infer_plan_->B, "infer_step(): call infer_reserve(", B, ", ...) first");
    BEOP_CHECK(pos0 >= 0 && Tn > 0 && pos0 + Tn <= cache_.Tmax, "positions ", pos0, "..", pos0 + Tn - 1,
               " exceed the context of ", cache_.Tmax, " tokens");
    validate_batch(cfg_, tokens, nullptr, nullptr, B, Tn);
    sync_work();
    ops_.upload(infer_tokens_, tokens, size_t(B) * Tn);
    Transformer<Ops>::forward(ops_, cfg_, w_, infer_acts_, infer_tokens_, nullptr, nullptr, B, Tn, &cache_, pos0,
                              /*last_only=*/true);
    return infer_acts_.logits;
  }
  // Continuous batching (src/batch_generator.h): a KV cache of `slots` independent sequences of up to Tmax
  // positions each, a (1, Tmax) plan for prefilling one slot and a (slots, 1) plan for batched decode steps.
  void slots_reserve(int slots, int Tmax) {
    BEOP_CHECK(slots > 0, "slots_reserve(): need at least one slot, got ", slots);
    BEOP_CHECK(Tmax > 0 && Tmax <= cfg_.max_seq_len, "context of ", Tmax, " tokens exceeds the model's max_seq_len ",
               cfg_.max_seq_len);
    if (slots_ == slots && cache_.Tmax == Tmax) return;
    release_infer();
    infer_plan_.reset(new ActivationLayout(cfg_, 1, Tmax, ActMode::kInfer, ops_.attention_saves(), sizeof(T)));
    infer_buf_ = ops_.template alloc<T>(infer_plan_->total);
    infer_acts_ = bind_acts(*infer_plan_, infer_buf_);
    decode_plan_.reset(new ActivationLayout(cfg_, slots, 1, ActMode::kInfer, ops_.attention_saves(), sizeof(T)));
    decode_buf_ = ops_.template alloc<T>(decode_plan_->total);
    decode_acts_ = bind_acts(*decode_plan_, decode_buf_);
    infer_tokens_ = ops_.template alloc<int32_t>(size_t(Tmax) + size_t(slots));
    cache_.Tmax = Tmax;
    cache_.layer_stride = size_t(slots) * Tmax * cfg_.kv_dim();
    cache_.k = ops_.template alloc<T>(cache_.layer_stride * cfg_.n_layers);
    cache_.v = ops_.template alloc<T>(cache_.layer_stride * cfg_.n_layers);
    slots_ = slots;
  }
  int slots() const { return slots_; }
  // Prefill of one slot: like infer_step for one row, into cache slot `slot`. Returns (1, Vp) logits.
  const T* slot_prefill(const int32_t* tokens, int Tn, int pos0, int slot) {
    BEOP_CHECK(slots_ > 0 && slot >= 0 && slot < slots_, "slot_prefill(): slot ", slot, " outside the ", slots_,
               " reserved by slots_reserve()");
    BEOP_CHECK(pos0 >= 0 && Tn > 0 && pos0 + Tn <= cache_.Tmax, "positions ", pos0, "..", pos0 + Tn - 1,
               " exceed the context of ", cache_.Tmax, " tokens");
    validate_batch(cfg_, tokens, nullptr, nullptr, 1, Tn);
    sync_work();
    ops_.upload(infer_tokens_, tokens, size_t(Tn));
    KVCacheView<T> view = cache_;
    const size_t off = size_t(slot) * size_t(cache_.Tmax) * size_t(cfg_.kv_dim());
    view.k += off, view.v += off;
    Transformer<Ops>::forward(ops_, cfg_, w_, infer_acts_, infer_tokens_, nullptr, nullptr, 1, Tn, &view, pos0,
                              /*last_only=*/true);
    return infer_acts_.logits;
  }
  // Prefill of n prompts at once (Transformer::prefill): prompt i is len[i] tokens, concatenated in tokens, into
  // slot slot[i] from position 0; all of them together at most the slots' context (the prefill plan's rows).
  // Returns (n, Vp) logits of their last positions on the backend (the decode plan's logits buffer).
  const T* slot_prefill_batch(const int32_t* tokens, const int* len, const int* slot, int n) {
    BEOP_CHECK(slots_ > 0 && n > 0 && n <= slots_, "slot_prefill_batch(): ", n, " prompts for ", slots_, " slots");
    std::vector<char> used(size_t(slots_), 0);
    int64_t rows = 0;
    for (int i = 0; i < n; i++) {
      BEOP_CHECK(slot[i] >= 0 && slot[i] < slots_ && !used[size_t(slot[i])], "slot_prefill_batch(): slot ", slot[i],
                 " is outside the ", slots_, " reserved or appears twice");
      used[size_t(slot[i])] = 1;
      BEOP_CHECK(len[i] > 0 && len[i] <= cache_.Tmax, "slot_prefill_batch(): a prompt of ", len[i],
                 " tokens for a context of ", cache_.Tmax);
      rows += len[i];
    }
    BEOP_CHECK(rows <= cache_.Tmax, "slot_prefill_batch(): ", rows, " tokens in all exceed the ", cache_.Tmax,
               " rows of the prefill plan");
    validate_batch(cfg_, tokens, nullptr, nullptr, 1, int(rows));
    sync_work();
    ops_.upload(infer_tokens_, tokens, size_t(rows));
    Transformer<Ops>::prefill(ops_, cfg_, w_, infer_acts_, decode_acts_.logits, infer_tokens_, n, slot, len, cache_);
    return decode_acts_.logits;
  }
  // Whether slot_prefill_batch of these n prompts gives each the logits slot_prefill gives it alone, bit for bit:
  // the backend's linear layers must give a row the same sums in a call of the batch's rows as in a call of the
  // prompt's own (and its last position the same in n rows as in 1). src/batch_generator.h batches only then.
  bool prefill_batch_exact(const int* len, int n) const {
    int total = 0;
    for (int i = 0; i < n; i++) total += len[i];
    for (int i = 0; i < n; i++)
      if (!ops_.same_row_results(len[i], total)) return false;
    return ops_.same_row_results(1, n);
  }
  // One decode step of n sequences (Transformer::decode): tokens[i] at position pos[i] of slot slot[i], whose
  // positions 0 .. pos[i]-1 are cached. Returns (n, Vp) logits on the backend.
  const T* slot_decode(const int32_t* tokens, const int* slot, const int* pos, int n) {
    BEOP_CHECK(slots_ > 0 && n > 0 && n <= slots_, "slot_decode(): ", n, " sequences for ", slots_, " slots");
    std::vector<char> used(size_t(slots_), 0);
    for (int i = 0; i < n; i++) {
      BEOP_CHECK(slot[i] >= 0 && slot[i] < slots_ && !used[size_t(slot[i])], "slot_decode(): slot ", slot[i],
                 " is outside the ", slots_, " reserved or appears twice");
      used[size_t(slot[i])] = 1;
      BEOP_CHECK(pos[i] >= 0 && pos[i] < cache_.Tmax, "position ", pos[i], " exceeds the context of ", cache_.Tmax,
                 " tokens");
    }
    validate_batch(cfg_, tokens, nullptr, nullptr, n, 1);
    sync_work();
    ops_.upload(infer_tokens_, tokens, size_t(n));
    Transformer<Ops>::decode(ops_, cfg_, w_, decode_acts_, infer_tokens_, n, slot, pos, cache_);
    return decode_acts_.logits;
  }
  // (B, V) host copy of infer_step's logits, without the padding columns.
  std::vector<float> download_logits(const T* logits, int B) {
    const int V = cfg_.vocab_size, Vp = cfg_.padded_vocab();
    std::vector<T> all(size_t(B) * Vp);
    ops_.download(all.data(), logits, all.size());
    std::vector<float> out(size_t(B) * V);
    for (int b = 0; b < B; b++)
      for (int v = 0; v < V; v++) out[size_t(b) * V + v] = float(all[size_t(b) * Vp + v]);
    return out;
  }

  // tokens, targets (B, T) and mask (B, T) host arrays; targets/mask may be null (logits only / all ones).
  LossSum forward(const int32_t* tokens, const int32_t* targets, const uint8_t* mask, int B, int Tn) {
    validate_batch(cfg_, tokens, targets, mask, B, Tn);
    reserve(B, Tn, plan_ ? plan_->mode : ActMode::kTrain);
    sync_work();
    const size_t N = size_t(B) * Tn;
    ops_.upload(tokens_, tokens, N);
    has_targets_ = targets != nullptr;
    has_mask_ = mask != nullptr;
    if (targets) ops_.upload(targets_, targets, N);
    if (mask) ops_.upload(mask_, mask, N);
    last_B_ = B, last_T_ = Tn;
    Transformer<Ops>::forward(ops_, cfg_, w_, acts_, tokens_, targets ? targets_ : nullptr,
                              mask ? mask_ : nullptr, B, Tn);
    LossSum ls;
    if (targets) {
      ls.sum = ops_.sum(acts_.losses, int64_t(N));
      if (mask)
        for (size_t i = 0; i < N; i++) ls.count += mask[i] != 0;
      else
        ls.count = int64_t(N);
    }
    return ls;
  }

  // Backward of the last forward (which must have had targets). Adds into the gradients.
  void backward(double inv_count) {
    BEOP_CHECK(has_targets_, "backward() needs a forward() with targets");
    BEOP_CHECK(plan_->mode == ActMode::kTrain, "backward() needs an activation plan reserved in ActMode::kTrain");
    Transformer<Ops>::backward(ops_, cfg_, w_, g_, acts_, tokens_, targets_, has_mask_ ? mask_ : nullptr, last_B_,
                               last_T_, T(inv_count));
  }

  void zero_grad() { ops_.zero(grads_, int64_t(layout_.total)); }
  double grad_norm() { return std::sqrt(ops_.sum_squares(grads_, layout_.total)); }

  // Clips the global gradient norm to adamw.grad_clip (torch's clip_grad_norm_: scale = clip/(norm+1e-6)
  // when that is < 1), then one AdamW step at learning rate lr. Returns the pre-clip norm. A non-finite
  // norm throws before any weight changes, so bad gradients never reach the parameters.
  double step(const AdamWConfig& opt, double lr) {
    BEOP_CHECK(!sharded(), "step(): a sharded model steps with step_shard()");
    return step_shard(opt, lr, ops_.sum_squares(grads_, layout_.total));
  }
  // The sum of squares of this rank's shard of the gradients (ZeRO-1: all-reduced over the ranks, then step_shard).
  double shard_grad_sum_squares() { return ops_.sum_squares(grads_ + shard_.lo, shard_.size()); }

  // step() on shard() only, given the squared global gradient norm. Only the shard's gradients are scaled and
  // only the shard's working weights change; the stochastic rounding (kMixed) is keyed by the global index, so
  // an update does not depend on how the buffer is sharded.
  double step_shard(const AdamWConfig& opt, double lr, double grad_sum_squares) {
    const double norm = std::sqrt(grad_sum_squares);
    BEOP_CHECK(std::isfinite(norm), "gradient norm is ", norm, " at optimizer step ", adam_t_ + 1,
               ": weights left unchanged");
    const size_t lo = shard_.lo, hi = shard_.hi;
    if (opt.grad_clip > 0) {
      const double s = opt.grad_clip / (norm + 1e-6);
      if (s < 1.0) ops_.scale(grads_ + lo, hi - lo, s);
    }
    adam_t_++;
    for (const TensorInfo& t : layout_.tensors) {
      const size_t a = std::max(lo, t.offset), b = std::min(hi, t.offset + t.numel);  // the tensor's part of the shard
      if (a >= b) continue;
      const double wd = t.decay ? opt.weight_decay : 0.0;
      MT* m = m_ + (a - lo);
      MT* v = v_ + (a - lo);
      if constexpr (kMixed)  // master, moments and the stochastically rounded working copy in one pass
        ops_.adamw_update_mixed(params_ + (a - lo), work_ + a, grads_ + a, m, v, b - a, lr, opt.beta1, opt.beta2,
                                opt.eps, wd, adam_t_, sr_seed_, a);
      else
        ops_.adamw_update(params_ + a, grads_ + a, m, v, b - a, lr, opt.beta1, opt.beta2, opt.eps, wd, adam_t_);
    }
    // kMixed: every element of the shard's working copy was just rewritten (the rest comes from the all-gather)
    work_stale_ = false;
    return norm;
  }

  // Memory table: parameters, gradients, optimizer moments (rows per tensor) and the activation plan.
  std::string memory_table(bool verbose = false) const {
    const size_t n = layout_.total, ns = shard_.size();
    MemoryTable t("model " + cfg_.name + " on " + Ops::kName +
                  (sharded() ? cat(", per rank: ZeRO-1 over ", shard_ranks_, " ranks") : std::string()));
    const std::string of = sharded() ? cat(" (shard of ", shard_ranks_, ")") : std::string();
    t.add(kMixed ? "parameters (fp32 master)" + of : std::string("parameters"), {int64_t(master_size())},
          master_size() * sizeof(MT));
    if (kMixed) t.add("working copy of the parameters", {int64_t(n)}, n * sizeof(T));
    t.add("gradients", {int64_t(n)}, n * sizeof(T));
    t.add("adamw m, v" + of, {2, int64_t(ns)}, 2 * ns * sizeof(MT));
    if (plan_) t.add(cat("activations B=", plan_->B, " T=", plan_->T), {int64_t(plan_->total)}, plan_->total * sizeof(T));
    if (infer_plan_) {
      t.add(cat("inference activations B=", infer_plan_->B), {int64_t(infer_plan_->total)}, infer_plan_->total * sizeof(T));
      t.add(cat("kv cache B=", infer_plan_->B, " T=", cache_.Tmax), {2, int64_t(cfg_.n_layers), int64_t(cache_.layer_stride)},
            kv_cache_bytes());
    }
    std::string out = format_param_table(layout_, sizeof(T));
    if (plan_) out += plan_->table.str(verbose);
    out += t.str(true);
    if (sharded())  // what one unsharded rank would hold on top
      out += cat("ZeRO-1 saves ", human_bytes(double((n - ns) * sizeof(MT) * (kMixed ? 3 : 2))),
                 " per rank (AdamW moments", kMixed ? " and fp32 master" : "", " of the other ranks' shards)\n");
    return out;
  }

 private:
  void sync_work() {
    if constexpr (kMixed) {
      if (work_stale_) ops_.convert(work_, params_, int64_t(layout_.total));
      work_stale_ = false;
    }
  }
  void release_infer() {
    for (void* p : {(void*)infer_buf_, (void*)infer_tokens_, (void*)cache_.k, (void*)cache_.v, (void*)decode_buf_})
      if (p) ops_.release(p);
    infer_buf_ = nullptr, infer_tokens_ = nullptr, cache_ = KVCacheView<T>{}, decode_buf_ = nullptr;
    infer_plan_.reset(), decode_plan_.reset();
    slots_ = 0;
  }

  ModelConfig cfg_;
  ParamLayout layout_;
  Ops ops_;
  MT *params_ = nullptr, *m_ = nullptr, *v_ = nullptr;
  T *work_ = nullptr, *grads_ = nullptr, *acts_buf_ = nullptr;
  bool work_stale_ = false;
  uint64_t sr_seed_ = 0;
  int32_t *tokens_ = nullptr, *targets_ = nullptr;
  uint8_t* mask_ = nullptr;
  Weights<T> w_, g_;
  Acts<T> acts_;
  std::unique_ptr<ActivationLayout> plan_;
  bool has_targets_ = false, has_mask_ = false;
  // generation
  std::unique_ptr<ActivationLayout> infer_plan_;
  T* infer_buf_ = nullptr;
  int32_t* infer_tokens_ = nullptr;
  Acts<T> infer_acts_;
  KVCacheView<T> cache_;
  std::unique_ptr<ActivationLayout> decode_plan_;  // continuous batching: (slots, 1)
  T* decode_buf_ = nullptr;
  Acts<T> decode_acts_;
  int slots_ = 0;
  int last_B_ = 0, last_T_ = 0;
  long adam_t_ = 0;
  ShardRange shard_;  // the optimizer state this model holds (ZeRO-1), [0, total) unless set_shard
  int shard_ranks_ = 1;
};

}  // namespace beop
