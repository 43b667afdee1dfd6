// Asynchronous copies (cuda/simt/cp_async.h): on the CPU through the SIMT emulation in every CI run and,
// compiled by nvcc (scripts/gpu_check.sh), on a real GPU:
//   - a tile copied by 128 threads with zero-filled rows, and two groups retired one wait at a time (the
//     double buffering of the attention kernels), against the source;
// Host-only, the emulation's guarantees: a copy is invisible before its group's wait, and to other threads
// before the barrier that follows it (a missing one reads stale data whatever the schedule); pending copies
// end with their block; misaligned or non-shared addresses are errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "cuda/simt/cp_async.h"
#include "tests/cuda_check.h"

using namespace beop;
using beop::cudatest::Dev;
using beop::async::cp_async16;
using beop::async::cp_async_commit;
using beop::async::cp_async_wait;
using beop::simt::CopyLanding;

namespace {

constexpr int kRowInts = 4;  // a row is 16 bytes: one cp.async

// Two tiles of R rows (R <= 128) copied as two groups into dynamic shared memory, rows >= valid of each
// zero-filled; out = tile 0 after wait<1> (tile 1 may still be in flight), then tile 1 after wait<0>.
__global__ void two_groups_kernel(int32_t* out, const int32_t* src, int R, int valid) {
  BEOP_DYNAMIC_SHARED(int32_t, tiles);
  const int t = threadIdx.x;
  for (int g = 0; g < 2; g++) {
    if (t < R) cp_async16(tiles + (g * R + t) * kRowInts, src + (g * R + t) * kRowInts, t < valid);
    cp_async_commit();
  }
  cp_async_wait<1>();
  __syncthreads();
  if (t < R)
    for (int i = 0; i < kRowInts; i++) out[t * kRowInts + i] = tiles[t * kRowInts + i];
  cp_async_wait<0>();
  __syncthreads();
  if (t < R)
    for (int i = 0; i < kRowInts; i++) out[(R + t) * kRowInts + i] = tiles[(R + t) * kRowInts + i];
}

// Streams `tiles` tiles of 128 rows through two buffers the way the attention kernels do (the next tile's
// copy issued before this one is used); every thread sums a row copied by another thread:
// out[i*128 + t] = sum of row (t + 1) % 128 of tile i. Planted bugs: 1 = no wait, 2 = no barrier at the end
// of an iteration (the next refill can overwrite a buffer that slower threads still read).
__global__ void pipeline_kernel(int32_t* out, const int32_t* src, int tiles, int bug) {
  BEOP_DYNAMIC_SHARED(int32_t, smem);
  int32_t* buf[2] = {smem, smem + 128 * kRowInts};
  const int t = threadIdx.x, r = (t + 1) % 128;
  cp_async16(buf[0] + t * kRowInts, src + t * kRowInts, true);
  cp_async_commit();
  for (int i = 0, b = 0; i < tiles; i++, b ^= 1) {
    if (i + 1 < tiles) cp_async16(buf[b ^ 1] + t * kRowInts, src + ((i + 1) * 128 + t) * kRowInts, true);
    cp_async_commit();
    if (bug != 1) cp_async_wait<1>();
    __syncthreads();
    int32_t sum = 0;
    for (int k = 0; k < kRowInts; k++) sum += buf[b][r * kRowInts + k];
    out[i * 128 + t] = sum;
    if (bug != 2) __syncthreads();
  }
}

std::vector<int32_t> run_pipeline(const Dev<int32_t>& src, int tiles, int bug) {
  Dev<int32_t> out(size_t(tiles) * 128);
  BEOP_LAUNCH(pipeline_kernel, 1, 128, 2 * 128 * kRowInts * sizeof(int32_t), 0, out.p, src.p, tiles, bug);
  return out.get();
}

#if !defined(__CUDACC__)
// Thread t copies row t, waits for its own copy, then (with or without a barrier) reads row t + 1.
__global__ void neighbour_kernel(int32_t* out, const int32_t* src, int barrier) {
  BEOP_DYNAMIC_SHARED(int32_t, tile);
  const int t = threadIdx.x, n = blockDim.x;
  cp_async16(tile + t * kRowInts, src + t * kRowInts, true);
  cp_async_commit();
  cp_async_wait<0>();
  if (barrier) __syncthreads();
  out[t] = tile[(t + 1) % n * kRowInts];
}

// Reads before the wait: the copy has not landed.
__global__ void read_before_wait_kernel(int32_t* out, const int32_t* src) {
  BEOP_DYNAMIC_SHARED(int32_t, tile);
  cp_async16(tile, src, true);
  cp_async_commit();
  out[0] = tile[0];
  cp_async_wait<0>();
  out[1] = tile[0];
}

// Block 0 issues and commits a copy but never waits; block 1 waits and reads: nothing of block 0's arrives.
__global__ void leftover_kernel(int32_t* out, const int32_t* src) {
  BEOP_DYNAMIC_SHARED(int32_t, tile);
  if (blockIdx.x == 0) {
    cp_async16(tile, src, true);
    cp_async_commit();
    return;
  }
  cp_async_wait<0>();
  out[0] = tile[0];
}

__global__ void copy_at_kernel(const int32_t* src, int dst_offset_ints, int src_offset_ints, int to_global) {
  BEOP_DYNAMIC_SHARED(int32_t, tile);
  int32_t* dst = to_global ? const_cast<int32_t*>(src) + 64 : tile + dst_offset_ints;
  cp_async16(dst, src + src_offset_ints, true);
}
#endif

std::vector<int32_t> iota(size_t n, int32_t from) {
  std::vector<int32_t> v(n);
  for (size_t i = 0; i < n; i++) v[i] = from + int32_t(i);
  return v;
}

}  // namespace

TEST_CASE("cp.async: a double-buffered pipeline of 5 tiles gives every thread the right rows") {
  const int tiles = 5;
  const auto src = iota(size_t(tiles) * 128 * kRowInts, 3);
  std::vector<int32_t> want(size_t(tiles) * 128);
  for (int i = 0; i < tiles; i++)
    for (int t = 0; t < 128; t++)
      for (int k = 0; k < kRowInts; k++)
        want[size_t(i * 128 + t)] += src[size_t((i * 128 + (t + 1) % 128) * kRowInts + k)];
  Dev<int32_t> dsrc(src);
  cudatest::ScheduleGuard guard;
  // (on a GPU: whenever the hardware lands them)
  for (CopyLanding landing : {CopyLanding::AtWait, CopyLanding::AtIssue}) {
    simt::set_copy_landing(landing);
    CHECK(run_pipeline(dsrc, tiles, 0) == want);
  }
}

TEST_CASE("cp.async: a tile with zero-filled rows, and two groups retired one wait at a time") {
  for (int R : {1, 64, 128})
    for (int valid : {0, R / 2, R}) {
      CAPTURE(R); CAPTURE(valid);
      const auto src = iota(size_t(2 * R * kRowInts), 1000);
      Dev<int32_t> dsrc(src), dout(size_t(2 * R * kRowInts));
      BEOP_LAUNCH(two_groups_kernel, 1, 128, 2 * R * kRowInts * sizeof(int32_t), 0, dout.p, dsrc.p, R, valid);
      const auto out = dout.get();
      int wrong = 0;
      for (int g = 0; g < 2; g++)
        for (int r = 0; r < R; r++)
          for (int i = 0; i < kRowInts; i++) {
            const size_t at = size_t((g * R + r) * kRowInts + i);
            wrong += out[at] != (r < valid ? src[at] : 0);
          }
      CHECK(wrong == 0);
    }
}

#if !defined(__CUDACC__)
TEST_CASE("cp.async emulation: invisible before the wait, and to other threads before the barrier") {
  const auto src = iota(128 * kRowInts, 7);
  Dev<int32_t> dsrc(src), dout(128);
  const size_t smem = 128 * kRowInts * sizeof(int32_t);
  cudatest::ScheduleGuard guard;
  for (auto order : {simt::Order::Forward, simt::Order::Reverse, simt::Order::Shuffle}) {
    simt::set_order(order, 3);
    BEOP_LAUNCH(neighbour_kernel, 1, 128, smem, 0, dout.p, dsrc.p, 1);
    auto with = dout.get();
    int wrong = 0;
    for (int t = 0; t < 128; t++) wrong += with[size_t(t)] != src[size_t((t + 1) % 128 * kRowInts)];
    CHECK(wrong == 0);
    BEOP_LAUNCH(neighbour_kernel, 1, 128, smem, 0, dout.p, dsrc.p, 0);
    // the first thread to run reads a row whose copier has not waited yet: the 0xFF poison (-1)
    const auto without = dout.get();
    CHECK(std::count(without.begin(), without.end(), -1) >= 1);
  }
  Dev<int32_t> two(2);
  BEOP_LAUNCH(read_before_wait_kernel, 1, 1, 64, 0, two.p, dsrc.p);
  const auto t2 = two.get();
  CHECK(t2[0] == -1);  // dynamic shared memory starts as 0xFF bytes
  CHECK(t2[1] == src[0]);
}

TEST_CASE("cp.async emulation: a missing wait (copies land at the wait) and a missing end-of-iteration barrier "
          "(copies land at once) both give wrong rows") {
  const int tiles = 5;
  const auto src = iota(size_t(tiles) * 128 * kRowInts, 3);
  Dev<int32_t> dsrc(src);
  const auto good = run_pipeline(dsrc, tiles, 0);
  cudatest::ScheduleGuard guard;
  for (auto order : {simt::Order::Forward, simt::Order::Reverse, simt::Order::Shuffle}) {
    simt::set_order(order, 11);
    simt::set_copy_landing(CopyLanding::AtWait);
    const auto no_wait = run_pipeline(dsrc, tiles, 1);  // sums of never-landed rows: 4 x poison (-1)
    CHECK(std::count(no_wait.begin(), no_wait.end(), -kRowInts) >= 1);
    simt::set_copy_landing(CopyLanding::AtIssue);
    CHECK(run_pipeline(dsrc, tiles, 2) != good);  // (a later tile's row: a plausible value, just wrong)
  }
}

TEST_CASE("cp.async emulation: pending copies end with their block; misaligned or non-shared addresses") {
  const auto src = iota(256, 5);
  Dev<int32_t> dsrc(src), dout(1);
  BEOP_LAUNCH(leftover_kernel, 2, 32, 64, 0, dout.p, dsrc.p);
  CHECK(dout.get()[0] == -1);
  const size_t smem = 256;
  BEOP_LAUNCH(copy_at_kernel, 1, 1, smem, 0, dsrc.p, 4, 4, 0);  // fine: 16 bytes in on both sides
  CHECK_THROWS_WITH_AS(BEOP_LAUNCH(copy_at_kernel, 1, 1, smem, 0, dsrc.p, 2, 0, 0), doctest::Contains("16-byte"),
                       beop::Error);
  CHECK_THROWS_WITH_AS(BEOP_LAUNCH(copy_at_kernel, 1, 1, smem, 0, dsrc.p, 0, 1, 0), doctest::Contains("16-byte"),
                       beop::Error);
  CHECK_THROWS_WITH_AS(BEOP_LAUNCH(copy_at_kernel, 1, 1, smem, 0, dsrc.p, 64, 0, 0),
                       doctest::Contains("outside the block's dynamic shared memory"), beop::Error);
  CHECK_THROWS_WITH_AS(BEOP_LAUNCH(copy_at_kernel, 1, 1, smem, 0, dsrc.p, 0, 0, 1),
                       doctest::Contains("outside the block's dynamic shared memory"), beop::Error);
}
#endif
