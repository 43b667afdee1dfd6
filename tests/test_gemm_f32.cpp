// The packed fp32 GEMM of CPU training (cpu/gemm_f32.h): every operand layout the linear layers use (and a general
// strided one), shapes cut at every edge of its tiles (14 x 32 micro-tiles, 256-wide k chunks, 8-panel row tiles,
// 32-panel column tiles), against an fp64 reference within the fp32 summation bound; results independent
// of the thread count; the linear layer's three GEMMs against Eigen's; the switch and its error.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <vector>

#include "cpu/gemm_f32.h"
#include "cpu/linear.h"
#include "tests/test_util.h"

using namespace beop;
using namespace beop::cpu;
using beop::test::randn;

namespace {

// One operand layout: element (r, k) of an R x K matrix at X[r * rs + k * cs] in a buffer of `size` floats.
struct Layout {
  int64_t rs, cs;
  size_t size;
};
Layout row_major(int R, int K) { return {K, 1, size_t(R) * K}; }      // k contiguous (x, d_out, W as B^T)
Layout col_major(int R, int K) { return {1, R, size_t(R) * K}; }      // r contiguous (d_out^T, W as B)
Layout strided(int R, int K) { return {3 * K + 1, 2, size_t(R) * (3 * K + 1)}; }  // neither: the scalar path

// C = c0 + A B in fp64 and, per element, |c0| + sum_k |a b|: the scale of the fp32 summation error.
void reference(int M, int N, int K, const std::vector<float>& A, Layout la, const std::vector<float>& B, Layout lb,
               const std::vector<float>& c0, std::vector<double>& c, std::vector<double>& mag) {
  c.assign(size_t(M) * N, 0), mag.assign(size_t(M) * N, 0);
  for (int m = 0; m < M; m++)
    for (int n = 0; n < N; n++) {
      double s = c0.empty() ? 0 : c0[size_t(m) * N + n], a = std::fabs(s);
      for (int k = 0; k < K; k++) {
        const double p = double(A[m * la.rs + k * la.cs]) * double(B[n * lb.rs + k * lb.cs]);
        s += p, a += std::fabs(p);
      }
      c[size_t(m) * N + n] = s, mag[size_t(m) * N + n] = a;
    }
}

// Each of the K fused multiply-adds (and the start value) rounds once, at most u = 2^-24 of the running sum, so
// |error| <= (K+1) u (|c0| + sum |a b|) in any order of the additions (Higham's gamma_{K+1}, first order; fp32
// products of these normal values are never subnormal). Returns max error / that bound: <= 1 passes.
double worst_vs_bound(const std::vector<float>& got, const std::vector<double>& ref, const std::vector<double>& mag,
                      int K) {
  const double u = std::ldexp(1.0, -24);
  double worst = 0;
  for (size_t i = 0; i < got.size(); i++) worst = std::max(worst, std::fabs(double(got[i]) - ref[i]) / ((K + 1) * u * mag[i]));
  return worst;
}

}  // namespace

TEST_CASE("gemm_f32 equals an fp64 reference in every operand layout, at every tile edge") {
  if (!gemm_f32_enabled()) {
    MESSAGE("this CPU has no AVX-512F (or BEOP_F32_GEMM=eigen): the packed fp32 GEMM is not checked");
    return;
  }
  // M: under one 14-row micro-tile, one past it, one past 112-row tiles; N: under one panel, one past 32 panels
  // (1024 columns); K: 1, under the 16-wide transpose, one past a 256 chunk, several chunks. M <= 112 packs B per
  // tile and chunk (a prefill's shape: 37 rows, two tiles of B panels, two k chunks), M > 112 packs all of B first.
  const int shapes[][3] = {{1, 1, 1},     {5, 7, 3},     {13, 33, 17},   {15, 40, 20},  {113, 31, 257},
                           {14, 1025, 40}, {200, 64, 600}, {37, 1060, 300}, {97, 31, 257}};
  using Make = Layout (*)(int, int);
  const Make makes[] = {row_major, col_major, strided};
  for (const auto& sh : shapes)
    for (Make ma : makes)
      for (Make mb : makes)
        for (bool accumulate : {false, true}) {
          const int M = sh[0], N = sh[1], K = sh[2];
          CAPTURE(M);
          CAPTURE(N);
          CAPTURE(K);
          CAPTURE(accumulate);
          const Layout la = ma(M, K), lb = mb(N, K);  // B (K, N) is stored as its transpose's layout: (n, k)
          CAPTURE(la.rs);
          CAPTURE(lb.rs);
          const uint64_t seed = uint64_t(M) * 7919 + uint64_t(N) * 31 + uint64_t(K);
          const auto A = randn<float>(la.size, seed), B = randn<float>(lb.size, seed + 1),
                     c0 = randn<float>(size_t(M) * N, seed + 2);
          std::vector<float> C = accumulate ? c0 : std::vector<float>(size_t(M) * N, NAN);  // NaN: must be overwritten
          gemm_f32(M, N, K, A.data(), la.rs, la.cs, B.data(), lb.cs, lb.rs, C.data(), N, accumulate);
          std::vector<double> ref, mag;
          reference(M, N, K, A, la, B, lb, accumulate ? c0 : std::vector<float>{}, ref, mag);
          CHECK(worst_vs_bound(C, ref, mag, K) <= 1.0);
        }
}

TEST_CASE("gemm_f32 writes only C's M x N inside its leading dimension, and K = 0 gives 0 or leaves C") {
  if (!gemm_f32_enabled()) return;
  const int M = 14, N = 35, K = 9, ldc = 40;
  const auto A = randn<float>(size_t(M) * K, 1), B = randn<float>(size_t(K) * N, 2);
  std::vector<float> C(size_t(M) * ldc, 7.f);
  gemm_f32(M, N, K, A.data(), K, 1, B.data(), N, 1, C.data(), ldc, false);
  for (int m = 0; m < M; m++)
    for (int n = N; n < ldc; n++) CHECK(C[size_t(m) * ldc + n] == 7.f);  // the padding columns are untouched
  gemm_f32(M, N, 0, A.data(), K, 1, B.data(), N, 1, C.data(), ldc, true);
  CHECK(C[0] != 0.f);
  gemm_f32(M, N, 0, A.data(), K, 1, B.data(), N, 1, C.data(), ldc, false);
  CHECK(C[0] == 0.f);
  CHECK(C[size_t(M - 1) * ldc + N - 1] == 0.f);
  CHECK(C[size_t(M - 1) * ldc + N] == 7.f);
}

TEST_CASE("gemm_f32 accumulating adds the whole product to C once: c0 + (A B), as data-parallel ranks sum") {
  if (!gemm_f32_enabled()) return;
  // Gradient accumulation over micro-batches must round like N ranks that each compute their micro-batch's
  // gradient from zero and then add them: bitwise, for K within one 256-wide chunk (a tiny model's micro-batch).
  // Summing the products onto c0 instead drifted tests/test_data_parallel.cpp's grad norms to 9e-5 in 20 steps.
  const int M = 30, N = 40, K = 200;
  const auto A = randn<float>(size_t(M) * K, 21), B = randn<float>(size_t(K) * N, 22),
             c0 = randn<float>(size_t(M) * N, 23, 100.0);  // a large start value: the two orders round apart
  std::vector<float> acc = c0, product(size_t(M) * N);
  gemm_f32(M, N, K, A.data(), K, 1, B.data(), N, 1, acc.data(), N, true);
  gemm_f32(M, N, K, A.data(), K, 1, B.data(), N, 1, product.data(), N, false);
  for (size_t i = 0; i < acc.size(); i++) {
    CAPTURE(i);
    REQUIRE(acc[i] == c0[i] + product[i]);
  }
}

TEST_CASE("gemm_f32's result does not depend on the thread count") {
  if (!gemm_f32_enabled()) return;
  // Each element is summed by one thread in k order, whatever the tiles: bitwise the same at 1 and 2 threads
  // (the tiles themselves change with the thread count: 200 rows = 17 panels make 3 tiles at one thread, 4 at
  // two).
  const int M = 200, N = 300, K = 700;
  const auto A = randn<float>(size_t(M) * K, 3), B = randn<float>(size_t(K) * N, 4);
  std::vector<float> one(size_t(M) * N), two(size_t(M) * N);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  gemm_f32(M, N, K, A.data(), K, 1, B.data(), N, 1, one.data(), N, false);
  omp_set_num_threads(2);
  gemm_f32(M, N, K, A.data(), K, 1, B.data(), N, 1, two.data(), N, false);
  omp_set_num_threads(saved);
  CHECK(one == two);
}

TEST_CASE("the linear layer's three GEMMs on gemm_f32 agree with Eigen's within twice the summation bound") {
  if (!gemm_f32_enabled()) return;
  const int N = 70, IC = 301, OC = 45;
  const auto x = randn<float>(size_t(N) * IC, 5), w = randn<float>(size_t(OC) * IC, 6, 0.05),
             dy = randn<float>(size_t(N) * OC, 7), dx0 = randn<float>(size_t(N) * IC, 8),
             dw0 = randn<float>(size_t(OC) * IC, 9);
  struct Out {
    std::vector<float> y, dx, dw;
  };
  auto run = [&] {
    Out o{std::vector<float>(size_t(N) * OC), dx0, dw0};
    linear_forward_f32(o.y.data(), x.data(), w.data(), N, IC, OC);
    linear_backward_f32(o.dx.data(), o.dw.data(), dy.data(), x.data(), w.data(), N, IC, OC, true);
    return o;
  };
  const Out packed = run();
  set_gemm_f32_enabled(false);  // the Eigen path (cpu/linear.h)
  CHECK_FALSE(gemm_f32_enabled());
  const Out eigen = run();
  set_gemm_f32_enabled(true);
  REQUIRE(gemm_f32_enabled());
  // Both are within (K+1) u sum|ab| of the exact sums (first test), so within twice that of each other.
  std::vector<double> ref, mag;
  auto vs_eigen = [](const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); };
  reference(N, OC, IC, x, row_major(N, IC), w, row_major(OC, IC), {}, ref, mag);  // y = x W^T
  CHECK(worst_vs_bound(packed.y, ref, mag, IC) <= 1.0);
  CHECK(worst_vs_bound(packed.y, vs_eigen(eigen.y), mag, IC) <= 2.0);
  reference(N, IC, OC, dy, row_major(N, OC), w, col_major(IC, OC), dx0, ref, mag);  // dx = dx0 + dy W
  CHECK(worst_vs_bound(packed.dx, ref, mag, OC) <= 1.0);
  CHECK(worst_vs_bound(packed.dx, vs_eigen(eigen.dx), mag, OC) <= 2.0);
  reference(OC, IC, N, dy, col_major(OC, N), x, col_major(IC, N), dw0, ref, mag);  // dW = dW0 + dy^T x
  CHECK(worst_vs_bound(packed.dw, ref, mag, N) <= 1.0);
  CHECK(worst_vs_bound(packed.dw, vs_eigen(eigen.dw), mag, N) <= 2.0);
}

TEST_CASE("gemm_f32 switched off is an error naming the reason, and the linear functions fall back to Eigen") {
  if (!gemm_f32_enabled()) return;
  set_gemm_f32_enabled(false);
  float a = 1, b = 2, c = 0;
  const std::string e = beop::test::error_of([&] { gemm_f32(1, 1, 1, &a, 1, 1, &b, 1, 1, &c, 1, false); });
  set_gemm_f32_enabled(true);
  CHECK(e.find("AVX-512") != std::string::npos);
  CHECK(c == 0.f);
}
