#include "src/gguf_writer.h"

#include "src/bytes.h"
#include "src/common.h"
#include "src/io.h"

namespace beop {
namespace {
// gguf_type in ggml's gguf.h
enum : uint32_t { kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7, kString = 8, kArray = 9 };
constexpr uint64_t kAlign = 32;  // general.alignment's default

void put_str(std::string& o, const std::string& s) {
  put_u64(o, s.size());
  o += s;
}

uint64_t row_bytes(GgmlType t, int64_t n0, const std::string& name) {
  switch (t) {
    case GgmlType::F32: return uint64_t(n0) * 4;
    case GgmlType::F16:
    case GgmlType::BF16: return uint64_t(n0) * 2;
    case GgmlType::Q8_0:
      BEOP_CHECK(n0 % 32 == 0, "GGUF tensor ", name, ": Q8_0 rows must be a multiple of 32 values, got ", n0);
      return uint64_t(n0) / 32 * 34;
  }
  fail("GGUF tensor ", name, ": unknown type ", uint32_t(t));
}
}  // namespace

void GgufWriter::key(const std::string& k, uint32_t type) {
  put_str(kv_, k);
  put_u32(kv_, type);
  n_kv_++;
}
void GgufWriter::add_u32(const std::string& k, uint32_t v) { key(k, kU32), put_u32(kv_, v); }
void GgufWriter::add_i32(const std::string& k, int32_t v) { key(k, kI32), put_u32(kv_, uint32_t(v)); }
void GgufWriter::add_f32(const std::string& k, float v) { key(k, kF32), put_f32(kv_, v); }
void GgufWriter::add_bool(const std::string& k, bool v) { key(k, kBool), kv_.push_back(char(v ? 1 : 0)); }
void GgufWriter::add_string(const std::string& k, const std::string& v) { key(k, kString), put_str(kv_, v); }
void GgufWriter::add_strings(const std::string& k, const std::vector<std::string>& v) {
  key(k, kArray);
  put_u32(kv_, kString);
  put_u64(kv_, v.size());
  for (const std::string& s : v) put_str(kv_, s);
}
void GgufWriter::add_i32s(const std::string& k, const std::vector<int32_t>& v) {
  key(k, kArray);
  put_u32(kv_, kI32);
  put_u64(kv_, v.size());
  for (int32_t x : v) put_u32(kv_, uint32_t(x));
}
void GgufWriter::add_f32s(const std::string& k, const std::vector<float>& v) {
  key(k, kArray);
  put_u32(kv_, kF32);
  put_u64(kv_, v.size());
  for (float x : v) put_f32(kv_, x);
}

void GgufWriter::add_tensor(const std::string& name, const std::vector<int64_t>& ne, GgmlType type, std::string data) {
  BEOP_CHECK(!ne.empty() && ne.size() <= 4, "GGUF tensor ", name, ": ", ne.size(), " dimensions (1 to 4)");
  uint64_t rows = 1;
  for (size_t i = 1; i < ne.size(); i++) rows *= uint64_t(ne[i]);
  const uint64_t want = row_bytes(type, ne[0], name) * rows;
  BEOP_CHECK(data.size() == want, "GGUF tensor ", name, ": ", data.size(), " bytes of data, its shape needs ", want);
  tensors_.push_back({name, ne, type, std::move(data)});
}

void GgufWriter::write(const std::string& path) const {
  std::string head;
  head += "GGUF";
  put_u32(head, 3);
  put_u64(head, tensors_.size());
  put_u64(head, n_kv_);
  head += kv_;
  uint64_t offset = 0;  // relative to the start of the data section
  for (const Tensor& t : tensors_) {
    put_str(head, t.name);
    put_u32(head, uint32_t(t.ne.size()));
    for (int64_t d : t.ne) put_u64(head, uint64_t(d));
    put_u32(head, uint32_t(t.type));
    put_u64(head, offset);
    offset += (t.data.size() + kAlign - 1) / kAlign * kAlign;
  }
  head.resize((head.size() + kAlign - 1) / kAlign * kAlign, '\0');
  AtomicFile f(path);
  f.write(head);
  const std::string pad(kAlign, '\0');
  for (const Tensor& t : tensors_) {
    f.write(t.data);
    f.write(pad.data(), (kAlign - t.data.size() % kAlign) % kAlign);
  }
  f.commit();
}

}  // namespace beop
