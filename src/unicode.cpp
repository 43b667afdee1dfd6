// UTF-8 handling, Unicode character classes and the hand-written Llama-3 / Qwen2 pre-tokenizers. See unicode.h.
#include "src/unicode.h"

#include <memory>

#include "src/common.h"

namespace beop {

namespace {
#include "src/unicode_tables.inc"

// One class byte per code point (1.1 MB, built once on first use): a single load per character, which is
// what the encoder's inner loop needs; the ranges above are the compact source of truth.
const uint8_t* class_table() {
  static const std::unique_ptr<uint8_t[]> table = [] {
    std::unique_ptr<uint8_t[]> t(new uint8_t[0x110000]());
    auto fill = [&](const uint32_t (*r)[2], size_t n, uint8_t cls) {
      for (size_t i = 0; i < n; i++)
        for (uint32_t cp = r[i][0]; cp <= r[i][1]; cp++) t[cp] = cls;
    };
    fill(kLetterRanges, sizeof(kLetterRanges) / sizeof(kLetterRanges[0]), kClassLetter);
    fill(kNumberRanges, sizeof(kNumberRanges) / sizeof(kNumberRanges[0]), kClassNumber);
    fill(kWhiteSpaceRanges, sizeof(kWhiteSpaceRanges) / sizeof(kWhiteSpaceRanges[0]), kClassSpace);
    return t;
  }();
  return table.get();
}
}  // namespace

const char* const kLlama3Pattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* const kQwen2Pattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const char* pre_tokenizer_pattern(PreTokenizer kind) {
  return kind == PreTokenizer::kQwen2 ? kQwen2Pattern : kLlama3Pattern;
}

CharClass char_class(uint32_t cp) {
  return cp < 0x110000 ? CharClass(class_table()[cp]) : kClassOther;
}

namespace {
// The character at byte i: code point, byte length, class. ASCII takes the fast branch.
struct Ch {
  uint32_t cp;
  int len;
  uint8_t cls;
};

struct Scanner {
  const char* s;
  size_t n;
  const uint8_t* table;
  Ch at(size_t i) const {
    Ch c;
    const uint8_t b = uint8_t(s[i]);
    if (b < 0x80) {
      c.cp = b;
      c.len = 1;
    } else {
      c.cp = utf8_decode_at(s, i, &c.len);
    }
    c.cls = table[c.cp];
    return c;
  }
  size_t letters_end(size_t i) const {  // end of the \p{L}+ run starting at i
    while (i < n) {
      const Ch c = at(i);
      if (c.cls != kClassLetter) break;
      i += c.len;
    }
    return i;
  }
  // [^\s\p{L}\p{N}]+[\r\n]* starting at i (the caller checked the first character is in the class).
  size_t punct_end(size_t i) const {
    while (i < n) {
      const Ch c = at(i);
      if (c.cls != kClassOther) break;
      i += c.len;
    }
    while (i < n && (s[i] == '\r' || s[i] == '\n')) i++;
    return i;
  }
  // (?i:'s|'t|'re|'ve|'m|'ll|'d) at i (s[i] == '\''); returns the end or 0. Under Oniguruma's Unicode case
  // folding, U+017F LATIN SMALL LETTER LONG S also matches 's' (verified against HF tokenizers); no other
  // non-ASCII character folds to one of these letters.
  size_t contraction_end(size_t i) const {
    if (i + 1 >= n) return 0;
    const char c1 = char(s[i + 1] | 0x20);  // ASCII lower-case (harmless for non-letters: checked below)
    const bool ascii = uint8_t(s[i + 1]) < 0x80;
    if (ascii && (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd')) return i + 2;
    if (uint8_t(s[i + 1]) == 0xC5 && i + 2 < n && uint8_t(s[i + 2]) == 0xBF) return i + 3;  // 'ſ
    if (ascii && i + 2 < n && uint8_t(s[i + 2]) < 0x80) {
      const char c2 = char(s[i + 2] | 0x20);
      if ((c1 == 'r' || c1 == 'v') && c2 == 'e') return i + 3;
      if (c1 == 'l' && c2 == 'l') return i + 3;
    }
    return 0;
  }
};

// The two regexes differ only in the digit alternative: \p{N}{1,kMaxDigits}.
template <int kMaxDigits>
void split(std::string_view text, std::vector<size_t>* ends) {
  const Scanner sc{text.data(), text.size(), class_table()};
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const Ch c = sc.at(i);
    size_t e = 0;
    // 1. (?i:'s|'t|'re|'ve|'m|'ll|'d)
    if (c.cp == '\'') e = sc.contraction_end(i);
    if (e) {
    } else if (c.cls == kClassLetter) {
      // 2. [^\r\n\p{L}\p{N}]?\p{L}+ without the optional prefix
      e = sc.letters_end(i + c.len);
    } else if (c.cls != kClassNumber && c.cp != '\r' && c.cp != '\n' && i + c.len < n &&
               sc.at(i + c.len).cls == kClassLetter) {
      // 2. with the one-character prefix (space, tab, punctuation, symbol, ...)
      e = sc.letters_end(i + c.len);
    } else if (c.cls == kClassNumber) {
      // 3. \p{N}{1,3} (Llama-3) or \p{N} (Qwen2)
      e = i + c.len;
      for (int k = 1; k < kMaxDigits && e < n; k++) {
        const Ch d = sc.at(e);
        if (d.cls != kClassNumber) break;
        e += d.len;
      }
    } else if (c.cls == kClassOther) {
      // 4. ` ?[^\s\p{L}\p{N}]+[\r\n]*` without the space
      e = sc.punct_end(i + c.len);
    } else if (c.cp == ' ' && i + 1 < n && sc.at(i + 1).cls == kClassOther) {
      // 4. with the leading space
      e = sc.punct_end(i + 1);
    } else {
      // c is whitespace. Let [i, j) be the whole whitespace run.
      // 5. \s*[\r\n]+ : \s* backtracks from the end of the run to the last \r or \n, so the piece ends just
      //    after the last \r/\n of the run.
      // 6. \s+(?!\S) : at the end of the text the whole run; otherwise all but the run's last character
      //    (which must then be followed by whitespace), provided that leaves at least one character.
      // 7. \s+ : the run of one character before a non-space.
      size_t j = i, last_nl = std::string::npos, last_start = i;
      while (j < n) {
        const Ch d = sc.at(j);
        if (d.cls != kClassSpace) break;
        if (d.cp == '\r' || d.cp == '\n') last_nl = j;
        last_start = j;
        j += d.len;
      }
      if (last_nl != std::string::npos) e = last_nl + 1;
      else if (j == n) e = n;
      else if (last_start > i) e = last_start;
      else e = j;
    }
    ends->push_back(e);
    i = e;
  }
}

}  // namespace

void pre_tokenize(std::string_view text, PreTokenizer kind, std::vector<size_t>* ends) {
  if (kind == PreTokenizer::kQwen2) split<1>(text, ends);
  else split<3>(text, ends);
}

std::vector<std::string> pre_tokenize_strings(std::string_view text, PreTokenizer kind) {
  utf8_check(text, "pre_tokenize");
  std::vector<size_t> ends;
  pre_tokenize(text, kind, &ends);
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t e : ends) {
    out.emplace_back(text.substr(start, e - start));
    start = e;
  }
  return out;
}

}  // namespace beop
