// UTF-8 validation, decoding and encoding. See utf8.h for the bad-input policies.
#include "src/utf8.h"

#include <cstdio>

#include "src/common.h"

namespace beop {

size_t utf8_invalid_offset(std::string_view sv) {
  const auto* s = reinterpret_cast<const uint8_t*>(sv.data());
  const size_t n = sv.size();
  size_t i = 0;
  while (i < n) {
    // ASCII fast path: 8 bytes at a time while none has the high bit set.
    while (i + 8 <= n) {
      uint64_t w;
      __builtin_memcpy(&w, s + i, 8);
      if (w & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= n) break;
    const uint8_t c = s[i];
    if (c < 0x80) { i++; continue; }
    int len;
    uint32_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte (excludes overlongs and surrogates)
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) { len = 3; lo = 0xA0; }
    else if (c == 0xED) { len = 3; hi = 0x9F; }
    else if (c >= 0xE1 && c <= 0xEF) len = 3;
    else if (c == 0xF0) { len = 4; lo = 0x90; }
    else if (c == 0xF4) { len = 4; hi = 0x8F; }
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else return i;  // 0x80..0xC1 (continuation or overlong lead) or 0xF5..0xFF
    if (i + len > n) return i;
    if (s[i + 1] < lo || s[i + 1] > hi) return i;
    for (int k = 2; k < len; k++)
      if ((s[i + k] & 0xC0) != 0x80) return i;
    i += len;
  }
  return std::string::npos;
}

namespace {
// "invalid UTF-8 at byte offset N (byte 0xXX)", the tail of every strict-policy error.
std::string invalid_at(std::string_view s, size_t off) {
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02X", unsigned(uint8_t(s[off])));
  return cat("invalid UTF-8 at byte offset ", off, " (byte ", hex, ")");
}
}  // namespace

void utf8_check(std::string_view s, const std::string& what) {
  const size_t off = utf8_invalid_offset(s);
  if (off != std::string::npos) fail(what, ": ", invalid_at(s, off));
}

uint32_t utf8_decode_at(const char* sp, size_t i, int* len) {
  const auto* s = reinterpret_cast<const uint8_t*>(sp) + i;
  const uint8_t c = s[0];
  if (c < 0x80) { *len = 1; return c; }
  if (c < 0xE0) { *len = 2; return (uint32_t(c & 0x1F) << 6) | (s[1] & 0x3F); }
  if (c < 0xF0) { *len = 3; return (uint32_t(c & 0x0F) << 12) | (uint32_t(s[1] & 0x3F) << 6) | (s[2] & 0x3F); }
  *len = 4;
  return (uint32_t(c & 0x07) << 18) | (uint32_t(s[1] & 0x3F) << 12) | (uint32_t(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
}

void utf8_append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

std::vector<char32_t> utf8_decode(std::string_view s, Utf8Bad bad) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t off = utf8_invalid_offset(s.substr(i));
    const size_t good_end = off == std::string::npos ? s.size() : i + off;
    while (i < good_end) {  // the valid stretch
      int len;
      out.push_back(utf8_decode_at(s.data(), i, &len));
      i += size_t(len);
    }
    if (i == s.size()) break;
    if (bad == Utf8Bad::kThrow) fail(invalid_at(s, i));
    out.push_back(0xFFFD);
    i++;
  }
  return out;
}

std::string utf8_encode(const char32_t* first, const char32_t* last) {
  std::string out;
  for (; first != last; ++first) utf8_append(out, *first);
  return out;
}

}  // namespace beop
