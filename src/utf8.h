// UTF-8: validation, decoding and encoding, the one copy every part of beop uses. Validity is the Unicode
// standard's (RFC 3629): overlong forms, surrogates (U+D800..U+DFFF), code points above U+10FFFF and sequences
// cut off by the end of the string are invalid.
//
// Bad-input policies, one per caller need:
//   utf8_check / Utf8Bad::kThrow  throw Error naming the byte offset (input that must be valid: training text,
//                                  statute files, ROUGE references and candidates)
//   Utf8Bad::kReplace             each byte that does not start a valid sequence decodes to U+FFFD and decoding
//                                  resumes at the next byte (user queries to the retriever must never throw)
//   utf8_decode_at                no checks at all: for inner loops over text that was validated before
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace beop {

// Offset of the first byte that does not start a valid UTF-8 sequence, or std::string::npos if all valid.
size_t utf8_invalid_offset(std::string_view s);
// Throws Error "<what>: invalid UTF-8 at byte offset N (byte 0xXX)" when s is not valid UTF-8.
void utf8_check(std::string_view s, const std::string& what);

// Decodes the code point at s[i] of a string already known to be valid; *len = its byte length (1..4).
uint32_t utf8_decode_at(const char* s, size_t i, int* len);
// Appends the UTF-8 encoding of cp (cp must be a Unicode scalar value: no surrogate, <= U+10FFFF).
void utf8_append(std::string& out, uint32_t cp);

enum class Utf8Bad {
  kThrow,    // Error "invalid UTF-8 at byte offset N (byte 0xXX)"
  kReplace,  // U+FFFD per bad byte
};
// The code points of s, under the given bad-input policy.
std::vector<char32_t> utf8_decode(std::string_view s, Utf8Bad bad = Utf8Bad::kThrow);
// UTF-8 of the code points [first, last).
std::string utf8_encode(const char32_t* first, const char32_t* last);

}  // namespace beop
