// RFC 4180 CSV parsing; see csv.h.
#include "src/csv.h"

#include "src/common.h"

namespace beop {

std::vector<std::vector<std::string>> parse_csv(const std::string& text, const std::string& where,
                                                std::vector<int64_t>* line_of) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  int64_t line = 1, row_line = 1;
  size_t i = 0;
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) i = 3;  // UTF-8 byte-order mark
  bool in_row = false;
  auto end_row = [&]() {
    row.push_back(std::move(field));
    field.clear();
    rows.push_back(std::move(row));
    row.clear();
    if (line_of) line_of->push_back(row_line);
    in_row = false;
  };
  while (i < text.size()) {
    if (!in_row) row_line = line, in_row = true;
    char c = text[i];
    if (c == '"' && field.empty()) {
      // Quoted field: runs to the closing quote; "" is a literal quote; may span lines.
      const int64_t start_line = line;
      i++;
      for (;;) {
        if (i >= text.size()) fail(where, ":", start_line, ": unterminated quoted field");
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (text[i] == '\n') line++;
        field += text[i++];
      }
      if (i < text.size() && text[i] != ',' && text[i] != '\n' && text[i] != '\r')
        fail(where, ":", line, ": unexpected character after a closing quote");
      continue;
    }
    if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
      i++;
    } else if (c == '\r' || c == '\n') {
      i += (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ? 2 : 1;
      end_row();
      line++;
    } else {
      field += c;
      i++;
    }
  }
  if (in_row) end_row();
  return rows;
}

}  // namespace beop
