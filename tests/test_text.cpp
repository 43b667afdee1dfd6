// src/text.h: trim, is_blank, split and split_lines.
#include <doctest/doctest.h>

#include "src/text.h"

using namespace beop;
using V = std::vector<std::string>;

TEST_CASE("trim strips the given ASCII whitespace from both ends only") {
  CHECK(trim("  a b \t\r\n") == "a b");
  CHECK(trim("") == "");
  CHECK(trim(" \t\r\n ") == "");
  CHECK(trim("x") == "x");
  CHECK(trim("\v x \f") == "\v x \f");  // default set: spaces, tabs, CR, LF
  CHECK(trim("\v x \f", kAsciiSpace) == "x");
  CHECK(trim("\u3000가\u3000") == "\u3000가\u3000");  // Unicode spaces are content
  CHECK(trim("--a--", "-") == "a");
}

TEST_CASE("is_blank") {
  CHECK(is_blank(""));
  CHECK(is_blank(" \t\r\n"));
  CHECK_FALSE(is_blank(" . "));
  CHECK_FALSE(is_blank("\f"));
  CHECK(is_blank("\f\v", kAsciiSpace));
}

TEST_CASE("split drops or keeps empty pieces") {
  CHECK(split("a,b,c", ',') == V{"a", "b", "c"});
  CHECK(split("a,,b,", ',') == V{"a", "b"});
  CHECK(split("", ',') == V{});
  CHECK(split(",", ',') == V{});
  CHECK(split("a,,b,", ',', Empty::kKeep) == V{"a", "", "b", ""});
  CHECK(split("", ',', Empty::kKeep) == V{""});
  CHECK(split(" a , b ", ',') == V{" a ", " b "});  // no trimming
  CHECK(split("x", ',') == V{"x"});
}

TEST_CASE("split_lines: LF or CRLF, no empty last line after a final newline") {
  CHECK(split_lines("a\nb") == V{"a", "b"});
  CHECK(split_lines("a\r\nb\r\n") == V{"a", "b"});
  CHECK(split_lines("a\n\nb\n") == V{"a", "", "b"});
  CHECK(split_lines("") == V{});
  CHECK(split_lines("\n") == V{""});
  CHECK(split_lines("a\n\r") == V{"a"});     // a lone CR at the end is an empty line, dropped as the last
  CHECK(split_lines("a\rb\n") == V{"a\rb"});  // only a CR before LF is a line end
}
