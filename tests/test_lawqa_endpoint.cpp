// The law-QA endpoint generator's parts that need no server: near-duplicate detection (oracle: 3-gram sets
// built here from the normalised text), the retry schedule (backoff with jitter, Retry-After), URL handling,
// the line-atomic resume file (a torn tail is cut, a damaged line is an error), and a refused connection
// (retried, counted, never thrown). The mock-server runs are tests/py/test_lawqa_endpoint.py.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ctime>
#include <set>
#include <string>

#include "legal/lawqa.h"
#include "legal/lawqa_client.h"
#include "legal/lawqa_dedup.h"
#include "legal/lawqa_resume.h"
#include "legal/statutes.h"
#include "src/common.h"
#include "src/io.h"
#include "src/utf8.h"

using namespace beop;
using namespace beop::lawqa;

namespace {

// Jaccard of character 3-gram sets, computed independently of NearDupIndex's hashing and postings.
double jaccard3(const std::string& a, const std::string& b) {
  auto grams = [](const std::string& s) {
    std::u32string t;
    for (char32_t c : utf8_decode(s)) t.push_back(c);
    std::set<std::u32string> g;
    for (size_t i = 0; i + 3 <= t.size(); i++) g.insert(t.substr(i, 3));
    return g;
  };
  auto x = grams(a), y = grams(b);
  size_t both = 0;
  for (auto& g : x) both += y.count(g);
  return double(both) / double(x.size() + y.size() - both);
}

const char* kA = "전세 계약이 끝났는데 집주인이 보증금을 돌려주지 않으면 법은 세입자를 어떻게 보호하나요?";
const char* kB = "전세계약이 끝났는데, 집주인이 보증금을 돌려주지 않으면 법은 세입자를 어떻게 보호합니까??";
const char* kC = "상가 임대차에서 권리금을 회수할 기회를 임대인이 방해하면 손해배상을 받을 수 있나요?";

}  // namespace

TEST_CASE("near-duplicate questions: normalisation and character 3-gram Jaccard") {
  CHECK(NearDupIndex::normalize("전세 계약이, 끝났나요?!") == "전세계약이끝났나요");
  CHECK(NearDupIndex::normalize("GPT-4o 「민법」 “제3조”") == "gpt4o민법제3조");
  // NFC: decomposed jamo (ᄌ ᅥ ᆫ) compare equal to the precomposed syllable 전.
  CHECK(NearDupIndex::normalize("\xE1\x84\x8C\xE1\x85\xA5\xE1\x86\xAB세") == "전세");

  const double ab = jaccard3(NearDupIndex::normalize(kA), NearDupIndex::normalize(kB));
  CHECK(ab == doctest::Approx(0.846).epsilon(0.001));
  NearDupIndex idx(0.8);
  idx.add(kC);
  idx.add(kA);
  double s = 0;
  CHECK(idx.find(kB, &s) == 1);
  CHECK(s == doctest::Approx(ab));
  CHECK(idx.find("  전세 계약이 끝났는데 집주인이 보증금을 돌려주지 않으면 법은 세입자를 어떻게 보호하나요 ", &s) == 1);
  CHECK(s == 1.0);
  CHECK(idx.find("근로자가 퇴직하면 사용자는 며칠 안에 임금을 지급해야 하나요?", &s) == -1);
  CHECK(jaccard3(NearDupIndex::normalize(kA), NearDupIndex::normalize(kC)) == 0);
  NearDupIndex strict(0.9);
  strict.add(kA);
  CHECK(strict.find(kB) == -1);  // 0.846 is below a 0.9 threshold
  CHECK(strict.find(kA) == 0);
}

TEST_CASE("retry schedule: exponential backoff with equal jitter, capped; Retry-After parsing") {
  CHECK(client::backoff_s(1, 1, 60, 0) == 0.5);
  CHECK(client::backoff_s(1, 1, 60, 0.999) == doctest::Approx(0.9995));
  CHECK(client::backoff_s(4, 1, 60, 0) == 4);
  CHECK(client::backoff_s(4, 0.5, 60, 0.5) == doctest::Approx(3));
  CHECK(client::backoff_s(10, 1, 60, 0) == 30);  // 2^9 = 512 capped at 60, then jitter
  CHECK(client::backoff_s(1000, 1, 60, 0.999) <= 60);
  CHECK(client::parse_retry_after("1") == 1);
  CHECK(client::parse_retry_after("2.5") == 2.5);
  CHECK(client::parse_retry_after("") == -1);
  CHECK(client::parse_retry_after("soon") == -1);
  CHECK(client::parse_retry_after("-3") == -1);
  CHECK(client::parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0);  // in the past: no wait
  char date[64];
  std::time_t later = std::time(nullptr) + 100;
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", std::gmtime(&later));
  CHECK(client::parse_retry_after(date) == doctest::Approx(100).epsilon(0.03));
}

TEST_CASE("endpoint URLs: normalised to chat completions; other schemes are errors; local hosts") {
  CHECK(client::chat_completions_url("https://api.example.org") == "https://api.example.org/v1/chat/completions");
  CHECK(client::chat_completions_url("https://api.example.org/v1/") == "https://api.example.org/v1/chat/completions");
  CHECK(client::chat_completions_url("http://127.0.0.1:8080/v1/chat/completions") ==
        "http://127.0.0.1:8080/v1/chat/completions");
  CHECK(client::chat_completions_url("http://h:1/openai") == "http://h:1/openai/v1/chat/completions");
  CHECK_THROWS_WITH_AS(client::chat_completions_url("ftp://h/v1"), doctest::Contains("want http(s)://"), Error);
  CHECK_THROWS_WITH_AS(client::chat_completions_url("127.0.0.1:8080"), doctest::Contains("want http(s)://"), Error);
  CHECK_THROWS_AS(client::chat_completions_url("https:///v1"), Error);
  CHECK(client::is_local_url("http://127.0.0.1:8080/v1"));
  CHECK(client::is_local_url("https://localhost/v1"));
  CHECK(client::is_local_url("http://[::1]:9/v1"));
  CHECK(!client::is_local_url("https://api.example.org/v1"));
  CHECK(!client::is_local_url("https://127.0.0.1.example.org/v1"));  // a host name, not the loopback address
}

TEST_CASE("resume file: a torn last line is cut, complete lines kept, a damaged line is an error") {
  make_dirs("build/test_lawqa_endpoint");
  const std::string p = "build/test_lawqa_endpoint/items.jsonl";
  write_file_atomic(p, "{\"unit\":\"a\"}\n{\"unit\":\"b\"}\n{\"unit\":\"c");
  {
    JsonlAppendFile f(p, true);
    CHECK(f.existing() == "{\"unit\":\"a\"}\n{\"unit\":\"b\"}\n");
    CHECK(f.dropped_bytes() == 10);
    f.append("{\"unit\":\"d\"}");
  }
  CHECK(read_file(p) == "{\"unit\":\"a\"}\n{\"unit\":\"b\"}\n{\"unit\":\"d\"}\n");
  {
    JsonlAppendFile f(p, false);  // a fresh run starts the file empty
    CHECK(f.existing().empty());
  }
  CHECK(read_file(p).empty());
  write_file_atomic(p, "{\"unit\":\"a\"}\nnot json\n");
  CHECK_THROWS_WITH_AS(JsonlAppendFile(p, true), doctest::Contains("items.jsonl:2"), Error);
  CHECK(read_file(p) == "{\"unit\":\"a\"}\nnot json\n");  // an error leaves the file as it was
}

TEST_CASE("endpoint generator: a refused connection is retried, counted per unit, never thrown") {
  std::vector<statutes::Article> arts;
  for (auto& law : statutes::parse_statute_dir(data_dir() + "/statutes"))
    if (law.info.title == "이자제한법")
      for (auto& a : law.articles) arts.push_back(a);
  REQUIRE(!arts.empty());
  CitationIndex idx(arts);
  std::vector<Unit> units = units_of(arts[0]);
  REQUIRE(!units.empty());
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);  // a port nothing listens on: bind, read it back, close
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
  o.max_attempts = 2;
  o.retry_base_s = 0.01;
  o.concurrency = 2;
  EndpointRun run = generate_endpoint(units, idx, o);
  CHECK(run.fatal.empty());
  CHECK(run.kept.empty());
  CHECK(run.failed == (int)units.size());
  CHECK(run.by_reason["connect_failed"] == (int)units.size());
  CHECK(run.http_requests == 2 * (int)units.size());
  CHECK(run.retries == (int)units.size());
  o.url = "ftp://127.0.0.1/v1";
  CHECK_THROWS_WITH_AS(generate_endpoint(units, idx, o), doctest::Contains("want http(s)://"), Error);
}
