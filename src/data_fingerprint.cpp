// data_fingerprint (src/data_fingerprint.h).
#include "src/data_fingerprint.h"

#include <cstdint>
#include <cstdio>
#include <exception>
#include <fstream>
#include <vector>

#include "src/common.h"
#include "src/hash.h"
#include "src/mixture_loader.h"
#include "src/shard.h"

namespace beop {
namespace {

constexpr uint64_t kSampleBytes = 4096;

// `n` bytes at `at` of `f`, fewer at the end of the file.
std::string read_at(std::ifstream& f, uint64_t at, uint64_t n) {
  std::string s(n, '\0');
  f.clear();
  f.seekg(std::streamoff(at));
  f.read(&s[0], std::streamsize(n));
  s.resize(size_t(f.gcount()));
  return s;
}

}  // namespace

std::string data_fingerprint(const std::string& spec) {
  try {
    std::string all;
    uint64_t shards = 0, bytes = 0;
    for (const MixtureSource& src : parse_mixture_spec(spec)) {
      all += cat("source ", src.name, " ", src.weight, "\n");
      for (const std::string& path : expand_glob(src.pattern)) {
        std::ifstream f(path, std::ios::binary | std::ios::ate);
        BEOP_CHECK(f, "cannot open ", path);
        const uint64_t size = uint64_t(f.tellg());
        const uint64_t tail = size > kShardHeaderBytes + kSampleBytes ? size - kSampleBytes : kShardHeaderBytes;
        all += cat(path, " ", size, "\n", read_at(f, 0, kShardHeaderBytes + kSampleBytes), read_at(f, tail, kSampleBytes));
        shards++, bytes += size;
      }
    }
    char hash[17];
    std::snprintf(hash, sizeof hash, "%016llx", (unsigned long long)fnv1a64(all));
    return cat(shards, " shard(s), ", bytes, " bytes, data hash ", hash);
  } catch (const std::exception& e) {
    return cat("error: ", e.what());
  }
}

}  // namespace beop
