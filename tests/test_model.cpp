// Whole-model tests of the CPU path: finite-difference gradients in double, gradient accumulation,
// determinism, presets, memory plan, bad input.
#include <doctest/doctest.h>

#include <cstring>

#include "cpu/model_cpu.h"
#include "src/memory_table.h"
#include "tests/test_util.h"

using namespace beop;
using beop::test::max_rel_err;

static ModelConfig micro_config(bool tied) {
  ModelConfig c;
  c.name = "micro";
  c.vocab_size = 37;  // padded to 128: padding rows must get zero gradient
  c.d_model = 8;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 4;
  c.ffn_hidden = 12;
  c.max_seq_len = 8;
  c.tied_embeddings = tied;
  return c;
}

using Batch = test::RandomBatch;
// About 70% of the loss mask on, and always the first position (so every batch has a loss).
static Batch random_batch(const ModelConfig& c, int B, int T, uint64_t seed) {
  Batch b = test::random_batch(c.vocab_size, B, T, seed, 0.7);
  b.mask[0] = 1;
  return b;
}

// Randomises the norm gains too (init sets them to 1, which would hide errors in their gradients).
template <class M>
static void perturb_norms(M& m, uint64_t seed) {
  Rng r(seed);
  for (const TensorInfo& t : m.layout().tensors)
    if (t.shape.size() == 1)
      for (size_t i = 0; i < t.numel; i++) m.params()[t.offset + i] += 0.3 * r.normal();
}

// Step for central differences. The model's third derivatives are large (weights are scaled up below), so
// truncation error O(h^2) dominates: measured max errors were 2.5e-4, 2.5e-6, < 1e-7 at h = 1e-4, 1e-5, 1e-6
// (falling as h^2, which is what separates truncation from a wrong gradient). Rounding error at h = 1e-6
// is ~1e-16 / 1e-6 = 1e-10 relative, far below the 1e-7 bound.
static constexpr double kH = 1e-6;
static void check_model_gradients(bool tied, bool bias = false) {
  ModelConfig cfg = micro_config(tied);
  cfg.attn_bias = bias;
  CpuModelF64 m(cfg);
  m.init_random(42);
  perturb_norms(m, 43);  // and the biases, which init sets to 0
  // Larger weights than the 0.02 init so the loss is far from uniform and every path matters.
  for (size_t i = 0; i < m.layout().total; i++) m.params()[i] *= 10;
  const int B = 2, T = 5;
  Batch b = random_batch(cfg, B, T, 7);
  auto loss = [&] { return m.forward(b.x.data(), b.y.data(), b.mask.data(), B, T).mean(); };
  m.zero_grad();
  const LossSum ls = m.forward(b.x.data(), b.y.data(), b.mask.data(), B, T);
  m.backward(1.0 / double(ls.count));
  std::vector<double> analytic(m.grads(), m.grads() + m.layout().total);
  // Central differences per tensor (see kH).
  for (const TensorInfo& t : m.layout().tensors) {
    std::vector<double> num(t.numel);
    for (size_t i = 0; i < t.numel; i++) {
      double& p = m.params()[t.offset + i];
      const double keep = p;
      p = keep + kH;
      const double lp = loss();
      p = keep - kH;
      const double lm = loss();
      p = keep;
      num[i] = (lp - lm) / (2 * kH);
    }
    INFO("tensor ", t.name);
    CHECK(max_rel_err(analytic.data() + t.offset, num.data(), t.numel) < 1e-7);
  }
  // Padding rows of the embedding (37..127) get exactly zero gradient.
  for (size_t i = size_t(cfg.vocab_size) * cfg.d_model; i < size_t(cfg.padded_vocab()) * cfg.d_model; i++)
    REQUIRE(analytic[m.layout().tok_emb + i] == 0.0);
}

TEST_CASE("whole model: finite-difference gradients of every parameter (untied)") { check_model_gradients(false); }
TEST_CASE("whole model: finite-difference gradients of every parameter (tied head)") { check_model_gradients(true); }
// The CPU check of cpu/bias.h (bias_forward, bias_backward on the q/k/v projections): it has no unit test.
TEST_CASE("whole model: finite-difference gradients with q/k/v biases (Qwen2)") {
  check_model_gradients(false, true);
  const ParamLayout lay(
      [] { ModelConfig c = micro_config(false); c.attn_bias = true; return c; }());
  const TensorInfo* bq = lay.find("model.layers.1.self_attn.q_proj.bias");
  REQUIRE(bq);
  CHECK(lay.find("model.layers.1.self_attn.k_proj.bias")->offset == bq->offset + 16);  // q|k|v contiguous
  CHECK_FALSE(bq->decay);
}

TEST_CASE("gradient accumulation over micro-batches equals one big batch") {
  const ModelConfig cfg = micro_config(false);
  CpuModelF64 big(cfg), acc(cfg);
  big.init_random(1);
  acc.init_random(1);
  const int T = 6;
  Batch b = random_batch(cfg, 2, T, 9);
  big.zero_grad();
  const LossSum all = big.forward(b.x.data(), b.y.data(), b.mask.data(), 2, T);
  big.backward(1.0 / all.count);
  acc.zero_grad();
  for (int r = 0; r < 2; r++) {
    acc.forward(b.x.data() + r * T, b.y.data() + r * T, b.mask.data() + r * T, 1, T);
    acc.backward(1.0 / all.count);
  }
  CHECK(max_rel_err(acc.grads(), big.grads(), cfg.num_params()) < 1e-12);
}

TEST_CASE("training is deterministic: same seed and threads, bit-identical losses") {
  auto run = [] {
    CpuModel m(preset("tiny"));
    m.init_random(5);
    std::vector<float> losses;
    AdamWConfig opt;
    for (int step = 0; step < 3; step++) {
      Batch b = random_batch(m.config(), 2, 32, 100 + step);
      m.zero_grad();
      LossSum ls = m.forward(b.x.data(), b.y.data(), b.mask.data(), 2, 32);
      m.backward(1.0 / ls.count);
      m.step(opt, 1e-3);
      losses.push_back(float(ls.mean()));
    }
    return losses;
  };
  const std::vector<float> a = run(), b = run();
  REQUIRE(a.size() == 3);
  CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
  CHECK(a[2] != a[0]);  // it trained
}

TEST_CASE("presets: parameter counts and shapes") {
  const ModelConfig tiny = preset("tiny");
  CHECK(tiny.num_params() >= 1000000);
  CHECK(tiny.num_params() <= 2000000);
  const ModelConfig s = preset("small");
  CHECK(s.vocab_size == 8192);
  CHECK(s.d_model == 256);
  CHECK(s.n_layers == 6);
  CHECK(s.n_heads == 8);
  CHECK(s.n_kv_heads == 4);
  CHECK(s.ffn_hidden == 704);
  CHECK(s.max_seq_len == 256);
  // Count by hand: embedding + head 2*8192*256, per layer 2*256 norms + 256*256 q + 2*256*128 k,v
  // + 256*256 o + 3*256*704 MLP, + final norm 256.
  const int64_t per_layer = 2 * 256 + 256 * 256 + 2 * 256 * 128 + 256 * 256 + 3 * 256 * 704;
  CHECK(s.num_params() == 2 * 8192 * 256 + 6 * per_layer + 256);
  for (const std::string& n : preset_names()) CHECK_NOTHROW(preset(n).validate());
  CHECK(preset("1b").padded_vocab() == 128256);
  CHECK_THROWS_WITH_AS(preset("7b"), doctest::Contains("unknown model preset '7b'"), Error);
  const ParamLayout lay(s);
  CHECK(lay.total == size_t(s.num_params()));
  const TensorInfo* q = lay.find("model.layers.5.self_attn.q_proj.weight");
  REQUIRE(q);
  CHECK(q->shape == std::vector<int64_t>{256, 256});
  CHECK(q->decay);
  CHECK_FALSE(lay.find("model.norm.weight")->decay);
  // q, k, v adjacent: one fused (QKV, C) matrix; gate and up likewise
  CHECK(lay.layers[2].wk == lay.layers[2].wq + 256 * 256);
  CHECK(lay.layers[2].wv == lay.layers[2].wk + 128 * 256);
  CHECK(lay.layers[2].w_up == lay.layers[2].w_gate + 704 * 256);
}

TEST_CASE("memory table lists tensors and the right total") {
  CpuModel m(preset("tiny"));
  m.reserve(2, 16);
  const std::string t = m.memory_table();
  CHECK(t.find("model.embed_tokens.weight") != std::string::npos);
  CHECK(t.find("layers.*.qkv") != std::string::npos);
  const size_t expect = 4 * m.layout().total * sizeof(float) + m.plan()->total * sizeof(float);
  CHECK(t.find(human_bytes(double(expect))) != std::string::npos);
  CHECK(human_bytes(1536) == "1.50 KiB");
}

TEST_CASE("learning-rate schedules") {
  LrSchedule s;
  s.lr = 1.0, s.min_lr = 0.1, s.warmup = 10, s.total_steps = 110;
  CHECK(s.at(0) == doctest::Approx(0.1));
  CHECK(s.at(9) == doctest::Approx(1.0));
  CHECK(s.at(10) == doctest::Approx(1.0));
  CHECK(s.at(60) == doctest::Approx(0.55));  // cosine midpoint = (lr + min_lr) / 2
  CHECK(s.at(110) == doctest::Approx(0.1));
  CHECK(s.at(500) == doctest::Approx(0.1));
  s.kind = LrSchedule::kLinear;
  CHECK(s.at(35) == doctest::Approx(1.0 - 0.9 * 0.25));
  s.kind = LrSchedule::kConstant;
  CHECK(s.at(100) == doctest::Approx(1.0));
  CHECK_THROWS_WITH_AS(LrSchedule::parse("exp"), doctest::Contains("unknown learning-rate schedule 'exp'"), Error);
}

TEST_CASE("bad input: inconsistent configs, out-of-vocabulary ids, too-long sequences") {
  ModelConfig c = micro_config(false);
  c.n_kv_heads = 3;
  CHECK_THROWS_WITH_AS(c.validate(), doctest::Contains("n_heads 4 is not divisible by n_kv_heads 3"), Error);
  c = micro_config(false);
  c.head_dim = 5;
  CHECK_THROWS_WITH_AS(c.validate(), doctest::Contains("head_dim 5 is odd"), Error);
  c = micro_config(false);
  c.d_model = 0;
  CHECK_THROWS_WITH_AS(ParamLayout{c}, doctest::Contains("d_model must be positive"), Error);

  CpuModel m(micro_config(false));
  m.init_random(1);
  std::vector<int32_t> x = {1, 2, 37, 4}, y = {1, 2, 3, 4};
  CHECK_THROWS_WITH_AS(m.forward(x.data(), y.data(), nullptr, 1, 4),
                       doctest::Contains("token id 37 at batch row 0 position 2 is outside the vocabulary [0, 37)"),
                       Error);
  x[2] = 3;
  y[3] = -1;
  CHECK_THROWS_WITH_AS(m.forward(x.data(), y.data(), nullptr, 1, 4), doctest::Contains("target id -1"), Error);
  std::vector<uint8_t> mask = {1, 1, 1, 0};  // a masked target is never read, so -1 (padding) is fine there
  CHECK_NOTHROW(m.forward(x.data(), y.data(), mask.data(), 1, 4));
  std::vector<int32_t> longx(9, 1);
  CHECK_THROWS_WITH_AS(m.forward(longx.data(), nullptr, nullptr, 1, 9),
                       doctest::Contains("sequence length 9 exceeds the model's max_seq_len 8"), Error);
}
