// Continuous batching (src/batch_generator.h, Model::slot_prefill / slot_decode, Transformer::decode):
//   - the batched decode step against single-sequence decoding, logits compared element by element;
//   - the batched prefill (Model::slot_prefill_batch) against one prompt at a time, logits and cache bit for bit;
//   - concurrent requests of different lengths, joining at different times, greedy and sampled, give the
//     tokens one-at-a-time Generator::generate gives; a request that leaves early (cancel, stop, max tokens)
//     does not disturb the others; prompts that join together are prefilled in one call.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <thread>

#include "cpu/gemm_f32.h"
#include "cpu/model_cpu.h"
#include "src/batch_generator.h"
#include "src/generator.h"
#include "tests/infer_fixture.h"

using namespace beop;

static const std::string kDir = "build/test_batch_generator";

namespace {
ModelConfig tiny_config() {
  ModelConfig c = preset("tiny");
  c.vocab_size = 300, c.n_layers = 2, c.max_seq_len = 48;
  return c;
}
std::vector<int32_t> random_tokens(Rng& rng, int n, int V) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (auto& x : t) x = int32_t(rng.below(uint64_t(V)));
  return t;
}
// max |a - b| / max |b|
double rel_err(const float* a, const float* b, size_t n) {
  double d = 0, m = 0;
  for (size_t i = 0; i < n; i++) d = std::max(d, double(std::fabs(a[i] - b[i]))), m = std::max(m, double(std::fabs(b[i])));
  return d / m;
}
}  // namespace

TEST_CASE("batched decode step: logits of n sequences in their own slots equal n single-sequence decodes") {
  const ModelConfig c = tiny_config();
  const int V = c.vocab_size, Vp = c.padded_vocab(), S = 6, steps = 6;
  CpuModel batched(c), single(c), solo(c);  // solo: the same slots, decoded one sequence per step
  batched.init_random(3), single.init_random(3), solo.init_random(3);
  batched.slots_reserve(S, c.max_seq_len);
  solo.slots_reserve(S, c.max_seq_len);
  single.infer_reserve(1, c.max_seq_len);
  Rng rng(9);
  // five sequences of different prompt lengths in slots 2, 0, 3, 5, 4 (slot 1 stays empty)
  const std::vector<int> slot = {2, 0, 3, 5, 4}, plen = {5, 11, 1, 7, 3};
  std::vector<std::vector<int32_t>> seq;
  std::vector<std::vector<float>> next_logits;
  for (size_t i = 0; i < slot.size(); i++) {
    seq.push_back(random_tokens(rng, plen[i], V));
    const float* lb = batched.slot_prefill(seq[i].data(), plen[i], 0, slot[i]);
    std::vector<float> hb(lb, lb + Vp);
    solo.slot_prefill(seq[i].data(), plen[i], 0, slot[i]);
    const float* ls = single.infer_step(seq[i].data(), 1, plen[i], 0);
    // the same code path as a batch-1 prefill, only into another slot: bitwise equal
    CHECK(std::equal(hb.begin(), hb.end(), ls));
  }
  for (int s = 0; s < steps; s++) {
    // one sequence alone (M = 1), then three, then five join
    const int n = s == 0 ? 1 : s < 3 ? 3 : 5;
    std::vector<int32_t> tok(static_cast<size_t>(n));
    std::vector<int> sl(static_cast<size_t>(n)), pos(static_cast<size_t>(n));
    for (int i = 0; i < n; i++) {
      tok[size_t(i)] = int32_t(rng.below(uint64_t(V)));
      sl[size_t(i)] = slot[size_t(i)], pos[size_t(i)] = int(seq[size_t(i)].size());
      seq[size_t(i)].push_back(tok[size_t(i)]);
    }
    const float* lb = batched.slot_decode(tok.data(), sl.data(), pos.data(), n);
    std::vector<float> hb(lb, lb + size_t(n) * Vp);
    for (int i = 0; i < n; i++) {
      // n batch-of-one decode steps over the same history: bitwise, for every n. The few-rows linear op
      // (cpu/matmul_smallm.h) sums each row in an order that does not depend on the other rows, and RoPE,
      // the cache and attention run per row with batch-1 decode's kernels. (Eigen's GEMM, BEOP_SMALLM=0,
      // fails this for n = 3 and 5.)
      {
        const float* l1 = solo.slot_decode(&tok[size_t(i)], &sl[size_t(i)], &pos[size_t(i)], 1);
        CAPTURE(n);
        CHECK(std::equal(l1, l1 + Vp, hb.data() + size_t(i) * Vp));
      }
      // the oracle: the whole sequence so far, one row, recomputed through the single-sequence cache
      const std::vector<int32_t>& q = seq[size_t(i)];
      const float* ls = single.infer_step(q.data(), 1, int(q.size()), 0);
      const float* row = hb.data() + size_t(i) * Vp;
      if (n == 1) {
        // M = 1 runs the very kernels of a batch-1 decode step: against a real one-token step (prefill of
        // all but the last token, then the last one), bitwise
        single.infer_step(q.data(), 1, int(q.size()) - 1, 0);
        const float* ld = single.infer_step(&q.back(), 1, 1, int(q.size()) - 1);
        CHECK(std::equal(row, row + Vp, ld));
      }
      // Batched rows go through (n, C) x (C, OC) GEMMs where a single decode runs matrix-vector products:
      // the same sums in another order, so each dot product of length K <= 4C differs by a few fp32 ulps
      // (|error| <~ sqrt(K) * 2^-24 * sum|x w|). Through 2 layers and the LM head that is ~1e-6 of the
      // logits' scale (measured: at most 6.7e-7); 2e-5 leaves 30x room and still fails on any wrong position,
      // slot or token (those change logits by O(1) relative, e.g. the swapped-slot check below).
      CHECK(rel_err(row, ls, size_t(V)) < 2e-5);
    }
  }
  // a wrong slot is a different sequence: the check above would catch it
  {
    std::vector<int32_t> tok = {7, 7};
    std::vector<int> sl = {2, 0}, pos = {int(seq[0].size()), int(seq[1].size())};
    const float* lb = batched.slot_decode(tok.data(), sl.data(), pos.data(), 2);
    std::vector<float> hb(lb, lb + size_t(2) * Vp);
    CHECK(rel_err(hb.data(), hb.data() + Vp, size_t(V)) > 1e-3);
  }
  // bad input: a slot twice, outside the reserved ones, a position past the context
  std::vector<int32_t> tok = {1, 1};
  std::vector<int> dup = {0, 0}, far = {6, 0}, pos = {1, 1}, big = {48, 1};
  CHECK_THROWS_WITH_AS(batched.slot_decode(tok.data(), dup.data(), pos.data(), 2), doctest::Contains("appears twice"), Error);
  CHECK_THROWS_WITH_AS(batched.slot_decode(tok.data(), far.data(), pos.data(), 2), doctest::Contains("slot 6"), Error);
  CHECK_THROWS_WITH_AS(batched.slot_decode(tok.data(), dup.data() + 1, big.data(), 1), doctest::Contains("position 48"), Error);
}

namespace {
struct Loaded {
  Tokenizer tok;
  std::unique_ptr<CausalLM> lm;
};
Loaded load() {
  Loaded x;
  x.lm = load_causal_lm(test::make_infer_fixture(kDir), &x.tok);
  return x;
}
struct Req {
  std::string prompt;
  GenerateOptions o;
  int delay_ms = 0;
  int cancel_after = -1;  // on_text returns false at this piece
};
}  // namespace

TEST_CASE("continuous batching: concurrent requests give the one-at-a-time tokens; early leavers disturb none") {
  Loaded ref = load(), bat = load();
  Generator gen(*ref.lm, ref.tok);
  std::vector<Req> reqs;
  auto add = [&](const std::string& p, float temp, uint64_t seed, int max_tokens, int delay, float top_p = 1.0f) {
    Req r;
    r.prompt = p, r.delay_ms = delay;
    r.o.sampling.temperature = temp, r.o.sampling.seed = seed, r.o.sampling.top_p = top_p;
    r.o.max_new_tokens = max_tokens, r.o.stop_at_eos = false;
    reqs.push_back(r);
    return reqs.size() - 1;
  };
  add("법원은 판결한다.", 0, 1, 40, 0);
  add("To be or not to be", 0.8f, 7, 30, 0, 0.9f);
  add("hello", 1.0f, 3, 3, 5);  // leaves early: max tokens
  const size_t stop_req = add("근로기준법 제23조 제1항에 따라 사용자는", 0.7f, 11, 40, 10);
  reqs[stop_req].o.stop = {"TOP", "없는"};  // leaves early: a stop string (checked below that it did)
  const size_t cancel_req = add("임대차는 등기가", 0.9f, 5, 40, 0);
  reqs[cancel_req].cancel_after = 2;  // leaves early: the client goes away
  add("민법 제618조", 0, 1, 25, 20);
  add("question. hello world", 1.2f, 99, 35, 30);

  // one at a time
  std::vector<GenerateResult> want;
  for (const Req& r : reqs) {
    int pieces = 0;
    want.push_back(gen.generate(ref.tok.encode(r.prompt), r.o, [&](const std::string&) {
      return r.cancel_after < 0 || ++pieces < r.cancel_after;
    }));
  }
  CHECK(want[2].finish_reason == "length");
  CHECK(want[stop_req].finish_reason == "stop");
  CHECK(want[cancel_req].finish_reason == "cancelled");

  // all at once, joining at different times, 4 slots for 7 requests (so some wait for a slot to free)
  BatchGenerator batch(*bat.lm, bat.tok, 4);
  REQUIRE(batch.slots() == 4);
  std::vector<GenerateResult> got(reqs.size());
  std::vector<std::string> streamed(reqs.size());
  std::vector<std::thread> th;
  for (size_t i = 0; i < reqs.size(); i++)
    th.emplace_back([&, i] {
      const Req& r = reqs[i];
      std::this_thread::sleep_for(std::chrono::milliseconds(r.delay_ms));
      int pieces = 0;
      got[i] = batch.generate(bat.tok.encode(r.prompt), r.o, [&](const std::string& s) {
        streamed[i] += s;
        return r.cancel_after < 0 || ++pieces < r.cancel_after;
      });
    });
  for (auto& t : th) t.join();
  for (size_t i = 0; i < reqs.size(); i++) {
    CAPTURE(i);
    CHECK(got[i].finish_reason == want[i].finish_reason);
    if (i != cancel_req) {  // a cancelled sequence may have run a token further before the scheduler saw it
      CHECK(got[i].tokens == want[i].tokens);
      CHECK(got[i].text == want[i].text);
      CHECK(streamed[i] == got[i].text);
    } else {
      CHECK(std::equal(want[i].tokens.begin(), want[i].tokens.end(), got[i].tokens.begin()));
    }
  }
  // it did batch: more sequence-tokens than steps. (Not "> 1.5x steps": how much the requests overlap depends on
  // how fast a step is against their 0-30 ms arrival delays; with the small-M kernel the first requests ran
  // ahead and it measured 149 rows in 100-109 steps in 3 of 5 runs on a loaded machine.)
  CHECK(batch.rows() > batch.steps());

  // a bad request is refused on the caller's thread, the generator keeps serving
  GenerateOptions o;
  CHECK_THROWS_WITH_AS(batch.generate({}, o), doctest::Contains("empty prompt"), Error);
  o.sampling.temperature = 0, o.max_new_tokens = 40, o.stop_at_eos = false;
  CHECK(batch.generate(bat.tok.encode(reqs[0].prompt), o).tokens == want[0].tokens);
}

TEST_CASE("batched prefill: prompts prefilled together get the logits and cache of their prefill alone, bit for bit") {
  ModelConfig c = tiny_config();
  c.max_seq_len = 160;
  const int V = c.vocab_size, Vp = c.padded_vocab(), S = 4;
  CpuModel batched(c), solo(c);
  batched.init_random(5), solo.init_random(5);
  batched.slots_reserve(S, c.max_seq_len);
  solo.slots_reserve(S, c.max_seq_len);
  Rng rng(17);
  // three prompts longer than the few-row kernel's 32 rows, into slots 3, 0, 2: 130 rows in one prefill
  const std::vector<int> slot = {3, 0, 2}, len = {40, 33, 57};
  std::vector<int32_t> all;
  std::vector<std::vector<int32_t>> prompt;
  for (int n : len) {
    prompt.push_back(random_tokens(rng, n, V));
    all.insert(all.end(), prompt.back().begin(), prompt.back().end());
  }
  // Exact only where each prompt's rows take the packed fp32 GEMM alone and batched (AVX-512; cpu/ops.h's
  // same_row_results), and the last positions the few-row kernel in 3 rows as in 1.
  REQUIRE(batched.prefill_batch_exact(len.data(), 3) == cpu::gemm_f32_enabled());
  const std::vector<int> with_short = {40, 20};  // 20 rows alone take the few-row kernel, 60 together do not
  CHECK_FALSE(batched.prefill_batch_exact(with_short.data(), 2));
  const float* lb = batched.slot_prefill_batch(all.data(), len.data(), slot.data(), 3);
  const std::vector<float> hb(lb, lb + size_t(3) * Vp);
  for (int i = 0; i < 3; i++) {
    CAPTURE(i);
    const float* l1 = solo.slot_prefill(prompt[size_t(i)].data(), len[size_t(i)], 0, slot[size_t(i)]);
    if (cpu::gemm_f32_enabled())
      CHECK(std::equal(l1, l1 + V, hb.data() + size_t(i) * Vp));
    else  // Eigen's GEMM: the same sums in another order (the bound of the decode test above)
      CHECK(rel_err(hb.data() + size_t(i) * Vp, l1, size_t(V)) < 2e-5);
  }
  // the caches hold the same keys and values: one decode step of all three from them agrees bit for bit
  const std::vector<int32_t> tok = {5, 9, 11};
  const float* db = batched.slot_decode(tok.data(), slot.data(), len.data(), 3);
  const std::vector<float> hdb(db, db + size_t(3) * Vp);
  const float* ds = solo.slot_decode(tok.data(), slot.data(), len.data(), 3);
  if (cpu::gemm_f32_enabled()) CHECK(std::equal(hdb.begin(), hdb.end(), ds));
  // bad input: more rows than the prefill plan, a slot twice, an empty prompt
  const std::vector<int> too_long = {100, 61}, two = {0, 0}, empty = {0};
  std::vector<int32_t> many(161, 1);
  CHECK_THROWS_WITH_AS(batched.slot_prefill_batch(many.data(), too_long.data(), slot.data(), 2),
                       doctest::Contains("161 tokens in all exceed the 160 rows"), Error);
  CHECK_THROWS_WITH_AS(batched.slot_prefill_batch(all.data(), len.data(), two.data(), 2),
                       doctest::Contains("appears twice"), Error);
  CHECK_THROWS_WITH_AS(batched.slot_prefill_batch(all.data(), empty.data(), slot.data(), 1),
                       doctest::Contains("a prompt of 0 tokens"), Error);
}

namespace {
// Delegates to a model and counts the batched prefills; the first single prefill waits until `arrived` requests
// have been submitted, so that those join the generator together (the scheduler is busy meanwhile).
struct CountingLM : CausalLM {
  CausalLM& in;
  std::atomic<int>& arrived;
  int wait_for;
  std::atomic<bool> waited{false};
  int batched_calls = 0, batched_prompts = 0;
  CountingLM(CausalLM& m, std::atomic<int>& a, int w) : in(m), arrived(a), wait_for(w) {}
  const ModelConfig& config() const override { return in.config(); }
  void reset(int context) override { in.reset(context); }
  std::vector<float> step(const int32_t* t, int n, int pos0) override { return in.step(t, n, pos0); }
  std::vector<double> token_logprobs(const int32_t* t, int n) override { return in.token_logprobs(t, n); }
  std::vector<float> full_logits(const int32_t* t, int n) override { return in.full_logits(t, n); }
  int reset_slots(int slots, int context) override { return in.reset_slots(slots, context); }
  std::vector<float> prefill_slot(int slot, const int32_t* t, int n, int pos0) override {
    if (!waited) {
      waited = true;
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);  // never hang the test
      while (arrived < wait_for && std::chrono::steady_clock::now() < give_up)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // from generate() to the queue
    }
    return in.prefill_slot(slot, t, n, pos0);
  }
  std::vector<float> decode_slots(const int32_t* t, const int* slot, const int* pos, int n) override {
    return in.decode_slots(t, slot, pos, n);
  }
  bool prefill_exact(const int* lens, int n) override { return in.prefill_exact(lens, n); }
  std::vector<float> prefill_slots(const int32_t* t, const int* lens, const int* slots, int n) override {
    batched_calls++, batched_prompts += n;
    return in.prefill_slots(t, lens, slots, n);
  }
};
}  // namespace

TEST_CASE("continuous batching: prompts that join together are prefilled together, with the one-at-a-time tokens") {
  Loaded ref, bat;
  ref.lm = load_causal_lm(test::make_infer_fixture(kDir + "_long", 256), &ref.tok);
  bat.lm = load_causal_lm(test::make_infer_fixture(kDir + "_long", 256), &bat.tok);
  Generator gen(*ref.lm, ref.tok);
  // a first request, then three long prompts (> 32 tokens each) that arrive while its prefill runs
  std::vector<std::string> prompts = {"민법 제618조"};
  const std::string law = "근로기준법 제23조 제1항에 따라 사용자는 근로자에게 정당한 이유 없이 해고를 하지 못한다. ";
  for (int i = 0; i < 3; i++) prompts.push_back(law + std::to_string(i) + " " + law);
  for (size_t i = 1; i < prompts.size(); i++) REQUIRE(bat.tok.encode(prompts[i]).size() > 32);
  GenerateOptions o;
  o.sampling.temperature = 0.8f, o.max_new_tokens = 12, o.stop_at_eos = false;
  std::vector<GenerateResult> want;
  for (size_t i = 0; i < prompts.size(); i++) {
    o.sampling.seed = 40 + i;
    want.push_back(gen.generate(ref.tok.encode(prompts[i]), o));
  }
  std::atomic<int> arrived{0};
  CountingLM counting(*bat.lm, arrived, 3);
  std::vector<GenerateResult> got(prompts.size());
  {
    BatchGenerator batch(counting, bat.tok, 4);
    std::vector<std::thread> th;
    for (size_t i = 0; i < prompts.size(); i++)
      th.emplace_back([&, i] {
        if (i > 0) {  // after the first request is in
          const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
          while (!counting.waited && std::chrono::steady_clock::now() < give_up)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
          arrived++;
        }
        GenerateOptions oi = o;
        oi.sampling.seed = 40 + i;
        got[i] = batch.generate(bat.tok.encode(prompts[i]), oi);
      });
    for (auto& t : th) t.join();
  }
  for (size_t i = 0; i < prompts.size(); i++) {
    CAPTURE(i);
    CHECK(got[i].tokens == want[i].tokens);
  }
  if (cpu::gemm_f32_enabled()) {  // the three long prompts in one prefill (elsewhere prefill_exact says no)
    CHECK(counting.batched_calls == 1);
    CHECK(counting.batched_prompts == 3);
  } else {
    CHECK(counting.batched_calls == 0);
  }
}
