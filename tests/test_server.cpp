// The OpenAI-compatible server, in-process on an ephemeral port, driven by httplib::Client: every endpoint,
// streaming (SSE chunks reassemble to the non-streaming answer), every bad-input case (OpenAI-shaped JSON
// errors, server still serving), concurrent clients (greedy answers equal to the sequential ones), the
// bounded queue (503), and a client dropping mid-stream (its generation cancelled, the next request served).
// Oracle for answers: the Generator called directly with the same prompt tokens and options.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "cpu/model_cpu.h"
#include "legal/serve/httplib_config.h"
#include "legal/serve/server.h"
#include "tests/infer_fixture.h"

using namespace beop;
using json = nlohmann::json;

static const std::string kDir = "build/test_server";
static const std::string kLegal = "당신은 신중한 법률 상담 도우미입니다.";

struct Fixture {
  Tokenizer tok;
  std::unique_ptr<CausalLM> lm;
  Fixture() { lm = load_causal_lm(test::make_infer_fixture(kDir, 256), &tok); }
};
static Fixture& fx() {
  static Fixture f;
  return f;
}

// A model that sleeps before every step, so a generation is reliably still running while the test acts.
struct SlowLM : CausalLM {
  CausalLM& in;
  int ms;
  SlowLM(CausalLM& m, int delay_ms) : in(m), ms(delay_ms) {}
  const ModelConfig& config() const override { return in.config(); }
  void reset(int c) override { in.reset(c); }
  std::vector<float> step(const int32_t* t, int n, int p) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return in.step(t, n, p);
  }
  std::vector<double> token_logprobs(const int32_t* t, int n) override { return in.token_logprobs(t, n); }
  std::vector<float> full_logits(const int32_t* t, int n) override { return in.full_logits(t, n); }
};

// A running server on 127.0.0.1:<ephemeral>; stopped and joined on destruction.
struct Running {
  Generator gen;
  ChatServer server;
  int port;
  std::thread th;
  Running(CausalLM& lm, ServerOptions o) : gen(lm, fx().tok), server(gen, std::move(o)) {
    port = server.bind("127.0.0.1", 0);
    th = std::thread([this] { server.run(); });
    for (int i = 0; i < 200; i++) {  // until it answers
      httplib::Client c("127.0.0.1", port);
      if (auto r = c.Get("/health"); r && r->status == 200) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ~Running() {
    server.stop();
    th.join();
  }
  httplib::Client client() {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60, 0);  // queued requests wait for the model
    return c;
  }
  httplib::Result post(const std::string& path, const std::string& body) {
    return client().Post(path.c_str(), body, "application/json");
  }
};

static ServerOptions base_options() {
  ServerOptions o;
  o.model_name = "fixture";
  o.defaults.sampling.temperature = 0;
  o.defaults.max_new_tokens = 16;
  o.defaults.stop_at_eos = true;
  o.legal_system_prompt = kLegal;
  o.default_system = "legal";
  o.queue_limit = 8;
  o.max_body_bytes = 64 * 1024;
  return o;
}
static Running& server() {
  static Running r(*fx().lm, base_options());
  return r;
}

// The answer the generator gives directly (the oracle) for a conversation.
static GenerateResult direct(const Conversation& conv, int max_tokens, std::vector<std::string> stop = {}) {
  Generator g(*fx().lm, fx().tok);
  GenerateOptions o;
  o.sampling.temperature = 0;
  o.max_new_tokens = max_tokens;
  o.stop = std::move(stop);
  return g.generate(encode_chat(fx().tok, conv, true).tokens, o);
}

// The data: payloads of an SSE body, in order.
static std::vector<std::string> sse_events(const std::string& body) {
  std::vector<std::string> ev;
  size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    const size_t end = body.find("\n\n", pos);
    REQUIRE(end != std::string::npos);
    ev.push_back(body.substr(pos + 6, end - pos - 6));
    pos = end + 2;
  }
  return ev;
}

static void check_error(const httplib::Result& r, int status, const std::string& code, const std::string& param,
                        const std::string& msg_part = "") {
  REQUIRE(r);
  CHECK(r->status == status);
  INFO(r->body);
  const json j = json::parse(r->body);
  REQUIRE(j.contains("error"));
  const json& e = j["error"];
  CHECK(e["message"].is_string());
  CHECK(e["type"].is_string());
  CHECK(e.contains("param"));
  CHECK(e.contains("code"));
  if (!code.empty()) CHECK(e["code"] == code);
  if (!param.empty()) CHECK(e["param"] == param);
  if (!msg_part.empty()) CHECK(e["message"].get<std::string>().find(msg_part) != std::string::npos);
}

TEST_CASE("GET /health and /v1/models") {
  Running& s = server();
  auto h = s.client().Get("/health");
  REQUIRE(h);
  CHECK(h->status == 200);
  CHECK(json::parse(h->body)["status"] == "ok");
  auto m = s.client().Get("/v1/models");
  REQUIRE(m);
  const json j = json::parse(m->body);
  CHECK(j["object"] == "list");
  REQUIRE(j["data"].size() == 1);
  CHECK(j["data"][0]["id"] == "fixture");
  CHECK(j["data"][0]["object"] == "model");
}

TEST_CASE("POST /v1/chat/completions: answer, usage, default legal system prompt, system_prompt none/custom") {
  Running& s = server();
  const json req = {{"model", "fixture"}, {"messages", {{{"role", "user"}, {"content", "전세 보증금을 돌려받지 못했어요"}}}},
                    {"max_tokens", 12}};
  auto r = s.post("/v1/chat/completions", req.dump());
  REQUIRE(r);
  REQUIRE(r->status == 200);
  const json j = json::parse(r->body);
  CHECK(j["object"] == "chat.completion");
  CHECK(j["model"] == "fixture");
  CHECK(j["id"].get<std::string>().rfind("chatcmpl-", 0) == 0);
  const GenerateResult want = direct({{"system", kLegal}, {"user", "전세 보증금을 돌려받지 못했어요"}}, 12);
  CHECK(j["choices"][0]["message"]["role"] == "assistant");
  CHECK(j["choices"][0]["message"]["content"] == want.text);
  CHECK(j["choices"][0]["finish_reason"] == (want.finish_reason == "length" ? "length" : "stop"));
  CHECK(j["usage"]["prompt_tokens"] == want.prompt_tokens);
  CHECK(j["usage"]["completion_tokens"] == want.completion_tokens);
  CHECK(j["usage"]["total_tokens"] == want.prompt_tokens + want.completion_tokens);
  // no system prompt
  json r2 = req;
  r2["system_prompt"] = "none";
  const json j2 = json::parse(s.post("/v1/chat/completions", r2.dump())->body);
  const GenerateResult w2 = direct({{"user", "전세 보증금을 돌려받지 못했어요"}}, 12);
  CHECK(j2["usage"]["prompt_tokens"] == w2.prompt_tokens);
  CHECK(j2["choices"][0]["message"]["content"] == w2.text);
  // custom text; and a request's own system message wins over the default
  r2["system_prompt"] = "짧게 답하세요.";
  CHECK(json::parse(s.post("/v1/chat/completions", r2.dump())->body)["usage"]["prompt_tokens"] ==
        direct({{"system", "짧게 답하세요."}, {"user", "전세 보증금을 돌려받지 못했어요"}}, 1).prompt_tokens);
  json r3 = req;
  r3["messages"] = {{{"role", "system"}, {"content", "시스템"}}, {{"role", "user"}, {"content", "질문"}}};
  CHECK(json::parse(s.post("/v1/chat/completions", r3.dump())->body)["usage"]["prompt_tokens"] ==
        direct({{"system", "시스템"}, {"user", "질문"}}, 1).prompt_tokens);
  // content as a list of text parts
  json r4 = req;
  r4["messages"] = {{{"role", "user"}, {"content", {{{"type", "text"}, {"text", "전세 보증금을 "}}, {{"type", "text"}, {"text", "돌려받지 못했어요"}}}}}};
  CHECK(json::parse(s.post("/v1/chat/completions", r4.dump())->body)["choices"][0]["message"]["content"] == want.text);
}

TEST_CASE("seeded sampling through the server is reproducible") {
  Running& s = server();
  const json req = {{"messages", {{{"role", "user"}, {"content", "hello"}}}}, {"max_tokens", 12}, {"temperature", 1.0},
                    {"seed", 77}, {"system_prompt", "none"}};
  const std::string a = json::parse(s.post("/v1/chat/completions", req.dump())->body)["choices"][0]["message"]["content"];
  const std::string b = json::parse(s.post("/v1/chat/completions", req.dump())->body)["choices"][0]["message"]["content"];
  CHECK(a == b);
}

TEST_CASE("streaming chat: SSE chunks in OpenAI's shape reassemble to the non-streaming answer") {
  Running& s = server();
  json req = {{"messages", {{{"role", "user"}, {"content", "임대차 계약"}}}}, {"max_tokens", 14}, {"stream", true},
              {"stream_options", {{"include_usage", true}}}};
  auto r = s.post("/v1/chat/completions", req.dump());
  REQUIRE(r);
  REQUIRE(r->status == 200);
  CHECK(r->get_header_value("Content-Type").find("text/event-stream") == 0);
  const std::vector<std::string> ev = sse_events(r->body);
  REQUIRE(ev.size() >= 4);
  CHECK(ev.back() == "[DONE]");
  const json first = json::parse(ev[0]);
  CHECK(first["object"] == "chat.completion.chunk");
  CHECK(first["choices"][0]["delta"]["role"] == "assistant");
  std::string text;
  std::string finish;
  json usage;
  for (size_t i = 0; i + 1 < ev.size(); i++) {
    const json c = json::parse(ev[i]);
    CHECK(c["id"] == first["id"]);
    if (c.contains("usage") && !c["usage"].is_null()) {
      usage = c["usage"];
      continue;
    }
    const json& ch = c["choices"][0];
    if (ch["delta"].contains("content")) text += ch["delta"]["content"].get<std::string>();
    if (!ch["finish_reason"].is_null()) finish = ch["finish_reason"];
  }
  const GenerateResult want = direct({{"system", kLegal}, {"user", "임대차 계약"}}, 14);
  CHECK(text == want.text);
  CHECK(finish == (want.finish_reason == "length" ? "length" : "stop"));
  CHECK(usage["completion_tokens"] == want.completion_tokens);
  CHECK(usage["prompt_tokens"] == want.prompt_tokens);
}

TEST_CASE("POST /v1/completions, streaming and not; stop strings") {
  Running& s = server();
  const std::string prompt = "근로기준법 제23조";
  Generator g(*fx().lm, fx().tok);
  GenerateOptions o;
  o.sampling.temperature = 0;
  o.max_new_tokens = 10;
  const GenerateResult want = g.generate(fx().tok.encode(prompt), o);
  const json req = {{"prompt", prompt}, {"max_tokens", 10}};
  const json j = json::parse(s.post("/v1/completions", req.dump())->body);
  CHECK(j["object"] == "text_completion");
  CHECK(j["choices"][0]["text"] == want.text);
  CHECK(j["usage"]["prompt_tokens"] == want.prompt_tokens);
  json sreq = req;
  sreq["stream"] = true;
  const std::vector<std::string> ev = sse_events(s.post("/v1/completions", sreq.dump())->body);
  REQUIRE(!ev.empty());
  CHECK(ev.back() == "[DONE]");
  std::string text;
  for (size_t i = 0; i + 1 < ev.size(); i++) text += json::parse(ev[i])["choices"][0]["text"].get<std::string>();
  CHECK(text == want.text);
  // stop: a piece of the known answer as the stop string (string and list forms)
  // the 2nd and 3rd characters (whole UTF-8 sequences) of the known answer
  std::vector<size_t> starts;
  for (size_t i = 0; i < want.text.size(); i++)
    if ((want.text[i] & 0xC0) != 0x80) starts.push_back(i);
  REQUIRE(starts.size() >= 4);
  const std::string stop = want.text.substr(starts[1], starts[3] - starts[1]);
  for (json st : {json(stop), json::array({"zzzz", stop})}) {
    json r2 = req;
    r2["stop"] = st;
    const json k = json::parse(s.post("/v1/completions", r2.dump())->body);
    CHECK(k["choices"][0]["text"] == want.text.substr(0, want.text.find(stop)));
    CHECK(k["choices"][0]["finish_reason"] == "stop");
  }
}

TEST_CASE("bad input -> OpenAI-shaped 4xx errors, and the server keeps serving") {
  Running& s = server();
  const std::string path = "/v1/chat/completions";
  const json ok = {{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", 2}};
  auto with = [&](const char* k, json v) {
    json j = ok;
    j[k] = v;
    return j.dump();
  };
  check_error(s.post(path, "{\"messages\": [}"), 400, "invalid_json", "", "malformed JSON");
  check_error(s.post(path, "[1,2]"), 400, "invalid_json", "");
  check_error(s.post(path, "{}"), 400, "missing_field", "messages");
  check_error(s.post(path, with("messages", "hello")), 400, "invalid_type", "messages");
  check_error(s.post(path, with("messages", json::array())), 400, "", "messages", "must not be empty");
  check_error(s.post(path, with("messages", {{{"role", "wizard"}, {"content", "x"}}})), 400, "", "messages[0].role", "wizard");
  check_error(s.post(path, with("messages", {{{"role", "user"}}})), 400, "missing_field", "messages[0].content");
  check_error(s.post(path, with("messages", {{{"role", "user"}, {"content", 5}}})), 400, "invalid_type", "messages[0].content");
  check_error(s.post(path, with("messages", {"just text"})), 400, "invalid_type", "messages[0]");
  check_error(s.post(path, with("temperature", "hot")), 400, "invalid_type", "temperature");
  check_error(s.post(path, with("temperature", 7)), 400, "", "temperature");
  check_error(s.post(path, with("top_p", 0)), 400, "", "top_p");
  check_error(s.post(path, with("max_tokens", 0)), 400, "", "max_tokens", "positive");
  check_error(s.post(path, with("max_tokens", -5)), 400, "", "max_tokens");
  check_error(s.post(path, with("max_tokens", 1.5)), 400, "invalid_type", "max_tokens");
  check_error(s.post(path, with("stop", 3)), 400, "invalid_type", "stop");
  check_error(s.post(path, with("stop", {"a", 1})), 400, "invalid_type", "stop");
  check_error(s.post(path, with("seed", "x")), 400, "invalid_type", "seed");
  check_error(s.post(path, with("stream", "yes")), 400, "invalid_type", "stream");
  check_error(s.post(path, with("n", 3)), 400, "", "n");
  check_error(s.post(path, with("reference", "maybe")), 400, "", "reference");
  check_error(s.post(path, with("reference", "auto")), 400, "", "reference", "without one");
  check_error(s.post(path, with("system_prompt", 1)), 400, "invalid_type", "system_prompt");
  // a prompt longer than the context (256): the numbers are in the message
  std::string big;
  for (int i = 0; i < 300; i++) big += "법원 ";
  check_error(s.post(path, with("messages", {{{"role", "user"}, {"content", big}}})), 400, "context_length_exceeded",
              "messages", "model's context is 256 tokens");
  check_error(s.post("/v1/completions", json{{"prompt", big}}.dump()), 400, "context_length_exceeded", "prompt");
  check_error(s.post("/v1/completions", json{{"prompt", 5}}.dump()), 400, "invalid_type", "prompt");
  check_error(s.post("/v1/completions", json{{"prompt", ""}}.dump()), 400, "", "prompt");
  // invalid UTF-8 in the body
  check_error(s.post(path, "{\"messages\":[{\"role\":\"user\",\"content\":\"\xEB\xB2\"}]}"), 400, "invalid_utf8", "");
  // a body over the limit (64 KiB here)
  check_error(s.post(path, std::string(64 * 1024 + 10, ' ')), 413, "request_too_large", "");
  // unknown route / wrong method
  check_error(s.client().Get("/v1/nothing"), 404, "not_found", "");
  // still serving
  auto r = s.post(path, ok.dump());
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(s.server.stats().bad_requests >= 25);
}

TEST_CASE("--truncate drops the oldest turns of a conversation that does not fit") {
  ServerOptions o = base_options();
  o.truncate = true;
  o.default_system = "none";
  Running s(*fx().lm, o);
  std::string big;
  for (int i = 0; i < 100; i++) big += "법원 ";
  json msgs = json::array();
  for (int t = 0; t < 4; t++) {
    msgs.push_back({{"role", "user"}, {"content", big}});
    msgs.push_back({{"role", "assistant"}, {"content", "네."}});
  }
  msgs.push_back({{"role", "user"}, {"content", "마지막 질문"}});
  auto r = s.post("/v1/chat/completions", json{{"messages", msgs}, {"max_tokens", 3}}.dump());
  REQUIRE(r);
  CHECK(r->status == 200);
  const int pt = json::parse(r->body)["usage"]["prompt_tokens"];
  CHECK(pt < 256);
  CHECK(pt > 10);
}

TEST_CASE("4 concurrent clients get exactly the answers they get one at a time") {
  Running& s = server();
  const std::vector<std::string> qs = {"임대차", "근로자 해고", "To be or not", "민법 제618조", "법원은", "hello world",
                                       "판결", "등기가 없는"};
  std::vector<std::string> seq(qs.size()), conc(qs.size());
  auto ask = [&](size_t i, bool stream) {
    json req = {{"messages", {{{"role", "user"}, {"content", qs[i]}}}}, {"max_tokens", 12}, {"stream", stream}};
    auto r = s.post("/v1/chat/completions", req.dump());
    if (!r || r->status != 200) return std::string("<failed>");
    if (!stream) return json::parse(r->body)["choices"][0]["message"]["content"].get<std::string>();
    std::string t;
    const auto ev = sse_events(r->body);
    for (size_t k = 0; k + 1 < ev.size(); k++) {
      const json c = json::parse(ev[k]);
      if (c["choices"][0]["delta"].contains("content")) t += c["choices"][0]["delta"]["content"].get<std::string>();
    }
    return t;
  };
  for (size_t i = 0; i < qs.size(); i++) seq[i] = ask(i, false);
  std::vector<std::thread> th;
  for (int t = 0; t < 4; t++)
    th.emplace_back([&, t] {
      for (size_t i = size_t(t); i < qs.size(); i += 4) conc[i] = ask(i, i % 2 == 0);  // mixed stream / not
    });
  for (auto& x : th) x.join();
  CHECK(conc == seq);
  for (auto& a : seq) CHECK(a != "<failed>");
}

TEST_CASE("queue bound: with one running and queue 1, a third concurrent request gets 503") {
  SlowLM slow(*fx().lm, 25);  // 12 steps -> ~0.3 s per request
  ServerOptions o = base_options();
  o.queue_limit = 1;
  Running s(slow, o);
  const json req = {{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", 12}};
  std::vector<int> status(3, 0);
  std::vector<std::thread> th;
  for (int i = 0; i < 3; i++)
    th.emplace_back([&, i] {
      std::this_thread::sleep_for(std::chrono::milliseconds(40 * i));  // arrive in order while #0 runs
      auto r = s.post("/v1/chat/completions", req.dump());
      status[size_t(i)] = r ? r->status : -1;
      if (r && r->status == 503) check_error(r, 503, "queue_full", "");
    });
  for (auto& x : th) x.join();
  // which one is refused depends on arrival order (staggered by 40 ms, so normally the last): count them
  CHECK(std::count(status.begin(), status.end(), 200) == 2);
  CHECK(std::count(status.begin(), status.end(), 503) == 1);
  CHECK(status[0] == 200);
  CHECK(s.server.stats().rejected == 1);
  auto after = s.post("/v1/chat/completions", req.dump());  // the slot is free again
  REQUIRE(after);
  CHECK(after->status == 200);
}

TEST_CASE("a client that disconnects mid-stream frees the model; the next request is served") {
  SlowLM slow(*fx().lm, 20);  // 200 steps would take 4 s
  ServerOptions o = base_options();
  o.defaults.stop_at_eos = false;
  Running s(slow, o);
  httplib::Client c = s.client();
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  req.set_header("Content-Type", "application/json");
  req.body = json{{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", 200}, {"stream", true}}.dump();
  int got = 0;
  req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++got < 3; };  // drop after 3 reads
  httplib::Response res;
  httplib::Error err;
  const auto t0 = std::chrono::steady_clock::now();
  c.send(req, res, err);
  c.stop();
  // the server notices at its next write and cancels
  for (int i = 0; i < 300 && s.server.stats().cancelled == 0; i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(s.server.stats().cancelled == 1);
  auto r = s.post("/v1/chat/completions", json{{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", 3}}.dump());
  REQUIRE(r);
  CHECK(r->status == 200);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(secs < 3.0);  // well before the 4 s the abandoned generation would have taken
  CHECK(s.server.stats().completed == 1);
}

TEST_CASE("\"reference\":\"auto\" rewrites the last user turn through the retrieval hook; --ref sets the default") {
  ServerOptions o = base_options();
  o.default_system = "none";
  o.reference = [](const std::string& q) { return "[참조 조문] 민법 제618조\n임대차의 의의\n\n[질문] " + q; };
  Running s(*fx().lm, o);
  const json msgs = {{{"role", "user"}, {"content", "첫 질문"}}, {{"role", "assistant"}, {"content", "네"}},
                     {{"role", "user"}, {"content", "임대차란?"}}};
  const Conversation want_conv = {{"user", "첫 질문"}, {"assistant", "네"},
                                  {"user", "[참조 조문] 민법 제618조\n임대차의 의의\n\n[질문] 임대차란?"}};
  const json a = json::parse(s.post("/v1/chat/completions", json{{"messages", msgs}, {"max_tokens", 4}, {"reference", "auto"}}.dump())->body);
  const GenerateResult w = direct(want_conv, 4);
  CHECK(a["usage"]["prompt_tokens"] == w.prompt_tokens);
  CHECK(a["choices"][0]["message"]["content"] == w.text);
  const json n = json::parse(s.post("/v1/chat/completions", json{{"messages", msgs}, {"max_tokens", 4}}.dump())->body);
  CHECK(n["usage"]["prompt_tokens"] == direct({{"user", "첫 질문"}, {"assistant", "네"}, {"user", "임대차란?"}}, 1).prompt_tokens);
  ServerOptions o2 = o;
  o2.default_reference = "auto";
  Running s2(*fx().lm, o2);
  const json d = json::parse(s2.post("/v1/chat/completions", json{{"messages", msgs}, {"max_tokens", 4}}.dump())->body);
  CHECK(d["usage"]["prompt_tokens"] == w.prompt_tokens);
}
