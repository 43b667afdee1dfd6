// JSON Lines reading, the one reader for every *.jsonl beop takes in (corpora, eval tasks, prep inputs, chat
// data). One object per line; blank lines (only ASCII whitespace) are skipped; line numbers are 1-based and
// count every line, so errors read "PATH:LINE: ..." and point at the line an editor shows:
//   PATH:LINE: invalid UTF-8 at byte offset N of the line
//   PATH:LINE: malformed JSON: <parser message>
//   PATH:LINE: not a JSON object
// Json is nlohmann::json (keys sorted) or nlohmann::ordered_json (keys in file order); both are instantiated
// in jsonl.cpp.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace beop {

namespace detail {
template <class T>
struct NoDeduce { using type = T; };  // keeps Json from being deduced from a lambda (it cannot be)
}  // namespace detail

template <class Json>
using JsonlFn = typename detail::NoDeduce<std::function<void(const Json& object, int line)>>::type;

// One line as a JSON object; errors are prefixed with `where` (e.g. "file.jsonl:12").
template <class Json = nlohmann::json>
Json parse_jsonl_line(std::string_view line, const std::string& where);

// fn(object, line) for every non-blank line of `text`; `name` (a path) prefixes the errors. Strict (errors ==
// nullptr): the first bad line throws. Lenient: a line whose parse or fn throws Error is skipped and the
// message appended to *errors (I/O errors still throw).
template <class Json = nlohmann::json>
void for_each_jsonl_text(std::string_view text, const std::string& name, const JsonlFn<Json>& fn,
                         std::vector<std::string>* errors = nullptr);

// Reads `path` and calls fn(object, line) for every non-blank line; errors name `shown` (default: path).
template <class Json = nlohmann::json>
void for_each_jsonl(const std::string& path, const JsonlFn<Json>& fn, const std::string& shown = "",
                    std::vector<std::string>* errors = nullptr);

// j[key] as a string; Error "WHERE: missing or non-string field 'KEY'" otherwise.
template <class Json = nlohmann::json>
std::string string_field(const Json& j, const char* key, const std::string& where);

extern template std::string string_field(const nlohmann::json&, const char*, const std::string&);
extern template std::string string_field(const nlohmann::ordered_json&, const char*, const std::string&);
extern template nlohmann::json parse_jsonl_line(std::string_view, const std::string&);
extern template nlohmann::ordered_json parse_jsonl_line(std::string_view, const std::string&);
extern template void for_each_jsonl_text<nlohmann::json>(std::string_view, const std::string&,
                                                         const JsonlFn<nlohmann::json>&, std::vector<std::string>*);
extern template void for_each_jsonl_text<nlohmann::ordered_json>(std::string_view, const std::string&,
                                                                 const JsonlFn<nlohmann::ordered_json>&,
                                                                 std::vector<std::string>*);
extern template void for_each_jsonl<nlohmann::json>(const std::string&, const JsonlFn<nlohmann::json>&,
                                                    const std::string&, std::vector<std::string>*);
extern template void for_each_jsonl<nlohmann::ordered_json>(const std::string&,
                                                            const JsonlFn<nlohmann::ordered_json>&,
                                                            const std::string&, std::vector<std::string>*);

}  // namespace beop
