// Generation with a KV cache must compute exactly what the full forward computes: prefill + one-token decode
// steps against a full recompute of the whole prefix at every step. This is the CPU check of cpu/kv_cache.h
// (kv_store, attention_cached), reached through Model::infer_step.
#include <doctest/doctest.h>

#include "cpu/model_cpu.h"
#include <set>

#include "tests/test_util.h"

using namespace beop;
using beop::test::max_rel_err;

static ModelConfig cfg_small() {
  ModelConfig c = preset("tiny");
  c.vocab_size = 300;
  c.n_layers = 2;
  c.max_seq_len = 64;
  return c;
}

// Logits of the last position of each row from the training-path forward over the whole prefix.
template <class M>
static std::vector<double> full_last_logits(M& m, const std::vector<int32_t>& toks, int B, int T) {
  m.reserve(B, T, ActMode::kEval);
  m.forward(toks.data(), nullptr, nullptr, B, T);
  const int V = m.config().vocab_size, Vp = m.config().padded_vocab();
  std::vector<double> out;
  for (int b = 0; b < B; b++)
    for (int v = 0; v < V; v++) out.push_back(double(m.acts().logits[(size_t(b) * T + T - 1) * Vp + v]));
  return out;
}

TEST_CASE("KV cache: prefill and every decode step equal the full forward (double: to rounding)") {
  CpuModelF64 m(cfg_small());
  m.init_random(3);
  for (size_t i = 0; i < m.layout().total; i++) m.params()[i] *= 8;  // sharper logits
  const int B = 2, P = 5, steps = 12;
  Rng r(4);
  std::vector<std::vector<int32_t>> rows(B);
  for (auto& row : rows)
    for (int i = 0; i < P; i++) row.push_back(int32_t(r.below(300)));
  m.infer_reserve(B, 32);
  std::vector<int32_t> chunk;
  for (auto& row : rows) chunk.insert(chunk.end(), row.begin(), row.end());
  const double* logits = m.infer_step(chunk.data(), B, P, 0);
  for (int s = 0; s <= steps; s++) {
    const int T = int(rows[0].size());
    std::vector<int32_t> flat;
    for (auto& row : rows) flat.insert(flat.end(), row.begin(), row.end());
    std::vector<double> cached;
    for (int b = 0; b < B; b++)
      for (int v = 0; v < 300; v++) cached.push_back(logits[size_t(b) * m.config().padded_vocab() + v]);
    const std::vector<double> full = full_last_logits(m, flat, B, T);
    INFO("decode step ", s);
    // Same arithmetic in a different order (cached K/V, GEMV vs GEMM): double rounding only.
    CHECK(max_rel_err(cached, full) < 1e-12);
    // append the next token (argmax of row b) and decode one step
    std::vector<int32_t> next;
    for (int b = 0; b < B; b++) {
      int best = 0;
      for (int v = 1; v < 300; v++) best = cached[b * 300 + v] > cached[b * 300 + best] ? v : best;
      rows[b].push_back(best);
      next.push_back(best);
    }
    logits = m.infer_step(next.data(), B, 1, T);
  }
}

TEST_CASE("KV cache: greedy generation in float is token-identical to full recompute") {
  CpuModel m(cfg_small());
  m.init_random(9);
  for (size_t i = 0; i < m.layout().total; i++) m.params()[i] *= 8;
  std::vector<int32_t> prompt = {5, 17, 250, 3}, a = prompt, b = prompt;
  m.infer_reserve(1, 64);
  const float* lg = m.infer_step(prompt.data(), 1, int(prompt.size()), 0);
  for (int s = 0; s < 24; s++) {
    const std::vector<float> l = m.download_logits(lg, 1);
    const int next = int(std::max_element(l.begin(), l.end()) - l.begin());
    a.push_back(next);
    lg = m.infer_step(&a.back(), 1, 1, int(a.size()) - 1);
    const std::vector<double> full = full_last_logits(m, b, 1, int(b.size()));
    b.push_back(int(std::max_element(full.begin(), full.end()) - full.begin()));
  }
  CHECK(a == b);
  std::set<int32_t> distinct(a.begin() + 4, a.end());
  CHECK(distinct.size() > 1);  // not a degenerate repeat of one token
}

TEST_CASE("KV cache: bad positions and contexts are refused") {
  CpuModel m(cfg_small());
  m.init_random(1);
  CHECK_THROWS_WITH_AS(m.infer_reserve(1, 65), doctest::Contains("exceeds the model's max_seq_len 64"), Error);
  m.infer_reserve(1, 8);
  std::vector<int32_t> t(9, 1);
  CHECK_THROWS_WITH_AS(m.infer_step(t.data(), 1, 9, 0), doctest::Contains("exceed the context of 8 tokens"), Error);
  CHECK_THROWS_WITH_AS(m.infer_step(t.data(), 2, 1, 0), doctest::Contains("infer_reserve(2"), Error);
  t[0] = 300;
  CHECK_THROWS_WITH_AS(m.infer_step(t.data(), 1, 1, 0), doctest::Contains("token id 300"), Error);
}
