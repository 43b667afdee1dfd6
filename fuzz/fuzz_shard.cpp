// libFuzzer harness: token shards (src/shard.h). The input is a whole shard file image; ShardReader validates
// it from memory (the same code as the mmap path), then every accessor runs on what it accepted. Only
// beop::Error may come out; anything else (a crash, a sanitizer report, another exception) is a finding.
// fuzz-sources: src/shard.cpp src/io.cpp src/common.cpp
#include <cstring>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "src/common.h"
#include "src/shard.h"

void beop_fuzz_seeds(const std::string& dir) {
  auto write = [&](const std::string& name, int64_t vocab, bool mask, const std::vector<std::vector<int32_t>>& docs) {
    beop::ShardWriter w(dir + "/" + name, vocab, mask);
    for (const auto& d : docs) {
      if (mask) {
        std::vector<uint8_t> m(d.size());
        for (size_t i = 0; i < d.size(); i++) m[i] = uint8_t(i % 2);
        w.add_document(d, m);
      } else {
        w.add_document(d);
      }
    }
    w.finish();
  };
  write("empty.bin", 10, false, {});
  write("two_byte.bin", 300, false, {{1, 2, 3}, {}, {299, 0}});
  write("two_byte_mask.bin", 65536, true, {{65535, 7, 8, 9}, {1}});
  write("four_byte.bin", 100000, false, {{70000, 5}, {99999}});
  write("four_byte_mask.bin", 70000, true, {{1, 2}, {3, 4, 5}, {69999}});
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint64_t> img(size / 8 + 1);  // the reader wants an 8-byte aligned image (like an mmap)
  if (size) std::memcpy(img.data(), data, size);
  // The model's vocab: none, or one below the shard's (every token is checked against it).
  for (int64_t limit : {int64_t(0), int64_t(300)}) {
    try {
      beop::ShardReader r("fuzz.bin", img.data(), size, limit);
      const int64_t n = r.n_tokens();
      std::vector<int32_t> toks(size_t(std::min<int64_t>(n, 4096)));
      std::vector<uint8_t> mask(toks.size());
      if (!toks.empty()) {
        r.read_tokens(n - int64_t(toks.size()), int64_t(toks.size()), toks.data());
        r.read_mask(0, int64_t(mask.size()), mask.data());
      }
      for (int32_t t : toks)
        if (t < 0 || t >= r.vocab_size() || (limit > 0 && t >= limit)) std::abort();  // validated on open
      for (int64_t d = 0; d < std::min<int64_t>(r.n_docs(), 64); d++) {
        std::vector<int32_t> doc = r.document(d);
        if (int64_t(doc.size()) != r.doc_offset(d + 1) - r.doc_offset(d)) std::abort();
      }
      beop::ShardReader moved(std::move(r));  // move keeps the (non-owned) image
      if (moved.n_tokens() != n) std::abort();
    } catch (const beop::Error&) {
    }
  }
  return 0;
}
