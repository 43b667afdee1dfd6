// bf16 / Q8_0 inference (src/q8_0.h, cpu/matmul_lowp.h, cpu/model_cpu.h convert_lowp, infer --dtype):
//   - the formats: fp16 / bf16 rounding against the hardware conversion, Q8_0 blocks as ggml writes them;
//   - the kernels (AVX-512 and the forced scalar fallback) for M = 1..9 rows against an fp64 reference, with
//     tolerances derived from the formats (see the comments at each bound);
//   - q8 on a dimension that is not a multiple of 32: an Error naming the tensor (bf16 runs it: masked tail);
//   - a model trained here for 150 steps on bundled statute text: `score` loss at q8 within 0.01 nats/token of
//     fp32 and at bf16 within 0.002 (issue 17), in-process and through `./infer score --dtype`.
#include <doctest/doctest.h>
#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "cpu/matmul_lowp.h"
#include "cpu/model_cpu.h"
#include "src/checkpoint.h"
#include "src/io.h"
#include "src/q8_0.h"
#include "src/rng.h"
#include "tests/test_util.h"

using namespace beop;
using namespace beop::cpu;

namespace {
const std::string kDir = "build/test_matmul_lowp";

// The hardware conversions (F16C) as the oracle; target attributes, so that builds without -march=native (the
// sanitizer build) compile them, and a run-time check before they are called.
__attribute__((target("f16c"))) uint16_t hw_fp16(float f) { return uint16_t(_cvtss_sh(f, 0)); }
__attribute__((target("f16c"))) float hw_fp32(uint16_t h) { return _cvtsh_ss(h); }

std::vector<float> random_vec(size_t n, uint64_t seed, double scale) {
  Rng r(seed);
  std::vector<float> v(n);
  for (float& x : v) x = float(scale * r.normal());
  return v;
}
}  // namespace

TEST_CASE("formats: fp16 and bf16 round to nearest even; Q8_0 blocks are ggml's") {
  Rng r(1);
  REQUIRE(__builtin_cpu_supports("f16c"));  // every x86-64 CPU with AVX has it
  for (int i = 0; i < 200000; i++) {  // every magnitude from fp16 subnormals to overflow, both signs
    const float f = float((r.uniform() - 0.5) * std::ldexp(1.0, int(r.below(44)) - 26));
    REQUIRE(fp32_to_fp16(f) == hw_fp16(f));
    REQUIRE(fp16_to_fp32(fp32_to_fp16(f)) == hw_fp32(hw_fp16(f)));
  }
  CHECK(fp32_to_fp16(70000.f) == 0x7c00);
  CHECK(fp32_to_bf16(1.0f) == 0x3f80);
  CHECK(fp32_to_bf16(bf16_to_fp32(0x3f80) + std::ldexp(1.0f, -8)) == 0x3f80);   // tie -> even
  CHECK(fp32_to_bf16(bf16_to_fp32(0x3f81) + std::ldexp(1.0f, -8)) == 0x3f82);   // tie -> even (up)
  float x[32];
  for (int j = 0; j < 32; j++) x[j] = float(j - 16) * 0.25f;  // amax 4: d = 4/127, q = round(x * 127/4)
  x[5] = -0.0625f;
  BlockQ8_0 b;
  q8_0_quantize(&b, x, 32);
  CHECK(b.d == fp32_to_fp16(4.0f / 127.0f));
  CHECK(b.qs[0] == -127);
  CHECK(b.qs[5] == -2);  // -0.0625 * 31.75 = -1.984 -> -2
  CHECK(b.qs[16] == 0);
  CHECK(b.qs[31] == 119);  // 3.75 * 31.75 = 119.06
  BlockQ8_0 z;
  float zeros[32] = {};
  q8_0_quantize(&z, zeros, 32);
  CHECK((z.d == 0 && z.qs[7] == 0));
}

// Checks lowp_linear for W (OC, IC) and M rows, on the fast kernel (where the CPU has it) and the scalar one.
// ties: activations whose Q8_0 values are exact halves (each block's amax 127, so d = 1 and x * id = x): q8_0_quantize
// rounds them away from zero (roundf); a vectorized quantizer that rounded to nearest even would differ.
static void check_kernel(LowpType t, int OC, int IC, int M, bool ties = false) {
  CAPTURE(OC);
  CAPTURE(IC);
  CAPTURE(M);
  CAPTURE(ties);
  const std::vector<float> W = random_vec(size_t(OC) * IC, 7 + OC, 0.05);
  std::vector<float> X = random_vec(size_t(M) * IC, 9 + M, 1.0);
  if (ties && t == LowpType::kQ8)
    for (size_t i = 0; i < X.size(); i++) X[i] = i % 32 == 0 ? 127.f : float(int(i * 37 % 253) - 126) + 0.5f;
  if (ties && t == LowpType::kBf16)  // bf16 ties: 1 + 2^-8 rounds down to even, 1 + 3 * 2^-8 up; signs mixed
    for (size_t i = 0; i < X.size(); i++) X[i] = (i % 2 ? 1.0f + std::ldexp(1.0f, -8) : 1.0f + 3 * std::ldexp(1.0f, -8)) * (i % 3 ? 1.f : -1.f);
  const LowpMatrix Q(t, W.data(), OC, IC, "w");
  for (LowpIsa isa : {LowpIsa::kAuto, LowpIsa::kScalar}) {
    std::vector<float> out(size_t(M) * OC, NAN);
    lowp_linear(out.data(), X.data(), Q, M, isa);
    for (int m = 0; m < M; m++) {
      const float* x = X.data() + size_t(m) * IC;
      // The activation row as the kernel sees it: bf16-rounded, or Q8_0 blocks (fp16 scale d16, q = round(x / d)).
      std::vector<float> xr(x, x + IC);
      std::vector<double> dblk(size_t(IC / 32 + 1), 0);
      if (t == LowpType::kBf16) {
        bf16_round_trip(xr.data(), size_t(IC));
      } else {
        for (int b = 0; b < IC / 32; b++) {
          BlockQ8_0 blk;
          q8_0_quantize(&blk, x + b * 32, 32);
          dblk[size_t(b)] = fp16_to_fp32(blk.d);
        }
        q8_0_round_trip(xr.data(), size_t(IC));
      }
      for (int o = 0; o < OC; o++) {
        double exact = 0, ideal = 0, mag = 0, qerr = 0;  // fp64 sums over the dequantized weights
        for (int i = 0; i < IC; i++) {
          const double w = Q.weight(o, i);
          exact += w * xr[size_t(i)];
          ideal += w * x[i];
          mag += std::fabs(w * xr[size_t(i)]);
          // |x - its rounded value|: bf16 rounding is within 2^-9 relative; a Q8_0 value within d/2 of x plus
          // 127 |d - d16| <= 127 * d * 2^-11 from the fp16 scale (d ~ d16 here).
          qerr += std::fabs(w) * (t == LowpType::kBf16 ? std::ldexp(std::fabs(x[i]), -9)
                                                       : dblk[size_t(i / 32)] * (0.5 + 127 * std::ldexp(1.0, -11)) * 1.001);
        }
        // What the kernel computes exactly (products exact: bf16 x bf16 fits fp32, Q8_0 block sums are exact int32)
        // up to fp32 rounding of the per-block scale products and of the accumulation: (IC/32 + IC/16 + 3) eps.
        const double acc_bound = (IC / 16.0 + IC / 32.0 + 3) * std::ldexp(1.0, -24) * mag + 1e-30;
        const double got = out[size_t(m) * OC + o];
        REQUIRE(std::fabs(got - exact) <= acc_bound);
        REQUIRE(std::fabs(got - ideal) <= qerr + acc_bound);
      }
    }
  }
}

TEST_CASE("lowp_linear: bf16 and q8 for M = 1..9 rows against an fp64 reference, fast kernel and fallback") {
  MESSAGE("fast bf16 kernel here: ", lowp_fast(LowpType::kBf16), ", fast q8 kernel: ", lowp_fast(LowpType::kQ8));
  for (LowpType t : {LowpType::kBf16, LowpType::kQ8})
    for (int M : {1, 2, 3, 4, 5, 9}) {
      check_kernel(t, 37, 96, M);   // 3 blocks: one pair and an odd block
      check_kernel(t, 20, 256, M);  // 8 blocks
    }
  // the one-row kernels' unrolled loops (4 x 32 bf16 / 4 q8 blocks per step) with every kind of remainder:
  // bf16 IC 200 = 128 + 2 x 32 + 8 (masked), 384 = 3 x 128; q8 IC 224 = 4 + 3 blocks, 160 = 4 + 1, 512 = 4 x 4
  for (int IC : {200, 384}) check_kernel(LowpType::kBf16, 11, IC, 1);
  for (int IC : {224, 160, 512}) check_kernel(LowpType::kQ8, 11, IC, 1);
  for (int M : {1, 5}) {  // the vectorized activation conversions round ties as the scalar ones
    check_kernel(LowpType::kQ8, 9, 160, M, true);
    check_kernel(LowpType::kBf16, 9, 136, M, true);  // 136 = 8 x 16 + 8: the conversion's scalar tail too
  }

  check_kernel(LowpType::kBf16, 19, 100, 3);  // bf16 needs no multiple of 32: masked tail
  check_kernel(LowpType::kBf16, 5, 7, 2);
}

TEST_CASE("q8 on a dimension that is not a multiple of 32: one Error naming the tensor") {
  const std::vector<float> W(4 * 48, 0.5f);
  CHECK(test::error_of([&] { LowpMatrix(LowpType::kQ8, W.data(), 4, 48, "lm_head"); }) ==
        "lm_head (4 x 48): --dtype q8 needs the input dimension to be a multiple of 32 (Q8_0 blocks); use --dtype "
        "bf16 or fp32 for this model");
  ModelConfig c = preset("tiny");
  c.vocab_size = 300;
  c.n_layers = 1;
  c.d_model = 80;  // 5 heads of 16
  c.n_heads = 5;
  c.n_kv_heads = 5;
  c.head_dim = 16;
  c.max_seq_len = 16;
  c.validate();
  CpuModel m(c);
  m.init_random(1);
  const std::vector<float> p(m.params(), m.params() + m.layout().total);
  CHECK(test::error_of([&] { cpu::make_lm(c, p, "q8"); }).find("model.layers.0.self_attn.q_proj|k_proj|v_proj (240 x 80)") == 0);
  auto lm = cpu::make_lm(c, p, "bf16");  // bf16 runs it
  const int32_t toks[3] = {1, 2, 3};
  lm->reset(8);
  CHECK(std::isfinite(lm->step(toks, 3, 0)[5]));
}

namespace {
// A small model trained here on statute text (so the loss means something), its tokenizer and held-out ids.
struct Trained {
  ModelConfig cfg;
  std::vector<float> params;
  std::vector<int32_t> held_out;
  std::string run;
};

const Trained& trained() {
  static const Trained tr = [] {
    Trained t;
    make_dirs(kDir);
    const std::string all = read_file(data_dir() + "/statutes/근로기준법.md");
    const std::string text = all.substr(0, all.rfind('\n', 60000));  // whole lines: never a cut UTF-8 sequence
    BpeTrainOptions bo;
    bo.vocab_size = 512;
    bo.progress = false;
    bo.threads = 1;
    Tokenizer::train_from_texts({text}, bo).save(kDir + "/tok.json");
    const Tokenizer tok = Tokenizer::load(kDir + "/tok.json");
    const std::vector<int32_t> ids = tok.encode(text);
    const size_t split = ids.size() * 9 / 10;
    t.held_out.assign(ids.begin() + long(split), ids.end());
    ModelConfig c = preset("tiny");
    c.vocab_size = tok.vocab_size();
    c.n_layers = 2;
    c.max_seq_len = 128;
    CpuModel m(c);
    m.init_random(3);
    const int B = 8, T = 64, steps = 150;
    m.reserve(B, T, ActMode::kTrain);
    AdamWConfig ac;
    Rng r(5);
    std::vector<int32_t> x(size_t(B) * T), y(x.size());
    for (int s = 0; s < steps; s++) {
      for (int b = 0; b < B; b++) {
        const size_t at = size_t(r.below(split - T - 1));
        for (int i = 0; i < T; i++) x[size_t(b) * T + i] = ids[at + i], y[size_t(b) * T + i] = ids[at + i + 1];
      }
      m.zero_grad();
      m.forward(x.data(), y.data(), nullptr, B, T);
      m.backward(1.0 / (B * T));
      m.step(ac, 3e-3 * std::min(1.0, (s + 1) / 20.0));
    }
    t.cfg = c;
    t.params.assign(m.params(), m.params() + m.layout().total);
    CheckpointState st;
    st.stage = "pretrain";
    t.run = kDir + "/run";
    save_checkpoint(t.run, 150, c, t.params.data(), nullptr, nullptr, t.params.size(), 0, st, kDir + "/tok.json");
    write_file_atomic(kDir + "/held_out.txt", tok.decode(t.held_out));
    return t;
  }();
  return tr;
}

double mean_loss(const std::string& dtype) {
  const Trained& t = trained();
  auto lm = cpu::make_lm(t.cfg, t.params, dtype);
  const std::vector<double> lp = score_tokens(*lm, t.held_out);
  double s = 0;
  for (double v : lp) s -= v;
  return s / double(lp.size());
}
}  // namespace

TEST_CASE("score on held-out statute text: q8 within 0.01 nats/token of fp32, bf16 within 0.002") {
  const double f = mean_loss("fp32"), b = mean_loss("bf16"), q = mean_loss("q8");
  MESSAGE("held-out loss fp32 ", f, "  bf16 ", b, "  q8 ", q, "  (", trained().held_out.size(), " tokens)");
  CHECK(f < 4.5);  // the model learned something (uniform over 512 ids would be 6.24)
  CHECK(std::fabs(b - f) < 0.002);
  CHECK(std::fabs(q - f) < 0.01);
  CHECK(b != f);  // the conversion happened
  CHECK(q != f);
}

TEST_CASE("./infer score --dtype: the flag reaches the model; BEOP_LOWP_FALLBACK=1 runs the scalar kernel with a notice") {
  const Trained& t = trained();
  auto loss_of = [](const std::string& out) {
    const size_t at = out.find("loss ");
    return at == std::string::npos ? NAN : std::stod(out.substr(at + 5));
  };
  const std::string base = "./infer score --model " + t.run + " --file " + kDir + "/held_out.txt";
  const test::ShellResult f = test::shell(base), q = test::shell(base + " --dtype q8"),
                          qs = test::shell("BEOP_LOWP_FALLBACK=1 " + base + " --dtype q8");
  REQUIRE(f.rc == 0);
  REQUIRE(q.rc == 0);
  REQUIRE(qs.rc == 0);
  CHECK(std::fabs(loss_of(q.out) - loss_of(f.out)) < 0.01);
  CHECK(loss_of(q.out) != loss_of(f.out));
  CHECK(std::fabs(loss_of(qs.out) - loss_of(q.out)) < 1e-4);  // same integers, another fp32 summation order
  CHECK(qs.out.find("note: --dtype q8: BEOP_LOWP_FALLBACK is set; running the portable scalar kernel") != std::string::npos);
  CHECK(q.out.find("note:") == (lowp_fast(LowpType::kQ8) ? std::string::npos : q.out.find("note:")));
  const test::ShellResult bad = test::shell(base + " --dtype int4");
  CHECK(bad.rc == 2);
  CHECK(bad.out.find("--dtype must be fp32, bf16 or q8, got 'int4'") != std::string::npos);
}
