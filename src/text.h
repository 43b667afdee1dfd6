// Plain-text helpers on bytes (ASCII whitespace and separators only; UTF-8 safe because no multi-byte sequence
// contains an ASCII byte): trim and split. Unicode whitespace is not stripped on purpose: data formats and
// flags delimit with ASCII, and Unicode spaces inside text are content.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace beop {

constexpr std::string_view kLineSpace = " \t\r\n";        // trim's default: spaces, tabs and both line ends
constexpr std::string_view kAsciiSpace = " \t\n\v\f\r";   // C isspace() (the statute parser's whitespace)

// s without leading and trailing characters from `space`.
std::string trim(std::string_view s, std::string_view space = kLineSpace);
// True when s holds only characters from `space` (or nothing).
bool is_blank(std::string_view s, std::string_view space = kLineSpace);

enum class Empty { kDrop, kKeep };
// The pieces of s between `sep`s: "a,,b" -> {"a", "b"} (kDrop) or {"a", "", "b"} (kKeep); "" -> {} or {""}.
std::vector<std::string> split(std::string_view s, char sep, Empty empty = Empty::kDrop);

// The lines of a text file: split on LF, one CR before each LF dropped (CRLF files), and no empty last line
// after a final newline ("a\r\nb\n" -> {"a", "b"}; "" -> {}).
std::vector<std::string> split_lines(std::string_view text);

}  // namespace beop
