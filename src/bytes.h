// Little-endian binary fields in byte strings, for the project's own file formats (checkpoint headers, the
// mixture-loader state, the safetensors header length): put_* appends a field to a std::string, load_* reads
// one at a raw pointer, ByteReader reads them in sequence from a bounded buffer and throws a one-line Error on
// a short read instead of reading past the end.
//
//   std::string o;  put_u32(o, 7);  put_u64(o, n);
//   ByteReader r(o, "loader state");  uint32_t v = r.u32("version");  uint64_t n = r.u64("rows");
//
// Fields are copied in host byte order: every format here is little-endian, and so is every host this builds
// for (checked at compile time below), so no byte swapping is needed.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "src/common.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "beop's binary formats assume a little-endian host");

namespace beop {

inline void put_u16(std::string& o, uint16_t v) { o.append(reinterpret_cast<const char*>(&v), 2); }
inline void put_u32(std::string& o, uint32_t v) { o.append(reinterpret_cast<const char*>(&v), 4); }
inline void put_u64(std::string& o, uint64_t v) { o.append(reinterpret_cast<const char*>(&v), 8); }
inline void put_f32(std::string& o, float v) { o.append(reinterpret_cast<const char*>(&v), 4); }

// Overwrites the 4 bytes at `at` (a length or size field known only after what follows was appended).
inline void patch_u32(std::string& o, size_t at, uint32_t v) {
  BEOP_CHECK(at <= o.size() && o.size() - at >= 4, "patch_u32: offset ", at, " is outside the ", o.size(), " bytes");
  std::memcpy(&o[at], &v, 4);
}

// Unchecked reads at p (the caller has checked that the bytes are there).
inline uint32_t load_u32(const void* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint64_t load_u64(const void* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Sequential reader over bytes[0, size). Each read names its field, so a short read says what was cut off:
//   "<what> truncated: 'tensor name' at offset 96 needs 12 bytes, 5 left"
// The bytes are not copied: they must outlive the reader.
class ByteReader {
 public:
  ByteReader(std::string_view bytes, std::string what) : b_(bytes), what_(std::move(what)) {}

  uint32_t u32(const char* field = "field") { return load_u32(take(4, field)); }
  uint64_t u64(const char* field = "field") { return load_u64(take(8, field)); }
  float f32(const char* field = "field") {
    float v;
    std::memcpy(&v, take(4, field), 4);
    return v;
  }
  std::string str(size_t n, const char* field = "field") { return std::string(take(n, field), n); }

  size_t pos() const { return pos_; }
  size_t size() const { return b_.size(); }
  size_t left() const { return b_.size() - pos_; }
  void seek(size_t pos) {
    BEOP_CHECK(pos <= b_.size(), what_, ": seek to offset ", pos, " past the end (", b_.size(), " bytes)");
    pos_ = pos;
  }

 private:
  const char* take(size_t n, const char* field) {
    if (n > left()) fail(what_, " truncated: '", field, "' at offset ", pos_, " needs ", n, " bytes, ", left(), " left");
    const char* p = b_.data() + pos_;
    pos_ += n;
    return p;
  }

  std::string_view b_;
  std::string what_;
  size_t pos_ = 0;
};

}  // namespace beop
