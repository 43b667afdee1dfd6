// Checkpoints: save -> load round trip bit-exact (params, Adam moments, step, every state field, loader-state
// bytes) from a real CpuModel; model.bin / optim.bin parsed independently by a Python reader written from
// docs/FORMATS.md (zlib.crc32 as the checksum oracle); every validation error (missing file, truncation,
// flipped byte, wrong magic, wrong version, tensor table vs config, config.json vs model.bin, config
// mismatch); latest_checkpoint skipping .tmp_ and incomplete dirs and sorting by step number; prune with
// keep_last and KEEP; failed saves (unwritable run dir, missing tokenizer, a fault injected at each stage)
// leaving the earlier checkpoints intact and no temp directory behind; atomic replacement of an existing step.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include <nlohmann/json.hpp>

#include "cpu/model_cpu.h"
#include "src/checkpoint.h"
#include "src/checkpoint_spec.h"
#include "src/common.h"
#include "src/io.h"
#include "src/param_layout.h"
#include "src/tokenizer.h"
#include "tests/test_util.h"

using namespace beop;
namespace fs = std::filesystem;

namespace {

std::string tmpdir(const std::string& name) {
  std::string d = "build/test_checkpoint_tmp/" + name;
  fs::remove_all(d);
  make_dirs(d);
  return d;
}

using beop::test::error_of;

bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

ModelConfig small_cfg() {
  ModelConfig c;
  c.name = "ckpt-test";
  c.vocab_size = 300;  // padded to 384: the padded rows are saved too
  c.d_model = 16;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 4;
  c.ffn_hidden = 40;
  c.max_seq_len = 32;
  c.rope_theta = 500000.0f;
  c.rms_eps = 1e-6f;
  c.tied_embeddings = false;
  return c;
}

// A real tokenizer (load_checkpoint parses it) of 300 ids, the configs' vocab_size; trained once per process.
std::string write_tokenizer(const std::string& dir) {
  static const std::string json = [] {
    BpeTrainOptions bo;
    bo.vocab_size = 300;
    bo.progress = false;
    return Tokenizer::train_from_texts({"임대차는 등기가 없는 경우에도 효력이 있다. To be or not to be."}, bo).to_json();
  }();
  std::string p = dir + "/tok.json";
  write_file_atomic(p, json);
  return p;
}

struct Saved {
  std::vector<float> p, m, v;
};

Saved random_tensors(size_t n, uint64_t seed) {
  std::vector<float> v = test::randn<float>(n, seed + 2, 1e-6);
  for (float& x : v) x = std::fabs(x);  // a second moment is >= 0 (load checks)
  return {test::randn<float>(n, seed), test::randn<float>(n, seed + 1, 1e-3), v};
}

CheckpointState sample_state() {
  CheckpointState st;
  st.stage = "cpt";
  st.tokens_seen = 123456789012LL;  // > 2^32: must not be truncated anywhere
  st.seed = 0xFEDCBA9876543210ull;  // > 2^63: exercises the unsigned path
  st.rng_state = {0x0123456789ABCDEFull, 0xFFFFFFFFFFFFFFFFull, 0, 0x8000000000000001ull};
  st.loader_state = std::string("BEOPMIX\0\x01\xff\x00\x7f", 12) + std::string(1000, '\xA5');  // binary, NULs
  st.data_spec = "legal=data/build/legal_train_*.bin:0.7,general=data/build/general_train_*.bin:0.3";
  st.val_spec = "legal=data/build/legal_val_*.bin";
  st.lr_schedule = {{"kind", "cosine"}, {"lr", 3e-4}, {"warmup", 100}, {"min_lr", 3e-5}};
  st.last_loss = 2.718281828459045;
  st.val_loss = NAN;  // not measured yet -> null
  st.command_line = "./train --stage cpt --model small \"quoted arg\"";
  st.meta = {{"world", 1}, {"note", "한국어 메모"}};
  return st;
}

void patch(const std::string& path, size_t off, const void* bytes, size_t n) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp((std::streamoff)off);
  f.write(static_cast<const char*>(bytes), (std::streamsize)n);
}

template <typename T>
T at(const std::string& bytes, size_t off) {
  T v;
  std::memcpy(&v, bytes.data() + off, sizeof v);
  return v;
}

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> out;
  for (auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("crc32 and base64 against their published test vectors") {
  // CRC-32/ISO-HDLC check value (the "123456789" vector every CRC catalogue lists).
  CHECK(crc32("123456789", 9) == 0xCBF43926u);
  CHECK(crc32("", 0) == 0u);
  // Incremental == one shot; lengths that are not multiples of 8 exercise the tail loop.
  std::string s = "The quick brown fox jumps over the lazy dog";
  CHECK(crc32(s.data(), s.size()) == 0x414FA339u);
  CHECK(crc32(s.data() + 13, s.size() - 13, crc32(s.data(), 13)) == 0x414FA339u);
  // RFC 4648 section 10.
  const char* plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  const char* enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  for (int i = 0; i < 7; i++) {
    CHECK(base64_encode(plain[i]) == enc[i]);
    CHECK(base64_decode(enc[i], "t") == plain[i]);
  }
  CHECK(contains(error_of([] { base64_decode("Zm9", "state.json: x"); }), "not a multiple of 4"));
  CHECK(contains(error_of([] { base64_decode("Zm9*", "state.json: x"); }), "invalid base64 character at offset 3"));
}

TEST_CASE("save -> load round trip is bit-exact, from a CpuModel, and the format matches FORMATS.md") {
  const std::string dir = tmpdir("roundtrip");
  const std::string tok = write_tokenizer(dir);
  const ModelConfig cfg = small_cfg();
  CpuModel model(cfg);
  model.init_random(7);
  const size_t n = model.layout().total;
  // Give the moments non-trivial contents (init_random zeroes them).
  Saved mv = random_tensors(n, 11);
  std::memcpy(model.adam_m(), mv.m.data(), n * 4);
  std::memcpy(model.adam_v(), mv.v.data(), n * 4);
  model.set_adam_step(42);
  CheckpointState st = sample_state();
  st.meta["skipped_steps"] = 58;  // AdamW step 42 at step 100: 58 skipped steps (load checks 42 == 100 - 58)
  const std::string run = dir + "/run";
  std::string out = save_checkpoint(run, 100, cfg, model.params(), model.adam_m(), model.adam_v(), n,
                                    model.adam_step(), st, tok);
  CHECK(out == run + "/step_000100");
  CHECK(entries(run) == std::vector<std::string>{"step_000100"});  // no temp dir left
  CHECK(entries(out) == std::vector<std::string>{"config.json", "model.bin", "optim.bin", "state.json", "tokenizer.json"});
  CHECK(latest_checkpoint(run) == out);

  LoadedCheckpoint ck = load_checkpoint(out, true);
  CHECK(ck.dir == out);
  CHECK(ck.tokenizer_path == out + "/tokenizer.json");
  CHECK(read_file(ck.tokenizer_path) == read_file(tok));
  REQUIRE(ck.params.size() == n);
  REQUIRE(ck.m.size() == n);
  REQUIRE(ck.v.size() == n);
  CHECK(std::memcmp(ck.params.data(), model.params(), n * 4) == 0);
  CHECK(std::memcmp(ck.m.data(), model.adam_m(), n * 4) == 0);
  CHECK(std::memcmp(ck.v.data(), model.adam_v(), n * 4) == 0);
  CHECK(ck.adam_step == 42);
  CHECK_NOTHROW(check_compatible(cfg, ck.config, "checkpoint"));
  CHECK(ck.config.name == cfg.name);
  CHECK(ck.config.rope_theta == cfg.rope_theta);
  CHECK(ck.config.rms_eps == cfg.rms_eps);
  const CheckpointState& s = ck.state;
  CHECK(s.stage == st.stage);
  CHECK(s.step == 100);
  CHECK(s.tokens_seen == st.tokens_seen);
  CHECK(s.seed == st.seed);
  CHECK(s.rng_state == st.rng_state);
  CHECK(s.loader_state == st.loader_state);
  CHECK(s.data_spec == st.data_spec);
  CHECK(s.val_spec == st.val_spec);
  CHECK(s.lr_schedule == st.lr_schedule);
  CHECK(s.last_loss == st.last_loss);
  CHECK(std::isnan(s.val_loss));
  CHECK(s.command_line == st.command_line);
  CHECK(s.meta == st.meta);
  CHECK(s.date.size() == 20);  // 2026-01-02T03:04:05Z
  CHECK((s.git_commit == "unknown" || s.git_commit.size() == 40));
  // The human-readable files say the same thing.
  auto cj = nlohmann::json::parse(read_file(out + "/config.json"));
  CHECK(cj["d_model"] == 16);
  CHECK(cj["n_kv_heads"] == 2);
  auto sj = nlohmann::json::parse(read_file(out + "/state.json"));
  CHECK(sj["step"] == 100);
  CHECK(sj["stage"] == "cpt");
  CHECK(sj["val_loss"].is_null());
  CHECK(sj["rng_state"][1] == "0xffffffffffffffff");

  // A model rebuilt from the checkpoint computes exactly the same loss.
  CpuModel model2(ck.config);
  std::memcpy(model2.params(), ck.params.data(), n * 4);
  std::vector<int32_t> x = {1, 5, 9, 200, 299, 3, 7, 8}, y = {5, 9, 200, 299, 3, 7, 8, 2};
  double l1 = model.forward(x.data(), y.data(), nullptr, 1, 8).mean();
  double l2 = model2.forward(x.data(), y.data(), nullptr, 1, 8).mean();
  CHECK(l1 == l2);

  // Weights only (no moments): no optim.bin; loading without the optimizer works, with it names the file.
  std::string w = save_checkpoint(run, 101, cfg, model.params(), nullptr, nullptr, n, 0, st, tok);
  CHECK(!file_exists(w + "/optim.bin"));
  CHECK(load_checkpoint(w, false).params.size() == n);
  CHECK(contains(error_of([&] { load_checkpoint(w, true); }), "optim.bin: missing"));

  // Independent reader: Python parses both files from the layout in docs/FORMATS.md, checks both CRCs with
  // zlib.crc32, the tensor table against the expected names/shapes, and writes the payloads back raw.
  const std::string py = dir + "/reader.py";
  write_file_atomic(py, R"PY(
import json, struct, sys, zlib
d, out = sys.argv[1], sys.argv[2]
b = open(d + "/model.bin", "rb").read()
assert b[:8] == b"BEOPMDL\0", b[:8]
ver, hb, dtype, nt, n = struct.unpack_from("<IIIIQ", b, 8)
assert ver == 1 and dtype == 0 and hb % 64 == 0, (ver, dtype, hb)
(cl,) = struct.unpack_from("<I", b, 32)
cfg = json.loads(b[36:36 + cl])
p = 36 + cl
names = []
for i in range(nt):
    (ln,) = struct.unpack_from("<I", b, p); p += 4
    name = b[p:p + ln].decode(); p += ln
    (nd,) = struct.unpack_from("<I", b, p); p += 4
    shape = struct.unpack_from("<%dq" % nd, b, p); p += 8 * nd
    off, numel = struct.unpack_from("<QQ", b, p); p += 16
    prod = 1
    for s in shape: prod *= s
    assert prod == numel, (name, shape, numel)
    names.append((name, list(shape), off))
assert all(c == 0 for c in b[p:hb])
assert len(b) == hb + 4 * n + 8, (len(b), hb, n)
crc_p, crc_h = struct.unpack_from("<II", b, hb + 4 * n)
assert crc_p == zlib.crc32(b[hb:hb + 4 * n]), "payload crc"
assert crc_h == zlib.crc32(b[:hb]), "header crc"
o = open(d + "/optim.bin", "rb").read()
assert o[:8] == b"BEOPOPT\0"
ver, ohb, odt, _, on, step = struct.unpack_from("<IIIIQq", o, 8)
assert ver == 1 and ohb == 64 and odt == 0 and on == n, (ver, ohb, on)
assert len(o) == 64 + 8 * n + 8
crc_p, crc_h = struct.unpack_from("<II", o, 64 + 8 * n)
assert crc_p == zlib.crc32(o[64:64 + 8 * n]) and crc_h == zlib.crc32(o[:64])
open(out + ".params", "wb").write(b[hb:hb + 4 * n])
open(out + ".mv", "wb").write(o[64:64 + 8 * n])
json.dump({"cfg": cfg, "n": n, "step": step, "tensors": names}, open(out + ".json", "w"))
)PY");
  const std::string dump = dir + "/py";
  REQUIRE_MESSAGE(test::run("/usr/bin/python3 " + py + " " + out + " " + dump) == 0, "python reader failed");
  auto pj = nlohmann::json::parse(read_file(dump + ".json"));
  CHECK(pj["n"] == n);
  CHECK(pj["step"] == 42);
  CHECK(pj["cfg"] == config_to_json(cfg));
  const ParamLayout lay(cfg);
  REQUIRE(pj["tensors"].size() == lay.tensors.size());
  for (size_t i = 0; i < lay.tensors.size(); i++) {
    CHECK(pj["tensors"][i][0] == lay.tensors[i].name);
    CHECK(pj["tensors"][i][1] == lay.tensors[i].shape);
    CHECK(pj["tensors"][i][2] == lay.tensors[i].offset);
  }
  const std::string praw = read_file(dump + ".params"), mvraw = read_file(dump + ".mv");
  REQUIRE(praw.size() == n * 4);
  REQUIRE(mvraw.size() == n * 8);
  CHECK(std::memcmp(praw.data(), model.params(), n * 4) == 0);
  CHECK(std::memcmp(mvraw.data(), model.adam_m(), n * 4) == 0);
  CHECK(std::memcmp(mvraw.data() + n * 4, model.adam_v(), n * 4) == 0);
}

TEST_CASE("load_checkpoint reports each kind of damage in one line") {
  const std::string dir = tmpdir("damage");
  const std::string tok = write_tokenizer(dir);
  const ModelConfig cfg = small_cfg();
  const size_t n = ParamLayout(cfg).total;
  const Saved t = random_tensors(n, 3);
  const CheckpointState st = sample_state();
  // A fresh good checkpoint per case.
  int k = 0;
  auto fresh = [&]() {
    return save_checkpoint(dir + "/run" + std::to_string(k++), 100, cfg, t.p.data(), t.m.data(), t.v.data(), n, 100, st, tok);
  };
  auto load_err = [&](const std::string& d) { return error_of([&] { load_checkpoint(d, true); }); };
  const std::string good = fresh();
  const std::string mb = read_file(good + "/model.bin");
  const uint32_t hb = at<uint32_t>(mb, 12);
  const size_t model_size = mb.size();
  CHECK(model_size == hb + n * 4 + 8);

  SUBCASE("missing files") {
    CHECK(contains(error_of([&] { load_checkpoint(dir + "/nope", true); }), "no such directory"));
    for (const char* f : {"model.bin", "state.json", "config.json", "tokenizer.json"}) {
      std::string d = fresh();
      fs::remove(d + "/" + f);
      CHECK(load_err(d) == cat("checkpoint ", d, ": missing ", f));
    }
  }
  SUBCASE("truncated model.bin names expected and actual size") {
    std::string d = fresh();
    fs::resize_file(d + "/model.bin", model_size - 10);
    CHECK(load_err(d) == cat(d, "/model.bin truncated: expected ", model_size, " bytes, has ", model_size - 10));
    fs::resize_file(d + "/model.bin", 20);  // cut inside the fixed header
    CHECK(contains(load_err(d), "model.bin truncated: expected at least 32 bytes, has 20"));
    // And latest_checkpoint no longer counts it.
    CHECK(latest_checkpoint(fs::path(d).parent_path().string()) == "");
  }
  SUBCASE("trailing bytes") {
    std::string d = fresh();
    std::ofstream(d + "/model.bin", std::ios::app | std::ios::binary) << "xyz";
    CHECK(contains(load_err(d), "model.bin: 3 trailing bytes"));
  }
  SUBCASE("a flipped byte anywhere is corruption") {
    for (size_t off : {size_t(40), size_t(hb) + 5, size_t(hb) + n * 4 - 1, model_size - 2}) {
      std::string d = fresh();
      char c = mb[off] ^ 0x10;
      patch(d + "/model.bin", off, &c, 1);
      CHECK_MESSAGE(contains(load_err(d), "model.bin: corrupt: "), "offset ", off);
    }
    std::string d = fresh();
    const std::string ob = read_file(d + "/optim.bin");
    char c = ob[64 + n * 6] ^ 1;  // inside v
    patch(d + "/optim.bin", 64 + n * 6, &c, 1);
    CHECK(load_err(d) == cat(d, "/optim.bin: corrupt: moment checksum mismatch"));
    CHECK_NOTHROW(load_checkpoint(d, false));  // weights are still fine without the optimizer
  }
  SUBCASE("wrong magic and version") {
    std::string d = fresh();
    patch(d + "/model.bin", 0, "GGUF\0\0\0\0", 8);
    CHECK(load_err(d) == cat(d, "/model.bin: not a beop model file (bad magic)"));
    d = fresh();
    uint32_t v2 = 2;
    patch(d + "/model.bin", 8, &v2, 4);
    CHECK(load_err(d) == cat(d, "/model.bin: unsupported model file version 2 (this build reads version 1)"));
    d = fresh();
    patch(d + "/optim.bin", 0, "BEOPMDL\0", 8);
    CHECK(load_err(d) == cat(d, "/optim.bin: not a beop optimizer file (bad magic)"));
  }
  SUBCASE("a checkpoint of another precision (dtype bf16) or an unknown dtype is refused by name") {
    // A well-formed bf16 file: dtype 1 and a payload of n * 2 bytes (+ the two checksums), so the size check
    // passes and the dtype itself is what is refused — never read as if it were f32.
    std::string d = fresh();
    const uint32_t bf16_code = 1;
    patch(d + "/model.bin", 16, &bf16_code, 4);
    fs::resize_file(d + "/model.bin", hb + n * 2 + 8);
    CHECK(load_err(d) == cat(d, "/model.bin: dtype bf16 is not supported by this build (it reads f32 checkpoints)"));
    d = fresh();
    const uint32_t unknown = 7;
    patch(d + "/model.bin", 16, &unknown, 4);
    CHECK(load_err(d) == cat(d, "/model.bin: unknown dtype code 7"));
  }
  SUBCASE("tensor table that does not match the config (checksums recomputed, so only the table is wrong)") {
    std::string d = fresh();
    std::string b = read_file(d + "/model.bin");
    // First tensor is the embedding (Vp, C) = (384, 16): its first dimension follows name and ndim.
    const std::string name = ParamLayout(cfg).tensors[0].name;
    size_t pos = b.find(name);
    REQUIRE(pos != std::string::npos);
    size_t dim0 = pos + name.size() + 4;
    CHECK(at<int64_t>(b, dim0) == 384);
    int64_t bad = 256;
    std::memcpy(&b[dim0], &bad, 8);
    uint32_t crc_h = crc32(b.data(), hb);
    std::memcpy(&b[b.size() - 4], &crc_h, 4);
    write_file_atomic(d + "/model.bin", b);
    CHECK(load_err(d) == cat(d, "/model.bin: tensor '", name, "' has shape (256, 16), the config's layout has (384, 16)"));
  }
  SUBCASE("config.json that disagrees with model.bin") {
    std::string d = fresh();
    auto j = config_to_json(cfg);
    j["d_model"] = 32;
    j["n_heads"] = 8;
    write_file_atomic(d + "/config.json", j.dump());
    CHECK(load_err(d) == cat(d, "/config.json has d_model 32, run expects 16"));
  }
  SUBCASE("state.json damage") {
    std::string d = fresh();
    write_file_atomic(d + "/state.json", "{\"format\": ");
    CHECK(contains(load_err(d), "state.json: not valid JSON"));
    d = fresh();
    auto j = nlohmann::json::parse(read_file(d + "/state.json"));
    j.erase("tokens_seen");
    write_file_atomic(d + "/state.json", j.dump());
    CHECK(load_err(d) == cat(d, "/state.json: missing field 'tokens_seen'"));
    j = nlohmann::json::parse(read_file(d + "/state.json"));
    j["tokens_seen"] = 1;
    j["loader_state_base64"] = "@@@@";
    write_file_atomic(d + "/state.json", j.dump());
    CHECK(contains(load_err(d), "loader_state_base64: invalid base64 character at offset 0"));
  }
  SUBCASE("check_compatible names the first differing field") {
    ModelConfig a = cfg, b = cfg;
    b.d_model = 256;
    CHECK(error_of([&] { check_compatible(a, b, "checkpoint"); }) == "checkpoint has d_model 256, run expects 16");
    b = cfg;
    b.tied_embeddings = true;
    b.max_seq_len = 64;
    CHECK(error_of([&] { check_compatible(a, b, "ck"); }) == "ck has tied_embeddings true, run expects false");
    b = cfg;
    b.name = "other-name";  // the name is not architecture
    CHECK_NOTHROW(check_compatible(a, b, "ck"));
  }
}

TEST_CASE("latest_checkpoint: newest complete step by number; .tmp_ and incomplete dirs ignored") {
  const std::string dir = tmpdir("latest");
  const std::string tok = write_tokenizer(dir);
  const ModelConfig cfg = small_cfg();
  const size_t n = ParamLayout(cfg).total;
  const Saved t = random_tensors(n, 5);
  const std::string run = dir + "/run";
  CHECK(latest_checkpoint(run) == "");  // missing run dir
  make_dirs(run);
  CHECK(latest_checkpoint(run) == "");
  save_checkpoint(run, 100, cfg, t.p.data(), t.m.data(), t.v.data(), n, 100, sample_state(), tok);
  save_checkpoint(run, 200, cfg, t.p.data(), t.m.data(), t.v.data(), n, 200, sample_state(), tok);
  // A crashed save's temp dir with a complete-looking content, and a step dir missing files.
  fs::copy(run + "/step_000200", run + "/.tmp_step_000300.4194305");
  make_dirs(run + "/step_000400");
  fs::copy(run + "/step_000200/model.bin", run + "/step_000400/model.bin");
  make_dirs(run + "/step_notanumber");
  CHECK(latest_checkpoint(run) == run + "/step_000200");
  // Numeric, not lexicographic: step_1000000 sorts after step_999999.
  save_checkpoint(run, 1000000, cfg, t.p.data(), nullptr, nullptr, n, 0, sample_state(), tok);
  save_checkpoint(run, 999999, cfg, t.p.data(), nullptr, nullptr, n, 0, sample_state(), tok);
  CHECK(latest_checkpoint(run) == run + "/step_1000000");
  CHECK(list_checkpoints(run) == std::vector<std::string>{run + "/step_000100", run + "/step_000200",
                                                          run + "/step_999999", run + "/step_1000000"});
}

TEST_CASE("checkpoint specs: a step dir, a run dir's newest complete step, hf:DIR, and what each error names") {
  // src/checkpoint_spec.h is the one place every program (infer, eval, train --init, export-hf) resolves --model.
  const std::string dir = tmpdir("spec");
  const std::string tok = write_tokenizer(dir);
  const ModelConfig cfg = small_cfg();
  const size_t n = ParamLayout(cfg).total;
  const Saved t = random_tensors(n, 7);
  const std::string run = dir + "/run";
  const std::string s100 = save_checkpoint(run, 100, cfg, t.p.data(), t.m.data(), t.v.data(), n, 100, sample_state(), tok);
  const std::string s200 = save_checkpoint(run, 200, cfg, t.p.data(), t.m.data(), t.v.data(), n, 200, sample_state(), tok);
  fs::copy(s200, run + "/.tmp_step_000300.1");  // a crashed save is never picked

  CHECK(resolve_checkpoint(s100) == s100);  // a step directory names itself, even when it is not the newest
  CHECK(resolve_checkpoint(run) == s200);   // a run directory: its newest complete step
  const CheckpointSpec hf = resolve_checkpoint_spec("hf:" + dir + "/no_such_hf_dir");
  CHECK(hf.is_hf());
  CHECK(hf.hf_dir == dir + "/no_such_hf_dir");  // not opened here: the HF loader names what is missing
  CHECK(hf.step_dir.empty());
  CHECK(!resolve_checkpoint_spec(run).is_hf());

  const std::string empty = error_of([] { resolve_checkpoint_spec("", "--init"); });
  CHECK(contains(empty, "--init is required"));
  const std::string missing = error_of([&] { resolve_checkpoint(dir + "/nothing", "--model"); });
  CHECK(contains(missing, "--model " + dir + "/nothing: no model.bin there and no complete step_* checkpoint"));
  make_dirs(dir + "/only_tmp/.tmp_step_000001.9");
  CHECK(contains(error_of([&] { resolve_checkpoint(dir + "/only_tmp"); }), "no complete step_* checkpoint"));
  const std::string not_beop = error_of([&] { resolve_checkpoint("hf:" + dir, "--model"); });
  CHECK(contains(not_beop, "a Hugging Face directory, not a beop checkpoint"));
}

TEST_CASE("prune keeps the newest K and every KEEP-marked checkpoint") {
  const std::string dir = tmpdir("prune");
  const std::string tok = write_tokenizer(dir);
  const ModelConfig cfg = small_cfg();
  const size_t n = ParamLayout(cfg).total;
  const Saved t = random_tensors(n, 6);
  const std::string run = dir + "/run";
  for (long s : {10, 20, 30, 40, 50, 60})
    save_checkpoint(run, s, cfg, t.p.data(), t.m.data(), t.v.data(), n, s, sample_state(), tok);
  mark_checkpoint(run + "/step_000020");
  make_dirs(run + "/.tmp_step_000070.4194305");          // dead pid (above the kernel's pid_max): removed
  const std::string live = run + "/.tmp_step_000080." + std::to_string(::getpid());  // live: kept
  make_dirs(live);
  make_dirs(run + "/step_000005");                        // incomplete: not ours to judge, left alone
  auto removed = prune_checkpoints(run, 2);
  std::sort(removed.begin(), removed.end());
  CHECK(removed == std::vector<std::string>{run + "/.tmp_step_000070.4194305", run + "/step_000010",
                                            run + "/step_000030", run + "/step_000040"});
  CHECK(entries(run) == std::vector<std::string>{".tmp_step_000080." + std::to_string(::getpid()), "step_000005",
                                                 "step_000020", "step_000050", "step_000060"});
  CHECK(prune_checkpoints(run, 0).empty());
  CHECK(load_checkpoint(run + "/step_000020", true).adam_step == 20);
  CHECK(contains(error_of([&] { mark_checkpoint(run + "/step_000010"); }), "is not a directory"));
}

TEST_CASE("failed saves leave the earlier checkpoints intact and no temp dir") {
  const std::string dir = tmpdir("fail");
  const std::string tok = write_tokenizer(dir);
  const ModelConfig cfg = small_cfg();
  const size_t n = ParamLayout(cfg).total;
  const Saved a = random_tensors(n, 100), b = random_tensors(n, 200);
  const std::string run = dir + "/run";
  const std::string good = save_checkpoint(run, 100, cfg, a.p.data(), a.m.data(), a.v.data(), n, 100, sample_state(), tok);

  SUBCASE("unwritable run dir (a path under a regular file; tests run as root, so chmod would not stop us)") {
    write_file_atomic(dir + "/plainfile", "x");
    std::string e = error_of([&] {
      save_checkpoint(dir + "/plainfile/run", 1, cfg, a.p.data(), a.m.data(), a.v.data(), n, 1, sample_state(), tok);
    });
    CHECK(contains(e, "cannot create directory " + dir + "/plainfile/run"));
    CHECK(read_file(dir + "/plainfile") == "x");
  }
  SUBCASE("missing tokenizer fails before anything is written") {
    std::string e = error_of([&] {
      save_checkpoint(run, 200, cfg, a.p.data(), a.m.data(), a.v.data(), n, 1, sample_state(), dir + "/none.json");
    });
    CHECK(contains(e, "cannot read " + dir + "/none.json"));
    CHECK(entries(run) == std::vector<std::string>{"step_000100"});
  }
  SUBCASE("wrong parameter count") {
    CHECK(contains(error_of([&] {
            save_checkpoint(run, 200, cfg, a.p.data(), a.m.data(), a.v.data(), n - 1, 1, sample_state(), tok);
          }),
          "parameters given, the config's layout has"));
  }
  SUBCASE("a failure injected after each stage of a new step") {
    for (const char* stage : {"model.bin", "optim.bin", "state.json", "tokenizer.json", "config.json", "rename"}) {
      g_checkpoint_fault_hook = [&](const std::string& s) {
        if (s == stage) throw Error(cat("injected failure after ", s, " (e.g. disk full)"));
      };
      std::string e = error_of([&] {
        save_checkpoint(run, 200, cfg, b.p.data(), b.m.data(), b.v.data(), n, 200, sample_state(), tok);
      });
      g_checkpoint_fault_hook = nullptr;
      CHECK(e == cat("injected failure after ", stage, " (e.g. disk full)"));
      CHECK_MESSAGE(entries(run) == std::vector<std::string>{"step_000100"}, stage);
      CHECK(latest_checkpoint(run) == good);
    }
  }
  SUBCASE("re-saving an existing step: a failure keeps the old one; success replaces it atomically") {
    g_checkpoint_fault_hook = [](const std::string& s) {
      if (s == "rename") throw Error("injected");
    };
    CHECK(error_of([&] {
            save_checkpoint(run, 100, cfg, b.p.data(), b.m.data(), b.v.data(), n, 100, sample_state(), tok);
          }) == "injected");
    g_checkpoint_fault_hook = nullptr;
    CHECK(entries(run) == std::vector<std::string>{"step_000100"});
    LoadedCheckpoint ck = load_checkpoint(good, true);
    CHECK(std::memcmp(ck.params.data(), a.p.data(), n * 4) == 0);
    CHECK(std::memcmp(ck.v.data(), a.v.data(), n * 4) == 0);
    save_checkpoint(run, 100, cfg, b.p.data(), b.m.data(), b.v.data(), n, 100, sample_state(), tok);
    CHECK(entries(run) == std::vector<std::string>{"step_000100"});  // old copy removed after the exchange
    ck = load_checkpoint(good, true);
    CHECK(std::memcmp(ck.params.data(), b.p.data(), n * 4) == 0);
    CHECK(std::memcmp(ck.v.data(), b.v.data(), n * 4) == 0);
    CHECK(ck.adam_step == 100);
  }
  // Whatever failed above, the first checkpoint (or its replacement) still loads.
  CHECK_NOTHROW(load_checkpoint(good, true));
}

// Issue #14: a checkpoint is verified on load, not trusted. Each case below loaded silently before.
TEST_CASE("load_checkpoint verifies: tokenizer parsed, step and AdamW step consistent, finite weights, sane config") {
  const std::string dir = tmpdir("verify");
  const std::string tok = write_tokenizer(dir);
  const ModelConfig cfg = small_cfg();
  const size_t n = ParamLayout(cfg).total;
  const Saved t = random_tensors(n, 21);
  int k = 0;
  auto fresh = [&](long step = 100, long adam = 100, const float* p = nullptr, const float* m = nullptr) {
    return save_checkpoint(dir + "/run" + std::to_string(k++), step, cfg, p ? p : t.p.data(), m ? m : t.m.data(),
                           t.v.data(), n, adam, sample_state(), tok);
  };
  auto load_err = [&](const std::string& d) { return error_of([&] { load_checkpoint(d, true); }); };
  auto edit_state = [&](const std::string& d, const std::function<void(nlohmann::json&)>& f) {
    auto j = nlohmann::json::parse(read_file(d + "/state.json"));
    f(j);
    write_file_atomic(d + "/state.json", j.dump());
  };

  SUBCASE("a truncated tokenizer.json is refused (it used to be copied into every later checkpoint)") {
    const std::string d = fresh();
    const std::string bytes = read_file(d + "/tokenizer.json");
    write_file_atomic(d + "/tokenizer.json", bytes.substr(0, bytes.size() / 2));
    CHECK(contains(load_err(d), d + "/tokenizer.json: malformed JSON"));
  }
  SUBCASE("a tokenizer with more ids than the model has rows") {
    BpeTrainOptions bo;
    bo.vocab_size = 400;
    bo.progress = false;
    const std::string d = fresh();
    Tokenizer::train_from_texts({"주택의 임대차는 그 등기가 없는 경우에도 임차인이 주택의 인도와 주민등록을 마친 때에는 그 다음 날부터 "
                                 "제삼자에 대하여 효력이 생긴다. 계약이 끝났는데 집주인이 보증금을 돌려주지 않아요. "
                                 "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer."},
                                bo)
        .save(d + "/tokenizer.json");
    const int ids = Tokenizer::load(d + "/tokenizer.json").vocab_size();
    REQUIRE(ids > 300);
    CHECK(load_err(d) == cat(d, "/tokenizer.json: has ", ids, " token ids, the model's vocab_size is only 300"));
  }
  SUBCASE("state.json's step: negative, not the directory's, past the AdamW step") {
    std::string d = fresh();
    edit_state(d, [](nlohmann::json& j) { j["step"] = -5; });
    CHECK(load_err(d) == cat(d, "/state.json: field 'step' is negative (-5)"));
    d = fresh();
    edit_state(d, [](nlohmann::json& j) { j["step"] = 1000000000000LL; });
    CHECK(load_err(d) == cat(d, "/state.json: field 'step' is 1000000000000 but the directory is step_000100"));
    d = fresh();
    edit_state(d, [](nlohmann::json& j) { j["step"] = 25; });  // a step-25 state beside step-100 weights
    CHECK(load_err(d) == cat(d, "/state.json: field 'step' is 25 but the directory is step_000100"));
    // files of two different saves: the optimizer of step 90 in the directory of step 100
    d = fresh(100, 90);
    CHECK(load_err(d) == cat(d, "/optim.bin: AdamW step 90 does not match state.json's step 100 (the files come ",
                             "from different saves)"));
    edit_state(d, [](nlohmann::json& j) { j["meta"]["skipped_steps"] = 10; });  // ... unless 10 steps were skipped
    CHECK_NOTHROW(load_checkpoint(d, true));
    edit_state(d, [](nlohmann::json& j) { j["meta"]["skipped_steps"] = "ten"; });
    CHECK(contains(load_err(d), "meta.skipped_steps \"ten\" is not an integer in 0..step (100)"));
    CHECK_NOTHROW(load_checkpoint(d, false));  // weights only: no optimizer to compare
  }
  SUBCASE("NaN or Inf in the weights or the moments, a negative second moment") {
    std::vector<float> p = t.p, m = t.m;
    const ParamLayout lay(cfg);
    const TensorInfo& w = lay.tensors[3];
    p[w.offset + 7] = NAN;
    std::string d = fresh(100, 100, p.data());
    CHECK(load_err(d) == cat(d, "/model.bin: tensor '", w.name, "' element 7 is nan (weights must be finite)"));
    CHECK(contains(error_of([&] { load_model_file(d + "/model.bin"); }), "weights must be finite"));  // infer's path
    p = t.p;
    p[0] = -INFINITY;
    d = fresh(100, 100, p.data());
    CHECK(contains(load_err(d), "element 0 is -inf (weights must be finite)"));
    m[5] = INFINITY;
    d = fresh(100, 100, nullptr, m.data());
    CHECK(load_err(d) == cat(d, "/optim.bin: first moment element 5 is inf (moments must be finite)"));
    CHECK_NOTHROW(load_checkpoint(d, false));
  }
  SUBCASE("a config claiming an absurd context (it sized the RoPE tables and the KV cache: 5 GB at 1e8)") {
    auto j = config_to_json(cfg);
    j["max_seq_len"] = 100000000;
    CHECK(error_of([&] { config_from_json(j, "model.bin"); }) ==
          "model.bin: model config 'ckpt-test': max_seq_len 100000000 exceeds beop's limit of 1048576 positions");
    j["max_seq_len"] = 1048576;
    CHECK_NOTHROW(config_from_json(j, "model.bin"));
  }
}

TEST_CASE("prune renames before deleting: a kill mid-prune leaves .trash_, never a half step_ directory") {
  const std::string dir = tmpdir("prune_trash");
  const std::string tok = write_tokenizer(dir);
  const ModelConfig cfg = small_cfg();
  const size_t n = ParamLayout(cfg).total;
  const Saved t = random_tensors(n, 31);
  const std::string run = dir + "/run";
  for (long s : {1, 2, 3}) save_checkpoint(run, s, cfg, t.p.data(), t.m.data(), t.v.data(), n, s, sample_state(), tok);
  // "Crash" between the rename and the recursive delete (the hook throws there, as a kill would stop there).
  g_checkpoint_fault_hook = [](const std::string& s) {
    if (s == "prune") throw Error("killed");
  };
  CHECK(error_of([&] { prune_checkpoints(run, 2); }) == "killed");
  g_checkpoint_fault_hook = nullptr;
  const std::string trash = ".trash_step_000001." + std::to_string(::getpid());
  CHECK(entries(run) == std::vector<std::string>{trash, "step_000002", "step_000003"});
  CHECK(list_checkpoints(run) == std::vector<std::string>{run + "/step_000002", run + "/step_000003"});
  // The next save's prune (or a resume's start) removes it.
  CHECK(remove_checkpoint_leftovers(run) == std::vector<std::string>{run + "/" + trash});
  CHECK(entries(run) == std::vector<std::string>{"step_000002", "step_000003"});
}
