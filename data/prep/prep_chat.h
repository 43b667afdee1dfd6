// `prep chat`: conversations (JSONL, or a Q/A CSV) -> masked token shards for instruction tuning.
//
// Each conversation is encoded with beop's chat template (src/chat_template.h: loss mask 1 on assistant content
// + its <|eot_id|>) and the conversations are PACKED into blocks of exactly T tokens, matching the mixture
// loader's windows (tokens [k*T, k*T+T+1) of a shard; the mask of each target token counts):
//   - a block starts at the beginning of a conversation; conversations are appended while they fit whole;
//   - the rest of the block is padding: <|end_of_text|> with mask 0;
//   - a conversation longer than T is split across consecutive blocks (each piece starts a block; the last
//     piece may share its block with the conversations that follow) with Overlong::split, or left out with
//     Overlong::drop. Split pieces train answers whose question and reference lie in the previous block, out of
//     sight: the model learns to answer without its input (a 1.8 M demo model then cites laws from its prior);
//     drop keeps only conversations seen whole;
//   - each shard holds n_blocks*T tokens plus one trailing padding token (mask 0), so its last block is a full
//     loader window too: windows = (n_tokens-1)/T = n_blocks.
// A block's first token is the target of the previous block's last position: it is <|begin_of_text|> (mask 0)
// unless a split conversation continues there, in which case it is the conversation's true next token.
// So no target is ever trained on across unrelated conversations.
// With --ref auto every user turn gets its retrieved statutes in front (legal/reference_hook.h), so Q/A data
// without references trains the Q + Ref => A layout that infer chat/serve/eval --ref auto ask in.
#pragma once
#include <cstdint>
#include <vector>

#include "src/chat_template.h"

namespace beop::prep {

struct PackStats {
  int64_t conversations = 0;  // packed
  int64_t blocks = 0;         // blocks of T tokens
  int64_t tokens = 0;         // conversation tokens (excluding padding)
  int64_t trained = 0;        // tokens with mask 1
  int64_t padding = 0;        // padding tokens inside the blocks (excluding the trailing token)
  int64_t split = 0;          // conversations longer than T, split across blocks
  int64_t dropped = 0;        // conversations longer than T, left out (Overlong::drop)
};

enum class Overlong { split, drop };  // what to do with a conversation longer than T (see above)

// Appends the packed blocks of `convs` to tokens/mask: blocks*T entries (no trailing token; the caller adds it).
// pad = the <|end_of_text|> id. T >= 1. Returns the counts.
PackStats pack_conversations(const std::vector<EncodedChat>& convs, int T, int32_t pad, std::vector<int32_t>& tokens,
                             std::vector<uint8_t>& mask, Overlong overlong = Overlong::split);

int prep_chat_main(int argc, char** argv);

}  // namespace beop::prep
