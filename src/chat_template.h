// beop's chat template (the Llama-3 layout, as Mi:dm 2.0 uses) and the conversation JSONL it renders.
//
//   <|begin_of_text|>
//   for each message:  <|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT<|eot_id|>
//   generation prompt: <|start_header_id|>assistant<|end_header_id|>\n\n
//
// encode_chat builds the token sequence piece by piece: the special tokens come from the template as ids, and
// ROLE, "\n\n" and CONTENT are encoded as ordinary text (allow_special=false), so a user message that spells
// "<|eot_id|>" stays text and can never end a turn. The loss mask is 1 exactly on the tokens of each
// assistant CONTENT and its closing <|eot_id|> (the model learns to answer and to stop), 0 on
// <|begin_of_text|>, every header and every system/user turn. No system prompt is ever added.
//
// Conversation JSONL: one object per line, {"messages":[{"role":"system"|"user"|"assistant","content":"..."}]}
// (docs/FORMATS.md, "Conversations").
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace beop {

class Tokenizer;

struct ChatMessage {
  std::string role;     // "system", "user" or "assistant"
  std::string content;  // UTF-8 text
};
using Conversation = std::vector<ChatMessage>;

struct EncodedChat {
  std::vector<int32_t> tokens;     // (n,)
  std::vector<uint8_t> loss_mask;  // (n,) 1 = train on predicting this token (assistant content + its eot)
};

// The template's text form (for display / debugging / oracles). Throws Error on an unknown role.
std::string render_chat(const Conversation& messages, bool add_generation_prompt);

// Tokens + loss mask. Throws Error on an unknown role, invalid UTF-8, or a tokenizer without the template's
// special tokens. decode(tokens) == render_chat(messages, add_generation_prompt).
EncodedChat encode_chat(const Tokenizer& tok, const Conversation& messages, bool add_generation_prompt);

// Checks a conversation: non-empty, known roles, valid UTF-8 content, and (require_assistant) at least one
// assistant turn. Throws Error prefixed with `where` (e.g. "file.jsonl:12").
void validate_conversation(const Conversation& c, const std::string& where, bool require_assistant);

// Parses one JSONL line {"messages":[...]} (malformed JSON, missing/non-array "messages", non-object message,
// missing or non-string role/content -> Error prefixed with `where`), then validate_conversation.
Conversation parse_conversation_json(const std::string& line, const std::string& where, bool require_assistant);

// All conversations of a JSONL file (blank lines skipped); errors name "FILE:LINE". line_of (optional) gets
// the 1-based line of each conversation.
std::vector<Conversation> read_conversations_jsonl(const std::string& path, bool require_assistant = true,
                                                   std::vector<int64_t>* line_of = nullptr);

// A question/answer CSV with a header row (e.g. songys ChatbotData: Q,A,label): each row -> [user Q, assistant A].
// RFC 4180 quoting ("..." fields with "" escapes and embedded commas/newlines). Errors name "FILE:LINE" (wrong
// field count, empty question/answer, unterminated quote, missing column, invalid UTF-8). line_of as above.
std::vector<Conversation> read_qa_csv(const std::string& path, const std::string& q_column = "Q",
                                      const std::string& a_column = "A", std::vector<int64_t>* line_of = nullptr);

// A question/answer JSONL (e.g. the NHRCK counsel cases: {"상담 내용": Q, "원본 상담 답변": A}): each non-blank line's
// string fields q_field, a_field -> [user Q, assistant A]. Errors name "FILE:LINE". line_of as above.
std::vector<Conversation> read_qa_jsonl(const std::string& path, const std::string& q_field,
                                        const std::string& a_field, std::vector<int64_t>* line_of = nullptr);

}  // namespace beop
