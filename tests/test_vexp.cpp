// The vectorizable exp of the CPU kernels (cpu/vexp.h) and the float kernels that use it (softmax cross-entropy,
// SwiGLU) against the same kernels in double, which keep std::exp (test_ops.cpp checks those by finite differences).
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "cpu/cross_entropy.h"
#include "cpu/lane_sum.h"
#include "cpu/swiglu.h"
#include "cpu/vexp.h"
#include "tests/test_util.h"

using namespace beop;
using namespace beop::cpu;
using beop::test::max_rel_err;
using beop::test::randn;

template <typename T>
static std::vector<T> cast(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

TEST_CASE("fast_exp is within 2 ulp of exp, clamps to normal floats, keeps NaN") {
  // Cephes' polynomial has a relative error below 1 ulp, its range reduction and the rounding of the last
  // multiply-adds add under 1 more; a wrong coefficient or ln2 split is off by far more than 2 ulp (2^-22).
  double worst = 0;
  for (double x = -87.0; x <= 88.0; x += 1.0 / 1024 + 1e-7) {
    const float xf = float(x);
    worst = std::max(worst, std::fabs(double(fast_exp(xf)) - std::exp(double(xf))) / std::exp(double(xf)));
  }
  CAPTURE(worst);
  CHECK(worst <= 2 * 0x1p-23);
  CHECK(fast_exp(0.f) == 1.f);
  CHECK(std::isnan(fast_exp(NAN)));
  CHECK(fast_exp(-INFINITY) > 0.f);  // exp(-87.3) = 1.2e-38, the documented clamp (the kernels multiply it by 0)
  CHECK(fast_exp(-INFINITY) < 1.3e-38f);
  CHECK(std::isfinite(fast_exp(1000.f)));
  CHECK(fast_exp(1000.f) > 1e38f);
}

TEST_CASE("exp_sum and row_max equal their running forms (lanes, tail, in-place store)") {
  for (int n : {1, 15, 16, 17, 100}) {
    std::vector<float> x = randn<float>(size_t(n), uint64_t(n)), e(x.size());
    const float mx = row_max(x.data(), n);
    double sum = 0, want_mx = x[0];
    for (float v : x) want_mx = std::max(want_mx, double(v));
    for (float v : x) sum += std::exp(0.5 * v - mx);
    CHECK(mx == float(want_mx));
    const float got = exp_sum<true>(e.data(), x.data(), n, 0.5f, mx);
    CHECK(std::fabs(got - sum) <= 1e-6 * sum);  // n terms of <= 2 ulp each, summed in fp32: n * 1.2e-7 at most
    CHECK(exp_sum<false>(static_cast<float*>(nullptr), x.data(), n, 0.5f, mx) == got);
    for (int j = 0; j < n; j++) CHECK(std::fabs(e[size_t(j)] - std::exp(0.5 * x[size_t(j)] - mx)) <= 3e-7);
  }
}

TEST_CASE("lane_sum adds in its documented order: 16 lanes in order, folded in halves, then the tail") {
  // The order is the contract (cpu/lane_sum.h: fixed by n alone, so sums agree across thread counts and runs);
  // written out here independently of the helper. Also within the fp32 bound of the double sum.
  for (int n : {1, 15, 16, 17, 100, 257}) {
    CAPTURE(n);
    const std::vector<float> x = randn<float>(size_t(n), uint64_t(100 + n));
    float lane[16] = {};
    const int full = n / 16 * 16;
    for (int j = 0; j < full; j++) lane[j % 16] += x[size_t(j)];
    float h8[8], h4[4], h2[2];
    for (int k = 0; k < 8; k++) h8[k] = lane[k] + lane[k + 8];
    for (int k = 0; k < 4; k++) h4[k] = h8[k] + h8[k + 4];
    for (int k = 0; k < 2; k++) h2[k] = h4[k] + h4[k + 2];
    float want = h2[0] + h2[1];
    for (int j = full; j < n; j++) want += x[size_t(j)];
    const float got = lane_sum<16, float>(n, [&](int64_t j) { return x[size_t(j)]; });
    CHECK(got == want);
    double exact = 0, mag = 0;
    for (float v : x) exact += v, mag += std::fabs(v);
    CHECK(std::fabs(got - exact) <= n * 0x1p-24 * mag);  // n roundings of at most half an ulp of the running total
  }
}

// Each output of the float kernels is a handful of fp32 roundings (1.2e-7 each) plus fast_exp's 2 ulp, so they
// agree with double to ~1e-6 of the tensor's scale; a wrong exp is off by 1e-3 or more.
TEST_CASE("float SwiGLU and cross-entropy with fast_exp equal the double kernels") {
  const int N = 37, F = 53, V = 301, Vp = 320;
  const std::vector<double> gu = randn<double>(size_t(N) * 2 * F, 1, 3.0), da = randn<double>(size_t(N) * F, 2);
  std::vector<double> act(size_t(N) * F), dgu(gu.size());
  swiglu_forward(act.data(), gu.data(), N, F);
  swiglu_backward(dgu.data(), da.data(), gu.data(), N, F);
  const std::vector<float> guf = cast<float>(gu), daf = cast<float>(da);
  std::vector<float> actf(act.size()), dguf(dgu.size());
  swiglu_forward(actf.data(), guf.data(), N, F);
  swiglu_backward(dguf.data(), daf.data(), guf.data(), N, F);
  CHECK(max_rel_err(actf, act) < 1e-6);
  CHECK(max_rel_err(dguf, dgu) < 1e-6);

  const std::vector<double> logits = randn<double>(size_t(N) * Vp, 3, 4.0);
  std::vector<int32_t> tgt(N);
  for (int n = 0; n < N; n++) tgt[size_t(n)] = (n * 37) % V;
  std::vector<double> loss(N), dl = logits;
  cross_entropy_forward(loss.data(), logits.data(), tgt.data(), nullptr, N, V, Vp);
  cross_entropy_backward(dl.data(), tgt.data(), nullptr, N, V, Vp, 1.0 / N);
  std::vector<float> lf = cast<float>(logits), lossf(N), dlf = lf;
  cross_entropy_forward(lossf.data(), lf.data(), tgt.data(), nullptr, N, V, Vp);
  cross_entropy_backward(dlf.data(), tgt.data(), nullptr, N, V, Vp, 1.f / N);
  CHECK(max_rel_err(lossf, loss) < 1e-6);
  CHECK(max_rel_err(dlf, dl) < 1e-6);
}
