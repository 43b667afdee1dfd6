// beop's chat template: rendering, encoding with the assistant loss mask, and conversation file readers.
#include "src/chat_template.h"

#include <nlohmann/json.hpp>

#include "src/common.h"
#include "src/csv.h"
#include "src/io.h"
#include "src/jsonl.h"
#include "src/text.h"
#include "src/tokenizer.h"
#include "src/unicode.h"

namespace beop {

namespace {

bool known_role(const std::string& r) { return r == "system" || r == "user" || r == "assistant"; }

void check_roles(const Conversation& c) {
  for (size_t i = 0; i < c.size(); i++)
    if (!known_role(c[i].role))
      fail("message ", i, ": unknown role ", nlohmann::json(c[i].role).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
           " (want system, user or assistant)");
}

}  // namespace

std::string render_chat(const Conversation& messages, bool add_generation_prompt) {
  check_roles(messages);
  std::string s = kBeginOfText;
  for (const ChatMessage& m : messages) {
    s += kStartHeader;
    s += m.role;
    s += kEndHeader;
    s += "\n\n";
    s += m.content;
    s += kEndOfTurn;
  }
  if (add_generation_prompt) s += cat(kStartHeader, "assistant", kEndHeader, "\n\n");
  return s;
}

EncodedChat encode_chat(const Tokenizer& tok, const Conversation& messages, bool add_generation_prompt) {
  check_roles(messages);
  const int32_t bos = tok.bos_id(), sh = tok.start_header_id(), eh = tok.end_header_id(), eot = tok.eot_id();
  if (bos < 0 || sh < 0 || eh < 0 || eot < 0)
    fail("tokenizer lacks the chat template's special tokens (", kBeginOfText, " ", kStartHeader, " ", kEndHeader, " ",
         kEndOfTurn, ")");
  EncodedChat out;
  auto push = [&](int32_t id, uint8_t m) {
    out.tokens.push_back(id);
    out.loss_mask.push_back(m);
  };
  // Text pieces are encoded separately with allow_special=false: the template's special tokens come only from
  // here, and piece boundaries are exactly the mask boundaries.
  auto push_text = [&](const std::string& text, uint8_t m) {
    for (int32_t id : tok.encode(text, /*allow_special=*/false)) push(id, m);
  };
  const std::vector<int32_t> sep = tok.encode("\n\n", false);
  push(bos, 0);
  auto header = [&](const char* role) {
    push(sh, 0);
    push_text(role, 0);
    push(eh, 0);
    for (int32_t id : sep) push(id, 0);
  };
  for (size_t i = 0; i < messages.size(); i++) {
    const ChatMessage& m = messages[i];
    utf8_check(m.content, cat("message ", i, " content"));
    const uint8_t train = m.role == "assistant" ? 1 : 0;
    header(m.role.c_str());
    push_text(m.content, train);
    push(eot, train);
  }
  if (add_generation_prompt) header("assistant");
  return out;
}

void validate_conversation(const Conversation& c, const std::string& where, bool require_assistant) {
  if (c.empty()) fail(where, ": empty message list");
  bool has_assistant = false;
  for (size_t i = 0; i < c.size(); i++) {
    if (!known_role(c[i].role))
      fail(where, ": message ", i, " has unknown role ",
           nlohmann::json(c[i].role).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
           " (want system, user or assistant)");
    size_t bad = utf8_invalid_offset(c[i].content);
    if (bad != std::string::npos) fail(where, ": message ", i, " content has invalid UTF-8 at byte offset ", bad);
    has_assistant |= c[i].role == "assistant";
  }
  if (require_assistant && !has_assistant) fail(where, ": conversation has no assistant turn (nothing to train on)");
}

namespace {
// The conversation a parsed JSONL object holds; errors are prefixed with `where` ("FILE:LINE").
Conversation conversation_from_json(const nlohmann::json& j, const std::string& where, bool require_assistant) {
  if (!j.contains("messages")) fail(where, ": no \"messages\" field");
  const auto& ms = j["messages"];
  if (!ms.is_array()) fail(where, ": \"messages\" is not an array");
  Conversation c;
  for (size_t i = 0; i < ms.size(); i++) {
    const auto& m = ms[i];
    if (!m.is_object()) fail(where, ": message ", i, " is not an object");
    if (!m.contains("role") || !m["role"].is_string()) fail(where, ": message ", i, " has no string \"role\"");
    if (!m.contains("content")) fail(where, ": message ", i, " has no \"content\"");
    if (!m["content"].is_string()) fail(where, ": message ", i, " content is not a string (", m["content"].type_name(), ")");
    c.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
  }
  validate_conversation(c, where, require_assistant);
  return c;
}
}  // namespace

Conversation parse_conversation_json(const std::string& line, const std::string& where, bool require_assistant) {
  return conversation_from_json(parse_jsonl_line(line, where), where, require_assistant);
}

std::vector<Conversation> read_conversations_jsonl(const std::string& path, bool require_assistant,
                                                   std::vector<int64_t>* line_of) {
  std::vector<Conversation> out;
  for_each_jsonl(path, [&](const nlohmann::json& j, int line_no) {
    out.push_back(conversation_from_json(j, cat(path, ":", line_no), require_assistant));
    if (line_of) line_of->push_back(line_no);
  });
  if (out.empty()) fail(path, ": no conversations");
  return out;
}

std::vector<Conversation> read_qa_jsonl(const std::string& path, const std::string& q_field,
                                        const std::string& a_field, std::vector<int64_t>* line_of) {
  std::vector<Conversation> out;
  for_each_jsonl(path, [&](const nlohmann::json& j, int line_no) {
    const std::string where = cat(path, ":", line_no);
    std::string qa[2];
    const std::string* fields[2] = {&q_field, &a_field};
    for (int k = 0; k < 2; k++) {
      const std::string& f = *fields[k];
      if (!j.contains(f) || !j[f].is_string()) fail(where, ": no string field \"", f, "\"");
      qa[k] = j[f].get<std::string>();
      if (is_blank(qa[k])) fail(where, ": field \"", f, "\" is empty");
    }
    Conversation c = {{"user", qa[0]}, {"assistant", qa[1]}};
    validate_conversation(c, where, true);
    out.push_back(std::move(c));
    if (line_of) line_of->push_back(line_no);
  });
  if (out.empty()) fail(path, ": no conversations");
  return out;
}

std::vector<Conversation> read_qa_csv(const std::string& path, const std::string& q_column,
                                      const std::string& a_column, std::vector<int64_t>* line_of) {
  const std::string text = read_file(path);
  size_t bad = utf8_invalid_offset(text);
  if (bad != std::string::npos) fail(path, ": invalid UTF-8 at byte offset ", bad);
  std::vector<int64_t> lines;
  auto rows = parse_csv(text, path, &lines);
  if (rows.empty()) fail(path, ": empty CSV (no header row)");
  const auto& hdr = rows[0];
  int qi = -1, ai = -1;
  for (size_t k = 0; k < hdr.size(); k++) {
    if (hdr[k] == q_column) qi = (int)k;
    if (hdr[k] == a_column) ai = (int)k;
  }
  if (qi < 0 || ai < 0) fail(path, ":1: header has no '", qi < 0 ? q_column : a_column, "' column");
  std::vector<Conversation> out;
  for (size_t r = 1; r < rows.size(); r++) {
    const auto& row = rows[r];
    const std::string where = cat(path, ":", lines[r]);
    if (row.size() == 1 && row[0].empty()) continue;  // blank line
    if (row.size() != hdr.size()) fail(where, ": ", row.size(), " fields, header has ", hdr.size());
    Conversation c = {{"user", row[qi]}, {"assistant", row[ai]}};
    if (is_blank(row[qi], " \t")) fail(where, ": empty question");
    if (is_blank(row[ai], " \t")) fail(where, ": empty answer");
    validate_conversation(c, where, true);
    out.push_back(std::move(c));
    if (line_of) line_of->push_back(lines[r]);
  }
  if (out.empty()) fail(path, ": no rows after the header");
  return out;
}

}  // namespace beop
