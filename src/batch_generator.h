// Continuous batching: many concurrent generations share one model, decoding together.
//
//   BatchGenerator batch(lm, tok, /*max_batch=*/8);
//   // from any number of threads at once:
//   GenerateResult r = batch.generate(prompt, options, on_text);   // blocks until this sequence is done
//
// One scheduler thread owns the model. Between decode steps it admits waiting requests into free cache slots
// (CausalLM::reset_slots / prefill_slots: prompts that join together are prefilled in one pass over the
// weights where that gives each the logits it would get alone, bit for bit; otherwise prefill_slot, one at a
// time), then runs one batched decode step for every active sequence (CausalLM::decode_slots: every weight
// matrix read once for all of them) and samples each sequence's next token with its own Decoding
// (src/generator.h: own seed, temperature, top-p, stop strings, max tokens). A finished, stopped or cancelled sequence leaves its slot at once and the next
// waiting request takes it at the next step. Requests beyond max_batch wait in arrival order (the caller,
// e.g. the server, bounds that queue).
//
// on_text runs on the calling thread, not the scheduler's: a slow or vanished client never stalls the other
// sequences. When on_text returns false the sequence is cancelled at the next step (finish_reason
// "cancelled"). The tokens of a sequence are the ones Generator::generate gives for the same prompt and
// options up to the fp32 rounding of the batched matrix products (docs/INFER.md, tests/test_batch_generator.cpp).
#pragma once
#include <memory>
#include <vector>

#include "src/generator.h"

namespace beop {

class BatchGenerator {
 public:
  // Reserves the model's slots (at most max_batch; a model without a batched path serves one) for
  // lm.config().max_seq_len positions each, and starts the scheduler thread. Nothing else may use the model
  // while a generation runs; between generations (none running) another user may, e.g. a Generator: the
  // slots are reserved again before the next one starts.
  BatchGenerator(CausalLM& lm, const Tokenizer& tok, int max_batch);
  ~BatchGenerator();  // cancels what is running, joins the scheduler
  BatchGenerator(const BatchGenerator&) = delete;
  BatchGenerator& operator=(const BatchGenerator&) = delete;

  // Thread-safe; blocks until the sequence finishes. Errors (bad prompt, a failing model) are thrown here.
  GenerateResult generate(const std::vector<int32_t>& prompt, const GenerateOptions& o, const TextCallback& on_text = {});
  int slots() const;       // sequences decoded together at most
  int64_t steps() const;   // batched decode steps run so far
  int64_t rows() const;    // sequence-tokens those steps decoded (rows / steps = mean batch size)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace beop
