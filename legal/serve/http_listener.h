// GuardedServer: cpp-httplib's Server with beop's own connection handling, so that slow or odd clients cannot
// starve the others.
//
// Why: Debian's cpp-httplib 0.11.4 gives every accepted connection a worker thread from the moment of accept(),
// for as long as it trickles its headers (each byte restarts the 5 s read timeout) and then for up to 5 s of
// keep-alive idleness; 16 slow clients therefore take all 16 workers and /health is unreachable. It also
// drops the answer to a client that half-closed after its request (SocketStream::is_writable treats a
// pending EOF as a dead peer), and reads chunked or length-less request bodies without any size limit.
//
// What this does instead (httplib still parses requests, routes and writes responses, through
// Server::process_request and a Stream implemented here):
//   * One poll() thread owns every connection that is waiting for a request: it reads headers non-blocking
//     and hands a connection to the worker pool only once its request line and headers are complete. Slow
//     headers, idle keep-alive connections and clients sending nothing therefore hold no worker.
//   * Deadlines: next request within idle_timeout_s, complete headers within header_timeout_s (408), headers
//     at most max_header_bytes (431); in a worker, no read or write may stall longer than io_timeout_s and the
//     body must be complete within body_timeout_s; raw body bytes are capped at max_body_bytes plus chunk
//     framing slack, whatever the framing.
//   * At most max_connections open connections: past that, the one that has waited longest for its headers is
//     closed (a slow client, never one already being served); if none is waiting, the newcomer gets a 503.
//   * Writes do not look at the read side, so a half-closed client gets its answer; a client that is really
//     gone makes a write fail (EPIPE/ECONNRESET), which is what cancels a stream.
//   * Every close is graceful: shutdown(SHUT_WR), then unread input is discarded for up to 1 s, so a client
//     whose body was refused unread still reads its error response instead of a connection reset.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "legal/serve/httplib_config.h"

namespace beop {

struct ConnLimits {
  int workers = 16;                // threads running requests whose headers are complete
  int max_connections = 256;       // open connections in every state
  double idle_timeout_s = 5;       // keep-alive: the next request must start within this
  double header_timeout_s = 10;    // request line + headers complete within this (from accept / last response)
  double body_timeout_s = 30;      // request body complete within this once the headers are in
  double io_timeout_s = 5;         // a single read or write that makes no progress for this long fails
  size_t max_header_bytes = 16 * 1024;
  size_t max_body_bytes = 1 << 20; // raw bytes after the headers (plus slack for chunk framing)
  int keep_alive_max = 100;        // requests per connection
};

struct ConnStats {
  int64_t accepted = 0;
  int64_t evicted = 0;          // closed to make room (waited longest for its headers)
  int64_t refused = 0;          // 503: max_connections reached and nobody to evict
  int64_t header_timeouts = 0;  // 408 or silent close of an idle keep-alive connection
  int64_t header_too_large = 0; // 431
  int64_t open = 0;             // connections open now
};

class GuardedServer : public httplib::Server {
 public:
  explicit GuardedServer(const ConnLimits& limits);
  ~GuardedServer() override;
  ConnStats conn_stats() const;
  // After bind_to_port: raises the listen backlog of this server's socket from cpp-httplib's 5 to `backlog`.
  void widen_backlog(int port, int backlog = 1024);

  // For handlers (they run on the worker thread that serves the request):
  static void close_after_response();  // e.g. a body was refused unread: do not read the next request from it
  static bool body_limit_hit();        // the body read failed because it exceeded max_body_bytes

 private:
  bool process_and_close_socket(socket_t sock) override;  // called by httplib's accept loop
  struct Front;
  std::unique_ptr<Front> front_;
};

}  // namespace beop
