// Loaders validate sizes against the file (#14): a hostile or corrupt size/id field is a one-line beop::Error
// naming the file and the field, never a multi-GB allocation ending in std::bad_alloc (which names nothing), a
// hang, or undefined behaviour. Each case here failed before its fix (see the commit messages):
//   - tokenizer.json: a model.vocab id of 1e9 (the token table is indexed by id);
//   - model.bin: a checksum-valid header whose config says n_layers = 2^31-1 (the layout was built first);
// and the inputs libFuzzer found (tests/fuzz_regressions/, replayed by `make fuzz` under the sanitizers too)
// are fed here through the normal build.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "src/checkpoint.h"
#include "src/common.h"
#include "src/hf_model.h"
#include "src/io.h"
#include "src/param_layout.h"
#include "src/safetensors.h"
#include "src/tokenizer.h"
#include "tests/test_util.h"

using namespace beop;
using beop::test::error_of;
namespace fs = std::filesystem;

namespace {

std::string tmpdir(const std::string& name) {
  std::string d = "build/test_loader_validation_tmp/" + name;
  fs::remove_all(d);
  make_dirs(d);
  return d;
}

// A small byte-level BPE tokenizer.json (trained in milliseconds) as JSON, to mutate.
nlohmann::json small_tokenizer_json() {
  BpeTrainOptions o;
  o.vocab_size = 300;
  o.progress = false;
  return nlohmann::json::parse(Tokenizer::train_from_texts({"abc abc abd 법원 법률 법원"}, o).to_json());
}

}  // namespace

TEST_CASE("tokenizer.json: a vocab id far beyond the file's entries is a one-line error naming file and field") {
  const std::string dir = tmpdir("tok");
  nlohmann::json j = small_tokenizer_json();
  {
    const std::string ok = dir + "/ok.json";
    write_file_atomic(ok, j.dump());
    CHECK(Tokenizer::load(ok).vocab_size() > 256);
  }
  const size_t n_vocab = j["model"]["vocab"].size(), n_added = j["added_tokens"].size();
  const std::string limit = std::to_string(n_vocab + n_added);
  auto load_error = [&](const std::string& name, const nlohmann::json& body) {
    const std::string p = dir + "/" + name;
    write_file_atomic(p, body.dump());
    return error_of([&] { Tokenizer::load(p); });
  };
  const std::string key = j["model"]["vocab"].begin().key();
  nlohmann::json big = j;
  big["model"]["vocab"][key] = 1000000000;  // before: a 1e9-entry token table -> std::bad_alloc
  CHECK(load_error("big.json", big) == dir + "/big.json: model.vocab id 1000000000 of " + nlohmann::json(key).dump() +
                                           " is outside [0, " + limit + ") (the file has " + std::to_string(n_vocab) +
                                           " vocab entries and " + std::to_string(n_added) + " added tokens)");
  nlohmann::json edge = j;  // the first id past the bound
  edge["model"]["vocab"][key] = n_vocab + n_added;
  CHECK(load_error("edge.json", edge).find("model.vocab id " + limit + " of") != std::string::npos);
  nlohmann::json flt = j;  // int64(1e300) would be undefined behaviour
  flt["model"]["vocab"][key] = 1e300;
  CHECK(load_error("float.json", flt) == dir + "/float.json: model.vocab id of " + nlohmann::json(key).dump() +
                                             " is not an integer: 1e+300");
}

TEST_CASE("model.bin: a checksum-valid header whose config implies billions of tensors is a one-line error") {
  const std::string dir = tmpdir("ckpt");
  ModelConfig cfg;
  cfg.name = "loader-validation-long-name";  // shortened below to make room for more digits
  cfg.vocab_size = 256, cfg.d_model = 16, cfg.n_layers = 1, cfg.n_heads = 2, cfg.n_kv_heads = 1, cfg.head_dim = 8;
  cfg.ffn_hidden = 32, cfg.max_seq_len = 16;
  const ParamLayout lay(cfg);
  std::vector<float> params(lay.total, 0.5f);
  write_file_atomic(dir + "/tok.json", "{}");
  const std::string ck = save_checkpoint(dir + "/run", 1, cfg, params.data(), nullptr, nullptr, params.size(), 0,
                                         CheckpointState{}, dir + "/tok.json");
  const std::string good = read_file(ck + "/model.bin");
  CHECK(load_model_file(ck + "/model.bin").params == params);
  // the 128-bit count must agree with ParamLayout for every layout variant, or valid files would be refused
  for (int variant = 0; variant < 4; variant++) {
    ModelConfig v = cfg;
    v.attn_bias = variant & 1, v.tied_embeddings = variant & 2, v.vocab_size = 300;  // 300: padded to 384
    const size_t total = ParamLayout(v).total;
    std::vector<float> p(total, 1.5f);
    const std::string d = save_checkpoint(dir + "/variants" + std::to_string(variant), 1, v, p.data(), nullptr,
                                          nullptr, total, 0, CheckpointState{}, dir + "/tok.json");
    CHECK(load_model_file(d + "/model.bin").params.size() == total);
  }

  // Rewrites one field of the config JSON inside model.bin, shortens the name by as many characters as the
  // field grew (the header keeps its length) and fixes the header checksum: only what the config says is wrong.
  const std::string long_name = "\"" + cfg.name + "\"";
  auto with_config = [&](const std::string& file, const std::string& from, const std::string& to) {
    std::string b = good;
    const size_t at = b.find(from), nat = b.find(long_name);
    REQUIRE(at != std::string::npos);
    REQUIRE(nat != std::string::npos);
    REQUIRE(to.size() - from.size() < cfg.name.size());
    b.replace(nat, long_name.size(), "\"" + cfg.name.substr(0, cfg.name.size() - (to.size() - from.size())) + "\"");
    b.replace(b.find(from), from.size(), to);
    uint32_t hb;
    std::memcpy(&hb, b.data() + 12, 4);
    const uint32_t crc = crc32(b.data(), hb);
    std::memcpy(&b[b.size() - 4], &crc, 4);
    REQUIRE(b.size() == good.size());
    const std::string p = dir + "/" + file;
    write_file_atomic(p, b);
    return p;
  };
  // A count that fits ModelConfig's bound (2^40) but not the file: the header's element count is compared first.
  const std::string m = with_config("layers.bin", "\"n_layers\":1,", "\"n_layers\":100000,");
  CHECK(error_of([&] { load_model_file(m); }) ==
        m + ": has " + std::to_string(lay.total) +
            " elements, but its config (vocab_size 256, d_model 16, n_layers 100000, ffn_hidden 32) implies " +
            std::to_string(100000ull * (lay.total - 256 * 16 * 2 - 16) + 256 * 16 * 2 + 16));
  // Past the bound, or dimensions whose products overflow int (padded vocab, H*D): ModelConfig::validate refuses
  // the config itself, before any derived size is computed (no ParamLayout, no undefined arithmetic).
  const std::string p = with_config("layers_huge.bin", "\"n_layers\":1,", "\"n_layers\":2147483647,");
  CHECK(error_of([&] { load_model_file(p); }) ==
        p + ": model config 'loader-validation-': its dimensions imply more than 2^40 parameters");
  const std::string q = with_config("dims.bin", "\"n_heads\":2,", "\"n_heads\":1073741824,");
  CHECK(error_of([&] { load_model_file(q); }) ==
        q + ": model config 'loader-validation-': vocab_size or n_heads/n_kv_heads x head_dim is too large for 32-bit "
            "dimensions");
}

// ---------------------------------------------------------------------------------------------------------------
// Inputs libFuzzer found (tests/fuzz_regressions/NAME/, replayed under the sanitizers by `make fuzz` too), fed to
// the same entry points as fuzz/fuzz_NAME.cpp: each must be accepted or give a one-line beop::Error, nothing else.

namespace {

std::vector<std::string> regression_inputs(const std::string& harness) {
  std::vector<std::string> out;
  const std::string d = "tests/fuzz_regressions/" + harness;
  if (fs::is_directory(d))
    for (const auto& e : fs::directory_iterator(d)) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("fuzz regressions: hf config.json whose fields have the wrong JSON type") {
  const std::vector<std::string> inputs = regression_inputs("hf_config");
  REQUIRE(!inputs.empty());
  for (const std::string& f : inputs) {
    INFO(f);
    const nlohmann::json j = nlohmann::json::parse(read_file(f));
    std::string msg;
    CHECK_NOTHROW(msg = error_of([&] { hf_config_from_json(j, "config.json"); }));  // not json::type_error
    CHECK(msg.rfind("config.json: ", 0) == 0);
    CHECK(msg.find('\n') == std::string::npos);
  }
  // the keys found, each with a wrong type: a one-line error naming the key
  const nlohmann::json base = nlohmann::json::parse(
      R"({"architectures":["LlamaForCausalLM"],"hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,)"
      R"("intermediate_size":128,"vocab_size":300,"rms_norm_eps":1e-5,"max_position_embeddings":128})");
  CHECK_NOTHROW(hf_config_from_json(base, "config.json"));
  nlohmann::json mt = base;
  mt.erase("architectures");
  mt["model_type"] = false;
  CHECK(error_of([&] { hf_config_from_json(mt, "config.json"); }) == "config.json: \"model_type\" is false, want a string");
  nlohmann::json act = base;
  act["hidden_act"] = 3;
  CHECK(error_of([&] { hf_config_from_json(act, "config.json"); }) == "config.json: \"hidden_act\" is 3, want a string");
  nlohmann::json rt = base;
  rt["rope_scaling"] = {{"rope_type", {1}}};
  CHECK(error_of([&] { hf_config_from_json(rt, "config.json"); }) == "config.json: \"rope_type\" is [1], want a string");
}

TEST_CASE("fuzz regressions: safetensors inputs read back without undefined behaviour") {
  const std::vector<std::string> inputs = regression_inputs("safetensors");
  REQUIRE(!inputs.empty());
  for (const std::string& f : inputs) {
    INFO(f);
    std::string msg = error_of([&] {
      SafetensorsFile st(f);
      for (const StTensor& t : st.tensors()) {
        std::vector<float> out(t.numel);
        st.read_f32(t, out.data());  // an empty tensor: out.data() is null (memcpy(nullptr, ..., 0) was UB)
      }
    });
    CHECK((msg == "<no error>" || msg.rfind(f + ":", 0) == 0));
  }
}

TEST_CASE("HF model directory: config.json sizes are checked against the safetensors before the layout") {
  const std::string dir = tmpdir("hf");
  ModelConfig cfg;
  cfg.name = "hf-tiny";
  cfg.vocab_size = 300, cfg.d_model = 16, cfg.n_layers = 1, cfg.n_heads = 2, cfg.n_kv_heads = 1, cfg.head_dim = 8;
  cfg.ffn_hidden = 32, cfg.max_seq_len = 16;
  const ParamLayout lay(cfg);
  std::vector<float> params(lay.total, 0.25f);
  for (size_t i = 300 * 16; i < 384 * 16; i++) params[i] = 0.0f;  // padded vocab rows (not exported)
  for (size_t i = lay.lm_head + 300 * 16; i < lay.lm_head + 384 * 16; i++) params[i] = 0.0f;
  write_file_atomic(dir + "/tok.json", small_tokenizer_json().dump());
  HfExportOptions eo;
  eo.chat_template = false;
  export_hf_model(cfg, params.data(), dir + "/tok.json", dir + "/m", eo);
  HfLoadOptions lo;
  lo.load_tokenizer = false;
  CHECK(load_hf_model(dir + "/m", lo).params == params);
  nlohmann::json cj = nlohmann::json::parse(read_file(dir + "/m/config.json"));
  cj["num_hidden_layers"] = 2147483647;  // before: a ParamLayout of 2^31-1 layers -> std::bad_alloc
  write_file_atomic(dir + "/m/config.json", cj.dump());
  CHECK(error_of([&] { load_hf_model(dir + "/m", lo); }) ==
        dir + "/m/config.json: model config 'hf': its dimensions imply more than 2^40 parameters");
  cj["num_hidden_layers"] = 100000;  // within the bound: the tensor count is checked before the layout is built
  write_file_atomic(dir + "/m/config.json", cj.dump());
  CHECK(error_of([&] { load_hf_model(dir + "/m", lo); }) ==
        dir + "/m/config.json: num_hidden_layers 100000 needs at least 900002 tensors, but the safetensors hold 12");
  // heads * head_dim beyond int (q_dim() would overflow)
  cj["num_hidden_layers"] = 1;
  cj["num_attention_heads"] = 1 << 20;
  cj["num_key_value_heads"] = 1 << 20;
  cj["head_dim"] = 1 << 12;
  CHECK(error_of([&] { hf_config_from_json(cj, "config.json"); }) ==
        "config.json: vocab_size 300 or (num_attention_heads + 2 num_key_value_heads) * head_dim (1048576, 1048576, 4096) "
        "exceeds 2147483647");
}
