// A byte-level BPE tokenizer's vocabulary as plain data (TokenizerVocab: tokens by id, merges by rank, the
// pre-tokenizer and normalizer), and Hugging Face's tokenizer.json <-> that data. The Tokenizer (tokenizer.h)
// builds its lookup tables from a TokenizerVocab; the BPE trainer (bpe_trainer.h) produces one.
//
// Only the layouts beop implements are accepted: model BPE, ByteLevel, the Llama-3 pre-tokenizer with no
// normalizer or the Qwen2 one with NFC; anything else is a one-line Error naming what is unsupported.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "src/unicode.h"

namespace beop {

struct TokenizerVocab {
  struct Tok {
    std::string bytes;      // what decode() emits (added tokens: their content)
    bool exists = false;    // false for a gap in the id space
    bool in_model = false;  // in model.vocab (else only in added_tokens)
    bool raw = false;       // model.vocab string that is not in the byte-level alphabet (kept verbatim)
    bool added = false, special = false;
    bool normalized = false;  // added token: matched after normalization (HF "normalized"), else in the raw text
    std::string match;        // added token: what is matched (content, NFC'd when normalized under NFC); set by
                              // the Tokenizer when it builds its tables, not part of the file
  };
  std::vector<Tok> toks;                                // [n_ids]
  std::vector<std::pair<int32_t, int32_t>> merge_list;  // (left id, right id) by rank
  bool ignore_merges = false;                           // HF BPE option (Llama 3 sets it): whole-piece lookup first
  PreTokenizer pre = PreTokenizer::kLlama3;
  bool nfc = false;  // normalizer NFC (Qwen2)
};

// Parses the text of a tokenizer.json (`path` names it in errors), assigning added-token ids as HF does.
TokenizerVocab parse_tokenizer_json(const std::string& text, const std::string& path);

// The tokenizer.json text of `v` (the same normalizer and regex back; stable byte for byte).
std::string tokenizer_json(const TokenizerVocab& v);

}  // namespace beop
