// Hugging Face import/export (src/hf_model.h) against Hugging Face transformers itself
// (tests/reference/hf_transformers_oracle.py: LlamaForCausalLM / Qwen2ForCausalLM built at random and saved with
// save_pretrained). The oracle needs a Python with transformers 4.45.2 (see the script's docstring); it is
// looked up as $BEOP_HF_PYTHON, then .venv-hf/bin/python, then build/hf-venv/bin/python — none -> FAIL.
//
// Asserted, for a GQA untied Llama, a tied Llama, a Llama with llama3 RoPE scaling and a Qwen2 (q/k/v biases):
//   - beop imports the directory and reproduces transformers' float32 logits within 1e-4 relative
//     (max |diff| / max |ref|: two float32 implementations of a 2-layer model with sums of <= 96 terms differ by
//     ~1e-6; 1e-4 is the project's fp32 bound) and its mean loss within 1e-5 relative;
//   - export -> re-import is exact (bit-identical parameters, same config);
//   - transformers loads beop's export and reproduces beop's logits within 1e-4; its apply_chat_template renders
//     exactly beop's render_chat, and its fast tokenizer encodes like beop's tokenizer;
//   - bad directories (missing / misshapen / unexpected tensors, unsupported config) -> one-line Errors, and
//     BF16 / sharded exports re-import as expected.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cpu/model_cpu.h"
#include "src/chat_template.h"
#include "src/checkpoint.h"
#include "src/hf_model.h"
#include "src/io.h"
#include "src/param_layout.h"
#include "src/tokenizer.h"
#include "tests/bundle.h"
#include "tests/test_util.h"

using namespace beop;
using beop::test::Bundle;
using beop::test::max_rel_err;

namespace {

const std::string kDir = "build/test_hf_model_tmp";

std::string hf_python() {
  if (const char* p = std::getenv("BEOP_HF_PYTHON")) return p;
  for (const char* p : {".venv-hf/bin/python", "build/hf-venv/bin/python"})
    if (file_exists(p)) return p;
  return "";
}

void oracle(const std::string& args, const std::string& log) {
  const std::string py = hf_python();
  REQUIRE_MESSAGE(!py.empty(), "no Python with transformers: create .venv-hf (see tests/reference/hf_transformers_oracle.py)");
  const std::string cmd = py + " tests/reference/hf_transformers_oracle.py " + args;
  REQUIRE_MESSAGE(beop::test::run(cmd + " > " + log + " 2>&1 || (cat " + log + "; exit 1)") == 0,
                  "transformers oracle failed: ", cmd);
}

// A small byte-level BPE tokenizer with beop's chat tokens (trained once per run).
std::string tokenizer_path() {
  static std::string path;
  if (!path.empty()) return path;
  make_dirs(kDir);
  BpeTrainOptions o;
  o.vocab_size = 300;
  o.progress = false;
  o.threads = 1;
  Tokenizer t = Tokenizer::train_from_texts({"제1조(목적) 이 법은 임대차 계약에 관하여 정한다. The Act, 2024년.",
                                             "임대차 계약은 2년으로 본다. 법률 상담 Yes. 정말? 끝."},
                                            o);
  path = kDir + "/tokenizer.json";
  t.save(path);
  return path;
}

// The case's directory: DIR/hf (the model) and DIR/ref (inputs, logits, loss), made by transformers.
std::string make_case(const std::string& name) {
  const std::string dir = kDir + "/" + name;
  make_dirs(dir);
  oracle("make --case " + name + " --tokenizer " + tokenizer_path() + " --out " + dir, dir + ".log");
  return dir;
}

struct Forward {
  std::vector<float> logits;  // (B, T, V)
  double loss;
};

Forward run_beop(const ModelConfig& cfg, const std::vector<float>& params, const Bundle& ref) {
  const int B = ref.manifest["config"]["batch"], T = ref.manifest["config"]["seq"];
  const int V = cfg.vocab_size, Vp = cfg.padded_vocab();
  CpuModel m(cfg);
  REQUIRE(params.size() == m.layout().total);
  std::copy(params.begin(), params.end(), m.params());
  const std::vector<int32_t> x = ref.get<int32_t>("inputs"), y = ref.get<int32_t>("targets");
  const LossSum ls = m.forward(x.data(), y.data(), nullptr, B, T);
  Forward f;
  for (int n = 0; n < B * T; n++)
    f.logits.insert(f.logits.end(), m.acts().logits + size_t(n) * Vp, m.acts().logits + size_t(n) * Vp + V);
  f.loss = ls.mean();
  return f;
}

void expect_same_config(const ModelConfig& a, const ModelConfig& b) {
  check_compatible(a, b, "re-imported export");
  CHECK(a.attn_bias == b.attn_bias);
  CHECK(a.rope_scaling == b.rope_scaling);
  CHECK(a.rope_factor == b.rope_factor);
  CHECK(a.rope_low_freq_factor == b.rope_low_freq_factor);
  CHECK(a.rope_high_freq_factor == b.rope_high_freq_factor);
  CHECK(a.rope_original_max_pos == b.rope_original_max_pos);
}

void check_case(const std::string& name, bool tied, bool bias, bool llama3) {
  const std::string dir = make_case(name);
  const Bundle ref(dir + "/ref");

  // import: transformers' logits and loss
  const HfModel hf = load_hf_model(dir + "/hf");
  CHECK(hf.config.tied_embeddings == tied);
  CHECK(hf.config.attn_bias == bias);
  CHECK((hf.config.rope_scaling == "llama3") == llama3);
  CHECK(hf.config.vocab_size == int(ref.manifest["config"]["vocab"]));
  CHECK(hf.notes.empty());
  const ParamLayout lay(hf.config);
  for (size_t i = size_t(hf.config.vocab_size) * hf.config.d_model; i < size_t(hf.config.padded_vocab()) * hf.config.d_model; i++)
    REQUIRE(hf.params[lay.tok_emb + i] == 0.0f);  // padding rows
  const Forward f = run_beop(hf.config, hf.params, ref);
  const double ref_loss = ref.manifest["scalars"]["loss"];
  const double err = max_rel_err(f.logits, ref.get<float>("logits"));
  std::printf("  %s (%s): import logits max rel err %.2e, loss %.7f vs transformers %.7f\n", name.c_str(),
              hf.architecture.c_str(), err, f.loss, ref_loss);
  CHECK(err <= 1e-4);
  CHECK(std::fabs(f.loss - ref_loss) <= 1e-5 * std::fabs(ref_loss));

  // export -> re-import: exact
  const std::string out = dir + "/export";
  export_hf_model(hf.config, hf.params.data(), hf.tokenizer_path, out);
  const HfModel back = load_hf_model(out);
  expect_same_config(hf.config, back.config);
  REQUIRE(back.params.size() == hf.params.size());
  CHECK(std::memcmp(back.params.data(), hf.params.data(), hf.params.size() * sizeof(float)) == 0);
  CHECK(file_exists(out + "/generation_config.json"));
  CHECK(read_file(out + "/tokenizer.json") == read_file(hf.tokenizer_path));

  // export -> transformers: beop's logits, chat template, tokenization
  oracle("run --hf " + out + " --inputs " + dir + "/ref --out " + dir + "/back", dir + "_back.log");
  const Bundle tb(dir + "/back");
  const double err2 = max_rel_err(tb.get<float>("logits"), f.logits);
  std::printf("  %s: transformers on beop's export: logits max rel err %.2e\n", name.c_str(), err2);
  CHECK(err2 <= 1e-4);
  CHECK(tb.manifest["config"]["arch"] == (bias ? "Qwen2ForCausalLM" : "LlamaForCausalLM"));
  Conversation conv;
  for (const auto& m : tb.manifest["config"]["messages"]) conv.push_back({m["role"], m["content"]});
  CHECK(tb.manifest["config"]["chat"].get<std::string>() == render_chat(conv, true));
  const Tokenizer tok = Tokenizer::load(out + "/tokenizer.json");
  // the fast tokenizer always splits out added tokens (<|eot_id|> in the text): beop's allow_special=true
  CHECK(tb.get<int32_t>("text_ids") == tok.encode(tb.manifest["config"]["text"].get<std::string>(), true));
}

// Copies the llama_gqa model directory, letting `edit` change config.json or the tensors.
std::string broken_copy(const std::string& name, const std::function<void(nlohmann::json&)>& edit_config,
                        const std::function<void(std::vector<StWriteTensor>&)>& edit_tensors, HfModel& base) {
  const std::string dir = kDir + "/broken_" + name;
  make_dirs(dir);
  nlohmann::json cj = nlohmann::json::parse(read_file(base.dir + "/config.json"));
  if (edit_config) edit_config(cj);
  write_file_atomic(dir + "/config.json", cj.dump());
  write_file_atomic(dir + "/tokenizer.json", read_file(base.tokenizer_path));
  const ParamLayout lay(base.config);
  std::vector<StWriteTensor> ts;
  for (const TensorInfo& t : lay.tensors) {
    StWriteTensor w{t.name, t.shape, base.params.data() + t.offset};
    if (t.offset == lay.tok_emb || t.offset == lay.lm_head) w.shape[0] = base.config.vocab_size;
    ts.push_back(w);
  }
  if (edit_tensors) edit_tensors(ts);
  save_safetensors_model(dir, ts, size_t(1) << 30);
  return dir;
}

void expect_load_error(const std::string& dir, const std::vector<std::string>& fragments) {
  std::string msg;
  try {
    load_hf_model(dir);
  } catch (const Error& e) {
    msg = e.what();
  }
  INFO(dir, " -> '", msg, "'");
  REQUIRE(!msg.empty());
  CHECK(msg.find('\n') == std::string::npos);
  for (const std::string& f : fragments) CHECK(msg.find(f) != std::string::npos);
}

}  // namespace

TEST_CASE("HF interop: Llama, GQA, untied") { check_case("llama_gqa", false, false, false); }
TEST_CASE("HF interop: Llama, tied embeddings") { check_case("llama_tied", true, false, false); }
TEST_CASE("HF interop: Llama, llama3 RoPE scaling") { check_case("llama3_rope", false, false, true); }
TEST_CASE("HF interop: Qwen2, q/k/v biases") { check_case("qwen2", false, true, false); }

TEST_CASE("HF interop: refused directories name the tensor or key") {
  const std::string src = kDir + "/llama_gqa/hf";
  if (!file_exists(src + "/config.json")) make_case("llama_gqa");
  HfModel base = load_hf_model(src);
  using J = nlohmann::json;
  using Ts = std::vector<StWriteTensor>;
  expect_load_error(broken_copy("missing", nullptr, [](Ts& t) { t.erase(t.begin() + 3); }, base),
                    {"model.layers.0.self_attn.k_proj.weight", "missing"});
  expect_load_error(broken_copy("shape", nullptr, [](Ts& t) { t[1].shape = {t[1].shape[0] - 1}; }, base),
                    {"model.layers.0.input_layernorm.weight"});
  std::vector<float> extra(4, 1.0f);
  expect_load_error(broken_copy("extra", nullptr, [&](Ts& t) { t.push_back({"model.layers.0.mlp.extra", {4}, extra.data()}); }, base),
                    {"unexpected tensor 'model.layers.0.mlp.extra'"});
  expect_load_error(broken_copy("yarn", [](J& c) { c["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}}; }, nullptr, base),
                    {"config.json", "rope scaling 'yarn'"});
  expect_load_error(broken_copy("bias", [](J& c) { c["attention_bias"] = true; }, nullptr, base), {"attention_bias"});
  expect_load_error(broken_copy("gelu", [](J& c) { c["hidden_act"] = "gelu"; }, nullptr, base), {"hidden_act 'gelu'"});
  expect_load_error(broken_copy("arch", [](J& c) { c["architectures"] = {"GPT2LMHeadModel"}; }, nullptr, base),
                    {"GPT2LMHeadModel"});
  expect_load_error(broken_copy("nolayers", [](J& c) { c.erase("num_hidden_layers"); }, nullptr, base),
                    {"num_hidden_layers"});
  // tie_word_embeddings with a different lm_head, and config.json saying 3 layers for a 2-layer file
  expect_load_error(broken_copy("tied", [](J& c) { c["tie_word_embeddings"] = true; }, nullptr, base),
                    {"lm_head.weight differs"});
  expect_load_error(broken_copy("layers", [](J& c) { c["num_hidden_layers"] = 3; }, nullptr, base),
                    {"model.layers.2.input_layernorm.weight", "missing"});
  // an old save with rotary_emb.inv_freq buffers loads; max_seq_len can be capped
  const std::string ok = broken_copy("inv_freq", nullptr, [&](Ts& t) {
    t.push_back({"model.layers.0.self_attn.rotary_emb.inv_freq", {4}, extra.data()}); }, base);
  HfLoadOptions cap;
  cap.max_seq_len_cap = 64;
  const HfModel m = load_hf_model(ok, cap);
  CHECK(m.config.max_seq_len == 64);
  CHECK(std::memcmp(m.params.data(), base.params.data(), base.params.size() * 4) == 0);
}

TEST_CASE("HF interop: BF16 and sharded exports; a tokenizer without the chat tokens") {
  const std::string src = kDir + "/llama_gqa/hf";
  if (!file_exists(src + "/config.json")) make_case("llama_gqa");
  const HfModel base = load_hf_model(src);
  HfExportOptions o;
  o.dtype = StDType::BF16;
  o.max_shard_bytes = 40000;  // a few shards for this ~0.1 MB model
  export_hf_model(base.config, base.params.data(), base.tokenizer_path, kDir + "/bf16", o);
  CHECK(file_exists(kDir + "/bf16/model.safetensors.index.json"));
  CHECK(nlohmann::json::parse(read_file(kDir + "/bf16/config.json"))["torch_dtype"] == "bfloat16");
  const HfModel back = load_hf_model(kDir + "/bf16");
  size_t bad = 0;
  for (size_t i = 0; i < base.params.size(); i++) bad += back.params[i] != bf16_to_f32(f32_to_bf16(base.params[i]));
  CHECK(bad == 0);

  BpeTrainOptions to;
  to.vocab_size = 280;
  to.progress = false;
  to.threads = 1;
  to.special_tokens = {"<|im_start|>", "<|im_end|>"};
  const std::string dir = kDir + "/im_tokens";
  export_hf_model(base.config, base.params.data(), base.tokenizer_path, dir);
  Tokenizer::train_from_texts({"hello world hello there"}, to).save(dir + "/tokenizer.json");
  const HfModel q = load_hf_model(dir);
  REQUIRE(q.notes.size() == 1);
  CHECK(q.notes[0].find("<|start_header_id|>") != std::string::npos);
}
