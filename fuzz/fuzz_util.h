// Helpers shared by the libFuzzer harnesses (fuzz/fuzz_*.cpp): a private scratch directory on tmpfs for
// loaders that only take a path, fast unsynced writes into it, and seed files.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "src/io.h"

namespace beop_fuzz {

// /dev/shm/beop_fuzz_<pid> (or $TMPDIR/...): made once per process. Per-input files go here; nothing in it
// needs to survive the process.
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    const char* t = std::getenv("TMPDIR");
    std::string base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (t && *t ? t : "/tmp");
    std::string d = base + "/beop_fuzz_" + std::to_string(getpid());
    beop::make_dirs(d);
    return d;
  }();
  return dir;
}

// Plain write (no fsync, no rename): the harness rewrites these files for every input.
inline void put_file(const std::string& path, const uint8_t* data, size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
}
inline void put_file(const std::string& path, const std::string& s) {
  put_file(path, reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// DIR/NAME with the given bytes (a seed).
inline void seed(const std::string& dir, const std::string& name, const std::string& bytes) {
  beop::write_file_atomic(dir + "/" + name, bytes);
}

}  // namespace beop_fuzz
