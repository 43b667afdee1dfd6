// The law-QA endpoint generator (prep lawqa --generator endpoint) against beop's own OpenAI-compatible server
// (./infer serve): the two speak the same protocol. A random tiny model cannot write grounded JSON items, so
// every request must come back as a well-formed chat completion (no HTTP or transport failure) and every item
// must then be rejected by verification with its reason logged — nothing ungrounded is kept.
#include <doctest/doctest.h>

#include <thread>

#include <nlohmann/json.hpp>

#include "cpu/model_cpu.h"
#include "legal/lawqa.h"
#include "legal/serve/server.h"
#include "legal/statutes.h"
#include "src/common.h"
#include "src/generator.h"
#include "tests/infer_fixture.h"

using namespace beop;

TEST_CASE("prep lawqa's endpoint generator talks to ./infer serve") {
  const std::string run = beop::test::make_infer_fixture("build/test_lawqa_beop_server", 1024);
  Tokenizer tok;
  std::unique_ptr<CausalLM> lm = load_causal_lm(run, &tok);
  Generator gen(*lm, tok);
  ServerOptions so;
  so.defaults.max_new_tokens = 24;
  so.default_system = "none";
  ChatServer server(gen, so);
  const int port = server.bind("127.0.0.1", 0);
  std::thread th([&] { server.run(); });

  std::vector<statutes::Article> arts;
  for (auto& law : statutes::parse_statute_dir(data_dir() + "/statutes"))
    if (law.info.title == "이자제한법")
      for (auto& a : law.articles) arts.push_back(a);
  REQUIRE(!arts.empty());
  const lawqa::CitationIndex idx(arts);
  std::vector<lawqa::Unit> units;
  for (auto& a : arts)
    for (auto& u : lawqa::units_of(a)) units.push_back(u);
  units.resize(std::min<size_t>(units.size(), 3));
  lawqa::EndpointOptions o;
  o.url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  o.model = "beop";
  o.timeout_s = 60;
  const lawqa::EndpointRun r = lawqa::generate_endpoint(units, idx, o);
  server.stop();
  th.join();

  CHECK(r.requested == int(units.size()));
  CHECK(r.kept_n + r.rejected + r.failed == r.requested);
  CHECK(r.kept.empty());  // random text is never a grounded item
  REQUIRE(r.log.size() == units.size());
  for (const std::string& line : r.log) {
    const auto j = nlohmann::json::parse(line);
    const std::string reason = j["reason"];
    INFO(line);
    // transport-level failures would mean the protocols disagree
    CHECK(reason != "http_status");
    CHECK(reason != "non_json_body");
    CHECK(reason != "bad_response");
    CHECK(reason != "timeout");
    CHECK(reason != "request_failed");
  }
}
