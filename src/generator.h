// Text generation over any backend. CausalLM is the small interface the generator, the server and the
// scorer need from a model; ModelLM<M> adapts Model<Ops> to it; each backend
// builds one (cpu/model_cpu.h: make_lm, load_causal_lm; cuda/backend.h: make_lm, load_lm).
//
//   std::unique_ptr<CausalLM> lm = load_causal_lm("runs/it", &tok);     // cpu/model_cpu.h; cuda/backend.h: load_lm
//   Generator gen(*lm, tok);
//   GenerateOptions o; o.sampling.temperature = 0; o.max_new_tokens = 128;
//   GenerateResult r = gen.generate(gen.chat_prompt(conv, system), o, [](const std::string& s) { ...; return true; });
//
// Generation = one prefill of the prompt into the KV cache, then one-token decode steps; the prefix is never
// recomputed. Streamed text is complete UTF-8 only (src/utf8_stream.h) and never contains a stop string or
// the text of a stop string's possible beginning until it is known not to be one.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "src/chat_template.h"
#include "src/config.h"
#include "src/model.h"
#include "src/sampler.h"
#include "src/tokenizer.h"
#include "src/utf8_stream.h"

namespace beop {

class CausalLM {
 public:
  virtual ~CausalLM() = default;
  virtual const ModelConfig& config() const = 0;
  // Prepares a KV cache for `context` positions (<= max_seq_len) of one sequence; existing cache contents stay
  // valid when the context is unchanged.
  virtual void reset(int context) = 0;
  // Feeds toks[0..n) at positions pos0..pos0+n-1 (positions < pos0 must be cached); returns the last
  // position's logits (V,).
  virtual std::vector<float> step(const int32_t* toks, int n, int pos0) = 0;
  // Full forward without cache over toks[0..n) (n <= max_seq_len): logprob[i] = log p(toks[i+1] | toks[0..i]),
  // (n-1,).
  virtual std::vector<double> token_logprobs(const int32_t* toks, int n) = 0;
  // Full forward without cache: the logits of every position, (n, V). For tests (the recompute oracle).
  virtual std::vector<float> full_logits(const int32_t* toks, int n) = 0;

  // Continuous batching (src/batch_generator.h): independent sequences in cache slots 0 .. slots-1.
  // reset_slots prepares `slots` sequences of up to `context` positions and returns how many the model
  // serves at once; prefill_slot is `step` into one slot; decode_slots runs one new token of each of n
  // sequences (token toks[i] at position pos[i] of slot slot[i]) in one pass over the weights and returns
  // their logits, (n, V). The defaults serve one slot through reset/step (a model without a batched path,
  // e.g. a test double).
  virtual int reset_slots(int slots, int context) {
    reset(context);
    return 1;
  }
  virtual std::vector<float> prefill_slot(int slot, const int32_t* toks, int n, int pos0) {
    BEOP_CHECK(slot == 0, "this model serves one sequence at a time (slot ", slot, ")");
    return step(toks, n, pos0);
  }
  virtual std::vector<float> decode_slots(const int32_t* toks, const int* slot, const int* pos, int n) {
    BEOP_CHECK(n == 1 && slot[0] == 0, "this model serves one sequence at a time");
    return step(toks, 1, pos[0]);
  }
  // prefill_slots: prefill_slot of n prompts in one pass over the weights (prompt i: lens[i] tokens, concatenated
  // in toks, into slot slots[i] from position 0); returns their last positions' logits, (n, V). Only where
  // prefill_exact says each prompt gets the logits its prefill_slot would, bit for bit (false by default: the
  // batch generator then prefills one prompt at a time).
  virtual bool prefill_exact(const int* lens, int n) { return false; }
  virtual std::vector<float> prefill_slots(const int32_t* toks, const int* lens, const int* slots, int n) {
    std::vector<float> all;
    for (int i = 0; i < n; toks += lens[i], i++) {
      const std::vector<float> one = prefill_slot(slots[i], toks, lens[i], 0);
      all.insert(all.end(), one.begin(), one.end());
    }
    return all;
  }
};

template <class M>
class ModelLM : public CausalLM {
 public:
  explicit ModelLM(std::unique_ptr<M> m) : m_(std::move(m)) {}
  M& model() { return *m_; }
  const ModelConfig& config() const override { return m_->config(); }
  void reset(int context) override { m_->infer_reserve(1, context); }
  std::vector<float> step(const int32_t* toks, int n, int pos0) override {
    return m_->download_logits(m_->infer_step(toks, 1, n, pos0), 1);
  }
  int reset_slots(int slots, int context) override {
    m_->slots_reserve(slots, context);
    return slots;
  }
  std::vector<float> prefill_slot(int slot, const int32_t* toks, int n, int pos0) override {
    return m_->download_logits(m_->slot_prefill(toks, n, pos0, slot), 1);
  }
  std::vector<float> decode_slots(const int32_t* toks, const int* slot, const int* pos, int n) override {
    return m_->download_logits(m_->slot_decode(toks, slot, pos, n), n);
  }
  bool prefill_exact(const int* lens, int n) override { return m_->prefill_batch_exact(lens, n); }
  std::vector<float> prefill_slots(const int32_t* toks, const int* lens, const int* slots, int n) override {
    return m_->download_logits(m_->slot_prefill_batch(toks, lens, slots, n), n);
  }
  std::vector<double> token_logprobs(const int32_t* toks, int n) override {
    BEOP_CHECK(n >= 2, "token_logprobs needs at least 2 tokens, got ", n);
    std::vector<int32_t> targets(toks + 1, toks + n);
    targets.push_back(0);  // the last position predicts nothing: masked out
    std::vector<uint8_t> mask(size_t(n), 1);
    mask[size_t(n) - 1] = 0;
    m_->reserve(1, n, ActMode::kEval);
    m_->forward(toks, targets.data(), mask.data(), 1, n);
    std::vector<typename M::T> losses(static_cast<size_t>(n));  // per-position cross-entropy = -log p(target)
    m_->ops().download(losses.data(), m_->acts().losses, losses.size());
    std::vector<double> lp(size_t(n) - 1);
    for (int i = 0; i + 1 < n; i++) lp[size_t(i)] = -double(losses[size_t(i)]);
    return lp;
  }
  std::vector<float> full_logits(const int32_t* toks, int n) override {
    m_->reserve(1, n, ActMode::kEval);
    m_->forward(toks, nullptr, nullptr, 1, n);
    const int V = config().vocab_size, Vp = config().padded_vocab();
    std::vector<typename M::T> all(size_t(n) * Vp);
    m_->ops().download(all.data(), m_->acts().logits, all.size());
    std::vector<float> out(size_t(n) * V);
    for (int t = 0; t < n; t++)
      for (int v = 0; v < V; v++) out[size_t(t) * V + v] = float(all[size_t(t) * Vp + v]);
    return out;
  }

 private:
  std::unique_ptr<M> m_;
};

// --model for every backend, resolved by src/checkpoint_spec.h: a step directory, a run directory (its newest
// step), or hf:DIR (a Hugging Face Llama/Qwen2 directory, src/hf_model.h; its context is capped at kHfContextCap
// so the KV cache stays small).
struct LoadedWeights {
  ModelConfig config;
  std::vector<float> params;  // (ParamLayout(config).total,)
  Tokenizer tok;              // checked: ids <= the model's vocab_size (padded HF vocabularies are larger),
                              // has <|eot_id|> and <|end_of_text|>
  std::string dir;            // the step directory, or the HF directory
};
inline constexpr int kHfContextCap = 4096;
LoadedWeights load_weights(const std::string& spec);

// The legal-advisor persona, prompts/legal_advisor.txt: relative to the working directory, else next to the
// executable; trailing whitespace trimmed. Error if missing or empty (pass --system none|FILE instead).
std::string legal_advisor_prompt();

struct GenerateOptions {
  SamplingParams sampling;
  int max_new_tokens = 256;
  std::vector<std::string> stop;  // stop strings (not included in the output)
  bool stop_at_eos = true;        // stop on <|eot_id|> and <|end_of_text|>
};

struct GenerateResult {
  std::string text;             // the completion (without stop string / end token)
  std::vector<int32_t> tokens;  // generated ids (including a final end token if one was produced)
  int prompt_tokens = 0;
  int completion_tokens = 0;    // == tokens.size()
  std::string finish_reason;    // "stop" (end token or stop string), "length" (max tokens or context), "cancelled"
  double prefill_s = 0, decode_s = 0;  // wall time of the prefill and of the decode steps
};

// Called with each new piece of text; return false to cancel generation (e.g. the client went away).
using TextCallback = std::function<bool(const std::string& piece)>;

// One sequence's decoding after its prefill: sampling (its own Sampler and seed), end tokens, stop strings,
// streaming of complete UTF-8, max tokens and the context limit. Generator::generate and the batched
// generator (src/batch_generator.h) both run it, so a sequence gives the same tokens alone or in a batch.
class Decoding {
 public:
  // Checks the prompt (non-empty, < context) and options; Error naming both numbers otherwise.
  Decoding(const Tokenizer& tok, const std::vector<int32_t>& prompt, const GenerateOptions& o, int context,
           TextCallback on_text);
  // Logits of the next position -> samples the next token. Returns true when generation continues: feed
  // next_token() at position next_pos() and call feed with the logits that returns.
  bool feed(std::vector<float>& logits);
  int32_t next_token() const { return r_.tokens.back(); }
  int next_pos() const { return P_ + int(r_.tokens.size()) - 1; }
  void cancel() { cancelled_ = true; }  // the caller stops feeding; finish() reports "cancelled"
  GenerateResult finish();

 private:
  void emit(size_t upto);
  const Tokenizer& tok_;
  GenerateOptions o_;
  std::vector<std::string> stops_;
  TextCallback on_text_;
  int ctx_, P_;
  Sampler sampler_;
  std::vector<int32_t> history_;  // prompt + output, for the repetition penalty
  Utf8Stream utf8_;
  std::string text_;  // complete UTF-8 generated so far
  size_t sent_ = 0;   // bytes of text_ already handed to on_text
  bool cancelled_ = false, stopped_ = false;
  GenerateResult r_;
};

class Generator {
 public:
  // Error if the tokenizer has more ids than the model has vocabulary rows. Ids the model has beyond the
  // tokenizer's (padding rows) are never generated.
  Generator(CausalLM& lm, const Tokenizer& tok);
  // With reuse_prefix, a prompt that starts with the tokens already in the KV cache (the previous turn of a
  // chat) prefills only the new suffix. Off by default so results never depend on earlier requests.
  void set_reuse_prefix(bool on) { reuse_prefix_ = on; }

  // Prompt token ids -> completion. Error if the prompt is empty or does not fit in the context with at
  // least one new token (the message names both numbers).
  GenerateResult generate(const std::vector<int32_t>& prompt, const GenerateOptions& o, const TextCallback& on_text = {});

  std::vector<int32_t> chat_prompt(const Conversation& conv) const;  // template + generation prompt
  const Tokenizer& tokenizer() const { return tok_; }
  CausalLM& lm() { return lm_; }
  int context() const { return lm_.config().max_seq_len; }

 private:
  CausalLM& lm_;
  const Tokenizer& tok_;
  bool reuse_prefix_ = false;
  std::vector<int32_t> cached_;  // tokens whose K/V are in the cache, in order
  bool reserved_ = false;
};

// Log-probability of `continuation` given `prompt` under the model (full forward; multiple-choice eval uses
// it). If prompt+continuation exceeds max_seq_len the prompt is cut from the left. Error if the continuation
// is empty or alone longer than max_seq_len - 1 or the prompt is empty.
struct ContinuationScore {
  double sum_logprob = 0;
  int n_tokens = 0;
};
ContinuationScore score_continuation(CausalLM& lm, const std::vector<int32_t>& prompt,
                                     const std::vector<int32_t>& continuation);

// Per-token log-probabilities of a whole token sequence, computed in windows of max_seq_len that overlap by
// one token, so every token after the first is predicted exactly once: result[i] = log p(tokens[i+1] | ...).
std::vector<double> score_tokens(CausalLM& lm, const std::vector<int32_t>& tokens);

}  // namespace beop
