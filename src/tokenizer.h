// Byte-level BPE tokenizer (GPT-2 / Llama-3 family), compatible with Hugging Face `tokenizer.json`.
//
// Pipeline for encode(): special tokens are matched first (only when allow_special) -> the Llama-3
// pre-tokenizer regex splits the text into pieces (from Unicode properties, so Hangul, Hanja and Latin
// split correctly) -> each piece's UTF-8 bytes are mapped to the GPT-2 byte-to-unicode alphabet -> BPE merges
// by rank -> ids. decode() is the exact inverse: decode(encode(x)) == x for every valid UTF-8 string.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace beop {

// The special tokens of beop's chat template (Llama-3 layout, as used by Mi:dm 2.0).
inline constexpr const char* kBeginOfText = "<|begin_of_text|>";
inline constexpr const char* kEndOfText = "<|end_of_text|>";
inline constexpr const char* kStartHeader = "<|start_header_id|>";
inline constexpr const char* kEndHeader = "<|end_header_id|>";
inline constexpr const char* kEndOfTurn = "<|eot_id|>";

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
  // Loads / saves a Hugging Face tokenizer.json (model type BPE, ByteLevel, added tokens). Save is atomic.
  static Tokenizer load(const std::string& tokenizer_json_path);
  void save(const std::string& tokenizer_json_path) const;
  std::string to_json() const;

  // Invalid UTF-8 -> Error with the byte offset. With allow_special=false, text that spells a special token
  // is encoded as ordinary text (never produces the special id).
  std::vector<int32_t> encode(std::string_view text, bool allow_special = false) const;
  std::string decode(const std::vector<int32_t>& ids) const;  // throws Error on an id outside the vocab
  std::string token_text(int32_t id) const;                   // the decoded bytes of one token

  int vocab_size() const;                      // number of ids (ordinary + special)
  int32_t token_id(std::string_view tok) const;  // id of a special/added token, or -1
  int32_t bos_id() const { return token_id(kBeginOfText); }
  int32_t eos_id() const { return token_id(kEndOfText); }
  int32_t eot_id() const { return token_id(kEndOfTurn); }
  int32_t start_header_id() const { return token_id(kStartHeader); }
  int32_t end_header_id() const { return token_id(kEndHeader); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace beop
