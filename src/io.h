// Checked file I/O. Writes that matter (checkpoints, shards, tokenizers) go through AtomicFile: bytes go to
// "<path>.tmp.<pid>", are fsync'd, and only then renamed over <path>, so a crash or a full disk never leaves
// a half-written file under the real name. Reads report the path and what went wrong.
#pragma once
#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

namespace beop {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);  // opens the temp file; throws Error if it cannot
  ~AtomicFile();                          // not committed: removes the temp file
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t bytes);  // throws Error (e.g. disk full) naming the path
  void write(const std::string& s) { write(s.data(), s.size()); }
  void commit();  // flush + fsync + rename onto the final path (+ fsync of the directory)
  const std::string& path() const { return path_; }

 private:
  std::string path_, tmp_;
  std::FILE* f_ = nullptr;
};

void write_file_atomic(const std::string& path, const std::string& bytes);
std::string read_file(const std::string& path);  // whole file; throws Error naming the path
bool file_exists(const std::string& path);
void make_dirs(const std::string& path);  // mkdir -p; throws Error naming the path

}  // namespace beop
