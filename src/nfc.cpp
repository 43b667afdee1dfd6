// NFC normalization (see nfc.h). Text is cut at "boundaries": characters with combining class 0 that are
// NFC_Quick_Check=Yes. Nothing composes with or reorders across such a character from its left, so each stretch
// between two boundaries normalizes on its own. A stretch that passes the quick check (no QC=No/Maybe
// character, combining classes non-decreasing) is already NFC and is copied; the others go through the full
// algorithm (UAX #15): decompose -> stable-sort each run of non-starters by class -> compose each character
// with the last starter unless it is blocked.
#include "src/nfc.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "src/common.h"
#include "src/unicode.h"

namespace beop {

namespace {
#include "src/nfc_tables.inc"

// Hangul syllables decompose and compose by arithmetic (Unicode 3.12).
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

constexpr uint16_t kQcNo = 1 << 8, kQcMaybe = 1 << 9;  // props bits above the 8-bit combining class

// Per-code-point properties (ccc | kQcNo | kQcMaybe) in a two-stage table: stage1[cp >> 8] picks one of the
// distinct 256-entry blocks (about 60, most code points share the all-zero block): ~40 KB instead of 2.2 MB.
struct Props {
  std::vector<uint16_t> stage1, blocks;
  Props() {
    std::vector<uint16_t> full(0x110000, 0);
    for (const auto& r : kNfcCcc)
      for (uint32_t cp = r[0]; cp <= r[1]; cp++) full[cp] = uint16_t(r[2]);
    for (const auto& r : kNfcQcNo)
      for (uint32_t cp = r[0]; cp <= r[1]; cp++) full[cp] |= kQcNo;
    // QC=Maybe: characters that can combine with a preceding one (second of a pair, Hangul V and T jamo).
    for (const auto& c : kNfcCompose) full[c[1]] |= kQcMaybe;
    for (uint32_t cp = kVBase; cp < kVBase + kVCount; cp++) full[cp] |= kQcMaybe;
    for (uint32_t cp = kTBase + 1; cp < kTBase + kTCount; cp++) full[cp] |= kQcMaybe;
    stage1.resize(0x110000 >> 8);
    for (uint32_t b = 0; b < stage1.size(); b++) {
      const uint16_t* blk = full.data() + (b << 8);
      size_t found = blocks.size();
      for (size_t k = 0; k < blocks.size(); k += 256)
        if (std::equal(blk, blk + 256, blocks.begin() + k)) {
          found = k;
          break;
        }
      if (found == blocks.size()) blocks.insert(blocks.end(), blk, blk + 256);
      stage1[b] = uint16_t(found >> 8);
    }
  }
  uint16_t at(uint32_t cp) const { return blocks[(size_t(stage1[cp >> 8]) << 8) | (cp & 0xFF)]; }
};

const Props& props() {
  static const Props p;
  return p;
}

void decompose(uint32_t cp, std::vector<uint32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const uint32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + s % kNCount / kTCount);
    if (s % kTCount) out.push_back(kTBase + s % kTCount);
    return;
  }
  const auto* end = std::end(kNfcDecomp);
  const auto* it = std::lower_bound(std::begin(kNfcDecomp), end, cp, [](const uint32_t (&e)[3], uint32_t c) { return e[0] < c; });
  if (it == end || (*it)[0] != cp) {
    out.push_back(cp);
    return;
  }
  out.insert(out.end(), kNfcDecompPool + (*it)[1], kNfcDecompPool + (*it)[1] + (*it)[2]);
}

// The primary composite of (a, b), or 0.
uint32_t compose(uint32_t a, uint32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
    return a + (b - kTBase);
  const auto* end = std::end(kNfcCompose);
  const auto* it = std::lower_bound(std::begin(kNfcCompose), end, std::make_pair(a, b),
                                    [](const uint32_t (&e)[3], std::pair<uint32_t, uint32_t> k) {
                                      return e[0] != k.first ? e[0] < k.first : e[1] < k.second;
                                    });
  return it != end && (*it)[0] == a && (*it)[1] == b ? (*it)[2] : 0;
}

// Appends NFC(s) to out; s is valid UTF-8 and starts at a boundary (or at the start of the text).
void normalize_stretch(std::string_view s, std::string& out) {
  const Props& p = props();
  thread_local std::vector<uint32_t> buf;
  buf.clear();
  for (size_t i = 0; i < s.size();) {
    int len;
    decompose(utf8_decode_at(s.data(), i, &len), buf);
    i += size_t(len);
  }
  // Canonical ordering: insertion sort (stable) of each run of non-starters by combining class. Runs are short.
  for (size_t i = 1; i < buf.size(); i++) {
    const uint32_t c = buf[i];
    const int cc = p.at(c) & 0xFF;
    if (cc == 0) continue;
    size_t j = i;
    while (j > 0) {
      const int pc = p.at(buf[j - 1]) & 0xFF;
      if (pc <= cc) break;  // a starter (0) or a smaller/equal class stops the move
      buf[j] = buf[j - 1];
      j--;
    }
    buf[j] = c;
  }
  // Canonical composition, in place: buf[0, w) is the output so far, buf[starter] its last starter. A character
  // is blocked from the starter when something sits between them with class 0 or >= its own class; after the
  // ordering step that is exactly "not adjacent, and the last kept character's class is 0 or >= cc".
  size_t w = 0;
  long starter = -1;
  int last_cc = 0;
  for (size_t i = 0; i < buf.size(); i++) {
    const uint32_t c = buf[i];
    const int cc = p.at(c) & 0xFF;
    if (starter >= 0 && (size_t(starter) + 1 == w || (last_cc != 0 && last_cc < cc))) {
      if (const uint32_t comp = compose(buf[size_t(starter)], c)) {
        buf[size_t(starter)] = comp;
        continue;
      }
    }
    if (cc == 0) starter = long(w);
    buf[w++] = c;
    last_cc = cc;
  }
  for (size_t i = 0; i < w; i++) utf8_append(out, buf[i]);
}
}  // namespace

bool nfc_normalize(std::string_view text, std::string* out) {
  const Props& p = props();
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  size_t stretch = 0;  // start of the current stretch: its first character is a boundary (or the text start)
  size_t copied = 0;   // text[0, copied) is already in *out
  bool bad = false, changed = false;
  int last_cc = 0;
  auto flush = [&](size_t end) {  // normalizes text[stretch, end)
    if (!changed) out->clear();
    changed = true;
    out->append(text.data() + copied, stretch - copied);
    normalize_stretch(text.substr(stretch, end - stretch), *out);
    copied = end;
    bad = false;
  };
  size_t i = 0;
  while (i < n) {
    if (s[i] < 0x80) {  // ASCII: a boundary. Skip 8 at a time while nothing is pending.
      if (bad) flush(i);
      while (i + 8 <= n) {
        uint64_t w;
        __builtin_memcpy(&w, s + i, 8);
        if (w & 0x8080808080808080ull) break;
        i += 8;
      }
      while (i < n && s[i] < 0x80) i++;
      stretch = i - 1;
      last_cc = 0;
      continue;
    }
    int len;
    const uint32_t cp = utf8_decode_at(text.data(), i, &len);
    if (cp >= kSBase && cp < kSBase + kSCount) {  // Hangul syllable (most Korean text): a boundary
      if (bad) flush(i);
      stretch = i;
      last_cc = 0;
      i += 3;
      continue;
    }
    const uint16_t pr = p.at(cp);
    const int cc = pr & 0xFF;
    if (cc == 0 && !(pr & (kQcNo | kQcMaybe))) {  // a boundary
      if (bad) flush(i);
      stretch = i;
    } else if ((pr & (kQcNo | kQcMaybe)) || (cc != 0 && last_cc > cc)) {
      bad = true;
    }
    last_cc = cc;
    i += size_t(len);
  }
  if (bad) flush(n);
  if (changed) out->append(text.data() + copied, n - copied);
  return changed;
}

std::string nfc(std::string_view text) {
  utf8_check(text, "nfc");
  std::string out;
  return nfc_normalize(text, &out) ? out : std::string(text);
}

int nfc_combining_class(uint32_t cp) { return cp < 0x110000 ? props().at(cp) & 0xFF : 0; }

}  // namespace beop
