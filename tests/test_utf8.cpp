// src/utf8.h: the one UTF-8 validator/decoder/encoder. Validity per RFC 3629 (the same ill-formed sequences
// Python's bytes.decode('utf-8') rejects), and the two bad-input policies: kThrow names the byte offset,
// kReplace gives one U+FFFD per bad byte.
#include <doctest/doctest.h>

#include "tests/test_util.h"

#include "src/common.h"
#include "src/utf8.h"

using namespace beop;
using beop::test::error_of;
using U = std::vector<char32_t>;

TEST_CASE("utf8_invalid_offset: ill-formed sequences from the UTF-8 definition") {
  CHECK(utf8_invalid_offset("abc 한글") == std::string::npos);
  CHECK(utf8_invalid_offset("") == std::string::npos);
  CHECK(utf8_invalid_offset("ab\xC0\x80") == 2);        // overlong NUL
  CHECK(utf8_invalid_offset("\xE0\x80\xAF") == 0);      // overlong '/', 3 bytes
  CHECK(utf8_invalid_offset("a\xED\xA0\x80") == 1);     // surrogate U+D800
  CHECK(utf8_invalid_offset("\xF4\x90\x80\x80") == 0);  // > U+10FFFF
  CHECK(utf8_invalid_offset("\xF5\x80\x80\x80") == 0);  // lead byte past U+10FFFF
  CHECK(utf8_invalid_offset("ok\xE2\x82") == 2);        // cut off at the end
  CHECK(utf8_invalid_offset("\x80") == 0);              // stray continuation byte
  CHECK(utf8_invalid_offset("\xE2\x28\xA1") == 0);      // bad continuation: the sequence's lead is named
  CHECK(utf8_invalid_offset("\xF0\x9F\x98\x80!") == std::string::npos);  // U+1F600
  CHECK(utf8_invalid_offset("\xF4\x8F\xBF\xBF") == std::string::npos);   // U+10FFFF, the last code point
  CHECK(utf8_invalid_offset("123456789\xFF") == 9);  // past the 8-byte ASCII fast path
}

TEST_CASE("utf8_check names what, the offset and the byte") {
  CHECK_NOTHROW(utf8_check("가나다", "x"));
  CHECK(error_of([] { utf8_check("가\xFF", "file.txt"); }) == "file.txt: invalid UTF-8 at byte offset 3 (byte 0xFF)");
}

TEST_CASE("utf8_decode: code points of valid text, both policies agree") {
  const U want = {U'a', U'가', U'\u00E9', U'\U0001F600', U'\u2460'};
  CHECK(utf8_decode("a가é😀①") == want);
  CHECK(utf8_decode("a가é😀①", Utf8Bad::kReplace) == want);
  CHECK(utf8_decode("").empty());
}

TEST_CASE("utf8_decode kThrow: Error naming the byte offset of the first bad byte") {
  CHECK(error_of([] { utf8_decode("ab\xC3"); }) == "invalid UTF-8 at byte offset 2 (byte 0xC3)");
  CHECK(error_of([] { utf8_decode("가\xED\xA0\x80"); }) == "invalid UTF-8 at byte offset 3 (byte 0xED)");
  CHECK(error_of([] { utf8_decode("\xC0\x80"); }) == "invalid UTF-8 at byte offset 0 (byte 0xC0)");
}

TEST_CASE("utf8_decode kReplace: U+FFFD per bad byte, decoding resumes at the next byte") {
  CHECK(utf8_decode("가\xFF나", Utf8Bad::kReplace) == U{U'가', 0xFFFD, U'나'});
  // A cut-off 3-byte sequence before ASCII: its two bytes are two replacements, the ASCII survives.
  CHECK(utf8_decode("\xE5\xA4x", Utf8Bad::kReplace) == U{0xFFFD, 0xFFFD, U'x'});
  // Overlongs and surrogates are replaced byte by byte (they never decode to the character they spell).
  CHECK(utf8_decode("\xC1\x81", Utf8Bad::kReplace) == U{0xFFFD, 0xFFFD});
  CHECK(utf8_decode("\xED\xA0\x80z", Utf8Bad::kReplace) == U{0xFFFD, 0xFFFD, 0xFFFD, U'z'});
  CHECK(utf8_decode("ab\xE2\x82", Utf8Bad::kReplace) == U{U'a', U'b', 0xFFFD, 0xFFFD});
}

TEST_CASE("utf8_decode_at / utf8_append / utf8_encode round-trip every length") {
  for (char32_t cp : {U'\0', U'A', U'\u007F', U'\u0080', U'\u07FF', U'\u0800', U'가', U'\uFFFD', U'\U00010000',
                      U'\U0010FFFF'}) {
    std::string s;
    utf8_append(s, cp);
    CHECK(utf8_invalid_offset(s) == std::string::npos);
    int len = 0;
    CHECK(utf8_decode_at(s.data(), 0, &len) == cp);
    CHECK(size_t(len) == s.size());
  }
  const U cps = {U'법', U' ', U'\U0001F600', U'1'};
  CHECK(utf8_encode(cps.data(), cps.data() + cps.size()) == "법 😀1");
  CHECK(utf8_encode(cps.data(), cps.data()).empty());
}
