#include "src/hf_model.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>

#include "src/activation_layout.h"
#include "src/common.h"
#include "src/io.h"
#include "src/memory_table.h"
#include "src/param_layout.h"
#include "src/tokenizer.h"

namespace beop {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

namespace {

std::string base_name(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  const size_t s = p.find_last_of('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string o = "[";
  for (size_t k = 0; k < s.size(); k++) o += (k ? ", " : "") + std::to_string(s[k]);
  return o + "]";
}

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

// The shortest decimal that reads back as the same float, as a double: 1e-5f -> 1e-05 rather than
// 9.999999747378752e-06, so config.json reads like the ones transformers writes (and round-trips exactly).
double short_float(float f) {
  char buf[64];
  for (int p = 6; p <= 9; p++) {
    std::snprintf(buf, sizeof buf, "%.*g", p, double(f));
    if (std::strtof(buf, nullptr) == f) break;
  }
  return std::strtod(buf, nullptr);
}

}  // namespace

std::string hf_spec_dir(const std::string& spec) { return spec.rfind("hf:", 0) == 0 ? spec.substr(3) : ""; }

// ------------------------------------------------------------------------------------------------ config.json

ModelConfig hf_config_from_json(const json& j, const std::string& what, int max_seq_len_cap, std::string* arch_out) {
  if (!j.is_object()) fail(what, ": not a JSON object");
  // A string field, or def when absent/null; any other type is a one-line error naming the key (json's own
  // type_error would name neither the file nor the key).
  auto str = [&](const json& o, const char* k, const char* def) -> std::string {
    if (!o.contains(k) || o[k].is_null()) return def;
    if (!o[k].is_string()) fail(what, ": \"", k, "\" is ", o[k].dump(), ", want a string");
    return o[k].get<std::string>();
  };
  std::string arch;
  if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty() &&
      j["architectures"][0].is_string()) {
    arch = j["architectures"][0].get<std::string>();
  } else {
    const std::string mt = str(j, "model_type", "");
    arch = mt == "llama" ? "LlamaForCausalLM" : mt == "qwen2" ? "Qwen2ForCausalLM" : mt == "mistral" ? "MistralForCausalLM" : "";
    if (arch.empty()) fail(what, ": no \"architectures\" and model_type '", mt, "' is not llama, qwen2 or mistral");
  }
  const bool llama = arch == "LlamaForCausalLM", qwen2 = arch == "Qwen2ForCausalLM", mistral = arch == "MistralForCausalLM";
  if (!llama && !qwen2 && !mistral)
    fail(what, ": architecture ", arch, " is not supported (LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM)");
  if (arch_out) *arch_out = arch;

  auto has = [&](const json& o, const char* k) { return o.contains(k) && !o[k].is_null(); };
  auto i32 = [&](const json& o, const char* k, int def, bool required) -> int {
    if (!has(o, k)) {
      if (required) fail(what, ": missing \"", k, "\"");
      return def;
    }
    const json& v = o[k];
    if (!v.is_number_integer() || v.get<int64_t>() <= 0 || v.get<int64_t>() > INT32_MAX)
      fail(what, ": \"", k, "\" is ", v.dump(), ", want a positive 32-bit integer");
    return int(v.get<int64_t>());
  };
  auto f64 = [&](const json& o, const char* k, double def, bool required) -> double {
    if (!has(o, k)) {
      if (required) fail(what, ": missing \"", k, "\"");
      return def;
    }
    if (!o[k].is_number()) fail(what, ": \"", k, "\" is ", o[k].dump(), ", want a number");
    return o[k].get<double>();
  };
  auto flag = [&](const json& o, const char* k) {
    if (!has(o, k)) return false;
    if (!o[k].is_boolean()) fail(what, ": \"", k, "\" is ", o[k].dump(), ", want true or false");
    return o[k].get<bool>();
  };

  ModelConfig c;
  c.d_model = i32(j, "hidden_size", 0, true);
  c.n_layers = i32(j, "num_hidden_layers", 0, true);
  c.n_heads = i32(j, "num_attention_heads", 0, true);
  c.n_kv_heads = i32(j, "num_key_value_heads", c.n_heads, false);
  c.head_dim = i32(j, "head_dim", c.d_model / c.n_heads, false);
  if (!has(j, "head_dim") && c.d_model % c.n_heads != 0)
    fail(what, ": hidden_size ", c.d_model, " is not divisible by num_attention_heads ", c.n_heads, " and there is no head_dim");
  c.ffn_hidden = i32(j, "intermediate_size", 0, true);
  c.vocab_size = i32(j, "vocab_size", 0, true);
  c.rms_eps = float(f64(j, "rms_norm_eps", 1e-6, true));
  c.tied_embeddings = flag(j, "tie_word_embeddings");
  const std::string act = str(j, "hidden_act", "silu");
  if (act != "silu") fail(what, ": hidden_act '", act, "' is not supported (beop's MLP is SwiGLU: silu)");

  // RoPE: transformers < 5 writes rope_theta + rope_scaling; >= 5 writes rope_parameters {rope_theta, rope_type, ...}.
  const json* rope = nullptr;
  if (has(j, "rope_parameters")) {
    if (!j["rope_parameters"].is_object()) fail(what, ": \"rope_parameters\" is not an object");
    rope = &j["rope_parameters"];
  }
  c.rope_theta = float(rope && has(*rope, "rope_theta") ? f64(*rope, "rope_theta", 0, true) : f64(j, "rope_theta", 10000.0, false));
  const json* sc = nullptr;
  if (has(j, "rope_scaling")) {
    if (!j["rope_scaling"].is_object()) fail(what, ": \"rope_scaling\" is not an object");
    sc = &j["rope_scaling"];
  } else if (rope) {
    sc = rope;
  }
  if (sc) {
    const json& s = *sc;
    const std::string type = has(s, "rope_type") ? str(s, "rope_type", "") : str(s, "type", "default");
    if (type == "llama3") {
      c.rope_scaling = "llama3";
      c.rope_factor = float(f64(s, "factor", 0, true));
      c.rope_low_freq_factor = float(f64(s, "low_freq_factor", 0, true));
      c.rope_high_freq_factor = float(f64(s, "high_freq_factor", 0, true));
      c.rope_original_max_pos = i32(s, "original_max_position_embeddings", 0, true);
    } else if (type != "default") {
      fail(what, ": rope scaling '", type, "' is not supported (beop implements the default RoPE and 'llama3')");
    }
  }

  c.max_seq_len = i32(j, "max_position_embeddings", 0, true);
  if (max_seq_len_cap > 0 && c.max_seq_len > max_seq_len_cap) c.max_seq_len = max_seq_len_cap;

  if (qwen2) {
    c.attn_bias = true;  // Qwen2Attention: q/k/v projections with bias, o_proj without
    if (flag(j, "use_sliding_window") && has(j, "sliding_window") && i32(j, "sliding_window", 0, true) < c.max_seq_len)
      fail(what, ": use_sliding_window with sliding_window ", j["sliding_window"].dump(), " < context ", c.max_seq_len,
           " (beop has full attention only; cap the context at the window)");
  } else {
    if (flag(j, "attention_bias"))
      fail(what, ": attention_bias=true is not supported (it adds biases to q/k/v and o_proj; beop has q/k/v biases only)");
    if (flag(j, "mlp_bias")) fail(what, ": mlp_bias=true is not supported");
    if (mistral && has(j, "sliding_window") && i32(j, "sliding_window", 0, true) < c.max_seq_len)
      fail(what, ": sliding_window ", j["sliding_window"].dump(), " < context ", c.max_seq_len,
           " (beop has full attention only; cap the context at the window, e.g. --max-seq ", j["sliding_window"].dump(), ")");
  }
  // The sizes derived in int (padded vocab, heads * head_dim for q, k and v together) must fit it.
  if (int64_t(c.vocab_size) + 127 > INT32_MAX || (int64_t(c.n_heads) + 2 * int64_t(c.n_kv_heads)) * c.head_dim > INT32_MAX)
    fail(what, ": vocab_size ", c.vocab_size, " or (num_attention_heads + 2 num_key_value_heads) * head_dim (",
         c.n_heads, ", ", c.n_kv_heads, ", ", c.head_dim, ") exceeds ", INT32_MAX);
  c.name = "hf";
  try {
    c.validate();
  } catch (const Error& e) {
    fail(what, ": ", e.what());
  }
  return c;
}

ojson hf_config_to_json(const ModelConfig& c, int bos_id, const std::vector<int>& eos_ids, const std::string& torch_dtype) {
  ojson j;
  const bool qwen2 = c.attn_bias;
  j["architectures"] = {qwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM"};
  j["model_type"] = qwen2 ? "qwen2" : "llama";
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.d_model;
  j["intermediate_size"] = c.ffn_hidden;
  j["num_hidden_layers"] = c.n_layers;
  j["num_attention_heads"] = c.n_heads;
  j["num_key_value_heads"] = c.n_kv_heads;
  j["head_dim"] = c.head_dim;
  j["hidden_act"] = "silu";
  j["max_position_embeddings"] = c.max_seq_len;
  j["rms_norm_eps"] = short_float(c.rms_eps);
  j["rope_theta"] = short_float(c.rope_theta);
  if (c.rope_scaling == "llama3")
    j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", short_float(c.rope_factor)},
                         {"low_freq_factor", short_float(c.rope_low_freq_factor)},
                         {"high_freq_factor", short_float(c.rope_high_freq_factor)},
                         {"original_max_position_embeddings", c.rope_original_max_pos}};
  else
    j["rope_scaling"] = nullptr;
  j["tie_word_embeddings"] = c.tied_embeddings;
  if (qwen2) {
    j["use_sliding_window"] = false;
    j["sliding_window"] = nullptr;
    j["max_window_layers"] = c.n_layers;
  } else {
    j["attention_bias"] = false;
    j["mlp_bias"] = false;
    j["pretraining_tp"] = 1;
  }
  j["attention_dropout"] = 0.0;
  j["initializer_range"] = 0.02;
  j["use_cache"] = true;
  j["torch_dtype"] = torch_dtype;
  if (bos_id >= 0) j["bos_token_id"] = bos_id;
  if (eos_ids.size() == 1) j["eos_token_id"] = eos_ids[0];
  if (eos_ids.size() > 1) j["eos_token_id"] = eos_ids;
  return j;
}

// ------------------------------------------------------------------------------------------------ import

HfModel load_hf_model(const std::string& dir, const HfLoadOptions& opt) {
  HfModel m;
  m.dir = dir;
  const std::string cfg_path = dir + "/config.json";
  if (!file_exists(cfg_path)) fail(dir, ": no config.json (not a Hugging Face model directory)");
  json cj;
  try {
    cj = json::parse(read_file(cfg_path));
  } catch (const json::exception& e) {
    fail(cfg_path, ": not valid JSON (", e.what(), ")");
  }
  m.config = hf_config_from_json(cj, cfg_path, opt.max_seq_len_cap, &m.architecture);
  m.config.name = base_name(dir);
  const ModelConfig& c = m.config;

  // Tokenizer first: cheap, and a model beop cannot tokenize for is not worth reading gigabytes for.
  m.tokenizer_path = dir + "/tokenizer.json";
  if (!file_exists(m.tokenizer_path)) fail(dir, ": no tokenizer.json (beop needs the fast-tokenizer file)");
  if (opt.load_tokenizer) {
    const Tokenizer tok = Tokenizer::load(m.tokenizer_path);
    if (tok.vocab_size() > c.vocab_size)
      fail(m.tokenizer_path, ": ", tok.vocab_size(), " token ids, but config.json's vocab_size is ", c.vocab_size);
    std::string missing;
    for (const char* t : {kBeginOfText, kEndOfText, kStartHeader, kEndHeader, kEndOfTurn})
      if (tok.token_id(t) < 0) missing += (missing.empty() ? "" : ", ") + std::string(t);
    if (!missing.empty())
      m.notes.push_back(cat("tokenizer.json lacks ", missing, ": CPT on plain text works, but beop's chat template ",
                            "(instruction tuning, infer chat) needs these tokens"));
  }

  // Every tensor checked against config.json before any payload is read: nothing is loaded half-way.
  const SafetensorsDir st(dir);
  // config.json's sizes against the files before the layout is built: each layer has 9 tensors (plus the
  // embedding and the final norm), so num_hidden_layers = 2^31-1 is refused here, not as a std::bad_alloc.
  // (Only counts beyond the tensor count: a small mismatch gets the loop's exact "tensor X is missing".)
  if (uint64_t(c.n_layers) > st.tensors().size())
    fail(cfg_path, ": num_hidden_layers ", c.n_layers, " needs at least ", uint64_t(c.n_layers) * 9 + 2,
         " tensors, but the safetensors hold ", st.tensors().size());
  const ParamLayout lay(c);
  std::set<std::string> used;
  for (const TensorInfo& t : lay.tensors) {
    std::vector<int64_t> want = t.shape;
    if (t.offset == lay.tok_emb || t.offset == lay.lm_head) want[0] = c.vocab_size;  // HF files have V rows
    const SafetensorsDir::Entry* e = st.find(t.name);
    if (!e) fail(dir, ": tensor '", t.name, "' is missing (config.json implies it, shape ", shape_str(want), ")");
    if (e->tensor->shape != want)
      fail(e->file->path(), ": tensor '", t.name, "' has shape ", shape_str(e->tensor->shape), ", config.json implies ",
           shape_str(want));
    used.insert(t.name);
  }
  const SafetensorsDir::Entry* tied_head = nullptr;
  for (const auto& [name, e] : st.tensors()) {
    if (used.count(name) || ends_with(name, "rotary_emb.inv_freq")) continue;  // inv_freq: old saves keep the buffer
    if (c.tied_embeddings && name == "lm_head.weight" && e.tensor->shape == std::vector<int64_t>{c.vocab_size, c.d_model}) {
      tied_head = &e;
      continue;
    }
    fail(e.file->path(), ": unexpected tensor '", name, "' ", shape_str(e.tensor->shape), " (not part of a ", m.architecture,
         " with this config.json", name == "lm_head.weight" ? ", which says tie_word_embeddings" : "", ")");
  }

  m.params.assign(lay.total, 0.0f);  // padded vocabulary rows stay zero
  for (const TensorInfo& t : lay.tensors) {
    const SafetensorsDir::Entry* e = st.find(t.name);
    e->file->read_f32(*e->tensor, m.params.data() + t.offset);
  }
  if (tied_head) {  // a tied model saved with both matrices: they must be the same matrix
    std::vector<float> head(tied_head->tensor->numel);
    tied_head->file->read_f32(*tied_head->tensor, head.data());
    if (std::memcmp(head.data(), m.params.data() + lay.tok_emb, head.size() * sizeof(float)) != 0)
      fail(tied_head->file->path(), ": lm_head.weight differs from model.embed_tokens.weight, but config.json says ",
           "tie_word_embeddings=true");
  }
  return m;
}

// ------------------------------------------------------------------------------------------------ export

std::string hf_chat_template_jinja() {
  // Mirrors render_chat (src/chat_template.cpp): no system prompt is added, content is not trimmed.
  return "{{ '<|begin_of_text|>' }}"
         "{% for message in messages %}"
         "{% if message['role'] not in ['system', 'user', 'assistant'] %}"
         "{{ raise_exception('unknown role ' + message['role']) }}{% endif %}"
         "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] + '<|eot_id|>' }}"
         "{% endfor %}"
         "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";
}

void export_hf_model(const ModelConfig& cfg, const float* params, const std::string& tokenizer_path,
                     const std::string& out_dir, const HfExportOptions& opt) {
  const ParamLayout lay(cfg);
  const Tokenizer tok = Tokenizer::load(tokenizer_path);
  BEOP_CHECK(tok.vocab_size() <= cfg.vocab_size, tokenizer_path, ": ", tok.vocab_size(), " ids exceed the model's vocab ",
             cfg.vocab_size);
  std::vector<StWriteTensor> ts;
  for (const TensorInfo& t : lay.tensors) {
    StWriteTensor w{t.name, t.shape, params + t.offset};
    // the first V rows of a row-major (Vp, C) matrix are exactly the (V, C) matrix: drop the padding
    if (t.offset == lay.tok_emb || t.offset == lay.lm_head) w.shape[0] = cfg.vocab_size;
    ts.push_back(w);
  }
  make_dirs(out_dir);
  save_safetensors_model(out_dir, ts, opt.max_shard_bytes, opt.dtype);
  write_file_atomic(out_dir + "/tokenizer.json", read_file(tokenizer_path));

  const int bos = tok.bos_id();
  std::vector<int> eos;
  for (int id : {tok.eos_id(), tok.eot_id()})
    if (id >= 0) eos.push_back(id);
  ojson gen;
  if (bos >= 0) gen["bos_token_id"] = bos;
  if (!eos.empty()) gen["eos_token_id"] = eos;
  write_file_atomic(out_dir + "/generation_config.json", gen.dump(2) + "\n");

  ojson tc;
  tc["tokenizer_class"] = "PreTrainedTokenizerFast";
  if (bos >= 0) tc["bos_token"] = kBeginOfText;
  if (tok.eot_id() >= 0) tc["eos_token"] = kEndOfTurn;
  else if (tok.eos_id() >= 0) tc["eos_token"] = tok.eos_token();
  tc["add_bos_token"] = false;  // beop never prepends <|begin_of_text|> to raw text; llama.cpp's converter reads this
  tc["model_max_length"] = cfg.max_seq_len;
  tc["clean_up_tokenization_spaces"] = false;
  const bool chat_ok = tok.bos_id() >= 0 && tok.start_header_id() >= 0 && tok.end_header_id() >= 0 && tok.eot_id() >= 0;
  if (opt.chat_template && chat_ok) tc["chat_template"] = hf_chat_template_jinja();
  write_file_atomic(out_dir + "/tokenizer_config.json", tc.dump(2) + "\n");

  // config.json last: a directory without it is visibly incomplete.
  const ojson cj = hf_config_to_json(cfg, bos, eos, opt.dtype == StDType::BF16 ? "bfloat16" : "float32");
  write_file_atomic(out_dir + "/config.json", cj.dump(2) + "\n");
}

// ------------------------------------------------------------------------------------------------ memory

// What one training backend keeps resident (src/model.h allocates exactly these; check_fits in cuda/backend.cu
// uses the same formula before a GPU run).
struct BackendMemory {
  const char* name;
  size_t master_bytes, work_bytes;  // per parameter: master weights (and AdamW m, v), working copy/grads
  bool mixed;                       // a separate working copy of the weights
  AttentionSaves saves;
};

std::string hf_memory_report(const ModelConfig& cfg, int batch, int seq, int ranks) {
  const ParamLayout lay(cfg);
  const BackendMemory backends[] = {
      {"cpu (fp32, flash attention)", 4, 4, false, AttentionSaves::kLogsumexp},
      {"cpu (fp32, --attention gemm)", 4, 4, false, AttentionSaves::kProbabilities},
      {"cuda-fp32 (flash attention)", 4, 4, false, AttentionSaves::kLogsumexp},
      {"cuda (bf16 mixed, flash attention)", 4, 2, true, AttentionSaves::kLogsumexp},
  };
  std::string out = cfg.summary() + "\n" + format_param_table(lay, sizeof(float));
  std::string totals = cat("training ", cfg.name, ", batch ", batch, " x seq ", seq, ", per backend (--device)",
                           ranks > 1 ? cat(", per rank of ", ranks, " with ZeRO-1 (--zero 1)") : std::string(), ":\n");
  for (const BackendMemory& b : backends) {
    const ActivationLayout act(cfg, batch, seq, ActMode::kTrain, b.saves, b.work_bytes);
    const size_t n = lay.total;
    const size_t ns = (n + size_t(ranks) - 1) / size_t(ranks);  // the largest shard (src/comm.h shard_range)
    const std::string of = ranks > 1 ? cat(" (1/", ranks, ")") : std::string();
    MemoryTable t(b.name);
    const size_t master = b.mixed ? ns : n;  // fp32 weights that are also the working copy are needed whole
    t.add("parameters (master)" + (b.mixed ? of : std::string()), {int64_t(master)}, master * b.master_bytes);
    if (b.mixed) t.add("working copy (bf16)", {int64_t(n)}, n * b.work_bytes);
    t.add("gradients", {int64_t(n)}, n * b.work_bytes);
    t.add("adamw m, v" + of, {2, int64_t(ns)}, 2 * ns * b.master_bytes);
    t.add(cat("activations B=", batch, " T=", seq), {int64_t(act.total)}, act.total * b.work_bytes);
    totals += t.str(true);
    if (ranks > 1)
      totals += cat("ZeRO-1 saves ", human_bytes(double((n - ns) * b.master_bytes * (b.mixed ? 3 : 2))),
                    " per rank against --zero 0\n");
    if (b.mixed) out += act.table.str(false);  // the plan a GPU run allocates
  }
  out += totals;
  out += cat("weights alone: ", human_bytes(double(lay.total) * 4), " in float32, ", human_bytes(double(lay.total) * 2),
             " in bfloat16 (HF export / inference)\n");
  return out;
}

}  // namespace beop
