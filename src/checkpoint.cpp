// Checkpoint directories: writer (temp dir -> fsync -> rename), validating reader, latest/prune helpers.
// Byte layouts: docs/FORMATS.md, "Checkpoints".
#include "src/checkpoint.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "src/common.h"
#include "src/io.h"
#include "src/param_layout.h"
#include "src/tokenizer.h"

namespace beop {

std::function<void(const std::string&)> g_checkpoint_fault_hook;

namespace fs = std::filesystem;
using json = nlohmann::json;

// ------------------------------------------------------------------------------------------------ helpers

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

void put_u32(std::string& o, uint32_t v) { o.append(reinterpret_cast<const char*>(&v), 4); }
void put_u64(std::string& o, uint64_t v) { o.append(reinterpret_cast<const char*>(&v), 8); }

// Bounds-checked little-endian reader over a byte string; every error names the file.
struct Reader {
  const std::string& b;
  const std::string& file;
  size_t pos = 0;
  size_t limit;
  Reader(const std::string& bytes, const std::string& f, size_t lim) : b(bytes), file(f), limit(lim) {}
  void need(size_t n, const char* what) {
    if (n > limit - pos) fail(file, ": header field '", what, "' at offset ", pos, " runs past the header (", limit, " bytes)");
  }
  uint32_t u32(const char* what) {
    need(4, what);
    uint32_t v;
    std::memcpy(&v, b.data() + pos, 4);
    pos += 4;
    return v;
  }
  uint64_t u64(const char* what) {
    need(8, what);
    uint64_t v;
    std::memcpy(&v, b.data() + pos, 8);
    pos += 8;
    return v;
  }
  std::string str(size_t n, const char* what) {
    need(n, what);
    std::string s = b.substr(pos, n);
    pos += n;
    return s;
  }
};

const char* dtype_name(uint32_t d) { return d == 0 ? "f32" : d == 1 ? "bf16" : "unknown"; }

// Rounds the header up so the payload starts 64-byte aligned (lets a later reader mmap it directly).
size_t align64(size_t n) { return (n + 63) / 64 * 64; }

void fsync_path(const std::string& path, bool dir) {
  int fd = ::open(path.c_str(), dir ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) fail("cannot open ", path, " to fsync: ", std::strerror(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) fail("cannot fsync ", path, ": ", std::strerror(err));
}

std::string git_commit() {
  static std::string cached;
  if (!cached.empty()) return cached;
  std::string out;
  if (FILE* p = ::popen("git rev-parse HEAD 2>/dev/null", "r")) {
    char buf[128];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    ::pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  bool hex = out.size() == 40 && std::all_of(out.begin(), out.end(), [](char c) { return std::isxdigit((unsigned char)c); });
  cached = hex ? out : "unknown";
  return cached;
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json num_or_null(double x) { return std::isfinite(x) ? json(x) : json(nullptr); }

std::string hex64(uint64_t v) {
  char buf[19];
  std::snprintf(buf, sizeof buf, "0x%016llx", (unsigned long long)v);
  return buf;
}

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
  uint32_t hb = (uint32_t)h.size();
  std::memcpy(&h[12], &hb, 4);
  return h;
}

constexpr size_t kOptimHeaderBytes = 64;

// --- model.bin / optim.bin parsing -----------------------------------------------------------------------

struct ModelFile {
  ModelConfig cfg;
  std::vector<float> params;
};

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

// Size model.bin must have according to its first 32 bytes (0 if the header itself is unreadable).
uint64_t model_expected_size(const std::string& b) {
  if (b.size() < 32) return 0;
  uint32_t hb, dtype;
  uint64_t n;
  std::memcpy(&hb, b.data() + 12, 4);
  std::memcpy(&dtype, b.data() + 16, 4);
  std::memcpy(&n, b.data() + 24, 8);
  uint64_t es = dtype == 1 ? 2 : 4;
  return (uint64_t)hb + n * es + 8;
}

// The element count a config's ParamLayout has (mirrors ModelConfig::num_params), in 128 bits from the raw
// fields, or 0 when a dimension derived in int (padded vocab, H*D, KV*D) would overflow. parse_model_file
// compares it with the header's count BEFORE building the layout: a corrupt or hostile config (n_layers =
// 2^31-1, dimensions whose products overflow) is then a one-line error, not billions of tensors (bad_alloc).
unsigned __int128 checked_param_count(const ModelConfig& c) {
  using u128 = unsigned __int128;
  const u128 Vp = (u128(c.vocab_size) + 127) / 128 * 128, C = u128(c.d_model), F = u128(c.ffn_hidden);
  const u128 q = u128(c.n_heads) * u128(c.head_dim), kv = u128(c.n_kv_heads) * u128(c.head_dim);
  if (Vp > INT32_MAX || q + 2 * kv > INT32_MAX) return 0;
  const u128 per_layer = C + C * q + 2 * C * kv + q * C + (c.attn_bias ? q + 2 * kv : 0) + C + 3 * C * F;
  return Vp * C + u128(c.n_layers) * per_layer + C + (c.tied_embeddings ? 0 : Vp * C);
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

ModelFile parse_model_file(const std::string& file) {
  InFile in(file);
  check_magic_version(in, kModelFileMagic, "model");
  if (in.size < 32) fail(file, " truncated: expected at least 32 bytes, has ", in.size);
  const std::string fixed = in.bytes(0, 32);
  Reader r(fixed, file, fixed.size());
  r.pos = 12;
  const uint32_t hb = r.u32("header_bytes");
  const uint32_t dtype = r.u32("dtype");
  const uint32_t n_tensors = r.u32("n_tensors");
  const uint64_t n = r.u64("n_elements");
  if (hb < 64 || hb % 64 != 0) fail(file, ": header_bytes ", hb, " is not a multiple of 64 >= 64");
  if (dtype > 1) fail(file, ": unknown dtype code ", dtype);
  if (n > (uint64_t(1) << 40)) fail(file, ": element count ", n, " is implausible");
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

  Reader hr(b, file, hb);
  hr.pos = 32;
  const uint32_t cj_len = hr.u32("config_length");
  const std::string cj = hr.str(cj_len, "config");
  json j;
  try {
    j = json::parse(cj);
  } catch (const json::exception& e) {
    fail(file, ": config JSON does not parse: ", e.what());
  }
  mf.cfg = config_from_json(j, file);
  const unsigned __int128 implied = checked_param_count(mf.cfg);
  if (implied != n)
    fail(file, ": has ", n, " elements, but its config (vocab_size ", mf.cfg.vocab_size, ", d_model ", mf.cfg.d_model,
         ", n_layers ", mf.cfg.n_layers, ", ffn_hidden ", mf.cfg.ffn_hidden, ") implies ",
         implied == 0 || implied > UINT64_MAX ? std::string("an impossible count") : std::to_string(uint64_t(implied)));
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
  for (size_t p = hr.pos; p < hb; p++)
    if (b[p] != 0) fail(file, ": non-zero header padding at offset ", p);
  // A NaN or Inf weight passes the checksum (it was written that way) but poisons every forward pass: refuse it,
  // naming the tensor, instead of generating garbage.
  for (const TensorInfo& t : lay.tensors)
    if (const int64_t bad = first_non_finite(mf.params.data() + t.offset, t.numel); bad >= 0)
      fail(file, ": tensor '", t.name, "' element ", bad, " is ", mf.params[t.offset + bad], " (weights must be finite)");
  return mf;
}

void parse_optim_file(const std::string& file, size_t n_expected, LoadedCheckpoint& out) {
  if (!file_exists(file)) fail(file, ": missing (no such file; was this a weights-only checkpoint?)");
  InFile in(file);
  check_magic_version(in, kOptimFileMagic, "optimizer");
  if (in.size < kOptimHeaderBytes) fail(file, " truncated: expected at least ", kOptimHeaderBytes, " bytes, has ", in.size);
  const std::string h = in.bytes(0, kOptimHeaderBytes);
  Reader r(h, file, kOptimHeaderBytes);
  r.pos = 12;
  const uint32_t hb = r.u32("header_bytes");
  const uint32_t dtype = r.u32("dtype");
  const uint32_t reserved = r.u32("reserved");
  const uint64_t n = r.u64("n_elements");
  const int64_t step = (int64_t)r.u64("adam_step");
  if (hb != kOptimHeaderBytes) fail(file, ": header_bytes ", hb, " (expected ", kOptimHeaderBytes, ")");
  if (dtype > 1) fail(file, ": unknown dtype code ", dtype);
  if (n > (uint64_t(1) << 40)) fail(file, ": element count ", n, " is implausible");
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
  out.m.resize(n);
  out.v.resize(n);
  in.read(hb, out.m.data(), n * 4);
  in.read(hb + n * 4, out.v.data(), n * 4);
  if (crc32(out.v.data(), n * 4, crc32(out.m.data(), n * 4)) != crc[0]) {
    std::vector<float>().swap(out.m);
    std::vector<float>().swap(out.v);
    fail(file, ": corrupt: moment checksum mismatch");
  }
  if (const int64_t bad = first_non_finite(out.m.data(), int64_t(n)); bad >= 0)
    fail(file, ": first moment element ", bad, " is ", out.m[bad], " (moments must be finite)");
  for (uint64_t i = 0; i < n; i++)
    if (!(out.v[i] >= 0.f) || !std::isfinite(out.v[i]))
      fail(file, ": second moment element ", i, " is ", out.v[i], " (must be finite and >= 0)");
  out.adam_step = (long)step;
}

json state_to_json(const CheckpointState& st, long step) {
  json j = json::object();
  j["format"] = "beop-checkpoint-state";
  j["version"] = kCheckpointVersion;
  j["stage"] = st.stage;
  j["step"] = step;
  j["tokens_seen"] = st.tokens_seen;
  j["seed"] = st.seed;
  json rng = json::array();
  for (uint64_t w : st.rng_state) rng.push_back(hex64(w));
  j["rng_state"] = rng;
  j["data"] = st.data_spec;
  j["val"] = st.val_spec;
  j["lr_schedule"] = st.lr_schedule;
  j["last_loss"] = num_or_null(st.last_loss);
  j["val_loss"] = num_or_null(st.val_loss);
  j["loader_state_base64"] = base64_encode(st.loader_state);
  j["git_commit"] = git_commit();
  j["date"] = utc_now();
  j["command_line"] = st.command_line;
  j["meta"] = st.meta;
  return j;
}

CheckpointState state_from_json(const std::string& file) {
  if (!file_exists(file)) fail(file, ": missing (no such file)");
  json j;
  try {
    j = json::parse(read_file(file));
  } catch (const json::exception& e) {
    fail(file, ": not valid JSON: ", e.what());
  }
  if (!j.is_object()) fail(file, ": not a JSON object");
  auto get = [&](const char* key) -> const json& {
    if (!j.contains(key)) fail(file, ": missing field '", key, "'");
    return j[key];
  };
  auto str = [&](const char* key) {
    const json& v = get(key);
    if (!v.is_string()) fail(file, ": field '", key, "' is not a string");
    return v.get<std::string>();
  };
  auto i64 = [&](const char* key) {
    const json& v = get(key);
    if (!v.is_number_integer()) fail(file, ": field '", key, "' is not an integer");
    return v.get<int64_t>();
  };
  auto num = [&](const char* key) {
    const json& v = get(key);
    if (v.is_null()) return (double)NAN;
    if (!v.is_number()) fail(file, ": field '", key, "' is not a number or null");
    return v.get<double>();
  };
  if (str("format") != "beop-checkpoint-state") fail(file, ": field 'format' is not \"beop-checkpoint-state\"");
  if (i64("version") != kCheckpointVersion)
    fail(file, ": unsupported state version ", i64("version"), " (this build reads version ", kCheckpointVersion, ")");
  CheckpointState st;
  st.stage = str("stage");
  if (st.stage != "pretrain" && st.stage != "cpt" && st.stage != "it")
    fail(file, ": stage '", st.stage, "' is not pretrain, cpt or it");
  st.step = (long)i64("step");
  st.tokens_seen = i64("tokens_seen");
  const json& seed = get("seed");
  if (!seed.is_number_unsigned() && !(seed.is_number_integer() && seed.get<int64_t>() >= 0))
    fail(file, ": field 'seed' is not a non-negative integer");
  st.seed = seed.get<uint64_t>();
  const json& rng = get("rng_state");
  if (!rng.is_array() || rng.size() != 4) fail(file, ": field 'rng_state' is not an array of 4 hex strings");
  for (int k = 0; k < 4; k++) {
    if (!rng[k].is_string()) fail(file, ": rng_state[", k, "] is not a string");
    const std::string s = rng[k].get<std::string>();
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(s.c_str(), &end, 16);
    if (s.size() != 18 || s.compare(0, 2, "0x") != 0 || errno || *end) fail(file, ": rng_state[", k, "] '", s, "' is not 0x + 16 hex digits");
    st.rng_state[k] = v;
  }
  st.data_spec = str("data");
  st.val_spec = str("val");
  st.lr_schedule = get("lr_schedule");
  st.last_loss = num("last_loss");
  st.val_loss = num("val_loss");
  st.loader_state = base64_decode(str("loader_state_base64"), file + ": loader_state_base64");
  st.git_commit = str("git_commit");
  st.date = str("date");
  st.command_line = str("command_line");
  st.meta = get("meta");
  return st;
}

bool parse_step_name(const std::string& name, long& step) {
  if (name.size() < 6 || name.compare(0, 5, "step_") != 0) return false;
  for (size_t i = 5; i < name.size(); i++)
    if (!std::isdigit((unsigned char)name[i])) return false;
  if (name.size() > 5 + 18) return false;
  step = std::stol(name.substr(5));
  return true;
}

bool is_complete(const std::string& dir) {
  for (const char* f : {"model.bin", "state.json", "config.json", "tokenizer.json"})
    if (!file_exists(dir + "/" + f)) return false;
  // model.bin's size must be what its header says (a cheap truncation check; load validates fully).
  std::FILE* f = std::fopen((dir + "/model.bin").c_str(), "rb");
  if (!f) return false;
  std::string head(32, '\0');
  size_t got = std::fread(&head[0], 1, 32, f);
  std::fclose(f);
  if (got != 32 || std::memcmp(head.data(), kModelFileMagic, 8) != 0) return false;
  struct stat st;
  if (::stat((dir + "/model.bin").c_str(), &st) != 0) return false;
  return (uint64_t)st.st_size == model_expected_size(head);
}

}  // namespace

// ------------------------------------------------------------------------------------------------ public helpers

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

json config_to_json(const ModelConfig& c) {
  json j = json::object();
  j["name"] = c.name;
  j["vocab_size"] = c.vocab_size;
  j["d_model"] = c.d_model;
  j["n_layers"] = c.n_layers;
  j["n_heads"] = c.n_heads;
  j["n_kv_heads"] = c.n_kv_heads;
  j["head_dim"] = c.head_dim;
  j["ffn_hidden"] = c.ffn_hidden;
  j["rope_theta"] = (double)c.rope_theta;  // float -> double is exact, so the round trip is too
  j["rms_eps"] = (double)c.rms_eps;
  j["tied_embeddings"] = c.tied_embeddings;
  j["max_seq_len"] = c.max_seq_len;
  if (c.attn_bias) j["attn_bias"] = true;  // optional keys: absent in older files means "no"
  if (c.rope_scaling != "none")
    j["rope_scaling"] = {{"type", c.rope_scaling}, {"factor", (double)c.rope_factor},
                         {"low_freq_factor", (double)c.rope_low_freq_factor},
                         {"high_freq_factor", (double)c.rope_high_freq_factor},
                         {"original_max_position_embeddings", c.rope_original_max_pos}};
  return j;
}

ModelConfig config_from_json(const json& j, const std::string& what) {
  if (!j.is_object()) fail(what, ": model config is not a JSON object");
  auto get = [&](const char* key) -> const json& {
    if (!j.contains(key)) fail(what, ": model config has no '", key, "'");
    return j[key];
  };
  auto i32 = [&](const char* key) {
    const json& v = get(key);
    if (!v.is_number_integer() || v.get<int64_t>() < INT32_MIN || v.get<int64_t>() > INT32_MAX)
      fail(what, ": model config '", key, "' is not a 32-bit integer");
    return (int)v.get<int64_t>();
  };
  auto f32 = [&](const char* key) {
    const json& v = get(key);
    if (!v.is_number()) fail(what, ": model config '", key, "' is not a number");
    return (float)v.get<double>();
  };
  ModelConfig c;
  const json& name = get("name");
  if (!name.is_string()) fail(what, ": model config 'name' is not a string");
  c.name = name.get<std::string>();
  c.vocab_size = i32("vocab_size");
  c.d_model = i32("d_model");
  c.n_layers = i32("n_layers");
  c.n_heads = i32("n_heads");
  c.n_kv_heads = i32("n_kv_heads");
  c.head_dim = i32("head_dim");
  c.ffn_hidden = i32("ffn_hidden");
  c.rope_theta = f32("rope_theta");
  c.rms_eps = f32("rms_eps");
  const json& tied = get("tied_embeddings");
  if (!tied.is_boolean()) fail(what, ": model config 'tied_embeddings' is not a boolean");
  c.tied_embeddings = tied.get<bool>();
  c.max_seq_len = i32("max_seq_len");
  if (j.contains("attn_bias")) {
    if (!j["attn_bias"].is_boolean()) fail(what, ": model config 'attn_bias' is not a boolean");
    c.attn_bias = j["attn_bias"].get<bool>();
  }
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    const json& rs = j["rope_scaling"];
    if (!rs.is_object() || !rs.contains("type") || !rs["type"].is_string())
      fail(what, ": model config 'rope_scaling' must be an object with a string 'type'");
    auto num = [&](const char* k) {
      if (!rs.contains(k) || !rs[k].is_number()) fail(what, ": model config rope_scaling.", k, " is not a number");
      return rs[k].get<double>();
    };
    c.rope_scaling = rs["type"].get<std::string>();
    if (c.rope_scaling == "llama3") {
      c.rope_factor = float(num("factor"));
      c.rope_low_freq_factor = float(num("low_freq_factor"));
      c.rope_high_freq_factor = float(num("high_freq_factor"));
      const double omp = num("original_max_position_embeddings");
      if (!(omp >= 1 && omp <= INT32_MAX) || omp != std::floor(omp))  // int(1e300) would be undefined
        fail(what, ": model config rope_scaling.original_max_position_embeddings is not a positive 32-bit integer");
      c.rope_original_max_pos = int(omp);
    }
  }
  try {
    c.validate();
  } catch (const Error& e) {
    fail(what, ": ", e.what());
  }
  return c;
}

void check_compatible(const ModelConfig& e, const ModelConfig& g, const std::string& what) {
#define BEOP_CMP(field)                                                                              \
  if (e.field != g.field)                                                                            \
    fail(what, " has " #field " ", g.field, ", run expects ", e.field);
  BEOP_CMP(vocab_size)
  BEOP_CMP(d_model)
  BEOP_CMP(n_layers)
  BEOP_CMP(n_heads)
  BEOP_CMP(n_kv_heads)
  BEOP_CMP(head_dim)
  BEOP_CMP(ffn_hidden)
  BEOP_CMP(rope_theta)
  BEOP_CMP(rms_eps)
  if (e.tied_embeddings != g.tied_embeddings)
    fail(what, " has tied_embeddings ", g.tied_embeddings ? "true" : "false", ", run expects ",
         e.tied_embeddings ? "true" : "false");
  BEOP_CMP(max_seq_len)
  if (e.attn_bias != g.attn_bias)
    fail(what, " has attn_bias ", g.attn_bias ? "true" : "false", ", run expects ", e.attn_bias ? "true" : "false");
  BEOP_CMP(rope_scaling)
  BEOP_CMP(rope_factor)
#undef BEOP_CMP
}

std::string checkpoint_dir_name(long step) {
  if (step < 0) fail("checkpoint step ", step, " is negative");
  char buf[32];
  std::snprintf(buf, sizeof buf, "step_%06ld", step);
  return buf;
}

// ------------------------------------------------------------------------------------------------ save

std::string save_checkpoint(const std::string& run_dir, long step, const ModelConfig& cfg, const float* params,
                            const float* m, const float* v, size_t n, long adam_step, const CheckpointState& st,
                            const std::string& tokenizer_json_path) {
  // Read the tokenizer first: a missing tokenizer fails before anything is written.
  return save_checkpoint_with_tokenizer(run_dir, step, cfg, params, m, v, n, adam_step, st,
                                        read_file(tokenizer_json_path));
}

std::string save_checkpoint_with_tokenizer(const std::string& run_dir, long step, const ModelConfig& cfg,
                                           const float* params, const float* m, const float* v, size_t n,
                                           long adam_step, const CheckpointState& st, const std::string& tok_bytes) {
  cfg.validate();
  const ParamLayout lay(cfg);
  BEOP_CHECK(n == lay.total, "save_checkpoint: ", n, " parameters given, the config's layout has ", lay.total);
  BEOP_CHECK(params, "save_checkpoint: null parameters");
  BEOP_CHECK((m == nullptr) == (v == nullptr), "save_checkpoint: give both Adam moments or neither");
  BEOP_CHECK(adam_step >= 0, "save_checkpoint: negative adam step ", adam_step);
  BEOP_CHECK(st.stage == "pretrain" || st.stage == "cpt" || st.stage == "it", "save_checkpoint: stage '", st.stage,
             "' is not pretrain, cpt or it");
  const std::string name = checkpoint_dir_name(step);
  const std::string final_dir = run_dir + "/" + name;
  const std::string tmp_dir = run_dir + "/.tmp_" + name + "." + std::to_string(::getpid());
  BEOP_CHECK(!tok_bytes.empty(), "save_checkpoint: empty tokenizer.json");
  make_dirs(run_dir);
  std::error_code ec;
  fs::remove_all(tmp_dir, ec);
  if (::mkdir(tmp_dir.c_str(), 0755) != 0) fail("cannot create checkpoint directory ", tmp_dir, ": ", std::strerror(errno));
  auto hook = [](const char* stage) {
    if (g_checkpoint_fault_hook) g_checkpoint_fault_hook(stage);
  };
  try {
    {  // model.bin
      AtomicFile f(tmp_dir + "/model.bin");
      const std::string h = model_header(cfg, lay, (uint32_t)CkptDType::f32);
      f.write(h);
      f.write(params, n * 4);
      std::string tail;
      put_u32(tail, crc32(params, n * 4));
      put_u32(tail, crc32(h.data(), h.size()));
      f.write(tail);
      f.commit();
      hook("model.bin");
    }
    if (m) {  // optim.bin
      AtomicFile f(tmp_dir + "/optim.bin");
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
      std::string tail;
      put_u32(tail, crc32(v, n * 4, crc32(m, n * 4)));
      put_u32(tail, crc32(h.data(), h.size()));
      f.write(tail);
      f.commit();
      hook("optim.bin");
    }
    write_file_atomic(tmp_dir + "/state.json", state_to_json(st, step).dump(2) + "\n");
    hook("state.json");
    write_file_atomic(tmp_dir + "/tokenizer.json", tok_bytes);
    hook("tokenizer.json");
    write_file_atomic(tmp_dir + "/config.json", config_to_json(cfg).dump(2) + "\n");
    hook("config.json");
    fsync_path(tmp_dir, true);  // the directory's entries are durable before it gets its real name
    hook("rename");
    if (::rename(tmp_dir.c_str(), final_dir.c_str()) != 0) {
      int err = errno;
      if (err != EEXIST && err != ENOTEMPTY) fail("cannot rename ", tmp_dir, " to ", final_dir, ": ", std::strerror(err));
      // Re-saving an existing step: swap the two directories atomically, then delete the old one (now at tmp).
      if (::renameat2(AT_FDCWD, tmp_dir.c_str(), AT_FDCWD, final_dir.c_str(), RENAME_EXCHANGE) != 0) {
        if (errno != EINVAL && errno != ENOSYS) fail("cannot replace ", final_dir, ": ", std::strerror(errno));
        // File system without RENAME_EXCHANGE: move the old one aside first (a crash in between leaves it
        // under .old_*, and the earlier steps intact).
        const std::string old_dir = run_dir + "/.old_" + name + "." + std::to_string(::getpid());
        fs::remove_all(old_dir, ec);
        if (::rename(final_dir.c_str(), old_dir.c_str()) != 0)
          fail("cannot move ", final_dir, " aside: ", std::strerror(errno));
        if (::rename(tmp_dir.c_str(), final_dir.c_str()) != 0) {
          int err = errno;
          ::rename(old_dir.c_str(), final_dir.c_str());
          fail("cannot rename ", tmp_dir, " to ", final_dir, ": ", std::strerror(err));
        }
        fs::remove_all(old_dir, ec);
      }
    }
    fsync_path(run_dir, true);
  } catch (...) {
    fs::remove_all(tmp_dir, ec);
    throw;
  }
  fs::remove_all(tmp_dir, ec);  // the replaced old step dir, if any
  return final_dir;
}

// ------------------------------------------------------------------------------------------------ load

LoadedCheckpoint load_model_file(const std::string& model_bin_path) {
  ModelFile mf = parse_model_file(model_bin_path);
  LoadedCheckpoint ck;
  ck.config = mf.cfg;
  ck.params = std::move(mf.params);
  return ck;
}

LoadedCheckpoint load_checkpoint(const std::string& dir, bool with_optimizer) {
  struct stat sb;
  if (::stat(dir.c_str(), &sb) != 0 || !S_ISDIR(sb.st_mode)) fail("checkpoint ", dir, ": no such directory");
  for (const char* f : {"model.bin", "state.json", "config.json", "tokenizer.json"})
    if (!file_exists(dir + "/" + f)) fail("checkpoint ", dir, ": missing ", f);
  LoadedCheckpoint ck = load_model_file(dir + "/model.bin");
  ck.dir = dir;
  ck.tokenizer_path = dir + "/tokenizer.json";
  // config.json is for humans, but it must agree with model.bin (someone may have edited it).
  const std::string cpath = dir + "/config.json";
  json cj;
  try {
    cj = json::parse(read_file(cpath));
  } catch (const json::exception& e) {
    fail(cpath, ": not valid JSON: ", e.what());
  }
  check_compatible(ck.config, config_from_json(cj, cpath), cpath);
  // The tokenizer is parsed, not just present: a truncated tokenizer.json would otherwise be copied into every
  // later checkpoint of a resumed run and only fail in `infer`. Its ids must fit the embedding rows (a model
  // may have more rows than the tokenizer has ids: Hugging Face vocabularies padded to a multiple of 64/128).
  const Tokenizer tok = Tokenizer::load(ck.tokenizer_path);
  if (tok.vocab_size() > ck.config.vocab_size)
    fail(ck.tokenizer_path, ": has ", tok.vocab_size(), " token ids, the model's vocab_size is only ",
         ck.config.vocab_size);
  const std::string spath = dir + "/state.json";
  ck.state = state_from_json(spath);
  if (ck.state.step < 0) fail(spath, ": field 'step' is negative (", ck.state.step, ")");
  long dir_step = 0;  // a step_NNNNNN directory must hold that step's state (an edited state.json would not)
  const std::string base = fs::path(dir).lexically_normal().filename().string();
  if (parse_step_name(base.empty() ? fs::path(dir).lexically_normal().parent_path().filename().string() : base,
                      dir_step) &&
      dir_step != ck.state.step)
    fail(spath, ": field 'step' is ", ck.state.step, " but the directory is ", checkpoint_dir_name(dir_step));
  if (ck.state.tokens_seen < 0) fail(spath, ": field 'tokens_seen' is negative (", ck.state.tokens_seen, ")");
  if (with_optimizer) {
    parse_optim_file(dir + "/optim.bin", ck.params.size(), ck);
    // Every step of a run is one AdamW update except the skipped ones (--skip-bad-steps), and a run that
    // started from --init counts both from 0; so adam_step = step - skipped_steps.
    const json& sk = ck.state.meta.contains("skipped_steps") ? ck.state.meta["skipped_steps"] : json(0);
    if (!sk.is_number_integer() || sk.get<int64_t>() < 0 || sk.get<int64_t>() > ck.state.step)
      fail(spath, ": meta.skipped_steps ", sk.dump(), " is not an integer in 0..step (", ck.state.step, ")");
    if (ck.adam_step != ck.state.step - sk.get<int64_t>())
      fail(dir, "/optim.bin: AdamW step ", ck.adam_step, " does not match state.json's step ", ck.state.step,
           sk.get<int64_t>() ? cat(" minus ", sk.get<int64_t>(), " skipped") : std::string(),
           " (the files come from different saves)");
  }
  return ck;
}

// ------------------------------------------------------------------------------------------------ run dir

std::vector<std::string> list_checkpoints(const std::string& run_dir) {
  std::vector<std::pair<long, std::string>> found;
  std::error_code ec;
  if (!fs::is_directory(run_dir, ec)) return {};
  for (const auto& e : fs::directory_iterator(run_dir, ec)) {
    long step;
    const std::string name = e.path().filename().string();
    if (!parse_step_name(name, step) || !e.is_directory(ec)) continue;
    const std::string d = run_dir + "/" + name;
    if (is_complete(d)) found.push_back({step, d});
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(f.second);
  return out;
}

std::string latest_checkpoint(const std::string& run_dir) {
  auto all = list_checkpoints(run_dir);
  return all.empty() ? "" : all.back();
}

void mark_checkpoint(const std::string& dir) {
  struct stat sb;
  if (::stat(dir.c_str(), &sb) != 0 || !S_ISDIR(sb.st_mode)) fail("mark_checkpoint: ", dir, " is not a directory");
  write_file_atomic(dir + "/KEEP", "kept: prune_checkpoints never removes this checkpoint\n");
}

std::vector<std::string> remove_checkpoint_leftovers(const std::string& run_dir) {
  std::vector<std::string> removed;
  std::error_code ec;
  std::vector<std::string> names;  // collected first: removing while iterating is unspecified
  for (const auto& e : fs::directory_iterator(run_dir, ec)) names.push_back(e.path().filename().string());
  for (const std::string& name : names) {
    const bool trash = name.compare(0, 8, ".trash_s") == 0;  // ".trash_step_N.<pid>": pruned, never read again
    if (!trash && name.compare(0, 10, ".tmp_step_") != 0) continue;
    const size_t dot = name.find_last_of('.');
    if (dot == 0 || dot + 1 >= name.size()) continue;
    const long pid = std::strtol(name.c_str() + dot + 1, nullptr, 10);
    // A .tmp_ dir of a live process is a save in progress; a .trash_ dir is garbage whoever made it.
    if (!trash && (pid <= 0 || (::kill((pid_t)pid, 0) == 0 || errno != ESRCH))) continue;
    std::error_code ec2;
    fs::remove_all(run_dir + "/" + name, ec2);
    if (!ec2) removed.push_back(run_dir + "/" + name);
  }
  return removed;
}

std::vector<std::string> prune_checkpoints(const std::string& run_dir, int keep_last) {
  std::vector<std::string> removed;
  if (keep_last <= 0) return removed;
  auto all = list_checkpoints(run_dir);
  std::error_code ec;
  for (size_t i = 0; i + (size_t)keep_last < all.size(); i++) {
    if (file_exists(all[i] + "/KEEP")) continue;
    // Rename first, then delete: a kill during the (non-atomic) recursive delete leaves a .trash_ directory,
    // which the next save or start removes, never a half-deleted step_* that looks like a checkpoint.
    const std::string trash = run_dir + "/.trash_" + fs::path(all[i]).filename().string() + "." +
                              std::to_string(::getpid());
    fs::remove_all(trash, ec);
    if (::rename(all[i].c_str(), trash.c_str()) != 0)
      fail("cannot remove old checkpoint ", all[i], ": ", std::strerror(errno));
    if (g_checkpoint_fault_hook) g_checkpoint_fault_hook("prune");
    fs::remove_all(trash, ec);
    if (ec) fail("cannot remove old checkpoint ", trash, ": ", ec.message());
    removed.push_back(all[i]);
  }
  for (std::string& d : remove_checkpoint_leftovers(run_dir)) removed.push_back(std::move(d));
  return removed;
}

}  // namespace beop
