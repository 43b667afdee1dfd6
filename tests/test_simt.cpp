// Tests of the CPU SIMT runtime (cuda/simt): the shared example kernels (cuda/kernels/example_reduce.cuh) run
// on the CPU and are checked against host-side oracles computed independently (integer sums, the documented
// CUDA shuffle semantics, IEEE round-to-nearest-even by exhaustive comparison). Planted bugs compiled from the
// same source must produce wrong results; misuse (divergent barriers, deadlocks, shared memory overruns) must
// throw beop::Error.
//
// Exactness: all float data below are small integers or halves, so every partial sum is exactly
// representable (|sum| < 2^23) and the order of additions cannot change a result: the comparisons are exact.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "cuda/kernels/example_reduce.cuh"
#define BEOP_EXAMPLE_PLANT_BUGS
#define BEOP_EXAMPLE_NS beop_example_planted
#include "cuda/kernels/example_reduce.cuh"

namespace ex = beop_example;
namespace bug = beop_example_planted;
using beop::simt::Order;

namespace {

// Restores the default schedule when a test changes it.
struct OrderGuard {
  Order o = beop::simt::order();
  uint64_t s = beop::simt::seed();
  beop::simt::Switch sw = beop::simt::fiber_switch();
  ~OrderGuard() {
    beop::simt::set_order(o, s);
    beop::simt::set_switch(sw);
  }
};

// "Device" buffer through the mapped runtime API, so the host API is exercised as kernel code uses it.
template <typename T>
struct DevBuf {
  T* p = nullptr;
  size_t n = 0;
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  explicit DevBuf(const std::vector<T>& host) : n(host.size()) {
    REQUIRE(cudaMalloc(&p, n * sizeof(T)) == cudaSuccess);
    REQUIRE(cudaMemcpy(p, host.data(), n * sizeof(T), cudaMemcpyHostToDevice) == cudaSuccess);
  }
  std::vector<T> get() const {
    std::vector<T> h(n);
    REQUIRE(cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost) == cudaSuccess);
    return h;
  }
  ~DevBuf() { CHECK(cudaFree(p) == cudaSuccess); }
};

// x[i]: small integers 1..13 (as float), a fixed non-uniform pattern.
std::vector<float> ints(int n) {
  std::vector<float> x(n);
  for (int i = 0; i < n; i++) x[i] = float((i * 7) % 13 + 1);
  return x;
}

// The per-block sums block_sum_smem<BLOCK> must produce: block b visits i with (i / BLOCK) % grid == b.
std::vector<int64_t> block_oracle(const std::vector<float>& x, int block, int grid) {
  std::vector<int64_t> s(grid, 0);
  for (size_t i = 0; i < x.size(); i++) s[(i / block) % grid] += int64_t(x[i]);
  return s;
}

std::vector<float> run_block_sum(bool planted, const std::vector<float>& x, int grid) {
  DevBuf<float> dx(x), dp(std::vector<float>(grid, -1.0f));
  if (planted)
    BEOP_LAUNCH(bug::block_sum_smem<256>, grid, 256, 0, 0, dx.p, int(x.size()), dp.p);
  else
    BEOP_LAUNCH(ex::block_sum_smem<256>, grid, 256, 0, 0, dx.p, int(x.size()), dp.p);
  return dp.get();
}

bool matches(const std::vector<float>& got, const std::vector<int64_t>& want) {
  if (got.size() != want.size()) return false;
  for (size_t i = 0; i < got.size(); i++)
    if (got[i] != float(want[i])) return false;
  return true;
}

// Nearest bf16 to f by direct comparison of distances in double (exact: both candidates and f are floats),
// ties to the even candidate; an independent oracle for the bit trick in the runtime.
uint16_t bf16_oracle(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  uint16_t lo = uint16_t(u >> 16);  // truncation: same sign, magnitude <= |f|
  uint16_t hi = uint16_t(lo + 1);   // next magnitude up (0x7F7F + 1 = inf)
  auto val = [](uint16_t h) {
    if ((h & 0x7fff) == 0x7f80) return std::ldexp((h & 0x8000) ? -1.0 : 1.0, 128);  // overflow threshold
    uint32_t w = uint32_t(h) << 16;
    float g;
    std::memcpy(&g, &w, 4);
    return double(g);
  };
  double d = double(f), dlo = std::fabs(d - val(lo)), dhi = std::fabs(val(hi) - d);
  if (dlo < dhi) return lo;
  if (dhi < dlo) return hi;
  return (lo & 1) ? hi : lo;
}

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace

TEST_CASE("block reduction through shared memory with __syncthreads is exact") {
  auto x = ints(10007);  // odd size: the last block's threads see uneven counts
  for (int grid : {1, 5, 40}) {
    auto got = run_block_sum(false, x, grid);
    auto want = block_oracle(x, 256, grid);
    for (int b = 0; b < grid; b++) CHECK(got[b] == float(want[b]));
  }
  // The same under every schedule and a few seeds.
  OrderGuard g;
  for (Order o : {Order::Forward, Order::Reverse, Order::Shuffle})
    for (uint64_t seed : {1ull, 2ull, 99ull}) {
      beop::simt::set_order(o, seed);
      CHECK(matches(run_block_sum(false, x, 5), block_oracle(x, 256, 5)));
    }
}

TEST_CASE("planted bug: the block reduction without its first __syncthreads gives wrong sums") {
  auto x = ints(10007);
  auto want = block_oracle(x, 256, 5);
  OrderGuard g;  // (BEOP_SIMT_ORDER may have changed the default: set the schedule explicitly)
  // Default schedule (shuffled rounds, default seed): some reader runs before its writer.
  beop::simt::set_order(Order::Shuffle);
  CHECK_FALSE(matches(run_block_sum(true, x, 5), want));
  for (uint64_t seed : {1ull, 2ull, 3ull, 4ull, 5ull}) {
    beop::simt::set_order(Order::Shuffle, seed);
    CHECK_FALSE(matches(run_block_sum(true, x, 5), want));
  }
  // Forward order: thread t < 128 reads buf[t + 128] before thread t + 128 has run at all.
  beop::simt::set_order(Order::Forward);
  CHECK_FALSE(matches(run_block_sum(true, x, 5), want));
  // Reverse order hides this particular race (every writer t + s runs before its reader t): a documented
  // limitation of any fixed order, and the reason Shuffle is the default.
  beop::simt::set_order(Order::Reverse);
  CHECK(matches(run_block_sum(true, x, 5), want));
}

TEST_CASE("warp reductions: xor butterfly and shfl_down are exact; planted partners give the predicted wrong sums") {
  const int warps = 8, n = warps * 32;  // grid 2 x block 128
  std::vector<int> xi(n);
  std::vector<float> xf(n);
  for (int i = 0; i < n; i++) xi[i] = (i * 37) % 101 - 50, xf[i] = float(xi[i]);
  std::vector<int64_t> sum(warps, 0), half(2 * warps, 0);
  for (int i = 0; i < n; i++) sum[i / 32] += xi[i], half[i / 16] += xi[i];

  DevBuf<int> dxi(xi), douti(std::vector<int>(warps, 12345));
  DevBuf<float> dxf(xf), doutf(std::vector<float>(warps, 12345.0f));

  BEOP_LAUNCH(ex::warp_sums_xor<int>, 2, 128, 0, 0, dxi.p, douti.p);
  BEOP_LAUNCH(ex::warp_sums_xor<float>, 2, 128, 0, 0, dxf.p, doutf.p);
  auto oi = douti.get();
  auto of = doutf.get();
  for (int w = 0; w < warps; w++) {
    CHECK(oi[w] == sum[w]);
    CHECK(of[w] == float(sum[w]));
  }
  BEOP_LAUNCH(ex::warp_sums_down<int>, 2, 128, 0, 0, dxi.p, douti.p);
  oi = douti.get();
  for (int w = 0; w < warps; w++) CHECK(oi[w] == sum[w]);

  // Planted xor partners 8,4,2,1,0: after 8..1 each lane holds its 16-lane half's sum, then adds itself.
  // Warp w's result is written by lane w % 32, which is in the lower half for w < 16.
  BEOP_LAUNCH(bug::warp_sums_xor<int>, 2, 128, 0, 0, dxi.p, douti.p);
  oi = douti.get();
  for (int w = 0; w < warps; w++) {
    int64_t h = half[2 * w + ((w % 32) < 16 ? 0 : 1)];
    CHECK(oi[w] == 2 * h);
    CHECK(oi[w] != sum[w]);
  }
  // Planted shfl_down starting at offset 32: out of range, so each lane adds its own value first (CUDA
  // returns the caller's value when lane + delta leaves the width) -> lane 0 ends with twice the sum.
  BEOP_LAUNCH(bug::warp_sums_down<int>, 2, 128, 0, 0, dxi.p, douti.p);
  oi = douti.get();
  for (int w = 0; w < warps; w++) {
    CHECK(oi[w] == 2 * sum[w]);
    CHECK(oi[w] != sum[w]);
  }
}

TEST_CASE("__ballot_sync bit pattern, full and partial warps") {
  std::vector<float> x(64);
  for (int i = 0; i < 64; i++) x[i] = ((i * 5) % 7 < 3) ? 1.0f : -1.0f;
  unsigned want[2] = {0, 0};
  for (int i = 0; i < 64; i++)
    if (x[i] > 0) want[i / 32] |= 1u << (i % 32);
  DevBuf<float> dx(x);
  DevBuf<unsigned> db(std::vector<unsigned>(2, 0xdeadbeef));
  BEOP_LAUNCH(ex::positive_ballot, 2, 32, 0, 0, dx.p, db.p);  // two blocks of one warp
  auto b = db.get();
  CHECK(b[0] == want[0]);
  CHECK(b[1] == want[1]);
  // One block of 40 threads: warp 1 has 8 lanes; lanes 8..31 do not exist and cannot vote.
  DevBuf<unsigned> db40(std::vector<unsigned>(2, 0xdeadbeef));
  BEOP_LAUNCH(ex::positive_ballot, 1, 40, 0, 0, dx.p, db40.p);
  b = db40.get();
  CHECK(b[0] == want[0]);
  CHECK(b[1] == (want[1] & 0xffu));
}

TEST_CASE("atomics from every thread of many blocks") {
  const int grid = 37, block = 96, total = grid * block;  // 3552: exact as a float count (< 2^24)
  DevBuf<int> count({0}), max_id({-1}), cas_max({-1});
  DevBuf<float> fsum({0.0f});
  BEOP_LAUNCH(ex::atomics, grid, block, 0, 0, count.p, fsum.p, max_id.p, cas_max.p);
  CHECK(count.get()[0] == total);
  CHECK(fsum.get()[0] == float(total));
  CHECK(max_id.get()[0] == total - 1);
  CHECK(cas_max.get()[0] == total - 1);
  auto st = beop::simt::last_launch_stats();
  CHECK(st.blocks == uint64_t(grid));
  CHECK(st.threads == uint64_t(total));
}

TEST_CASE("dynamic shared memory: size honoured, poisoned per block, overrun detected") {
  const int count = 1000, grid = 3;
  DevBuf<float> out(std::vector<float>(grid, -1.0f));
  DevBuf<unsigned> first(std::vector<unsigned>(grid, 0));
  BEOP_LAUNCH(ex::smem_fill, grid, 96, count * sizeof(float), 0, count, out.p, first.p);
  auto o = out.get();
  auto f = first.get();
  for (int b = 0; b < grid; b++) {
    CHECK(o[b] == float(count * (count - 1) / 2));  // 0 + 1 + ... + 999 = 499500, exact in float
    CHECK(f[b] == 0xffffffffu);  // every block starts from the poison, not the previous block's data
  }
  // One float more than the launch provides: the write lands in the canary and the launch throws.
  CHECK_THROWS_WITH_AS(BEOP_LAUNCH(ex::smem_fill, 1, 96, count * sizeof(float), 0, count + 1, out.p, first.p),
                       doctest::Contains("past the end of its 4000 bytes of dynamic shared memory"), beop::Error);
  // More than any GPU allows.
  CHECK_THROWS_AS(BEOP_LAUNCH(ex::smem_fill, 1, 96, 300 * 1024, 0, 10, out.p, first.p), beop::Error);

  // Whole-array sum with per-warp partials in dynamic shared memory (4 warps -> 16 bytes) and atomicAdd.
  const int n = 100003;
  std::vector<float> x(n);
  double want = 0;
  for (int i = 0; i < n; i++) x[i] = float((i % 17) - 8) * 0.5f, want += x[i];
  DevBuf<float> dx(x), tot({0.0f});
  BEOP_LAUNCH(ex::sum_all, 13, 128, 4 * sizeof(float), 0, dx.p, n, tot.p);
  CHECK(double(tot.get()[0]) == want);
}

TEST_CASE("grid-stride loops with odd sizes visit every element exactly once") {
  for (int n : {1, 95, 97, 288, 289, 1001, 5003}) {
    std::vector<float> x(n), y(n);
    for (int i = 0; i < n; i++) x[i] = float(i % 10), y[i] = float(i % 7);
    DevBuf<float> dx(x), dy(y);
    DevBuf<int> hits(std::vector<int>(n, 0));
    BEOP_LAUNCH(ex::saxpy_stride, 3, 96, 0, 0, n, 2.0f, dx.p, dy.p, hits.p);  // 288 threads
    auto h = hits.get();
    auto r = dy.get();
    int bad_hits = 0, bad_y = 0;
    for (int i = 0; i < n; i++) {
      bad_hits += h[i] != 1;
      bad_y += r[i] != 2.0f * x[i] + y[i];  // small integers: exact with or without FMA contraction
    }
    CHECK_MESSAGE(bad_hits == 0, "n=", n);
    CHECK_MESSAGE(bad_y == 0, "n=", n);
  }
}

TEST_CASE("multi-dimensional grids and blocks") {
  struct Cfg {
    dim3 grid, block;
  };
  for (Cfg c : {Cfg{dim3(3, 2, 2), dim3(4, 3, 2)}, Cfg{dim3(2, 3, 1), dim3(5, 7, 3)}, Cfg{dim3(1, 1, 5), dim3(1, 64, 1)}}) {
    unsigned tpb = c.block.x * c.block.y * c.block.z, nb = c.grid.x * c.grid.y * c.grid.z;
    DevBuf<unsigned> rec(std::vector<unsigned>(size_t(tpb) * nb * 4, 0xffffffffu));
    BEOP_LAUNCH(ex::whoami, c.grid, c.block, 0, 0, rec.p);
    auto r = rec.get();
    int bad = 0;
    // Host enumeration in the documented CUDA linearisation (x fastest).
    for (unsigned bz = 0; bz < c.grid.z; bz++)
      for (unsigned by = 0; by < c.grid.y; by++)
        for (unsigned bx = 0; bx < c.grid.x; bx++)
          for (unsigned tz = 0; tz < c.block.z; tz++)
            for (unsigned ty = 0; ty < c.block.y; ty++)
              for (unsigned tx = 0; tx < c.block.x; tx++) {
                size_t blk = bx + c.grid.x * (by + c.grid.y * bz), thr = tx + c.block.x * (ty + c.block.y * tz);
                size_t g = blk * tpb + thr;
                bad += r[g * 4 + 0] != (tx | ty << 8 | tz << 16);
                bad += r[g * 4 + 1] != (bx | by << 8 | bz << 16);
                bad += r[g * 4 + 2] != (c.block.x | c.block.y << 8 | c.block.z << 16);
                bad += r[g * 4 + 3] != (c.grid.x | c.grid.y << 8 | c.grid.z << 16);
              }
    CHECK(bad == 0);
    CHECK(beop::simt::last_launch_stats().threads == uint64_t(tpb) * nb);
  }
}

TEST_CASE("bf16 conversions round to nearest even") {
  struct Case {
    uint32_t f;
    uint16_t h;
  };
  // Expected patterns by hand: bf16 keeps the top 16 bits of the float; the low 16 bits decide rounding
  // (> 0x8000 up, < 0x8000 down, == 0x8000 to the even kept pattern).
  const Case cases[] = {
      {0x3F800000, 0x3F80},  // 1.0 exact
      {0xBF800000, 0xBF80},  // -1.0
      {0x3F808000, 0x3F80},  // 1 + 2^-8: halfway between 0x3F80 and 0x3F81 -> even 0x3F80
      {0x3F818000, 0x3F82},  // halfway between 0x3F81 and 0x3F82 -> even 0x3F82
      {0x3F808001, 0x3F81},  // just above halfway -> up
      {0x3F807FFF, 0x3F80},  // just below halfway -> down
      {0xBF818000, 0xBF82},  // negative tie: magnitude to even
      {0x3FFF8000, 0x4000},  // 1.99609375 + tie: rounds up across the exponent boundary to 2.0
      {0x7F7FFFFF, 0x7F80},  // FLT_MAX: above the largest bf16's half-ulp -> +inf
      {0x7F7F7FFF, 0x7F7F},  // just below that halfway -> largest finite bf16
      {0x7F800000, 0x7F80},  // +inf
      {0xFF800000, 0xFF80},  // -inf
      {0x00000000, 0x0000},  // +0
      {0x80000000, 0x8000},  // -0
      {0x00000001, 0x0000},  // smallest denormal -> +0
      {0x00008000, 0x0000},  // tie between 0 and the smallest bf16 denormal -> even 0
      {0x00018000, 0x0002},  // tie between 0x0001 and 0x0002 -> even 0x0002
      {0x40490FDB, 0x4049},  // pi: low bits 0x0FDB < half -> down (3.140625)
  };
  for (const Case& c : cases) {
    CAPTURE(c.f);
    CHECK(__bfloat16_as_ushort(__float2bfloat16(from_bits(c.f))) == c.h);
    CHECK(bf16_oracle(from_bits(c.f)) == c.h);  // the oracle agrees with the hand derivation
  }
  // NaN stays NaN (canonical 0x7FFF); bf16 -> float is exact (append 16 zero bits).
  uint16_t nan = __bfloat16_as_ushort(__float2bfloat16(std::numeric_limits<float>::quiet_NaN()));
  CHECK((nan & 0x7f80) == 0x7f80);
  CHECK((nan & 0x007f) != 0);
  CHECK(__float_as_uint(__bfloat162float(__ushort_as_bfloat16(0x3F81))) == 0x3F810000u);
  CHECK(__float_as_uint(__bfloat162float(__ushort_as_bfloat16(0xC2F7))) == 0xC2F70000u);
  // Truncating variant for contrast: 0x3F80FFFF -> 0x3F80 (rn gives 0x3F81).
  CHECK(__bfloat16_as_ushort(__float2bfloat16_rz(from_bits(0x3F80FFFF))) == 0x3F80);
  CHECK(__bfloat16_as_ushort(__float2bfloat16_rn(from_bits(0x3F80FFFF))) == 0x3F81);

  // Sweep: random bit patterns (all exponents, denormals, both signs) plus every low-16-bit value around
  // 1.0, converted by a kernel and compared with the distance oracle.
  std::mt19937 rng(12345);
  std::vector<float> x;
  for (int i = 0; i < 200000; i++) {
    uint32_t u = rng();
    if ((u & 0x7f800000u) == 0x7f800000u) u &= 0xbfffffffu;  // keep finite
    x.push_back(from_bits(u));
  }
  for (uint32_t lowbits = 0; lowbits < 0x10000; lowbits++) x.push_back(from_bits(0x3F800000u | lowbits));
  DevBuf<float> dx(x), back(std::vector<float>(x.size(), 0.0f));
  DevBuf<__nv_bfloat16> dy(std::vector<__nv_bfloat16>(x.size(), __ushort_as_bfloat16(0)));
  BEOP_LAUNCH(ex::to_bf16, 64, 256, 0, 0, dx.p, int(x.size()), dy.p, back.p);
  auto y = dy.get();
  auto bk = back.get();
  size_t bad = 0, bad_back = 0;
  for (size_t i = 0; i < x.size(); i++) {
    bad += __bfloat16_as_ushort(y[i]) != bf16_oracle(x[i]);
    bad_back += __float_as_uint(bk[i]) != uint32_t(__bfloat16_as_ushort(y[i])) << 16;
  }
  CHECK(bad == 0);
  CHECK(bad_back == 0);
}

// ---- kernels that exercise semantics and misuse; CPU-only, defined here ------------------------------------

// Segmented operations with width 8: broadcast from each segment's lane 2 (asked for as lane 10: srcLane is
// taken modulo the width), inclusive scan with shfl_up, and an XOR by 8 that crosses segments (allowed into
// an earlier segment, the caller's own value for a later one), and shfl_up by 3 (the caller's own value in
// the segment's first 3 lanes). out: [n * 4] = {broadcast, scan, xor8, up3}.
__global__ void segments8(const int* x, int* out) {
  int i = threadIdx.x;
  int v = x[i];
  int bc = __shfl_sync(0xffffffffu, v, 10, 8);
  int x8 = __shfl_xor_sync(0xffffffffu, v, 8, 8);
  int up3 = __shfl_up_sync(0xffffffffu, v, 3, 8);
  int s = v;
  for (int d = 1; d < 8; d <<= 1) {
    int o = __shfl_up_sync(0xffffffffu, s, d, 8);
    if (i % 8 >= d) s += o;
  }
  out[4 * i] = bc;
  out[4 * i + 1] = s;
  out[4 * i + 2] = x8;
  out[4 * i + 3] = up3;
}

__global__ void barrier_votes(const int* x, int* out) {
  int p = x[threadIdx.x] > 0;
  int c = __syncthreads_count(p);
  int a = __syncthreads_and(p);
  int o = __syncthreads_or(p);
  if (threadIdx.x == 0) out[0] = c, out[1] = a, out[2] = o;
}

__global__ void early_exit_then_barrier(int* out) {
  if (threadIdx.x == 5) return;  // thread 5 leaves: a barrier not reached by every thread is undefined (may hang)
  __syncthreads();
  out[threadIdx.x] = 1;
}

__global__ void barriers_in_branches(int* out) {
  if (threadIdx.x % 2) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1;
}

__global__ void shuffle_vs_barrier(int* out) {
  int v = threadIdx.x;
  if (threadIdx.x == 0) v = __shfl_xor_sync(0xffffffffu, v, 1);  // lane 1 never shuffles
  else __syncthreads();
  out[threadIdx.x] = v;
}

// shfl_down by 16 in a partial warp reads lanes that do not exist: undefined -> poison (NaN).
__global__ void read_missing_lane(float* out) {
  float v = __shfl_down_sync(0xffffffffu, 1.0f, 16);
  out[threadIdx.x] = v;
}

__global__ void count_calls(int k, int* out) { atomicAdd(out, k); }

TEST_CASE("segmented shuffles (width 8) and barrier votes") {
  std::vector<int> x(64);
  for (int i = 0; i < 64; i++) x[i] = (i * 13) % 11 - 5;
  DevBuf<int> dx(x), out(std::vector<int>(4 * 64, 0));
  BEOP_LAUNCH(segments8, 1, 64, 0, 0, dx.p, out.p);
  auto o = out.get();
  int bad = 0;
  for (int i = 0; i < 64; i++) {
    int seg = i / 8 * 8, scan = 0;
    for (int j = seg; j <= i; j++) scan += x[j];
    int lane = i % 32;
    bad += o[4 * i] != x[seg + 2];
    bad += o[4 * i + 1] != scan;
    bad += o[4 * i + 2] != ((lane & 8) ? x[i - 8] : x[i]);
    bad += o[4 * i + 3] != (i % 8 < 3 ? x[i] : x[i - 3]);
  }
  CHECK(bad == 0);

  int positives = 0;
  for (int v : x) positives += v > 0;
  REQUIRE(positives > 0);
  REQUIRE(positives < 64);
  DevBuf<int> votes(std::vector<int>(3, -7));
  BEOP_LAUNCH(barrier_votes, 1, 64, 0, 0, dx.p, votes.p);
  auto v = votes.get();
  CHECK(v[0] == positives);
  CHECK(v[1] == 0);
  CHECK(v[2] == 1);
}

TEST_CASE("misuse is reported, and the runtime keeps working afterwards") {
  DevBuf<int> out(std::vector<int>(64, 0));
  CHECK_THROWS_WITH_AS(BEOP_LAUNCH(early_exit_then_barrier, 2, 64, 0, 0, out.p),
                       doctest::Contains("divergent __syncthreads()"), beop::Error);
  CHECK_THROWS_WITH_AS(BEOP_LAUNCH(barriers_in_branches, 1, 64, 0, 0, out.p),
                       doctest::Contains("divergent __syncthreads()"), beop::Error);
  CHECK_THROWS_WITH_AS(BEOP_LAUNCH(shuffle_vs_barrier, 1, 64, 0, 0, out.p), doctest::Contains("deadlock"),
                       beop::Error);
  CHECK_THROWS_WITH_AS(BEOP_LAUNCH(count_calls, 1, 1025, 0, 0, 1, out.p), doctest::Contains("invalid block"),
                       beop::Error);
  CHECK_THROWS_WITH_AS(__syncthreads(), doctest::Contains("outside a kernel"), beop::Error);

  // Reading a lane that does not exist yields the poison (NaN), not a plausible number.
  DevBuf<float> f(std::vector<float>(40, 0.0f));
  BEOP_LAUNCH(read_missing_lane, 1, 40, 0, 0, f.p);
  auto fv = f.get();
  int bad = 0;
  for (int i = 0; i < 32; i++) bad += fv[i] != 1.0f;  // warp 0: lane + 16 exists, or is past the width (own)
  for (int i = 32; i < 40; i++) bad += !std::isnan(fv[i]);  // warp 1 has lanes 0..7: lane + 16 is missing
  CHECK(bad == 0);

  // After all those failures, a correct kernel still runs correctly.
  auto x = ints(10007);
  CHECK(matches(run_block_sum(false, x, 5), block_oracle(x, 256, 5)));
}

TEST_CASE("launch arguments are evaluated once; host API errors") {
  int k = 0;
  DevBuf<int> out({0});
  BEOP_LAUNCH(count_calls, 4, 32, 0, 0, ++k, out.p);
  CHECK(k == 1);
  CHECK(out.get()[0] == 4 * 32);
  int local = 0;
  CHECK(cudaFree(&local) == cudaErrorInvalidDevicePointer);
  CHECK(cudaGetLastError() == cudaErrorInvalidDevicePointer);
  CHECK(cudaGetLastError() == cudaSuccess);  // cleared by the previous call
  CHECK(cudaDeviceSynchronize() == cudaSuccess);
}

TEST_CASE("both fiber switches (native and ucontext) run the same schedule to the same results") {
  OrderGuard g;
  beop::simt::set_order(Order::Shuffle);
  auto x = ints(10007);
  auto want = block_oracle(x, 256, 5);
  std::vector<float> planted[2];
  int k = 0;
  for (auto sw : {beop::simt::Switch::Native, beop::simt::Switch::Ucontext}) {
    beop::simt::set_switch(sw);
    CHECK(matches(run_block_sum(false, x, 5), want));
    planted[k] = run_block_sum(true, x, 5);
    CHECK_FALSE(matches(planted[k], want));
    DevBuf<int> out(std::vector<int>(64, 0));
    CHECK_THROWS_WITH_AS(BEOP_LAUNCH(early_exit_then_barrier, 2, 64, 0, 0, out.p),
                         doctest::Contains("divergent __syncthreads()"), beop::Error);
    CHECK(matches(run_block_sum(false, x, 5), want));
    k++;
  }
  // (The two planted results are not compared with each other: the stale values the bug reads come from
  // `static` __shared__ storage left by earlier launches, which differ between the two iterations.)
}
