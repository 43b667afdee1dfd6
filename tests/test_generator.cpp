// Generator: KV-cache greedy decoding against a full recompute, the prefill/decode call pattern, end tokens,
// stop strings, UTF-8-safe streaming, cancellation, context limits, and the scoring functions against a
// log-softmax computed here from the full forward's logits.
#include <doctest/doctest.h>

#include <cmath>
#include <set>

#include "cpu/model_cpu.h"
#include "src/generator.h"
#include "src/unicode.h"
#include "src/utf8_stream.h"
#include "tests/infer_fixture.h"

using namespace beop;

static const std::string kDir = "build/test_generator";

struct Loaded {
  Tokenizer tok;
  std::unique_ptr<CausalLM> lm;
};
static Loaded& fixture() {
  static Loaded l = [] {
    Loaded x;
    x.lm = load_causal_lm(test::make_infer_fixture(kDir), &x.tok);
    return x;
  }();
  return l;
}

// A fake model that makes greedy decoding produce `script` after a prompt of P tokens, and records every call.
struct ScriptedLM : CausalLM {
  ModelConfig cfg;
  std::vector<int32_t> script;
  int P = 0;
  std::vector<std::pair<int, int>> calls;  // (n, pos0)
  ScriptedLM(int V, int T) { cfg = preset("tiny"), cfg.vocab_size = V, cfg.max_seq_len = T; }
  const ModelConfig& config() const override { return cfg; }
  void reset(int) override {}
  std::vector<float> step(const int32_t*, int n, int pos0) override {
    calls.push_back({n, pos0});
    std::vector<float> l(size_t(cfg.vocab_size), 0.0f);
    const size_t k = size_t(pos0 + n - P);
    if (k < script.size()) l[size_t(script[k])] = 10.0f;
    return l;
  }
  std::vector<double> token_logprobs(const int32_t*, int) override { return {}; }
  std::vector<float> full_logits(const int32_t*, int) override { return {}; }
};

static GenerateOptions greedy(int max_new) {
  GenerateOptions o;
  o.sampling.temperature = 0;
  o.max_new_tokens = max_new;
  return o;
}

TEST_CASE("greedy generation via the KV cache equals greedy via full recompute each step") {
  Loaded& f = fixture();
  const std::vector<int32_t> prompt = f.tok.encode("임대차는 등기가 없는");
  GenerateOptions o = greedy(40);
  o.stop_at_eos = false;
  Generator g(*f.lm, f.tok);
  const GenerateResult r = g.generate(prompt, o);
  REQUIRE(r.tokens.size() == 40);
  // oracle: the training-path forward over the whole sequence at every step, argmax of the last row
  std::vector<int32_t> seq = prompt, ref;
  const int V = f.lm->config().vocab_size;
  for (int s = 0; s < 40; s++) {
    const std::vector<float> all = f.lm->full_logits(seq.data(), int(seq.size()));
    const float* last = all.data() + (seq.size() - 1) * size_t(V);
    const int32_t best = int32_t(std::max_element(last, last + V) - last);
    ref.push_back(best);
    seq.push_back(best);
  }
  CHECK(r.tokens == ref);
  CHECK(std::set<int32_t>(ref.begin(), ref.end()).size() > 3);  // not a degenerate single-token loop
  CHECK(r.prompt_tokens == int(prompt.size()));
  CHECK(r.completion_tokens == 40);
  CHECK(r.finish_reason == "length");
  // same seed -> same sampled text; the sampled run differs from greedy
  GenerateOptions s = o;
  s.sampling.temperature = 1.0f, s.sampling.seed = 5;
  const GenerateResult a = g.generate(prompt, s), b = g.generate(prompt, s);
  CHECK(a.tokens == b.tokens);
  CHECK(a.tokens != r.tokens);
}

TEST_CASE("one prefill, then one-token decode steps at consecutive positions; max_new_tokens respected") {
  ScriptedLM lm(fixture().tok.vocab_size(), 64);
  lm.P = 5;
  lm.script = {40, 41, 42, 43, 44, 45, 46, 47};
  Generator g(lm, fixture().tok);
  const GenerateResult r = g.generate({1, 2, 3, 4, 5}, greedy(6));
  CHECK(r.tokens == std::vector<int32_t>{40, 41, 42, 43, 44, 45});
  CHECK(r.finish_reason == "length");
  // prefill of 5 at 0, then tokens 40..44 fed at positions 5..9 (the 6th sampled token is never fed)
  std::vector<std::pair<int, int>> want = {{5, 0}, {1, 5}, {1, 6}, {1, 7}, {1, 8}, {1, 9}};
  CHECK(lm.calls == want);
}

TEST_CASE("end-of-turn and end-of-text stop generation and are not part of the text") {
  Loaded& f = fixture();
  ScriptedLM lm(f.tok.vocab_size(), 64);
  const std::vector<int32_t> hello = f.tok.encode("hello world");
  for (int32_t end : {f.tok.eot_id(), f.tok.eos_id()}) {
    lm.P = 2;
    lm.script = hello;
    lm.script.push_back(end);
    lm.script.push_back(hello[0]);
    Generator g(lm, f.tok);
    const GenerateResult r = g.generate({1, 2}, greedy(50));
    CHECK(r.text == "hello world");
    CHECK(r.finish_reason == "stop");
    CHECK(r.completion_tokens == int(hello.size()) + 1);  // the end token counts as generated
  }
}

TEST_CASE("stop strings end the text before the stop string, also when streamed and split over tokens") {
  Loaded& f = fixture();
  ScriptedLM lm(f.tok.vocab_size(), 128);
  lm.P = 1;
  lm.script = f.tok.encode("To be or not to be, STOP world");
  Generator g(lm, f.tok);
  for (std::vector<std::string> stops : {std::vector<std::string>{"STOP"}, {"xyz", "OP w"}, {", S"}}) {
    GenerateOptions o = greedy(100);
    o.stop = stops;
    std::string streamed;
    const GenerateResult r = g.generate({7}, o, [&](const std::string& s) { streamed += s; return true; });
    const std::string want = std::string("To be or not to be, STOP world").substr(0, std::string("To be or not to be, STOP world").find(stops.back()));
    CHECK(r.text == want);
    CHECK(streamed == want);
    CHECK(r.finish_reason == "stop");
  }
  // no stop string present: whole text, finish by length
  GenerateOptions o = greedy(int(lm.script.size()));
  o.stop = {"never"};
  std::string streamed;
  const GenerateResult r = g.generate({7}, o, [&](const std::string& s) { streamed += s; return true; });
  CHECK(r.text == "To be or not to be, STOP world");
  CHECK(streamed == r.text);
}

TEST_CASE("streaming hands out only complete UTF-8 when tokens split a Hangul syllable") {
  Loaded& f = fixture();
  // single-byte tokens: the tokenizer's byte alphabet
  std::vector<int32_t> byte_id(256, -1);
  for (int id = 0; id < f.tok.vocab_size(); id++) {
    const std::string t = f.tok.token_text(id);
    if (t.size() == 1 && f.tok.token_id(t) < 0) byte_id[(unsigned char)t[0]] = id;
  }
  const std::string text = "법원 판결";  // 3 + 3 + 1 + 3 + 3 bytes
  ScriptedLM lm(f.tok.vocab_size(), 64);
  lm.P = 1;
  for (unsigned char c : text) {
    REQUIRE(byte_id[c] >= 0);
    lm.script.push_back(byte_id[c]);
  }
  Generator g(lm, f.tok);
  std::vector<std::string> pieces;
  const GenerateResult r = g.generate({7}, greedy(int(text.size())), [&](const std::string& s) {
    pieces.push_back(s);
    return true;
  });
  CHECK(r.text == text);
  std::string joined;
  for (auto& p : pieces) {
    CHECK(utf8_invalid_offset(p) == std::string::npos);
    joined += p;
  }
  CHECK(joined == text);
  CHECK(pieces.size() == 5);  // one piece per completed character
  // Utf8Stream directly
  Utf8Stream u;
  CHECK(u.push("\xEB") == "");
  CHECK(u.push("\xB2") == "");
  CHECK(u.push("\x95\x41\xEC") == "\xEB\xB2\x95\x41");  // 법 + 'A', holding the lead byte of the next
  CHECK(u.pending() == 1);
  CHECK(u.flush() == "\xEF\xBF\xBD");  // an unfinished character at the end -> U+FFFD
  // bytes that can never be valid become U+FFFD at once instead of being held
  CHECK(u.push("\x80x") == "\xEF\xBF\xBDx");                    // stray continuation byte
  CHECK(u.push("\xEBx") == "\xEF\xBF\xBDx");                    // lead byte, then ASCII
  CHECK(u.push("\xC0\xAF") == "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong '/'
  CHECK(u.push("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate U+D800
  CHECK(u.pending() == 0);
}

TEST_CASE("a callback returning false cancels generation at once") {
  Loaded& f = fixture();
  ScriptedLM lm(f.tok.vocab_size(), 64);
  lm.P = 1;
  lm.script = f.tok.encode("To be or not to be, that is the question.");
  Generator g(lm, f.tok);
  int n = 0;
  const GenerateResult r = g.generate({7}, greedy(50), [&](const std::string&) { return ++n < 2; });
  CHECK(r.finish_reason == "cancelled");
  CHECK(n == 2);
  CHECK(lm.calls.size() == 2);  // prefill + one decode step, then stopped
}

TEST_CASE("context limits: a prompt that leaves no room is refused; generation stops at the context end") {
  Loaded& f = fixture();
  Generator g(*f.lm, f.tok);
  const int T = f.lm->config().max_seq_len;  // 128
  std::vector<int32_t> prompt(size_t(T), 5);
  CHECK_THROWS_WITH_AS(g.generate(prompt, greedy(1)), doctest::Contains("prompt is 128 tokens; the model's context is 128"), Error);
  CHECK_THROWS_WITH_AS(g.generate({}, greedy(1)), doctest::Contains("empty prompt"), Error);
  prompt.resize(size_t(T) - 3);
  GenerateOptions o = greedy(100);
  o.stop_at_eos = false;
  const GenerateResult r = g.generate(prompt, o);
  CHECK(r.completion_tokens == 3);  // positions T-3 .. T-1 hold the last prompt token's successors
  CHECK(r.finish_reason == "length");
}

TEST_CASE("prefix reuse prefills only the new suffix and gives the same tokens") {
  Loaded& f = fixture();
  Generator fresh(*f.lm, f.tok), reuse(*f.lm, f.tok);
  reuse.set_reuse_prefix(true);
  GenerateOptions o = greedy(10);
  o.stop_at_eos = false;
  const std::vector<int32_t> p1 = f.tok.encode("법원은 판결한다.");
  const GenerateResult r1 = reuse.generate(p1, o);
  std::vector<int32_t> p2 = p1;
  p2.insert(p2.end(), r1.tokens.begin(), r1.tokens.end());
  for (int32_t t : f.tok.encode(" 민법 제618조")) p2.push_back(t);
  const GenerateResult a = reuse.generate(p2, o);
  const GenerateResult b = fresh.generate(p2, o);
  CHECK(a.tokens == b.tokens);
  // and the call pattern on a scripted model: the second prefill starts where the cache ends
  ScriptedLM lm(f.tok.vocab_size(), 64);
  lm.P = 3, lm.script = {50, 51, 52};
  Generator g(lm, f.tok);
  g.set_reuse_prefix(true);
  g.generate({1, 2, 3}, greedy(3));                         // feeds 1 2 3 | 50 51
  lm.calls.clear();
  lm.P = 7;
  g.generate({1, 2, 3, 50, 51, 9, 9}, greedy(1));         // cached prefix 1 2 3 50 51 -> prefill 2 at 5
  CHECK(lm.calls == std::vector<std::pair<int, int>>{{2, 5}});
}

// log p(next | prefix) from the full forward's logits, by a log-softmax in double here
static double logprob_from_logits(const float* row, int V, int32_t target) {
  double mx = row[0];
  for (int v = 1; v < V; v++) mx = std::max(mx, double(row[v]));
  double z = 0;
  for (int v = 0; v < V; v++) z += std::exp(double(row[v]) - mx);
  return double(row[target]) - mx - std::log(z);
}

TEST_CASE("score_continuation and score_tokens equal log-softmax of the full forward (windows included)") {
  Loaded& f = fixture();
  const int V = f.lm->config().vocab_size, T = f.lm->config().max_seq_len;
  const std::vector<int32_t> prompt = f.tok.encode("근로기준법 제23조"), cont = f.tok.encode(" 제1항에 따라");
  std::vector<int32_t> seq = prompt;
  seq.insert(seq.end(), cont.begin(), cont.end());
  const std::vector<float> logits = f.lm->full_logits(seq.data(), int(seq.size()));
  double want = 0;
  for (size_t i = prompt.size(); i < seq.size(); i++) want += logprob_from_logits(&logits[(i - 1) * V], V, seq[i]);
  const ContinuationScore s = score_continuation(*f.lm, prompt, cont);
  CHECK(s.n_tokens == int(cont.size()));
  // float32 forward and cross-entropy kernel vs double log-softmax of the same float logits: ~1e-6 relative
  CHECK(s.sum_logprob == doctest::Approx(want).epsilon(1e-5));
  CHECK(want < 0);
  // a prompt longer than the context is cut from the left
  std::vector<int32_t> long_prompt(size_t(2 * T), 9);
  long_prompt.insert(long_prompt.end(), prompt.begin(), prompt.end());
  const ContinuationScore cut = score_continuation(*f.lm, long_prompt, cont);
  CHECK(std::isfinite(cut.sum_logprob));
  // windows: 2T+5 tokens; window 1 = [0, T), window 2 starts at T-1
  std::vector<int32_t> toks;
  Rng r(3);
  for (int i = 0; i < 2 * T + 5; i++) toks.push_back(int32_t(r.below(uint64_t(V))));
  const std::vector<double> lp = score_tokens(*f.lm, toks);
  REQUIRE(lp.size() == toks.size() - 1);
  const std::vector<float> w1 = f.lm->full_logits(toks.data(), T);
  const std::vector<float> w2 = f.lm->full_logits(toks.data() + T - 1, T);
  CHECK(lp[0] == doctest::Approx(logprob_from_logits(&w1[0], V, toks[1])).epsilon(1e-5));
  CHECK(lp[size_t(T) - 2] == doctest::Approx(logprob_from_logits(&w1[size_t(T - 2) * V], V, toks[size_t(T) - 1])).epsilon(1e-5));
  CHECK(lp[size_t(T) - 1] == doctest::Approx(logprob_from_logits(&w2[0], V, toks[size_t(T)])).epsilon(1e-5));
  CHECK_THROWS_WITH_AS(score_continuation(*f.lm, prompt, {}), doctest::Contains("empty continuation"), Error);
}

TEST_CASE("loading: run dir -> newest step; missing or incompatible checkpoints give clear errors") {
  Loaded& f = fixture();
  std::string dir;
  Tokenizer tok;
  load_causal_lm(kDir + "/run", &tok, &dir);
  CHECK(dir == kDir + "/run/step_000001");
  CHECK(tok.vocab_size() == f.tok.vocab_size());
  CHECK_THROWS_WITH_AS(load_causal_lm(kDir + "/nope", &tok), doctest::Contains("no complete step_* checkpoint"), Error);
  CHECK_THROWS_WITH_AS(load_causal_lm("hf:build/no_such_hf_dir", &tok), doctest::Contains("no_such_hf_dir"), Error);
  // a tokenizer with more ids than the model has rows: refused, naming both numbers
  const std::string bad = kDir + "/bad";
  std::filesystem::remove_all(bad);
  std::filesystem::create_directories(bad);
  for (auto* fn : {"model.bin", "config.json", "state.json"})
    std::filesystem::copy_file(dir + "/" + fn, bad + "/" + fn);
  BpeTrainOptions bo;
  bo.vocab_size = 460, bo.progress = false, bo.threads = 1;
  Tokenizer big = Tokenizer::train_from_texts(
      {"법원은 판결한다. 임대차는 등기가 없는 경우에도 효력이 있다. 민법 제618조 제1항.",
       "To be or not to be, that is the question. hello world STOP. Whether 'tis nobler in the mind to suffer",
       "근로기준법 제23조 제1항에 따라 사용자는 정당한 이유 없이 근로자를 해고하지 못한다.",
       "The slings and arrows of outrageous fortune, or to take arms against a sea of troubles"},
      bo);
  REQUIRE(big.vocab_size() == 460);
  big.save(bad + "/tokenizer.json");
  const std::string want = "tokenizer.json has 460 token ids but the model's vocab_size is only " +
                           std::to_string(f.tok.vocab_size());
  CHECK_THROWS_WITH_AS(load_causal_lm(bad, &tok), doctest::Contains(want.c_str()), Error);
  // a tokenizer with fewer ids than the model has rows (a padded vocabulary, as HF models ship): accepted
  bo.vocab_size = 300;
  const Tokenizer small = Tokenizer::train_from_texts({"hello world hello"}, bo);
  REQUIRE(small.vocab_size() < f.tok.vocab_size());
  small.save(bad + "/tokenizer.json");
  load_causal_lm(bad, &tok);
  CHECK(tok.vocab_size() == small.vocab_size());
}

// A model with more vocabulary rows than the tokenizer has ids, whose padding rows get the largest logits.
struct PaddedLM : CausalLM {
  ModelConfig cfg;
  int n_ids;
  int32_t real;  // the real id with the best logit
  PaddedLM(int n, int extra, int32_t r) : n_ids(n), real(r) {
    cfg = preset("tiny"), cfg.vocab_size = n + extra, cfg.max_seq_len = 64;
  }
  const ModelConfig& config() const override { return cfg; }
  void reset(int) override {}
  std::vector<float> step(const int32_t*, int, int) override {
    std::vector<float> l(size_t(cfg.vocab_size), 0.0f);
    l[size_t(real)] = 5.0f;
    for (int v = n_ids; v < cfg.vocab_size; v++) l[size_t(v)] = 30.0f + float(v % 3);
    return l;
  }
  std::vector<double> token_logprobs(const int32_t*, int) override { return {}; }
  std::vector<float> full_logits(const int32_t*, int) override { return {}; }
};

TEST_CASE("padding ids (model rows past the tokenizer's ids) are never generated, greedy or sampled") {
  Loaded& f = fixture();
  const int n = f.tok.vocab_size();
  const int32_t real = f.tok.encode("법")[0];
  PaddedLM lm(n, 37, real);
  Generator g(lm, f.tok);
  GenerateOptions o = greedy(8);
  o.stop_at_eos = false;
  GenerateResult r = g.generate({1, 2, 3}, o);
  CHECK(r.tokens == std::vector<int32_t>(8, real));
  // sampling at temperature 2 with top-k 50: padding ids would take almost all the mass; only real ids come out
  o.sampling.temperature = 2, o.sampling.top_k = 50, o.sampling.seed = 7, o.max_new_tokens = 40;
  r = g.generate({1, 2, 3}, o);
  REQUIRE(r.tokens.size() == 40);
  for (int32_t id : r.tokens) CHECK(id < n);
  CHECK(r.tokens.size() > size_t(std::count(r.tokens.begin(), r.tokens.end(), real)));  // others drawn too
  // a model with fewer rows than the tokenizer has ids: refused
  PaddedLM small(n - 5, 0, real);
  const std::string want = std::to_string(n) + " token ids but the model's vocab_size is only " + std::to_string(n - 5);
  CHECK_THROWS_WITH_AS(Generator(small, f.tok), doctest::Contains(want.c_str()), Error);
}
