// parse_request (legal/serve/chat_request.h), the server's request parsing without a socket: field values and exact
// messages, and the fuzz harness's property (any bytes -> a request or a 4xx ApiError, nothing else) replayed
// on its seeds and deterministic mutations of them (every truncation, byte deletions and substitutions).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "fuzz/fuzz_chat_request.cpp"  // LLVMFuzzerTestOneInput and beop_fuzz_seeds

using namespace beop;

static ApiError error_of(const std::string& body, bool chat = true) {
  try {
    parse_request(body, chat, GenerateOptions{}, 1 << 16);
  } catch (const ApiError& e) {
    return e;
  }
  FAIL("accepted: " << body);
  return {};
}

TEST_CASE("parse_request: fields, defaults, and the seed of an unsigned 64-bit integer") {
  GenerateOptions d;
  d.max_new_tokens = 77;
  const ChatRequest r = parse_request(
      R"({"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],)"
      R"("seed":18446744073709551615,"top_k":5,"stop":["x","y"],"stream":true,"stream_options":{"include_usage":true},)"
      R"("system_prompt":"none","reference":"none","user":"ignored"})",
      true, d, 1 << 16);
  REQUIRE(r.messages.size() == 1);
  CHECK(r.messages[0].content == "ab");
  CHECK(r.opt.sampling.seed == 18446744073709551615ull);
  CHECK(r.seed_set);
  CHECK(r.opt.sampling.top_k == 5);
  CHECK(r.opt.max_new_tokens == 77);
  CHECK(r.opt.stop == std::vector<std::string>{"x", "y"});
  CHECK(r.stream);
  CHECK(r.include_usage);
  CHECK(*r.system_prompt == "none");
  const ChatRequest c = parse_request(R"({"prompt":["hello"],"max_tokens":3})", false, d, 1 << 16);
  CHECK(c.prompt == "hello");
  CHECK(c.opt.max_new_tokens == 3);
  CHECK(!c.seed_set);
}

TEST_CASE("parse_request: errors name the field and quote values exactly") {
  ApiError e = error_of(R"({"messages":[{"role":"user","content":[{"type":5,"text":"x"}]}]})");
  CHECK(e.status == 400);
  CHECK(e.param == "messages[0].content[0].type");
  CHECK(e.message == "messages[0].content[0].type must be a string, got 5");
  e = error_of(R"({"messages":[{"role":"user","content":"x"}],"max_tokens":18446744073709551615})");
  CHECK(e.message == "'max_tokens' must be a positive integer (at most 2147483647), got 18446744073709551615");
  e = error_of(R"({"messages":[{"role":"user","content":"x"}],"top_k":-9223372036854775808})");
  CHECK(e.message == "'top_k' must be an integer in [0, 2147483647], got -9223372036854775808");
  e = error_of(R"({"messages":[{"role":"user","content":"x"}],"max_tokens":1e19})");
  CHECK(e.code == "invalid_type");
  CHECK(e.message == "'max_tokens' must be an integer, got 1e+19");
  e = error_of(R"({"messages":[{"role":"user","content":"x"}],"n":18446744073709551615})");
  CHECK(e.message.find("18446744073709551615") != std::string::npos);
  e = error_of(std::string(40, '[') + std::string(40, ']'));
  CHECK(e.code == "invalid_json");
  CHECK(e.message.find("deeper than 32") != std::string::npos);
  e = error_of(std::string(70000, ' '));
  CHECK(e.status == 413);
  e = error_of(R"({"messages":[{"role":")" + std::string(1000, 'r') + R"(","content":"x"}]})");
  CHECK(e.message.size() < 200);  // a client string is quoted clipped, not whole
  e = error_of(R"({"messages":[{"role":"user","content":"x"}],"stop":[{"a":[[[1]]]}]})");
  CHECK(e.message == "'stop' must be a string or a list of strings, got an element object");
  e = error_of(R"({"prompt":""})", false);
  CHECK(e.param == "prompt");
}

TEST_CASE("fuzz harness property on its seeds and their mutations") {
  const std::string dir = "build/test_server_request/seeds";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  beop_fuzz_seeds(dir);
  int files = 0;
  size_t runs = 0;
  for (const auto& ent : std::filesystem::directory_iterator(dir)) {
    std::ifstream f(ent.path(), std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    const std::string s = ss.str();
    REQUIRE(s.size() > 2);
    files++;
    auto run = [&](const std::string& in) {
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(in.data()), in.size());
      runs++;
    };
    for (size_t n = 0; n <= s.size(); n++) run(s.substr(0, n));  // every truncation
    for (size_t i = 1; i < s.size(); i++) {
      run(s.substr(0, i) + s.substr(i + 1));  // one byte deleted
      for (char c : {'"', '{', ']', '\\', '0', '\xff', '\0', '9', '-'}) {
        std::string m = s;
        m[i] = c;
        run(m);
      }
    }
  }
  CHECK(files == 5);
  CHECK(runs > 5000);
}
