// Request bodies of the OpenAI-compatible endpoints -> a checked request, or an ApiError (HTTP status + an
// OpenAI-shaped message). Pure: no socket, no model, no clock, so the fuzz harness (fuzz/fuzz_chat_request.cpp)
// and the unit tests call exactly what the server calls.
//
// Contract: for ANY byte string, parse_request either returns or throws ApiError with a 4xx status. Nothing else
// escapes (no json::exception, no 5xx); that is what the fuzz harness checks.
#pragma once
#include <cstddef>
#include <optional>
#include <string>

#include "src/chat_template.h"
#include "src/generator.h"

namespace beop {

// An OpenAI-shaped client error: {"error":{"message","type","param","code"}} with `status`.
struct ApiError {
  int status = 400;
  std::string message, type = "invalid_request_error", param, code;
};
[[noreturn]] void throw_api_error(const std::string& msg, const std::string& param = "",
                                  const std::string& code = "invalid_value", int status = 400);
// The response body for an error (JSON text).
std::string api_error_json(const ApiError& e);

struct ChatRequest {
  bool chat = true;              // /v1/chat/completions (messages) or /v1/completions (prompt)
  Conversation messages;         // chat: as sent; roles checked, list-of-parts content joined
  std::string prompt;            // completions: non-empty text
  GenerateOptions opt;           // the defaults with the request's sampling fields applied
  bool seed_set = false;         // false: the caller picks a fresh seed
  bool stream = false, include_usage = false;
  std::optional<std::string> system_prompt;  // "system_prompt" when given (legal | none | text)
  std::optional<std::string> reference;      // "reference" when given: "auto" | "none"
};

constexpr int kMaxJsonDepth = 32;  // deeper nesting than any valid request needs -> 400 before parsing

// body: the request body as received. `chat` selects the endpoint. Throws ApiError (400, or 413 when the body
// is over max_body_bytes).
ChatRequest parse_request(const std::string& body, bool chat, const GenerateOptions& defaults, size_t max_body_bytes);

}  // namespace beop
