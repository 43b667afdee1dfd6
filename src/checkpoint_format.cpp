// model.bin and optim.bin: writers and validating readers; see checkpoint_format.h.
#include "src/checkpoint_format.h"

#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include <nlohmann/json.hpp>

#include "src/bytes.h"
#include "src/checksum.h"
#include "src/common.h"
#include "src/config_json.h"
#include "src/io.h"

namespace beop {

using json = nlohmann::json;

namespace {

const char* dtype_name(uint32_t d) { return d == 0 ? "f32" : d == 1 ? "bf16" : "unknown"; }

// Rounds the header up so the payload starts 64-byte aligned (lets a later reader mmap it directly).
size_t align64(size_t n) { return (n + 63) / 64 * 64; }

// The model.bin header (everything before the payload) for this config / dtype.
std::string model_header(const ModelConfig& cfg, const ParamLayout& lay, uint32_t dtype) {
  const std::string cj = config_to_json(cfg).dump();
  std::string h(kModelFileMagic, 8);
  put_u32(h, kCheckpointVersion);
  put_u32(h, 0);  // header_bytes, patched below
  put_u32(h, dtype);
  put_u32(h, (uint32_t)lay.tensors.size());
  put_u64(h, lay.total);
  put_u32(h, (uint32_t)cj.size());
  h += cj;
  for (const TensorInfo& t : lay.tensors) {
    put_u32(h, (uint32_t)t.name.size());
    h += t.name;
    put_u32(h, (uint32_t)t.shape.size());
    for (int64_t d : t.shape) put_u64(h, (uint64_t)d);
    put_u64(h, t.offset);
    put_u64(h, t.numel);
  }
  h.resize(align64(h.size()), '\0');
  patch_u32(h, 12, (uint32_t)h.size());
  return h;
}

constexpr size_t kOptimHeaderBytes = 64;

// The CRC32 tail both files end with: the payload's CRC, then the header's.
std::string checksum_tail(uint32_t payload_crc, const std::string& header) {
  std::string tail;
  put_u32(tail, payload_crc);
  put_u32(tail, crc32(header.data(), header.size()));
  return tail;
}

// An open checkpoint file read in pieces (the payload goes straight into its destination vector, so loading a
// multi-GB model never holds two copies). Every error names the file.
struct InFile {
  std::string path;
  std::FILE* f = nullptr;
  uint64_t size = 0;
  explicit InFile(const std::string& p) : path(p) {
    if (!file_exists(p)) fail(p, ": missing (no such file)");
    f = std::fopen(p.c_str(), "rb");
    if (!f) fail("cannot read ", p, ": ", std::strerror(errno));
    struct stat st;
    if (::fstat(::fileno(f), &st) != 0) fail("cannot stat ", p, ": ", std::strerror(errno));
    size = (uint64_t)st.st_size;
  }
  ~InFile() {
    if (f) std::fclose(f);
  }
  void read(uint64_t off, void* dst, uint64_t n) {
    if (off + n > size) fail(path, " truncated: expected at least ", off + n, " bytes, has ", size);
    if (::fseeko(f, (off_t)off, SEEK_SET) != 0 || (n && std::fread(dst, 1, n, f) != n))
      fail("error reading ", path, " at offset ", off, ": ", std::strerror(errno));
  }
  std::string bytes(uint64_t off, uint64_t n) {
    std::string s(n, '\0');
    read(off, &s[0], n);
    return s;
  }
};

void check_magic_version(InFile& in, const char* magic, const char* kind) {
  if (in.size < 8) fail(in.path, " truncated: expected at least 16 bytes, has ", in.size);
  const std::string h = in.bytes(0, 8);
  if (std::memcmp(h.data(), magic, 8) != 0) fail(in.path, ": not a beop ", kind, " file (bad magic)");
  if (in.size < 16) fail(in.path, " truncated: expected at least 16 bytes, has ", in.size);
  uint32_t v;
  in.read(8, &v, 4);
  if (v != kCheckpointVersion)
    fail(in.path, ": unsupported ", kind, " file version ", v, " (this build reads version ", kCheckpointVersion, ")");
}

// What model.bin and optim.bin both start with: magic, version, then the fields below (at offsets 12..31).
struct FixedHeader {
  std::string bytes;  // the file's first bytes (as many as read_fixed_header was asked for)
  uint32_t header_bytes = 0, dtype = 0;
  uint32_t word = 0;  // model.bin: the tensor count; optim.bin: reserved (0)
  uint64_t n = 0;     // elements (optim.bin: per moment)
};

// Checks the magic and version, then reads the file's first `bytes` bytes and the shared fields.
FixedHeader read_fixed_header(InFile& in, const char* magic, const char* kind, size_t bytes, const char* word) {
  check_magic_version(in, magic, kind);
  if (in.size < bytes) fail(in.path, " truncated: expected at least ", bytes, " bytes, has ", in.size);
  FixedHeader h;
  h.bytes = in.bytes(0, bytes);
  ByteReader r(h.bytes, in.path + " header");
  r.seek(12);
  h.header_bytes = r.u32("header_bytes");
  h.dtype = r.u32("dtype");
  h.word = r.u32(word);
  h.n = r.u64("n_elements");
  return h;
}

// The header fields both files have: a known dtype code and a plausible element count (a corrupt count would
// otherwise become a huge allocation).
void check_dtype_and_count(const std::string& file, uint32_t dtype, uint64_t n) {
  if (dtype > 1) fail(file, ": unknown dtype code ", dtype);
  if (n > (uint64_t(1) << 40)) fail(file, ": element count ", n, " is implausible");
}

// Size model.bin must have according to its first 32 bytes (0 if the header itself is unreadable).
uint64_t model_expected_size(const std::string& b) {
  if (b.size() < 32) return 0;
  const uint32_t hb = load_u32(b.data() + 12), dtype = load_u32(b.data() + 16);
  const uint64_t n = load_u64(b.data() + 24);
  uint64_t es = dtype == 1 ? 2 : 4;
  return (uint64_t)hb + n * es + 8;
}

void check_size(const InFile& in, uint64_t expect) {
  if (in.size < expect) fail(in.path, " truncated: expected ", expect, " bytes, has ", in.size);
  if (in.size > expect)
    fail(in.path, ": ", in.size - expect, " trailing bytes (expected ", expect, " bytes, has ", in.size, ")");
}

// Index of the first NaN/Inf among p[0..n), or -1.
int64_t first_non_finite(const float* p, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (!std::isfinite(p[i])) return i;
  return -1;
}

}  // namespace

// ------------------------------------------------------------------------------------------------ writers

void write_model_file(const std::string& path, const ModelConfig& cfg, const ParamLayout& lay, const float* params,
                      size_t n) {
  AtomicFile f(path);
  const std::string h = model_header(cfg, lay, (uint32_t)CkptDType::f32);
  f.write(h);
  f.write(params, n * 4);
  f.write(checksum_tail(crc32(params, n * 4), h));
  f.commit();
}

void write_optim_file(const std::string& path, const float* m, const float* v, size_t n, long adam_step) {
  AtomicFile f(path);
  std::string h(kOptimFileMagic, 8);
  put_u32(h, kCheckpointVersion);
  put_u32(h, (uint32_t)kOptimHeaderBytes);
  put_u32(h, (uint32_t)CkptDType::f32);
  put_u32(h, 0);
  put_u64(h, n);
  put_u64(h, (uint64_t)adam_step);
  h.resize(kOptimHeaderBytes, '\0');
  f.write(h);
  f.write(m, n * 4);
  f.write(v, n * 4);
  f.write(checksum_tail(crc32(v, n * 4, crc32(m, n * 4)), h));
  f.commit();
}

// ------------------------------------------------------------------------------------------------ readers

ModelFile read_model_file(const std::string& file) {
  InFile in(file);
  const FixedHeader fh = read_fixed_header(in, kModelFileMagic, "model", 32, "n_tensors");
  const std::string& fixed = fh.bytes;
  const uint32_t hb = fh.header_bytes, dtype = fh.dtype, n_tensors = fh.word;
  const uint64_t n = fh.n;
  if (hb < 64 || hb % 64 != 0) fail(file, ": header_bytes ", hb, " is not a multiple of 64 >= 64");
  check_dtype_and_count(file, dtype, n);
  const uint64_t expect = model_expected_size(fixed);
  check_size(in, expect);
  if (dtype != 0)
    fail(file, ": dtype ", dtype_name(dtype), " is not supported by this build (it reads f32 checkpoints)");
  // Checksums before interpreting anything else in the header: a flipped bit there is reported as corruption.
  const std::string b = in.bytes(0, hb);
  uint32_t crc[2];  // payload, header
  in.read(expect - 8, crc, 8);
  if (crc32(b.data(), hb) != crc[1]) fail(file, ": corrupt: header checksum mismatch");
  ModelFile mf;
  mf.params.resize(n);
  in.read(hb, mf.params.data(), n * 4);
  if (crc32(mf.params.data(), n * 4) != crc[0]) fail(file, ": corrupt: parameter checksum mismatch");

  ByteReader hr(b, file + " header");
  hr.seek(32);
  const uint32_t cj_len = hr.u32("config_length");
  const std::string cj = hr.str(cj_len, "config");
  json j;
  try {
    j = json::parse(cj);
  } catch (const json::exception& e) {
    fail(file, ": config JSON does not parse: ", e.what());
  }
  mf.cfg = config_from_json(j, file);
  // config_from_json validated the config, which bounds its parameter count (ModelConfig::validate), so the
  // count is compared BEFORE the layout is built: a hostile header cannot make us build billions of tensors.
  const int64_t implied = mf.cfg.num_params();
  if (uint64_t(implied) != n)
    fail(file, ": has ", n, " elements, but its config (vocab_size ", mf.cfg.vocab_size, ", d_model ", mf.cfg.d_model,
         ", n_layers ", mf.cfg.n_layers, ", ffn_hidden ", mf.cfg.ffn_hidden, ") implies ", implied);
  const ParamLayout lay(mf.cfg);
  if (n != lay.total)
    fail(file, ": has ", n, " elements, but its config (", mf.cfg.summary(), ") needs ", lay.total);
  if (n_tensors != lay.tensors.size())
    fail(file, ": tensor table has ", n_tensors, " tensors, the config's layout has ", lay.tensors.size());
  auto shape_str = [](const std::vector<int64_t>& s) {
    std::string o = "(";
    for (size_t k = 0; k < s.size(); k++) o += (k ? ", " : "") + std::to_string(s[k]);
    return o + ")";
  };
  for (uint32_t i = 0; i < n_tensors; i++) {
    const TensorInfo& t = lay.tensors[i];
    const uint32_t nl = hr.u32("tensor name length");
    const std::string name = hr.str(nl, "tensor name");
    if (name != t.name) fail(file, ": tensor ", i, " is '", name, "', the config's layout has '", t.name, "'");
    const uint32_t nd = hr.u32("tensor ndim");
    if (nd > 8) fail(file, ": tensor '", name, "' has ", nd, " dimensions");
    std::vector<int64_t> shape(nd);
    for (auto& d : shape) d = (int64_t)hr.u64("tensor shape");
    const uint64_t off = hr.u64("tensor offset"), numel = hr.u64("tensor numel");
    if (shape != t.shape)
      fail(file, ": tensor '", name, "' has shape ", shape_str(shape), ", the config's layout has ", shape_str(t.shape));
    if (off != t.offset || numel != t.numel)
      fail(file, ": tensor '", name, "' at offset ", off, " with ", numel, " elements, the config's layout has offset ",
           t.offset, " with ", t.numel);
  }
  for (size_t p = hr.pos(); p < hb; p++)
    if (b[p] != 0) fail(file, ": non-zero header padding at offset ", p);
  // A NaN or Inf weight passes the checksum (it was written that way) but poisons every forward pass: refuse it,
  // naming the tensor, instead of generating garbage.
  for (const TensorInfo& t : lay.tensors)
    if (const int64_t bad = first_non_finite(mf.params.data() + t.offset, t.numel); bad >= 0)
      fail(file, ": tensor '", t.name, "' element ", bad, " is ", mf.params[t.offset + bad], " (weights must be finite)");
  return mf;
}

OptimFile read_optim_file(const std::string& file, size_t n_expected) {
  if (!file_exists(file)) fail(file, ": missing (no such file; was this a weights-only checkpoint?)");
  InFile in(file);
  const FixedHeader fh = read_fixed_header(in, kOptimFileMagic, "optimizer", kOptimHeaderBytes, "reserved");
  const std::string& h = fh.bytes;
  const uint32_t hb = fh.header_bytes, dtype = fh.dtype, reserved = fh.word;
  const uint64_t n = fh.n;
  ByteReader r(h, file + " header");
  r.seek(32);
  const int64_t step = (int64_t)r.u64("adam_step");
  if (hb != kOptimHeaderBytes) fail(file, ": header_bytes ", hb, " (expected ", kOptimHeaderBytes, ")");
  check_dtype_and_count(file, dtype, n);
  const uint64_t es = dtype == 1 ? 2 : 4;
  const uint64_t expect = hb + 2 * n * es + 8;
  check_size(in, expect);
  if (dtype != 0) fail(file, ": dtype ", dtype_name(dtype), " is not supported by this build (it reads f32)");
  uint32_t crc[2];  // moments, header
  in.read(expect - 8, crc, 8);
  if (crc32(h.data(), hb) != crc[1]) fail(file, ": corrupt: header checksum mismatch");
  if (reserved != 0) fail(file, ": reserved header field is ", reserved, " (expected 0)");
  if (n != n_expected) fail(file, ": has ", n, " elements per moment, model.bin has ", n_expected);
  if (step < 0) fail(file, ": negative adam step ", step);
  OptimFile out;
  out.m.resize(n);
  out.v.resize(n);
  in.read(hb, out.m.data(), n * 4);
  in.read(hb + n * 4, out.v.data(), n * 4);
  if (crc32(out.v.data(), n * 4, crc32(out.m.data(), n * 4)) != crc[0])
    fail(file, ": corrupt: moment checksum mismatch");
  if (const int64_t bad = first_non_finite(out.m.data(), int64_t(n)); bad >= 0)
    fail(file, ": first moment element ", bad, " is ", out.m[bad], " (moments must be finite)");
  for (uint64_t i = 0; i < n; i++)
    if (!(out.v[i] >= 0.f) || !std::isfinite(out.v[i]))
      fail(file, ": second moment element ", i, " is ", out.v[i], " (must be finite and >= 0)");
  out.adam_step = (long)step;
  return out;
}

bool model_file_complete(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  std::string head(32, '\0');
  size_t got = std::fread(&head[0], 1, 32, f);
  std::fclose(f);
  if (got != 32 || std::memcmp(head.data(), kModelFileMagic, 8) != 0) return false;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return false;
  return (uint64_t)st.st_size == model_expected_size(head);
}

}  // namespace beop
