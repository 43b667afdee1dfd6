// A minimal HTTP/1.1 POST client over a POSIX socket for the law-QA endpoint generator: plain http, one request
// per connection ("Connection: close"), Content-Length or chunked responses, one deadline for the whole request
// (connect + send + receive). Never throws: every failure is reported in Response::error.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace beop::lawqa::http {

struct Response {
  int status = 0;           // HTTP status code; 0 when no response was parsed
  std::string body;         // de-chunked body
  std::string error;        // "" on success, else one line (connect refused, timeout after 2.0 s, bad status line, ...)
  bool timed_out = false;   // the deadline passed before the response was complete
};

Response post(const std::string& host, int port, const std::string& path,
              const std::vector<std::pair<std::string, std::string>>& headers, const std::string& content_type,
              const std::string& body, double timeout_s);

}  // namespace beop::lawqa::http
