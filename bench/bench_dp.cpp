// Data-parallel throughput on this machine's cores (issue 16, docs/PERFORMANCE.md): the same training as 1 rank x 2
// threads (`./train --threads 2`) and as 2 ranks x 1 thread (`mpirun -np 2 ./train --threads 1`), alternated in
// one run, and the time rank 0 spends in MPI collectives per step (the "mpi:" line ./train prints under mpirun:
// waiting for the other rank included). Runs ./train on the tests' fixture (tests/train_fixture.h), written to
// build/bench_dp. Figures are printed, not asserted.
// Usage: build/bench/bench_dp [--runs 3] [--steps 12]      (from the repository root; needs mpirun)
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/test_util.h"
#include "tests/train_fixture.h"

namespace {

const std::string kDir = "build/bench_dp";

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

struct Run {
  double tok_s = 0;       // median of the logged tok_s from step 3 on (steps 1-2 warm up)
  double comm_ms = -1;    // rank 0's milliseconds in collectives per step (-1: one process)
  double step_ms = 0;     // median step time
};

Run run(bool mpi, int steps) {
  const std::string out = kDir + (mpi ? "/ranks2" : "/ranks1");
  const std::string flags = "--batch 4 --seq 128 --grad-accum 2 --eval-every 0 --quiet --force --steps " +
                            std::to_string(steps) + (mpi ? " --threads 1" : " --threads 2");
  std::string cmd = beop::test::train_command(kDir, out, flags);
  cmd = cmd.substr(0, cmd.find(" --val ")) + cmd.substr(cmd.find(" --batch "));  // no validation sets
  if (mpi)
    cmd = "mpirun --allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader "
          "--mca btl_vader_single_copy_mechanism none -np 2 " + cmd;
  const beop::test::ShellResult r = beop::test::shell(cmd);
  if (r.rc != 0) {
    std::fprintf(stderr, "bench_dp: failed (exit %d): %s\n%s\n", r.rc, cmd.c_str(), r.out.c_str());
    std::exit(1);
  }
  std::vector<double> tok_s;
  std::FILE* f = std::fopen((out + "/metrics.jsonl").c_str(), "r");
  char line[4096];
  while (f && std::fgets(line, sizeof line, f)) {
    const nlohmann::json j = nlohmann::json::parse(line);
    if (j.value("type", "") == "train" && j.value("step", 0) >= 3) tok_s.push_back(j["tok_s"].get<double>());
  }
  if (f) std::fclose(f);
  Run res;
  res.tok_s = median(tok_s);
  res.step_ms = 1000.0 * 4 * 128 * 2 / res.tok_s;
  const size_t at = r.out.find("mpi: rank 0 of 2 spent ");
  if (at != std::string::npos) res.comm_ms = 1000 * std::atof(r.out.c_str() + at + 23) / steps;
  return res;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 3, steps = 12;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--runs")) runs = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--steps")) steps = std::atoi(argv[i + 1]);
  }
  if (beop::test::shell("command -v mpirun").rc != 0) {
    std::printf("bench_dp: no mpirun here; skipped\n");
    return 0;
  }
  beop::test::make_train_fixture(kDir);
  std::printf("tiny preset, B 4, T 128, --grad-accum 2, %d steps, tok/s = median of steps 3-%d; %d alternated runs\n",
              steps, steps, runs);
  std::vector<double> one, two, comm, step2;
  for (int i = 0; i < runs; i++) {
    // alternate which goes first, so that a load change hits both layouts alike
    const Run a = i % 2 ? run(true, steps) : run(false, steps);
    const Run b = i % 2 ? run(false, steps) : run(true, steps);
    const Run& r1 = i % 2 ? b : a;
    const Run& r2 = i % 2 ? a : b;
    one.push_back(r1.tok_s), two.push_back(r2.tok_s), comm.push_back(r2.comm_ms), step2.push_back(r2.step_ms);
    std::printf("run %d: 1 rank x 2 threads %.0f tok/s | 2 ranks x 1 thread %.0f tok/s (ratio %.2f), step %.1f ms, "
                "in collectives %.1f ms/step\n", i + 1, r1.tok_s, r2.tok_s, r2.tok_s / r1.tok_s, r2.step_ms,
                r2.comm_ms);
  }
  std::vector<double> ratio;
  for (size_t i = 0; i < one.size(); i++) ratio.push_back(two[i] / one[i]);
  std::printf("median: 1 rank x 2 threads %.0f tok/s, 2 ranks x 1 thread %.0f tok/s, ratio %.2f; rank 0 in "
              "collectives %.1f ms of a %.1f ms step (%.0f%%)\n", median(one), median(two), median(ratio),
              median(comm), median(step2), 100 * median(comm) / median(step2));
  return 0;
}
