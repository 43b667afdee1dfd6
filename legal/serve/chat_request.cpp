#include "legal/serve/chat_request.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include <nlohmann/json.hpp>

#include "src/unicode.h"

namespace beop {

using json = nlohmann::json;

void throw_api_error(const std::string& msg, const std::string& param, const std::string& code, int status) {
  ApiError e;
  e.status = status, e.message = msg, e.param = param, e.code = code;
  e.type = status >= 500 ? "server_error" : "invalid_request_error";
  throw e;
}

std::string api_error_json(const ApiError& e) {
  json err = {{"message", e.message}, {"type", e.type}, {"param", nullptr}, {"code", nullptr}};
  if (!e.param.empty()) err["param"] = e.param;
  if (!e.code.empty()) err["code"] = e.code;
  // replace: a message quoting a client string cut at a byte boundary must still serialize
  return json{{"error", err}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

namespace {

[[noreturn]] void bad(const std::string& msg, const std::string& param = "", const std::string& code = "invalid_value",
                      int status = 400) {
  throw_api_error(msg, param, code, status);
}

// At most n bytes of a client string for an error message, cut at a UTF-8 character boundary.
std::string clip(const std::string& s, size_t n = 64) {
  if (s.size() <= n) return s;
  size_t cut = n;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) cut--;
  return s.substr(0, cut) + "...";
}

// A value for an error message. Never dump() an arbitrary client value: it can be a megabyte of nested arrays.
std::string describe(const json& v) {
  if (v.is_number()) return v.dump();  // exact, including integers >= 2^63 (stored unsigned)
  if (v.is_string()) return "the string \"" + clip(v.get_ref<const std::string&>()) + "\"";
  return v.type_name();
}

// Nesting depth of the JSON text, counting brackets outside strings. Run before parsing so no later recursion
// (parse, destruction, messages) sees an absurd depth; valid requests are about 5 deep.
void check_depth(const std::string& s) {
  int depth = 0;
  bool in_str = false, esc = false;
  for (size_t i = 0; i < s.size(); i++) {
    const char c = s[i];
    if (in_str) {
      if (esc) esc = false;
      else if (c == '\\') esc = true;
      else if (c == '"') in_str = false;
      continue;
    }
    if (c == '"') in_str = true;
    else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth)
        bad(cat("request body nests arrays/objects deeper than ", kMaxJsonDepth, " levels (byte offset ", i, ")"), "",
            "invalid_json");
    } else if (c == ']' || c == '}') {
      depth--;
    }
  }
}

// The field `name` of an object, or nullptr when absent or null. (Never const operator[] on a missing key:
// that is undefined behaviour in nlohmann::json.)
const json* field(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

double number_field(const json& v, const char* name, double lo, double hi) {
  if (!v.is_number()) bad(cat("'", name, "' must be a number, got ", describe(v)), name, "invalid_type");
  const double x = v.get<double>();
  if (!(x >= lo && x <= hi)) bad(cat("'", name, "' must be in [", lo, ", ", hi, "], got ", describe(v)), name);
  return x;
}

// An integer in [lo, hi]. JSON integers >= 2^63 are stored unsigned; reading them as int64 would wrap them to
// negative numbers (18446744073709551615 -> -1), so the range check is done on the stored kind.
int64_t int_field(const json& v, const char* name, int64_t lo, int64_t hi) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (hi >= 0 && u <= uint64_t(hi) && int64_t(u) >= lo) return int64_t(u);
  } else if (v.is_number_integer()) {
    const int64_t x = v.get<int64_t>();
    if (x >= lo && x <= hi) return x;
  } else {
    bad(cat("'", name, "' must be an integer, got ", describe(v)), name, "invalid_type");
  }
  if (lo == 1) bad(cat("'", name, "' must be a positive integer (at most ", hi, "), got ", describe(v)), name);
  bad(cat("'", name, "' must be an integer in [", lo, ", ", hi, "], got ", describe(v)), name);
}

// Any JSON integer that fits 64 bits, as the sampler's uint64 seed (negative ones wrap, as OpenAI's int64 seeds).
uint64_t seed_field(const json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer()) return uint64_t(v.get<int64_t>());
  bad(cat("'seed' must be an integer, got ", describe(v)), "seed", "invalid_type");
}

bool bool_field(const json& v, const std::string& name) {
  if (!v.is_boolean()) bad(cat("'", name, "' must be a boolean, got ", describe(v)), name, "invalid_type");
  return v.get<bool>();
}

const std::string& string_field(const json& v, const std::string& name) {
  if (!v.is_string()) bad(cat("'", name, "' must be a string, got ", describe(v)), name, "invalid_type");
  return v.get_ref<const std::string&>();
}

constexpr int64_t kIntMax = std::numeric_limits<int32_t>::max();

// Sampling fields shared by both endpoints.
void parse_sampling(const json& body, ChatRequest& r) {
  GenerateOptions& o = r.opt;
  if (const json* v = field(body, "temperature")) o.sampling.temperature = float(number_field(*v, "temperature", 0, 2));
  if (const json* v = field(body, "top_p")) {
    o.sampling.top_p = float(number_field(*v, "top_p", 0, 1));
    if (o.sampling.top_p <= 0) bad("'top_p' must be in (0, 1], got 0", "top_p");
  }
  if (const json* v = field(body, "top_k")) o.sampling.top_k = int(int_field(*v, "top_k", 0, kIntMax));
  if (const json* v = field(body, "repetition_penalty"))
    o.sampling.repetition_penalty = float(number_field(*v, "repetition_penalty", 1e-3, 100));
  if (const json* v = field(body, "seed")) o.sampling.seed = seed_field(*v), r.seed_set = true;
  for (const char* name : {"max_tokens", "max_completion_tokens"})
    if (const json* v = field(body, name)) o.max_new_tokens = int(std::min<int64_t>(int_field(*v, name, 1, kIntMax), 1 << 30));
  if (const json* s = field(body, "stop")) {
    o.stop.clear();
    if (s->is_string()) {
      o.stop.push_back(s->get<std::string>());
    } else if (s->is_array()) {
      if (s->size() > 4) bad(cat("'stop' may hold at most 4 strings, got ", s->size()), "stop");
      for (const json& x : *s) {
        if (!x.is_string()) bad(cat("'stop' must be a string or a list of strings, got an element ", describe(x)), "stop", "invalid_type");
        o.stop.push_back(x.get<std::string>());
      }
    } else {
      bad(cat("'stop' must be a string or a list of strings, got ", describe(*s)), "stop", "invalid_type");
    }
  }
  if (const json* v = field(body, "n"))
    if (int_field(*v, "n", 1, kIntMax) != 1) bad(cat("only 'n': 1 is supported, got ", describe(*v)), "n");
  if (const json* v = field(body, "stream")) r.stream = bool_field(*v, "stream");
  if (const json* so = field(body, "stream_options")) {
    if (!so->is_object()) bad(cat("'stream_options' must be an object, got ", describe(*so)), "stream_options", "invalid_type");
    if (const json* u = field(*so, "include_usage")) r.include_usage = bool_field(*u, "stream_options.include_usage");
  }
  if (const json* v = field(body, "model")) string_field(*v, "model");  // any name is served, but it is a string
}

std::string content_text(const json& c, const std::string& param) {
  if (c.is_string()) return c.get<std::string>();
  if (!c.is_array()) bad(cat(param, " must be a string or a list of text parts, got ", describe(c)), param, "invalid_type");
  std::string out;  // [{"type":"text","text":...}, ...]
  for (size_t k = 0; k < c.size(); k++) {
    const json& part = c[k];
    const std::string pp = cat(param, "[", k, "]");
    if (!part.is_object()) bad(cat(pp, " must be an object {\"type\":\"text\",\"text\":...}, got ", describe(part)), pp, "invalid_type");
    const json* type = field(part, "type");
    if (!type) bad(pp + ".type is required", pp + ".type", "missing_field");
    if (!type->is_string()) bad(cat(pp, ".type must be a string, got ", describe(*type)), pp + ".type", "invalid_type");
    if (type->get_ref<const std::string&>() != "text")
      bad(cat(pp, ".type ", describe(*type), ": only text content parts are supported"), pp + ".type", "invalid_value");
    const json* text = field(part, "text");
    if (!text) bad(pp + ".text is required", pp + ".text", "missing_field");
    out += string_field(*text, pp + ".text");
  }
  return out;
}

void parse_messages(const json& body, ChatRequest& r) {
  const json* msgs = field(body, "messages");
  if (!msgs) bad("'messages' is required", "messages", "missing_field");
  if (!msgs->is_array()) bad(cat("'messages' must be an array, got ", describe(*msgs)), "messages", "invalid_type");
  if (msgs->empty()) bad("'messages' must not be empty", "messages");
  for (size_t i = 0; i < msgs->size(); i++) {
    const json& m = (*msgs)[i];
    const std::string param = cat("messages[", i, "]");
    if (!m.is_object()) bad(cat(param, " must be an object, got ", describe(m)), param, "invalid_type");
    const json* role = field(m, "role");
    if (!role) bad(param + ".role is required", param + ".role", "missing_field");
    const std::string& rs = string_field(*role, param + ".role");
    if (rs != "system" && rs != "user" && rs != "assistant")
      bad(cat(param, ".role '", clip(rs), "' is not one of system, user, assistant"), param + ".role");
    const json* content = field(m, "content");
    if (!content) bad(param + ".content is required", param + ".content", "missing_field");
    r.messages.push_back({rs, content_text(*content, param + ".content")});
  }
  if (const json* v = field(body, "system_prompt")) r.system_prompt = string_field(*v, "system_prompt");
  if (const json* v = field(body, "reference")) {
    r.reference = string_field(*v, "reference");
    if (*r.reference != "auto" && *r.reference != "none")
      bad(cat("'reference' must be \"auto\" or \"none\", got ", describe(*v)), "reference");
  }
}

void parse_prompt(const json& body, ChatRequest& r) {
  const json* p = field(body, "prompt");
  if (!p) bad("'prompt' is required", "prompt", "missing_field");
  if (p->is_string()) r.prompt = p->get<std::string>();
  else if (p->is_array() && p->size() == 1 && (*p)[0].is_string()) r.prompt = (*p)[0].get<std::string>();
  else bad(cat("'prompt' must be a string (or a list of one string), got ", describe(*p)), "prompt", "invalid_type");
  if (r.prompt.empty()) bad("'prompt' must not be empty", "prompt");
}

}  // namespace

ChatRequest parse_request(const std::string& text, bool chat, const GenerateOptions& defaults, size_t max_body_bytes) {
  if (text.size() > max_body_bytes)
    bad(cat("request body of ", text.size(), " bytes exceeds the limit of ", max_body_bytes), "", "request_too_large", 413);
  const size_t off = utf8_invalid_offset(text);
  if (off != std::string::npos) bad(cat("request body is not valid UTF-8 (byte offset ", off, ")"), "", "invalid_utf8");
  check_depth(text);
  json body;
  try {
    body = json::parse(text);
  } catch (const json::exception& e) {
    bad(cat("malformed JSON in request body: ", e.what()), "", "invalid_json");
  }
  if (!body.is_object()) bad(cat("request body must be a JSON object, got ", describe(body)), "", "invalid_json");
  ChatRequest r;
  r.chat = chat;
  r.opt = defaults;
  try {
    parse_sampling(body, r);
    if (chat) parse_messages(body, r);
    else parse_prompt(body, r);
  } catch (const json::exception& e) {
    // Every access above checks the type first; this is the backstop that keeps a missed case a 400, not a 500.
    bad(cat("invalid request: ", e.what()), "", "invalid_value");
  }
  return r;
}

}  // namespace beop
