// Corpus files -> documents, the unit `prep` encodes (one <|end_of_text|> after each) and splits train/val by.
//
//   .txt / .md   doc_split "file" (default): the whole file is one document.
//                doc_split "blank": one document per block of lines separated by blank (whitespace-only) lines;
//                the block's lines are joined with "\n".
//                doc_split "line": one document per non-blank line (sentence-per-line corpora).
//   .jsonl       one document per non-empty line: the JSON object's string field(s) `fields` (several joined
//                with "\n\n", in the order given; every one must be present and a string).
//   .tsv         one document per non-empty line: column `column` (0-based) of the tab-separated fields;
//                `tsv_header` skips the first line.
// Documents that are empty or whitespace-only are dropped. Errors (one line, naming the file, and the line or
// byte offset): unreadable file, invalid UTF-8 ("FILE: invalid UTF-8 at byte offset N"), bad JSON, missing or
// non-string field, too few TSV columns, unknown extension, a file that yields no documents (empty source).
#pragma once
#include <string>
#include <vector>

namespace beop::prep {

struct DocOptions {
  std::string doc_split = "file";           // "file", "blank" or "line" (.txt/.md)
  std::vector<std::string> fields = {"text"};  // .jsonl
  int column = 0;                           // .tsv, 0-based
  bool tsv_header = false;                  // .tsv
};

std::vector<std::string> read_documents(const std::string& file, const DocOptions& opt);

}  // namespace beop::prep
