// Hugging Face tokenizer.json <-> TokenizerVocab; see tokenizer_json.h. Tokens are raw byte strings inside
// beop; the GPT-2 byte-to-unicode alphabet (bytes -> printable code points, so "Ġ" is a space) only appears
// in the file.
#include "src/tokenizer_json.h"

#include <algorithm>
#include <iterator>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "src/common.h"

namespace beop {

namespace {

// GPT-2 bytes_to_unicode(): printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100.. in order.
struct ByteMap {
  uint32_t b2u[256];
  int16_t u2b[324];  // code point -> byte, -1 where not in the alphabet (all alphabet code points are < 324)
  ByteMap() {
    std::fill(std::begin(u2b), std::end(u2b), int16_t(-1));
    uint32_t extra = 256;
    for (int b = 0; b < 256; b++) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      b2u[b] = printable ? uint32_t(b) : extra++;
      u2b[b2u[b]] = int16_t(b);
    }
  }
};
const ByteMap& byte_map() {
  static const ByteMap m;
  return m;
}

std::string bytes_to_unicode(std::string_view bytes) {
  const ByteMap& m = byte_map();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) utf8_append(out, m.b2u[b]);
  return out;
}

// Inverse; false if `s` (valid UTF-8) holds a character outside the 256-character alphabet.
bool unicode_to_bytes(std::string_view s, std::string* out) {
  const ByteMap& m = byte_map();
  out->clear();
  for (size_t i = 0; i < s.size();) {
    int len;
    const uint32_t cp = utf8_decode_at(s.data(), i, &len);
    if (cp >= 324 || m.u2b[cp] < 0) return false;
    *out += char(m.u2b[cp]);
    i += len;
  }
  return true;
}

std::string preview(const nlohmann::json& j) {
  std::string s = j.dump();
  return s.size() > 160 ? s.substr(0, 160) + "..." : s;
}

const char* kSplitBehavior = "Isolated";

// The pre_tokenizer must be Llama 3's or Qwen2's: Sequence[Split(Regex=<Llama-3 or Qwen2 pattern>, Isolated),
// ByteLevel(no prefix space, no regex)]. Returns which.
PreTokenizer check_pre_tokenizer(const nlohmann::json& pt, const std::string& path) {
  auto bad = [&](const std::string& why) {
    fail(path, ": unsupported pre_tokenizer (", why, "); beop implements only Llama 3's and Qwen2's "
         "Sequence[Split(Regex=<Llama-3 or Qwen2 pattern>, Isolated), ByteLevel(add_prefix_space=false, "
         "use_regex=false)], got ", preview(pt));
  };
  if (!pt.is_object() || pt.value("type", "") != "Sequence") bad("not a Sequence");
  const auto& seq = pt.at("pretokenizers");
  if (!seq.is_array() || seq.size() != 2) bad("not 2 steps");
  const auto& sp = seq[0];
  if (sp.value("type", "") != "Split") bad("first step is not Split");
  if (!sp.contains("pattern") || !sp["pattern"].contains("Regex") || !sp["pattern"]["Regex"].is_string())
    bad("Split pattern is not a Regex");
  const std::string re = sp["pattern"]["Regex"].get<std::string>();
  PreTokenizer kind;
  if (re == kLlama3Pattern) kind = PreTokenizer::kLlama3;
  else if (re == kQwen2Pattern) kind = PreTokenizer::kQwen2;
  else bad("Split pattern is neither the Llama-3 nor the Qwen2 regex");
  if (sp.value("behavior", "") != kSplitBehavior) bad("Split behavior is not Isolated");
  if (sp.value("invert", false)) bad("Split invert=true");
  const auto& bl = seq[1];
  if (bl.value("type", "") != "ByteLevel") bad("second step is not ByteLevel");
  if (bl.value("add_prefix_space", true)) bad("ByteLevel add_prefix_space=true");
  if (bl.value("use_regex", true)) bad("ByteLevel use_regex=true");
  return kind;
}

// The normalizer: none (Llama 3) -> false, NFC or a Sequence of only NFC steps (Qwen2) -> true; any other is an
// Error naming its type.
bool check_normalizer(const nlohmann::json& n, const std::string& path) {
  if (n.is_null()) return false;
  auto type = [](const nlohmann::json& x) {
    return x.is_object() && x.contains("type") && x["type"].is_string() ? x["type"].get<std::string>() : preview(x);
  };
  auto bad = [&](const nlohmann::json& x) {
    fail(path, ": normalizer '", type(x), "' is not supported (beop implements NFC, as Qwen2 uses, or none, as "
         "Llama 3): ", preview(n));
  };
  if (type(n) == "NFC") return true;
  if (type(n) != "Sequence" || !n.contains("normalizers") || !n["normalizers"].is_array()) bad(n);
  for (const auto& step : n["normalizers"])
    if (type(step) != "NFC") bad(step);
  return !n["normalizers"].empty();
}

void append_json_string(std::string& out, const std::string& s) { out += nlohmann::json(s).dump(); }

}  // namespace

TokenizerVocab parse_tokenizer_json(const std::string& text, const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": malformed JSON: ", e.what());
  }
  TokenizerVocab tv;
  try {
    if (!j.is_object() || !j.contains("model") || !j["model"].is_object())
      fail(path, ": not a tokenizer.json (no \"model\" object)");
    const auto& model = j["model"];
    const std::string type = model.contains("type") ? model["type"].get<std::string>() : "BPE";
    if (type != "BPE") fail(path, ": model type '", type, "' is not supported (beop loads only byte-level BPE)");
    if (!model.contains("vocab") || !model["vocab"].is_object() || !model.contains("merges") || !model["merges"].is_array())
      fail(path, ": BPE model without a vocab object and a merges array");
    if (model.contains("dropout") && !model["dropout"].is_null() && model["dropout"].get<double>() != 0.0)
      fail(path, ": BPE dropout ", model["dropout"].dump(), " is not supported (encoding must be deterministic)");
    for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"})
      if (model.contains(k) && !model[k].is_null() && !model[k].get<std::string>().empty())
        fail(path, ": BPE ", k, "=", model[k].dump(), " is not supported by byte-level BPE");
    if (model.value("byte_fallback", false)) fail(path, ": BPE byte_fallback=true is not supported by byte-level BPE");
    tv.ignore_merges = model.value("ignore_merges", false);
    if (j.contains("normalizer")) tv.nfc = check_normalizer(j["normalizer"], path);
    if (!j.contains("pre_tokenizer")) fail(path, ": no pre_tokenizer");
    tv.pre = check_pre_tokenizer(j["pre_tokenizer"], path);
    if (j.contains("decoder") && !j["decoder"].is_null() && j["decoder"].value("type", "") != "ByteLevel")
      fail(path, ": decoder ", preview(j["decoder"]), " is not supported (ByteLevel expected)");

    // Vocabulary.
    std::unordered_map<std::string, int32_t> by_str;  // vocab string as written in the file -> id
    int32_t max_id = -1;
    // The token table is indexed by id (max id + 1 entries), so every id is bounded by the entries the file
    // holds: a hostile id (1e9) is this one-line error instead of a multi-GB allocation failing as bad_alloc.
    const size_t n_added_entries = j.contains("added_tokens") && j["added_tokens"].is_array() ? j["added_tokens"].size() : 0;
    const int64_t id_limit = int64_t(model["vocab"].size() + n_added_entries);
    for (const auto& [s, v] : model["vocab"].items()) {
      if (!v.is_number_integer())
        fail(path, ": model.vocab id of ", nlohmann::json(s).dump(), " is not an integer: ", preview(v));
      const int64_t id = v.get<int64_t>();
      if (id < 0 || id >= id_limit)
        fail(path, ": model.vocab id ", id, " of ", nlohmann::json(s).dump(), " is outside [0, ", id_limit, ") (the file has ",
             model["vocab"].size(), " vocab entries and ", n_added_entries, " added tokens)");
      max_id = std::max(max_id, int32_t(id));
      by_str.emplace(s, int32_t(id));
    }
    // Added tokens get their ids the way HF's AddedVocabulary assigns them (the "id" written in the file is
    // not used by HF): a content already in model.vocab keeps that id; otherwise the next id after the
    // largest added id so far, or model.vocab's size (its entry count) if that is larger. For Llama 3
    // (model ids 0..127999) this reproduces the file's ids 128000..; a vocab with gaps would make HF hand
    // out ids the model already uses, which is reported as an error.
    struct Added {
      int32_t id;
      std::string content;
      bool special, normalized;
    };
    std::vector<Added> added;
    if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
      const int32_t model_size = int32_t(by_str.size());
      std::vector<bool> model_id_used(size_t(max_id + 1), false);
      for (const auto& kv : by_str) model_id_used[kv.second] = true;
      int32_t max_added = -1;
      std::unordered_map<std::string, int32_t> seen;
      for (const auto& a : j["added_tokens"]) {
        const std::string content = a.at("content").get<std::string>();
        for (const char* k : {"lstrip", "rstrip", "single_word"})
          if (a.value(k, false))
            fail(path, ": added token ", nlohmann::json(content).dump(), " has ", k, "=true, which beop does not support");
        int32_t id;
        if (auto it = by_str.find(content); it != by_str.end()) {
          id = it->second;
        } else if (auto it2 = seen.find(content); it2 != seen.end()) {
          id = it2->second;
        } else {
          id = max_added >= model_size || model_size == 0 ? max_added + 1 : model_size;
          if (id <= max_id && model_id_used[id])
            fail(path, ": added token ", nlohmann::json(content).dump(), " would get id ", id,
                 " (HF assigns added ids after the ", model_size, " model tokens), which model.vocab already uses:"
                 " the vocab ids are not contiguous");
        }
        seen[content] = id;
        max_added = std::max(max_added, id);
        const bool special = a.value("special", false);
        // HF requires the field; where it is missing, HF's AddedToken::from default (special ones are not).
        added.push_back(Added{id, content, special, a.value("normalized", !special)});
      }
      for (const auto& a : added) max_id = std::max(max_id, a.id);
    }
    tv.toks.assign(size_t(max_id + 1), TokenizerVocab::Tok{});
    for (const auto& [s, id] : by_str) {
      TokenizerVocab::Tok& t = tv.toks[id];
      if (t.exists) fail(path, ": vocab id ", id, " is used twice");
      t.exists = t.in_model = true;
      if (!unicode_to_bytes(s, &t.bytes)) {
        t.raw = true;
        t.bytes = s;
      }
    }
    for (const auto& a : added) {
      TokenizerVocab::Tok& t = tv.toks[a.id];
      t.exists = true;
      t.added = true;
      t.special = a.special;
      t.normalized = a.normalized;
      t.bytes = a.content;
    }
    // Merges: "a b" strings (older files) or ["a", "b"] pairs (tokenizers >= 0.20).
    const auto& mj = model["merges"];
    tv.merge_list.reserve(mj.size());
    for (size_t r = 0; r < mj.size(); r++) {
      std::string a, b;
      if (mj[r].is_string()) {
        const std::string s = mj[r].get<std::string>();
        const size_t sp = s.find(' ');
        if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
          fail(path, ": merge ", r, " ", nlohmann::json(s).dump(), " is not two tokens separated by one space");
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      } else if (mj[r].is_array() && mj[r].size() == 2) {
        a = mj[r][0].get<std::string>();
        b = mj[r][1].get<std::string>();
      } else {
        fail(path, ": merge ", r, " is neither \"a b\" nor [\"a\", \"b\"]: ", preview(mj[r]));
      }
      auto ia = by_str.find(a), ib = by_str.find(b), ic = by_str.find(a + b);
      if (ia == by_str.end() || ib == by_str.end() || ic == by_str.end())
        fail(path, ": merge ", r, " (", nlohmann::json(a).dump(), ", ", nlohmann::json(b).dump(), ") uses or makes a token not in the vocab");
      if (tv.toks[ia->second].raw || tv.toks[ib->second].raw)
        fail(path, ": merge ", r, " uses a token that is not byte-level");
      tv.merge_list.push_back({ia->second, ib->second});
    }
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": unexpected tokenizer.json structure: ", e.what());
  }
  return tv;
}

std::string tokenizer_json(const TokenizerVocab& tv) {
  auto str = [&](int32_t id) { return tv.toks[id].raw ? tv.toks[id].bytes : bytes_to_unicode(tv.toks[id].bytes); };
  std::string o;
  o += "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [";
  bool first = true;
  for (int32_t id = 0; id < int32_t(tv.toks.size()); id++) {
    const TokenizerVocab::Tok& t = tv.toks[id];
    if (!t.added) continue;
    o += first ? "\n" : ",\n";
    first = false;
    o += "    {\"id\": " + std::to_string(id) + ", \"content\": ";
    append_json_string(o, t.bytes);
    o += ", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": ";
    o += t.normalized ? "true, \"special\": " : "false, \"special\": ";
    o += t.special ? "true}" : "false}";
  }
  o += first ? "],\n" : "\n  ],\n";
  o += tv.nfc ? "  \"normalizer\": {\"type\": \"NFC\"},\n" : "  \"normalizer\": null,\n";
  o += "  \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": ";
  append_json_string(o, pre_tokenizer_pattern(tv.pre));
  o += "}, \"behavior\": \"Isolated\", \"invert\": false}, {\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
       "\"trim_offsets\": true, \"use_regex\": false}]},\n";
  o += "  \"post_processor\": null,\n";
  o += "  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, \"use_regex\": true},\n";
  o += "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n"
       "    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n    \"fuse_unk\": false,\n"
       "    \"byte_fallback\": false,\n    \"ignore_merges\": ";
  o += tv.ignore_merges ? "true" : "false";
  o += ",\n    \"vocab\": {";
  first = true;
  for (int32_t id = 0; id < int32_t(tv.toks.size()); id++) {
    if (!tv.toks[id].in_model) continue;
    o += first ? "\n      " : ",\n      ";
    first = false;
    append_json_string(o, str(id));
    o += ": " + std::to_string(id);
  }
  o += "\n    },\n    \"merges\": [";
  first = true;
  for (const auto& [a, b] : tv.merge_list) {
    o += first ? "\n      [" : ",\n      [";
    first = false;
    append_json_string(o, str(a));
    o += ", ";
    append_json_string(o, str(b));
    o += "]";
  }
  o += "\n    ]\n  }\n}\n";
  return o;
}

}  // namespace beop
