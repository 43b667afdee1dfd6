// Token sampling from next-token logits: repetition penalty -> temperature -> top-k -> top-p -> draw.
// The order and the rules follow Hugging Face's logits processors, so settings mean the same as there:
//   repetition penalty (CTRL, Keskar et al. 2019): for every distinct token already in prompt + output, a
//     positive logit is divided by the penalty and a negative one multiplied by it (penalty 1 = off);
//   temperature: logits / T; T <= 0 means greedy (argmax, lowest id on ties);
//   top-k: keep the k most probable tokens (0 = off);
//   top-p (nucleus): keep the smallest set of most probable tokens whose probability mass is >= p (1 = off).
// The draw uses beop::Rng (src/rng.h), so one seed reproduces the same tokens on every machine.
#pragma once
#include <cstdint>
#include <vector>

#include "src/rng.h"

namespace beop {

struct SamplingParams {
  float temperature = 0.7f;        // <= 0: greedy
  int top_k = 0;                   // 0: off
  float top_p = 1.0f;              // (0, 1]; 1: off
  float repetition_penalty = 1.0f; // >= 1 discourages repeats; 1: off
  uint64_t seed = 1;
};

// Throws Error naming the bad field (temperature < 0 or not finite, top_k < 0, top_p outside (0, 1],
// repetition_penalty <= 0).
void validate_sampling(const SamplingParams& p);

// In place, over the distinct ids in `seen` (ids outside [0, logits.size()) are ignored).
void apply_repetition_penalty(std::vector<float>& logits, const std::vector<int32_t>& seen, float penalty);

// The distribution the draw is made from after temperature, top-k and top-p (no repetition penalty): the
// kept (id, probability) pairs in descending probability (ties: lower id first), probabilities summing to 1.
// Greedy (temperature <= 0) gives the single argmax with probability 1.
struct TokenProb {
  int32_t id;
  double p;
};
std::vector<TokenProb> sampling_distribution(const std::vector<float>& logits, const SamplingParams& p);

// Sets logits[n_valid..] to -inf so those ids are never drawn (greedy or sampled). A model may have more
// embedding rows than its tokenizer has ids (Qwen2.5: 151,936 rows, 151,665 ids): the padding rows are not
// tokens, and an id the tokenizer cannot decode must never be generated.
void mask_ids_from(std::vector<float>& logits, size_t n_valid);

// Index of the largest logit (lowest id on ties).
int32_t argmax(const std::vector<float>& logits);

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p);
  // logits (V,) of the next position; history = prompt + output so far (for the repetition penalty).
  int32_t sample(std::vector<float> logits, const std::vector<int32_t>& history);
  const SamplingParams& params() const { return p_; }

 private:
  SamplingParams p_;
  Rng rng_;
};

}  // namespace beop
