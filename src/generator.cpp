#include "src/generator.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "src/checkpoint.h"
#include "src/checkpoint_spec.h"
#include "src/hf_model.h"
#include "src/io.h"

namespace beop {

std::string legal_advisor_prompt() {
  static const std::string kFile = "prompts/legal_advisor.txt";
  std::string path = kFile;
  if (!file_exists(path)) {
    char exe[4096];
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
      std::string dir(exe, size_t(n));
      dir = dir.substr(0, dir.rfind('/'));
      if (file_exists(dir + "/" + kFile)) path = dir + "/" + kFile;
    }
  }
  BEOP_CHECK(file_exists(path), "--system legal: ", kFile,
             " not found (run from the repository root, or pass --system none|FILE)");
  std::string s = read_file(path);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  BEOP_CHECK(!s.empty(), "--system legal: ", path, " is empty");
  return s;
}

LoadedWeights load_weights(const std::string& spec) {
  LoadedWeights w;
  std::string tok_path;
  if (const CheckpointSpec c = resolve_checkpoint_spec(spec); c.is_hf()) {
    HfLoadOptions o;
    o.max_seq_len_cap = kHfContextCap;
    HfModel m = load_hf_model(c.hf_dir, o);
    w.config = m.config, w.params = std::move(m.params), w.dir = c.hf_dir, tok_path = m.tokenizer_path;
  } else {
    w.dir = c.step_dir;
    LoadedCheckpoint ck = load_model_file(w.dir + "/model.bin");
    w.config = ck.config, w.params = std::move(ck.params), tok_path = w.dir + "/tokenizer.json";
  }
  BEOP_CHECK(file_exists(tok_path), w.dir, ": tokenizer.json is missing");
  w.tok = Tokenizer::load(tok_path);
  // The model may have more embedding rows than the tokenizer has ids (HF models pad their vocabulary, e.g.
  // Qwen2.5: 151,936 rows for 151,665 ids; the generator never emits those ids), never fewer.
  BEOP_CHECK(w.tok.vocab_size() <= w.config.vocab_size, w.dir, ": tokenizer.json has ", w.tok.vocab_size(),
             " token ids but the model's vocab_size is only ", w.config.vocab_size);
  BEOP_CHECK(w.tok.eot_id() >= 0 && w.tok.eos_id() >= 0, w.dir, ": tokenizer.json lacks ", kEndOfTurn, " or ",
             kEndOfText, " (beop's chat template needs them)");
  BEOP_CHECK(w.params.size() == ParamLayout(w.config).total, w.dir, ": ", w.params.size(),
             " parameters, the config needs ", ParamLayout(w.config).total);
  return w;
}

Generator::Generator(CausalLM& lm, const Tokenizer& tok) : lm_(lm), tok_(tok) {
  BEOP_CHECK(tok.vocab_size() <= lm.config().vocab_size, "the tokenizer has ", tok.vocab_size(),
             " token ids but the model's vocab_size is only ", lm.config().vocab_size);
}

std::vector<int32_t> Generator::chat_prompt(const Conversation& conv) const {
  return encode_chat(tok_, conv, /*add_generation_prompt=*/true).tokens;
}

namespace {
// Length of the longest suffix of `text` that is a proper prefix of some stop string (text we may not emit yet).
size_t stop_prefix_len(const std::string& text, const std::vector<std::string>& stops) {
  size_t best = 0;
  for (const std::string& s : stops)
    for (size_t k = std::min(s.size() - 1, text.size()); k > best; k--)
      if (text.compare(text.size() - k, k, s, 0, k) == 0) {
        best = k;
        break;
      }
  return best;
}
}  // namespace

Decoding::Decoding(const Tokenizer& tok, const std::vector<int32_t>& prompt, const GenerateOptions& o, int context,
                   TextCallback on_text)
    : tok_(tok), o_(o), on_text_(std::move(on_text)), ctx_(context), P_(int(prompt.size())), sampler_(o.sampling),
      history_(prompt) {
  BEOP_CHECK(P_ > 0, "empty prompt");
  BEOP_CHECK(P_ < ctx_, "prompt is ", P_, " tokens; the model's context is ", ctx_,
             " tokens (at most ", ctx_ - 1, " prompt tokens leave room for an answer)");
  BEOP_CHECK(o.max_new_tokens > 0, "max_new_tokens must be positive, got ", o.max_new_tokens);
  for (const std::string& st : o.stop)
    if (!st.empty()) stops_.push_back(st);
  r_.prompt_tokens = P_;
}

void Decoding::emit(size_t upto) {
  if (upto <= sent_) return;
  if (on_text_ && !on_text_(text_.substr(sent_, upto - sent_))) cancelled_ = true;
  sent_ = upto;
}

bool Decoding::feed(std::vector<float>& logits) {
  mask_ids_from(logits, size_t(tok_.vocab_size()));  // model rows past the tokenizer's ids are padding
  const int32_t next = sampler_.sample(logits, history_);
  r_.tokens.push_back(next);
  history_.push_back(next);
  if (o_.stop_at_eos && (next == tok_.eot_id() || next == tok_.eos_id())) {
    stopped_ = true;
    return false;
  }
  text_ += utf8_.push(tok_.token_text(next));
  if (!stops_.empty()) {
    // a stop string can only newly appear in the tail: search from where the longest one could start
    size_t longest = 0;
    for (auto& st : stops_) longest = std::max(longest, st.size());
    const size_t from = sent_ >= longest ? sent_ - longest : 0;
    size_t cut = std::string::npos;
    for (auto& st : stops_) cut = std::min(cut, text_.find(st, from));
    if (cut != std::string::npos) {
      text_.resize(cut);
      stopped_ = true;
      return false;
    }
    emit(text_.size() - stop_prefix_len(text_, stops_));
  } else {
    emit(text_.size());
  }
  if (cancelled_) return false;
  return int(r_.tokens.size()) < o_.max_new_tokens && next_pos() + 1 < ctx_;
}

GenerateResult Decoding::finish() {
  if (!stopped_ && !cancelled_) text_ += utf8_.flush();  // an unfinished character at a length cut: U+FFFD
  if (!cancelled_) emit(text_.size());
  r_.text = text_.substr(0, cancelled_ ? sent_ : text_.size());
  r_.completion_tokens = int(r_.tokens.size());
  r_.finish_reason = cancelled_ ? "cancelled" : stopped_ ? "stop" : "length";
  return r_;
}

GenerateResult Generator::generate(const std::vector<int32_t>& prompt, const GenerateOptions& o,
                                   const TextCallback& on_text) {
  using clock = std::chrono::steady_clock;
  const int ctx = context();
  Decoding d(tok_, prompt, o, ctx, on_text);
  const int P = int(prompt.size());

  // prefill (only the part not already cached when prefix reuse is on)
  const auto t0 = clock::now();
  if (!reserved_) lm_.reset(ctx), reserved_ = true;
  size_t common = 0;
  if (reuse_prefix_)
    while (common < cached_.size() && common + 1 < prompt.size() && cached_[common] == prompt[common]) common++;
  cached_.assign(prompt.begin(), prompt.begin() + long(common));
  std::vector<float> logits = lm_.step(prompt.data() + common, P - int(common), int(common));
  cached_.assign(prompt.begin(), prompt.end());
  const auto t1 = clock::now();

  while (d.feed(logits)) {
    const int32_t next = d.next_token();
    logits = lm_.step(&next, 1, d.next_pos());
    cached_.push_back(next);
  }
  GenerateResult r = d.finish();
  r.prefill_s = std::chrono::duration<double>(t1 - t0).count();
  r.decode_s = std::chrono::duration<double>(clock::now() - t1).count();
  return r;
}

ContinuationScore score_continuation(CausalLM& lm, const std::vector<int32_t>& prompt,
                                     const std::vector<int32_t>& continuation) {
  const int T = lm.config().max_seq_len;
  BEOP_CHECK(!prompt.empty(), "score_continuation: empty prompt");
  BEOP_CHECK(!continuation.empty(), "score_continuation: empty continuation");
  BEOP_CHECK(int(continuation.size()) < T, "score_continuation: continuation of ", continuation.size(),
             " tokens does not fit the context of ", T);
  const size_t keep = std::min(prompt.size(), size_t(T) - continuation.size());  // prompt cut from the left
  std::vector<int32_t> seq(prompt.end() - long(keep), prompt.end());
  seq.insert(seq.end(), continuation.begin(), continuation.end());
  const std::vector<double> lp = lm.token_logprobs(seq.data(), int(seq.size()));
  ContinuationScore s;
  for (size_t i = keep - 1; i < lp.size(); i++) s.sum_logprob += lp[i];  // lp[i] predicts seq[i+1]
  s.n_tokens = int(continuation.size());
  return s;
}

std::vector<double> score_tokens(CausalLM& lm, const std::vector<int32_t>& tokens) {
  const int T = lm.config().max_seq_len;
  BEOP_CHECK(tokens.size() >= 2, "scoring needs at least 2 tokens, got ", tokens.size());
  std::vector<double> out;
  out.reserve(tokens.size() - 1);
  for (size_t s = 0; s + 1 < tokens.size();) {
    const size_t len = std::min(size_t(T), tokens.size() - s);
    const std::vector<double> lp = lm.token_logprobs(tokens.data() + s, int(len));
    out.insert(out.end(), lp.begin(), lp.end());
    s += len - 1;  // the window's last token starts the next one
  }
  return out;
}

}  // namespace beop
