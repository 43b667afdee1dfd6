// src/csv.h: the one RFC 4180 CSV parser (chat Q,A files, KMMLU, ChatbotData).
#include <doctest/doctest.h>

#include "tests/test_util.h"

#include "src/common.h"
#include "src/csv.h"

using namespace beop;
using beop::test::error_of;
using Rows = std::vector<std::vector<std::string>>;

TEST_CASE("fields, quotes, escaped quotes, newlines inside quotes, and record line numbers") {
  std::vector<int64_t> line_of;
  const Rows rows = parse_csv("Q,A\n\"a, b\",\"say \"\"hi\"\"\"\n\"two\nlines\",x\r\nlast,", "f.csv", &line_of);
  CHECK(rows == Rows{{"Q", "A"}, {"a, b", "say \"hi\""}, {"two\nlines", "x"}, {"last", ""}});
  CHECK(line_of == std::vector<int64_t>{1, 2, 3, 5});
}

TEST_CASE("BOM skipped, no record after a final newline, a blank line is one empty field") {
  CHECK(parse_csv("\xEF\xBB\xBFQ,A\n", "f") == Rows{{"Q", "A"}});
  CHECK(parse_csv("", "f") == Rows{});
  CHECK(parse_csv("a\n\nb\n", "f") == Rows{{"a"}, {""}, {"b"}});
  CHECK(parse_csv("a\rb", "f") == Rows{{"a"}, {"b"}});  // a lone CR ends a record too
}

TEST_CASE("errors name the file and the line") {
  CHECK(error_of([] { parse_csv("a\n\"open\nstill", "f.csv"); }) == "f.csv:2: unterminated quoted field");
  CHECK(error_of([] { parse_csv("\"q\"x,1", "f.csv"); }) == "f.csv:1: unexpected character after a closing quote");
}
