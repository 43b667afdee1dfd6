#include "server.h"

#include <signal.h>

#include <chrono>
#include <mutex>

#include <nlohmann/json.hpp>

#include "httplib_config.h"
#include "unicode.h"

namespace beop {

using json = nlohmann::json;

std::string system_prompt_text(const std::string& spec, const std::string& legal_text) {
  if (spec == "legal") return legal_text;
  if (spec == "none") return "";
  return spec;
}

namespace {

// An OpenAI-shaped client error: status, message, type, param, code.
struct ApiError {
  int status;
  std::string message, type, param, code;
};
[[noreturn]] void bad(const std::string& msg, const std::string& param = "", const std::string& code = "invalid_value",
                      int status = 400) {
  throw ApiError{status, msg, "invalid_request_error", param, code};
}

// "; charset=utf-8" is also what keeps cpp-httplib from Brotli/gzip-compressing responses (it compresses only
// exact "application/json"): a few hundred bytes gain nothing, and some clients' Brotli decoders are broken.
const char* const kJson = "application/json; charset=utf-8";

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json error_body(const ApiError& e) {
  json err = {{"message", e.message}, {"type", e.type}, {"param", nullptr}, {"code", nullptr}};
  if (!e.param.empty()) err["param"] = e.param;
  if (!e.code.empty()) err["code"] = e.code;
  return json{{"error", err}};
}

// A request turned into what the generator needs.
struct Job {
  std::vector<int32_t> prompt;
  GenerateOptions opt;
  bool stream = false, include_usage = false, chat = true;
};

double number_field(const json& body, const char* name, double lo, double hi) {
  const json& v = body[name];
  if (!v.is_number()) bad(cat("'", name, "' must be a number, got ", v.type_name()), name, "invalid_type");
  const double x = v.get<double>();
  if (!(x >= lo && x <= hi)) bad(cat("'", name, "' must be in [", lo, ", ", hi, "], got ", x), name);
  return x;
}
int64_t int_field(const json& body, const char* name) {
  const json& v = body[name];
  if (!v.is_number_integer()) bad(cat("'", name, "' must be an integer, got ", v.dump()), name, "invalid_type");
  return v.get<int64_t>();
}
bool has(const json& body, const char* name) { return body.contains(name) && !body[name].is_null(); }

// Sampling fields shared by both endpoints.
void parse_sampling(const json& body, const ServerOptions& so, GenerateOptions& o, Job& job) {
  o = so.defaults;
  o.sampling.seed = uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());  // no seed: fresh
  if (has(body, "temperature")) o.sampling.temperature = float(number_field(body, "temperature", 0, 2));
  if (has(body, "top_p")) {
    o.sampling.top_p = float(number_field(body, "top_p", 0, 1));
    if (o.sampling.top_p <= 0) bad("'top_p' must be in (0, 1], got 0", "top_p");
  }
  if (has(body, "top_k")) {
    const int64_t k = int_field(body, "top_k");
    if (k < 0) bad(cat("'top_k' must be >= 0, got ", k), "top_k");
    o.sampling.top_k = int(std::min<int64_t>(k, 1 << 30));
  }
  if (has(body, "repetition_penalty"))
    o.sampling.repetition_penalty = float(number_field(body, "repetition_penalty", 1e-3, 100));
  if (has(body, "seed")) o.sampling.seed = uint64_t(int_field(body, "seed"));
  for (const char* name : {"max_tokens", "max_completion_tokens"})
    if (has(body, name)) {
      const int64_t m = int_field(body, name);
      if (m <= 0) bad(cat("'", name, "' must be positive, got ", m), name);
      o.max_new_tokens = int(std::min<int64_t>(m, 1 << 30));
    }
  if (has(body, "stop")) {
    const json& s = body["stop"];
    o.stop.clear();
    if (s.is_string()) {
      o.stop.push_back(s.get<std::string>());
    } else if (s.is_array()) {
      if (s.size() > 4) bad(cat("'stop' may hold at most 4 strings, got ", s.size()), "stop");
      for (const json& x : s) {
        if (!x.is_string()) bad("'stop' must be a string or a list of strings", "stop", "invalid_type");
        o.stop.push_back(x.get<std::string>());
      }
    } else {
      bad(cat("'stop' must be a string or a list of strings, got ", s.type_name()), "stop", "invalid_type");
    }
  }
  if (has(body, "n") && !(body["n"].is_number_integer() && body["n"].get<int64_t>() == 1))
    bad("only 'n': 1 is supported", "n");
  if (has(body, "stream")) {
    if (!body["stream"].is_boolean()) bad("'stream' must be a boolean", "stream", "invalid_type");
    job.stream = body["stream"].get<bool>();
  }
  if (has(body, "stream_options")) {
    const json& so2 = body["stream_options"];
    if (!so2.is_object()) bad("'stream_options' must be an object", "stream_options", "invalid_type");
    if (so2.contains("include_usage")) {
      if (!so2["include_usage"].is_boolean())
        bad("'stream_options.include_usage' must be a boolean", "stream_options", "invalid_type");
      job.include_usage = so2["include_usage"].get<bool>();
    }
  }
}

std::string content_text(const json& c, size_t i) {
  const std::string param = cat("messages[", i, "].content");
  if (c.is_string()) return c.get<std::string>();
  if (c.is_array()) {  // [{"type":"text","text":...}, ...]
    std::string out;
    for (const json& part : c) {
      if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string())
        bad(param + ": only text content parts ({\"type\":\"text\",\"text\":...}) are supported", param, "invalid_type");
      out += part["text"].get<std::string>();
    }
    return out;
  }
  bad(cat(param, " must be a string or a list of text parts, got ", c.type_name()), param, "invalid_type");
}

}  // namespace

struct ChatServer::Impl {
  Generator& gen;
  ServerOptions so;
  httplib::Server http;
  std::mutex model_mu;          // one generation at a time
  std::atomic<int> admitted{0}; // running + waiting
  std::atomic<int64_t> next_id{1};
  mutable std::mutex stats_mu;
  ServerStats st;

  Impl(Generator& g, ServerOptions o) : gen(g), so(std::move(o)) {}

  void count(int64_t ServerStats::*field) {
    std::lock_guard<std::mutex> l(stats_mu);
    st.*field += 1;
  }

  void send_error(httplib::Response& res, const ApiError& e) {
    res.status = e.status;
    res.set_content(dump(error_body(e)), kJson);
  }

  json parse_body(const httplib::Request& req) {
    if (req.body.size() > so.max_body_bytes)
      bad(cat("request body of ", req.body.size(), " bytes exceeds the limit of ", so.max_body_bytes), "",
          "request_too_large", 413);
    const size_t off = utf8_invalid_offset(req.body);
    if (off != std::string::npos) bad(cat("request body is not valid UTF-8 (byte offset ", off, ")"), "", "invalid_utf8");
    json body;
    try {
      body = json::parse(req.body);
    } catch (const json::exception& e) {
      bad(cat("malformed JSON in request body: ", e.what()), "", "invalid_json");
    }
    if (!body.is_object()) bad("request body must be a JSON object", "", "invalid_json");
    return body;
  }

  // Conversation (+ system prompt, reference) -> tokens, checking the context.
  Job chat_job(const json& body) {
    Job job;
    parse_sampling(body, so, job.opt, job);
    if (!body.contains("messages")) bad("'messages' is required", "messages", "missing_field");
    const json& msgs = body["messages"];
    if (!msgs.is_array()) bad(cat("'messages' must be an array, got ", msgs.type_name()), "messages", "invalid_type");
    if (msgs.empty()) bad("'messages' must not be empty", "messages");
    Conversation conv;
    bool has_system = false;
    for (size_t i = 0; i < msgs.size(); i++) {
      const json& m = msgs[i];
      const std::string param = cat("messages[", i, "]");
      if (!m.is_object()) bad(param + " must be an object", param, "invalid_type");
      if (!m.contains("role") || !m["role"].is_string()) bad(param + ".role must be a string", param + ".role", "invalid_type");
      const std::string role = m["role"].get<std::string>();
      if (role != "system" && role != "user" && role != "assistant")
        bad(cat(param, ".role '", role, "' is not one of system, user, assistant"), param + ".role");
      if (!m.contains("content")) bad(param + ".content is required", param + ".content", "missing_field");
      conv.push_back({role, content_text(m["content"], i)});
      has_system |= role == "system";
    }
    std::string sys_spec = so.default_system;
    if (has(body, "system_prompt")) {
      if (!body["system_prompt"].is_string()) bad("'system_prompt' must be a string", "system_prompt", "invalid_type");
      sys_spec = body["system_prompt"].get<std::string>();
    }
    std::string reference = so.default_reference;
    if (has(body, "reference")) {
      if (!body["reference"].is_string()) bad("'reference' must be a string", "reference", "invalid_type");
      reference = body["reference"].get<std::string>();
      if (reference != "auto" && reference != "none") bad("'reference' must be \"auto\" or \"none\"", "reference");
    }
    std::string sys = has_system ? "" : system_prompt_text(sys_spec, so.legal_system_prompt);
    if (reference == "auto") {
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
    const int ctx = gen.context();
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

  Job completion_job(const json& body) {
    Job job;
    job.chat = false;
    parse_sampling(body, so, job.opt, job);
    if (!body.contains("prompt")) bad("'prompt' is required", "prompt", "missing_field");
    const json& p = body["prompt"];
    std::string text;
    if (p.is_string()) text = p.get<std::string>();
    else if (p.is_array() && p.size() == 1 && p[0].is_string()) text = p[0].get<std::string>();
    else bad("'prompt' must be a string (or a list of one string)", "prompt", "invalid_type");
    if (text.empty()) bad("'prompt' must not be empty", "prompt");
    job.prompt = gen.tokenizer().encode(text);
    const int ctx = gen.context();
    if (int(job.prompt.size()) >= ctx)
      bad(cat("the prompt is ", job.prompt.size(), " tokens but the model's context is ", ctx, " tokens (at most ",
              ctx - 1, " prompt tokens)"), "prompt", "context_length_exceeded");
    return job;
  }

  // Admission: one running + queue_limit waiting.
  bool admit() {
    if (admitted.fetch_add(1) >= 1 + so.queue_limit) {
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
      const json body = parse_body(req);
      job = chat ? chat_job(body) : completion_job(body);
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
        std::lock_guard<std::mutex> l(model_mu);
        r = gen.generate(job.prompt, job.opt);
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
            std::lock_guard<std::mutex> l(model_mu);
            if (chat) ok = send(dump(chunk(id, created, true, {{"role", "assistant"}, {"content", ""}}, nullptr)));
            if (ok)
              r = gen.generate(job.prompt, job.opt, [&](const std::string& piece) {
                return ok = send(dump(chunk(id, created, chat, chat ? json{{"content", piece}} : json(piece), nullptr)));
              });
          } catch (const std::exception& e) {
            if (ok) send(dump(error_body({500, cat("generation failed: ", e.what()), "server_error", "", ""})));
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
    http.set_error_handler([](const httplib::Request& q, httplib::Response& r) {
      if (!r.body.empty()) return;  // already an API error
      std::string msg = cat("HTTP ", r.status), code;
      if (r.status == 404) msg = cat("no route ", q.method, " ", q.path), code = "not_found";
      if (r.status == 405) msg = cat("method ", q.method, " not allowed on ", q.path), code = "method_not_allowed";
      if (r.status == 413) msg = "request body too large", code = "request_too_large";
      if (r.status == 400) msg = "malformed HTTP request", code = "bad_request";
      ApiError e{r.status, msg, r.status >= 500 ? "server_error" : "invalid_request_error", "", code};
      r.set_content(dump(error_body(e)), kJson);
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
      r.set_content(dump(error_body({500, msg, "server_error", "", ""})), kJson);
    });
    const int threads = so.http_threads > 0 ? so.http_threads : so.queue_limit + 8;
    http.new_task_queue = [threads] { return new httplib::ThreadPool(size_t(threads)); };
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
  return got;
}
void ChatServer::run() { impl_->http.listen_after_bind(); }
void ChatServer::stop() {
  if (impl_->http.is_running()) impl_->http.stop();
}
ServerStats ChatServer::stats() const {
  std::lock_guard<std::mutex> l(impl_->stats_mu);
  return impl_->st;
}

}  // namespace beop
