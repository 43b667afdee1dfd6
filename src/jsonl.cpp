// JSON Lines reading with PATH:LINE errors; see jsonl.h.
#include "src/jsonl.h"

#include "src/common.h"
#include "src/io.h"
#include "src/text.h"
#include "src/utf8.h"

namespace beop {

template <class Json>
Json parse_jsonl_line(std::string_view line, const std::string& where) {
  // Checked first so the offset is of the line (the parser's own message gives neither).
  const size_t bad = utf8_invalid_offset(line);
  if (bad != std::string::npos) fail(where, ": invalid UTF-8 at byte offset ", bad, " of the line");
  Json j;
  try {
    j = Json::parse(line.begin(), line.end());
  } catch (const nlohmann::json::exception& e) {
    fail(where, ": malformed JSON: ", e.what());
  }
  if (!j.is_object()) fail(where, ": not a JSON object");
  return j;
}

template <class Json>
void for_each_jsonl_text(std::string_view text, const std::string& name, const JsonlFn<Json>& fn,
                         std::vector<std::string>* errors) {
  int line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    const std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    line_no++;
    if (is_blank(line, kAsciiSpace)) continue;
    try {
      fn(parse_jsonl_line<Json>(line, cat(name, ":", line_no)), line_no);
    } catch (const Error& e) {
      if (!errors) throw;
      errors->push_back(e.what());
    }
  }
}

template <class Json>
void for_each_jsonl(const std::string& path, const JsonlFn<Json>& fn, const std::string& shown,
                    std::vector<std::string>* errors) {
  for_each_jsonl_text<Json>(read_file(path), shown.empty() ? path : shown, fn, errors);
}

template <class Json>
std::string string_field(const Json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) fail(where, ": missing or non-string field '", key, "'");
  return it->template get<std::string>();
}

template std::string string_field(const nlohmann::json&, const char*, const std::string&);
template std::string string_field(const nlohmann::ordered_json&, const char*, const std::string&);
template nlohmann::json parse_jsonl_line(std::string_view, const std::string&);
template nlohmann::ordered_json parse_jsonl_line(std::string_view, const std::string&);
template void for_each_jsonl_text<nlohmann::json>(std::string_view, const std::string&,
                                                  const JsonlFn<nlohmann::json>&, std::vector<std::string>*);
template void for_each_jsonl_text<nlohmann::ordered_json>(std::string_view, const std::string&,
                                                          const JsonlFn<nlohmann::ordered_json>&,
                                                          std::vector<std::string>*);
template void for_each_jsonl<nlohmann::json>(const std::string&, const JsonlFn<nlohmann::json>&, const std::string&,
                                             std::vector<std::string>*);
template void for_each_jsonl<nlohmann::ordered_json>(const std::string&, const JsonlFn<nlohmann::ordered_json>&,
                                                     const std::string&, std::vector<std::string>*);

}  // namespace beop
