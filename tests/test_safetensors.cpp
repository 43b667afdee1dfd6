// safetensors reader/writer (src/safetensors.h) against the reference implementation, the `safetensors` PyPI
// package (tests/reference/hf_safetensors_oracle.py, run with .venv/bin/python):
//   - files it writes (F32 via numpy, F16 via numpy, BF16 via torch; incl. inf/nan/subnormals and every 16-bit
//     pattern of F16 and BF16) read back bit-exactly equal to numpy's / torch's own float32 conversion;
//   - files beop writes (F32, BF16) it reads bit-exactly (BF16 rounding equal to torch's .to(bfloat16));
//   - beop's F32 file is byte-identical to the reference writer's for the same tensors and metadata;
//   - malformed files -> one-line Errors naming the file and tensor; sharded directories.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "src/io.h"
#include "src/safetensors.h"
#include "tests/bundle.h"
#include "tests/test_util.h"

using namespace beop;
using beop::test::Bundle;

namespace {

const std::string kDir = "build/test_safetensors_tmp";
const std::string kPy = ".venv/bin/python tests/reference/hf_safetensors_oracle.py";

void oracle(const std::string& args) {
  static bool wrote = false;  // the "write" files are the same every time: make them once per run
  if (args == "write " + kDir && wrote) return;
  wrote = wrote || args == "write " + kDir;
  make_dirs(kDir);
  const std::string log = kDir + "/oracle.log";
  const std::string cmd = kPy + " " + args + " > " + log + " 2>&1 || (cat " + log + "; exit 1)";
  REQUIRE_MESSAGE(beop::test::run(cmd) == 0, "safetensors oracle failed: ", cmd);
}

uint32_t bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

// Bit-exact, except that any NaN equals any NaN (payloads of converted NaNs are not specified by IEEE).
bool same_bits(float a, float b) { return (std::isnan(a) && std::isnan(b)) || bits(a) == bits(b); }

void check_equal(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  REQUIRE_MESSAGE(got.size() == want.size(), what);
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < got.size(); i++)
    if (!same_bits(got[i], want[i]) && bad++ == 0) first = i;
  INFO(what, ": first mismatch at ", first, ": ", got[first], " vs ", want[first]);
  CHECK(bad == 0);
}

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; i++) s[i] = char((n >> (8 * i)) & 0xff);
  return s;
}

// A raw file: header length, header, data.
std::string raw_file(const std::string& name, const std::string& header, const std::string& data) {
  const std::string p = kDir + "/" + name;
  write_file_atomic(p, le64(header.size()) + header + data);
  return p;
}

// Opening `path` throws an Error whose one-line message contains every fragment.
void expect_error(const std::string& path, const std::vector<std::string>& fragments) {
  std::string msg;
  try {
    SafetensorsFile f(path);
  } catch (const Error& e) {
    msg = e.what();
  }
  INFO("file ", path, " -> error: '", msg, "'");
  REQUIRE(!msg.empty());
  CHECK(msg.find('\n') == std::string::npos);
  CHECK(msg.find(path) != std::string::npos);
  for (const std::string& f : fragments) CHECK(msg.find(f) != std::string::npos);
}

}  // namespace

TEST_CASE("safetensors: reads files written by the reference implementation (F32, F16, BF16)") {
  oracle("write " + kDir);
  const Bundle exp(kDir + "/expected");
  for (const char* dt : {"f32", "f16", "bf16"}) {
    SafetensorsFile f(kDir + "/" + dt + ".safetensors");
    int n = 0;
    for (const StTensor& t : f.tensors()) {
      const std::string key = std::string(dt) + "." + t.name;
      REQUIRE_MESSAGE(exp.has(key), key);
      CHECK(t.shape == exp.shape(key));
      CHECK(std::string(st_dtype_name(t.dtype)) == (std::string(dt) == "f32" ? "F32" : std::string(dt) == "f16" ? "F16" : "BF16"));
      check_equal(f.read_f32(t.name), exp.get<float>(key), key);
      n++;
    }
    CHECK(n == (std::string(dt) == "f32" ? 4 : 3));
  }
  SafetensorsFile f(kDir + "/f32.safetensors");
  CHECK(f.metadata().at("format") == "np");
  CHECK(f.metadata().at("note") == "\u00fc\ud55c");
  CHECK(f.find("empty")->numel == 0);
  CHECK(f.find("scalar")->shape.empty());
  CHECK(f.find("nope") == nullptr);
}

TEST_CASE("safetensors: beop's scalar conversions equal numpy/torch for every 16-bit pattern") {
  oracle("write " + kDir);
  const Bundle exp(kDir + "/expected");
  const std::vector<float> h = exp.get<float>("f16.all"), b = exp.get<float>("bf16.all");
  REQUIRE(h.size() == 65536);
  REQUIRE(b.size() == 65536);
  int bad_h = 0, bad_b = 0;
  for (uint32_t i = 0; i < 65536; i++) {
    bad_h += !same_bits(f16_to_f32(uint16_t(i)), h[i]);
    bad_b += !same_bits(bf16_to_f32(uint16_t(i)), b[i]);
  }
  CHECK(bad_h == 0);
  CHECK(bad_b == 0);
  // f32 -> bf16 rounding equals torch's (incl. ties to even and overflow to inf)
  const std::vector<float> src = exp.get<float>("bf16src.b"), want = exp.get<float>("bf16.b");
  for (size_t i = 0; i < src.size(); i++) CHECK(same_bits(bf16_to_f32(f32_to_bf16(src[i])), want[i]));
}

TEST_CASE("safetensors: the reference implementation reads what beop writes, bit-exactly") {
  make_dirs(kDir);
  std::vector<float> w = beop::test::randn<float>(6 * 5, 11), special = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-40f,
                                                                         3.4e38f, 1.00390625f, -1.01171875f};
  const float scalar = 2.25f;
  const std::vector<StWriteTensor> ts = {{"model.w", {6, 5}, w.data()}, {"special", {int64_t(special.size())}, special.data()},
                                         {"scalar", {}, &scalar}, {"empty", {0, 3}, nullptr}};
  for (StDType dt : {StDType::F32, StDType::BF16}) {
    const std::string name = dt == StDType::F32 ? "ours_f32" : "ours_bf16";
    save_safetensors(kDir + "/" + name + ".safetensors", ts, {{"format", "pt"}, {"who", "beop"}}, dt);
    oracle("read " + kDir + "/" + name + ".safetensors " + kDir + "/" + name);
    const Bundle got(kDir + "/" + name);
    CHECK(got.manifest["config"]["metadata"]["who"] == "beop");
    CHECK(got.manifest["config"]["dtypes"]["model.w"] == (dt == StDType::F32 ? "torch.float32" : "torch.bfloat16"));
    for (const StWriteTensor& t : ts) {
      size_t n = 1;
      for (int64_t d : t.shape) n *= size_t(d);
      std::vector<float> want(t.data, t.data + n);
      if (dt == StDType::BF16)
        for (float& x : want) x = bf16_to_f32(f32_to_bf16(x));
      CHECK(got.shape(t.name) == t.shape);
      check_equal(got.get<float>(t.name), want, name + "." + t.name);
    }
    // and beop reads its own file back
    SafetensorsFile f(kDir + "/" + name + ".safetensors");
    CHECK(f.tensors().size() == 4);
    CHECK(f.metadata().at("who") == "beop");
  }
}

TEST_CASE("safetensors: beop's F32 file is byte-identical to the reference writer's") {
  oracle("write " + kDir);
  const Bundle exp(kDir + "/expected");
  const std::vector<float> a = exp.get<float>("same.a"), b = exp.get<float>("same.b");
  save_safetensors(kDir + "/same_beop.safetensors", {{"a", {2, 3}, a.data()}, {"b", {4}, b.data()}}, {{"format", "pt"}});
  CHECK(read_file(kDir + "/same_beop.safetensors") == read_file(kDir + "/same.safetensors"));
  // the header is padded with spaces so the data section is 8-byte aligned
  const std::string bytes = read_file(kDir + "/same_beop.safetensors");
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  CHECK(n % 8 == 0);
}

TEST_CASE("safetensors: malformed files give one-line errors naming the tensor") {
  make_dirs(kDir);
  const std::string d16(16, 'x'), d24(24, 'x');
  // truncated data: the last tensor's bytes are missing
  {
    std::vector<float> v(8, 1.0f);
    save_safetensors(kDir + "/whole.safetensors", {{"first", {2}, v.data()}, {"last.weight", {2, 3}, v.data()}});
    const std::string all = read_file(kDir + "/whole.safetensors");
    write_file_atomic(kDir + "/trunc.safetensors", all.substr(0, all.size() - 5));
    expect_error(kDir + "/trunc.safetensors", {"'last.weight'", "past the end", "truncated"});
    // header length past the end of the file
    std::string bad = all;
    const std::string big = le64(all.size());
    bad.replace(0, 8, big);
    write_file_atomic(kDir + "/hlen.safetensors", bad);
    expect_error(kDir + "/hlen.safetensors", {"header length", "past the end"});
    write_file_atomic(kDir + "/tiny.safetensors", "abc");
    expect_error(kDir + "/tiny.safetensors", {"truncated"});
  }
  expect_error(raw_file("overlap.safetensors",
                        R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                        d24),
               {"'b'", "overlaps", "'a'"});
  expect_error(raw_file("past.safetensors", R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[16,32]}})", d24),
               {"'w'", "past the end of the data section"});
  expect_error(raw_file("size.safetensors", R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})", d16),
               {"'w'", "needs 16"});
  expect_error(raw_file("i64.safetensors", R"({"ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}})", d16),
               {"'ids'", "dtype I64"});
  expect_error(raw_file("q4.safetensors", R"({"q":{"dtype":"Q4","shape":[2],"data_offsets":[0,1]}})", d16),
               {"'q'", "dtype Q4"});
  expect_error(raw_file("json.safetensors", R"({"w":{"dtype":"F32",)", d16), {"not valid JSON"});
  expect_error(raw_file("offs.safetensors", R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8]}})", d16),
               {"'w'", "data_offsets"});
  expect_error(raw_file("neg.safetensors", R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", d16),
               {"'w'", "shape"});
  expect_error(kDir + "/does_not_exist.safetensors", {"cannot open"});
}

// #14: a header length lowered by k bytes into the JSON header's trailing-space padding still parses as JSON,
// and every tensor's offsets still fall inside the (now k bytes longer) data section: without the "tensors
// tile the data section exactly" rule the weights were read shifted by k bytes (the model then emitted NUL
// bytes). The reference reader refuses such files ("not fully covered"); so must beop, for every k.
TEST_CASE("safetensors: a header length lowered into the header's padding is refused, as by the reference") {
  make_dirs(kDir);
  const float av[3] = {1.0f, 2.0f, 3.0f}, bv[2] = {-4.0f, 5.5f};
  std::string header = R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})";
  header.append(7 + (8 - (header.size() + 7) % 8) % 8, ' ');  // >= 7 spaces, the data section 8-byte aligned
  std::string data(reinterpret_cast<const char*>(av), 12);
  data.append(reinterpret_cast<const char*>(bv), 8);
  const std::string good = raw_file("pad_good.safetensors", header, data);
  {
    SafetensorsFile f(good);  // the unmodified file reads back exactly
    CHECK(f.read_f32("a") == std::vector<float>{1.0f, 2.0f, 3.0f});
    CHECK(f.read_f32("b") == std::vector<float>{-4.0f, 5.5f});
  }
  CHECK(beop::test::run(kPy + " refuses " + good + " > /dev/null 2>&1") != 0);  // the reference loads it too
  std::string files;
  for (int k = 1; k <= 7; k++) {
    std::string bytes = read_file(good);
    bytes.replace(0, 8, le64(header.size() - k));
    const std::string p = kDir + "/pad_minus" + std::to_string(k) + ".safetensors";
    write_file_atomic(p, bytes);
    expect_error(p, {"not covered", "header length " + std::to_string(header.size() - k)});
    // the in-memory entry point applies the same validation
    CHECK_THROWS_WITH_AS(SafetensorsFile("mem", reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()),
                         doctest::Contains("mem: the tensors cover 20 bytes"), Error);
    files += " " + p;
  }
  oracle("refuses" + files);  // the reference refuses all seven
}

TEST_CASE("safetensors: tensors must tile the data section (no gap, no overlap, no unowned tail)") {
  make_dirs(kDir);
  const std::string d16(16, 'x'), d24(24, 'x');
  // a gap between two tensors, a first tensor not at 0, trailing bytes nobody owns
  const std::string gap = raw_file("gap.safetensors",
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})", d24);
  expect_error(gap, {"'b'", "starts at byte 12", "end at 8", "gap"});
  const std::string late = raw_file("late.safetensors", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", d16);
  expect_error(late, {"'a'", "starts at byte 8", "gap"});
  const std::string tail = raw_file("tail.safetensors", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", d16);
  expect_error(tail, {"cover 8 bytes of the 16-byte data section", "8 bytes not covered"});
  // an empty tensor inside another tensor's bytes (the reference checks empty tensors' offsets too)
  const std::string inside = raw_file("inside.safetensors",
      R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"e":{"dtype":"F32","shape":[0],"data_offsets":[8,8]}})", d16);
  expect_error(inside, {"'e'", "overlaps tensor 'a'"});
  oracle("refuses " + gap + " " + late + " " + tail + " " + inside);
  // what stays valid: empty tensors at the boundaries, and a file with no tensors and no data
  {
    SafetensorsFile f(raw_file("empties.safetensors",
        R"({"e0":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"a":{"dtype":"BF16","shape":[8],"data_offsets":[0,16]},"e1":{"dtype":"F16","shape":[0,3],"data_offsets":[16,16]}})", d16));
    CHECK(f.tensors().size() == 3);
    CHECK(f.find("a")->numel == 8);
    SafetensorsFile none(raw_file("none.safetensors", R"({"__metadata__":{"k":"v"}})", ""));
    CHECK(none.tensors().empty());
  }
}

TEST_CASE("safetensors: sharded model directories") {
  const std::string dir = kDir + "/sharded";
  std::vector<float> a = beop::test::randn<float>(100, 1), b = beop::test::randn<float>(60, 2), c = beop::test::randn<float>(30, 3);
  const std::vector<StWriteTensor> ts = {{"a", {10, 10}, a.data()}, {"b", {60}, b.data()}, {"c", {3, 10}, c.data()}};
  // 400 + 240 + 120 bytes with a 500-byte limit: shards {a}, {b, c}
  const std::vector<std::string> files = save_safetensors_model(dir, ts, 500);
  REQUIRE(files.size() == 3);
  CHECK(files[0] == "model-00001-of-00002.safetensors");
  CHECK(files[2] == "model.safetensors.index.json");
  const nlohmann::json idx = nlohmann::json::parse(read_file(dir + "/model.safetensors.index.json"));
  CHECK(idx["metadata"]["total_size"] == 760);
  CHECK(idx["weight_map"]["c"] == "model-00002-of-00002.safetensors");
  {
    SafetensorsDir sd(dir);
    CHECK(sd.n_files() == 2);
    const SafetensorsDir::Entry* e = sd.find("c");
    REQUIRE(e != nullptr);
    std::vector<float> got(30);
    e->file->read_f32(*e->tensor, got.data());
    check_equal(got, c, "c");
  }
  // an index naming a tensor its shard lacks, and a shard tensor the index does not list
  nlohmann::json bad = idx;
  bad["weight_map"]["zzz"] = "model-00001-of-00002.safetensors";
  write_file_atomic(dir + "/model.safetensors.index.json", bad.dump());
  CHECK_THROWS_WITH_AS(SafetensorsDir{dir}, doctest::Contains("has no tensor 'zzz'"), Error);
  bad = idx;
  bad["weight_map"].erase("b");
  write_file_atomic(dir + "/model.safetensors.index.json", bad.dump());
  CHECK_THROWS_WITH_AS(SafetensorsDir{dir}, doctest::Contains("tensor 'b' is not listed"), Error);
  // re-exporting into the same directory as one file removes the shards
  save_safetensors_model(dir, ts, size_t(1) << 20);
  CHECK(file_exists(dir + "/model.safetensors"));
  CHECK(!file_exists(dir + "/model-00001-of-00002.safetensors"));
  CHECK(!file_exists(dir + "/model.safetensors.index.json"));
  CHECK(SafetensorsDir(dir).n_files() == 1);
  CHECK_THROWS_WITH_AS(SafetensorsDir{kDir + "/nothing_here"}, doctest::Contains("no model.safetensors"), Error);
}
