// End-to-end tests of ./infer (built by `make test` before the test binaries): generate, chat (one-shot and the
// stdin REPL with /reset and /exit, default legal persona), score, serve + one curl call, and usage errors.
// Oracles: the library (Generator on the same checkpoint, in-process) for answers; a log-softmax computed here
// from the full forward's logits for the score.
#include <doctest/doctest.h>

#include "cpu/model_cpu.h"
#include "tests/test_util.h"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "legal/prompt.h"
#include "legal/retrieval.h"
#include "src/generator.h"
#include "tests/infer_fixture.h"

using namespace beop;

static const std::string kDir = "build/test_infer_cli";

using Result = beop::test::ShellResult;
static Result sh(const std::string& cmd, bool merge_stderr = false) { return beop::test::shell(cmd, merge_stderr); }

struct Fx {
  std::string run;
  Tokenizer tok;
  std::unique_ptr<CausalLM> lm;
  Fx() {
    run = test::make_infer_fixture(kDir, 1024);
    lm = load_causal_lm(run, &tok);
  }
};
static Fx& fx() {
  static Fx f;
  return f;
}
static std::string legal_text() {
  std::string s = read_file("prompts/legal_advisor.txt");
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}
static GenerateResult direct_chat(const Conversation& c, int max_tokens) {
  Generator g(*fx().lm, fx().tok);
  GenerateOptions o;
  o.sampling.temperature = 0;
  o.max_new_tokens = max_tokens;
  return g.generate(encode_chat(fx().tok, c, true).tokens, o);
}
static std::string infer(const std::string& args) { return "./infer " + args + " --model " + fx().run + " --threads 1"; }

TEST_CASE("--help lists every flag with its default") {
  for (const char* cmd : {"generate", "chat", "serve", "score", "eval"}) {
    const Result r = sh(std::string("./infer ") + cmd + " --help");
    CHECK(r.rc == 0);
    CHECK(r.out.find("--model") != std::string::npos);
    CHECK(r.out.find("hf:DIR") != std::string::npos);
    CHECK(r.out.find("--device") != std::string::npos);  // every command loads through cli/model_loader.h
    CHECK(r.out.find("--dtype") != std::string::npos);   // ... which adds --dtype fp32 | bf16 | q8 (issue 17)
    if (std::string(cmd) != "score" && std::string(cmd) != "eval")
      for (const char* f : {"--temperature VALUE", "--top-k", "--top-p", "--repeat-penalty", "--seed", "--max-tokens", "--stop"}) {
        INFO(cmd, " ", f);
        CHECK(r.out.find(f) != std::string::npos);
      }
  }
  const Result top = sh("./infer --help");
  CHECK(top.rc == 0);
  for (const char* c : {"generate", "chat", "serve", "score", "eval", "hf:DIR", "--device"}) {
    INFO(c);
    CHECK(top.out.find(c) != std::string::npos);
  }
  CHECK(sh("./infer chat --help").out.find("(default \"legal\")") != std::string::npos);
}

TEST_CASE("generate: raw completion, greedy, equals the library's answer") {
  const std::string prompt = "임대차는";
  Generator g(*fx().lm, fx().tok);
  GenerateOptions o;
  o.sampling.temperature = 0;
  o.max_new_tokens = 15;
  const GenerateResult want = g.generate(fx().tok.encode(prompt), o);
  const Result r = sh(infer("generate --prompt '" + prompt + "' --temperature 0 --max-tokens 15"));
  CHECK(r.rc == 0);
  CHECK(r.out == prompt + want.text + "\n");
  // same seed -> same sampled output
  const std::string cmd = infer("generate --prompt '" + prompt + "' --temperature 1 --seed 9 --max-tokens 15");
  CHECK(sh(cmd).out == sh(cmd).out);
}

TEST_CASE("chat one-shot: the legal persona is the default system prompt; --system none disables it") {
  const std::string q = "보증금을 못 받았어요";
  const Result legal = sh(infer("chat --prompt '" + q + "' --temperature 0 --repeat-penalty 1 --max-tokens 12 --stats"), true);
  CHECK(legal.rc == 0);
  const GenerateResult w = direct_chat({{"system", legal_text()}, {"user", q}}, 12);
  CHECK(legal.out.find(cat("[prompt ", w.prompt_tokens, " tokens")) != std::string::npos);
  CHECK(legal.out.rfind(w.text + "\n", 0) == 0);
  const Result none = sh(infer("chat --prompt '" + q + "' --temperature 0 --repeat-penalty 1 --max-tokens 12 --system none"));
  CHECK(none.rc == 0);
  CHECK(none.out == direct_chat({{"user", q}}, 12).text + "\n");
  // --system FILE
  std::ofstream(kDir + "/sys.txt") << "짧게 답하세요.";
  const Result file = sh(infer("chat --prompt '" + q + "' --temperature 0 --repeat-penalty 1 --max-tokens 12 --system " + kDir + "/sys.txt"));
  CHECK(file.out == direct_chat({{"system", "짧게 답하세요."}, {"user", q}}, 12).text + "\n");
}

TEST_CASE("chat REPL: multi-turn history, /reset, /exit") {
  std::ofstream(kDir + "/in.txt") << "첫 질문\n두번째 질문\n/reset\n첫 질문\n/exit\nnever asked\n";
  const Result r = sh(infer("chat --temperature 0 --repeat-penalty 1 --max-tokens 6 --system none") + " < " + kDir + "/in.txt");
  CHECK(r.rc == 0);
  const GenerateResult a1 = direct_chat({{"user", "첫 질문"}}, 6);
  const GenerateResult a2 = direct_chat({{"user", "첫 질문"}, {"assistant", a1.text}, {"user", "두번째 질문"}}, 6);
  CHECK(r.out == a1.text + "\n" + a2.text + "\n[conversation reset]\n" + a1.text + "\n");
}

static double logprob(const float* row, int V, int32_t t) {
  double mx = row[0], z = 0;
  for (int v = 1; v < V; v++) mx = std::max(mx, double(row[v]));
  for (int v = 0; v < V; v++) z += std::exp(double(row[v]) - mx);
  return double(row[t]) - mx - std::log(z);
}

TEST_CASE("score: loss and perplexity equal a log-softmax of the full forward; --per-token lines") {
  const std::string text = "법원은 판결한다. 임대차는 등기가 없는 경우에도 효력이 있다.";
  std::ofstream(kDir + "/text.txt") << text;
  std::vector<int32_t> ids = {fx().tok.eos_id()};
  for (int32_t t : fx().tok.encode(text)) ids.push_back(t);
  const int V = fx().lm->config().vocab_size;
  const std::vector<float> lg = fx().lm->full_logits(ids.data(), int(ids.size()));
  double sum = 0;
  for (size_t i = 1; i < ids.size(); i++) sum += logprob(&lg[(i - 1) * size_t(V)], V, ids[i]);
  const double loss = -sum / double(ids.size() - 1);
  const Result r = sh(infer("score --file " + kDir + "/text.txt"));
  REQUIRE(r.rc == 0);
  size_t n = 0;
  double got_loss = 0, got_ppl = 0;
  REQUIRE(std::sscanf(r.out.c_str(), "tokens %zu loss %lf perplexity %lf", &n, &got_loss, &got_ppl) == 3);
  CHECK(n == ids.size() - 1);
  CHECK(got_loss == doctest::Approx(loss).epsilon(1e-5));  // float forward vs double log-softmax; 6 printed digits
  CHECK(got_ppl == doctest::Approx(std::exp(loss)).epsilon(1e-4));
  const Result pt = sh(infer("score --per-token --file " + kDir + "/text.txt"));
  size_t lines = 0;
  for (char c : pt.out) lines += c == '\n';
  CHECK(lines == n + 1);
  // the first per-token line is the first text token with its logprob
  const std::string first = pt.out.substr(0, pt.out.find('\n'));
  CHECK(first.find(nlohmann::json(fx().tok.token_text(ids[1])).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)) !=
        std::string::npos);
}

TEST_CASE("usage and model errors: exit 2 for flags, 1 with a clear message for a bad checkpoint") {
  CHECK(sh("./infer chat --prompt hi").rc == 2);                                // --model missing
  CHECK(sh(infer("chat --prompt hi --temperature -1")).rc == 2);
  CHECK(sh(infer("chat --prompt hi --max-tokens 0")).rc == 2);
  CHECK(sh(infer("chat --prompt hi --bogus 1")).rc == 2);
  CHECK(sh("./infer frobnicate").rc == 2);
  const Result bad = sh("./infer chat --prompt hi --model " + kDir + "/missing", true);
  CHECK(bad.rc == 1);
  CHECK(bad.out.find("error: --model " + kDir + "/missing: no model.bin") != std::string::npos);
  const Result hf = sh("./infer chat --prompt hi --model hf:x", true);
  CHECK(hf.rc == 1);
  CHECK(hf.out.find("error: x: no config.json (not a Hugging Face model directory)") != std::string::npos);
  // a truncated model.bin
  const std::string broken = kDir + "/broken";
  std::filesystem::remove_all(broken);
  std::filesystem::copy(latest_checkpoint(fx().run), broken);
  std::filesystem::resize_file(broken + "/model.bin", 1000);
  const Result tr = sh("./infer chat --prompt hi --model " + broken, true);
  CHECK(tr.rc == 1);
  CHECK(tr.out.find("error: ") == 0);
  CHECK(tr.out.find("model.bin") != std::string::npos);
}

TEST_CASE("serve: ./infer serve on a free port answers a curl call") {
  const std::string log = kDir + "/serve.log";
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + infer("serve --port 0 --temperature 0 --max-tokens 5") + " > " + log + " 2>&1").c_str(),
          nullptr);
    _exit(127);
  }
  int port = 0;
  for (int i = 0; i < 500 && port == 0; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const std::string s = file_exists(log) ? read_file(log) : "";
    const size_t at = s.find("http://127.0.0.1:");
    if (at != std::string::npos && s.find(" (", at) != std::string::npos) port = std::atoi(s.c_str() + at + 17);
  }
  REQUIRE(port > 0);
  const Result r = sh("curl -s -S --max-time 20 http://127.0.0.1:" + std::to_string(port) +
                      "/v1/chat/completions -H 'Content-Type: application/json' -d "
                      "'{\"messages\":[{\"role\":\"user\",\"content\":\"안녕하세요\"}],\"system_prompt\":\"none\"}'");
  kill(pid, SIGTERM);
  int st = 0;
  waitpid(pid, &st, 0);
  REQUIRE(r.rc == 0);
  INFO(r.out);
  const nlohmann::json j = nlohmann::json::parse(r.out);
  CHECK(j["choices"][0]["message"]["content"] == direct_chat({{"user", "안녕하세요"}}, 5).text);
  CHECK(j["usage"]["completion_tokens"] == direct_chat({{"user", "안녕하세요"}}, 5).completion_tokens);
}

TEST_CASE("chat --ref auto puts the retrieved statutes before the question (training layout); missing index -> error") {
  using namespace beop::retrieval;
  std::vector<Doc> docs(2);
  docs[0].law = "주택임대차보호법", docs[0].article_id = "제3조", docs[0].title = "대항력 등";
  docs[0].citation = "주택임대차보호법 제3조";
  docs[0].text = "임대차는 그 등기가 없는 경우에도 임차인이 주택의 인도와 주민등록을 마친 때에는 그 다음 날부터 제삼자에 대하여 효력이 생긴다.";
  docs[1].law = "근로기준법", docs[1].article_id = "제23조", docs[1].title = "해고 등의 제한";
  docs[1].citation = "근로기준법 제23조";
  docs[1].text = "사용자는 근로자에게 정당한 이유 없이 해고, 휴직, 정직, 전직, 감봉, 그 밖의 징벌을 하지 못한다.";
  const RetrievalIndex idx = RetrievalIndex::build_docs(docs);
  idx.save(kDir + "/statutes.idx");
  const std::string q = "임대차 등기가 없으면 대항력이 있나요?";
  const std::vector<Hit> hits = idx.search(q, 1);
  REQUIRE(!hits.empty());
  CHECK(hits[0].citation == "주택임대차보호법 제3조");
  const std::string turn = prompt::user_with_references({{hits[0].citation, hits[0].text}}, q);
  CHECK(turn.find("[질문] " + q) != std::string::npos);
  const GenerateResult w = direct_chat({{"user", turn}}, 4);
  const Result r = sh(infer("chat --prompt '" + q + "' --system none --temperature 0 --repeat-penalty 1 --max-tokens 4 --stats "
                            "--ref auto --ref-k 1 --index " + kDir + "/statutes.idx"), true);
  CHECK(r.rc == 0);
  CHECK(r.out.find(cat("[prompt ", w.prompt_tokens, " tokens")) != std::string::npos);
  CHECK(r.out.rfind(w.text + "\n", 0) == 0);
  CHECK(r.out.find("(검색된 참조 조문: 주택임대차보호법 제3조)\n") != std::string::npos);  // the answer lists its statute
  const Result miss = sh(infer("chat --prompt hi --ref auto --index " + kDir + "/none.idx"), true);
  CHECK(miss.rc == 1);
  CHECK(miss.out.find("none.idx not found") != std::string::npos);
  CHECK(sh(infer("chat --prompt hi --ref sometimes")).rc == 2);
}
