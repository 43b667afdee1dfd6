// src/comm.h's transports: SingleComm in process, MpiComm (cli/comm_mpi.cpp) under mpirun. Each MPI case starts
// itself: run plainly, it launches `mpirun -np 3` on this binary with a filter naming the same case; under mpirun
// (launched_by_mpi()) it is one rank and checks the collectives. The binary links libmpi (the Makefile).
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "cli/comm_mpi.h"
#include "src/comm.h"
#include "src/common.h"
#include "tests/test_util.h"

using namespace beop;

// `mpirun -np n` on this binary running only `test_case`; the job's output and exit status.
static beop::test::ShellResult run_ranks(int n, const std::string& test_case) {
  char self[4096];
  const ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  REQUIRE(len > 0);
  return beop::test::shell("timeout 60 "
                           "mpirun --allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader "
                           "--mca btl_vader_single_copy_mechanism none -np " + std::to_string(n) + " " +
                           std::string(self, size_t(len)) + " --no-intro --no-version '--test-case=" + test_case + "'");
}

TEST_CASE("SingleComm: rank 0 of 1, collectives leave buffers alone, on_root runs and rethrows") {
  Comm& c = single_comm();
  CHECK(c.rank() == 0);
  CHECK(c.size() == 1);
  float v[2] = {1.5f, -2};
  c.all_reduce_sum(v, 2);
  CHECK(v[0] == 1.5f);
  int ran = 0;
  on_root(c, [&] { ran++; });
  CHECK(ran == 1);
  CHECK_THROWS_WITH(on_root(c, [] { fail("disk full"); }), "disk full");
  check_same_on_every_rank(c, "anything", "flags");
}

TEST_CASE("MPI: sums are the rank-order fold on every rank; max, broadcast, on_root") {
  if (!cli::launched_by_mpi()) {
    const beop::test::ShellResult r = run_ranks(3, "MPI: sums*");
    INFO(r.out);
    CHECK(r.rc == 0);
    return;
  }
  auto c = cli::open_comm();
  REQUIRE(c->size() == 3);
  // values whose fp32 sum depends on the order: ((a0 + a1) + a2) is what every rank must get
  for (size_t n : {size_t(0), size_t(1), size_t(2), size_t(5), size_t(1001)}) {
    CAPTURE(n);
    auto val = [](int r, size_t i) { return r == 0 ? 1e8f + float(i) : r == 1 ? 3.0f : 1.0f / float(i + 3); };
    std::vector<float> v(n);
    for (size_t i = 0; i < n; i++) v[i] = val(c->rank(), i);
    c->all_reduce_sum(v.data(), n);
    for (size_t i = 0; i < n; i++) {
      const float want = (val(0, i) + val(1, i)) + val(2, i);
      if (v[i] != want) FAIL("element ", i, ": ", v[i], " != ", want);
    }
  }
  double d[2] = {0.1 * (c->rank() + 1), 1};
  c->all_reduce_sum(d, 2);
  CHECK(d[0] == (0.1 + 0.2) + 0.30000000000000004);
  CHECK(d[1] == 3);
  int64_t m[2] = {c->rank(), -c->rank()};
  c->all_reduce_max(m, 2);
  CHECK(m[0] == 2);
  CHECK(m[1] == 0);
  uint64_t b = c->rank() == 1 ? 42 : 0;
  c->broadcast(&b, sizeof b, 1);
  CHECK(b == 42);
  std::string err;
  try {
    on_root(*c, [&] { fail("rank 0 could not write"); });
  } catch (const std::exception& e) {
    err = e.what();
  }
  CHECK(err == "rank 0 could not write");  // on every rank
  try {
    check_same_on_every_rank(*c, c->rank() == 2 ? "other" : "same", "flags");
    err.clear();
  } catch (const std::exception& e) {
    err = e.what();
  }
  CHECK(err.find("the ranks were started with different flags") != std::string::npos);
  c->barrier();
  CHECK(c->finish(0) == 0);
}

TEST_CASE("shard_range: contiguous shards that tile [0, n) in rank order, sizes within one") {
  for (size_t n : {size_t(0), size_t(1), size_t(2), size_t(7), size_t(1000), size_t(12345678901)}) {
    for (int N : {1, 2, 3, 8}) {
      size_t at = 0, lo = n, hi = 0;
      for (int r = 0; r < N; r++) {
        const ShardRange s = shard_range(n, N, r);
        CHECK(s.lo == at);
        at = s.hi;
        lo = std::min(lo, s.size()), hi = std::max(hi, s.size());
      }
      CHECK(at == n);
      CHECK(hi - lo <= 1);
    }
  }
}

// ZeRO-1's two halves on 3 ranks, with sizes 3 does not divide (and n < 3: a rank owns nothing).
TEST_CASE("MPI: reduce-scatter gives each rank the rank-order sum of its shard; all-gather and gather-to-root assemble the shards") {
  if (!cli::launched_by_mpi()) {
    const beop::test::ShellResult r = run_ranks(3, "MPI: reduce-scatter*");
    INFO(r.out);
    CHECK(r.rc == 0);
    return;
  }
  auto c = cli::open_comm();
  REQUIRE(c->size() == 3);
  for (size_t n : {size_t(1), size_t(2), size_t(4), size_t(1001), size_t(100000)}) {
    CAPTURE(n);
    auto val = [](int r, size_t i) { return r == 0 ? 1e8f + float(i) : r == 1 ? 3.0f : 1.0f / float(i + 3); };
    std::vector<float> v(n);
    for (size_t i = 0; i < n; i++) v[i] = val(c->rank(), i);
    c->reduce_scatter_sum(v.data(), n);
    const ShardRange s = shard_range(n, 3, c->rank());
    for (size_t i = s.lo; i < s.hi; i++) {
      const float want = (val(0, i) + val(1, i)) + val(2, i);
      if (v[i] != want) FAIL("element ", i, ": ", v[i], " != ", want);
    }
    // all-gather in 2-byte elements (bf16 weights) and 8-byte ones: every rank writes only its shard
    std::vector<uint16_t> h(n, 0xffff);
    std::vector<uint64_t> d(n, 0);
    for (size_t i = s.lo; i < s.hi; i++)
      h[i] = uint16_t(c->rank() * 1000 + i % 997), d[i] = (uint64_t(c->rank()) << 40) + i;
    c->all_gather(h.data(), n, 2);
    c->all_gather(d.data(), n, 8);
    for (int r = 0; r < 3; r++) {
      const ShardRange q = shard_range(n, 3, r);
      for (size_t i = q.lo; i < q.hi; i++) {
        if (h[i] != uint16_t(r * 1000 + i % 997)) FAIL("2-byte element ", i, " of rank ", r, "'s shard: ", h[i]);
        if (d[i] != (uint64_t(r) << 40) + i) FAIL("8-byte element ", i, " of rank ", r, "'s shard: ", d[i]);
      }
    }
    // gather to rank 0 (a ZeRO-1 save): each rank sends only its shard, packed; only rank 0 has a full buffer
    std::vector<uint32_t> mine(s.size()), all(c->rank() == 0 ? n : 0, 0xdeadbeef);
    for (size_t i = 0; i < s.size(); i++) mine[i] = uint32_t(c->rank() * 1000003 + s.lo + i);
    c->gather_to_root(mine.data(), c->rank() == 0 ? all.data() : nullptr, n, 4);
    if (c->rank() == 0)
      for (int r = 0; r < 3; r++) {
        const ShardRange q = shard_range(n, 3, r);
        for (size_t i = q.lo; i < q.hi; i++)
          if (all[i] != uint32_t(r * 1000003 + i)) FAIL("gathered element ", i, " of rank ", r, "'s shard: ", all[i]);
      }
  }
  CHECK_THROWS_WITH(c->reduce_scatter_sum(nullptr, 4, DType::bf16),
                    "MPI reduce-scatter: only fp32 buffers (bf16 needs NCCL)");
  c->barrier();
  CHECK(c->finish(0) == 0);
}

TEST_CASE("MPI: a rank that fails alone ends the whole job, with its message, in bounded time") {
  if (!cli::launched_by_mpi()) {
    const auto t0 = std::chrono::steady_clock::now();
    const beop::test::ShellResult r = run_ranks(3, "MPI: a rank that fails alone*");
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    INFO(r.out);
    CHECK(r.rc != 0);
    CHECK(r.rc != 124);  // timeout's: the others hung
    CHECK(took < 30);    // the 10 s wait for peers, then MPI_Abort
    CHECK(r.out.find("error: rank 1 of 3 failed (exit 1) while the others went on") != std::string::npos);
    return;
  }
  auto c = cli::open_comm();
  if (c->rank() == 1) c->finish(1);  // does not return: aborts the job
  float v = 1;
  c->all_reduce_sum(&v, 1);  // ranks 0 and 2 wait here for rank 1, which never comes
  c->finish(0);
}
