// Law QA (data/prep/lawqa*): template generator determinism and per-type consistency with the statutes, the three
// conversation layouts, the grounding check, and the endpoint generator against a local stub HTTP server.
// Oracles: the parsed Article::text blocks (split by the test itself, not by lawqa's unit code), the layout
// strings as documented in docs/DATA.md written out literally, and a stub server written here on raw sockets.
// Run from the repository root; corpora come from beop::data_dir().
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "legal/lawqa.h"
#include "legal/metrics/rouge.h"
#include "legal/prompt.h"
#include "legal/statutes.h"
#include "src/common.h"
#include "src/io.h"

using namespace beop;
using namespace beop::lawqa;
using json = nlohmann::json;

namespace {

const std::vector<statutes::Article>& all_articles() {
  static std::vector<statutes::Article> v = [] {
    std::vector<statutes::Article> out;
    for (auto& law : statutes::parse_statute_dir(data_dir() + "/statutes"))
      for (auto& a : law.articles) out.push_back(a);
    return out;
  }();
  return v;
}

std::vector<statutes::Article> some_laws() {  // three laws of different size keep the test fast
  return filter_laws(all_articles(), {"주택임대차보호법", "민법", "이자제한법"}, {});
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  for (;;) {
    size_t j = s.find('\n', i);
    out.push_back(s.substr(i, j == std::string::npos ? std::string::npos : j - i));
    if (j == std::string::npos) return out;
    i = j + 1;
  }
}

std::string all_lines(const std::vector<QAItem>& items, Format f) {
  std::string s;
  for (auto& it : items) s += conversation_json_line(it, f);
  return s;
}

int run_prep(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(&s[0]);
  return prep_lawqa_main(int(argv.size()), argv.data());
}

}  // namespace

TEST_CASE("template generator: same seed -> byte-identical output, other seed differs") {
  auto arts = some_laws();
  TemplateOptions o;
  o.seed = 7;
  auto a = generate_template(arts, o), b = generate_template(arts, o);
  o.seed = 8;
  auto c = generate_template(arts, o);
  REQUIRE(a.size() > 1000);
  CHECK(all_lines(a, Format::RefIn) == all_lines(b, Format::RefIn));
  CHECK(all_lines(a, Format::RefIn) != all_lines(c, Format::RefIn));

  // Through the CLI: two runs into different prefixes give byte-identical files for every format.
  make_dirs("build/test_lawqa_tmp");
  for (auto* p : {"build/test_lawqa_tmp/r1", "build/test_lawqa_tmp/r2"})
    REQUIRE(run_prep({"lawqa", "--out-prefix", p, "--seed", "3", "--only-laws", "주택임대차보호법,이자제한법",
                      "--data", data_dir()}) == 0);
  for (auto* f : {"qa", "qa_ref_out", "qa_ref_in"}) {
    std::string x = read_file(std::string("build/test_lawqa_tmp/r1_") + f + ".jsonl");
    CHECK(!x.empty());
    CHECK(x == read_file(std::string("build/test_lawqa_tmp/r2_") + f + ".jsonl"));
  }
}

TEST_CASE("deleted articles produce no items; citations of every item resolve") {
  auto arts = some_laws();
  std::set<std::string> deleted;
  for (auto& a : arts)
    if (a.deleted) deleted.insert(a.law + " " + a.id);
  REQUIRE(!deleted.empty());  // 민법 has deleted articles
  CitationIndex idx(all_articles());
  for (auto& it : generate_template(arts, TemplateOptions{})) {
    CHECK(deleted.count(it.law + " " + it.article_id) == 0);
    std::string text;
    CHECK(idx.resolve(it.citation, &text));
    CHECK(text == it.reference);
  }
  // Whitespace and 「」 do not matter; an article that does not exist does not resolve.
  CHECK(idx.resolve("「주택임대차보호법」 제3조제1항", nullptr));
  CHECK(!idx.resolve("주택임대차보호법 제999조", nullptr));
}

TEST_CASE("the three formats differ exactly as documented") {
  // docs/DATA.md layouts, spelled out literally here.
  CHECK(prompt::format_reference_block("민법 제1조", "본문") == "[참조 조문] 민법 제1조\n본문");
  QAItem it;
  it.type = "content";
  it.question = "질문?";
  it.answer = "답.";
  it.citation = "민법 제1조";
  it.reference = "민사에 관하여 법률에 규정이 없으면 관습법에 의하고 관습법이 없으면 조리에 의한다.";
  auto msg = [&](Format f, int k) { return json::parse(conversation_json_line(it, f))["messages"][k]; };
  for (Format f : {Format::QA, Format::RefOut, Format::RefIn}) {
    CHECK(msg(f, 0)["role"] == "user");
    CHECK(msg(f, 1)["role"] == "assistant");
    CHECK(json::parse(conversation_json_line(it, f))["messages"].size() == 2);  // no system prompt
  }
  CHECK(msg(Format::QA, 0)["content"] == it.question);
  CHECK(msg(Format::QA, 1)["content"] == it.answer);
  CHECK(msg(Format::RefOut, 0)["content"] == it.question);
  CHECK(msg(Format::RefOut, 1)["content"] == it.answer + "\n\n[근거 조문] " + it.citation + "\n" + it.reference);
  CHECK(msg(Format::RefIn, 0)["content"] == "[참조 조문] " + it.citation + "\n" + it.reference + "\n\n[질문] " + it.question);
  CHECK(msg(Format::RefIn, 1)["content"] == it.answer);
  // One JSON object per line, UTF-8 kept as is.
  std::string line = conversation_json_line(it, Format::QA);
  CHECK(line.back() == '\n');
  CHECK(line.find('\n') == line.size() - 1);
  CHECK(line.find("민법") != std::string::npos);
}

TEST_CASE("grounding rule: quotes verbatim, law names exempt, ROUGE-L threshold") {
  CitationIndex idx(all_articles());
  std::string ref;
  REQUIRE(idx.resolve("주택임대차보호법 제3조 제1항", &ref));
  CHECK(quoted_spans("「민법」에 따르면 \"가나\" 및 ‘다라’, “마바”") ==
        std::vector<std::string>{"민법", "가나", "다라", "마바"});
  std::string line0 = ref.substr(0, ref.find('\n'));
  Verdict ok = verify_item(idx, "q", "「주택임대차보호법」에 따르면 \"" + line0 + "\"", "주택임대차보호법 제3조 제1항", 0.3);
  CHECK(ok.ok);
  // The score is rouge-score's ROUGE-L F over code points (checked against rouge-score in test_rouge).
  RougeOptions ro;
  ro.tokenize = RougeTokenize::Character;
  CHECK(ok.rouge == rouge_l(ref, "「주택임대차보호법」에 따르면 \"" + line0 + "\"", ro).fmeasure);
  Verdict bad = verify_item(idx, "q", "\"임대인은 언제든지 계약을 해지할 수 있다\"", "주택임대차보호법 제3조 제1항", 0.3);
  CHECK(!bad.ok);
  CHECK(bad.reason == "quote_not_in_text");
  Verdict unres = verify_item(idx, "q", line0, "주택임대차보호법 제3조 제99항", 0.3);
  CHECK(unres.reason == "citation_unresolved");
  Verdict low = verify_item(idx, "q", "잘 모르겠습니다.", "주택임대차보호법 제3조 제1항", 0.3);
  CHECK(low.reason == "not_grounded");
  CHECK(verify_item(idx, "", "a", "주택임대차보호법 제3조", 0.3).reason == "empty_field");
}

// ------------------------------------------------------------------------------------------- endpoint

namespace {

// A tiny HTTP server on 127.0.0.1 with an ephemeral port: request i gets responses[i] (status, body, delay).
struct StubServer {
  struct Reply {
    int status;
    std::string body;
    int delay_ms;
  };
  std::vector<Reply> replies;
  std::vector<std::string> requests;
  int fd = -1, port = 0;
  std::atomic<bool> stop{false};
  std::thread th;

  void start() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    REQUIRE(::bind(fd, (sockaddr*)&addr, sizeof addr) == 0);
    REQUIRE(::listen(fd, 16) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd, (sockaddr*)&addr, &len);
    port = ntohs(addr.sin_port);
    th = std::thread([this] { loop(); });
  }
  void loop() {
    for (size_t i = 0; !stop; i++) {
      int c = ::accept(fd, nullptr, nullptr);
      if (c < 0) return;
      std::string req;
      char buf[4096];
      for (;;) {  // headers, then Content-Length bytes of body
        size_t he = req.find("\r\n\r\n");
        if (he != std::string::npos) {
          size_t cl = req.find("Content-Length: ");
          size_t want = cl == std::string::npos ? 0 : std::stoul(req.substr(cl + 16));
          if (req.size() >= he + 4 + want) break;
        }
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, (size_t)n);
      }
      requests.push_back(req);
      Reply r = i < replies.size() ? replies[i] : Reply{404, "no more", 0};
      if (r.delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(r.delay_ms));
      std::string resp = "HTTP/1.1 " + std::to_string(r.status) + " X\r\nContent-Type: application/json\r\n" +
                         "Content-Length: " + std::to_string(r.body.size()) + "\r\nConnection: close\r\n\r\n" + r.body;
      ::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }
  void finish() {
    stop = true;
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
    if (th.joinable()) th.join();
  }
};

std::string chat_reply(const json& item) {  // OpenAI chat.completions response carrying `item` as the content
  json r = {{"id", "x"}, {"object", "chat.completion"},
            {"choices", json::array({{{"index", 0}, {"message", {{"role", "assistant"}, {"content", item.dump()}}}}})}};
  return r.dump();
}

}  // namespace

TEST_CASE("endpoint generator against a local stub: only the good item is kept, every failure is logged") {
  auto arts = filter_laws(all_articles(), {"주택임대차보호법"}, {});
  CitationIndex idx(all_articles());
  std::vector<Unit> units;
  for (auto& a : arts)
    for (auto& u : units_of(a)) units.push_back(u);
  REQUIRE(units.size() >= 7);
  units.resize(7);
  // The good answer quotes the unit's first line verbatim (the unit is short enough for ROUGE-L F >= 0.3).
  const Unit& g = units[0];
  std::string first = g.text.substr(0, g.text.find('\n'));
  StubServer s;
  s.replies = {
      {200, chat_reply({{"question", "q-a"}, {"answer", g.citation + "에 따르면 \"" + first + "\""}, {"reference", g.citation}}), 0},
      {200, chat_reply({{"question", "q-b"}, {"answer", first}, {"reference", "주택임대차보호법 제999조"}}), 0},
      {200, chat_reply({{"question", "q-c"}, {"answer", "잘 모르겠지만 아마 그럴 것입니다."}, {"reference", units[2].citation}}), 0},
      {200, chat_reply({{"question", "q-d"}, {"answer", units[3].text + " 즉 \"임대인은 언제든지 퇴거를 요구할 수 있다\"."},
                        {"reference", units[3].citation}}), 0},
      {500, "internal error", 0},
      {200, "<html>not json</html>", 0},
      {200, chat_reply({{"question", "q-g"}, {"answer", first}, {"reference", g.citation}}), 1500},
  };
  s.start();
  EndpointOptions o;
  o.url = "http://127.0.0.1:" + std::to_string(s.port) + "/v1";
  o.model = "stub";
  o.api_key = "sk-test";
  o.timeout_s = 0.5;  // (g) answers after 1.5 s
  o.min_rouge = 0.3;
  auto t0 = std::chrono::steady_clock::now();
  EndpointRun run = generate_endpoint(units, idx, o);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  s.finish();

  REQUIRE(run.kept.size() == 1);
  CHECK(run.kept[0].question == "q-a");
  CHECK(run.kept[0].citation == g.citation);
  CHECK(run.kept[0].reference == g.text);
  CHECK(run.requested == 7);
  CHECK(run.rejected == 3);
  CHECK(run.failed == 3);
  REQUIRE(run.log.size() == 6);
  std::vector<std::string> reasons, cits;
  for (auto& l : run.log) {
    json j = json::parse(l);
    reasons.push_back(j["reason"]);
    cits.push_back(j["citation"]);
  }
  CHECK(reasons == std::vector<std::string>{"citation_unresolved", "not_grounded", "quote_not_in_text", "http_status",
                                            "non_json_body", "timeout"});
  for (int k = 0; k < 6; k++) CHECK(cits[k] == units[k + 1].citation);  // each failure names its article
  CHECK(secs < 1.4);  // the slow reply was abandoned at the 0.5 s deadline, not awaited
  // The request was an OpenAI chat request with the key and the unit's text in the prompt.
  REQUIRE(s.requests.size() >= 6);
  CHECK(s.requests[0].rfind("POST /v1/chat/completions HTTP/1.1\r\n", 0) == 0);
  CHECK(s.requests[0].find("Authorization: Bearer sk-test\r\n") != std::string::npos);
  json body = json::parse(s.requests[0].substr(s.requests[0].find("\r\n\r\n") + 4));
  CHECK(body["model"] == "stub");
  CHECK(body["messages"][0]["content"].get<std::string>().find(g.text) != std::string::npos);
}

TEST_CASE("endpoint generator: a refused connection and a bad URL") {
  CitationIndex idx(all_articles());
  auto arts = filter_laws(all_articles(), {"이자제한법"}, {});
  std::vector<Unit> units = units_of(arts[0]);
  // Find a free port by binding and closing it: nothing listens there afterwards.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, (sockaddr*)&addr, sizeof addr) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, (sockaddr*)&addr, &len);
  ::close(fd);
  EndpointOptions o;
  o.url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  o.model = "m";
  o.timeout_s = 2;
  EndpointRun run = generate_endpoint(units, idx, o);
  CHECK(run.kept.empty());
  CHECK(run.failed == (int)units.size());
  CHECK(run.by_reason["request_failed"] == (int)units.size());
  o.url = "https://example.com";
  CHECK_THROWS_WITH_AS(generate_endpoint(units, idx, o), doctest::Contains("https is not supported"), Error);
}

TEST_CASE("prep lawqa: held-out laws and usage errors") {
  make_dirs("build/test_lawqa_tmp");
  REQUIRE(run_prep({"lawqa", "--out-prefix", "build/test_lawqa_tmp/ex", "--format", "qa", "--exclude-laws",
                    "민법,상법,형법,민사소송법,형사소송법,도로교통법", "--types", "content", "--data", data_dir()}) == 0);
  std::string s = read_file("build/test_lawqa_tmp/ex_qa.jsonl");
  CHECK(!file_exists("build/test_lawqa_tmp/ex_qa_ref_in.jsonl"));
  size_t lines = 0, held = 0;
  for (auto& l : split_lines(s)) {
    if (l.empty()) continue;
    lines++;
    std::string law = json::parse(l)["meta"]["law"];
    held += law == "민법" || law == "상법" || law == "형법";
  }
  CHECK(lines > 1000);
  CHECK(held == 0);
  CHECK_THROWS_AS(run_prep({"lawqa", "--out-prefix", "build/test_lawqa_tmp/x", "--only-laws", "없는법"}), Error);
  CHECK_THROWS_AS(run_prep({"lawqa", "--out-prefix", "build/test_lawqa_tmp/x", "--format", "bad"}), Error);
  CHECK_THROWS_AS(run_prep({"lawqa", "--out-prefix", "build/test_lawqa_tmp/x", "--generator", "endpoint"}), Error);
}
