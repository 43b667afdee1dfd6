// libFuzzer harness: chat-completion / completion request bodies through parse_request (legal/serve/chat_request.h),
// the exact function the server calls. Property checked: any byte string either parses or raises ApiError with
// a 4xx status and an error body that is valid JSON; no other exception, crash, or sanitizer report.
// The first input byte picks the endpoint (odd: /v1/chat/completions), the rest is the body.
// fuzz-sources: legal/serve/chat_request.cpp src/unicode.cpp src/utf8.cpp src/common.cpp
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "legal/serve/chat_request.h"

void beop_fuzz_seeds(const std::string& dir);

namespace {
constexpr size_t kMaxBody = 1 << 16;

void write_seed(const std::string& dir, const std::string& name, bool chat, const std::string& body) {
  std::ofstream f(dir + "/" + name, std::ios::binary);
  f.put(chat ? 1 : 0);
  f << body;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool chat = data[0] & 1;
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  beop::GenerateOptions defaults;
  try {
    const beop::ChatRequest r = beop::parse_request(body, chat, defaults, kMaxBody);
    if (chat && r.messages.empty()) std::abort();      // accepted chat requests have messages
    if (!chat && r.prompt.empty()) std::abort();       // and completions a prompt
    if (r.opt.max_new_tokens <= 0) std::abort();
  } catch (const beop::ApiError& e) {
    if (e.status < 400 || e.status >= 500) std::abort();
    if (!nlohmann::json::accept(beop::api_error_json(e))) std::abort();  // the error body is valid JSON
  }
  return 0;
}

// Seeds: valid requests of both endpoints with every field, and a few near-misses.
void beop_fuzz_seeds(const std::string& dir) {
  using json = nlohmann::json;
  const json msgs = {{{"role", "system"}, {"content", "법률 상담"}},
                     {{"role", "user"}, {"content", {{{"type", "text"}, {"text", "전세 보증금"}}}}}};
  write_seed(dir, "chat_min", true, json{{"messages", {{{"role", "user"}, {"content", "hi"}}}}}.dump());
  write_seed(dir, "chat_full", true,
             json{{"model", "beop"}, {"messages", msgs}, {"temperature", 0.7}, {"top_p", 0.9}, {"top_k", 40},
                  {"repetition_penalty", 1.1}, {"seed", 18446744073709551615ull}, {"max_tokens", 64},
                  {"stop", {"\n\n", "END"}}, {"n", 1}, {"stream", true}, {"stream_options", {{"include_usage", true}}},
                  {"system_prompt", "none"}, {"reference", "auto"}}
                 .dump());
  write_seed(dir, "chat_bad_part", true, R"({"messages":[{"role":"user","content":[{"type":5,"text":"x"}]}]})");
  write_seed(dir, "completion", false, json{{"prompt", "민법 제618조"}, {"max_tokens", 8}, {"stop", "\n"}}.dump());
  write_seed(dir, "completion_list", false, R"({"prompt":["x"],"max_completion_tokens":10000000000000000000})");
}
