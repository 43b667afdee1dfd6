// The evaluation's statistics and overlap rules: bootstrap intervals on cases with known answers (the numpy oracle
// with the same resamples is tests/py/test_eval_bootstrap.py), character n-gram containment, the removal of
// quoted sentences, the precedent assignment, the no-model baselines and the near-duplicate shares.
#include <doctest/doctest.h>

#include <cmath>

#include "legal/eval/baselines.h"
#include "legal/eval/bootstrap.h"
#include "legal/eval/task_split.h"
#include "legal/eval/train_overlap.h"
#include "src/common.h"

using namespace beop;
using namespace beop::eval;

TEST_CASE("splitmix64: the published first outputs for seed 0") {
  // Reference values of splitmix64 from state 0 (Vigna's splitmix64.c).
  uint64_t s = 0;
  CHECK(splitmix64(&s) == 0xE220A8397B1DCDAFull);
  CHECK(splitmix64(&s) == 0x6E789E6AA1B965F4ull);
  CHECK(splitmix64(&s) == 0x06C45D188009454Full);
}

TEST_CASE("percentile: numpy's linear interpolation") {
  CHECK(percentile({1, 2, 3, 4}, 50) == doctest::Approx(2.5));
  CHECK(percentile({4, 1, 3, 2}, 2.5) == doctest::Approx(1.075));   // numpy.percentile([1,2,3,4], 2.5)
  CHECK(percentile({4, 1, 3, 2}, 97.5) == doctest::Approx(3.925));
  CHECK(percentile({7}, 97.5) == 7);
  CHECK_THROWS_AS(percentile({}, 50), Error);
}

TEST_CASE("bootstrap intervals: exact cases") {
  // Constant scores: no spread.
  const Interval c = bootstrap_mean({0.4, 0.4, 0.4});
  CHECK(c.lo == doctest::Approx(0.4));
  CHECK(c.hi == doctest::Approx(0.4));
  // Two items 0 and 1: the resample mean is 0, 1/2, 1 with probabilities 1/4, 1/2, 1/4, so with 1,000 resamples
  // the 2.5th percentile is 0 and the 97.5th is 1 (each end holds ~25% of the mass).
  const Interval b = bootstrap_mean({0, 1});
  CHECK(b.lo == 0);
  CHECK(b.hi == 1);
  // The same resamples for the same size: shifting every score shifts the interval exactly.
  const std::vector<double> x = {0.1, 0.5, 0.2, 0.9, 0.3, 0.0, 0.7};
  std::vector<double> y = x;
  for (double& v : y) v += 2;
  const Interval ix = bootstrap_mean(x), iy = bootstrap_mean(y);
  CHECK(iy.lo == doctest::Approx(ix.lo + 2));
  CHECK(iy.hi == doctest::Approx(ix.hi + 2));
  // Paired difference of a setting with itself: exactly zero; of a shifted copy: exactly the shift.
  const Interval d0 = bootstrap_paired_diff(x, x);
  CHECK(d0.lo == 0);
  CHECK(d0.hi == 0);
  const Interval d2 = bootstrap_paired_diff(x, y);
  CHECK(d2.lo == doctest::Approx(2));
  CHECK(d2.hi == doctest::Approx(2));
  CHECK_THROWS_AS(bootstrap_paired_diff({1, 2}, {1}), Error);
  // One group: the mean of means is the mean.
  const Interval g = bootstrap_mean_of_means({x});
  CHECK(g.lo == ix.lo);
  CHECK(g.hi == ix.hi);
  CHECK(bootstrap_mean({}).lo == 0);
}

TEST_CASE("bootstrap intervals: width of a Bernoulli mean close to the normal approximation") {
  // 400 items, half correct: the 95% interval is about mean ± 1.96 * sqrt(0.25 / 400) = 0.5 ± 0.049.
  std::vector<double> x(400);
  for (size_t i = 0; i < x.size(); i++) x[i] = double(i % 2);
  const Interval i = bootstrap_mean(x);
  CHECK(i.lo < 0.5);
  CHECK(i.hi > 0.5);
  CHECK((i.hi - i.lo) / 2 == doctest::Approx(0.049).epsilon(0.12));
  // Paired vs unpaired: b = a + noise on few items; the paired interval of the difference is much narrower
  // than the sum of the two intervals' half-widths.
  std::vector<double> b = x;
  for (size_t k = 0; k < 20; k++) b[k * 20] = 1 - b[k * 20];
  const Interval d = bootstrap_paired_diff(x, b);
  CHECK(d.hi - d.lo < 0.5 * (i.hi - i.lo));
}

TEST_CASE("n-gram containment and the removal of quoted sentences") {
  const std::string ref = "임대인은 임차인에게 보증금을 반환하여야 한다.";
  CHECK(ngram_containment(ref, "사건 개요. " + ref + " 끝.", 5) == 1.0);
  CHECK(ngram_containment(ref, "전혀 다른 글입니다.", 5) == 0.0);
  CHECK(ngram_containment("짧다", "짧다", 5) == 0.0);  // shorter than n
  // Whitespace runs (line breaks) do not hide a quotation.
  CHECK(ngram_containment("가나다라 마바사", "가나다라\n\n마바사", 6) == 1.0);
  int removed = -1;
  const std::string text = "원심은 청구를 기각하였다. 임대인은 임차인에게 보증금을 반환하여야 한다. 그러므로 파기한다.\n다음 줄이다.";
  const std::string kept = strip_quoted_sentences(text, ref, 10, &removed);
  CHECK(removed == 1);
  CHECK(kept == "원심은 청구를 기각하였다. 그러므로 파기한다.\n다음 줄이다.");
  CHECK(ngram_containment(ref, kept, 10) == 0.0);
}

TEST_CASE("precedent assignment: each test precedent serves one task; criminal ones never Complaint") {
  CHECK(precedent_owner(false, 0) == Task::Complaint);
  CHECK(precedent_owner(false, 1) == Task::Summary);
  CHECK(precedent_owner(false, 2) == Task::QA);
  CHECK(precedent_owner(false, 3) == Task::Complaint);
  for (size_t k = 0; k < 10; k++) CHECK(precedent_owner(true, k) != Task::Complaint);
  CHECK(precedent_owner(true, 0) == Task::Summary);
  CHECK(precedent_owner(true, 1) == Task::QA);
}

TEST_CASE("audit: shared references and self-contained inputs are counted") {
  TaskItem a, b, c;
  a.id = "a", a.task = Task::Summary, a.messages = {{"user", "무관한 입력 문장입니다"}}, a.reference = "같은 참조 텍스트입니다 정말로";
  b = a, b.id = "b", b.task = Task::QA;  // same reference, another task
  c.id = "c", c.task = Task::MRC, c.reference = "이 답은 입력 안에 그대로 있습니다 정말";
  c.messages = {{"user", "질문과 함께 이 답은 입력 안에 그대로 있습니다 정말 이라는 문장"}};
  const TaskAudit au = audit_tasks({a, b, c}, 5);
  CHECK(au.items == 3);
  CHECK(au.shared_references == 2);
  CHECK(au.cross_task_references == 2);
  CHECK(au.contained == 1);
  CHECK(au.max_containment == 1.0);
}

TEST_CASE("baselines: copy, lead-N") {
  TaskItem it;
  it.id = "s", it.task = Task::Summary, it.reference = "r";
  it.document = "하나 둘 셋 넷 다섯";
  it.messages = {{"user", "지시문\n" + it.document + "\n요청"}};
  CHECK(baseline_prediction(Baseline::Copy, it, 3, nullptr) == it.messages[0].content);
  CHECK(baseline_prediction(Baseline::Lead, it, 3, nullptr) == "하나 둘 셋");
  it.document.clear();
  CHECK(baseline_prediction(Baseline::Lead, it, 2, nullptr) == "지시문 하나");
  CHECK(first_eojeols("  a\n b  c ", 10) == "a b c");
  CHECK_THROWS_AS(baseline_prediction(Baseline::Retrieve, it, 2, nullptr), Error);
  CHECK(std::string(baseline_name(Baseline::Retrieve)) == "retrieve_article");
}

TEST_CASE("near-duplicates: share of an item's character n-grams found in training text") {
  TaskItem it;
  it.id = "q", it.task = Task::QA;
  it.reference = "abcdefghij";                   // 10 code points: 6 5-grams
  it.messages = {{"user", "zzzzzzzzzz"}};
  // The training text holds "abcdefg" (3 of the 6 5-grams: abcde bcdef cdefg) and, across a JSON "\n" escape,
  // nothing else of the reference.
  const auto sh = item_shares({it}, {"xx abcdefg yy", "hij\\nklm"}, 5);
  REQUIRE(sh.size() == 1);
  CHECK(sh[0].ref == doctest::Approx(0.5));
  CHECK(sh[0].input == 0.0);
  const auto all = item_shares({it}, {"abcdefghij zzzzzzzzzz"}, 5);
  CHECK(all[0].ref == 1.0);
  CHECK(all[0].input == 1.0);
  CHECK_THROWS_AS(near_duplicates({it}, {"build/test_eval_bootstrap/no_such.jsonl"}), Error);
}
