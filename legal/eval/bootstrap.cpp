// Percentile bootstrap intervals (bootstrap.h).
#include "legal/eval/bootstrap.h"

#include <algorithm>
#include <cmath>

#include "src/common.h"

namespace beop::eval {

uint64_t splitmix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double percentile(std::vector<double> v, double q) {
  BEOP_CHECK(!v.empty(), "percentile of an empty sample");
  std::sort(v.begin(), v.end());
  const double pos = q / 100.0 * double(v.size() - 1);
  const size_t i = size_t(std::floor(pos));
  if (i + 1 >= v.size()) return v.back();
  return v[i] + (pos - double(i)) * (v[i + 1] - v[i]);
}

Interval bootstrap_mean_of_means(const std::vector<std::vector<double>>& groups, int resamples, uint64_t seed) {
  std::vector<const std::vector<double>*> g;
  for (auto& x : groups)
    if (!x.empty()) g.push_back(&x);
  if (g.empty()) return {};
  BEOP_CHECK(resamples > 0, "bootstrap needs at least one resample");
  uint64_t state = seed;
  std::vector<double> means;
  means.reserve(size_t(resamples));
  for (int r = 0; r < resamples; r++) {
    double total = 0;
    for (auto* x : g) {
      const uint64_t n = x->size();
      double s = 0;
      for (uint64_t k = 0; k < n; k++) s += (*x)[size_t(splitmix64(&state) % n)];
      total += s / double(n);
    }
    means.push_back(total / double(g.size()));
  }
  return {percentile(means, 2.5), percentile(means, 97.5)};
}

Interval bootstrap_mean(const std::vector<double>& x, int resamples, uint64_t seed) {
  return bootstrap_mean_of_means({x}, resamples, seed);
}

Interval bootstrap_paired_diff(const std::vector<double>& a, const std::vector<double>& b, int resamples, uint64_t seed) {
  BEOP_CHECK(a.size() == b.size(), "paired bootstrap: ", a.size(), " items against ", b.size());
  std::vector<double> d(a.size());
  for (size_t i = 0; i < a.size(); i++) d[i] = b[i] - a[i];
  return bootstrap_mean(d, resamples, seed);
}

}  // namespace beop::eval
