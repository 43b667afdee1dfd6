#include "src/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "src/common.h"

namespace beop {

void validate_sampling(const SamplingParams& p) {
  BEOP_CHECK(std::isfinite(p.temperature) && p.temperature >= 0, "temperature must be >= 0, got ", p.temperature);
  BEOP_CHECK(p.top_k >= 0, "top_k must be >= 0 (0 = off), got ", p.top_k);
  BEOP_CHECK(std::isfinite(p.top_p) && p.top_p > 0 && p.top_p <= 1, "top_p must be in (0, 1], got ", p.top_p);
  BEOP_CHECK(std::isfinite(p.repetition_penalty) && p.repetition_penalty > 0,
             "repetition_penalty must be > 0, got ", p.repetition_penalty);
}

void apply_repetition_penalty(std::vector<float>& logits, const std::vector<int32_t>& seen, float penalty) {
  if (penalty == 1.0f) return;
  std::unordered_set<int32_t> done;  // each distinct token is penalised once, however often it occurred
  for (int32_t id : seen) {
    if (id < 0 || size_t(id) >= logits.size() || !done.insert(id).second) continue;
    float& l = logits[size_t(id)];
    l = l > 0 ? l / penalty : l * penalty;
  }
}

void mask_ids_from(std::vector<float>& logits, size_t n_valid) {
  BEOP_CHECK(n_valid > 0, "mask_ids_from: no valid id left");
  for (size_t i = n_valid; i < logits.size(); i++) logits[i] = -INFINITY;
}

int32_t argmax(const std::vector<float>& logits) {
  BEOP_CHECK(!logits.empty(), "argmax of empty logits");
  return int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());  // first max = lowest id
}

std::vector<TokenProb> sampling_distribution(const std::vector<float>& logits, const SamplingParams& p) {
  BEOP_CHECK(!logits.empty(), "sampling from empty logits");
  if (p.temperature <= 0) return {{argmax(logits), 1.0}};
  // softmax(logits / T) in double, shifted by the max so exp never overflows (tiny T included)
  const double inv_t = 1.0 / double(p.temperature);
  const double mx = double(logits[size_t(argmax(logits))]);
  std::vector<TokenProb> d(logits.size());
  double z = 0;
  for (size_t i = 0; i < logits.size(); i++) {
    const double e = std::isfinite(logits[i]) || logits[i] == -INFINITY ? std::exp((double(logits[i]) - mx) * inv_t) : 0.0;
    d[i] = {int32_t(i), e};
    z += e;
  }
  for (auto& t : d) t.p /= z;
  auto by_prob = [](const TokenProb& a, const TokenProb& b) { return a.p != b.p ? a.p > b.p : a.id < b.id; };
  size_t keep = d.size();
  if (p.top_k > 0 && size_t(p.top_k) < keep) {
    keep = size_t(p.top_k);
    std::partial_sort(d.begin(), d.begin() + keep, d.end(), by_prob);
    d.resize(keep);
  } else {
    std::sort(d.begin(), d.end(), by_prob);
  }
  // drop zero-probability tail (underflowed at small T): they could never be drawn anyway
  while (d.size() > 1 && d.back().p == 0) d.pop_back();
  double mass = 0;
  for (auto& t : d) mass += t.p;
  for (auto& t : d) t.p /= mass;  // renormalise over the top-k
  if (p.top_p < 1.0f) {
    double cum = 0;
    size_t n = 0;
    while (n < d.size()) {
      cum += d[n++].p;
      if (cum >= double(p.top_p) * (1 - 1e-12)) break;  // smallest prefix with mass >= p (float-rounding slack)
    }
    d.resize(n);
    for (auto& t : d) t.p /= cum;
  }
  return d;
}

Sampler::Sampler(const SamplingParams& p) : p_(p), rng_(p.seed) { validate_sampling(p); }

int32_t Sampler::sample(std::vector<float> logits, const std::vector<int32_t>& history) {
  apply_repetition_penalty(logits, history, p_.repetition_penalty);
  if (p_.temperature <= 0) return argmax(logits);  // greedy consumes no randomness
  const std::vector<TokenProb> d = sampling_distribution(logits, p_);
  const double u = rng_.uniform();
  double cum = 0;
  for (const TokenProb& t : d) {
    cum += t.p;
    if (u < cum) return t.id;
  }
  return d.back().id;  // u within rounding of 1
}

}  // namespace beop
