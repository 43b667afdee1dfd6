#include "legal/serve/http_listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "legal/serve/chat_request.h"
#include "src/common.h"

namespace beop {

namespace {

using Clock = std::chrono::steady_clock;

thread_local bool t_close_after = false;
thread_local bool t_body_limit = false;

Clock::time_point after(Clock::time_point t, double secs) {
  return t + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(secs));
}
int ms_until(Clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - Clock::now()).count();
  return int(std::max<int64_t>(0, std::min<int64_t>(ms, 1 << 30)));
}

constexpr double kDrainSeconds = 1.0;  // how long a closing connection's unread input is discarded

struct Conn {
  int fd = -1;
  std::string buf;           // received and not yet consumed
  size_t header_len = 0;     // while a worker has it: bytes of buf that are the request line + headers
  int served = 0;            // requests answered on this connection
  Clock::time_point since;   // waiting for a request since / draining since
  bool draining = false;     // SHUT_WR sent: discard input until EOF or kDrainSeconds
  bool eof = false;          // the client shut its sending side
  bool fresh = true;         // just accepted: counts against max_connections
  bool dirty = true;         // buf changed since the header end was last looked for
  ~Conn() {
    if (fd >= 0) ::close(fd);
  }
};
using ConnPtr = std::unique_ptr<Conn>;

// A complete error response for the poll thread (which answers without httplib): OpenAI-shaped JSON body.
std::string raw_response(int status, const char* reason, const std::string& msg, const std::string& code) {
  ApiError e;
  e.status = status, e.message = msg, e.code = code;
  e.type = status >= 500 ? "server_error" : "invalid_request_error";
  const std::string body = api_error_json(e);
  return cat("HTTP/1.1 ", status, " ", reason, "\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ",
             body.size(), "\r\nConnection: close\r\n\r\n", body);
}

// httplib::Stream over a non-blocking socket: first the bytes the poll thread already read, then the socket.
class ConnStream : public httplib::Stream {
 public:
  ConnStream(Conn& c, const ConnLimits& l)
      : c_(c), l_(l), body_deadline_(after(Clock::now(), l.body_timeout_s)),
        cap_(c.header_len + l.max_body_bytes + l.max_body_bytes / 8 + 4096) {}

  bool is_readable() const override { return pos_ < c_.buf.size() || wait(POLLIN, io_ms()) & POLLIN; }
  // Only the write side matters: a client that half-closed (SHUT_WR) still reads its answer.
  bool is_writable() const override {
    const short re = wait(POLLOUT, io_ms());
    return (re & POLLOUT) && !(re & (POLLERR | POLLHUP));
  }

  ssize_t read(char* p, size_t n) override {
    if (n == 0) return 0;
    size_t got = 0;
    if (pos_ < c_.buf.size()) {
      got = std::min(n, c_.buf.size() - pos_);
      std::memcpy(p, c_.buf.data() + pos_, got);
      pos_ += got;
    } else {
      if (c_.eof) return 0;
      for (;;) {  // read at most n: bytes past this request stay in the kernel for the next one
        const ssize_t r = ::recv(c_.fd, p, n, 0);
        if (r > 0) {
          got = size_t(r);
          break;
        }
        if (r == 0) {
          c_.eof = true;
          return 0;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
        const int ms = std::min(io_ms(), ms_until(body_deadline_));
        if (ms <= 0 || !(wait(POLLIN, ms) & (POLLIN | POLLHUP | POLLERR))) return -1;  // stalled or too slow
      }
    }
    consumed_ += got;
    if (consumed_ > cap_) {  // chunked or length-less bodies are not limited by httplib 0.11.4 itself
      t_body_limit = true;
      return -1;
    }
    return ssize_t(got);
  }

  ssize_t write(const char* p, size_t n) override {
    size_t done = 0;
    while (done < n) {
      const ssize_t r = ::send(c_.fd, p + done, n - done, MSG_NOSIGNAL);
      if (r >= 0) {
        done += size_t(r);
        continue;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;  // EPIPE/ECONNRESET: the client is gone
      const short re = wait(POLLOUT, io_ms());
      if (!(re & POLLOUT)) return -1;  // a client that stopped reading for io_timeout_s
    }
    return ssize_t(n);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override { addr(true, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { addr(false, ip, port); }
  // httplib's server uses this only for its "fd >= FD_SETSIZE -> 500" guard of select(); this stream never
  // calls select(), so a large descriptor is reported as -1 to pass that guard.
  socket_t socket() const override { return c_.fd < FD_SETSIZE ? c_.fd : -1; }

  std::string rest() const { return c_.buf.substr(std::min(pos_, c_.buf.size())); }

 private:
  Conn& c_;
  const ConnLimits& l_;
  Clock::time_point body_deadline_;
  size_t cap_;
  size_t pos_ = 0, consumed_ = 0;

  int io_ms() const { return int(l_.io_timeout_s * 1000); }
  short wait(short events, int ms) const {
    pollfd pf{c_.fd, events, 0};
    int r;
    do r = ::poll(&pf, 1, ms);
    while (r < 0 && errno == EINTR);
    return r > 0 ? pf.revents : 0;
  }
  void addr(bool remote, std::string& ip, int& port) const {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    const int r = remote ? ::getpeername(c_.fd, reinterpret_cast<sockaddr*>(&ss), &len)
                         : ::getsockname(c_.fd, reinterpret_cast<sockaddr*>(&ss), &len);
    if (r != 0) return;
    char buf[INET6_ADDRSTRLEN] = {0};
    if (ss.ss_family == AF_INET) {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      ::inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
      port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      ::inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
      port = ntohs(a->sin6_port);
    }
    ip = buf;
  }
};

}  // namespace

struct GuardedServer::Front {
  GuardedServer& srv;
  const ConnLimits l;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<ConnPtr> incoming;  // to the poll thread: new, kept alive, or closing connections
  std::deque<ConnPtr> ready;      // headers complete, for the workers
  bool started = false, stopping = false;
  int wake[2] = {-1, -1};
  std::thread poller;
  std::vector<std::thread> workers;
  std::atomic<int64_t> open{0}, accepted{0}, evicted{0}, refused{0}, header_timeouts{0}, header_too_large{0};

  Front(GuardedServer& s, const ConnLimits& lim) : srv(s), l(lim) {}
  ~Front() { shutdown(); }

  void start() {
    std::lock_guard<std::mutex> g(mu);
    if (started) return;
    BEOP_CHECK(::pipe2(wake, O_NONBLOCK | O_CLOEXEC) == 0, "http listener: pipe2 failed: ", std::strerror(errno));
    started = true, stopping = false;
    poller = std::thread([this] { poll_loop(); });
    for (int i = 0; i < std::max(1, l.workers); i++) workers.emplace_back([this] { worker_loop(); });
  }

  void shutdown() {
    {
      std::lock_guard<std::mutex> g(mu);
      if (!started || stopping) return;
      stopping = true;
    }
    poke();
    cv.notify_all();
    poller.join();
    for (auto& t : workers) t.join();
    workers.clear();
    std::lock_guard<std::mutex> g(mu);
    for (auto& c : incoming) closed(std::move(c));
    for (auto& c : ready) closed(std::move(c));
    incoming.clear(), ready.clear();
    ::close(wake[0]), ::close(wake[1]);
    started = false;
  }

  void poke() {
    const char b = 1;
    [[maybe_unused]] ssize_t r = ::write(wake[1], &b, 1);
  }
  void closed(ConnPtr c) {
    if (c) open--;  // the descriptor closes with the Conn
  }
  // To the poll thread (or closed, when the server is stopping).
  void to_poller(ConnPtr c) {
    {
      std::lock_guard<std::mutex> g(mu);
      if (!stopping) {
        incoming.push_back(std::move(c));
        c = nullptr;
      }
    }
    if (c) closed(std::move(c));
    else poke();
  }
  // Answer (best effort: a few hundred bytes fit any socket buffer) and close gracefully.
  void respond_and_drain(Conn& c, const std::string& response) {
    [[maybe_unused]] ssize_t r = ::send(c.fd, response.data(), response.size(), MSG_NOSIGNAL);
    start_drain(c);
  }
  static void start_drain(Conn& c) {
    ::shutdown(c.fd, SHUT_WR);
    c.draining = true, c.since = Clock::now();
  }

  void add(int fd) {
    const int flags = ::fcntl(fd, F_GETFL, 0);
    ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // SSE chunks go out at once
    auto c = std::make_unique<Conn>();
    c->fd = fd, c->since = Clock::now();
    open++, accepted++;
    to_poller(std::move(c));
  }

  // Reads what is available. Waiting connections keep at most max_header_bytes + 64 KiB (headers + body start).
  void read_some(Conn& c) {
    char tmp[16384];
    for (;;) {
      if (!c.draining && c.buf.size() > l.max_header_bytes + 65536) return;
      const ssize_t r = ::recv(c.fd, tmp, sizeof tmp, 0);
      if (r > 0) {
        if (!c.draining) c.buf.append(tmp, size_t(r)), c.dirty = true;
        continue;
      }
      if (r == 0) c.eof = true;
      else if (errno == EINTR) continue;
      else if (errno != EAGAIN && errno != EWOULDBLOCK) c.eof = true;  // reset: nothing more will come
      return;
    }
  }

  // Makes room for a newly accepted connection: closes the draining, else the longest-waiting idle/slow one.
  bool evict(std::vector<ConnPtr>& conns) {
    Conn* victim = nullptr;
    for (auto& c : conns)
      if (c && !c->fresh && (!victim || (c->draining && !victim->draining) ||
                             (c->draining == victim->draining && c->since < victim->since)))
        victim = c.get();
    if (!victim) return false;
    for (auto& c : conns)
      if (c.get() == victim) closed(std::move(c)), c = nullptr;
    evicted++;
    return true;
  }

  void poll_loop() {
    std::vector<ConnPtr> conns;  // owned by this thread
    std::vector<pollfd> pfd;
    for (;;) {
      {
        std::lock_guard<std::mutex> g(mu);
        if (stopping) break;
        for (auto& c : incoming) conns.push_back(std::move(c));
        incoming.clear();
      }
      for (auto& c : conns) {
        if (!c || !c->fresh) continue;
        if (open > l.max_connections) {
          if (!evict(conns)) {  // (fresh connections, this one included, are never victims)
            refused++;
            respond_and_drain(*c, raw_response(503, "Service Unavailable",
                                               cat("server busy: ", l.max_connections, " connections open; retry later"),
                                               "too_many_connections"));
          }
        }
        if (c) c->fresh = false;
      }
      conns.erase(std::remove(conns.begin(), conns.end(), nullptr), conns.end());

      // hand on complete headers (also leftover pipelined bytes of a kept-alive connection)
      const auto now = Clock::now();
      for (auto& c : conns) {
        if (c->draining) {
          if (c->eof || now >= after(c->since, kDrainSeconds)) closed(std::move(c));
          continue;
        }
        if (c->dirty) {
          c->dirty = false;
          const size_t e = c->buf.find("\r\n\r\n");
          if (e != std::string::npos && e + 4 <= l.max_header_bytes) {
            c->header_len = e + 4;
            std::lock_guard<std::mutex> g(mu);
            ready.push_back(std::move(c));
            cv.notify_one();
            continue;
          }
          if (c->buf.size() > l.max_header_bytes) {
            header_too_large++;
            respond_and_drain(*c, raw_response(431, "Request Header Fields Too Large",
                                               cat("request line and headers exceed ", l.max_header_bytes, " bytes"),
                                               "header_too_large"));
            continue;
          }
        }
        if (c->eof) {  // gone before a complete request (a complete one was handed on above)
          closed(std::move(c));
          continue;
        }
        if (c->buf.empty() && now >= after(c->since, l.idle_timeout_s)) {  // idle keep-alive / silent client
          header_timeouts++;
          closed(std::move(c));
        } else if (!c->buf.empty() && now >= after(c->since, l.header_timeout_s)) {
          header_timeouts++;
          respond_and_drain(*c, raw_response(408, "Request Timeout",
                                             cat("request headers not complete within ", l.header_timeout_s, " s"),
                                             "request_timeout"));
        }
      }
      conns.erase(std::remove(conns.begin(), conns.end(), nullptr), conns.end());

      // wait for input, the wake pipe, or the nearest deadline
      pfd.assign(1, pollfd{wake[0], POLLIN, 0});
      auto next = after(Clock::now(), 0.25);
      for (auto& c : conns) {
        pfd.push_back(pollfd{c->fd, POLLIN, 0});
        const double lim = c->draining ? kDrainSeconds : c->buf.empty() ? l.idle_timeout_s : l.header_timeout_s;
        next = std::min(next, after(c->since, lim));
      }
      const int r = ::poll(pfd.data(), pfd.size(), std::max(1, ms_until(next) + 1));
      if (r < 0 && errno != EINTR) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      if (r <= 0) continue;
      if (pfd[0].revents) {
        char b[256];
        while (::read(wake[0], b, sizeof b) > 0) {
        }
      }
      for (size_t i = 1; i < pfd.size(); i++)
        if (pfd[i].revents) read_some(*conns[i - 1]);
    }
    for (auto& c : conns) closed(std::move(c));
  }

  void worker_loop() {
    for (;;) {
      ConnPtr c;
      {
        std::unique_lock<std::mutex> g(mu);
        cv.wait(g, [&] { return stopping || !ready.empty(); });
        if (ready.empty()) return;  // stopping
        c = std::move(ready.front());
        ready.pop_front();
      }
      t_close_after = false, t_body_limit = false;
      const bool last = c->served + 1 >= l.keep_alive_max;
      bool client_closes = false;
      bool ok;
      std::string rest;
      {
        ConnStream strm(*c, l);
        ok = srv.process_request(strm, last, client_closes, nullptr);
        rest = strm.rest();
      }
      c->served++;
      c->buf = std::move(rest), c->header_len = 0, c->dirty = true, c->since = Clock::now();
      if (!ok) {  // the response could not be written: the client is gone
        closed(std::move(c));
        continue;
      }
      if (last || client_closes || t_close_after || t_body_limit || c->eof) start_drain(*c);
      to_poller(std::move(c));
    }
  }
};

namespace {
// httplib's accept loop hands each socket to the task queue; ours passes it straight to the poll thread.
struct InlineQueue : httplib::TaskQueue {
  std::function<void()> on_shutdown;
  void enqueue(std::function<void()> fn) override { fn(); }
  void shutdown() override { on_shutdown(); }
};
}  // namespace

GuardedServer::GuardedServer(const ConnLimits& limits) : front_(std::make_unique<Front>(*this, limits)) {
  new_task_queue = [this] {
    front_->start();
    auto* q = new InlineQueue;
    q->on_shutdown = [this] { front_->shutdown(); };
    return q;
  };
}
GuardedServer::~GuardedServer() {
  stop();
  front_->shutdown();
}

bool GuardedServer::process_and_close_socket(socket_t sock) {
  front_->add(sock);
  return true;
}

ConnStats GuardedServer::conn_stats() const {
  ConnStats s;
  s.accepted = front_->accepted, s.evicted = front_->evicted, s.refused = front_->refused;
  s.header_timeouts = front_->header_timeouts, s.header_too_large = front_->header_too_large, s.open = front_->open;
  return s;
}

// cpp-httplib listens with a backlog of 5 (CPPHTTPLIB_LISTEN_BACKLOG, compiled into Debian's libcpp-httplib.so, so
// the macro cannot be raised from here). A burst of clients connecting at once overflows that accept queue; with
// SYN cookies (Linux's default) a connection whose handshake was dropped there is later reset, which a client sees
// as "connection reset by peer" on a fresh connection (tests/py/test_server_load.py, 32 clients starting at once
// on a loaded machine). Linux lets listen() be called again on a listening socket to change its backlog: find
// this server's socket (listening, bound to `port`) and do that.
void GuardedServer::widen_backlog(int port, int backlog) {
  for (int fd = 0; fd < 4096; fd++) {
    int listening = 0;
    socklen_t n = sizeof listening;
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &n) != 0 || !listening) continue;
    sockaddr_storage a{};
    socklen_t al = sizeof a;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &al) != 0) continue;
    const int p = a.ss_family == AF_INET    ? ntohs(reinterpret_cast<sockaddr_in*>(&a)->sin_port)
                  : a.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&a)->sin6_port)
                                            : -1;
    if (p == port) ::listen(fd, backlog);
  }
}

void GuardedServer::close_after_response() { t_close_after = true; }
bool GuardedServer::body_limit_hit() { return t_body_limit; }

}  // namespace beop
