// The small-M fp32 linear layer (cpu/matmul_smallm.h), AVX-512 and the portable kernel:
//   - against an fp64 reference with an error bound derived from the summation order (comment at rel_bound),
//     on awkward shapes: IC not a multiple of 16 (and below 16), OC = 1, 17, 4097, N = 1..kSmallmMaxRows (32);
//   - row independence, bitwise: row r alone equals row r in any position of a batch of N = 2..32 other rows
//     (what makes batched decoding equal one-at-a-time decoding, tests/test_batch_generator.cpp);
//   - the AVX-512 kernel against the portable one within the bound;
//   - CpuOps<float>::linear_forward routes N <= kSmallmMaxRows fp32 rows here; bad N is an Error.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "cpu/matmul_smallm.h"
#include "cpu/ops.h"
#include "src/rng.h"

using namespace beop;
using namespace beop::cpu;

namespace {
std::vector<float> random_vec(size_t n, uint64_t seed) {
  Rng r(seed);
  std::vector<float> v(n);
  for (float& x : v) x = float(r.normal());
  return v;
}

// Error bound of one output, |computed - exact| <= n * 2^-24 * sum_k |x_k w_k| * 1.01, where n is the number of
// roundings on the longest path from a product to the result (Higham, Accuracy and Stability, 3.1: the bound
// gamma_n = n u / (1 - n u) with u = 2^-24; 1.01 covers the 1 / (1 - n u) for these n):
//   each of the 16 lanes adds ceil(IC / 16) products one after another (AVX-512: one FMA, one rounding, each;
//   portable: the product rounded, then the sum: one more), then 4 levels of pairwise lane additions.
// So n = ceil(IC / 16) + 5 covers both kernels. The fp64 reference is exact to ~IC * 2^-53 relative (fp32
// products are exact in fp64), far inside the bound. A dropped, doubled or misplaced term moves the result by
// |x_k w_k| ~ 1, i.e. by far more than this bound (~1e-5 of sum |x w| at IC = 1031).
double bound(int IC, double sum_abs, bool any_order = false) {
  const double n = any_order ? IC + 1 : std::ceil(IC / 16.0) + 5;  // any order of IC products: IC + 1 roundings
  return n * std::ldexp(1.0, -24) * sum_abs * 1.01;
}

// Checks out (N, OC) against the fp64 reference; returns the number of outputs over their bound.
int over_bound(const std::vector<float>& out, const std::vector<float>& x, const std::vector<float>& W, int N, int IC,
               int OC, bool any_order = false) {
  int bad = 0;
  for (int r = 0; r < N; r++)
    for (int o = 0; o < OC; o++) {
      double s = 0, a = 0;
      for (int k = 0; k < IC; k++) {
        const double p = double(x[size_t(r) * IC + k]) * double(W[size_t(o) * IC + k]);
        s += p, a += std::fabs(p);
      }
      if (std::fabs(double(out[size_t(r) * OC + o]) - s) > bound(IC, a, any_order)) bad++;
    }
  return bad;
}

std::vector<SmallmIsa> isas() {
  std::vector<SmallmIsa> v = {SmallmIsa::kPortable};
  if (smallm_fast()) v.push_back(SmallmIsa::kAuto);
  else MESSAGE("no AVX-512F on this CPU: only the portable kernel is tested");
  return v;
}
const char* isa_name(SmallmIsa i) { return i == SmallmIsa::kAuto ? "avx512" : "portable"; }
}  // namespace

TEST_CASE("linear_smallm against fp64 within the derived bound, awkward shapes, both kernels") {
  struct Shape {
    int N, IC, OC;
  };
  // IC: below one chunk, one short of / one past a chunk, a multiple, a large odd size; OC: one output, a
  // partial register block and work block (17), many blocks with a 1-wide tail (4097); N up to kSmallmMaxRows.
  const std::vector<Shape> shapes = {{1, 1, 1},    {3, 7, 17},    {16, 15, 17},  {5, 16, 1},    {8, 17, 33},
                                     {1, 1031, 17}, {16, 1031, 17}, {7, 100, 4097}, {16, 33, 4097}, {12, 512, 64},
                                     {2, 48, 5},   {9, 1024, 96}, {kSmallmMaxRows, 50, 33}, {kSmallmMaxRows - 1, 1, 3}};
  for (SmallmIsa isa : isas())
    for (const Shape& s : shapes) {
      CAPTURE(isa_name(isa));
      CAPTURE(s.N);
      CAPTURE(s.IC);
      CAPTURE(s.OC);
      const auto x = random_vec(size_t(s.N) * s.IC, 11 + s.IC), W = random_vec(size_t(s.OC) * s.IC, 23 + s.OC);
      std::vector<float> out(size_t(s.N) * s.OC, NAN);
      linear_smallm(out.data(), x.data(), W.data(), s.N, s.IC, s.OC, isa);
      CHECK(over_bound(out, x, W, s.N, s.IC, s.OC) == 0);
    }
}

TEST_CASE("linear_smallm: row r alone equals row r in any position of a batch of 2..kSmallmMaxRows, bitwise") {
  const int IC = 77, OC = 37;  // partial 16-lane chunk, partial weight-row block and register block
  const auto W = random_vec(size_t(OC) * IC, 5);
  const auto pool = random_vec(size_t(kSmallmMaxRows) * IC, 6);  // the other rows
  const auto row = random_vec(size_t(IC), 7);
  for (SmallmIsa isa : isas()) {
    CAPTURE(isa_name(isa));
    std::vector<float> alone(static_cast<size_t>(OC));
    linear_smallm(alone.data(), row.data(), W.data(), 1, IC, OC, isa);
    for (int N = 2; N <= kSmallmMaxRows; N++)
      for (int p = 0; p < N; p++) {
        std::vector<float> x(pool.begin(), pool.begin() + size_t(N) * IC), out(size_t(N) * OC);
        std::copy(row.begin(), row.end(), x.begin() + size_t(p) * IC);
        linear_smallm(out.data(), x.data(), W.data(), N, IC, OC, isa);
        CAPTURE(N);
        CAPTURE(p);
        REQUIRE(std::memcmp(out.data() + size_t(p) * OC, alone.data(), alone.size() * sizeof(float)) == 0);
      }
  }
}

TEST_CASE("linear_smallm: the AVX-512 kernel and the portable one agree within the bound") {
  if (!smallm_fast()) {
    MESSAGE("no AVX-512F on this CPU: nothing to compare");
    return;
  }
  const int N = 16, IC = 1000, OC = 50;
  const auto x = random_vec(size_t(N) * IC, 31), W = random_vec(size_t(OC) * IC, 32);
  std::vector<float> a(size_t(N) * OC), b(size_t(N) * OC);
  linear_smallm(a.data(), x.data(), W.data(), N, IC, OC, SmallmIsa::kAuto);
  linear_smallm(b.data(), x.data(), W.data(), N, IC, OC, SmallmIsa::kPortable);
  int bad = 0;
  for (int r = 0; r < N; r++)
    for (int o = 0; o < OC; o++) {
      double s = 0;
      for (int k = 0; k < IC; k++) s += std::fabs(double(x[size_t(r) * IC + k]) * double(W[size_t(o) * IC + k]));
      // each is within bound() of the exact sum, so within twice that of each other
      if (std::fabs(double(a[size_t(r) * OC + o]) - double(b[size_t(r) * OC + o])) > 2 * bound(IC, s)) bad++;
    }
  CHECK(bad == 0);
}

TEST_CASE("CpuOps<float>::linear_forward runs linear_smallm for N <= kSmallmMaxRows; bad N is an Error") {
  ModelConfig cfg = preset("tiny");
  CpuOps<float> ops(cfg);
  const int IC = 40, OC = 24;
  const auto x = random_vec(size_t(kSmallmMaxRows + 1) * IC, 41), W = random_vec(size_t(OC) * IC, 42);
  for (int N : {1, 5, kSmallmMaxRows}) {
    std::vector<float> a(size_t(N) * OC), b(size_t(N) * OC);
    ops.linear_forward(a.data(), x.data(), W.data(), N, IC, OC);
    linear_smallm(b.data(), x.data(), W.data(), N, IC, OC);
    CHECK(a == b);
  }
  // more rows: Eigen's GEMM (its own summation order: the bound of any order)
  const int N = kSmallmMaxRows + 1;
  std::vector<float> c(size_t(N) * OC);
  ops.linear_forward(c.data(), x.data(), W.data(), N, IC, OC);
  CHECK(over_bound(c, x, W, N, IC, OC, true) == 0);
  float o = 0;
  const std::string range = "1 <= N <= " + std::to_string(kSmallmMaxRows);
  CHECK_THROWS_WITH_AS(linear_smallm(&o, x.data(), W.data(), 0, IC, 1), doctest::Contains(range.c_str()), Error);
  CHECK_THROWS_WITH_AS(linear_smallm(&o, x.data(), W.data(), kSmallmMaxRows + 1, IC, 1), doctest::Contains(range.c_str()),
                       Error);
}
