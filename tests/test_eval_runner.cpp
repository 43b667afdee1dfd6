// infer eval: MC scoring on a fake model with known probabilities, option-letter parsing, prompt truncation, the
// report layout, and a tiny end-to-end run on a random checkpoint (ROUGE-L re-checked with rouge-score) through
// the command (cli/eval_command.h): --device, and --ref auto's missing-index error.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/eval_command.h"
#include "legal/eval/runner.h"
#include "src/io.h"
#include "src/shard.h"
#include "tests/cuda_expect.h"
#include "tests/infer_fixture.h"
#include "tests/test_util.h"

using namespace beop;
using namespace beop::eval;
using nlohmann::json;

namespace {

// A bigram "model": p(next | prev) = P[prev][next], fixed. token_logprobs is log P along the sequence.
class FakeLM : public CausalLM {
 public:
  explicit FakeLM(std::vector<std::vector<double>> P) : P_(std::move(P)) {
    cfg_.vocab_size = int(P_.size());
    cfg_.max_seq_len = 16;
  }
  const ModelConfig& config() const override { return cfg_; }
  void reset(int) override {}
  std::vector<float> step(const int32_t* toks, int n, int) override {
    std::vector<float> l;
    for (double p : P_[size_t(toks[n - 1])]) l.push_back(float(std::log(p)));
    return l;
  }
  std::vector<double> token_logprobs(const int32_t* toks, int n) override {
    calls++;
    std::vector<double> lp;
    for (int i = 0; i + 1 < n; i++) lp.push_back(std::log(P_[size_t(toks[i])][size_t(toks[i + 1])]));
    return lp;
  }
  std::vector<float> full_logits(const int32_t*, int) override { return {}; }
  int calls = 0;

 private:
  std::vector<std::vector<double>> P_;
  ModelConfig cfg_;
};

std::vector<json> jsonl(const std::string& path) {
  std::vector<json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

}  // namespace

TEST_CASE("MC log-likelihood: summed vs per-token choice on a model with known probabilities") {
  // Row 1 (after the prompt's last token 1): p(2) = 0.3, p(3) = 0.5, p(4) = 0.1, p(0) = p(1) = 0.05; row 3: p(3) = 0.5.
  std::vector<std::vector<double>> P(5, std::vector<double>(5, 0.2));
  P[1] = {0.05, 0.05, 0.3, 0.5, 0.1};
  P[3] = {0.125, 0.125, 0.125, 0.5, 0.125};
  FakeLM lm(P);
  // A = [2]: log 0.3 = -1.2040 (per token -1.2040); B = [3,3]: log 0.5 + log 0.5 = -1.3863 (per token -0.6931);
  // C = [4]: log 0.1 = -2.3026. Sum picks A, per token picks B.
  const MCScore s = score_options(lm, {0, 1}, {{2}, {3, 3}, {4}});
  REQUIRE(s.sum_logprob.size() == 3);
  // Tolerance: fp64 logs of exact decimals, compared with 4-decimal hand values.
  CHECK(s.sum_logprob[0] == doctest::Approx(-1.2040).epsilon(1e-4));
  CHECK(s.sum_logprob[1] == doctest::Approx(-1.3863).epsilon(1e-4));
  CHECK(s.sum_logprob[2] == doctest::Approx(-2.3026).epsilon(1e-4));
  CHECK(s.n_tokens == std::vector<int>{1, 2, 1});
  CHECK(s.pick_sum == 0);
  CHECK(s.pick_norm == 1);
  CHECK(s.pick_byte == -1);  // no byte counts given
  // Per byte: with option texts of 1, 6 and 1 bytes, B = -1.3863 / 6 = -0.2310 beats A = -1.2040; with 10, 1, 1
  // bytes A = -0.1204 wins.
  CHECK(score_options(lm, {0, 1}, {{2}, {3, 3}, {4}}, {1, 6, 1}).pick_byte == 1);
  CHECK(score_options(lm, {0, 1}, {{2}, {3, 3}, {4}}, {10, 1, 1}).pick_byte == 0);
  CHECK_THROWS_AS(score_options(lm, {0, 1}, {{2}, {3}}, {1}), Error);  // byte counts for 1 of 2 options
  CHECK_THROWS_AS(score_options(lm, {0, 1}, {{2}, {}}), Error);
  // The letter convention: log p(letter | prompt) with letters encoded as tokens 4, 3, 2 -> B (p 0.5) wins.
  MCScore l;
  score_letters(lm, {0, 1}, {{4}, {3}, {2}}, &l);
  REQUIRE(l.letter_logprob.size() == 3);
  CHECK(l.letter_logprob[0] == doctest::Approx(std::log(0.1)));
  CHECK(l.letter_logprob[1] == doctest::Approx(std::log(0.5)));
  CHECK(l.pick_letter == 1);
}

TEST_CASE("generated option letter: the first standalone A-D / 1-4 / ①-④") {
  CHECK(parse_choice("정답은 B입니다.") == 1);
  CHECK(parse_choice("Answer: C") == 2);  // the A of "Answer" is inside a word
  CHECK(parse_choice("3번이 옳다") == 2);
  CHECK(parse_choice("② 입니다") == 1);
  CHECK(parse_choice("ＤＤ") == 3);
  CHECK(parse_choice("12 or E") == -1);
  CHECK(parse_choice("E, then A") == 0);  // E is not an option of four; A is
  CHECK(parse_choice("") == -1);
  CHECK(parse_choice("모르겠습니다") == -1);
}

TEST_CASE("fit_prompt: document cut keeps instruction and request; middle cut keeps both ends") {
  const std::string run = test::make_infer_fixture("build/test_eval_runner/fixture");
  const Tokenizer tok = Tokenizer::load("build/test_eval_runner/fixture/tok.json");
  std::string doc;
  for (int i = 0; i < 40; i++) doc += "임대차는 등기가 없는 경우에도 효력이 있다. ";
  const std::string user = "지시문: 요약하세요.\n\n" + doc + "\n\n[요청] 요약.";
  const FittedPrompt f = fit_prompt(tok, {{"user", user}}, doc, 120);
  CHECK(f.full_tokens > 120);
  CHECK(int(f.tokens.size()) <= 120);
  CHECK(f.doc_cut);
  CHECK_FALSE(f.middle_cut);
  const std::string text = tok.decode(f.tokens);
  CHECK(text.find("지시문: 요약하세요.") != std::string::npos);
  CHECK(text.find("…(이하 생략)\n\n[요청] 요약.<|eot_id|>") != std::string::npos);

  const FittedPrompt g = fit_prompt(tok, {{"user", user}}, "", 60);  // no document: the token-level middle cut
  const std::vector<int32_t> full = encode_chat(tok, {{"user", user}}, true).tokens;
  REQUIRE(g.tokens.size() == 60);
  CHECK(g.middle_cut);
  CHECK(std::equal(g.tokens.begin(), g.tokens.begin() + 30, full.begin()));
  CHECK(std::equal(g.tokens.begin() + 30, g.tokens.end(), full.end() - 30));
}

TEST_CASE("report: study column order, AVG = mean of the five ROUGE-L tasks only") {
  EvalReport r;
  r.label = "x";
  const double v[7] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.25, 0.9};  // complaint..mrc, mc (acc), korquad
  for (int i = 0; i < 7; i++) {
    TaskSummary t;
    t.task = Task(i);
    t.n = 3;
    if (t.task == Task::MC) t.acc_letter = v[i], t.acc_ll = v[i];
    else t.rouge_l_f = v[i];
    t.scores = {v[i], v[i], v[i]};  // constant items: every bootstrap interval is [v, v]
    r.tasks.push_back(t);
  }
  compute_avg(r);
  compute_intervals(r);
  CHECK(r.avg == doctest::Approx((0.1 + 0.2 + 0.3 + 0.4 + 0.5) / 5));  // 0.3: MC and KorQuAD are not in it
  CHECK(r.avg_over.size() == 5);
  EvalOptions o;
  const std::string md = report_markdown(r, o);
  CHECK(md.find("| setting | Complaint | Summary | Petition | QA | MRC | MC | AVG | KorQuAD |") != std::string::npos);
  CHECK(md.find("| x | 10.00 [10.00, 10.00] | 20.00 [20.00, 20.00] | 30.00 [30.00, 30.00] | 40.00 [40.00, 40.00] | "
                "50.00 [50.00, 50.00] | 25.00 [25.00, 25.00] | 30.00 [30.00, 30.00] | 90.00 [90.00, 90.00] |") !=
        std::string::npos);
  const json j = json::parse(report_json(r, o));
  CHECK(j["avg"].get<double>() == doctest::Approx(0.3));
  CHECK(j["tasks"]["mc"]["acc_ll"].get<double>() == doctest::Approx(0.25));
  CHECK(j["tasks"]["mc"]["acc_letter"].get<double>() == doctest::Approx(0.25));
  CHECK(j["avg_ci"][0].get<double>() == doctest::Approx(0.3));
  CHECK(j["avg_ci"][1].get<double>() == doctest::Approx(0.3));
}

TEST_CASE("infer eval end to end on a random tiny checkpoint (--limit 2), ROUGE-L re-checked by rouge-score") {
  const std::string run = test::make_infer_fixture("build/test_eval_runner/fixture");
  const std::string out = "build/test_eval_runner/out";
  std::filesystem::remove_all(out);
  // General-domain validation shard in the fixture's vocabulary.
  const Tokenizer tok = Tokenizer::load("build/test_eval_runner/fixture/tok.json");
  {
    ShardWriter w("build/test_eval_runner/gval_000.bin", tok.vocab_size());
    w.add_document(tok.encode("To be or not to be, that is the question. 법원은 판결한다."));
    w.finish();
  }
  std::vector<std::string> args = {"eval", "--model", run, "--tasks", "all,korquad", "--limit", "2",
                                   "--system", "legal", "--max-new-tokens", "8", "--task-dir",
                                   "build/test_eval_runner/no_tasks", "--out", out, "--quiet", "--threads", "1",
                                   "--general-val", "build/test_eval_runner/gval_*.bin", "--label", "fixture"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  REQUIRE(cli::eval_main(int(argv.size()), argv.data()) == 0);
  REQUIRE(file_exists(out + "/report.md"));
  const json rep = json::parse(read_file(out + "/report.json"));
  double avg = 0;
  for (const char* t : {"complaint", "summary", "petition", "qa", "mrc"}) {
    CHECK(rep["tasks"][t]["n"] == 2);
    // The task score is the mean of its items' scores.
    const auto items = jsonl(out + "/" + t + ".jsonl");
    REQUIRE(items.size() == 2);
    CHECK(rep["tasks"][t]["rouge_l_f"].get<double>() ==
          doctest::Approx((items[0]["score"].get<double>() + items[1]["score"].get<double>()) / 2));
    avg += rep["tasks"][t]["rouge_l_f"].get<double>() / 5;
  }
  CHECK(rep["avg"].get<double>() == doctest::Approx(avg));
  CHECK(rep["tasks"]["mc"]["n"] == 2);
  CHECK(rep["tasks"]["korquad"]["n"] == 2);
  CHECK(rep["general"]["val_loss"].get<double>() > 0);
  CHECK(rep["settings"]["system"] == "legal");
  // Summary documents are far longer than the fixture's 128-token context: both items were truncated.
  CHECK(rep["tasks"]["summary"]["truncated"] == 2);
  const auto mc = jsonl(out + "/mc.jsonl");
  for (auto& m : mc) {
    CHECK(m["option_logprob"].size() == 4);
    CHECK(m["letter_logprob"].size() == 4);
    // The item score is the letter convention's; each method's pick is one of A-D.
    CHECK(m["score"].get<double>() == (m["pick_letter"] == m["answer"] ? 1.0 : 0.0));
    for (const char* k : {"pick_letter", "pick_ll_byte", "pick_ll", "pick_ll_norm"})
      CHECK(std::string("ABCD").find(m[k].get<std::string>()) != std::string::npos);
  }
  // Independent oracle: rouge-score's rougeL with eojeol (str.split) tokens on every ROUGE item written.
  const std::string py =
      "import json,sys\n"
      "from rouge_score import rouge_scorer\n"
      "class T:\n"
      "    def tokenize(self, s): return s.split()\n"
      "class C:\n"
      "    def tokenize(self, s): return [c for c in s if not c.isspace()]\n"
      "sc = rouge_scorer.RougeScorer(['rougeL'], tokenizer=T())\n"
      "scc = rouge_scorer.RougeScorer(['rougeL'], tokenizer=C())\n"
      "bad = 0; n = 0\n"
      "for t in ['complaint','summary','petition','qa','mrc','korquad']:\n"
      "    for line in open(sys.argv[1] + '/' + t + '.jsonl', encoding='utf-8'):\n"
      "        j = json.loads(line); n += 1\n"
      "        f = sc.score(j['reference'], j['prediction'])['rougeL'].fmeasure\n"
      "        if abs(f - j['score']) > 1e-12 or abs(f - j['rouge']['whitespace']) > 1e-12: bad += 1; print('mismatch', t, j['id'], f, j['score'])\n"
      "        fc = scc.score(j['reference'], j['prediction'])['rougeL'].fmeasure\n"
      "        if abs(fc - j['rouge']['character']) > 1e-12: bad += 1; print('char mismatch', t, j['id'], fc)\n"
      "print(n, 'items checked'); sys.exit(1 if bad or n != 12 else 0)\n";
  write_file_atomic("build/test_eval_runner/rouge_oracle.py", py);
  CHECK(test::run(".venv/bin/python build/test_eval_runner/rouge_oracle.py " + out) == 0);

  // The random model's eojeol overlap is ~0, so check the character tokenisation too, where it is not: every
  // ROUGE item re-scored with character tokens (non-space code points), and at least one score must be > 0.
  const std::string out2 = "build/test_eval_runner/out_char";
  std::vector<std::string> a2 = {"eval", "--model", run, "--tasks", "summary,qa,petition", "--limit", "2",
                                 "--system", "none", "--max-new-tokens", "16", "--task-dir", "build/test_eval_runner/no_tasks",
                                 "--out", out2, "--quiet", "--threads", "1", "--rouge-tokens", "character"};
  std::vector<char*> argv2;
  for (auto& a : a2) argv2.push_back(a.data());
  REQUIRE(cli::eval_main(int(argv2.size()), argv2.data()) == 0);
  const std::string py2 =
      "import json,sys\n"
      "from rouge_score import rouge_scorer\n"
      "class T:\n"
      "    def tokenize(self, s): return [c for c in s if not c.isspace()]\n"
      "sc = rouge_scorer.RougeScorer(['rougeL'], tokenizer=T())\n"
      "bad = 0; n = 0; pos = 0\n"
      "for t in ['summary','qa','petition']:\n"
      "    for line in open(sys.argv[1] + '/' + t + '.jsonl', encoding='utf-8'):\n"
      "        j = json.loads(line); n += 1\n"
      "        f = sc.score(j['reference'], j['prediction'])['rougeL'].fmeasure\n"
      "        pos += f > 0\n"
      "        if abs(f - j['score']) > 1e-12: bad += 1; print('mismatch', t, j['id'], f, j['score'])\n"
      "print(n, 'items checked,', pos, 'nonzero'); sys.exit(1 if bad or n != 6 or pos == 0 else 0)\n";
  write_file_atomic("build/test_eval_runner/rouge_oracle_char.py", py2);
  CHECK(test::run(".venv/bin/python build/test_eval_runner/rouge_oracle_char.py " + out2) == 0);
}

static int eval_cmd(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return cli::eval_main(int(argv.size()), argv.data());
}

TEST_CASE("infer eval: usage errors") {
  CHECK(eval_cmd({"eval", "--model", "nowhere", "--tasks", "essay"}) == 2);
  CHECK(eval_cmd({"eval", "--model", "nowhere", "--device", "tpu"}) == 2);
  CHECK(eval_cmd({"eval", "--model", "nowhere", "--ref", "sometimes"}) == 2);
  CHECK(eval_cmd({"eval", "--model", "nowhere", "--korquad-limit", "-2"}) == 2);
  CHECK(eval_cmd({"eval", "--model", "nowhere", "--lead-n", "0"}) == 2);
  CHECK(eval_cmd({"eval", "--model", "none", "--out", "build/test_eval_runner/out_none"}) == 2);  // nothing to run
  CHECK(eval_cmd({"eval", "--model", "none", "--baselines", "--index", "build/test_eval_runner/no_such.idx", "--out",
                  "build/test_eval_runner/out_none"}) == 1);  // retrieve_article needs the index: exit 1, named
  CHECK(!file_exists("build/test_eval_runner/out_none/report.json"));
}

TEST_CASE("infer eval --ref auto without the index: an error before the model loads, nothing built silently") {
  const std::string run = test::make_infer_fixture("build/test_eval_runner/fixture");
  const std::string idx = "build/test_eval_runner/no_such.idx", out = "build/test_eval_runner/out_noidx";
  std::filesystem::remove_all(out);
  CHECK(eval_cmd({"eval", "--model", run, "--tasks", "qa", "--limit", "1", "--ref", "auto", "--index", idx, "--out", out,
                  "--quiet"}) == 1);
  CHECK(!file_exists(idx));
  CHECK(!file_exists(out + "/report.json"));
  CHECK_THROWS_WITH_AS(prompt::ReferenceHook::make("auto", idx, 1),
                       ("--ref auto: statute index " + idx + " not found (build it with: ./prep index --out " + idx + ")")
                           .c_str(),
                       Error);
}

TEST_CASE("infer eval --device: cpu and cuda-fp32 agree on a GPU; without one, cuda is an error (exit 1)") {
  const std::string run = test::make_infer_fixture("build/test_eval_runner/fixture");
  auto eval_on = [&](const std::string& dev) {
    const std::string out = "build/test_eval_runner/out_dev_" + dev;
    std::filesystem::remove_all(out);
    const int rc = eval_cmd({"eval", "--model", run, "--device", dev, "--tasks", "qa,mc", "--limit", "2", "--system",
                             "none", "--max-new-tokens", "4", "--task-dir", "build/test_eval_runner/no_tasks", "--out",
                             out, "--quiet", "--threads", "1"});
    return std::make_pair(rc, out);
  };
  const auto [cpu_rc, cpu_out] = eval_on("cpu");
  REQUIRE(cpu_rc == 0);
  const json cpu = json::parse(read_file(cpu_out + "/report.json"));
  CHECK(cpu["tasks"]["qa"]["n"] == 2);
  const auto [gpu_rc, gpu_out] = eval_on("cuda-fp32");
  if (test::cuda_state() == test::CudaState::Device) {
    REQUIRE(gpu_rc == 0);
    const json gpu = json::parse(read_file(gpu_out + "/report.json"));
    CHECK(gpu["tasks"]["qa"]["n"] == 2);
    // fp32 on the GPU scores the MC options like the CPU (log-likelihoods to a float tolerance).
    const auto a = jsonl(cpu_out + "/mc.jsonl"), b = jsonl(gpu_out + "/mc.jsonl");
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); i++)
      for (size_t k = 0; k < a[i]["option_logprob"].size(); k++)
        CHECK(b[i]["option_logprob"][k].get<double>() ==
              doctest::Approx(a[i]["option_logprob"][k].get<double>()).epsilon(1e-3));
  } else {
    CHECK(gpu_rc == 1);
    CHECK(!file_exists(gpu_out + "/report.json"));
  }
}

TEST_CASE("infer eval: a bad line in a task file is reported and skipped, the rest still runs") {
  const std::string run = test::make_infer_fixture("build/test_eval_runner/fixture");
  const std::string dir = "build/test_eval_runner/bad_tasks", out = "build/test_eval_runner/out_bad";
  make_dirs(dir);
  auto qa = build_qa(data_dir());
  REQUIRE(qa.size() >= 2);
  write_file_atomic(dir + "/qa.jsonl", item_to_json_line(qa[0]) + "\n" +
                                           R"({"id":"broken","task":"qa","messages":[{"role":"user","content":"q"}]})" +
                                           "\n" + item_to_json_line(qa[1]) + "\n");
  std::vector<std::string> args = {"eval", "--model", run, "--tasks", "qa", "--system", "none", "--max-new-tokens", "4",
                                   "--task-dir", dir, "--out", out, "--quiet", "--threads", "1"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  REQUIRE(cli::eval_main(int(argv.size()), argv.data()) == 0);
  const json rep = json::parse(read_file(out + "/report.json"));
  CHECK(rep["tasks"]["qa"]["n"] == 2);
  CHECK(rep["tasks"]["qa"]["skipped"] == 1);
  CHECK(rep["tasks"]["qa"]["source"] == dir + "/qa.jsonl");
  REQUIRE(rep["errors"].size() == 1);
  CHECK(rep["errors"][0].get<std::string>().find(dir + "/qa.jsonl:2 (broken): missing or non-string field 'reference'") !=
        std::string::npos);
  const auto items = jsonl(out + "/qa.jsonl");
  REQUIRE(items.size() == 2);
  CHECK(items[0]["id"] == qa[0].id);
  CHECK(items[1]["id"] == qa[1].id);
}
