// Byte-level BPE training (the tokenizer beop trains for its own models; `prep tokenizer`): texts -> a
// TokenizerVocab with the 256 byte tokens, one token per new merge result, then the special tokens.
//
// Classic incremental BPE on unique pre-tokenized words with counts (Llama-3 pre-tokenizer, pieces counted in
// parallel over ~1 MB chunks cut where no piece can cross). Deterministic: ties between equally frequent
// pairs go to the smallest (left id, right id), so the result does not depend on the thread count.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "src/tokenizer.h"
#include "src/tokenizer_json.h"

namespace beop {

// Texts must be valid UTF-8 (Error naming the text's index otherwise); opt.vocab_size must leave room for the
// 256 byte tokens and the special tokens, which must be non-empty, valid UTF-8 and distinct.
TokenizerVocab train_bpe(const std::vector<std::string>& texts, const BpeTrainOptions& opt);

// The 64-bit key of a merge pair (left id, right id): the trainer's pair counts and the encoder's merge
// table use the same key, and the trainer's tie-break is its numeric order.
inline uint64_t bpe_pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

}  // namespace beop
