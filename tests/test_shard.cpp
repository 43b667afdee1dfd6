// Token shard format: writer -> reader round trips (2- and 4-byte tokens, with and without a loss mask), the
// byte layout against docs/FORMATS.md (parsed here by hand, not through ShardHeader), every validation error,
// and that a failed or abandoned write leaves nothing on disk.
#include <doctest/doctest.h>

#include "tests/test_util.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

#include "src/common.h"
#include "src/io.h"
#include "src/shard.h"

using namespace beop;
namespace fs = std::filesystem;

namespace {

std::string tmpdir(const std::string& name) {
  std::string d = "build/test_shard_tmp/" + name;
  fs::remove_all(d);
  make_dirs(d);
  return d;
}

using beop::test::error_of;

template <typename T>
T at(const std::string& bytes, size_t off) {
  T v;
  std::memcpy(&v, bytes.data() + off, sizeof v);
  return v;
}

// Documents with lengths 0..n and tokens drawn uniformly below vocab (std::mt19937 output itself is
// specified by the standard; only distributions vary, so use raw draws mod vocab).
std::vector<std::vector<int32_t>> random_docs(int n_docs, int64_t vocab, uint32_t seed) {
  std::mt19937 g(seed);
  std::vector<std::vector<int32_t>> docs;
  for (int d = 0; d < n_docs; d++) {
    std::vector<int32_t> doc(d == 2 ? 0 : 1 + g() % 300);  // doc 2 empty: zero-length documents are legal
    for (auto& t : doc) t = (int32_t)(g() % (uint64_t)vocab);
    docs.push_back(doc);
  }
  return docs;
}

void corrupt(const std::string& path, size_t off, const void* bytes, size_t n) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp((std::streamoff)off);
  f.write(static_cast<const char*>(bytes), (std::streamsize)n);
}

void round_trip(int64_t vocab, bool with_mask, int want_bpt) {
  std::string dir = tmpdir("rt_" + std::to_string(vocab) + (with_mask ? "_m" : ""));
  std::string path = dir + "/s.bin";
  auto docs = random_docs(7, vocab, 42 + (uint32_t)vocab);
  if (vocab > 65536) docs[0][0] = (int32_t)(vocab - 1);  // a token that needs more than 16 bits
  std::vector<std::vector<uint8_t>> masks;
  ShardWriter w(path, vocab, with_mask);
  for (size_t d = 0; d < docs.size(); d++) {
    std::vector<uint8_t> m(docs[d].size());
    for (size_t i = 0; i < m.size(); i++) m[i] = (uint8_t)((i * 7 + d) % 3 != 0);
    masks.push_back(m);
    if (with_mask)
      w.add_document(docs[d], m);
    else
      w.add_document(docs[d]);
  }
  CHECK(!file_exists(path));  // nothing under the real name before finish()
  w.finish();

  // Byte layout, parsed by hand from the table in docs/FORMATS.md.
  uint64_t n_tok = 0;
  for (auto& d : docs) n_tok += d.size();
  std::string bytes = read_file(path);
  uint64_t want_size = 64 + 8 * (docs.size() + 1) + n_tok * want_bpt + (with_mask ? n_tok : 0);
  REQUIRE(bytes.size() == want_size);
  CHECK(bytes.substr(0, 8) == std::string("BEOPTOK\0", 8));
  CHECK(at<uint32_t>(bytes, 8) == 1);    // version
  CHECK(at<uint32_t>(bytes, 12) == 64);  // header bytes
  CHECK(at<uint64_t>(bytes, 16) == n_tok);
  CHECK(at<uint32_t>(bytes, 24) == (uint32_t)want_bpt);
  CHECK(at<uint32_t>(bytes, 28) == (with_mask ? 1u : 0u));
  CHECK(at<uint32_t>(bytes, 32) == (uint32_t)vocab);
  CHECK(at<uint64_t>(bytes, 40) == docs.size());
  uint64_t off = 0, tok_base = 64 + 8 * (docs.size() + 1), mask_base = tok_base + n_tok * want_bpt;
  for (size_t d = 0; d < docs.size(); d++) {
    CHECK(at<uint64_t>(bytes, 64 + 8 * d) == off);
    for (size_t i = 0; i < docs[d].size(); i++) {
      uint64_t p = off + i;
      uint32_t t = want_bpt == 2 ? at<uint16_t>(bytes, tok_base + 2 * p) : at<uint32_t>(bytes, tok_base + 4 * p);
      REQUIRE(t == (uint32_t)docs[d][i]);
      if (with_mask) REQUIRE((uint8_t)bytes[mask_base + p] == masks[d][i]);
    }
    off += docs[d].size();
  }
  CHECK(at<uint64_t>(bytes, 64 + 8 * docs.size()) == n_tok);

  // Reader API.
  ShardReader r(path, vocab);
  CHECK(r.n_tokens() == (int64_t)n_tok);
  CHECK(r.n_docs() == (int64_t)docs.size());
  CHECK(r.bytes_per_token() == want_bpt);
  CHECK(r.has_loss_mask() == with_mask);
  CHECK(r.vocab_size() == vocab);
  for (size_t d = 0; d < docs.size(); d++) {
    CHECK(r.document((int64_t)d) == docs[d]);
    int64_t a = r.doc_offset((int64_t)d);
    std::vector<uint8_t> m(docs[d].size());
    if (!m.empty()) r.read_mask(a, (int64_t)m.size(), m.data());
    if (with_mask)
      CHECK(m == masks[d]);
    else
      CHECK(m == std::vector<uint8_t>(docs[d].size(), 1));  // no mask stream: train on every token
  }
  // Moving a reader keeps the mapping valid.
  ShardReader r2 = std::move(r);
  CHECK(r2.document(0) == docs[0]);
  CHECK(error_of([&] { r2.token((int64_t)n_tok); }).find("outside") != std::string::npos);
}

}  // namespace

TEST_CASE("shard round trip: 2-byte tokens, no mask") { round_trip(8192, false, 2); }
TEST_CASE("shard round trip: 2-byte tokens at the 65536 boundary, with mask") { round_trip(65536, true, 2); }
TEST_CASE("shard round trip: 4-byte tokens, with mask") { round_trip(100000, true, 4); }
TEST_CASE("shard round trip: 4-byte tokens, no mask") { round_trip(65537, false, 4); }

TEST_CASE("empty shard is valid") {
  std::string p = tmpdir("empty") + "/e.bin";
  ShardWriter w(p, 300);
  w.finish();
  ShardReader r(p);
  CHECK(r.n_tokens() == 0);
  CHECK(r.n_docs() == 0);
  CHECK(fs::file_size(p) == 64 + 8);
}

TEST_CASE("shard validation errors name the file and the problem") {
  std::string dir = tmpdir("errors");
  std::string good = dir + "/good.bin";
  {
    ShardWriter w(good, 100000);  // 4-byte tokens so 70000 is storable
    std::vector<int32_t> doc(200, 5);
    doc[123] = 70000;
    w.add_document(std::vector<int32_t>(50, 7));
    w.add_document(doc);
    w.finish();
  }
  const uint64_t size = 64 + 8 * 3 + 250 * 4;
  REQUIRE(fs::file_size(good) == size);
  CHECK_NOTHROW(ShardReader r(good));
  CHECK_NOTHROW(ShardReader r(good, 100000));
  auto fresh = [&](const std::string& name) {
    std::string p = dir + "/" + name;
    fs::copy_file(good, p, fs::copy_options::overwrite_existing);
    return p;
  };

  SUBCASE("token out of the model's vocab") {
    CHECK(error_of([&] { ShardReader r(good, 8192); }) ==
          "token 70000 at position 173 in " + good + " exceeds vocab 8192");  // 50 + 123
  }
  SUBCASE("truncated by one byte") {
    std::string p = fresh("trunc.bin");
    fs::resize_file(p, size - 1);
    CHECK(error_of([&] { ShardReader r(p); }) ==
          p + ": truncated: expected " + std::to_string(size) + " bytes, file has " + std::to_string(size - 1));
  }
  SUBCASE("shorter than the header") {
    std::string p = fresh("tiny.bin");
    fs::resize_file(p, 10);
    CHECK(error_of([&] { ShardReader r(p); }).find(p + ": truncated") == 0);
    fs::resize_file(p, 0);
    CHECK(error_of([&] { ShardReader r(p); }).find(p + ": truncated") == 0);
  }
  SUBCASE("one trailing byte") {
    std::string p = fresh("trail.bin");
    fs::resize_file(p, size + 1);
    CHECK(error_of([&] { ShardReader r(p); }).find(p + ": 1 trailing bytes") == 0);
  }
  SUBCASE("flipped magic") {
    std::string p = fresh("magic.bin");
    char c = 'X';
    corrupt(p, 0, &c, 1);
    std::string e = error_of([&] { ShardReader r(p); });
    CHECK(e.find(p) == 0);
    CHECK(e.find("foreign file") != std::string::npos);
  }
  SUBCASE("bumped version") {
    std::string p = fresh("ver.bin");
    uint32_t v = 2;
    corrupt(p, 8, &v, 4);
    CHECK(error_of([&] { ShardReader r(p); }) == p + ": unsupported shard version 2 (this build reads version 1)");
  }
  SUBCASE("bad bytes per token") {
    std::string p = fresh("bpt.bin");
    uint32_t v = 3;
    corrupt(p, 24, &v, 4);
    CHECK(error_of([&] { ShardReader r(p); }).find("bytes per token 3") != std::string::npos);
  }
  SUBCASE("token count that would overflow the size computation") {
    std::string p = fresh("huge.bin");
    uint64_t v = ~0ull / 2;
    corrupt(p, 16, &v, 8);
    CHECK(error_of([&] { ShardReader r(p); }).find(p + ": truncated: expected") == 0);
  }
  SUBCASE("offsets not monotonic") {
    std::string p = fresh("mono.bin");
    uint64_t v = 251;  // offsets were {0, 50, 250}; offset 1 := 251 puts it past offset 2
    corrupt(p, 64 + 8, &v, 8);
    CHECK(error_of([&] { ShardReader r(p); }) ==
          p + ": document offsets not monotonic: offset 2 = 250 < offset 1 = 251");
  }
  SUBCASE("last offset differs from token count") {
    std::string p = fresh("last.bin");
    uint64_t v = 249;
    corrupt(p, 64 + 16, &v, 8);
    CHECK(error_of([&] { ShardReader r(p); }) == p + ": last document offset 249 != token count 250");
  }
  SUBCASE("token beyond the shard's own vocab") {
    std::string p = fresh("ownvocab.bin");
    uint32_t v = 1000;  // shard claims vocab 1000; token 70000 now exceeds it even with no limit given
    corrupt(p, 32, &v, 4);
    CHECK(error_of([&] { ShardReader r(p); }) == "token 70000 at position 173 in " + p + " exceeds vocab 1000");
  }
  SUBCASE("vocab size above INT32_MAX (a 4-byte token >= 2^31 would come out negative)") {
    std::string p = fresh("vocab31.bin");
    uint32_t v = 0x80000001u, t = 0x80000000u;
    corrupt(p, 32, &v, 4);
    corrupt(p, 64 + 24, &t, 4);  // token 0
    CHECK(error_of([&] { ShardReader r(p); }) == p + ": vocab size 2147483649 exceeds 2147483647 (token ids are 32-bit signed)");
  }
  SUBCASE("reserved header fields not 0") {
    for (size_t off : {36, 48, 56}) {
      std::string p = fresh("reserved" + std::to_string(off) + ".bin");
      uint32_t v = 1;
      corrupt(p, off, &v, 4);
      CHECK(error_of([&] { ShardReader r(p); }).find(p + ": reserved header fields are not 0") == 0);
    }
  }
  SUBCASE("an in-memory image is validated the same way") {
    std::vector<uint64_t> img((size + 7) / 8);  // 8-byte aligned
    const std::string bytes = read_file(good);
    std::memcpy(img.data(), bytes.data(), size);
    ShardReader r("mem", img.data(), size, 100000);
    CHECK(r.n_tokens() == 250);
    CHECK(r.token(173) == 70000);
    CHECK(error_of([&] { ShardReader r2("mem", img.data(), size, 8192); }) == "token 70000 at position 173 in mem exceeds vocab 8192");
    CHECK(error_of([&] { ShardReader r2("mem", img.data(), size - 1); }) ==
          "mem: truncated: expected " + std::to_string(size) + " bytes, file has " + std::to_string(size - 1));
  }
  SUBCASE("missing file") {
    CHECK(error_of([&] { ShardReader r(dir + "/nope.bin"); }).find("cannot read " + dir + "/nope.bin") == 0);
  }
}

TEST_CASE("mask bytes other than 0/1 are rejected") {
  std::string p = tmpdir("maskbyte") + "/m.bin";
  {
    ShardWriter w(p, 1000, true);
    w.add_document({1, 2, 3}, {0, 1, 1});
    w.finish();
  }
  uint8_t two = 2;
  corrupt(p, 64 + 16 + 3 * 2 + 1, &two, 1);
  CHECK(error_of([&] { ShardReader r(p); }) == p + ": mask byte 2 at position 1 is not 0 or 1");
}

TEST_CASE("writer rejects bad input and leaves nothing on disk") {
  std::string dir = tmpdir("atomic");
  auto listing = [&] {
    std::vector<std::string> v;
    for (auto& e : fs::directory_iterator(dir)) v.push_back(e.path().filename().string());
    return v;
  };
  SUBCASE("abandoned writer (no finish)") {
    { ShardWriter w(dir + "/a.bin", 100); w.add_document({1, 2, 3}); }
    CHECK(listing().empty());
  }
  SUBCASE("token out of range") {
    ShardWriter w(dir + "/b.bin", 100);
    CHECK(error_of([&] { w.add_document({1, 100}); }) == "token 100 at position 1 in " + dir + "/b.bin exceeds vocab 100");
    CHECK(error_of([&] { w.add_document({-1}); }).find("token -1 at position 0") == 0);
    CHECK(listing().empty());
  }
  SUBCASE("mask mismatches") {
    ShardWriter w(dir + "/c.bin", 100, true);
    CHECK(error_of([&] { w.add_document({1, 2}, {1}); }).find("2 tokens but 1 mask bytes") != std::string::npos);
    ShardWriter u(dir + "/d.bin", 100, false);
    CHECK(error_of([&] { u.add_document({1, 2}, {1, 1}); }).find("without one") != std::string::npos);
  }
  SUBCASE("unwritable directory: error names the path, nothing created") {
    ShardWriter w(dir + "/no/such/dir/e.bin", 100);
    w.add_document({1});
    CHECK(error_of([&] { w.finish(); }).find("cannot write " + dir + "/no/such/dir/e.bin") == 0);
    CHECK(listing().empty());
  }
  SUBCASE("AtomicFile destroyed before commit removes its temp file") {
    {
      AtomicFile f(dir + "/f.bin");
      f.write("partial");
      CHECK(listing().size() == 1);  // the temp file exists while writing
    }
    CHECK(listing().empty());
  }
  CHECK(listing().empty());
}
