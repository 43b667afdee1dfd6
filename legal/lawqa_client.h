// The law-QA endpoint generator's HTTP(S) client: POSTs many JSON bodies to one OpenAI-compatible
// /v1/chat/completions URL through libcurl (Debian's libcurl4-openssl: https with certificate verification ON),
// a bounded number in flight at once (curl multi, one thread), each retried with exponential backoff + jitter on
// 429, 5xx and connection-level failures (Retry-After honoured), up to a bounded number of attempts.
// Never throws once running: every request ends in one Result; only conditions that would fail every request
// alike (an untrusted certificate, a rejected key, a wrong URL) stop the run, with one line saying why.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace beop::lawqa::client {

struct Options {
  std::string url;          // the full chat-completions URL (chat_completions_url)
  std::string api_key;      // "Authorization: Bearer ..." when non-empty
  std::string ca_cert;      // PEM file of extra trusted CA(s) (a private endpoint, a test); "" = the system store
  double timeout_s = 60;    // whole-request limit per attempt (connect + send + receive)
  int concurrency = 1;      // requests in flight
  int max_attempts = 5;     // per request, the first one included
  double retry_base_s = 1;  // backoff before retry k (1-based): min(retry_max_s, base * 2^(k-1)) * U[0.5, 1)
  double retry_max_s = 60;  // cap of one wait, Retry-After included
  uint64_t seed = 1;        // of the jitter
  size_t max_body = 16u << 20;  // a larger response is a failure ("response_too_large"), not an OOM
};

struct Result {
  size_t id = 0;
  bool ok = false;       // HTTP 200 with a complete body
  int status = 0;        // last HTTP status (0 when none came back)
  std::string body;      // the response body (ok or not)
  std::string reason;    // "" when ok | timeout | connect_failed | truncated | transport | http_status | response_too_large
  std::string error;     // one line: what went wrong on the last attempt
  int attempts = 0;
};

struct Stats {
  int attempts = 0;  // HTTP requests sent, retries included
  int retries = 0;
};

// Normalises http(s)://host[:port][/prefix][/v1][/chat/completions] to the full chat-completions URL.
// Throws Error (one line naming the URL) on any other scheme or an empty host.
std::string chat_completions_url(const std::string& url);
// True for localhost / 127.x / ::1 URLs (a local server needs no API key).
bool is_local_url(const std::string& url);

// Seconds to wait before retry `retry` (1-based) given a uniform u in [0,1) (exposed for tests).
double backoff_s(int retry, double base, double cap, double u);
// A Retry-After value in seconds: delta-seconds or an HTTP-date (relative to now); -1 when unparseable.
double parse_retry_after(const std::string& value);

// Sends bodies 0..n-1 (body(i) makes the i-th lazily), calling on_done in this thread as each request finishes
// for good and tick() about once per completed attempt or poll. Returns "" when every request finished, else the
// one-line fatal error that stopped the run (requests in flight or not yet sent get no on_done).
std::string run(const Options& opt, size_t n, const std::function<std::string(size_t)>& body,
                const std::function<void(Result&)>& on_done, const std::function<void()>& tick, Stats* stats);

}  // namespace beop::lawqa::client
