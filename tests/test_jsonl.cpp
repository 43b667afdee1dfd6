// src/jsonl.h: the one JSONL reader. Blank lines skipped, line numbers count every line, errors "PATH:LINE: ...",
// sorted or ordered objects, strict and collecting modes, and string_field.
#include <doctest/doctest.h>

#include "tests/test_util.h"

#include <utility>

#include "src/common.h"
#include "src/io.h"
#include "src/jsonl.h"

using namespace beop;
using beop::test::error_of;

namespace {
std::vector<std::pair<int, std::string>> read_text(const std::string& text) {
  std::vector<std::pair<int, std::string>> out;
  for_each_jsonl_text(text, "f.jsonl", [&](const nlohmann::json& j, int line) { out.push_back({line, j.dump()}); });
  return out;
}
}  // namespace

TEST_CASE("objects with their 1-based line numbers; blank lines skipped but counted") {
  auto got = read_text("{\"a\":1}\n\n  \t\r\n{\"b\":\"가\"}\r\n\f\n{}");
  REQUIRE(got.size() == 3);
  CHECK(got[0] == std::make_pair(1, std::string("{\"a\":1}")));
  CHECK(got[1] == std::make_pair(4, std::string("{\"b\":\"가\"}")));
  CHECK(got[2] == std::make_pair(6, std::string("{}")));
  CHECK(read_text("").empty());
  CHECK(read_text("\n\n").empty());
}

TEST_CASE("errors name the path and the line") {
  CHECK(error_of([] { read_text("{}\n[1,2]\n"); }) == "f.jsonl:2: not a JSON object");
  CHECK(error_of([] { read_text("\n\n{\"a\":\n"); }).rfind("f.jsonl:3: malformed JSON: ", 0) == 0);
  CHECK(error_of([] { read_text("{}\n{\"a\":\"x\xFF\"}\n"); }) ==
        "f.jsonl:2: invalid UTF-8 at byte offset 7 of the line");
  CHECK(error_of([] { parse_jsonl_line("3", "w"); }) == "w: not a JSON object");
}

TEST_CASE("ordered_json keeps the file's key order, json sorts") {
  const std::string line = "{\"z\":1,\"a\":2}";
  CHECK(parse_jsonl_line<nlohmann::ordered_json>(line, "w").dump() == line);
  CHECK(parse_jsonl_line(line, "w").dump() == "{\"a\":2,\"z\":1}");
}

TEST_CASE("for_each_jsonl reads the file; `shown` replaces the path in messages; lenient mode collects") {
  const std::string path = "build/test_jsonl_tmp.jsonl";
  write_file_atomic(path, "{\"id\":\"a\"}\nnot json\n{\"id\":3}\n{\"id\":\"d\"}\n");
  CHECK(error_of([&] { for_each_jsonl(path, [](const nlohmann::json&, int) {}); })
            .rfind(path + ":2: malformed JSON: ", 0) == 0);
  CHECK(error_of([&] { for_each_jsonl(path, [](const nlohmann::json&, int) {}, "data/x.jsonl"); })
            .rfind("data/x.jsonl:2: ", 0) == 0);
  std::vector<std::string> ids, errors;
  for_each_jsonl(
      path, [&](const nlohmann::json& j, int line) { ids.push_back(string_field(j, "id", cat(path, ":", line))); },
      "", &errors);
  CHECK(ids == std::vector<std::string>{"a", "d"});
  REQUIRE(errors.size() == 2);
  CHECK(errors[0].rfind(path + ":2: malformed JSON: ", 0) == 0);
  CHECK(errors[1] == path + ":3: missing or non-string field 'id'");
  CHECK(error_of([] { for_each_jsonl("build/no_such_file.jsonl", [](const nlohmann::json&, int) {}); }) != "");
}
