// The prompt layouts of the study's recipes, in ONE place: training data (prep lawqa's conversation lines, prep
// chat --ref auto), chat, serve and eval all build their user turns with these functions, so the model sees
// byte-identical layouts when it learns and when it is asked (tests/test_prompt_paths.cpp checks the three paths).
//
//   format_reference_block(c, t)     = "[참조 조문] " + c + "\n" + t          (no trailing newline)
//   reference_blocks(refs)           = the blocks joined with "\n\n"
//   user_with_references(refs, q)    = reference_blocks(refs) + "\n\n[질문] " + q   (Q + Ref => A; no refs: q)
//   user_with_reference(c, t, q)     = user_with_references({{c, t}}, q)
//   answer_with_reference(a, c, t)   = a + "\n\n[근거 조문] " + c + "\n" + t    (Q => A + Ref)
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace beop::prompt {

// (citation, text) of one statute article or paragraph.
using Reference = std::pair<std::string, std::string>;

std::string format_reference_block(const std::string& citation, const std::string& text);
std::string reference_blocks(const std::vector<Reference>& refs);
std::string user_with_references(const std::vector<Reference>& refs, const std::string& question);
std::string user_with_reference(const std::string& citation, const std::string& text, const std::string& question);
std::string answer_with_reference(const std::string& answer, const std::string& citation, const std::string& text);

}  // namespace beop::prompt
