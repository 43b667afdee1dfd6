// CSV (RFC 4180), the one parser for every CSV beop reads (Q,A chat data, KMMLU, ChatbotData): fields separated
// by ',', optionally quoted with "" as an escaped quote (newlines allowed inside quotes), records ended by LF,
// CRLF or CR, a leading UTF-8 byte-order mark skipped. Every line is a record, so a blank line is a record of
// one empty field. Errors name "WHERE:LINE": an unterminated quoted field, a character after a closing quote.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace beop {

// The records of `text`; line_of[i] = the 1-based line where record i starts.
std::vector<std::vector<std::string>> parse_csv(const std::string& text, const std::string& where,
                                                std::vector<int64_t>* line_of = nullptr);

}  // namespace beop
