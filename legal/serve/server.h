// An OpenAI-compatible HTTP server over one Generator (cpp-httplib):
//
//   POST /v1/chat/completions   {"model","messages":[{"role","content"}],"temperature","top_p","max_tokens","stop",
//                                "seed","stream","stream_options":{"include_usage"}, beop extras:
//                                "system_prompt": "legal"|"none"|TEXT, "reference": "auto"|"none",
//                                "top_k", "repetition_penalty"}
//   POST /v1/completions        {"prompt": TEXT, same sampling fields, "stream"}
//   GET  /v1/models             {"object":"list","data":[{"id","object":"model",...}]}
//   GET  /health                {"status":"ok"}
//
// Streaming answers are server-sent events, "data: {chunk}\n\n" in OpenAI's chunk shape, ending "data: [DONE]\n\n".
// Scheduling: continuous batching (src/batch_generator.h): up to max_batch generations decode together, one
// weight read per step for all of them, joining and leaving between steps; the others wait in arrival order.
// At most max_batch + queue_limit requests are admitted, later ones get 503 at once. A streaming client that
// disconnects makes the next write fail, which cancels its generation and frees its slot.
// Request bodies are parsed by parse_request (legal/serve/chat_request.h), which turns any malformed body into a 4xx.
// Connections are handled by GuardedServer (legal/serve/http_listener.h): slow clients cannot starve the others.
// Compressed request bodies get 415 (see routes() in server.cpp for why).
// Every error is OpenAI-shaped, {"error":{"message","type","param","code"}}, with a 4xx/5xx status; the server
// keeps serving after any bad request.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "src/generator.h"

namespace beop {

struct ServerOptions {
  std::string model_name = "beop";   // reported by /v1/models and in every response's "model"
  GenerateOptions defaults;          // sampling and max_tokens when a request does not set them
  int max_batch = 8;                 // generations decoded together (KV cache slots of max_seq_len each)
  int queue_limit = 8;               // requests that may wait while max_batch generate; more -> 503
  size_t max_body_bytes = 1 << 20;   // larger request bodies -> 413
  std::string legal_system_prompt;   // the text "system_prompt":"legal" stands for; empty: "legal" gets a 400
  std::string default_system = "legal";  // "legal" | "none" | literal text, when a request sets nothing
  bool truncate = false;             // drop the oldest turns of a too-long conversation instead of a 400
  int http_threads = 0;              // HTTP worker threads (0: max_batch + queue_limit + 8)
  // Connection handling (legal/serve/http_listener.h): slow or idle clients hold no worker thread.
  int max_connections = 256;         // open connections; past it the longest-waiting-for-headers one is closed
  double idle_timeout_s = 5;         // keep-alive: next request within this
  double header_timeout_s = 10;      // request line + headers within this (408)
  double body_timeout_s = 30;        // request body within this of its headers
  double io_timeout_s = 5;           // a read or write stalled this long fails
  // Statute retrieval for "reference":"auto": the last user message -> that message with the retrieved
  // statutes in front (infer serve passes legal/reference_hook.h's ReferenceHook: the qa_ref_in training layout).
  // Empty: "auto" gets a 400.
  std::function<std::string(const std::string& question)> reference;
  std::string default_reference = "none";  // "auto" | "none", when a request sets nothing
};

struct ServerStats {
  int64_t completed = 0;   // generations that ran to a finish reason
  int64_t cancelled = 0;   // streams whose client went away
  int64_t rejected = 0;    // 503: queue full
  int64_t bad_requests = 0;
  // connections (legal/serve/http_listener.h)
  int64_t connections_open = 0, connections_evicted = 0, connections_refused = 0, header_timeouts = 0;
};

class ChatServer {
 public:
  ChatServer(Generator& gen, ServerOptions o);
  ~ChatServer();
  // Binds host:port (port 0: an ephemeral port). Returns the port; throws Error if it cannot bind.
  int bind(const std::string& host, int port);
  void run();   // serves until stop(); call after bind()
  void stop();  // thread-safe; run() returns
  ServerStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "legal" -> legal_text, "none" -> "", anything else -> itself.
std::string system_prompt_text(const std::string& spec, const std::string& legal_text);

}  // namespace beop
