// prep export-gguf (src/gguf_export.h, src/gguf_writer.h): the fixture checkpoint exported as f32, bf16 and q8_0 and
// read back by the PyPI gguf package (tests/reference/gguf_oracle.py: every key, every tensor; q8_0 dequantized equals
// beop's own `--dtype q8` weights, dumped here from the converted model); export-hf's add_bos_token: false; and the
// refusals (q/k/v biases, q8_0 on a dimension that is not a multiple of 32, a bad --dtype), each one line.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "cpu/model_cpu.h"
#include "src/checkpoint.h"
#include "src/gguf_export.h"
#include "src/io.h"
#include "tests/infer_fixture.h"
#include "tests/test_util.h"

using namespace beop;

namespace {
const std::string kDir = "build/test_gguf_export";

void dump(const std::string& path, const std::vector<float>& v) {
  write_file_atomic(path, std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4));
}
}  // namespace

TEST_CASE("export-gguf f32 / bf16 / q8_0: llama.cpp's reader gets every key and tensor; q8_0 = beop's q8 weights") {
  const std::string run = test::make_infer_fixture(kDir);
  const std::string step = latest_checkpoint(run);
  for (const char* dt : {"f32", "bf16", "q8_0"}) {
    const test::ShellResult r = test::shell(cat("./prep export-gguf --model ", run, " --dtype ", dt, " --out ", kDir, "/m_", dt, ".gguf"));
    INFO(r.out);
    REQUIRE(r.rc == 0);
  }
  REQUIRE(test::shell("./prep export-hf --model " + run + " --out " + kDir + "/hf").rc == 0);
  CHECK(read_file(kDir + "/hf/tokenizer_config.json").find("\"add_bos_token\": false") != std::string::npos);

  // beop's own q8 weights: the matrices `infer --dtype q8` multiplies with (cpu/matmul_lowp.h), dequantized
  const LoadedCheckpoint ck = load_model_file(step + "/model.bin");
  const ModelConfig& c = ck.config;
  auto lm = cpu::make_lm(c, ck.params, "q8");
  auto& m = static_cast<ModelLM<CpuModel>&>(*lm).model();
  const cpu::LowpWeights& lw = *m.ops().lowp;
  auto matrix = [&](const float* W, int rows) {
    const cpu::LowpMatrix* q = lw.find(W);
    REQUIRE(q);
    std::vector<float> v;
    for (int o = 0; o < rows; o++)
      for (int i = 0; i < q->cols(); i++) v.push_back(q->weight(o, i));
    return v;
  };
  make_dirs(kDir + "/beop_q8");
  dump(kDir + "/beop_q8/layer0_qkv.f32", matrix(m.weights().layers[0].wq, c.qkv_dim()));
  dump(kDir + "/beop_q8/layer1_down.f32", matrix(m.weights().layers[1].w_down, c.d_model));
  dump(kDir + "/beop_q8/lm_head.f32", matrix(m.weights().lm_head, c.vocab_size));
  const float* e = m.weights().tok_emb;  // fp32, holding the Q8_0 values (convert_lowp)
  dump(kDir + "/beop_q8/tok_emb.f32", std::vector<float>(e, e + size_t(c.vocab_size) * c.d_model));
  CHECK(test::run(cat(".venv/bin/python tests/reference/gguf_oracle.py ", kDir, "/hf ", kDir, "/m_f32.gguf ", kDir,
                      "/m_bf16.gguf ", kDir, "/m_q8_0.gguf ", kDir, "/beop_q8")) == 0);
  // atomic write: no temp file left beside the output
  for (const auto& f : std::filesystem::directory_iterator(kDir)) CHECK(f.path().string().find(".tmp.") == std::string::npos);
}

TEST_CASE("export-gguf refuses what llama.cpp's 'llama' cannot represent, with the reason") {
  const std::string run = test::make_infer_fixture(kDir);
  const LoadedCheckpoint ck = load_model_file(latest_checkpoint(run) + "/model.bin");
  const std::string tok = latest_checkpoint(run) + "/tokenizer.json";
  ModelConfig qwen = ck.config;
  qwen.attn_bias = true;
  const std::vector<float> pq(ParamLayout(qwen).total, 0.01f);
  CHECK(test::error_of([&] { export_gguf(qwen, pq.data(), tok, kDir + "/x.gguf", GgmlType::F32); }) ==
        "export-gguf: the model has q/k/v biases (Qwen2); llama.cpp's 'llama' architecture has none, so it cannot be "
        "represented");
  ModelConfig odd = ck.config;  // d_model 80: 5 heads of 16
  odd.d_model = 80, odd.n_heads = 5, odd.n_kv_heads = 5, odd.head_dim = 16;
  const std::vector<float> po(ParamLayout(odd).total, 0.01f);
  CHECK(test::error_of([&] { export_gguf(odd, po.data(), tok, kDir + "/x.gguf", GgmlType::Q8_0); }) ==
        "export-gguf --dtype q8_0: token_embd.weight has rows of 80 values, not a multiple of 32 (Q8_0 blocks); use "
        "--dtype bf16 or f32");
  export_gguf(odd, po.data(), tok, kDir + "/odd_bf16.gguf", GgmlType::BF16);  // bf16 has no block constraint
  CHECK(!file_exists(kDir + "/x.gguf"));
  const test::ShellResult bad = test::shell("./prep export-gguf --model " + run + " --dtype q4_0 --out " + kDir + "/y.gguf");
  CHECK(bad.rc == 2);
  CHECK(bad.out.find("--dtype: 'q4_0' (want f32, bf16 or q8_0)") != std::string::npos);
}
