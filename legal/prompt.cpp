// The reference layouts (legal/prompt.h).
#include "legal/prompt.h"

namespace beop::prompt {

std::string format_reference_block(const std::string& citation, const std::string& text) {
  return "[참조 조문] " + citation + "\n" + text;
}

std::string reference_blocks(const std::vector<Reference>& refs) {
  std::string out;
  for (const Reference& r : refs) {
    if (!out.empty()) out += "\n\n";
    out += format_reference_block(r.first, r.second);
  }
  return out;
}

std::string user_with_references(const std::vector<Reference>& refs, const std::string& question) {
  // No reference found: the plain question (Q => A), never an empty reference header.
  if (refs.empty()) return question;
  return reference_blocks(refs) + "\n\n[질문] " + question;
}

std::string user_with_reference(const std::string& citation, const std::string& text, const std::string& question) {
  return user_with_references({{citation, text}}, question);
}

std::string answer_with_reference(const std::string& answer, const std::string& citation, const std::string& text) {
  return answer + "\n\n[근거 조문] " + citation + "\n" + text;
}

}  // namespace beop::prompt
