// Tensor-core primitives (cuda/simt/mma.h) and the warp-level products of the attention kernels built on them
// (cuda/kernels/attention_tc_tiles.cuh, namespace tc). Runs on the CPU through the SIMT emulation in every CI
// run and, compiled by nvcc (scripts/gpu_check.sh), on a real GPU — where the layout tests check that the
// hardware agrees with the register layouts written down in mma.h, which the emulation and the kernels assume:
//   - mma: A, B and C registers filled from the documented per-lane formulas, against a double-precision loop;
//   - ldmatrix (plain and .trans): each lane's registers against the formulas, with the 32 row addresses
//     permuted so that "lane l gives row l % 8 of matrix l / 8" is really tested;
//   - tc::product_abt / product_pm (the score tile A·X^T and P·M from registers) against double loops.
// Host-only: the emulation's own guarantees — a missing barrier before ldmatrix reads stale rows (certainly,
// whatever the schedule), and misuse (a partial warp, a misaligned or non-shared address) is an error.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "cuda/kernels/attention_tc_tiles.cuh"
#include "cuda/simt/mma.h"
#include "tests/cuda_check.h"
#include "tests/test_util.h"

using namespace beop;
using beop::cudatest::Dev;
using bf16 = __nv_bfloat16;

namespace {

__device__ uint16_t bits(bf16 x) { return __bfloat16_as_ushort(x); }
__device__ uint32_t pair(bf16 lo, bf16 hi) { return uint32_t(bits(lo)) | (uint32_t(bits(hi)) << 16); }

// d (16x8) = A (16x16, row-major) · B (16x8, B[k][n] at k*8 + n) + C (16x8), every register from the
// documented formulas (g = lane/4, t = lane%4).
__global__ void mma_layout_kernel(float* d, const bf16* A, const bf16* B, const float* C) {
  const int l = threadIdx.x, g = l / 4, t = l % 4;
  const uint32_t a[4] = {pair(A[g * 16 + 2 * t], A[g * 16 + 2 * t + 1]),
                         pair(A[(g + 8) * 16 + 2 * t], A[(g + 8) * 16 + 2 * t + 1]),
                         pair(A[g * 16 + 2 * t + 8], A[g * 16 + 2 * t + 9]),
                         pair(A[(g + 8) * 16 + 2 * t + 8], A[(g + 8) * 16 + 2 * t + 9])};
  const uint32_t b0 = pair(B[(2 * t) * 8 + g], B[(2 * t + 1) * 8 + g]);
  const uint32_t b1 = pair(B[(2 * t + 8) * 8 + g], B[(2 * t + 9) * 8 + g]);
  float acc[4] = {C[g * 8 + 2 * t], C[g * 8 + 2 * t + 1], C[(g + 8) * 8 + 2 * t], C[(g + 8) * 8 + 2 * t + 1]};
  beop::mma::mma_bf16_16816(acc, a, b0, b1);
  d[g * 8 + 2 * t] = acc[0];
  d[g * 8 + 2 * t + 1] = acc[1];
  d[(g + 8) * 8 + 2 * t] = acc[2];
  d[(g + 8) * 8 + 2 * t + 1] = acc[3];
}

constexpr int kPerm = 7;  // lane l gives the address of stored row (7 l + 3) mod 32: a bijection
__host__ __device__ int stored_row(int lane) { return (kPerm * lane + 3) % 32; }

// src: 32 rows of 8 bf16, copied to dynamic shared memory; out[(variant*32 + lane)*4 + j] = register j.
__global__ void ldmatrix_layout_kernel(uint32_t* out, const bf16* src) {
  BEOP_DYNAMIC_SHARED(bf16, tile);
  const int l = threadIdx.x;
  for (int c = 0; c < 8; c++) tile[l * 8 + c] = src[l * 8 + c];
  __syncwarp();
  uint32_t r[4];
  beop::mma::ldmatrix_x4(r, tile + stored_row(l) * 8);
  for (int j = 0; j < 4; j++) out[l * 4 + j] = r[j];
  beop::mma::ldmatrix_x4_trans(r, tile + stored_row(l) * 8);
  for (int j = 0; j < 4; j++) out[(32 + l) * 4 + j] = r[j];
}

// S (16 x N) = A (16 x K) · X^T (X: N x K) with tc::product_abt; O (16 x D) = bf16(S) · M (M: N x D) with
// tc::product_pm, the scores staying in registers. Row-major outputs; s and o in accumulator layout.
template <int K, int N, int D>
__global__ void products_kernel(float* S, float* O, const bf16* A, const bf16* X, const bf16* M) {
  using namespace beop::cuda::tc;
  constexpr int lk = ld_tile(K), ld = ld_tile(D);
  BEOP_DYNAMIC_SHARED(unsigned char, smem);
  bf16* As = carve<bf16>(smem, tile_bytes(16, K));
  bf16* Xs = carve<bf16>(smem, tile_bytes(N, K));
  bf16* Ms = carve<bf16>(smem, tile_bytes(N, D));
  const int l = threadIdx.x, g = l / 4, c = l % 4 * 2;
  for (int i = l; i < 16 * K; i += 32) As[i / K * lk + i % K] = A[i];
  for (int i = l; i < N * K; i += 32) Xs[i / K * lk + i % K] = X[i];
  for (int i = l; i < N * D; i += 32) Ms[i / D * ld + i % D] = M[i];
  __syncwarp();
  float s[N / 8][4], o[D / 8][4];
  zero(s);
  zero(o);
  product_abt<K, N>(s, As, lk, 0, Xs, lk);
  product_pm<N, D>(o, s, Ms, ld);
  for (int j = 0; j < N / 8; j++)
    for (int i = 0; i < 4; i++) S[(g + 8 * (i / 2)) * N + 8 * j + c + i % 2] = s[j][i];
  for (int j = 0; j < D / 8; j++)
    for (int i = 0; i < 4; i++) O[(g + 8 * (i / 2)) * D + 8 * j + c + i % 2] = o[j][i];
}

std::vector<bf16> to_bf16(const std::vector<float>& x) { return std::vector<bf16>(x.begin(), x.end()); }

// Sums of K (<= 128) exact bf16 products accumulated in fp32 (tensor cores, or the emulation), measured by
// rel_err (tests/cuda_check.h: max |error| / max |reference|, infinite on an unwritten NaN). Worst case: K
// roundings of 2^-24 of a running sum bounded by sum |terms|; at K = 128 with randn operands that is
// 128 * 6e-8 * ~81 = 6e-4 against a largest |S| of ~34, i.e. 1.8e-5 relative. The fp32 tolerance 1e-4 is
// above that and far below an indexing bug, which moves results by O(1).
constexpr double kTolFp32Sum = 1e-4;

template <int K, int N, int D>
void check_products(uint64_t seed) {
  CAPTURE(K); CAPTURE(N); CAPTURE(D);
  const auto A = to_bf16(test::randn<float>(16 * K, seed)), X = to_bf16(test::randn<float>(size_t(N) * K, seed + 1));
  const auto M = to_bf16(test::randn<float>(size_t(N) * D, seed + 2));
  Dev<bf16> dA(A), dX(X), dM(M);
  Dev<float> dS(16 * N), dO(16 * D);
  using namespace beop::cuda::tc;
  const size_t smem = tile_bytes(16, K) + tile_bytes(N, K) + tile_bytes(N, D);
  BEOP_LAUNCH((products_kernel<K, N, D>), 1, 32, smem, 0, dS.p, dO.p, dA.p, dX.p, dM.p);
  const std::vector<float> S = dS.get(), O = dO.get();
  std::vector<double> want_s(16 * N), want_o(16 * D);
  for (int r = 0; r < 16; r++)
    for (int n = 0; n < N; n++)
      for (int k = 0; k < K; k++) want_s[r * N + n] += double(float(A[r * K + k])) * float(X[n * K + k]);
  CHECK(cudatest::rel_err(S, want_s) <= kTolFp32Sum);
  // P is the kernel's own S rounded to bf16 (product_pm's documented input rounding), so O tests the second
  // product alone
  for (int r = 0; r < 16; r++)
    for (int d = 0; d < D; d++)
      for (int n = 0; n < N; n++) want_o[r * D + d] += double(float(bf16(S[r * N + n]))) * float(M[n * D + d]);
  CHECK(cudatest::rel_err(O, want_o) <= kTolFp32Sum);
}

#if !defined(__CUDACC__)
// Lane l writes stored row l, then (with or without __syncwarp) loads: lane l's address is row l + 1, so the
// first lane to run reads a row nobody has written yet (0xFFFF poison) unless the barrier is there.
__global__ void write_then_ldmatrix_kernel(uint32_t* out, int sync) {
  BEOP_DYNAMIC_SHARED(bf16, tile);
  const int l = threadIdx.x;
  for (int c = 0; c < 8; c++) tile[l * 8 + c] = bf16(float(l * 8 + c));
  if (sync) __syncwarp();
  uint32_t r[4];
  beop::mma::ldmatrix_x4(r, tile + (l + 1) % 32 * 8);
  for (int j = 0; j < 4; j++) out[l * 4 + j] = r[j];
}

__global__ void ldmatrix_at_kernel(const bf16* p, int offset_elems) {
  BEOP_DYNAMIC_SHARED(bf16, tile);
  uint32_t r[4];
  beop::mma::ldmatrix_x4(r, (p ? p : tile) + offset_elems + threadIdx.x * 8);
}

__global__ void half_warp_mma_kernel() {
  if (threadIdx.x >= 16) return;
  float d[4] = {0, 0, 0, 0};
  const uint32_t a[4] = {0, 0, 0, 0};
  beop::mma::mma_bf16_16816(d, a, 0u, 0u);
}
#endif

}  // namespace

TEST_CASE("mma m16n8k16 bf16: registers in the documented layout give A·B + C (double loop)") {
  for (uint64_t seed : {1, 2}) {
    const auto A = to_bf16(test::randn<float>(256, seed)), B = to_bf16(test::randn<float>(128, seed + 10));
    const auto C = test::randn<float>(128, seed + 20);
    Dev<bf16> dA(A), dB(B);
    Dev<float> dC(C), dD(128);
    BEOP_LAUNCH(mma_layout_kernel, 1, 32, 0, 0, dD.p, dA.p, dB.p, dC.p);
    std::vector<double> want(128);
    for (int m = 0; m < 16; m++)
      for (int n = 0; n < 8; n++) {
        want[m * 8 + n] = C[m * 8 + n];
        for (int k = 0; k < 16; k++) want[m * 8 + n] += double(float(A[m * 16 + k])) * float(B[k * 8 + n]);
      }
    CHECK(cudatest::rel_err(dD.get(), want) <= kTolFp32Sum);
  }
}

TEST_CASE("ldmatrix x4 and x4.trans: each lane's registers as documented, row addresses from any lanes") {
  std::vector<bf16> src(256);
  for (int i = 0; i < 256; i++) src[i] = bf16(float(i));  // exact in bf16: every element identifiable
  Dev<bf16> dsrc(src);
  Dev<uint32_t> dout(2 * 32 * 4);
  BEOP_LAUNCH(ldmatrix_layout_kernel, 1, 32, 256 * sizeof(bf16), 0, dout.p, dsrc.p);
  const std::vector<uint32_t> out = dout.get();
  // matrix j's row i is the stored row given by lane 8j + i; element (i, c) of it is the value 8·row + c
  auto elem = [](int j, int i, int c) {
    return uint32_t(__bfloat16_as_ushort(bf16(float(stored_row(8 * j + i) * 8 + c))));
  };
  int wrong_plain = 0, wrong_trans = 0;
  for (int l = 0; l < 32; l++) {
    const int g = l / 4, t = l % 4;
    for (int j = 0; j < 4; j++) {
      wrong_plain += out[l * 4 + j] != (elem(j, g, 2 * t) | elem(j, g, 2 * t + 1) << 16);
      wrong_trans += out[(32 + l) * 4 + j] != (elem(j, 2 * t, g) | elem(j, 2 * t + 1, g) << 16);
    }
  }
  CHECK(wrong_plain == 0);
  CHECK(wrong_trans == 0);
}

TEST_CASE("tc::product_abt and tc::product_pm (the attention kernels' score and output products)") {
  check_products<16, 16, 16>(30);
  check_products<32, 64, 32>(40);
  check_products<128, 32, 128>(50);  // the dk/dv kernel's D = 128 query tile
  check_products<64, 64, 64>(60);
}

#if !defined(__CUDACC__)
TEST_CASE("ldmatrix emulation: a missing barrier before the load reads stale rows, whatever the schedule") {
  cudatest::ScheduleGuard guard;
  Dev<uint32_t> dout(32 * 4);
  const size_t smem = 256 * sizeof(bf16);
  for (auto order : {simt::Order::Forward, simt::Order::Reverse, simt::Order::Shuffle}) {
    simt::set_order(order, 7);
    BEOP_LAUNCH(write_then_ldmatrix_kernel, 1, 32, smem, 0, dout.p, 1);
    std::vector<uint32_t> with = dout.get();
    // lane l's register j: rows given by lanes 8j + g, i.e. stored rows (8j + g + 1) % 32
    int wrong = 0;
    for (int l = 0; l < 32; l++)
      for (int j = 0; j < 4; j++) {
        const int row = (8 * j + l / 4 + 1) % 32, c = l % 4 * 2;
        const uint32_t want = uint32_t(__bfloat16_as_ushort(bf16(float(row * 8 + c)))) |
                              uint32_t(__bfloat16_as_ushort(bf16(float(row * 8 + c + 1)))) << 16;
        wrong += with[l * 4 + j] != want;
      }
    CHECK(wrong == 0);
    BEOP_LAUNCH(write_then_ldmatrix_kernel, 1, 32, smem, 0, dout.p, 0);
    // the first lane to run read a row before its writer ran: dynamic shared memory's 0xFFFF poison
    int poison = 0;
    for (uint32_t r : dout.get()) poison += (r & 0xffffu) == 0xffffu || (r >> 16) == 0xffffu;
    CHECK(poison >= 1);
  }
}

TEST_CASE("mma emulation: a partial warp, a misaligned or a non-shared ldmatrix address are errors") {
  const size_t smem = 512 * sizeof(bf16);
  BEOP_LAUNCH(ldmatrix_at_kernel, 1, 32, smem, 0, nullptr, 0);  // fine: 32 aligned rows inside
  CHECK_THROWS_WITH_AS(BEOP_LAUNCH(ldmatrix_at_kernel, 1, 32, smem, 0, nullptr, 4), doctest::Contains("16-byte"),
                       beop::Error);
  CHECK_THROWS_WITH_AS(BEOP_LAUNCH(ldmatrix_at_kernel, 1, 32, smem, 0, nullptr, 256 + 8),
                       doctest::Contains("outside the block's dynamic shared memory"), beop::Error);
  Dev<bf16> global(512);
  CHECK_THROWS_WITH_AS(BEOP_LAUNCH(ldmatrix_at_kernel, 1, 32, smem, 0, global.p, 0),
                       doctest::Contains("outside the block's dynamic shared memory"), beop::Error);
  CHECK_THROWS_WITH_AS(BEOP_LAUNCH(half_warp_mma_kernel, 1, 32, 0, 0), doctest::Contains("exited or inactive"),
                       beop::Error);
  BEOP_LAUNCH(ldmatrix_at_kernel, 1, 32, smem, 0, nullptr, 0);  // the emulation's state is clean afterwards
}
#endif
