#include "src/model.h"

namespace beop {

void validate_batch(const ModelConfig& cfg, const int32_t* tokens, const int32_t* targets, const uint8_t* mask,
                    int B, int T) {
  BEOP_CHECK(B > 0, "batch size must be positive, got ", B);
  BEOP_CHECK(T > 0 && T <= cfg.max_seq_len, "sequence length ", T, " exceeds the model's max_seq_len ",
             cfg.max_seq_len);
  const int64_t N = int64_t(B) * T;
  for (int64_t i = 0; i < N; i++) {
    BEOP_CHECK(tokens[i] >= 0 && tokens[i] < cfg.vocab_size, "token id ", tokens[i], " at batch row ", i / T,
               " position ", i % T, " is outside the vocabulary [0, ", cfg.vocab_size, ")");
    if (targets && (!mask || mask[i]))
      BEOP_CHECK(targets[i] >= 0 && targets[i] < cfg.vocab_size, "target id ", targets[i], " at batch row ",
                 i / T, " position ", i % T, " is outside the vocabulary [0, ", cfg.vocab_size, ")");
  }
}

}  // namespace beop
