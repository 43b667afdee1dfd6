// src/hash.h: FNV-1a 64. Its values are in files on disk (loader states, retrieval indexes, shuffle keys), so
// they are pinned to the reference vectors of the FNV specification.
#include <doctest/doctest.h>

#include <string>

#include "src/hash.h"

using namespace beop;

TEST_CASE("fnv1a64 matches the published FNV-1a 64-bit test vectors") {
  CHECK(fnv1a64("") == 14695981039346656037ull);  // the offset basis
  CHECK(fnv1a64("a") == 0xaf63dc4c8601ec8cull);
  CHECK(fnv1a64("foobar") == 0x85944171f73967e8ull);
  // Bytes, not characters: a NUL inside and a high byte both count.
  CHECK(fnv1a64(std::string("a\0b", 3)) != fnv1a64("ab"));
  CHECK(fnv1a64("\xff") == ((14695981039346656037ull ^ 0xffull) * 1099511628211ull));
}
