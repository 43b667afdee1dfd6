#include "data/prep/prep_docs.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "src/common.h"
#include "src/io.h"

namespace beop::prep {

namespace {

bool blank(const std::string& s) { return s.find_first_not_of(" \t\r\n\f\v") == std::string::npos; }

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

size_t first_invalid_utf8(const std::string& s) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
    unsigned c = p[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    int len;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07, min = 0x10000;
    else return i;  // stray continuation byte or 0xF8..0xFF
    if (i + len > n) return i;
    for (int k = 1; k < len; k++) {
      if ((p[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return std::string::npos;
}

std::vector<std::string> read_documents(const std::string& file, const DocOptions& opt) {
  std::string text = read_file(file);
  size_t bad = first_invalid_utf8(text);
  if (bad != std::string::npos)
  {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02X", (unsigned)(unsigned char)text[bad]);
    fail(file, ": invalid UTF-8 at byte offset ", bad, " (byte ", hex, ")");
  }
  std::vector<std::string> docs;
  std::string ext = extension(file);
  if (ext == "txt" || ext == "md") {
    if (opt.doc_split == "file") {
      if (!blank(text)) docs.push_back(text);
    } else if (opt.doc_split == "blank") {
      std::string cur;
      for_each_line(text, [&](const std::string& line, int) {
        if (blank(line)) {
          if (!blank(cur)) docs.push_back(cur);
          cur.clear();
        } else {
          if (!cur.empty()) cur += '\n';
          cur += line;
        }
      });
      if (!blank(cur)) docs.push_back(cur);
    } else if (opt.doc_split == "line") {
      for_each_line(text, [&](const std::string& line, int) {
        if (!blank(line)) docs.push_back(line);
      });
    } else {
      fail("unknown --doc-split '", opt.doc_split, "' (want file, blank or line)");
    }
  } else if (ext == "jsonl") {
    if (opt.fields.empty()) fail(file, ": no --field given");
    for_each_line(text, [&](const std::string& line, int ln) {
      if (blank(line)) return;
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const std::exception& e) {
        fail(file, ":", ln, ": invalid JSON: ", e.what());
      }
      if (!j.is_object()) fail(file, ":", ln, ": not a JSON object");
      std::string doc;
      for (size_t k = 0; k < opt.fields.size(); k++) {
        auto it = j.find(opt.fields[k]);
        if (it == j.end()) fail(file, ":", ln, ": no field '", opt.fields[k], "'");
        if (!it->is_string()) fail(file, ":", ln, ": field '", opt.fields[k], "' is not a string");
        if (k) doc += "\n\n";
        doc += it->get<std::string>();
      }
      size_t b = first_invalid_utf8(doc);  // \u escapes can spell lone surrogates
      if (b != std::string::npos) fail(file, ":", ln, ": invalid UTF-8 in the decoded text at offset ", b);
      if (!blank(doc)) docs.push_back(std::move(doc));
    });
  } else if (ext == "tsv") {
    if (opt.column < 0) fail("--column ", opt.column, " must be >= 0");
    for_each_line(text, [&](const std::string& line, int ln) {
      if (ln == 1 && opt.tsv_header) return;
      if (blank(line)) return;
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
      if (!blank(cols[opt.column])) docs.push_back(cols[opt.column]);
    });
  } else {
    fail(file, ": unknown input type '.", ext, "' (want .txt, .md, .jsonl or .tsv)");
  }
  if (docs.empty()) fail(file, ": no documents (empty source)");
  return docs;
}

}  // namespace beop::prep
