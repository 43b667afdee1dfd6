// ModelConfig <-> JSON and the architecture comparison; see config_json.h.
#include "src/config_json.h"

#include <cmath>
#include <cstdint>

#include "src/common.h"

namespace beop {

using json = nlohmann::json;

json config_to_json(const ModelConfig& c) {
  json j = json::object();
  j["name"] = c.name;
  j["vocab_size"] = c.vocab_size;
  j["d_model"] = c.d_model;
  j["n_layers"] = c.n_layers;
  j["n_heads"] = c.n_heads;
  j["n_kv_heads"] = c.n_kv_heads;
  j["head_dim"] = c.head_dim;
  j["ffn_hidden"] = c.ffn_hidden;
  j["rope_theta"] = (double)c.rope_theta;  // float -> double is exact, so the round trip is too
  j["rms_eps"] = (double)c.rms_eps;
  j["tied_embeddings"] = c.tied_embeddings;
  j["max_seq_len"] = c.max_seq_len;
  if (c.attn_bias) j["attn_bias"] = true;  // optional keys: absent in older files means "no"
  if (c.rope_scaling != "none")
    j["rope_scaling"] = {{"type", c.rope_scaling}, {"factor", (double)c.rope_factor},
                         {"low_freq_factor", (double)c.rope_low_freq_factor},
                         {"high_freq_factor", (double)c.rope_high_freq_factor},
                         {"original_max_position_embeddings", c.rope_original_max_pos}};
  return j;
}

ModelConfig config_from_json(const json& j, const std::string& what) {
  if (!j.is_object()) fail(what, ": model config is not a JSON object");
  auto get = [&](const char* key) -> const json& {
    if (!j.contains(key)) fail(what, ": model config has no '", key, "'");
    return j[key];
  };
  auto i32 = [&](const char* key) {
    const json& v = get(key);
    if (!v.is_number_integer() || v.get<int64_t>() < INT32_MIN || v.get<int64_t>() > INT32_MAX)
      fail(what, ": model config '", key, "' is not a 32-bit integer");
    return (int)v.get<int64_t>();
  };
  auto f32 = [&](const char* key) {
    const json& v = get(key);
    if (!v.is_number()) fail(what, ": model config '", key, "' is not a number");
    return (float)v.get<double>();
  };
  ModelConfig c;
  const json& name = get("name");
  if (!name.is_string()) fail(what, ": model config 'name' is not a string");
  c.name = name.get<std::string>();
  c.vocab_size = i32("vocab_size");
  c.d_model = i32("d_model");
  c.n_layers = i32("n_layers");
  c.n_heads = i32("n_heads");
  c.n_kv_heads = i32("n_kv_heads");
  c.head_dim = i32("head_dim");
  c.ffn_hidden = i32("ffn_hidden");
  c.rope_theta = f32("rope_theta");
  c.rms_eps = f32("rms_eps");
  const json& tied = get("tied_embeddings");
  if (!tied.is_boolean()) fail(what, ": model config 'tied_embeddings' is not a boolean");
  c.tied_embeddings = tied.get<bool>();
  c.max_seq_len = i32("max_seq_len");
  if (j.contains("attn_bias")) {
    if (!j["attn_bias"].is_boolean()) fail(what, ": model config 'attn_bias' is not a boolean");
    c.attn_bias = j["attn_bias"].get<bool>();
  }
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    const json& rs = j["rope_scaling"];
    if (!rs.is_object() || !rs.contains("type") || !rs["type"].is_string())
      fail(what, ": model config 'rope_scaling' must be an object with a string 'type'");
    auto num = [&](const char* k) {
      if (!rs.contains(k) || !rs[k].is_number()) fail(what, ": model config rope_scaling.", k, " is not a number");
      return rs[k].get<double>();
    };
    c.rope_scaling = rs["type"].get<std::string>();
    if (c.rope_scaling == "llama3") {
      c.rope_factor = float(num("factor"));
      c.rope_low_freq_factor = float(num("low_freq_factor"));
      c.rope_high_freq_factor = float(num("high_freq_factor"));
      const double omp = num("original_max_position_embeddings");
      if (!(omp >= 1 && omp <= INT32_MAX) || omp != std::floor(omp))  // int(1e300) would be undefined
        fail(what, ": model config rope_scaling.original_max_position_embeddings is not a positive 32-bit integer");
      c.rope_original_max_pos = int(omp);
    }
  }
  try {
    c.validate();
  } catch (const Error& e) {
    fail(what, ": ", e.what());
  }
  return c;
}

void check_compatible(const ModelConfig& e, const ModelConfig& g, const std::string& what) {
#define BEOP_CMP(field)                                                                              \
  if (e.field != g.field)                                                                            \
    fail(what, " has " #field " ", g.field, ", run expects ", e.field);
  BEOP_CMP(vocab_size)
  BEOP_CMP(d_model)
  BEOP_CMP(n_layers)
  BEOP_CMP(n_heads)
  BEOP_CMP(n_kv_heads)
  BEOP_CMP(head_dim)
  BEOP_CMP(ffn_hidden)
  BEOP_CMP(rope_theta)
  BEOP_CMP(rms_eps)
  if (e.tied_embeddings != g.tied_embeddings)
    fail(what, " has tied_embeddings ", g.tied_embeddings ? "true" : "false", ", run expects ",
         e.tied_embeddings ? "true" : "false");
  BEOP_CMP(max_seq_len)
  if (e.attn_bias != g.attn_bias)
    fail(what, " has attn_bias ", g.attn_bias ? "true" : "false", ", run expects ", e.attn_bias ? "true" : "false");
  BEOP_CMP(rope_scaling)
  BEOP_CMP(rope_factor)
#undef BEOP_CMP
}

}  // namespace beop
