#include "src/shard.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "src/common.h"
#include "src/io.h"

namespace beop {

namespace {
// The format is little-endian; every machine beop targets (x86-64, aarch64, the GPU hosts) is too.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "token shards assume a little-endian host");

// Saturating arithmetic so a hostile header (n_tokens = 2^63...) cannot wrap the expected size around.
uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }
uint64_t sat_mul(uint64_t a, uint64_t b) { return (a != 0 && b > UINT64_MAX / a) ? UINT64_MAX : a * b; }
}  // namespace

uint64_t shard_file_bytes(const ShardHeader& h) {
  uint64_t n = kShardHeaderBytes;
  n = sat_add(n, sat_mul(sat_add(h.n_docs, 1), 8));
  n = sat_add(n, sat_mul(h.n_tokens, h.bytes_per_token));
  if (h.flags & kShardFlagLossMask) n = sat_add(n, h.n_tokens);
  return n;
}

// ------------------------------------------------------------------------------------------------ writer

ShardWriter::ShardWriter(std::string path, int64_t vocab_size, bool with_loss_mask)
    : path_(std::move(path)), vocab_size_(vocab_size), with_mask_(with_loss_mask) {
  if (vocab_size <= 0 || vocab_size > INT32_MAX)
    fail(path_, ": vocab size ", vocab_size, " out of range [1, ", INT32_MAX, "]");
  bpt_ = vocab_size <= 65536 ? 2 : 4;
}

void ShardWriter::add_document(const std::vector<int32_t>& tokens) {
  if (!with_mask_) {
    add_document(tokens, {});
    return;
  }
  add_document(tokens, std::vector<uint8_t>(tokens.size(), 1));
}

void ShardWriter::add_document(const std::vector<int32_t>& tokens, const std::vector<uint8_t>& mask) {
  if (finished_) fail(path_, ": add_document after finish");
  if (with_mask_ && mask.size() != tokens.size())
    fail(path_, ": document ", n_docs(), " has ", tokens.size(), " tokens but ", mask.size(), " mask bytes");
  if (!with_mask_ && !mask.empty())
    fail(path_, ": document ", n_docs(), " has a loss mask but the writer was made without one");
  for (size_t i = 0; i < tokens.size(); i++) {
    int32_t t = tokens[i];
    if (t < 0 || t >= vocab_size_)
      fail("token ", t, " at position ", n_tokens_ + i, " in ", path_, " exceeds vocab ", vocab_size_);
    if (with_mask_ && mask[i] > 1)
      fail(path_, ": mask byte ", int(mask[i]), " at position ", n_tokens_ + i, " is not 0 or 1");
  }
  size_t at = tokens_.size();
  tokens_.resize(at + tokens.size() * bpt_);
  char* p = &tokens_[0] + at;
  if (bpt_ == 2) {
    for (int32_t t : tokens) {
      uint16_t v = (uint16_t)t;
      std::memcpy(p, &v, 2);
      p += 2;
    }
  } else if (!tokens.empty()) {
    std::memcpy(p, tokens.data(), tokens.size() * 4);
  }
  if (with_mask_) mask_.append(reinterpret_cast<const char*>(mask.data()), mask.size());
  n_tokens_ += tokens.size();
  offsets_.push_back(n_tokens_);
}

uint64_t ShardWriter::file_bytes() const {
  return kShardHeaderBytes + 8 * offsets_.size() + tokens_.size() + mask_.size();
}

void ShardWriter::finish() {
  if (finished_) fail(path_, ": finish called twice");
  ShardHeader h{};
  std::memcpy(h.magic, kShardMagic, 8);
  h.version = kShardVersion;
  h.header_bytes = kShardHeaderBytes;
  h.n_tokens = n_tokens_;
  h.bytes_per_token = bpt_;
  h.flags = with_mask_ ? kShardFlagLossMask : 0;
  h.vocab_size = (uint32_t)vocab_size_;
  h.n_docs = n_docs();
  AtomicFile f(path_);
  f.write(&h, sizeof h);
  f.write(offsets_.data(), offsets_.size() * sizeof(uint64_t));
  f.write(tokens_);
  if (with_mask_) f.write(mask_);
  f.commit();
  finished_ = true;
  std::string().swap(tokens_);  // release the buffers; the writer is done
  std::string().swap(mask_);
}

// ------------------------------------------------------------------------------------------------ reader

ShardReader::ShardReader(const std::string& path, int64_t vocab_limit) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) fail("cannot read ", path, ": ", std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    fail("cannot stat ", path, ": ", std::strerror(err));
  }
  size_ = (size_t)st.st_size;
  if (size_ < kShardHeaderBytes) {
    ::close(fd);
    // Too short to even hold the header: say whether it is a shard at all before saying it is truncated.
    fail(path, ": truncated: expected at least ", kShardHeaderBytes, " bytes, file has ", size_);
  }
  void* m = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  int err = errno;
  ::close(fd);
  if (m == MAP_FAILED) fail("cannot mmap ", path, ": ", std::strerror(err));
  base_ = static_cast<const unsigned char*>(m);
  mapped_ = true;
  try {
    validate(vocab_limit);
  } catch (...) {
    unmap();
    throw;
  }
}

ShardReader::ShardReader(const std::string& name, const void* bytes, size_t size, int64_t vocab_limit)
    : path_(name), base_(static_cast<const unsigned char*>(bytes)), size_(size) {
  BEOP_CHECK(reinterpret_cast<uintptr_t>(bytes) % 8 == 0, name, ": shard image must be 8-byte aligned");
  if (size_ < kShardHeaderBytes)
    fail(name, ": truncated: expected at least ", kShardHeaderBytes, " bytes, file has ", size_);
  try {
    validate(vocab_limit);
  } catch (...) {
    unmap();
    throw;
  }
}

// Checks the whole image base_[0, size_) (size_ >= the header) and sets offsets_, tokens_, mask_.
void ShardReader::validate(int64_t vocab_limit) {
  const std::string& path = path_;
  std::memcpy(&h_, base_, sizeof h_);
  if (std::memcmp(h_.magic, kShardMagic, 8) != 0)
    fail(path, ": not a beop token shard (foreign file: bad magic)");
  if (h_.version != kShardVersion)
    fail(path, ": unsupported shard version ", h_.version, " (this build reads version ", kShardVersion, ")");
  if (h_.header_bytes != kShardHeaderBytes)
    fail(path, ": header size ", h_.header_bytes, " != ", kShardHeaderBytes, " for version ", kShardVersion);
  if (h_.bytes_per_token != 2 && h_.bytes_per_token != 4)
    fail(path, ": bytes per token ", h_.bytes_per_token, " (must be 2 or 4)");
  if (h_.flags & ~kShardFlagLossMask) fail(path, ": unknown flags ", h_.flags, " (this build knows bit 0, the loss mask)");
  if (h_.vocab_size == 0) fail(path, ": vocab size 0");
  // Token ids are int32 everywhere downstream: a 4-byte token >= 2^31 would turn negative on the way out.
  if (h_.vocab_size > uint32_t(INT32_MAX))
    fail(path, ": vocab size ", h_.vocab_size, " exceeds ", INT32_MAX, " (token ids are 32-bit signed)");
  if (h_.reserved0 != 0 || h_.reserved1[0] != 0 || h_.reserved1[1] != 0)
    fail(path, ": reserved header fields are not 0 (corrupt header, or written by a later version)");
  if (h_.bytes_per_token == 2 && h_.vocab_size > 65536)
    fail(path, ": vocab size ", h_.vocab_size, " does not fit 2-byte tokens");
  uint64_t want = shard_file_bytes(h_);
  if ((uint64_t)size_ < want) fail(path, ": truncated: expected ", want, " bytes, file has ", size_);
  if ((uint64_t)size_ > want)
    fail(path, ": ", size_ - want, " trailing bytes: expected ", want, " bytes, file has ", size_);

  offsets_ = reinterpret_cast<const uint64_t*>(base_ + kShardHeaderBytes);
  tokens_ = base_ + kShardHeaderBytes + 8 * (h_.n_docs + 1);
  mask_ = has_loss_mask() ? tokens_ + h_.n_tokens * h_.bytes_per_token : nullptr;

  if (offsets_[0] != 0) fail(path, ": document offset 0 is ", offsets_[0], ", not 0");
  for (uint64_t d = 0; d < h_.n_docs; d++)
    if (offsets_[d + 1] < offsets_[d])
      fail(path, ": document offsets not monotonic: offset ", d + 1, " = ", offsets_[d + 1], " < offset ", d,
           " = ", offsets_[d]);
  if (offsets_[h_.n_docs] != h_.n_tokens)
    fail(path, ": last document offset ", offsets_[h_.n_docs], " != token count ", h_.n_tokens);

  // Every token must be below the shard's own vocab (else the file is corrupt) and below the model's.
  uint64_t limit = h_.vocab_size;
  if (vocab_limit > 0 && (uint64_t)vocab_limit < limit) limit = (uint64_t)vocab_limit;
  const uint64_t n = h_.n_tokens;
  if (h_.bytes_per_token == 2) {
    const uint16_t* t = reinterpret_cast<const uint16_t*>(tokens_);
    for (uint64_t i = 0; i < n; i++)
      if (t[i] >= limit) fail("token ", t[i], " at position ", i, " in ", path, " exceeds vocab ", limit);
  } else {
    const uint32_t* t = reinterpret_cast<const uint32_t*>(tokens_);
    for (uint64_t i = 0; i < n; i++)
      if (t[i] >= limit) fail("token ", t[i], " at position ", i, " in ", path, " exceeds vocab ", limit);
  }
  if (mask_)
    for (uint64_t i = 0; i < n; i++)
      if (mask_[i] > 1) fail(path, ": mask byte ", int(mask_[i]), " at position ", i, " is not 0 or 1");
}

void ShardReader::unmap() {
  if (base_ && mapped_) ::munmap(const_cast<unsigned char*>(base_), size_);
  base_ = nullptr;
  mapped_ = false;
  offsets_ = nullptr;
  tokens_ = nullptr;
  mask_ = nullptr;
}

ShardReader::~ShardReader() { unmap(); }

ShardReader::ShardReader(ShardReader&& o) noexcept { *this = std::move(o); }

ShardReader& ShardReader::operator=(ShardReader&& o) noexcept {
  if (this != &o) {
    unmap();
    path_ = std::move(o.path_);
    h_ = o.h_;
    base_ = o.base_;
    mapped_ = o.mapped_;
    size_ = o.size_;
    offsets_ = o.offsets_;
    tokens_ = o.tokens_;
    mask_ = o.mask_;
    o.base_ = nullptr;
    o.mapped_ = false;
    o.offsets_ = nullptr;
    o.tokens_ = nullptr;
    o.mask_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

void ShardReader::check_range(int64_t start, int64_t n) const {
  if (start < 0 || n < 0 || start > n_tokens() || n > n_tokens() - start)
    fail(path_, ": token range [", start, ", ", start + n, ") outside [0, ", n_tokens(), ")");
}

int32_t ShardReader::token(int64_t i) const {
  check_range(i, 1);
  if (h_.bytes_per_token == 2) return reinterpret_cast<const uint16_t*>(tokens_)[i];
  return (int32_t)reinterpret_cast<const uint32_t*>(tokens_)[i];
}

void ShardReader::read_tokens(int64_t start, int64_t n, int32_t* out) const {
  check_range(start, n);
  if (h_.bytes_per_token == 2) {
    const uint16_t* t = reinterpret_cast<const uint16_t*>(tokens_) + start;
    for (int64_t i = 0; i < n; i++) out[i] = t[i];
  } else {
    std::memcpy(out, tokens_ + 4 * start, 4 * (size_t)n);
  }
}

void ShardReader::read_mask(int64_t start, int64_t n, uint8_t* out) const {
  check_range(start, n);
  if (mask_)
    std::memcpy(out, mask_ + start, (size_t)n);
  else
    std::memset(out, 1, (size_t)n);
}

int64_t ShardReader::doc_offset(int64_t d) const {
  if (d < 0 || d > n_docs()) fail(path_, ": document ", d, " outside [0, ", n_docs(), "]");
  return (int64_t)offsets_[d];
}

std::vector<int32_t> ShardReader::document(int64_t d) const {
  if (d < 0 || d >= n_docs()) fail(path_, ": document ", d, " outside [0, ", n_docs(), ")");
  int64_t a = doc_offset(d), b = doc_offset(d + 1);
  std::vector<int32_t> out((size_t)(b - a));
  if (b > a) read_tokens(a, b - a, out.data());
  return out;
}

}  // namespace beop
