// Percentile bootstrap intervals for evaluation scores (docs/EVAL.md, "Intervals"): the mean of per-item scores,
// the mean of several tasks' means (AVG), and the paired difference of two settings scored on the same items.
// Deterministic: resample r draws its n indices from splitmix64(seed) in order, index = draw % n, so an oracle
// (tests/py/test_eval_bootstrap.py) can replay the same resamples; the interval is the 2.5th and 97.5th percentile
// of the B resample means with linear interpolation (numpy.percentile's default).
#pragma once
#include <cstdint>
#include <vector>

namespace beop::eval {

inline constexpr int kBootstrapResamples = 1000;
inline constexpr uint64_t kBootstrapSeed = 1;

struct Interval {
  double lo = 0, hi = 0;
};

// splitmix64 (Steele et al.): the bootstrap's random source; state advances by the golden-ratio constant.
uint64_t splitmix64(uint64_t* state);

// The q-th percentile (0..100) of v with linear interpolation between order statistics (numpy's default).
double percentile(std::vector<double> v, double q);

// Interval of the mean of x. Empty x -> {0, 0}.
Interval bootstrap_mean(const std::vector<double>& x, int resamples = kBootstrapResamples,
                        uint64_t seed = kBootstrapSeed);

// Interval of the mean of the group means (AVG over tasks): each resample redraws every group's items (groups in
// order, from one random stream). Empty groups are left out.
Interval bootstrap_mean_of_means(const std::vector<std::vector<double>>& groups,
                                 int resamples = kBootstrapResamples, uint64_t seed = kBootstrapSeed);

// Paired: interval of mean(b - a) over items scored in both settings (a[i], b[i] = the same item). Sizes must match
// (Error otherwise).
Interval bootstrap_paired_diff(const std::vector<double>& a, const std::vector<double>& b,
                               int resamples = kBootstrapResamples, uint64_t seed = kBootstrapSeed);

}  // namespace beop::eval
