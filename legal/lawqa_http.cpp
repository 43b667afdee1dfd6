// Minimal HTTP/1.1 POST (see lawqa_http.h). Non-blocking socket + poll() against one deadline.
#include "legal/lawqa_http.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "src/common.h"

namespace beop::lawqa::http {

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kMaxResponse = 64u << 20;  // 64 MiB: a runaway server must not exhaust memory

int ms_left(Clock::time_point deadline) {
  auto d = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return d < 0 ? 0 : (int)std::min<long long>(d, 1 << 30);
}

// 0 ready, 1 timeout, -1 error
int wait_fd(int fd, short ev, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, ev, 0};
    int r = ::poll(&p, 1, ms_left(deadline));
    if (r > 0) return 0;
    if (r == 0) return 1;
    if (errno != EINTR) return -1;
  }
}

std::string lower(std::string s) {
  for (auto& c : s) c = (char)std::tolower((unsigned char)c);
  return s;
}

bool dechunk(const std::string& in, std::string* out) {
  size_t i = 0;
  for (;;) {
    size_t e = in.find("\r\n", i);
    if (e == std::string::npos) return false;
    size_t n = std::strtoul(in.substr(i, e - i).c_str(), nullptr, 16);
    i = e + 2;
    if (n == 0) return true;
    if (i + n > in.size()) return false;
    out->append(in, i, n);
    i += n + 2;
  }
}

}  // namespace

Response post(const std::string& host, int port, const std::string& path,
              const std::vector<std::pair<std::string, std::string>>& headers, const std::string& content_type,
              const std::string& body, double timeout_s) {
  Response r;
  const std::string where = cat("http://", host, ":", port, path);
  auto deadline = Clock::now() + std::chrono::microseconds((long long)(timeout_s * 1e6));
  auto timeout = [&](const char* phase) {
    r.timed_out = true;
    r.error = cat(where, ": timeout after ", timeout_s, " s (", phase, ")");
    return r;
  };

  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int g = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (g != 0) {
    r.error = cat(where, ": cannot resolve host: ", gai_strerror(g));
    return r;
  }
  int fd = ::socket(res->ai_family, res->ai_socktype, res->ai_protocol);
  if (fd < 0) {
    ::freeaddrinfo(res);
    r.error = cat(where, ": socket: ", std::strerror(errno));
    return r;
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  int c = ::connect(fd, res->ai_addr, res->ai_addrlen);
  ::freeaddrinfo(res);
  if (c != 0) {
    if (errno != EINPROGRESS) {
      r.error = cat(where, ": connect: ", std::strerror(errno));
      return r;
    }
    int w = wait_fd(fd, POLLOUT, deadline);
    if (w == 1) return timeout("connect");
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (w < 0 || err) {
      r.error = cat(where, ": connect: ", std::strerror(err ? err : errno));
      return r;
    }
  }

  std::string req = "POST " + path + " HTTP/1.1\r\nHost: " + host + ":" + std::to_string(port) +
                    "\r\nConnection: close\r\nAccept: application/json\r\nContent-Type: " + content_type +
                    "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  for (auto& h : headers) req += h.first + ": " + h.second + "\r\n";
  req += "\r\n" + body;
  for (size_t sent = 0; sent < req.size();) {
    ssize_t n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n > 0) { sent += (size_t)n; continue; }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      int w = wait_fd(fd, POLLOUT, deadline);
      if (w == 1) return timeout("send");
      if (w == 0) continue;
    }
    r.error = cat(where, ": send: ", std::strerror(errno));
    return r;
  }

  std::string raw;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      raw.append(buf, (size_t)n);
      if (raw.size() > kMaxResponse) {
        r.error = cat(where, ": response larger than ", kMaxResponse, " bytes");
        return r;
      }
      continue;
    }
    if (n == 0) break;  // server closed: the response is complete
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      int w = wait_fd(fd, POLLIN, deadline);
      if (w == 1) return timeout("receive");
      if (w == 0) continue;
    }
    r.error = cat(where, ": recv: ", std::strerror(errno));
    return r;
  }

  size_t he = raw.find("\r\n\r\n");
  if (raw.compare(0, 5, "HTTP/") != 0 || he == std::string::npos) {
    r.error = cat(where, ": not an HTTP response (", raw.size(), " bytes)");
    return r;
  }
  size_t sp = raw.find(' ');
  r.status = std::atoi(raw.c_str() + sp + 1);
  std::string head = lower(raw.substr(0, he)), payload = raw.substr(he + 4);
  if (head.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
    if (!dechunk(payload, &r.body)) {
      r.error = cat(where, ": malformed chunked body");
      return r;
    }
  } else {
    size_t cl = head.find("\r\ncontent-length:");
    if (cl != std::string::npos) {
      size_t want = std::strtoul(head.c_str() + cl + 17, nullptr, 10);
      if (payload.size() < want) {
        r.error = cat(where, ": body truncated: ", payload.size(), " of ", want, " bytes");
        return r;
      }
      payload.resize(want);
    }
    r.body = std::move(payload);
  }
  return r;
}

}  // namespace beop::lawqa::http
