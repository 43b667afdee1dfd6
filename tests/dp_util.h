// What the data-parallel tests (tests/test_data_parallel.cpp, tests/test_dp_two_hosts.cpp) check alike: N ranks
// train like one process (the logged lines and the final weights, within the rounding bounds derived in
// test_data_parallel.cpp), and a job with a killed rank ends as tests/kill_rank.sh reports it.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/checkpoint.h"
#include "tests/test_util.h"
#include "tests/train_fixture.h"

namespace beop::test {

// The run's step lines (metrics.jsonl "train" records) as JSON.
inline std::vector<nlohmann::json> train_lines(const std::string& run) {
  std::vector<nlohmann::json> v;
  for (const std::string& l : logged_train_lines(run)) v.push_back(nlohmann::json::parse(l));
  return v;
}

inline double rel(double a, double b) { return std::fabs(a - b) / std::max(std::fabs(a), 1e-30); }

// `many` (N ranks) logged the same `steps` steps as `one` (one process): the first loss exactly (no reduction
// before it), then loss within 1e-6 and grad norm within 1e-5 relative (the rank-order sums round differently from
// one process's accumulation: test_data_parallel.cpp says why); the same tokens and learning rates.
inline void check_same_lines(const std::string& one, const std::string& many, size_t steps) {
  const auto a = train_lines(one), b = train_lines(many);
  REQUIRE(a.size() == steps);
  REQUIRE(b.size() == steps);
  CHECK(a[0]["loss"] == b[0]["loss"]);
  for (size_t i = 0; i < a.size(); i++) {
    CAPTURE(i);
    CHECK(a[i]["step"] == b[i]["step"]);
    CHECK(a[i]["tokens"] == b[i]["tokens"]);
    CHECK(a[i]["lr"] == b[i]["lr"]);
    CHECK(rel(a[i]["loss"], b[i]["loss"]) < 1e-6);
    CHECK(rel(a[i]["grad_norm"], b[i]["grad_norm"]) < 1e-5);
  }
}

// The largest |difference| between the two checkpoints' weights (the caller bounds it), after checking that they
// hold the same number of them.
inline float worst_weight_difference(const LoadedCheckpoint& a, const LoadedCheckpoint& b) {
  REQUIRE(a.params.size() == b.params.size());
  float worst = 0;
  for (size_t i = 0; i < a.params.size(); i++) worst = std::max(worst, std::fabs(a.params[i] - b.params[i]));
  return worst;
}

// tests/kill_rank.sh's report "rc=R took=MS left=K" in `out`: the job ended non-zero but not by `timeout` (124:
// a rank hung), within 30 s of the kill, with no process of it left behind.
inline void check_killed_job(const std::string& out) {
  const size_t at = out.find("rc=");
  REQUIRE(at != std::string::npos);
  int rc = -1, took = -1, left = -1;
  REQUIRE(std::sscanf(out.c_str() + at, "rc=%d took=%d left=%d", &rc, &took, &left) == 3);
  CHECK(rc != 0);
  CHECK(rc != 124);
  CHECK(took < 30000);
  CHECK(left == 0);
}

}  // namespace beop::test
