// Task schema, validation and the builders (see tasks.h and docs/EVAL.md).
#include "legal/eval/tasks.h"

#include <sstream>

#include <nlohmann/json.hpp>

#include "legal/eval/task_split.h"
#include "legal/prompt.h"
#include "src/common.h"
#include "src/csv.h"
#include "src/io.h"
#include "src/jsonl.h"
#include "src/text.h"

namespace beop::eval {

using nlohmann::json;

namespace {

const char* kNames[kNumTasks] = {"complaint", "summary", "petition", "qa", "mrc", "mc", "korquad"};
const char* kTitles[kNumTasks] = {"Complaint", "Summary", "Petition", "QA", "MRC", "MC", "KorQuAD"};

const char* kPrecedents = "precedents/precedents_sc_850.jsonl";
const char* kKoblex = "eval/koblex/koblex.jsonl";
const char* kCounsel = "instruct_ko/hrc_nhrck_counsel.jsonl";
const char* kKmmluTest = "eval/kmmlu_criminal_law/Criminal-Law-test.csv";
const char* kKorquad = "eval/korquad/KorQuAD_v1.0_dev.json";

std::string join_path(const std::string& root, const std::string& rel) {
  return root.empty() ? rel : root + "/" + rel;
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

// KoBLEX text uses CRLF paragraph breaks; the tasks use LF.
std::string lf(std::string s) {
  std::string out;
  for (char c : s)
    if (c != '\r') out += c;
  return out;
}

// "상법 814조  운송인의 채권ㆍ채무의 소멸 1항" -> "상법 제814조 제1항" (beop's citation form); anything that does not
// parse is kept as written (whitespace collapsed).
std::string koblex_citation(const std::string& hierarchy) {
  std::vector<std::string> w;
  std::istringstream in(hierarchy);
  for (std::string t; in >> t;) w.push_back(t);
  auto all_digits_then = [](const std::string& t, const std::string& suffix, std::string* num) {
    if (t.size() <= suffix.size() || t.compare(t.size() - suffix.size(), suffix.size(), suffix) != 0) return false;
    std::string n = t.substr(0, t.size() - suffix.size());
    if (starts_with(n, "제")) n = n.substr(3);
    for (char c : n)
      if (c < '0' || c > '9') return false;
    *num = n;
    return !n.empty();
  };
  size_t art = w.size();
  std::string art_id, para;
  for (size_t i = 0; i < w.size(); i++) {
    const std::string& t = w[i];
    size_t jo = t.find("조");
    if (jo != std::string::npos && jo > 0) {
      std::string head = t.substr(0, jo), tail = t.substr(jo + 3);
      if (starts_with(head, "제")) head = head.substr(3);
      bool digits = !head.empty();
      for (char c : head) digits = digits && c >= '0' && c <= '9';
      if (digits && (tail.empty() || starts_with(tail, "의"))) {
        art = i;
        art_id = "제" + head + "조" + tail;
        break;
      }
    }
  }
  if (art == w.size() || art == 0) {
    std::string out;
    for (auto& t : w) out += (out.empty() ? "" : " ") + t;
    return out;
  }
  if (!w.empty()) all_digits_then(w.back(), "항", &para);
  std::string law;
  for (size_t i = 0; i < art; i++) law += (law.empty() ? "" : " ") + w[i];
  return law + " " + art_id + (para.empty() ? "" : " 제" + para + "항");
}

struct Precedent {
  int64_t line;
  json j;
};
// The test precedents that serve task `t` (task_split.h: each serves exactly one of Complaint, Summary, QA, so no
// 판결요지 is the reference of two tasks).
std::vector<Precedent> test_precedents(const std::string& root, Task t) {
  std::vector<Precedent> out;
  size_t k_civil = 0, k_crim = 0;
  for_each_jsonl(join_path(root, kPrecedents), [&](const json& j, int no) {
    const std::string where = cat(kPrecedents, ":", no);
    if (string_field(j, "split", where) != "test") return;
    const bool criminal = string_field(j, "case_type", where) == "형사";
    if (precedent_owner(criminal, criminal ? k_crim++ : k_civil++) == t) out.push_back({no, j});
  }, kPrecedents);
  return out;
}
// KoBLEX questions alternate QA (even lines) and MRC (odd lines): MRC would otherwise re-ask QA's questions.
bool koblex_for(Task t, int line) { return (line % 2 == 0) == (t == Task::QA); }

TaskItem user_item(Task t, const std::string& id, const std::string& user, const std::string& reference,
                   const Provenance& p, const std::string& document = "") {
  TaskItem it;
  it.id = id;
  it.task = t;
  it.messages = {{"user", user}};
  it.reference = reference;
  it.document = document;
  it.provenance = p;
  return it;
}

// The 이유 part of a decision's full text (the court's account of the facts and the reasoning), else all of it.
std::string reasons_of(const std::string& full) {
  size_t p = full.find("【이    유】");
  if (p == std::string::npos) return trim(full);
  return trim(full.substr(p + std::string("【이    유】").size()));
}

}  // namespace

const char* task_name(Task t) { return kNames[int(t)]; }
const char* task_title(Task t) { return kTitles[int(t)]; }
bool parse_task(const std::string& s, Task* out) {
  for (int i = 0; i < kNumTasks; i++)
    if (s == kNames[i]) return *out = Task(i), true;
  return false;
}
bool is_rouge_task(Task t) { return t != Task::MC; }
bool in_legal_avg(Task t) { return t != Task::MC && t != Task::KorQuAD; }

std::vector<Task> parse_task_list(const std::string& spec) {
  std::vector<Task> out;
  for (std::string s : split(spec, ',')) {
    s = trim(s);
    if (s.empty()) continue;
    if (s == "all") {
      for (int i = 0; i < 6; i++) out.push_back(Task(i));
      continue;
    }
    Task t;
    if (!parse_task(s, &t)) {
      std::string known = "all";
      for (auto n : kNames) known += std::string(", ") + n;
      fail("unknown task '", s, "' (known: ", known, ")");
    }
    out.push_back(t);
  }
  BEOP_CHECK(!out.empty(), "no task in '", spec, "'");
  std::vector<Task> uniq;  // keep the study's column order, no repeats
  for (int i = 0; i < kNumTasks; i++)
    for (Task t : out)
      if (int(t) == i) {
        uniq.push_back(t);
        break;
      }
  return uniq;
}

void validate_item(const TaskItem& it, const std::string& where) {
  BEOP_CHECK(!it.id.empty(), where, ": empty id");
  const std::string w = where + " (" + it.id + ")";
  BEOP_CHECK(!it.reference.empty(), w, ": empty reference");
  BEOP_CHECK(it.messages.empty() != it.prompt.empty(), w, ": exactly one of 'messages' and 'prompt' is required");
  std::string last;
  if (!it.messages.empty()) {
    validate_conversation(it.messages, w, /*require_assistant=*/false);
    for (auto& m : it.messages)
      BEOP_CHECK(m.role != "system", w, ": task items carry no system message (use --system at run time)");
    BEOP_CHECK(it.messages.back().role == "user", w, ": the last message must be the user's, got '",
               it.messages.back().role, "'");
    last = it.messages.back().content;
  } else {
    last = it.prompt;
  }
  BEOP_CHECK(it.document.empty() || last.find(it.document) != std::string::npos, w,
             ": 'document' is not part of the last user message");
  if (it.task == Task::MC) {
    BEOP_CHECK(it.options.size() >= 2 && it.options.size() <= 10, w, ": MC item needs 2..10 options, has ",
               it.options.size());
    for (size_t i = 0; i < it.options.size(); i++)
      BEOP_CHECK(!trim(it.options[i]).empty(), w, ": option ", char('A' + i), " is empty");
    BEOP_CHECK(it.answer >= 0 && it.answer < int(it.options.size()), w, ": answer ",
               it.answer < 0 ? std::string("(none)") : std::string(1, char('A' + it.answer)),
               " is not among its ", it.options.size(), " options");
  } else {
    BEOP_CHECK(it.options.empty() && it.answer < 0, w, ": only MC items have options/answer");
  }
}

std::string item_to_json_line(const TaskItem& it) {
  json j = json::object();
  j["id"] = it.id;
  j["task"] = task_name(it.task);
  if (!it.messages.empty()) {
    json ms = json::array();
    for (auto& m : it.messages) ms.push_back({{"role", m.role}, {"content", m.content}});
    j["messages"] = ms;
  } else {
    j["prompt"] = it.prompt;
  }
  j["reference"] = it.reference;
  if (!it.document.empty()) j["document"] = it.document;
  if (it.task == Task::MC) {
    j["options"] = it.options;
    j["answer"] = std::string(1, char('A' + it.answer));
  }
  j["provenance"] = {{"file", it.provenance.file},
                     {"record", it.provenance.record},
                     {"line", it.provenance.line},
                     {"split", it.provenance.split}};
  return j.dump(-1, ' ', false, json::error_handler_t::strict);
}

namespace {
// The item a task-file line holds (its fields checked); errors are prefixed with `where` ("FILE:LINE").
TaskItem item_from_json(const json& j, const std::string& where) {
  TaskItem it;
  it.id = string_field(j, "id", where);
  const std::string w = where + " (" + it.id + ")";
  const std::string tname = string_field(j, "task", w);
  if (!parse_task(tname, &it.task)) {
    std::string known;
    for (auto n : kNames) known += (known.empty() ? "" : ", ") + std::string(n);
    fail(w, ": unknown task '", tname, "' (known: ", known, ")");
  }
  it.reference = string_field(j, "reference", w);
  if (j.contains("messages")) {
    const json& ms = j["messages"];
    BEOP_CHECK(ms.is_array(), w, ": 'messages' is not an array");
    for (auto& m : ms) {
      BEOP_CHECK(m.is_object(), w, ": a message is not an object");
      it.messages.push_back({string_field(m, "role", w), string_field(m, "content", w)});
    }
    BEOP_CHECK(!it.messages.empty(), w, ": 'messages' is empty");
  }
  if (j.contains("prompt")) it.prompt = string_field(j, "prompt", w);
  BEOP_CHECK(j.contains("messages") || j.contains("prompt"), w, ": missing field 'messages' (or 'prompt')");
  if (j.contains("document")) it.document = string_field(j, "document", w);
  if (it.task == Task::MC) {
    BEOP_CHECK(j.contains("options") && j["options"].is_array(), w, ": MC item without an 'options' array");
    for (auto& o : j["options"]) {
      BEOP_CHECK(o.is_string(), w, ": a non-string option");
      it.options.push_back(o.get<std::string>());
    }
    const std::string a = string_field(j, "answer", w);
    // A letter (A, B, ...) or the option text itself.
    if (a.size() == 1 && a[0] >= 'A' && a[0] <= 'Z') it.answer = a[0] - 'A';
    else
      for (size_t i = 0; i < it.options.size(); i++)
        if (it.options[i] == a) it.answer = int(i);
    BEOP_CHECK(it.answer >= 0 && it.answer < int(it.options.size()), w, ": answer '", a,
               "' is not among its ", it.options.size(), " options");
  } else {
    BEOP_CHECK(!j.contains("options") && !j.contains("answer"), w, ": 'options'/'answer' on a non-MC item");
  }
  if (j.contains("provenance")) {
    const json& p = j["provenance"];
    BEOP_CHECK(p.is_object(), w, ": 'provenance' is not an object");
    it.provenance.file = p.value("file", "");
    it.provenance.record = p.value("record", "");
    it.provenance.line = p.value("line", int64_t(0));
    it.provenance.split = p.value("split", "");
  }
  validate_item(it, w);
  return it;
}
}  // namespace

TaskItem parse_item_json(const std::string& line, const std::string& where) {
  return item_from_json(parse_jsonl_line(line, where), where);
}

std::vector<TaskItem> read_task_file(const std::string& path, std::vector<std::string>* errors) {
  std::vector<TaskItem> out;
  for_each_jsonl(path, [&](const json& j, int no) { out.push_back(item_from_json(j, cat(path, ":", no))); }, "",
                 errors);
  return out;
}

void write_task_file(const std::string& path, const std::vector<TaskItem>& items) {
  std::string s;
  for (size_t i = 0; i < items.size(); i++) {
    validate_item(items[i], cat(path, " item ", i + 1));
    BEOP_CHECK(task_file_allowed(items[i].task), path, ": ", task_name(items[i].task),
               " items are formatted at load time only and must not be written to disk (CC BY-ND)");
    s += item_to_json_line(items[i]) + "\n";
  }
  write_file_atomic(path, s);
}

bool task_file_allowed(Task t) { return t != Task::MC && t != Task::KorQuAD; }

// ---------------------------------------------------------------------------------------------- builders

std::vector<TaskItem> build_complaint(const std::string& root) {
  std::vector<TaskItem> out;
  for (auto& p : test_precedents(root, Task::Complaint)) {  // never 형사: a 소장 is a civil/administrative pleading
    const std::string w = cat(kPrecedents, ":", p.line);
    const std::string name = string_field(p.j, "case_name", w), type = string_field(p.j, "case_type", w);
    // The 이유 without the sentences the 판결요지 (the 청구원인 of the reference) was lifted from.
    const std::string facts = strip_quoted_sentences(reasons_of(string_field(p.j, "full_text", w)),
                                                     string_field(p.j, "holding_summary", w));
    const std::string user = "다음 사건의 사실관계와 쟁점을 바탕으로 소장 초안을 작성해 주세요. 【청구취지】, 【청구원인】, "
                             "【관계 법령】 순서로 쓰세요.\n\n사건 종류: " + type + "\n사건명: " + name +
                             "\n\n[사실관계]\n" + facts + "\n\n[요청] 위 사건의 소장 초안을 작성해 주세요.";
    const std::string ref = "【청구취지】\n" + name + " 청구를 인용한다는 판결을 구합니다.\n\n【청구원인】\n" +
                            string_field(p.j, "holding_summary", w) + "\n\n【관계 법령】\n" +
                            string_field(p.j, "ref_articles", w);
    const std::string id = string_field(p.j, "id", w);
    out.push_back(user_item(Task::Complaint, "complaint:" + id, user, ref, {kPrecedents, id, p.line, "test"}, facts));
  }
  return out;
}

std::vector<TaskItem> build_summary(const std::string& root) {
  std::vector<TaskItem> out;
  for (auto& p : test_precedents(root, Task::Summary)) {
    const std::string w = cat(kPrecedents, ":", p.line);
    // The decision without the sentences its 판결요지 quotes (task_split.h): summarise, not copy.
    const std::string doc = trim(strip_quoted_sentences(string_field(p.j, "full_text", w),
                                                        string_field(p.j, "holding_summary", w)));
    const std::string user = "다음 대법원 판결문을 읽고 판결요지를 작성해 주세요.\n\n[판결문]\n" + string_field(p.j, "case_name", w) +
                             "\n" + doc + "\n\n[요청] 위 판결의 판결요지를 작성해 주세요.";
    const std::string id = string_field(p.j, "id", w);
    out.push_back(user_item(Task::Summary, "summary:" + id, user, string_field(p.j, "holding_summary", w),
                            {kPrecedents, id, p.line, "test"}, doc));
  }
  return out;
}

std::vector<TaskItem> build_petition(const std::string& root) {
  std::vector<TaskItem> out;
  for_each_jsonl(join_path(root, kCounsel), [&](const json& j, int no) {
    const std::string w = cat(kCounsel, ":", no);
    const std::string q = trim(string_field(j, "상담 내용", w)), a = trim(string_field(j, "원본 상담 답변", w));
    const std::string user = "다음 인권 침해 진정 상담 내용에 대하여 답변을 작성해 주세요.\n\n[상담 내용]\n" + q;
    out.push_back(user_item(Task::Petition, cat("petition:", no), user, a, {kCounsel, cat("line ", no), no, "all"}));
  }, kCounsel);
  return out;
}

std::vector<TaskItem> build_qa(const std::string& root) {
  std::vector<TaskItem> out;
  for_each_jsonl(join_path(root, kKoblex), [&](const json& j, int no) {
    if (!koblex_for(Task::QA, no)) return;
    const std::string w = cat(kKoblex, ":", no);
    const std::string id = string_field(j, "id", w);
    const std::string user = lf(trim(string_field(j, "background", w))) + "\n\n" + lf(trim(string_field(j, "question", w)));
    out.push_back(user_item(Task::QA, "qa:koblex:" + id, user, lf(trim(string_field(j, "answer", w))),
                            {kKoblex, id, no, "all"}));
  }, kKoblex);
  for (auto& p : test_precedents(root, Task::QA)) {  // the same prompt as it_legal_precedents.jsonl (legal/corpora.cpp)
    const std::string w = cat(kPrecedents, ":", p.line);
    const std::string id = string_field(p.j, "id", w);
    const std::string user = "다음 쟁점에 관한 대법원 판결(" + string_field(p.j, "case_no", w) +
                             ")의 판결요지를 설명해 주세요.\n\n" + string_field(p.j, "holding_issues", w);
    out.push_back(user_item(Task::QA, "qa:prec:" + id, user, string_field(p.j, "holding_summary", w),
                            {kPrecedents, id, p.line, "test"}));
  }
  return out;
}

std::vector<TaskItem> build_mrc(const std::string& root) {
  std::vector<TaskItem> out;
  for_each_jsonl(join_path(root, kKoblex), [&](const json& j, int no) {
    if (!koblex_for(Task::MRC, no)) return;
    const std::string w = cat(kKoblex, ":", no);
    const std::string id = string_field(j, "id", w);
    BEOP_CHECK(j.contains("contexts") && j["contexts"].is_array() && !j["contexts"].empty(), w,
               ": missing or empty 'contexts'");
    std::vector<std::pair<std::string, std::string>> refs;
    for (auto& c : j["contexts"]) {
      BEOP_CHECK(c.is_object(), w, ": a context is not an object");
      refs.push_back({koblex_citation(string_field(c, "hierarchy", w)), lf(trim(string_field(c, "content", w)))});
    }
    const std::string q = lf(trim(string_field(j, "background", w))) + "\n\n" + lf(trim(string_field(j, "question", w)));
    const std::string user = prompt::user_with_references(refs, q), answer = lf(trim(string_field(j, "answer", w)));
    // An answer lifted from the given statutes tests copying, which copy-the-input already does: dropped.
    if (ngram_containment(answer, user) > kMaxContainment) return;
    out.push_back(user_item(Task::MRC, "mrc:koblex:" + id, user, answer, {kKoblex, id, no, "all"}));
  }, kKoblex);
  return out;
}

std::string mc_user_text(const std::string& question, const std::vector<std::string>& options) {
  std::string s = "다음 문제의 정답을 고르세요.\n\n" + question + "\n";
  for (size_t i = 0; i < options.size(); i++) s += std::string(1, char('A' + i)) + ". " + options[i] + "\n";
  s += "\n정답을 A, B, C, D 중 하나의 문자로 답하세요.";
  return s;
}

std::vector<TaskItem> load_mc(const std::string& root) {
  const std::string path = join_path(root, kKmmluTest);
  std::vector<int64_t> line_of;
  const auto rows = parse_csv(read_file(path), kKmmluTest, &line_of);
  BEOP_CHECK(!rows.empty(), kKmmluTest, ": empty CSV");
  const auto& h = rows[0];
  auto col = [&](const std::string& name) {
    for (size_t i = 0; i < h.size(); i++)
      if (h[i] == name) return i;
    fail(kKmmluTest, ":1: no column '", name, "'");
  };
  const size_t cq = col("question"), ca = col("answer"), cA = col("A"), cB = col("B"), cC = col("C"), cD = col("D");
  std::vector<TaskItem> out;
  for (size_t r = 1; r < rows.size(); r++) {
    const auto& row = rows[r];
    const std::string w = cat(kKmmluTest, ":", line_of[r]);
    BEOP_CHECK(row.size() == h.size(), w, ": ", row.size(), " fields, header has ", h.size());
    TaskItem it;
    it.id = cat("mc:kmmlu:", r);
    it.task = Task::MC;
    it.options = {row[cA], row[cB], row[cC], row[cD]};
    const std::string a = trim(row[ca]);
    BEOP_CHECK(a.size() == 1 && a[0] >= '1' && a[0] <= '4', w, ": answer '", a, "' is not 1..4");
    it.answer = a[0] - '1';
    it.reference = it.options[size_t(it.answer)];
    it.messages = {{"user", mc_user_text(row[cq], it.options)}};
    it.provenance = {kKmmluTest, cat("row ", r), line_of[r], "test"};
    validate_item(it, w);
    out.push_back(std::move(it));
  }
  return out;
}

std::vector<TaskItem> load_korquad(const std::string& root, int limit) {
  const std::string path = join_path(root, kKorquad);
  json j;
  try {
    j = json::parse(read_file(path));
  } catch (const json::exception& e) {
    fail(kKorquad, ": malformed JSON (", e.what(), ")");
  }
  BEOP_CHECK(j.contains("data") && j["data"].is_array(), kKorquad, ": no 'data' array");
  std::vector<TaskItem> out;
  for (auto& d : j["data"])
    for (auto& p : d.at("paragraphs")) {
      const std::string ctx = p.at("context").get<std::string>();
      for (auto& q : p.at("qas")) {
        if (limit > 0 && int(out.size()) >= limit) return out;
        const std::string id = q.at("id").get<std::string>();
        BEOP_CHECK(q.contains("answers") && !q["answers"].empty(), kKorquad, ": question ", id, " has no answer");
        const std::string user = "다음 글을 읽고 질문에 짧게 답하세요.\n\n[글]\n" + ctx + "\n\n[질문] " +
                                 q.at("question").get<std::string>();
        out.push_back(user_item(Task::KorQuAD, "korquad:" + id, user, q["answers"][0].at("text").get<std::string>(),
                                {kKorquad, id, 0, "dev"}, ctx));
      }
    }
  return out;
}

std::vector<TaskItem> build_task(Task t, const std::string& root) {
  switch (t) {
    case Task::Complaint: return build_complaint(root);
    case Task::Summary: return build_summary(root);
    case Task::Petition: return build_petition(root);
    case Task::QA: return build_qa(root);
    case Task::MRC: return build_mrc(root);
    case Task::MC: return load_mc(root);
    case Task::KorQuAD: return load_korquad(root);
  }
  fail("unknown task");
}

}  // namespace beop::eval
