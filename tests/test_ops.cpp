// Finite-difference gradient checks of every CPU op, in double precision.
// Method: for an op y = f(x) and a fixed random upstream gradient G, the scalar L = sum(G * y) has
// dL/dx = the op's backward applied to G. Central differences with h = 1e-5 have truncation error
// O(h^2) ~ 1e-10 and rounding error ~ 1e-16 / h ~ 1e-11 relative, so 1e-7 (norm-relative) is a bound
// with ample margin that a wrong formula (errors of order 1) cannot meet.
#include <doctest/doctest.h>

#include <functional>

#include "cpu/adamw.h"
#include "cpu/attention.h"
#include "cpu/cross_entropy.h"
#include "cpu/embedding.h"
#include "cpu/linear.h"
#include "cpu/residual.h"
#include "cpu/rmsnorm.h"
#include "cpu/rope.h"
#include "cpu/swiglu.h"
#include "src/rope_tables.h"
#include "tests/test_util.h"

using namespace beop;
using namespace beop::cpu;
using beop::test::max_rel_err;
using beop::test::randn;
using Vec = std::vector<double>;

static constexpr double kFdTol = 1e-7;

// Numerical gradient of loss() with respect to every element of x (x is perturbed in place and restored).
static Vec numeric_grad(Vec& x, const std::function<double()>& loss, double h = 1e-5) {
  Vec g(x.size());
  for (size_t i = 0; i < x.size(); i++) {
    const double keep = x[i];
    x[i] = keep + h;
    const double lp = loss();
    x[i] = keep - h;
    const double lm = loss();
    x[i] = keep;
    g[i] = (lp - lm) / (2 * h);
  }
  return g;
}

static double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); i++) s += a[i] * b[i];
  return s;
}

TEST_CASE("embedding backward scatters gradients (repeated ids add)") {
  const int N = 7, C = 5, V = 4;
  std::vector<int32_t> tok = {0, 3, 3, 1, 0, 3, 2};
  Vec emb = randn<double>(V * C, 1), G = randn<double>(N * C, 2), y(N * C);
  auto loss = [&] { embedding_forward(y.data(), tok.data(), emb.data(), N, C); return dot(G, y); };
  Vec d(V * C, 0.0);
  embedding_backward(d.data(), G.data(), tok.data(), N, C);
  CHECK(max_rel_err(d, numeric_grad(emb, loss)) < kFdTol);
  // forward gathers the right row
  embedding_forward(y.data(), tok.data(), emb.data(), N, C);
  CHECK(y[1 * C + 4] == emb[3 * C + 4]);
}

TEST_CASE("rmsnorm forward and backward") {
  const int N = 6, C = 16;
  Vec x = randn<double>(N * C, 3), w = randn<double>(C, 4), G = randn<double>(N * C, 5), y(N * C), r(N);
  auto loss = [&] { rmsnorm_forward(y.data(), r.data(), x.data(), w.data(), N, C, 1e-5f); return dot(G, y); };
  loss();
  // forward: row 0 by the definition
  double ss = 0;
  for (int c = 0; c < C; c++) ss += x[c] * x[c];
  CHECK(y[3] == doctest::Approx(x[3] / std::sqrt(ss / C + 1e-5) * w[3]).epsilon(1e-12));
  Vec dx(N * C, 0.5), dw(C, 0.25);  // backward accumulates: start from non-zero
  rmsnorm_backward(dx.data(), dw.data(), G.data(), x.data(), w.data(), r.data(), N, C);
  for (auto& v : dx) v -= 0.5;
  for (auto& v : dw) v -= 0.25;
  CHECK(max_rel_err(dx, numeric_grad(x, loss)) < kFdTol);
  CHECK(max_rel_err(dw, numeric_grad(w, loss)) < kFdTol);
}

TEST_CASE("linear forward and backward (W in (out, in) layout)") {
  const int N = 5, IC = 7, OC = 3;
  Vec x = randn<double>(N * IC, 6), W = randn<double>(OC * IC, 7), G = randn<double>(N * OC, 8), y(N * OC);
  auto loss = [&] { linear_forward(y.data(), x.data(), W.data(), N, IC, OC); return dot(G, y); };
  loss();
  double y12 = 0;
  for (int i = 0; i < IC; i++) y12 += x[1 * IC + i] * W[2 * IC + i];
  CHECK(y[1 * OC + 2] == doctest::Approx(y12).epsilon(1e-12));
  Vec dx(N * IC, 0.0), dW(OC * IC, 0.0);
  linear_backward(dx.data(), dW.data(), G.data(), x.data(), W.data(), N, IC, OC, false);
  CHECK(max_rel_err(dx, numeric_grad(x, loss)) < kFdTol);
  CHECK(max_rel_err(dW, numeric_grad(W, loss)) < kFdTol);
  // accumulate mode adds to d_in; d_W always adds
  Vec dx2(N * IC, 1.0), dW2 = dW;
  linear_backward(dx2.data(), dW2.data(), G.data(), x.data(), W.data(), N, IC, OC, true);
  CHECK(dx2[4] == doctest::Approx(dx[4] + 1.0).epsilon(1e-12));
  CHECK(dW2[4] == doctest::Approx(2 * dW[4]).epsilon(1e-12));
}

TEST_CASE("rope: rotate-half pairing, position offset, backward") {
  ModelConfig cfg = preset("tiny");
  cfg.head_dim = 8;
  cfg.max_seq_len = 16;
  std::vector<double> cs, sn;
  rope_tables(cfg, cs, sn);
  const int B = 2, T = 5, H = 2, KV = 1, D = 8, row = (H + 2 * KV) * D;
  Vec x = randn<double>(B * T * row, 9), G = randn<double>(B * T * row, 10);
  Vec y;
  auto loss = [&] { y = x; rope_forward(y.data(), cs.data(), sn.data(), B, T, H, KV, D, 3); return dot(G, y); };
  loss();
  // dimension i pairs with i + D/2 (HF "rotate_half"); angle = pos * theta^(-2i/D), pos = 3 + t
  const int b = 1, t = 2, h = 1, i = 1;
  const double a = (3 + t) * std::pow(10000.0, -2.0 * i / D);
  const double* xi = &x[(b * T + t) * row + h * D];
  CHECK(y[(b * T + t) * row + h * D + i] == doctest::Approx(xi[i] * std::cos(a) - xi[i + 4] * std::sin(a)).epsilon(1e-12));
  // value heads (the last KV heads) are not rotated
  CHECK(y[(b * T + t) * row + (H + KV) * D + 2] == x[(b * T + t) * row + (H + KV) * D + 2]);
  Vec d = G;
  rope_backward(d.data(), cs.data(), sn.data(), B, T, H, KV, D, 3);
  CHECK(max_rel_err(d, numeric_grad(x, loss)) < kFdTol);
}

TEST_CASE("causal GQA attention forward and backward") {
  const int B = 2, T = 6, H = 4, KV = 2, D = 4, row = (H + 2 * KV) * D;
  Vec qkv = randn<double>(B * T * row, 11), G = randn<double>(B * T * H * D, 12);
  Vec y(B * T * H * D), att(B * H * T * T);
  auto loss = [&] { attention_forward(y.data(), att.data(), qkv.data(), B, T, H, KV, D); return dot(G, y); };
  loss();
  // Forward against a direct evaluation for (b=1, h=3 -> kv head 1, t=4): softmax over s <= t.
  {
    const int b = 1, h = 3, kvh = h / (H / KV), t = 4;
    const double* base = &qkv[b * T * row];
    std::vector<double> s(t + 1);
    double mx = -1e300, z = 0;
    for (int j = 0; j <= t; j++) {
      double acc = 0;
      for (int k = 0; k < D; k++) acc += base[t * row + h * D + k] * base[j * row + (H + kvh) * D + k];
      s[j] = acc / std::sqrt(double(D));
      mx = std::max(mx, s[j]);
    }
    for (int j = 0; j <= t; j++) z += std::exp(s[j] - mx);
    for (int k = 0; k < D; k++) {
      double out = 0;
      for (int j = 0; j <= t; j++) out += std::exp(s[j] - mx) / z * base[j * row + (H + KV + kvh) * D + k];
      CHECK(y[(b * T + t) * H * D + h * D + k] == doctest::Approx(out).epsilon(1e-12));
    }
    CHECK(att[((b * H + h) * T + t) * T + t + 1] == 0.0);  // above the diagonal
  }
  Vec d(qkv.size()), datt(att.size());
  attention_backward(d.data(), datt.data(), G.data(), att.data(), qkv.data(), B, T, H, KV, D);
  CHECK(max_rel_err(d, numeric_grad(qkv, loss)) < kFdTol);
}

TEST_CASE("swiglu forward and backward") {
  const int N = 4, F = 9;
  Vec gu = randn<double>(N * 2 * F, 13, 2.0), G = randn<double>(N * F, 14), y(N * F);
  auto loss = [&] { swiglu_forward(y.data(), gu.data(), N, F); return dot(G, y); };
  loss();
  const double g = gu[2 * F + 3], u = gu[2 * F + F + 3];
  CHECK(y[F + 3] == doctest::Approx(g / (1 + std::exp(-g)) * u).epsilon(1e-12));
  Vec d(gu.size());
  swiglu_backward(d.data(), G.data(), gu.data(), N, F);
  CHECK(max_rel_err(d, numeric_grad(gu, loss)) < kFdTol);
}

TEST_CASE("residual forward") {
  Vec a = {1, 2, 3}, b = {10, 20, 30};
  residual_forward(b.data(), a.data(), b.data(), 3);  // out aliases b, as in the model
  CHECK(b == Vec{11, 22, 33});
}

TEST_CASE("cross-entropy: loss mask, vocabulary padding, backward") {
  const int N = 5, V = 6, Vp = 8;
  Vec logits = randn<double>(N * Vp, 15, 2.0);
  std::vector<int32_t> tgt = {1, 5, 0, 3, 2};
  std::vector<uint8_t> mask = {1, 0, 1, 1, 0};
  const double count = 3;
  Vec losses(N);
  auto loss = [&] {
    cross_entropy_forward(losses.data(), logits.data(), tgt.data(), mask.data(), N, V, Vp);
    double s = 0;
    for (double l : losses) s += l;
    return s / count;
  };
  loss();
  CHECK(losses[1] == 0.0);
  CHECK(losses[4] == 0.0);
  double z = 0;  // row 3 by the definition, over the V real columns only
  for (int v = 0; v < V; v++) z += std::exp(logits[3 * Vp + v]);
  CHECK(losses[3] == doctest::Approx(std::log(z) - logits[3 * Vp + 3]).epsilon(1e-12));
  Vec num = numeric_grad(logits, loss);
  Vec d = logits;
  cross_entropy_backward(d.data(), tgt.data(), mask.data(), N, V, Vp, 1.0 / count);
  CHECK(max_rel_err(d, num) < kFdTol);
  for (int n = 0; n < N; n++)
    for (int v = V; v < Vp; v++) CHECK(d[n * Vp + v] == 0.0);  // padding columns
  for (int v = 0; v < Vp; v++) CHECK(d[1 * Vp + v] == 0.0);     // masked row
}

TEST_CASE("adamw: first step equals the closed form; decay only where asked") {
  // At t = 1: m = (1-b1) g, v = (1-b2) g^2, so m/(1-b1) = g and sqrt(v/(1-b2)) = |g|:
  //   p1 = p0 (1 - lr wd) - lr g / (|g| + eps)
  const double lr = 0.01, wd = 0.1, eps = 1e-8;
  Vec p = {1.0, -2.0, 0.5}, g = {0.3, -0.001, 2.0}, m(3, 0.0), v(3, 0.0);
  Vec p0 = p;
  adamw_update(p.data(), g.data(), m.data(), v.data(), 3, lr, 0.9, 0.95, eps, wd, 1);
  for (int i = 0; i < 3; i++)
    CHECK(p[i] == doctest::Approx(p0[i] * (1 - lr * wd) - lr * g[i] / (std::fabs(g[i]) + eps)).epsilon(1e-12));
  // second step with g again: m = (1-b1)(1+b1) g ... check against the recurrences written out
  const double b1 = 0.9, b2 = 0.95;
  Vec p1 = p;
  adamw_update(p.data(), g.data(), m.data(), v.data(), 3, lr, b1, b2, eps, 0.0, 2);
  for (int i = 0; i < 3; i++) {
    const double mm = (1 - b1) * g[i] * (1 + b1), vv = (1 - b2) * g[i] * g[i] * (1 + b2);
    const double upd = (mm / (1 - b1 * b1)) / (std::sqrt(vv / (1 - b2 * b2)) + eps);
    CHECK(p[i] == doctest::Approx(p1[i] - lr * upd).epsilon(1e-12));
  }
}

TEST_CASE("sum_squares is exact and independent of chunking") {
  std::vector<float> x(10000);
  for (size_t i = 0; i < x.size(); i++) x[i] = float(i % 7) - 3.0f;
  double expect = 0;
  for (float f : x) expect += double(f) * f;
  CHECK(sum_squares(x.data(), x.size()) == expect);
}
