// Checksums and text encodings of binary data, shared by the file formats: CRC32 (the checksum of every
// checkpoint payload and header) and base64 (binary state inside JSON, e.g. the loader state in state.json).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace beop {

// IEEE 802.3 CRC32, zlib's crc32(): crc32(b, n2, crc32(a, n1)) is the CRC of a followed by b.
uint32_t crc32(const void* data, size_t bytes, uint32_t crc = 0);

// Standard base64 (RFC 4648 alphabet, '=' padding). decode throws Error naming `what` on bad input.
std::string base64_encode(const std::string& bytes);
std::string base64_decode(const std::string& text, const std::string& what);

}  // namespace beop
