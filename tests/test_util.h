// Helpers shared by the tests: error measures, random fills, running a Python oracle.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <sys/wait.h>
#include <string>
#include <vector>

#include "src/common.h"
#include "src/rng.h"

namespace beop::test {

// max_i |a_i - b_i| / max_i |b_i|: the error relative to the tensor's scale. (Element-wise relative error
// is meaningless for elements near zero, which every gradient has.)
template <typename A, typename B>
double max_rel_err(const A* a, const B* b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    num = std::max(num, std::fabs(double(a[i]) - double(b[i])));
    den = std::max(den, std::fabs(double(b[i])));
  }
  return den == 0 ? num : num / den;
}
template <typename A, typename B>
double max_rel_err(const std::vector<A>& a, const std::vector<B>& b) {
  return a.size() != b.size() ? INFINITY : max_rel_err(a.data(), b.data(), a.size());
}

// B x T random token inputs and targets below `vocab`, and a loss mask with about `keep` of its entries 1: the
// training batch of the whole-model tests (CPU and CUDA). Draws x, y, mask per position, in that order.
struct RandomBatch {
  std::vector<int32_t> x, y;
  std::vector<uint8_t> mask;
};
inline RandomBatch random_batch(int vocab, int B, int T, uint64_t seed, double keep) {
  Rng r(seed);
  RandomBatch b;
  for (int i = 0; i < B * T; i++) {
    b.x.push_back(int32_t(r.below(uint64_t(vocab))));
    b.y.push_back(int32_t(r.below(uint64_t(vocab))));
    b.mask.push_back(r.uniform() < keep ? 1 : 0);
  }
  return b;
}

template <typename T>
std::vector<T> randn(size_t n, uint64_t seed, double std = 1.0) {
  Rng r(seed);
  std::vector<T> v(n);
  for (auto& x : v) x = T(std * r.normal());
  return v;
}

// The message of the beop::Error that f throws, or "<no error>".
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

// Runs a shell command and captures its output (stdout, plus stderr when merge_stderr) and exit status
// (128 when it did not exit normally). For tests of the programs (./train, ./infer, ./prep).
struct ShellResult {
  int rc = 128;
  std::string out;
};
inline ShellResult shell(const std::string& cmd, bool merge_stderr = true) {
  ShellResult r;
  FILE* p = popen((cmd + (merge_stderr ? " 2>&1" : " 2>/dev/null")).c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = pclose(p);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
  return r;
}

// Runs a command (an oracle script); returns its exit status. Output goes to the test log.
inline int run(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

}  // namespace beop::test
