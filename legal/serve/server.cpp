#include "legal/serve/server.h"

#include <signal.h>
#include <strings.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <mutex>

#include <nlohmann/json.hpp>

#include "legal/serve/chat_request.h"
#include "legal/serve/http_listener.h"
#include "src/batch_generator.h"

namespace beop {

using json = nlohmann::json;

std::string system_prompt_text(const std::string& spec, const std::string& legal_text) {
  if (spec == "legal") return legal_text;
  if (spec == "none") return "";
  return spec;
}

namespace {

[[noreturn]] void bad(const std::string& msg, const std::string& param = "", const std::string& code = "invalid_value",
                      int status = 400) {
  throw_api_error(msg, param, code, status);
}

// "; charset=utf-8" is also what keeps cpp-httplib from Brotli/gzip-compressing responses (it compresses only
// exact "application/json"): a few hundred bytes gain nothing, and some clients' Brotli decoders are broken.
const char* const kJson = "application/json; charset=utf-8";

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// A request turned into what the generator needs.
struct Job {
  std::vector<int32_t> prompt;
  GenerateOptions opt;
  bool stream = false, include_usage = false, chat = true;
};

ConnLimits conn_limits(const ServerOptions& o) {
  ConnLimits l;
  l.workers = o.http_threads > 0 ? o.http_threads : o.max_batch + o.queue_limit + 8;
  l.max_connections = o.max_connections;
  l.idle_timeout_s = o.idle_timeout_s;
  l.header_timeout_s = o.header_timeout_s;
  l.body_timeout_s = o.body_timeout_s;
  l.io_timeout_s = o.io_timeout_s;
  l.max_body_bytes = o.max_body_bytes;
  return l;
}

}  // namespace

struct ChatServer::Impl {
  Generator& gen;
  ServerOptions so;
  GuardedServer http;
  BatchGenerator batch;         // owns the model: up to max_batch generations decode together
  std::atomic<int> admitted{0}; // running + waiting
  std::atomic<int64_t> next_id{1};
  mutable std::mutex stats_mu;
  ServerStats st;

  Impl(Generator& g, ServerOptions o)
      : gen(g), so(std::move(o)), http(conn_limits(so)), batch(g.lm(), g.tokenizer(), so.max_batch) {}

  void count(int64_t ServerStats::*field) {
    std::lock_guard<std::mutex> l(stats_mu);
    st.*field += 1;
  }

  void send_error(httplib::Response& res, const ApiError& e) {
    res.status = e.status;
    res.set_content(api_error_json(e), kJson);
  }

  // Checked request -> prompt tokens (+ system prompt, reference), checking the context.
  Job make_job(const ChatRequest& r) {
    Job job;
    job.chat = r.chat, job.opt = r.opt, job.stream = r.stream, job.include_usage = r.include_usage;
    if (!r.seed_set) job.opt.sampling.seed = uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
    const int ctx = gen.context();
    if (!r.chat) {
      job.prompt = gen.tokenizer().encode(r.prompt);
      if (int(job.prompt.size()) >= ctx)
        bad(cat("the prompt is ", job.prompt.size(), " tokens but the model's context is ", ctx, " tokens (at most ",
                ctx - 1, " prompt tokens)"), "prompt", "context_length_exceeded");
      return job;
    }
    Conversation conv = r.messages;
    bool has_system = false;
    for (const ChatMessage& m : conv) has_system |= m.role == "system";
    const std::string sys_spec = r.system_prompt.value_or(so.default_system);
    if (!has_system && sys_spec == "legal" && so.legal_system_prompt.empty())
      bad("'system_prompt': \"legal\" is not available: this server was started without the legal system prompt "
          "(prompts/legal_advisor.txt)", "system_prompt");
    const std::string sys = has_system ? "" : system_prompt_text(sys_spec, so.legal_system_prompt);
    if (r.reference.value_or(so.default_reference) == "auto") {
      if (!so.reference) bad("'reference': \"auto\" needs a statute index; this server was started without one", "reference");
      for (auto it = conv.rbegin(); it != conv.rend(); ++it)
        if (it->role == "user") {  // references go into the user turn, as in the training data
          it->content = so.reference(it->content);
          break;
        }
    }
    if (!sys.empty()) conv.insert(conv.begin(), {"system", sys});
    try {
      validate_conversation(conv, "messages", /*require_assistant=*/false);
    } catch (const Error& e) {
      bad(e.what(), "messages");
    }
    job.prompt = gen.chat_prompt(conv);
    while (int(job.prompt.size()) >= ctx && so.truncate) {
      // drop the oldest non-system turn; keep at least the last message
      size_t first = conv[0].role == "system" ? 1 : 0;
      if (conv.size() - first <= 1) break;
      conv.erase(conv.begin() + long(first));
      job.prompt = gen.chat_prompt(conv);
    }
    if (int(job.prompt.size()) >= ctx)
      bad(cat("the prompt is ", job.prompt.size(), " tokens but the model's context is ", ctx,
              " tokens (at most ", ctx - 1, " prompt tokens)", so.truncate ? ", even after dropping older turns" : ""),
          "messages", "context_length_exceeded");
    return job;
  }

  // Admission: batch.slots() decoding + queue_limit waiting.
  bool admit() {
    if (admitted.fetch_add(1) >= batch.slots() + so.queue_limit) {
      admitted.fetch_sub(1);
      count(&ServerStats::rejected);
      return false;
    }
    return true;
  }

  json usage(const GenerateResult& r) {
    return {{"prompt_tokens", r.prompt_tokens}, {"completion_tokens", r.completion_tokens},
            {"total_tokens", r.prompt_tokens + r.completion_tokens}};
  }
  static std::string finish(const GenerateResult& r) { return r.finish_reason == "length" ? "length" : "stop"; }

  json chunk(const std::string& id, int64_t created, bool chat, const json& delta_or_text, const json& finish_reason) {
    json choice = {{"index", 0}, {"finish_reason", finish_reason}};
    if (chat) choice["delta"] = delta_or_text;
    else choice["text"] = delta_or_text, choice["logprobs"] = nullptr;
    return {{"id", id}, {"object", chat ? "chat.completion.chunk" : "text_completion"}, {"created", created},
            {"model", so.model_name}, {"choices", json::array({choice})}};
  }

  void handle(const httplib::Request& req, httplib::Response& res, bool chat) {
    Job job;
    try {
      job = make_job(parse_request(req.body, chat, so.defaults, so.max_body_bytes));
    } catch (const ApiError& e) {
      count(&ServerStats::bad_requests);
      return send_error(res, e);
    } catch (const Error& e) {  // e.g. the tokenizer refusing input
      count(&ServerStats::bad_requests);
      return send_error(res, {400, e.what(), "invalid_request_error", "", "invalid_value"});
    }
    if (!admit())
      return send_error(res, {503, cat("server busy: ", so.queue_limit, " requests already waiting; retry later"),
                              "server_error", "", "queue_full"});
    const std::string id = cat(chat ? "chatcmpl-" : "cmpl-", next_id.fetch_add(1));
    const int64_t created = std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch()).count();
    if (!job.stream) {
      GenerateResult r;
      try {
        r = batch.generate(job.prompt, job.opt);
      } catch (const std::exception& e) {
        admitted.fetch_sub(1);
        return send_error(res, {500, cat("generation failed: ", e.what()), "server_error", "", ""});
      }
      admitted.fetch_sub(1);
      count(&ServerStats::completed);
      json choice = {{"index", 0}, {"finish_reason", finish(r)}};
      if (chat) choice["message"] = {{"role", "assistant"}, {"content", r.text}};
      else choice["text"] = r.text, choice["logprobs"] = nullptr;
      const json out = {{"id", id}, {"object", chat ? "chat.completion" : "text_completion"}, {"created", created},
                        {"model", so.model_name}, {"choices", json::array({choice})}, {"usage", usage(r)}};
      return res.set_content(dump(out), kJson);
    }
    // streaming: generation runs inside the content provider, after the headers are sent
    auto released = std::make_shared<std::atomic<bool>>(false);
    auto release = [this, released] {
      if (!released->exchange(true)) admitted.fetch_sub(1);
    };
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, job, id, created, chat, release](size_t, httplib::DataSink& sink) {
          auto send = [&](const std::string& data) {
            const std::string ev = "data: " + data + "\n\n";
            return sink.write(ev.data(), ev.size());
          };
          bool ok = true;
          GenerateResult r;
          try {
            if (chat) ok = send(dump(chunk(id, created, true, {{"role", "assistant"}, {"content", ""}}, nullptr)));
            if (ok)
              r = batch.generate(job.prompt, job.opt, [&](const std::string& piece) {
                return ok = send(dump(chunk(id, created, chat, chat ? json{{"content", piece}} : json(piece), nullptr)));
              });
          } catch (const std::exception& e) {
            if (ok) send(api_error_json({500, cat("generation failed: ", e.what()), "server_error", "", ""}));
            release();
            sink.done();
            return true;
          }
          release();
          if (!ok || r.finish_reason == "cancelled") {
            count(&ServerStats::cancelled);
            return false;  // the client is gone: close the connection
          }
          count(&ServerStats::completed);
          ok = send(dump(chunk(id, created, chat, chat ? json::object() : json(""), finish(r))));
          if (ok && job.include_usage) {
            json u = chunk(id, created, chat, json::object(), nullptr);
            u["choices"] = json::array();
            u["usage"] = usage(r);
            ok = send(dump(u));
          }
          if (ok) send("[DONE]");
          sink.done();
          return true;
        },
        [release](bool) { release(); });  // also when the provider never ran (connection dropped early)
  }

  void routes() {
    http.Post("/v1/chat/completions", [this](const httplib::Request& q, httplib::Response& r) { handle(q, r, true); });
    http.Post("/v1/completions", [this](const httplib::Request& q, httplib::Response& r) { handle(q, r, false); });
    http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& r) {
      const json m = {{"id", so.model_name}, {"object", "model"}, {"created", 0}, {"owned_by", "beop"}};
      r.set_content(dump({{"object", "list"}, {"data", json::array({m})}}), kJson);
    });
    http.Get("/health", [this](const httplib::Request&, httplib::Response& r) {
      r.set_content(dump({{"status", "ok"}, {"model", so.model_name}, {"busy", admitted.load()}}), kJson);
    });
    http.set_payload_max_length(so.max_body_bytes);
    // Checked on the headers, before httplib reads the body:
    //  * Content-Encoding: refused (415). Debian's cpp-httplib 0.11.4 inflates gzip/deflate/br request bodies
    //    into memory while reading them and compares payload_max_length only with the *compressed*
    //    Content-Length, so a 1 MB gzip body becomes 1 GiB before any handler could look at its size. Limiting
    //    while inflating would need a content-reader handler per route to reimplement the body read; no OpenAI
    //    client compresses requests, so refusing them is the simple, safe choice. 415 is also what httplib
    //    itself answers for an encoding it was built without.
    //  * Content-Length over the limit: 413 at once (httplib would first read and discard the whole body).
    //  * Transfer-Encoding other than chunked: httplib would read such a body as if it had no framing.
    // The body is left unread, so the connection is closed after the answer (gracefully: GuardedServer drains).
    http.set_pre_routing_handler([this](const httplib::Request& q, httplib::Response& r) {
      auto refuse = [&](ApiError e) {
        GuardedServer::close_after_response();
        count(&ServerStats::bad_requests);
        send_error(r, e);
        return httplib::Server::HandlerResponse::Handled;
      };
      const std::string enc = q.get_header_value("Content-Encoding");
      if (!enc.empty() && strcasecmp(enc.c_str(), "identity") != 0)
        return refuse({415, cat("Content-Encoding '", enc.substr(0, 32), "' is not supported; send the body uncompressed"),
                       "invalid_request_error", "", "unsupported_encoding"});
      const std::string te = q.get_header_value("Transfer-Encoding");
      if (!te.empty() && strcasecmp(te.c_str(), "chunked") != 0)
        return refuse({501, cat("Transfer-Encoding '", te.substr(0, 32), "' is not supported (only chunked)"),
                       "invalid_request_error", "", "unsupported_encoding"});
      if (q.has_header("Content-Length")) {
        const std::string cl = q.get_header_value("Content-Length");
        char* end = nullptr;
        errno = 0;
        const unsigned long long n = std::strtoull(cl.c_str(), &end, 10);
        if (cl.empty() || *end != '\0' || cl[0] == '-' || errno == ERANGE)
          return refuse({400, cat("malformed Content-Length '", cl.substr(0, 32), "'"), "invalid_request_error", "",
                         "bad_request"});
        if (n > so.max_body_bytes)
          return refuse({413, cat("request body of ", n, " bytes exceeds the limit of ", so.max_body_bytes),
                         "invalid_request_error", "", "request_too_large"});
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    http.set_error_handler([](const httplib::Request& q, httplib::Response& r) {
      if (!r.body.empty()) return;  // already an API error
      std::string msg = cat("HTTP ", r.status), code;
      if (r.status == 404) msg = cat("no route ", q.method, " ", q.path), code = "not_found";
      if (r.status == 405) msg = cat("method ", q.method, " not allowed on ", q.path), code = "method_not_allowed";
      if (r.status == 413) msg = "request body too large", code = "request_too_large";
      if (r.status == 400) msg = "malformed or incomplete HTTP request", code = "bad_request";
      if (r.status == 400 && GuardedServer::body_limit_hit())  // a chunked/unframed body over the limit
        r.status = 413, msg = "request body too large", code = "request_too_large";
      // httplib could not parse or read the request: whatever follows on the connection is not a request
      // boundary one can trust, so answer and close (instead of parsing the rest as the next request).
      if (r.status != 404 && r.status != 405) GuardedServer::close_after_response();
      r.set_content(api_error_json({r.status, msg, r.status >= 500 ? "server_error" : "invalid_request_error", "", code}),
                    kJson);
    });
    http.set_exception_handler([](const httplib::Request&, httplib::Response& r, std::exception_ptr ep) {
      std::string msg = "internal error";
      try {
        if (ep) std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        msg = e.what();
      } catch (...) {
      }
      r.status = 500;
      r.set_content(api_error_json({500, msg, "server_error", "", ""}), kJson);
    });
  }
};

ChatServer::ChatServer(Generator& gen, ServerOptions o) : impl_(std::make_unique<Impl>(gen, std::move(o))) {
  BEOP_CHECK(impl_->so.queue_limit >= 0, "queue limit must be >= 0, got ", impl_->so.queue_limit);
  validate_sampling(impl_->so.defaults.sampling);
  signal(SIGPIPE, SIG_IGN);  // a client that went away must not kill the server
  impl_->routes();
}
ChatServer::~ChatServer() { stop(); }

int ChatServer::bind(const std::string& host, int port) {
  int got = port;
  if (port == 0) {
    got = impl_->http.bind_to_any_port(host);
    BEOP_CHECK(got > 0, "cannot bind ", host, " on any port");
  } else {
    BEOP_CHECK(impl_->http.bind_to_port(host, port), "cannot bind ", host, ":", port, " (in use, or no permission?)");
  }
  impl_->http.widen_backlog(got);
  return got;
}
void ChatServer::run() { impl_->http.listen_after_bind(); }
void ChatServer::stop() {
  if (impl_->http.is_running()) impl_->http.stop();
}
ServerStats ChatServer::stats() const {
  ServerStats s;
  {
    std::lock_guard<std::mutex> l(impl_->stats_mu);
    s = impl_->st;
  }
  const ConnStats c = impl_->http.conn_stats();
  s.connections_open = c.open, s.connections_evicted = c.evicted, s.connections_refused = c.refused;
  s.header_timeouts = c.header_timeouts;
  return s;
}

}  // namespace beop
