// trim and split; see text.h.
#include "src/text.h"

namespace beop {

std::string trim(std::string_view s, std::string_view space) {
  const size_t a = s.find_first_not_of(space);
  if (a == std::string_view::npos) return "";
  return std::string(s.substr(a, s.find_last_not_of(space) - a + 1));
}

bool is_blank(std::string_view s, std::string_view space) {
  return s.find_first_not_of(space) == std::string_view::npos;
}

std::vector<std::string> split(std::string_view s, char sep, Empty empty) {
  std::vector<std::string> out;
  for (size_t a = 0; a <= s.size();) {
    size_t b = s.find(sep, a);
    if (b == std::string_view::npos) b = s.size();
    if (b > a || empty == Empty::kKeep) out.emplace_back(s.substr(a, b - a));
    a = b + 1;
  }
  return out;
}

std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> out = split(text, '\n', Empty::kKeep);
  for (std::string& l : out)
    if (!l.empty() && l.back() == '\r') l.pop_back();
  if (!out.empty() && out.back().empty()) out.pop_back();
  return out;
}

}  // namespace beop
