// FNV-1a 64-bit, the one string hash of beop's data formats: it keys source names in shuffles and splits and
// checksums the mixture-loader state and the retrieval index, so its output is part of files on disk.
#pragma once
#include <cstdint>
#include <string_view>

namespace beop {

inline uint64_t fnv1a64(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;  // offset basis 14695981039346656037
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;  // prime 2^40 + 2^8 + 0xb3
  return h;
}

}  // namespace beop
