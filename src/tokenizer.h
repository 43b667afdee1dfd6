// Byte-level BPE tokenizer (GPT-2 / Llama-3 / Qwen2 family), compatible with Hugging Face `tokenizer.json`.
//
// Pipeline for encode(), HF's order: added tokens with normalized=false are matched in the raw text (special
// ones only when allow_special; non-special ones, such as Qwen2.5's <tool_call>, always) -> each stretch
// between them is normalized (NFC for Qwen2; Llama 3 has no normalizer) -> added tokens with normalized=true
// are matched in the normalized stretch -> the pre-tokenizer regex (Llama-3
// or Qwen2, from Unicode properties, so Hangul, Hanja and Latin split correctly) splits the rest into pieces
// -> each piece's UTF-8 bytes are mapped to the GPT-2 byte-to-unicode alphabet -> BPE merges by rank -> ids.
// decode() is the inverse: decode(encode(x)) == x for every valid UTF-8 string (== NFC(x) with the NFC
// normalizer).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "src/unicode.h"

namespace beop {

// The special tokens of beop's chat template (Llama-3 layout, as used by Mi:dm 2.0).
inline constexpr const char* kBeginOfText = "<|begin_of_text|>";
inline constexpr const char* kEndOfText = "<|end_of_text|>";
inline constexpr const char* kStartHeader = "<|start_header_id|>";
inline constexpr const char* kEndHeader = "<|end_header_id|>";
inline constexpr const char* kEndOfTurn = "<|eot_id|>";
// The end-of-document token of GPT-2 / Qwen2 vocabularies, used when a file has no <|end_of_text|>.
inline constexpr const char* kEndOfTextQwen = "<|endoftext|>";

struct BpeTrainOptions {
  int vocab_size = 8192;  // total, including the 256 byte tokens and the special tokens
  int threads = 0;        // 0 = all cores
  bool progress = true;   // progress bar on stderr
  std::vector<std::string> special_tokens = {kBeginOfText, kEndOfText, kStartHeader, kEndHeader, kEndOfTurn};
};

class Tokenizer {
 public:
  Tokenizer();
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // Trains on the UTF-8 text of `files` (invalid UTF-8 -> Error naming the file and byte offset).
  static Tokenizer train(const std::vector<std::string>& files, const BpeTrainOptions& opt);
  static Tokenizer train_from_texts(const std::vector<std::string>& texts, const BpeTrainOptions& opt);
  // Loads / saves a Hugging Face tokenizer.json (model type BPE, ByteLevel, added tokens): the Llama-3 layout
  // (no normalizer, Llama-3 regex) or the Qwen2 one (NFC normalizer, Qwen2 regex); anything else is an Error
  // naming what is unsupported. Save is atomic and writes the same normalizer and regex back.
  static Tokenizer load(const std::string& tokenizer_json_path);
  void save(const std::string& tokenizer_json_path) const;
  std::string to_json() const;

  // Invalid UTF-8 -> Error with the byte offset. With allow_special=false, text that spells a special token
  // is encoded as ordinary text (never produces the special id; HF's encode_special_tokens=True); added tokens
  // marked "special": false are matched either way, as HF always does.
  std::vector<int32_t> encode(std::string_view text, bool allow_special = false) const;
  std::string decode(const std::vector<int32_t>& ids) const;  // throws Error on an id outside the vocab
  std::string token_text(int32_t id) const;                   // the decoded bytes of one token

  int vocab_size() const;                      // number of ids (ordinary + special)
  PreTokenizer pre_tokenizer() const;          // the split regex (trained tokenizers: Llama-3)
  bool normalizes_nfc() const;                 // normalizer {"type": "NFC"} (Qwen2)
  int32_t token_id(std::string_view tok) const;  // id of a special/added token, or -1
  int32_t bos_id() const { return token_id(kBeginOfText); }
  // End of document: <|end_of_text|> (Llama 3, beop), else <|endoftext|> (Qwen2, GPT-2); "" / -1 if neither.
  std::string eos_token() const {
    return token_id(kEndOfText) >= 0 ? kEndOfText : token_id(kEndOfTextQwen) >= 0 ? kEndOfTextQwen : "";
  }
  int32_t eos_id() const { return token_id(eos_token()); }
  int32_t eot_id() const { return token_id(kEndOfTurn); }
  int32_t start_header_id() const { return token_id(kStartHeader); }
  int32_t end_header_id() const { return token_id(kEndHeader); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace beop
