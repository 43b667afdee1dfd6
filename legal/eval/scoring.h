// Metrics glue for `infer eval`: ROUGE-L F with a stated, selectable tokenisation, and the three multiple-choice
// accuracies (option log-likelihood summed, log-likelihood per token, the generated option letter).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "legal/metrics/rouge.h"
#include "src/generator.h"

namespace beop::eval {

// whitespace = eojeol (Python str.split()), character = every non-space code point, tokenizer = the model's
// token ids (tok.encode of each text).
enum class RougeTok { Whitespace, Character, Tokenizer };
RougeTok parse_rouge_tok(const std::string& s);  // "whitespace" | "character" | "tokenizer"; else Error
const char* rouge_tok_name(RougeTok t);

// ROUGE-L F of candidate against reference (legal/metrics/rouge.h; rouge-score's formula). tok is needed only for
// RougeTok::Tokenizer.
double rouge_l_f(const std::string& reference, const std::string& candidate, RougeTok how, const Tokenizer* tok);

// The first option letter in a generated answer: A-D (ASCII or full-width), 1-4, or ①-④, standing alone (not
// inside a longer run of ASCII letters/digits: "Answer" is no A, "12" is no 1). Returns 0..n_options-1, or -1.
int parse_choice(const std::string& generated, int n_options = 4);

struct MCScore {
  std::vector<double> sum_logprob;  // per option: sum of log p(option tokens | prompt)
  std::vector<int> n_tokens;        // per option
  int pick_sum = -1;                // argmax of sum_logprob (first on ties)
  int pick_norm = -1;               // argmax of sum_logprob / n_tokens (first on ties)
  int pick_byte = -1;               // argmax of sum_logprob / option bytes (first on ties; needs option_bytes)
  std::vector<double> letter_logprob;  // per option: log p(its letter's tokens | prompt) (score_letters)
  int pick_letter = -1;                // argmax of letter_logprob: the KMMLU/MMLU convention
};
// Scores each option's tokens as the continuation of the prompt (score_continuation: the prompt is cut from the
// left if prompt + option does not fit the context). option_bytes (UTF-8 length of each option's text, optional)
// gives the per-byte normalisation, which unlike per-token does not depend on the tokenizer. Error on an empty
// option.
MCScore score_options(CausalLM& lm, const std::vector<int32_t>& prompt,
                      const std::vector<std::vector<int32_t>>& options, const std::vector<size_t>& option_bytes = {});
// The letter convention: log p(letter tokens | prompt) for each option's letter ("A", "B", ... encoded by the
// caller), the pick being the most probable letter. Fills s->letter_logprob and s->pick_letter.
void score_letters(CausalLM& lm, const std::vector<int32_t>& prompt, const std::vector<std::vector<int32_t>>& letters,
                   MCScore* s);

}  // namespace beop::eval
