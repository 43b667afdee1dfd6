#include "data/prep/prep_docs.h"


#include <nlohmann/json.hpp>

#include "src/common.h"
#include "src/io.h"
#include "src/jsonl.h"
#include "src/text.h"
#include "src/utf8.h"

namespace beop::prep {

namespace {

std::string extension(const std::string& file) {
  size_t slash = file.find_last_of('/'), dot = file.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  return file.substr(dot + 1);
}

// Calls fn(line, line_number) for every line (without its "\n"); line numbers are 1-based.
template <typename F>
void for_each_line(const std::string& text, F fn) {
  size_t a = 0;
  int n = 0;
  while (a < text.size()) {
    size_t b = text.find('\n', a);
    if (b == std::string::npos) b = text.size();
    fn(text.substr(a, b - a), ++n);
    a = b + 1;
  }
}

}  // namespace

std::vector<std::string> read_documents(const std::string& file, const DocOptions& opt) {
  std::string text = read_file(file);
  utf8_check(text, file);
  std::vector<std::string> docs;
  std::string ext = extension(file);
  if (ext == "txt" || ext == "md") {
    if (opt.doc_split == "file") {
      if (!is_blank(text, kAsciiSpace)) docs.push_back(text);
    } else if (opt.doc_split == "blank") {
      std::string cur;
      for_each_line(text, [&](const std::string& line, int) {
        if (is_blank(line, kAsciiSpace)) {
          if (!is_blank(cur, kAsciiSpace)) docs.push_back(cur);
          cur.clear();
        } else {
          if (!cur.empty()) cur += '\n';
          cur += line;
        }
      });
      if (!is_blank(cur, kAsciiSpace)) docs.push_back(cur);
    } else if (opt.doc_split == "line") {
      for_each_line(text, [&](const std::string& line, int) {
        if (!is_blank(line, kAsciiSpace)) docs.push_back(line);
      });
    } else {
      fail("unknown --doc-split '", opt.doc_split, "' (want file, blank or line)");
    }
  } else if (ext == "jsonl") {
    if (opt.fields.empty()) fail(file, ": no --field given");
    for_each_jsonl_text(text, file, [&](const nlohmann::json& j, int ln) {
      std::string doc;
      for (size_t k = 0; k < opt.fields.size(); k++) {
        auto it = j.find(opt.fields[k]);
        if (it == j.end()) fail(file, ":", ln, ": no field '", opt.fields[k], "'");
        if (!it->is_string()) fail(file, ":", ln, ": field '", opt.fields[k], "' is not a string");
        if (k) doc += "\n\n";
        doc += it->get<std::string>();
      }
      size_t b = utf8_invalid_offset(doc);  // \u escapes can spell lone surrogates
      if (b != std::string::npos) fail(file, ":", ln, ": invalid UTF-8 in the decoded text at offset ", b);
      if (!is_blank(doc, kAsciiSpace)) docs.push_back(std::move(doc));
    });
  } else if (ext == "tsv") {
    if (opt.column < 0) fail("--column ", opt.column, " must be >= 0");
    for_each_line(text, [&](const std::string& line, int ln) {
      if (ln == 1 && opt.tsv_header) return;
      if (is_blank(line, kAsciiSpace)) return;
      std::string l = line;
      if (!l.empty() && l.back() == '\r') l.pop_back();
      std::vector<std::string> cols;
      size_t a = 0;
      while (true) {
        size_t b = l.find('\t', a);
        cols.push_back(l.substr(a, b == std::string::npos ? std::string::npos : b - a));
        if (b == std::string::npos) break;
        a = b + 1;
      }
      if ((size_t)opt.column >= cols.size())
        fail(file, ":", ln, ": ", cols.size(), " column(s), --column ", opt.column, " asked (0-based)");
      if (!is_blank(cols[opt.column], kAsciiSpace)) docs.push_back(cols[opt.column]);
    });
  } else {
    fail(file, ": unknown input type '.", ext, "' (want .txt, .md, .jsonl or .tsv)");
  }
  if (docs.empty()) fail(file, ": no documents (empty source)");
  return docs;
}

}  // namespace beop::prep
