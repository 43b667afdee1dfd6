#include "legal/eval/scoring.h"

#include <algorithm>

#include "src/common.h"
#include "src/utf8.h"

namespace beop::eval {

RougeTok parse_rouge_tok(const std::string& s) {
  if (s == "whitespace" || s == "eojeol") return RougeTok::Whitespace;
  if (s == "character" || s == "char") return RougeTok::Character;
  if (s == "tokenizer") return RougeTok::Tokenizer;
  fail("--rouge-tokens: '", s, "' (want whitespace, character or tokenizer)");
}

const char* rouge_tok_name(RougeTok t) {
  return t == RougeTok::Whitespace ? "whitespace" : t == RougeTok::Character ? "character" : "tokenizer";
}

double rouge_l_f(const std::string& reference, const std::string& candidate, RougeTok how, const Tokenizer* tok) {
  if (how == RougeTok::Tokenizer) {
    BEOP_CHECK(tok, "ROUGE-L over model tokens needs a tokenizer");
    return rouge_l(tok->encode(reference), tok->encode(candidate)).fmeasure;
  }
  RougeOptions o;
  o.tokenize = how == RougeTok::Whitespace ? RougeTokenize::Whitespace : RougeTokenize::Character;
  return rouge_l(reference, candidate, o).fmeasure;
}

int parse_choice(const std::string& g, int n_options) {
  std::vector<char32_t> cps;
  try {
    cps = utf8_decode(g);
  } catch (const Error&) {
    return -1;  // generations are complete UTF-8 (utf8_stream.h); be safe anyway
  }
  auto alnum = [](char32_t c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  for (size_t i = 0; i < cps.size(); i++) {
    const char32_t c = cps[i];
    int k = -1;
    if (c >= 'A' && c <= 'Z') k = int(c - 'A');
    else if (c >= '1' && c <= '9') k = int(c - '1');
    else if (c >= U'Ａ' && c <= U'Ｚ') k = int(c - U'Ａ');
    else if (c >= U'①' && c <= U'⑨') k = int(c - U'①');
    if (k < 0) continue;
    if (c < 0x80) {  // ASCII: must stand alone
      if ((i > 0 && alnum(cps[i - 1])) || (i + 1 < cps.size() && alnum(cps[i + 1]))) continue;
    }
    if (k < n_options) return k;
    // A standalone letter/number outside the options (e.g. "E", "5") is not an answer; keep looking.
  }
  return -1;
}

namespace {
// The first index of the largest value.
int argmax(const std::vector<double>& v) {
  int best = -1;
  for (size_t i = 0; i < v.size(); i++)
    if (best < 0 || v[i] > v[size_t(best)]) best = int(i);
  return best;
}
}  // namespace

MCScore score_options(CausalLM& lm, const std::vector<int32_t>& prompt,
                      const std::vector<std::vector<int32_t>>& options, const std::vector<size_t>& option_bytes) {
  BEOP_CHECK(option_bytes.empty() || option_bytes.size() == options.size(), "MC: ", option_bytes.size(),
             " option byte counts for ", options.size(), " options");
  MCScore s;
  std::vector<double> norm, per_byte;
  for (size_t i = 0; i < options.size(); i++) {
    BEOP_CHECK(!options[i].empty(), "MC option ", char('A' + i), " encodes to no tokens");
    const ContinuationScore c = score_continuation(lm, prompt, options[i]);
    s.sum_logprob.push_back(c.sum_logprob);
    s.n_tokens.push_back(c.n_tokens);
    norm.push_back(c.sum_logprob / c.n_tokens);
    if (!option_bytes.empty()) per_byte.push_back(c.sum_logprob / double(std::max<size_t>(1, option_bytes[i])));
  }
  s.pick_sum = argmax(s.sum_logprob), s.pick_norm = argmax(norm), s.pick_byte = argmax(per_byte);
  return s;
}

void score_letters(CausalLM& lm, const std::vector<int32_t>& prompt, const std::vector<std::vector<int32_t>>& letters,
                   MCScore* s) {
  s->letter_logprob.clear();
  for (size_t i = 0; i < letters.size(); i++) {
    BEOP_CHECK(!letters[i].empty(), "MC letter ", char('A' + i), " encodes to no tokens");
    s->letter_logprob.push_back(score_continuation(lm, prompt, letters[i]).sum_logprob);
  }
  s->pick_letter = argmax(s->letter_logprob);
}

}  // namespace beop::eval
