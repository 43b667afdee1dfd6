// Evaluation tasks: the one task-file schema (docs/EVAL.md), its validation, and the builders that make the six
// LegalMiDM-style legal tasks (+ a general-domain MRC row) from the bundled corpora ($BEOP_DATA).
//
//   Complaint  test precedents (not 형사): case facts (판결 이유) -> a complaint draft 【청구취지】/【청구원인】/【관계 법령】
//   Summary    test precedents: full decision text -> 판결요지
//   Petition   NHRCK counsel cases: 상담 내용 -> 원본 상담 답변
//   QA         KoBLEX background + question (no context) -> answer;  test precedents 판시사항 -> 판결요지
//   MRC        KoBLEX with its statute contexts in the Q + Ref layout (lawqa::user_with_references) -> answer
//   MC         KMMLU Criminal-Law TEST, read verbatim from the CSV at load time (CC BY-ND: never written out)
//   KorQuAD    (general domain) KorQuAD 1.0 dev, read verbatim from the JSON at load time (CC BY-ND)
//
// Task file: JSONL, one item per line:
//   {"id":"summary:171575","task":"summary","messages":[{"role":"user","content":"..."}],"reference":"...",
//    "document":"<substring of the last user message the runner may shorten>",          (optional)
//    "options":["..","..","..",".."],"answer":"B",                                       (MC only)
//    "provenance":{"file":"precedents/precedents_sc_850.jsonl","record":"171575","line":12,"split":"test"}}
// "prompt" (a raw completion prompt, no chat template) may replace "messages". No system message is stored: the
// system prompt is an inference-time choice (--system legal|none).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "src/chat_template.h"

namespace beop::eval {

// The study's column order.
enum class Task { Complaint, Summary, Petition, QA, MRC, MC, KorQuAD };
inline constexpr int kNumTasks = 7;
const char* task_name(Task t);          // "complaint", ..., "mc", "korquad"
const char* task_title(Task t);         // "Complaint", ..., "MC", "KorQuAD"
bool parse_task(const std::string& s, Task* out);
bool is_rouge_task(Task t);             // every task but MC
bool in_legal_avg(Task t);              // the five legal ROUGE-L tasks averaged into AVG
// "all" = the six legal tasks; otherwise a comma list of names. Unknown name -> Error listing the known ones.
std::vector<Task> parse_task_list(const std::string& spec);

struct Provenance {
  std::string file;    // relative to the corpora root, e.g. "precedents/precedents_sc_850.jsonl"
  std::string record;  // the record's id in that file (or "row N")
  int64_t line = 0;    // 1-based line (CSV: the line the row starts on; JSON: 0)
  std::string split;   // "test", "dev", "all"
};

struct TaskItem {
  std::string id;
  Task task = Task::QA;
  Conversation messages;               // user turns (no system); empty when `prompt` is used
  std::string prompt;                  // raw prompt (alternative to messages)
  std::string reference;               // ROUGE tasks: the gold text; MC: the gold option's text
  std::string document;                // optional: shrinkable part of the last user message / prompt
  std::vector<std::string> options;    // MC only
  int answer = -1;                     // MC only: index into options (0 = A)
  Provenance provenance;
};

// Checks an item; throws Error prefixed with `where` ("tasks/qa.jsonl:12" or "item <id>"): empty id or
// reference, neither/both of messages and prompt, a non-user last turn, a system turn, a document that is not a
// substring of the last user message / prompt, MC without 2..10 options or with an answer outside them.
void validate_item(const TaskItem& it, const std::string& where);

// One item as one JSONL line (UTF-8, keys in schema order). MC answers are written as letters.
std::string item_to_json_line(const TaskItem& it);
// Parses one JSONL line (malformed JSON, missing/mistyped field, unknown task, MC answer not among its options ->
// Error prefixed with `where`), then validate_item.
TaskItem parse_item_json(const std::string& line, const std::string& where);

// A task file. strict: the first bad line throws "FILE:LINE: ...". Lenient (errors != nullptr): bad lines are
// skipped and their messages appended to *errors; the good items are returned.
std::vector<TaskItem> read_task_file(const std::string& path, std::vector<std::string>* errors = nullptr);
void write_task_file(const std::string& path, const std::vector<TaskItem>& items);  // atomic

// ---------------------------------------------------------------------------------------------- builders
// Each reads the bundled corpora under data_root and returns the items in source order. Missing or malformed
// source files throw Error naming the file and line.
std::vector<TaskItem> build_complaint(const std::string& data_root);
std::vector<TaskItem> build_summary(const std::string& data_root);
std::vector<TaskItem> build_petition(const std::string& data_root);
std::vector<TaskItem> build_qa(const std::string& data_root);
std::vector<TaskItem> build_mrc(const std::string& data_root);
// Loaded verbatim at run time; the formatted items must never be written to disk (CC BY-ND).
std::vector<TaskItem> load_mc(const std::string& data_root);
std::vector<TaskItem> load_korquad(const std::string& data_root, int limit = 0);  // limit 0 = all
std::vector<TaskItem> build_task(Task t, const std::string& data_root);
// Tasks whose items may be written to a task file (not MC / KorQuAD: their licences forbid derivatives).
bool task_file_allowed(Task t);

// The MC prompt: question, options "A. ...", and the instruction to answer with one letter.
std::string mc_user_text(const std::string& question, const std::vector<std::string>& options);

}  // namespace beop::eval
