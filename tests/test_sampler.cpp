// Sampler: each rule against a distribution computed by hand (or by an independent sort/softmax here), and the
// draw against its expected frequencies.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "src/common.h"
#include "src/sampler.h"
#include "tests/test_util.h"

using namespace beop;

static SamplingParams sp(float t, int k = 0, float p = 1.0f, uint64_t seed = 1) {
  SamplingParams s;
  s.temperature = t, s.top_k = k, s.top_p = p, s.seed = seed;
  return s;
}
static std::vector<float> logs(std::vector<double> probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back(float(std::log(p)));
  return l;
}

TEST_CASE("temperature 1 reproduces the softmax; temperature 2 = softmax(logits / 2)") {
  const std::vector<float> l = {1.0f, 2.0f, 0.5f, -1.0f};
  for (double T : {1.0, 2.0}) {
    double z = 0;
    for (float x : l) z += std::exp(x / T);
    const auto d = sampling_distribution(l, sp(float(T)));
    REQUIRE(d.size() == 4);
    // descending order: ids 1, 0, 2, 3
    CHECK(d[0].id == 1);
    CHECK(d[1].id == 0);
    CHECK(d[2].id == 2);
    CHECK(d[3].id == 3);
    for (auto& t : d) CHECK(t.p == doctest::Approx(std::exp(l[size_t(t.id)] / T) / z).epsilon(1e-12));
  }
}

TEST_CASE("top-k keeps exactly the k largest, renormalised") {
  const std::vector<float> l = test::randn<float>(50, 7);
  std::vector<int> order(50);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return l[size_t(a)] > l[size_t(b)]; });
  for (int k : {1, 5, 49}) {
    const auto d = sampling_distribution(l, sp(1.0f, k));
    REQUIRE(int(d.size()) == k);
    double z = 0;
    for (int i = 0; i < k; i++) z += std::exp(double(l[size_t(order[size_t(i)])]));
    for (int i = 0; i < k; i++) {
      CHECK(d[size_t(i)].id == order[size_t(i)]);
      CHECK(d[size_t(i)].p == doctest::Approx(std::exp(double(l[size_t(order[size_t(i)])])) / z).epsilon(1e-9));
    }
  }
  CHECK(sampling_distribution(l, sp(1.0f, 0)).size() == 50);   // 0 = off
  CHECK(sampling_distribution(l, sp(1.0f, 500)).size() == 50);  // k > V = off
}

TEST_CASE("top-p keeps the smallest prefix with mass >= p") {
  const std::vector<float> l = logs({0.5, 0.3, 0.15, 0.05});
  auto ids = [](const std::vector<TokenProb>& d) {
    std::vector<int> v;
    for (auto& t : d) v.push_back(t.id);
    return v;
  };
  CHECK(ids(sampling_distribution(l, sp(1.0f, 0, 0.4f))) == std::vector<int>{0});
  CHECK(ids(sampling_distribution(l, sp(1.0f, 0, 0.5f))) == std::vector<int>{0});  // 0.5 >= 0.5
  CHECK(ids(sampling_distribution(l, sp(1.0f, 0, 0.7f))) == std::vector<int>{0, 1});
  CHECK(ids(sampling_distribution(l, sp(1.0f, 0, 0.9f))) == std::vector<int>{0, 1, 2});
  CHECK(ids(sampling_distribution(l, sp(1.0f, 0, 0.96f))) == std::vector<int>{0, 1, 2, 3});
  const auto d = sampling_distribution(l, sp(1.0f, 0, 0.7f));
  CHECK(d[0].p == doctest::Approx(0.5 / 0.8).epsilon(1e-6));  // float logits: ~1e-7 relative
  CHECK(d[1].p == doctest::Approx(0.3 / 0.8).epsilon(1e-6));
  // top-k first, then top-p over the renormalised top-k: k=2 -> {0.625, 0.375}; p=0.6 keeps only id 0
  CHECK(ids(sampling_distribution(l, sp(1.0f, 2, 0.6f))) == std::vector<int>{0});
  CHECK(ids(sampling_distribution(l, sp(1.0f, 2, 0.7f))) == std::vector<int>{0, 1});
}

TEST_CASE("temperature -> 0 equals greedy") {
  for (uint64_t s = 0; s < 50; s++) {
    std::vector<float> l = test::randn<float>(100, 100 + s);
    const int best = int(std::max_element(l.begin(), l.end()) - l.begin());
    // make the top gap at least 0.01 so T = 1e-4 gives the runner-up exp(-100) of the top's probability
    for (size_t i = 0; i < l.size(); i++)
      if (int(i) != best && l[i] > l[size_t(best)] - 0.01f) l[i] = l[size_t(best)] - 0.01f;
    CHECK(argmax(l) == best);
    Sampler g(sp(0.0f, 0, 1.0f, s)), c(sp(1e-4f, 0, 1.0f, s));
    for (int i = 0; i < 20; i++) {
      CHECK(g.sample(l, {}) == best);
      CHECK(c.sample(l, {}) == best);
    }
    const auto d = sampling_distribution(l, sp(1e-4f));
    CHECK(d[0].id == best);
    CHECK(d[0].p == 1.0);  // runner-up has exp(-100) ~ 4e-44 of the mass: 1 to double precision
  }
  // ties: lowest id
  CHECK(argmax({1.0f, 3.0f, 3.0f}) == 1);
}

TEST_CASE("repetition penalty: positive logits divided, negative multiplied, once per distinct token") {
  std::vector<float> l = {2.0f, -1.0f, 0.5f, 3.0f, 0.0f};
  apply_repetition_penalty(l, {0, 1, 1, 1, 4, 99, -3}, 2.0f);  // 99, -3: outside the vocabulary, ignored
  CHECK(l == std::vector<float>{1.0f, -2.0f, 0.5f, 3.0f, 0.0f});
  // it changes the greedy choice: token 3 seen -> 3/1.25 = 2.4 < 2.5
  Sampler g(sp(0.0f));
  SamplingParams p = sp(0.0f);
  p.repetition_penalty = 1.25f;
  Sampler pen(p);
  const std::vector<float> m = {2.5f, 0.0f, 0.0f, 3.0f};
  CHECK(g.sample(m, {3}) == 3);
  CHECK(pen.sample(m, {3}) == 0);
  CHECK(pen.sample(m, {}) == 3);
}

TEST_CASE("same seed -> same tokens; another seed -> another sequence") {
  const std::vector<float> l = test::randn<float>(200, 3, 2.0);
  auto run = [&](uint64_t seed) {
    SamplingParams p = sp(1.0f, 50, 0.95f, seed);
    Sampler s(p);
    std::vector<int32_t> out;
    for (int i = 0; i < 64; i++) out.push_back(s.sample(l, {}));
    return out;
  };
  CHECK(run(42) == run(42));
  CHECK(run(42) != run(43));
}

TEST_CASE("empirical frequencies of a 3-token distribution within 4 sigma over 20k draws") {
  const std::vector<double> p = {0.2, 0.3, 0.5};
  Sampler s(sp(1.0f, 0, 1.0f, 2024));
  const int n = 20000;
  std::vector<int> count(3, 0);
  for (int i = 0; i < n; i++) count[size_t(s.sample(logs(p), {}))]++;
  for (int k = 0; k < 3; k++) {
    const double sigma = std::sqrt(n * p[size_t(k)] * (1 - p[size_t(k)]));  // binomial std of the count
    INFO("token ", k, " count ", count[size_t(k)], " expected ", n * p[size_t(k)]);
    CHECK(std::fabs(count[size_t(k)] - n * p[size_t(k)]) < 4 * sigma);
  }
  // and with top-k 2 the third token never appears, the other two split 0.3 : 0.5
  Sampler s2(sp(1.0f, 2, 1.0f, 7));
  std::vector<int> c2(3, 0);
  for (int i = 0; i < n; i++) c2[size_t(s2.sample(logs(p), {}))]++;
  CHECK(c2[0] == 0);
  const double q = 0.5 / 0.8, sigma = std::sqrt(n * q * (1 - q));
  CHECK(std::fabs(c2[2] - n * q) < 4 * sigma);
}

TEST_CASE("bad sampling parameters are refused with the field's name") {
  CHECK_THROWS_WITH_AS(Sampler(sp(-1.0f)), doctest::Contains("temperature"), Error);
  CHECK_THROWS_WITH_AS(Sampler(sp(1.0f, -2)), doctest::Contains("top_k"), Error);
  CHECK_THROWS_WITH_AS(Sampler(sp(1.0f, 0, 0.0f)), doctest::Contains("top_p"), Error);
  CHECK_THROWS_WITH_AS(Sampler(sp(1.0f, 0, 1.5f)), doctest::Contains("top_p"), Error);
  SamplingParams p = sp(1.0f);
  p.repetition_penalty = 0;
  CHECK_THROWS_WITH_AS(Sampler{p}, doctest::Contains("repetition_penalty"), Error);
}
