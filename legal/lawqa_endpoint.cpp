// Law QA from an OpenAI-compatible chat endpoint: one request per statute unit, the model writes
// {"question","answer","reference"} as JSON, and every item is verified (verify_item) before it is kept.
// Plain http only (HTTP/1.1 over a POSIX socket, "Connection: close"): Debian's cpp-httplib is a compiled
// library (-lcpp-httplib) that the Makefile does not link, and there is no OpenSSL either, so an https URL is
// a clear error rather than a silent hang.
#include "legal/lawqa_http.h"

#include <nlohmann/json.hpp>

#include "legal/lawqa.h"
#include "src/common.h"

namespace beop::lawqa {

using json = nlohmann::ordered_json;

std::string endpoint_prompt(const Unit& u) {
  return "다음은 대한민국 법령의 조문입니다.\n\n"
         "[조문] " + u.citation + "\n" + u.text + "\n\n"
         "이 조문이 적용되는 상황에 놓인 일반인이 물어볼 만한 법률 질문 1개와 그 답변을 이 조문만을 근거로 한국어로 작성하세요.\n"
         "- 질문에는 조문 번호를 쓰지 말고, 그 사람의 상황(누가, 어떤 경우에 무엇을 했거나 당했는지)을 평이한 말로 "
         "설명한 뒤 법적으로 어떻게 되는지 물으세요.\n"
         "- 답변은 그 상황이 조문의 요건에 해당하는지 확인하고, 결론(권리, 의무, 효과)을 밝힌 뒤 근거 조문을 인용하세요. "
         "조문에 없는 내용을 덧붙이지 마세요.\n"
         "- 숫자, 기간, 금액, 당사자, 부정 표현(아니한다, 할 수 없다 등)은 조문과 정확히 같게 쓰세요.\n"
         "- 조문을 인용할 때는 큰따옴표(\"\") 안에 조문의 문구를 한 글자도 바꾸지 말고 그대로 옮기세요.\n"
         "- reference에는 근거 조문을 \"법령명 제N조 제M항\" 형식으로 정확히 적으세요.\n"
         "반드시 다음 JSON 객체 하나만 출력하세요 (다른 설명 없이):\n"
         "{\"question\": \"...\", \"answer\": \"...\", \"reference\": \"...\"}";
}

namespace {

struct Url {
  std::string host, path;
  int port = 80;
};

Url parse_url(const std::string& url) {
  if (url.rfind("https://", 0) == 0)
    fail("--url ", url, ": https is not supported by this build (cpp-httplib without OpenSSL); use an http:// URL");
  if (url.rfind("http://", 0) != 0) fail("--url ", url, ": want http://host[:port][/v1]");
  std::string rest = url.substr(7);
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash), path = slash == std::string::npos ? "" : rest.substr(slash);
  Url u;
  size_t colon = hostport.rfind(':');
  u.host = hostport.substr(0, colon);
  if (colon != std::string::npos) {
    std::string p = hostport.substr(colon + 1);
    char* end = nullptr;
    long v = std::strtol(p.c_str(), &end, 10);
    if (p.empty() || *end || v <= 0 || v > 65535) fail("--url ", url, ": bad port '", p, "'");
    u.port = (int)v;
  }
  if (u.host.empty()) fail("--url ", url, ": no host");
  while (!path.empty() && path.back() == '/') path.pop_back();
  const std::string cc = "/chat/completions";
  if (path.size() >= cc.size() && path.compare(path.size() - cc.size(), cc.size(), cc) == 0) u.path = path;
  else if (path.size() >= 3 && path.compare(path.size() - 3, 3, "/v1") == 0) u.path = path + cc;
  else u.path = path + "/v1" + cc;
  return u;
}

// The model's content may wrap the object in prose or ``` fences: take the outermost {...}.
bool extract_item(const std::string& content, json* obj) {
  size_t a = content.find('{'), b = content.rfind('}');
  if (a == std::string::npos || b == std::string::npos || b < a) return false;
  try {
    *obj = json::parse(content.substr(a, b - a + 1));
  } catch (const std::exception&) {
    return false;
  }
  return obj->is_object();
}

std::string str_field(const json& o, const char* k) {
  auto it = o.find(k);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string clip(const std::string& s, size_t n) {
  if (s.size() <= n) return s;
  size_t k = n;
  while (k > 0 && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) k--;  // keep UTF-8 whole
  return s.substr(0, k) + "…";
}

}  // namespace

EndpointRun generate_endpoint(const std::vector<Unit>& units, const CitationIndex& index, const EndpointOptions& opt) {
  Url url = parse_url(opt.url);
  std::vector<std::pair<std::string, std::string>> headers;
  if (!opt.api_key.empty()) headers.emplace_back("Authorization", "Bearer " + opt.api_key);

  EndpointRun run;
  for (const Unit& u : units) {
    run.requested++;
    json log;
    log["citation"] = u.citation;
    log["source"] = u.article->file + ":" + std::to_string(u.article->line);
    auto failed = [&](const std::string& reason, const std::string& detail) {
      log["stage"] = "endpoint";
      log["reason"] = reason;
      log["detail"] = clip(detail, 300);
      run.log.push_back(log.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      run.failed++;
      run.by_reason[reason]++;
    };

    json req;
    req["model"] = opt.model;
    req["messages"] = json::array({json{{"role", "user"}, {"content", endpoint_prompt(u)}}});
    req["temperature"] = opt.temperature;
    http::Response res0 = http::post(url.host, url.port, url.path, headers, "application/json", req.dump(),
                                     opt.timeout_s);
    if (!res0.error.empty()) {
      failed(res0.timed_out ? "timeout" : "request_failed", res0.error);
      continue;
    }
    const http::Response* res = &res0;
    if (res->status != 200) {
      failed("http_status", cat("HTTP ", res->status, ": ", res->body));
      continue;
    }
    json body;
    try {
      body = json::parse(res->body);
    } catch (const std::exception&) {
      failed("non_json_body", res->body);
      continue;
    }
    std::string content;
    try {
      content = body.at("choices").at(0).at("message").at("content").get<std::string>();
    } catch (const std::exception&) {
      failed("bad_response", "no choices[0].message.content string: " + res->body);
      continue;
    }
    json item;
    if (!extract_item(content, &item)) {
      failed("content_not_json", content);
      continue;
    }
    std::string q = str_field(item, "question"), a = str_field(item, "answer"), ref = str_field(item, "reference");
    if (q.empty() || a.empty() || ref.empty()) {
      failed("missing_fields", content);
      continue;
    }
    Verdict v = verify_item(index, q, a, ref, opt.min_rouge);
    if (!v.ok) {
      log["stage"] = "verify";
      log["reason"] = v.reason;
      log["detail"] = v.detail;
      log["item"] = json{{"question", q}, {"answer", a}, {"reference", ref}};
      run.log.push_back(log.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      run.rejected++;
      run.by_reason[v.reason]++;
      continue;
    }
    QAItem out;
    out.type = "endpoint";
    out.question = q;
    out.answer = a;
    const CitationIndex::Entry* e = index.find(ref);  // resolves: verify_item checked it
    out.citation = e->citation;                      // canonical form, e.g. "민법 제3조 제1항"
    out.reference = e->text;
    out.law = e->law;
    out.article_id = e->article_id;
    out.generator = "endpoint:" + opt.model;
    out.key = cat(v.rouge);
    run.kept.push_back(std::move(out));
    run.kept_n++;
  }
  return run;
}

}  // namespace beop::lawqa
