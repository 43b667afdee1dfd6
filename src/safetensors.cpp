#include "src/safetensors.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "src/bytes.h"
#include "src/common.h"
#include "src/io.h"

namespace beop {

using json = nlohmann::json;

namespace {
// The reference implementation refuses headers above 100 MB; so do we (a corrupt length field would otherwise
// make us parse gigabytes of tensor data as JSON).
constexpr uint64_t kMaxHeaderBytes = 100000000;

bool host_is_little_endian() {
  const uint16_t x = 1;
  uint8_t b;
  std::memcpy(&b, &x, 1);
  return b == 1;
}

bool parse_dtype(const std::string& s, StDType& out) {
  if (s == "F32") return out = StDType::F32, true;
  if (s == "F16") return out = StDType::F16, true;
  if (s == "BF16") return out = StDType::BF16, true;
  return false;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string o = "[";
  for (size_t k = 0; k < s.size(); k++) o += (k ? ", " : "") + std::to_string(s[k]);
  return o + "]";
}
}  // namespace

const char* st_dtype_name(StDType t) {
  switch (t) {
    case StDType::F32: return "F32";
    case StDType::F16: return "F16";
    case StDType::BF16: return "BF16";
  }
  return "?";
}

size_t st_dtype_size(StDType t) { return t == StDType::F32 ? 4 : 2; }

float bf16_to_f32(uint16_t h) {
  const uint32_t bits = uint32_t(h) << 16;  // bf16 is the top half of an f32
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;  // +-0
    } else {        // subnormal: mant * 2^-24, exactly representable in f32
      const float v = std::ldexp(float(mant), -24);
      std::memcpy(&bits, &v, 4);
      bits |= sign;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf / nan (payload kept)
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);  // rebias 15 -> 127
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if (std::isnan(f)) return uint16_t((bits >> 16) | 0x40);  // keep it a (quiet) NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);                    // round to nearest, ties to even
  return uint16_t(bits >> 16);
}

// ------------------------------------------------------------------------------------------------ reader

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  BEOP_CHECK(host_is_little_endian(), "safetensors reading assumes a little-endian host");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, ": cannot open (", std::strerror(errno), ")");
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    fail(path, ": cannot stat (", std::strerror(e), ")");
  }
  const uint64_t size = uint64_t(st.st_size);
  if (size < 8) {
    ::close(fd);
    fail(path, ": truncated: ", size, " bytes, a safetensors file starts with an 8-byte header length");
  }
  void* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int e = errno;
  ::close(fd);  // the mapping keeps the file
  if (m == MAP_FAILED) fail(path, ": mmap failed (", std::strerror(e), ")");
  map_ = m, map_bytes_ = size;
  try {
    parse(static_cast<const uint8_t*>(m), size);
  } catch (...) {
    ::munmap(map_, map_bytes_);
    map_ = nullptr;
    throw;
  }
}

SafetensorsFile::SafetensorsFile(const std::string& name, const uint8_t* bytes, size_t size) : path_(name) {
  BEOP_CHECK(host_is_little_endian(), "safetensors reading assumes a little-endian host");
  if (size < 8) fail(name, ": truncated: ", size, " bytes, a safetensors file starts with an 8-byte header length");
  parse(bytes, size);
}

// Validates the whole file image b[0, size) (size >= 8) and fills tensors_, index_, metadata_, data_.
void SafetensorsFile::parse(const uint8_t* b, uint64_t size) {
  const std::string& path = path_;
  const uint64_t n = load_u64(b);
  if (n > size - 8)
    fail(path, ": header length ", n, " runs past the end of the file (", size, " bytes; truncated or not safetensors)");
  if (n > kMaxHeaderBytes) fail(path, ": header length ", n, " exceeds the 100 MB limit");
  if (n < 2 || b[8] != '{') fail(path, ": header does not start with '{' (not a safetensors file)");
  json h;
  try {
    h = json::parse(reinterpret_cast<const char*>(b + 8), reinterpret_cast<const char*>(b + 8 + n));
  } catch (const json::exception& ex) {
    fail(path, ": header is not valid JSON (", ex.what(), ")");
  }
  if (!h.is_object()) fail(path, ": header is not a JSON object");
  data_ = b + 8 + n;
  const uint64_t data_size = size - 8 - n;

  for (auto it = h.begin(); it != h.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) fail(path, ": __metadata__ is not an object of strings");
      for (auto m2 = v.begin(); m2 != v.end(); ++m2) {
        if (!m2.value().is_string()) fail(path, ": __metadata__ value of '", m2.key(), "' is not a string");
        metadata_[m2.key()] = m2.value().get<std::string>();
      }
      continue;
    }
    const std::string what = cat(path, ": tensor '", name, "'");
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      fail(what, ": entry is not an object with dtype, shape and data_offsets");
    StTensor t;
    t.name = name;
    if (!v["dtype"].is_string()) fail(what, ": dtype is not a string");
    const std::string ds = v["dtype"].get<std::string>();
    if (!parse_dtype(ds, t.dtype)) fail(what, " has dtype ", ds, "; beop reads F32, F16 and BF16 only");
    const json& sh = v["shape"];
    if (!sh.is_array()) fail(what, ": shape is not an array");
    for (const json& d : sh) {
      if (!d.is_number_unsigned() && !(d.is_number_integer() && d.get<int64_t>() >= 0))
        fail(what, ": shape ", sh.dump(), " has a dimension that is not a non-negative integer");
      const uint64_t dim = d.get<uint64_t>();
      if (dim != 0 && t.numel > (uint64_t(1) << 62) / dim) fail(what, ": shape ", sh.dump(), " overflows");
      t.shape.push_back(int64_t(dim));
      t.numel *= size_t(dim);
    }
    const json& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      fail(what, ": data_offsets ", off.dump(), " is not [begin, end] of non-negative integers");
    t.begin = off[0].get<uint64_t>(), t.end = off[1].get<uint64_t>();
    if (t.end < t.begin) fail(what, ": data_offsets ", off.dump(), " end before they begin");
    if (t.end > data_size)
      fail(what, ": data_offsets ", off.dump(), " run past the end of the data section (", data_size,
           " bytes; file truncated?)");
    const uint64_t want = uint64_t(t.numel) * st_dtype_size(t.dtype);
    if (t.end - t.begin != want)
      fail(what, ": data_offsets ", off.dump(), " span ", t.end - t.begin, " bytes, but ", ds, " ",
           shape_str(t.shape), " needs ", want);
    tensors_.push_back(std::move(t));
  }
  // The tensors must tile the data section exactly, as the reference reader demands ("not fully covered"):
  // sorted by [begin, end), each begins where the previous one ended, the first at 0 and the last at the end
  // of the file. A gap or a tail nobody owns means the header length or an offset is wrong -- e.g. a header
  // length lowered into the JSON's trailing-space padding still parses, but every tensor would be read
  // shifted by those bytes.
  std::stable_sort(tensors_.begin(), tensors_.end(), [](const StTensor& a, const StTensor& c) {
    return a.begin != c.begin ? a.begin < c.begin : a.end < c.end;
  });
  uint64_t covered = 0;               // bytes [0, covered) of the data section belong to a tensor
  const StTensor* prev = nullptr;     // the tensor that ends at `covered`
  for (const StTensor& t : tensors_) {
    if (t.begin < covered)
      fail(path, ": tensor '", t.name, "' at bytes [", t.begin, ", ", t.end, ") overlaps tensor '", prev->name,
           "' at [", prev->begin, ", ", prev->end, ")");
    if (t.begin > covered)
      fail(path, ": tensor '", t.name, "' starts at byte ", t.begin, " of the data section, but the tensors before it",
           " end at ", covered, ": a gap no tensor covers (corrupt data_offsets)");
    covered = t.end;
    prev = &t;
  }
  if (covered != data_size)
    fail(path, ": the tensors cover ", covered, " bytes of the ", data_size, "-byte data section: ", data_size - covered,
         " bytes not covered (header length ", n, " wrong, or the file is padded or truncated)");
  for (size_t i = 0; i < tensors_.size(); i++) index_[tensors_[i].name] = i;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, map_bytes_);
}

const StTensor* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

void SafetensorsFile::read_f32(const StTensor& t, float* dst) const {
  const uint8_t* src = data(t);
  const int64_t n = int64_t(t.numel);
  // An empty tensor: nothing to copy, and dst/src may be null (an empty vector's data(), a file whose data
  // section is empty), which memcpy may not be given even for 0 bytes (UBSan, make sanitize).
  if (n == 0) return;
  switch (t.dtype) {
    case StDType::F32:
      std::memcpy(dst, src, size_t(n) * 4);
      break;
    case StDType::BF16:
#pragma omp parallel for schedule(static) if (n > (1 << 20))
      for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = bf16_to_f32(h);
      }
      break;
    case StDType::F16:
#pragma omp parallel for schedule(static) if (n > (1 << 20))
      for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = f16_to_f32(h);
      }
      break;
  }
}

std::vector<float> SafetensorsFile::read_f32(const std::string& name) const {
  const StTensor* t = find(name);
  if (!t) fail(path_, ": no tensor '", name, "'");
  std::vector<float> out(t->numel);
  read_f32(*t, out.data());
  return out;
}

// ------------------------------------------------------------------------------------------------ directory

SafetensorsDir::SafetensorsDir(const std::string& dir) {
  const std::string single = dir + "/model.safetensors", index = dir + "/model.safetensors.index.json";
  auto add = [&](const SafetensorsFile& f, const StTensor& t) {
    auto [it, fresh] = tensors_.emplace(t.name, Entry{&f, &t});
    if (!fresh) fail(f.path(), ": tensor '", t.name, "' is also in ", it->second.file->path());
  };
  if (file_exists(single)) {  // transformers prefers the single file too
    files_.emplace_back(new SafetensorsFile(single));
    for (const StTensor& t : files_[0]->tensors()) add(*files_[0], t);
    return;
  }
  if (!file_exists(index))
    fail(dir, ": no model.safetensors or model.safetensors.index.json (pytorch_model.bin is not supported; ",
         "convert the model to safetensors)");
  json j;
  try {
    j = json::parse(read_file(index));
  } catch (const json::exception& e) {
    fail(index, ": not valid JSON (", e.what(), ")");
  }
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    fail(index, ": no \"weight_map\" object");
  std::map<std::string, std::string> wmap;  // tensor -> shard file name
  std::set<std::string> shards;
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    if (!it.value().is_string()) fail(index, ": weight_map entry of '", it.key(), "' is not a file name");
    const std::string f = it.value().get<std::string>();
    if (f.empty() || f.find('/') != std::string::npos || f == "." || f == "..")
      fail(index, ": weight_map entry of '", it.key(), "' is not a plain file name: '", f, "'");
    wmap[it.key()] = f;
    shards.insert(f);
  }
  if (wmap.empty()) fail(index, ": weight_map is empty");
  for (const std::string& s : shards) {
    files_.emplace_back(new SafetensorsFile(dir + "/" + s));
    const SafetensorsFile& f = *files_.back();
    for (const StTensor& t : f.tensors()) {
      auto w = wmap.find(t.name);
      if (w == wmap.end()) fail(f.path(), ": tensor '", t.name, "' is not listed in ", index);
      if (w->second != s) fail(f.path(), ": tensor '", t.name, "' is listed in ", index, " under ", w->second);
      add(f, t);
    }
  }
  for (const auto& [name, file] : wmap)
    if (!tensors_.count(name)) fail(dir + "/" + file, ": has no tensor '", name, "' (listed in ", index, ")");
}

const SafetensorsDir::Entry* SafetensorsDir::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

// ------------------------------------------------------------------------------------------------ writer

void save_safetensors(const std::string& path, const std::vector<StWriteTensor>& tensors,
                      const std::map<std::string, std::string>& metadata, StDType dtype) {
  BEOP_CHECK(dtype == StDType::F32 || dtype == StDType::BF16, path, ": writing ", st_dtype_name(dtype),
             " is not supported (F32 or BF16)");
  BEOP_CHECK(host_is_little_endian(), "safetensors writing assumes a little-endian host");
  const size_t isz = st_dtype_size(dtype);
  // Header: __metadata__ first, then the tensors in order with contiguous data offsets (as the reference does).
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    h["__metadata__"] = m;
  }
  std::set<std::string> seen;
  std::vector<size_t> numel;
  size_t off = 0;
  for (const StWriteTensor& t : tensors) {
    BEOP_CHECK(!t.name.empty() && t.name != "__metadata__", path, ": invalid tensor name '", t.name, "'");
    BEOP_CHECK(seen.insert(t.name).second, path, ": tensor '", t.name, "' given twice");
    size_t n = 1;
    for (int64_t d : t.shape) {
      BEOP_CHECK(d >= 0, path, ": tensor '", t.name, "' has a negative dimension");
      n *= size_t(d);
    }
    BEOP_CHECK(t.data || n == 0, path, ": tensor '", t.name, "' has no data");
    numel.push_back(n);
    h[t.name] = {{"dtype", st_dtype_name(dtype)}, {"shape", t.shape}, {"data_offsets", {off, off + n * isz}}};
    off += n * isz;
  }
  std::string hs = h.dump();
  hs.resize((hs.size() + 7) / 8 * 8, ' ');  // pad with spaces: the data section starts 8-byte aligned
  std::string len;
  put_u64(len, hs.size());

  AtomicFile f(path);
  f.write(len);
  f.write(hs);
  for (size_t i = 0; i < tensors.size(); i++) {
    if (dtype == StDType::F32) {
      f.write(tensors[i].data, numel[i] * 4);
      continue;
    }
    constexpr size_t kChunk = 1 << 20;  // elements converted per write
    std::vector<uint16_t> buf;
    for (size_t a = 0; a < numel[i]; a += kChunk) {
      const size_t m = std::min(kChunk, numel[i] - a);
      buf.resize(m);
      for (size_t k = 0; k < m; k++) buf[k] = f32_to_bf16(tensors[i].data[a + k]);
      f.write(buf.data(), m * 2);
    }
  }
  f.commit();
}

std::vector<std::string> save_safetensors_model(const std::string& dir, const std::vector<StWriteTensor>& tensors,
                                                size_t max_shard_bytes, StDType dtype,
                                                const std::map<std::string, std::string>& metadata) {
  BEOP_CHECK(max_shard_bytes > 0, "max shard size must be positive");
  make_dirs(dir);
  const size_t isz = st_dtype_size(dtype);
  std::vector<std::vector<StWriteTensor>> shards(1);
  size_t cur = 0, total = 0;
  for (const StWriteTensor& t : tensors) {
    size_t n = 1;
    for (int64_t d : t.shape) n *= size_t(std::max<int64_t>(d, 0));
    const size_t bytes = n * isz;
    if (!shards.back().empty() && cur + bytes > max_shard_bytes) shards.emplace_back(), cur = 0;
    shards.back().push_back(t);
    cur += bytes, total += bytes;
  }
  std::vector<std::string> written;
  if (shards.size() == 1) {
    save_safetensors(dir + "/model.safetensors", shards[0], metadata, dtype);
    written.push_back("model.safetensors");
  } else {
    nlohmann::ordered_json wmap = nlohmann::ordered_json::object();
    for (size_t s = 0; s < shards.size(); s++) {
      char name[64];
      std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", s + 1, shards.size());
      save_safetensors(dir + "/" + name, shards[s], metadata, dtype);
      written.push_back(name);
      for (const StWriteTensor& t : shards[s]) wmap[t.name] = name;
    }
    nlohmann::ordered_json idx = {{"metadata", {{"total_size", total}}}, {"weight_map", wmap}};
    write_file_atomic(dir + "/model.safetensors.index.json", idx.dump(2) + "\n");
    written.push_back("model.safetensors.index.json");
  }
  // Remove the other layout's leftovers from an earlier export into the same directory, so a reader never
  // mixes old and new weights (model.safetensors wins over an index in transformers and here).
  if (DIR* d = ::opendir(dir.c_str())) {
    std::vector<std::string> stale;
    while (dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      const bool ours = n == "model.safetensors" || n == "model.safetensors.index.json" ||
                        (n.rfind("model-", 0) == 0 && n.size() > 12 && n.compare(n.size() - 12, 12, ".safetensors") == 0);
      if (ours && std::find(written.begin(), written.end(), n) == written.end()) stale.push_back(n);
    }
    ::closedir(d);
    for (const std::string& n : stale) std::remove((dir + "/" + n).c_str());
  }
  return written;
}

}  // namespace beop
