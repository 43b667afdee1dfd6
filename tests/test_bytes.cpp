// src/bytes.h: put_* writes little-endian bytes (checked byte by byte, not only by a round trip), ByteReader
// reads them back in order, and every short read throws one line naming the thing, the field and the offset.
#include <doctest/doctest.h>

#include <functional>
#include <string>

#include "src/bytes.h"
#include "src/common.h"

using namespace beop;

namespace {
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}
}  // namespace

TEST_CASE("put_* appends little-endian bytes") {
  std::string o;
  put_u16(o, 0x0102);
  put_u32(o, 0x03040506u);
  put_u64(o, 0x0708090a0b0c0d0eull);
  put_f32(o, 1.0f);  // 0x3f800000
  const std::string want("\x02\x01\x06\x05\x04\x03\x0e\x0d\x0c\x0b\x0a\x09\x08\x07\x00\x00\x80\x3f", 18);
  CHECK(o == want);
  CHECK(load_u32(o.data() + 2) == 0x03040506u);
  CHECK(load_u64(o.data() + 6) == 0x0708090a0b0c0d0eull);
  patch_u32(o, 2, 0xdeadbeefu);
  CHECK(load_u32(o.data() + 2) == 0xdeadbeefu);
  CHECK(o.size() == 18);
  CHECK(error_of([&] { patch_u32(o, 15, 1); }) == "patch_u32: offset 15 is outside the 18 bytes");
}

TEST_CASE("ByteReader reads fields in order and tracks its position") {
  std::string o;
  put_u32(o, 7);
  put_u64(o, 1ull << 40);
  put_f32(o, -2.5f);
  o += "name";
  ByteReader r(o, "test state");
  CHECK(r.size() == 20);
  CHECK(r.u32("version") == 7);
  CHECK(r.u64("rows") == (1ull << 40));
  CHECK(r.f32("lr") == -2.5f);
  CHECK(r.pos() == 16);
  CHECK(r.str(4, "name") == "name");
  CHECK(r.left() == 0);
  r.seek(4);
  CHECK(r.u64() == (1ull << 40));
}

TEST_CASE("ByteReader: a short read names the thing, the field, the offset and what was left") {
  std::string o;
  put_u32(o, 1);
  o += "ab";
  ByteReader r(o, "x.bin header");
  r.u32("magic");
  CHECK(error_of([&] { r.u32("count"); }) == "x.bin header truncated: 'count' at offset 4 needs 4 bytes, 2 left");
  CHECK(r.pos() == 4);  // a failed read consumes nothing
  CHECK(error_of([&] { r.str(3, "name"); }) == "x.bin header truncated: 'name' at offset 4 needs 3 bytes, 2 left");
  CHECK(r.str(2, "name") == "ab");
  CHECK(error_of([&] { r.u64(); }) == "x.bin header truncated: 'field' at offset 6 needs 8 bytes, 0 left");
  CHECK(error_of([&] { r.seek(7); }) == "x.bin header: seek to offset 7 past the end (6 bytes)");
  // A huge length (a corrupt length field) is a clean error, not an overflow past the end.
  ByteReader r2(o, "s");
  volatile size_t huge = ~size_t(0);  // volatile: g++ would warn about the (never executed) huge copy
  CHECK(error_of([&] { r2.str(huge, "blob"); }).find("s truncated: 'blob' at offset 0 needs") == 0);
}
