// Token shards: beop's versioned binary container for tokenized training data (byte layout in
// docs/FORMATS.md, "Token shard"). A shard holds a packed token stream, a document-offset table (so a loader can
// find document boundaries) and, for instruction data, an optional per-token loss mask.
//
//   ShardWriter w("legal_train_000.bin", /*vocab_size=*/8192);
//   w.add_document(ids);          // or add_document(ids, mask) on a writer made with with_loss_mask=true
//   w.finish();                   // atomic: nothing appears under the real name until here
//
//   ShardReader r("legal_train_000.bin", /*vocab_limit=*/8192);   // mmap + full validation
//   r.read_tokens(start, n, out);
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace beop {

inline constexpr char kShardMagic[8] = {'B', 'E', 'O', 'P', 'T', 'O', 'K', '\0'};
inline constexpr uint32_t kShardVersion = 1;
inline constexpr uint32_t kShardHeaderBytes = 64;
inline constexpr uint32_t kShardFlagLossMask = 1u;  // flags bit 0: a loss-mask stream follows the tokens

// The fixed 64-byte header, little-endian, exactly as it sits at offset 0 of the file.
struct ShardHeader {
  char magic[8];             // "BEOPTOK\0"
  uint32_t version;          // kShardVersion
  uint32_t header_bytes;     // 64 (lets a later version grow the header)
  uint64_t n_tokens;         // tokens in the stream
  uint32_t bytes_per_token;  // 2 (vocab <= 65536) or 4
  uint32_t flags;            // kShardFlagLossMask
  uint32_t vocab_size;       // vocabulary the shard was made for; every token < vocab_size
  uint32_t reserved0;        // 0
  uint64_t n_docs;           // documents; the offset table has n_docs + 1 entries
  uint64_t reserved1[2];     // 0
};
static_assert(sizeof(ShardHeader) == kShardHeaderBytes, "shard header must be 64 bytes");

// Total file size implied by a header (header + offsets + tokens + optional mask).
uint64_t shard_file_bytes(const ShardHeader& h);

// Collects documents in memory and writes the shard through AtomicFile on finish(). If finish() is never
// called (exception, early return) nothing is left on disk.
class ShardWriter {
 public:
  // bytes_per_token = 2 when vocab_size <= 65536, else 4.
  ShardWriter(std::string path, int64_t vocab_size, bool with_loss_mask = false);

  // tokens: (n,) ids in [0, vocab_size). On a writer with a loss mask, the one-argument form uses mask = all 1.
  void add_document(const std::vector<int32_t>& tokens);
  // mask: (n,) 1 = train on predicting this token, 0 = don't. Only on a writer made with with_loss_mask.
  void add_document(const std::vector<int32_t>& tokens, const std::vector<uint8_t>& mask);
  void finish();  // writes + commits; the writer is done afterwards

  const std::string& path() const { return path_; }
  uint64_t n_tokens() const { return n_tokens_; }
  uint64_t n_docs() const { return offsets_.size() - 1; }
  uint64_t file_bytes() const;  // size the finished file will have

 private:
  std::string path_;
  int64_t vocab_size_;
  bool with_mask_;
  uint32_t bpt_;
  bool finished_ = false;
  uint64_t n_tokens_ = 0;
  std::vector<uint64_t> offsets_{0};  // (n_docs+1,) token offsets of document starts, then n_tokens
  std::string tokens_;                // (n_tokens * bpt,) raw little-endian token bytes
  std::string mask_;                  // (n_tokens,) 0/1 bytes when with_mask_
};

// Memory-maps a shard read-only and validates it completely on open: magic, version, sizes vs. the file size,
// offset table, every token against the shard's vocab and (if > 0) vocab_limit, mask bytes in {0,1}, vocab size
// <= INT32_MAX, reserved fields 0.
// Every error names the file. Move-only.
class ShardReader {
 public:
  explicit ShardReader(const std::string& path, int64_t vocab_limit = 0);
  // The same validation over a shard image already in memory (fuzzing, tests): bytes[0, size) are not copied
  // and must outlive the reader; `name` stands for the file in errors.
  ShardReader(const std::string& name, const void* bytes, size_t size, int64_t vocab_limit = 0);
  ~ShardReader();
  ShardReader(ShardReader&&) noexcept;
  ShardReader& operator=(ShardReader&&) noexcept;
  ShardReader(const ShardReader&) = delete;
  ShardReader& operator=(const ShardReader&) = delete;

  const std::string& path() const { return path_; }
  const ShardHeader& header() const { return h_; }
  int64_t n_tokens() const { return (int64_t)h_.n_tokens; }
  int64_t n_docs() const { return (int64_t)h_.n_docs; }
  int64_t vocab_size() const { return h_.vocab_size; }
  int bytes_per_token() const { return (int)h_.bytes_per_token; }
  bool has_loss_mask() const { return (h_.flags & kShardFlagLossMask) != 0; }

  int32_t token(int64_t i) const;  // i in [0, n_tokens)
  // out: (n,) tokens [start, start+n). Throws if the range leaves the stream.
  void read_tokens(int64_t start, int64_t n, int32_t* out) const;
  // out: (n,) mask bytes [start, start+n); all 1 for a shard without a mask stream.
  void read_mask(int64_t start, int64_t n, uint8_t* out) const;
  // Document d spans tokens [doc_offset(d), doc_offset(d+1)); d in [0, n_docs].
  int64_t doc_offset(int64_t d) const;
  std::vector<int32_t> document(int64_t d) const;

 private:
  void check_range(int64_t start, int64_t n) const;
  void validate(int64_t vocab_limit);
  void unmap();
  std::string path_;
  ShardHeader h_{};
  const unsigned char* base_ = nullptr;  // mmap'd file (or the caller's image)
  bool mapped_ = false;                   // base_ is our mapping (munmap it)
  size_t size_ = 0;
  const uint64_t* offsets_ = nullptr;     // (n_docs+1,)
  const unsigned char* tokens_ = nullptr; // (n_tokens * bpt,)
  const uint8_t* mask_ = nullptr;         // (n_tokens,) or null
};

}  // namespace beop
