// libcurl multi driver for the law-QA endpoint generator (see lawqa_client.h). One thread: curl_multi_poll()
// waits for whichever transfer or retry timer is due first, so concurrency needs no locks.
#include "legal/lawqa_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <deque>
#include <memory>
#include <mutex>
#include <queue>
#include <vector>

#include "src/common.h"
#include "src/rng.h"

namespace beop::lawqa::client {

namespace {

using Clock = std::chrono::steady_clock;

std::string lower(std::string s) {
  for (auto& c : s) c = (char)std::tolower((unsigned char)c);
  return s;
}

std::string clip(const std::string& s, size_t n) {
  std::string t = s.size() <= n ? s : s.substr(0, n) + "...";
  for (auto& c : t)
    if (c == '\n' || c == '\r') c = ' ';
  return t;
}

// host part of scheme://host[:port]/...
std::string host_of(const std::string& url) {
  size_t a = url.find("://");
  a = a == std::string::npos ? 0 : a + 3;
  size_t b = url.find('/', a);
  std::string hp = url.substr(a, b == std::string::npos ? std::string::npos : b - a);
  if (!hp.empty() && hp[0] == '[') return hp.substr(1, hp.find(']') - 1);  // [::1]:8080
  return hp.substr(0, hp.rfind(':') == std::string::npos ? hp.size() : hp.rfind(':'));
}

// One transfer in flight: the easy handle and the buffers it points into (so it must not move).
struct Slot {
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  size_t id = 0;
  int attempt = 0;  // 1-based
  std::string body, response, retry_after;
  size_t max_body = 0;
  bool too_large = false;
  ~Slot() {
    if (easy) curl_easy_cleanup(easy);
    if (headers) curl_slist_free_all(headers);
  }
};

size_t on_write(char* p, size_t size, size_t n, void* user) {
  auto* s = static_cast<Slot*>(user);
  if (s->response.size() + size * n > s->max_body) {
    s->too_large = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  s->response.append(p, size * n);
  return size * n;
}

size_t on_header(char* p, size_t size, size_t n, void* user) {
  auto* s = static_cast<Slot*>(user);
  std::string line(p, size * n);
  if (line.rfind("HTTP/", 0) == 0) s->retry_after.clear();  // a new response (after 100 Continue, redirects)
  if (lower(line.substr(0, 12)) == "retry-after:") {
    std::string v = line.substr(12);
    while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) v.pop_back();
    while (!v.empty() && v[0] == ' ') v.erase(0, 1);
    s->retry_after = v;
  }
  return size * n;
}

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

std::string chat_completions_url(const std::string& url) {
  std::string scheme = lower(url.substr(0, url.find("://")));
  if (url.find("://") == std::string::npos || (scheme != "http" && scheme != "https"))
    fail("--url ", url, ": want http(s)://host[:port][/v1]");
  if (host_of(url).empty()) fail("--url ", url, ": no host");
  std::string path = url;
  while (!path.empty() && path.back() == '/') path.pop_back();
  const std::string cc = "/chat/completions";
  if (path.size() >= cc.size() && path.compare(path.size() - cc.size(), cc.size(), cc) == 0) return path;
  if (path.size() >= 3 && path.compare(path.size() - 3, 3, "/v1") == 0) return path + cc;
  return path + "/v1" + cc;
}

bool is_local_url(const std::string& url) {
  std::string h = lower(host_of(url));
  bool ipv4 = !h.empty() && h.find_first_not_of("0123456789.") == std::string::npos;
  return h == "localhost" || h == "::1" || (ipv4 && h.rfind("127.", 0) == 0);
}

double backoff_s(int retry, double base, double cap, double u) {
  double d = std::min(cap, base * std::ldexp(1.0, std::min(retry - 1, 30)));
  return d * (0.5 + 0.5 * u);  // "equal jitter": never less than half the step, so retries still spread out
}

double parse_retry_after(const std::string& value) {
  if (value.empty()) return -1;
  char* end = nullptr;
  double v = std::strtod(value.c_str(), &end);
  if (end && *end == 0 && v >= 0 && std::isfinite(v)) return v;
  time_t t = curl_getdate(value.c_str(), nullptr);  // HTTP-date
  if (t < 0) return -1;
  return std::max(0.0, std::difftime(t, std::time(nullptr)));
}

std::string run(const Options& opt, size_t n, const std::function<std::string(size_t)>& body,
                const std::function<void(Result&)>& on_done, const std::function<void()>& tick, Stats* stats) {
  global_init();
  Stats local;
  Stats& st = stats ? *stats : local;
  Rng rng(opt.seed ^ 0x6c61777161ull);
  CURLM* multi = curl_multi_init();
  if (!multi) return "libcurl: curl_multi_init failed";
  std::vector<std::unique_ptr<Slot>> active;
  struct Retry {
    double at;
    size_t id;
    int attempt;
    bool operator>(const Retry& o) const { return at > o.at; }
  };
  std::priority_queue<Retry, std::vector<Retry>, std::greater<Retry>> retries;
  const auto t0 = Clock::now();
  auto now = [&] { return std::chrono::duration<double>(Clock::now() - t0).count(); };
  size_t next_fresh = 0;
  std::string fatal;

  auto start = [&](size_t id, int attempt) {
    auto s = std::make_unique<Slot>();
    s->id = id;
    s->attempt = attempt;
    s->body = body(id);
    s->max_body = opt.max_body;
    s->easy = curl_easy_init();
    s->headers = curl_slist_append(s->headers, "Content-Type: application/json");
    s->headers = curl_slist_append(s->headers, "Accept: application/json");
    s->headers = curl_slist_append(s->headers, "Expect:");  // no 100-continue round trip
    if (!opt.api_key.empty()) s->headers = curl_slist_append(s->headers, ("Authorization: Bearer " + opt.api_key).c_str());
    CURL* e = s->easy;
    curl_easy_setopt(e, CURLOPT_URL, opt.url.c_str());
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, s->body.c_str());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->body.size());
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)std::max(1.0, opt.timeout_s * 1000));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)std::max(1.0, std::min(opt.timeout_s, 30.0) * 1000));
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, s.get());
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, s.get());
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);  // the defaults, stated: a bad certificate never passes
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!opt.ca_cert.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, opt.ca_cert.c_str());
    curl_multi_add_handle(multi, e);
    st.attempts++;
    active.push_back(std::move(s));
  };

  // One attempt ended: deliver, schedule a retry, or stop the run.
  auto finished = [&](Slot& s, CURLcode code) {
    long status = 0;
    curl_easy_getinfo(s.easy, CURLINFO_RESPONSE_CODE, &status);
    Result r;
    r.id = s.id;
    r.status = (int)status;
    r.attempts = s.attempt;
    bool retryable = false;
    const std::string where = opt.url;
    if (code == CURLE_OK) {
      if (status == 200) {
        r.ok = true;
      } else if (status == 401 || status == 403) {
        fatal = cat(where, ": HTTP ", status, ": the endpoint rejected the API key (", clip(s.response, 200), ")");
        return;
      } else if (status == 404) {
        fatal = cat(where, ": HTTP 404: no chat-completions endpoint here (", clip(s.response, 200), ")");
        return;
      } else {
        r.reason = "http_status";
        r.error = cat("HTTP ", status, ": ", clip(s.response, 300));
        retryable = status == 429 || status >= 500;
      }
    } else {
      r.error = cat(curl_easy_strerror(code), " (curl ", (int)code, ")");
      switch (code) {
        case CURLE_PEER_FAILED_VERIFICATION:
          fatal = cat(where, ": TLS certificate of ", host_of(where),
                      " is not trusted (", r.error, "); pass --ca-cert FILE to trust a private CA");
          return;
        case CURLE_SSL_CACERT_BADFILE:
          fatal = cat("--ca-cert ", opt.ca_cert, ": cannot read it as a PEM CA file (", r.error, ")");
          return;
        case CURLE_COULDNT_RESOLVE_HOST:
          fatal = cat(where, ": cannot resolve host ", host_of(where));
          return;
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT:
          fatal = cat(where, ": ", r.error);
          return;
        case CURLE_OPERATION_TIMEDOUT: r.reason = "timeout", retryable = true; break;
        case CURLE_COULDNT_CONNECT: r.reason = "connect_failed", retryable = true; break;
        case CURLE_PARTIAL_FILE: r.reason = "truncated", retryable = true; break;
        case CURLE_WRITE_ERROR:
          r.reason = s.too_large ? "response_too_large" : "transport";
          if (s.too_large) r.error = cat("response larger than ", opt.max_body, " bytes");
          break;
        case CURLE_GOT_NOTHING:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_SSL_CONNECT_ERROR:  // also a reset mid-handshake; a plain verification failure is code 60
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM: r.reason = "transport", retryable = true; break;
        default: r.reason = "transport"; break;
      }
    }
    if (!r.ok && retryable && s.attempt < opt.max_attempts) {
      double wait = backoff_s(s.attempt, opt.retry_base_s, opt.retry_max_s, rng.uniform());
      double ra = parse_retry_after(s.retry_after);
      if (ra >= 0) wait = std::max(wait, std::min(ra, opt.retry_max_s));
      retries.push(Retry{now() + wait, s.id, s.attempt + 1});
      st.retries++;
      return;
    }
    r.body = std::move(s.response);
    on_done(r);
  };

  while (fatal.empty()) {
    // Fill the free slots: due retries first (they are older), then fresh requests.
    while ((int)active.size() < opt.concurrency) {
      if (!retries.empty() && retries.top().at <= now()) {
        Retry r = retries.top();
        retries.pop();
        start(r.id, r.attempt);
      } else if (next_fresh < n) {
        start(next_fresh++, 1);
      } else {
        break;
      }
    }
    if (active.empty() && retries.empty()) break;
    int running = 0;
    curl_multi_perform(multi, &running);
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
      if (m->msg != CURLMSG_DONE) continue;
      CURL* e = m->easy_handle;
      CURLcode code = m->data.result;
      auto it = std::find_if(active.begin(), active.end(), [&](auto& s) { return s->easy == e; });
      if (it == active.end()) continue;
      curl_multi_remove_handle(multi, e);
      std::unique_ptr<Slot> s = std::move(*it);
      active.erase(it);
      finished(*s, code);
      if (tick) tick();
      if (!fatal.empty()) break;
    }
    if (!fatal.empty()) break;
    // Sleep until a transfer has news or the next retry is due (at most 200 ms, so tick() keeps drawing).
    int wait_ms = 200;
    if (!retries.empty()) wait_ms = std::clamp((int)std::ceil((retries.top().at - now()) * 1000), 0, wait_ms);
    if (active.empty() || (int)active.size() >= opt.concurrency || wait_ms > 0)
      curl_multi_poll(multi, nullptr, 0, wait_ms, nullptr);
    if (tick) tick();
  }
  for (auto& s : active) curl_multi_remove_handle(multi, s->easy);
  active.clear();
  curl_multi_cleanup(multi);
  return fatal;
}

}  // namespace beop::lawqa::client
