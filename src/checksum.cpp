// CRC32 (slicing-by-8) and base64; see checksum.h.
#include "src/checksum.h"

#include <cstring>

#include "src/common.h"

namespace beop {

namespace {

// CRC32 (IEEE, reflected, poly 0xEDB88320), slicing-by-8: ~8 bytes per table round, so checksumming a
// multi-GB payload costs seconds, not minutes.
struct CrcTables {
  uint32_t t[8][256];
  CrcTables() {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
      for (int s = 1; s < 8; s++) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
  }
};
const CrcTables& crc_tables() {
  static const CrcTables tables;
  return tables;
}

}  // namespace

uint32_t crc32(const void* data, size_t bytes, uint32_t crc) {
  const auto& T = crc_tables().t;
  const unsigned char* p = static_cast<const unsigned char*>(data);
  uint32_t c = ~crc;
  while (bytes >= 8) {
    uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + 4, 4);
    lo ^= c;
    c = T[7][lo & 0xFF] ^ T[6][(lo >> 8) & 0xFF] ^ T[5][(lo >> 16) & 0xFF] ^ T[4][lo >> 24] ^ T[3][hi & 0xFF] ^
        T[2][(hi >> 8) & 0xFF] ^ T[1][(hi >> 16) & 0xFF] ^ T[0][hi >> 24];
    p += 8;
    bytes -= 8;
  }
  while (bytes--) c = T[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
  return ~c;
}

static const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(const std::string& in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t v = (uint8_t)in[i] << 16 | (uint8_t)in[i + 1] << 8 | (uint8_t)in[i + 2];
    for (int k = 3; k >= 0; k--) out += kB64[(v >> (6 * k)) & 63];
  }
  if (size_t rem = in.size() - i) {
    uint32_t v = (uint8_t)in[i] << 16 | (rem == 2 ? (uint8_t)in[i + 1] << 8 : 0);
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += rem == 2 ? kB64[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string base64_decode(const std::string& text, const std::string& what) {
  if (text.size() % 4 != 0) fail(what, ": base64 length ", text.size(), " is not a multiple of 4");
  auto val = [&](char c, size_t pos) -> uint32_t {
    const char* p = c ? std::strchr(kB64, c) : nullptr;
    if (!p) fail(what, ": invalid base64 character at offset ", pos);
    return uint32_t(p - kB64);
  };
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int pad = 0;
    if (last && text[i + 3] == '=') pad = text[i + 2] == '=' ? 2 : 1;
    uint32_t v = val(text[i], i) << 18 | val(text[i + 1], i + 1) << 12;
    if (pad < 2) v |= val(text[i + 2], i + 2) << 6;
    if (pad < 1) v |= val(text[i + 3], i + 3);
    out += char(v >> 16);
    if (pad < 2) out += char((v >> 8) & 0xFF);
    if (pad < 1) out += char(v & 0xFF);
  }
  return out;
}

}  // namespace beop
