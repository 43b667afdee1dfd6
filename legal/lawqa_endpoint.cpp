// Law QA from an OpenAI-compatible chat endpoint: one request per statute unit, the model writes
// {"question","answer","reference"} as JSON, and every item is verified (verify_item) and checked for
// near-duplicates (NearDupIndex) before it is kept. Transport (https, concurrency, retries) is
// legal/lawqa_client.h; kept items and rejections are appended line by line (legal/lawqa_resume.h), so a killed
// run resumes where it stopped.
#include <chrono>
#include <memory>
#include <set>

#include <nlohmann/json.hpp>

#include "legal/lawqa.h"
#include "legal/lawqa_client.h"
#include "legal/lawqa_dedup.h"
#include "legal/lawqa_resume.h"
#include "src/common.h"
#include "src/jsonl.h"
#include "src/progress.h"

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

std::string dump(const json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

// The resume file's line for one kept item: the QAItem plus the unit it answers.
json item_json(const std::string& unit, const QAItem& it) {
  return json{{"unit", unit},           {"type", it.type},     {"question", it.question},
              {"answer", it.answer},    {"citation", it.citation}, {"reference", it.reference},
              {"law", it.law},          {"article_id", it.article_id}, {"key", it.key},
              {"generator", it.generator}};
}

QAItem item_of(const nlohmann::json& j, const std::string& where) {
  QAItem it;
  for (auto [field, dst] : {std::pair{"type", &it.type}, {"question", &it.question}, {"answer", &it.answer},
                            {"citation", &it.citation}, {"reference", &it.reference}, {"law", &it.law},
                            {"article_id", &it.article_id}, {"key", &it.key}, {"generator", &it.generator}})
    *dst = string_field(j, field, where);
  return it;
}

// Log stages whose unit got an answer from the model: resume does not pay for it again. Transport failures
// ("transport") are asked again.
bool answered_stage(const std::string& stage) { return stage == "reply" || stage == "verify" || stage == "dedup"; }

}  // namespace

std::string endpoint_summary(const EndpointRun& run, size_t total_units) {
  std::map<std::string, int> rej, fail;
  for (auto& [r, n] : run.by_reason) {
    bool transport = r == "timeout" || r == "connect_failed" || r == "truncated" || r == "transport" ||
                     r == "http_status" || r == "response_too_large";
    (transport ? fail : rej)[r] = n;
  }
  auto list = [](const std::map<std::string, int>& m) {
    std::string s;
    for (auto& [r, n] : m) s += (s.empty() ? " (" : ", ") + r + " " + std::to_string(n);
    return s.empty() ? s : s + ")";
  };
  char cost[32];
  std::snprintf(cost, sizeof cost, "%.4f", run.cost);
  return cat(run.skipped + run.requested, "/", total_units, " units", run.skipped ? cat(" (", run.skipped, " resumed)") : "",
             ", ", run.http_requests, " requests (", run.retries, " retries), kept ", run.kept_n, ", rejected ",
             run.rejected, list(rej), ", failed ", run.failed, list(fail), ", tokens ", run.prompt_tokens, " in / ",
             run.completion_tokens, " out, ~$", cost);
}

EndpointRun generate_endpoint(const std::vector<Unit>& units, const CitationIndex& index, const EndpointOptions& opt) {
  client::Options co;
  co.url = client::chat_completions_url(opt.url);
  co.api_key = opt.api_key;
  co.ca_cert = opt.ca_cert;
  co.timeout_s = opt.timeout_s;
  co.concurrency = std::max(1, opt.concurrency);
  co.max_attempts = std::max(1, opt.max_attempts);
  co.retry_base_s = opt.retry_base_s;
  co.retry_max_s = opt.retry_max_s;
  co.seed = opt.seed;

  EndpointRun run;
  NearDupIndex dedup(opt.dedup_threshold);
  std::map<std::string, size_t> pos;  // unit citation -> order in `units` (the output order)
  for (size_t i = 0; i < units.size(); i++) pos.emplace(units[i].citation, i);
  std::vector<std::pair<size_t, QAItem>> kept;
  std::set<std::string> done;
  std::unique_ptr<JsonlAppendFile> items_out, log_out;
  if (!opt.items_path.empty()) {
    items_out = std::make_unique<JsonlAppendFile>(opt.items_path, opt.resume);
    for_each_jsonl_text<nlohmann::json>(items_out->existing(), opt.items_path, [&](const nlohmann::json& j, int line) {
      const std::string where = cat(opt.items_path, ":", line);
      std::string unit = string_field(j, "unit", where);
      QAItem it = item_of(j, where);
      dedup.add(it.question);
      auto p = pos.find(unit);
      kept.emplace_back(p == pos.end() ? units.size() + kept.size() : p->second, std::move(it));
      done.insert(unit);
    });
  }
  if (!opt.log_path.empty()) {
    log_out = std::make_unique<JsonlAppendFile>(opt.log_path, opt.resume);
    for_each_jsonl_text<nlohmann::json>(log_out->existing(), opt.log_path, [&](const nlohmann::json& j, int line) {
      const std::string where = cat(opt.log_path, ":", line);
      if (answered_stage(string_field(j, "stage", where))) done.insert(string_field(j, "citation", where));
    });
  }
  std::vector<const Unit*> todo;
  for (const Unit& u : units)
    if (!done.count(u.citation)) todo.push_back(&u);
  run.skipped = int(units.size() - todo.size());

  StatusLine status(opt.progress);
  client::Stats cs;
  auto last_draw = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  auto refresh = [&](bool force) {
    run.http_requests = cs.attempts;
    run.retries = cs.retries;
    run.cost = (double(run.prompt_tokens) * opt.price_in + double(run.completion_tokens) * opt.price_out) / 1e6;
    auto now = std::chrono::steady_clock::now();
    if (status.on() && (force || now - last_draw > std::chrono::milliseconds(100))) {
      status.draw("lawqa endpoint: " + endpoint_summary(run, units.size()));
      last_draw = now;
    }
  };

  auto on_done = [&](client::Result& r) {
    const Unit& u = *todo[r.id];
    run.requested++;
    json log;
    log["citation"] = u.citation;
    log["source"] = u.article->file + ":" + std::to_string(u.article->line);
    auto record = [&](const std::string& stage, const std::string& reason, const std::string& detail) {
      log["stage"] = stage;
      log["reason"] = reason;
      log["detail"] = clip(detail, 300);
      if (stage == "transport") log["attempts"] = r.attempts;
      std::string line = dump(log);
      run.log.push_back(line);
      if (log_out) log_out->append(line);
      (stage == "transport" ? run.failed : run.rejected)++;
      run.by_reason[reason]++;
    };
    if (!r.ok) return record("transport", r.reason, r.error);
    json body;
    try {
      body = json::parse(r.body);
    } catch (const std::exception&) {
      return record("reply", "non_json_body", r.body);
    }
    if (body.is_object() && body.contains("usage") && body["usage"].is_object()) {
      const json& us = body["usage"];
      if (us.contains("prompt_tokens") && us["prompt_tokens"].is_number_integer())
        run.prompt_tokens += us["prompt_tokens"].get<long long>();
      if (us.contains("completion_tokens") && us["completion_tokens"].is_number_integer())
        run.completion_tokens += us["completion_tokens"].get<long long>();
    }
    std::string content;
    try {
      content = body.at("choices").at(0).at("message").at("content").get<std::string>();
    } catch (const std::exception&) {
      return record("reply", "bad_response", "no choices[0].message.content string: " + r.body);
    }
    json item;
    if (!extract_item(content, &item)) return record("reply", "content_not_json", content);
    std::string q = str_field(item, "question"), a = str_field(item, "answer"), ref = str_field(item, "reference");
    if (q.empty() || a.empty() || ref.empty()) return record("reply", "missing_fields", content);
    log["item"] = json{{"question", q}, {"answer", a}, {"reference", ref}};
    Verdict v = verify_item(index, q, a, ref, opt.min_rouge);
    if (!v.ok) return record("verify", v.reason, v.detail);
    double sim = 0;
    long twin = dedup.find(q, &sim);
    if (twin >= 0) return record("dedup", "near_duplicate", cat("question Jaccard ", sim, " with kept item ", twin));
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
    if (items_out) items_out->append(dump(item_json(u.citation, out)));
    dedup.add(q);
    kept.emplace_back(pos[u.citation], std::move(out));
    run.kept_n++;
  };

  auto body = [&](size_t i) {
    json req;
    req["model"] = opt.model;
    req["messages"] = json::array({json{{"role", "user"}, {"content", endpoint_prompt(*todo[i])}}});
    req["temperature"] = opt.temperature;
    return req.dump();
  };
  run.fatal = client::run(co, todo.size(), body, on_done, [&] { refresh(false); }, &cs);
  refresh(true);
  status.end();
  std::stable_sort(kept.begin(), kept.end(), [](auto& x, auto& y) { return x.first < y.first; });
  for (auto& [p, it] : kept) run.kept.push_back(std::move(it));
  return run;
}

}  // namespace beop::lawqa
