// Streaming UTF-8 assembly for generated text. Byte-level BPE tokens do not respect character boundaries: one
// Hangul syllable (3 bytes) can be split over two tokens. Utf8Stream takes each token's bytes and hands back only
// complete characters, holding an incomplete trailing sequence until the bytes that finish it arrive.
//
//   Utf8Stream u;  out += u.push(tok.token_text(id));  ...;  out += u.flush();
//
// Bytes that can never become valid (a stray continuation byte, 0xC0/0xC1/0xF5..0xFF, a lead byte followed by
// a non-continuation byte, overlong forms, surrogates) become U+FFFD, one per bad byte, so everything handed
// out is valid UTF-8 (JSON and terminals need that) and the pieces always join to the final text.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

#include "src/unicode.h"

namespace beop {

class Utf8Stream {
 public:
  // Appends bytes; returns every complete character pending (invalid bytes as U+FFFD), holding back only a
  // trailing sequence that the next bytes may still complete.
  std::string push(const std::string& bytes) {
    pending_ += bytes;
    std::string out;
    size_t i = 0;
    const size_t n = pending_.size();
    while (i < n) {
      const unsigned char c = (unsigned char)pending_[i];
      if (c < 0x80) {
        out += char(c), i++;
        continue;
      }
      const size_t need = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
      if (need == 0) {  // stray continuation byte or a byte that never starts a character
        out += kReplacement, i++;
        continue;
      }
      if (i + need > n) {  // cut off: hold it if what is there so far can still be completed
        bool cont = true;
        for (size_t k = i + 1; k < n; k++) cont &= ((unsigned char)pending_[k] & 0xC0) == 0x80;
        if (cont) break;
        out += kReplacement, i++;
        continue;
      }
      if (utf8_invalid_offset(std::string_view(pending_).substr(i, need)) == std::string::npos) {
        out.append(pending_, i, need), i += need;
      } else {
        out += kReplacement, i++;  // overlong, surrogate, > U+10FFFF or a missing continuation byte
      }
    }
    pending_.erase(0, i);
    return out;
  }
  // End of generation: an unfinished character becomes U+FFFD.
  std::string flush() {
    std::string out = pending_.empty() ? "" : kReplacement;
    pending_.clear();
    return out;
  }
  size_t pending() const { return pending_.size(); }

  static constexpr const char* kReplacement = "\xEF\xBF\xBD";  // U+FFFD

 private:
  std::string pending_;
};

}  // namespace beop
