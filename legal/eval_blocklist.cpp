// The evaluation blocklist: everything a training corpus must not contain, because the evaluation suite asks it
// (see corpora.h for what is blocked and why).
#include "legal/eval_blocklist.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "src/common.h"
#include "src/csv.h"
#include "src/io.h"
#include "src/jsonl.h"
#include "src/text.h"
#include "src/utf8.h"

namespace beop::corpora {

using json = nlohmann::ordered_json;

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool hangul_at(const std::string& s, size_t i) {  // a Hangul syllable (U+AC00..U+D7A3) starts at byte i
  if (i + 3 > s.size() || utf8_invalid_offset(std::string_view(s).substr(i, 3)) != std::string::npos) return false;
  int len;
  const uint32_t cp = utf8_decode_at(s.data(), i, &len);
  return len == 3 && cp >= 0xAC00 && cp <= 0xD7A3;
}

constexpr uint64_t kBase = 1099511628211ull;  // rolling-hash base (odd, so powers never vanish mod 2^64)

uint64_t window_hash(const char* p, size_t n) {
  uint64_t h = 0;
  for (size_t k = 0; k < n; k++) h = h * kBase + (unsigned char)p[k];
  return h;
}

}  // namespace

std::vector<std::string> case_numbers_in(const std::string& t) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < t.size()) {
    if (!is_digit(t[i]) || (i > 0 && is_digit(t[i - 1]))) { i++; continue; }
    size_t j = i;
    while (j < t.size() && is_digit(t[j])) j++;
    size_t k = j;
    while (hangul_at(t, k)) k += 3;
    size_t m = k;
    while (m < t.size() && is_digit(t[m])) m++;
    if (j - i >= 2 && k > j && m > k) out.push_back(t.substr(i, m - i));
    i = j;
  }
  return out;
}

void EvalBlocklist::add_case_no(const std::string& case_no) {
  // "2001므626, 633" lists two cases, 2001므626 and 2001므633: a bare number takes the previous one's prefix.
  std::string prefix;
  for (auto& c : split(case_no, ',')) {
    std::string t = trim(c);
    if (t.empty()) continue;
    if (std::all_of(t.begin(), t.end(), is_digit)) {
      if (prefix.empty()) fail("case number list '", case_no, "' starts with a bare number");
      t = prefix + t;
    } else {
      size_t k = t.size();
      while (k > 0 && is_digit(t[k - 1])) k--;
      prefix = t.substr(0, k);
    }
    case_nos_.insert(t);
  }
}

void EvalBlocklist::add_text(const std::string& text) {
  // Segments: split at "[n]" item markers, newlines and sentence ends ("다." + space or end). Not at every
  // ". ": dates ("2010. 3. 31.") would cut "구 ○○법(2010." fragments that match unrelated decisions.
  std::vector<std::string> segs;
  std::string cur;
  auto flush = [&] {
    std::string s = trim(cur);
    cur.clear();
    if (s.size() >= kMinSegmentBytes) segs.push_back(s);
  };
  for (size_t i = 0; i < text.size(); i++) {
    char c = text[i];
    if (c == '\n') { flush(); continue; }
    if (c == '[' && i + 2 < text.size() && is_digit(text[i + 1])) {
      size_t j = i + 1;
      while (j < text.size() && is_digit(text[j])) j++;
      if (j < text.size() && text[j] == ']') { flush(); i = j; continue; }
    }
    cur += c;
    if (c == '.' && (i + 1 == text.size() || text[i + 1] == ' ') && cur.size() >= 4 &&
        cur.compare(cur.size() - 4, 4, "다.") == 0)
      flush();
  }
  flush();
  for (auto& s : segs) {
    prefix_.emplace(s.substr(0, kMinSegmentBytes), segments_.size());
    hashes_.insert(window_hash(s.data(), kMinSegmentBytes));
    segments_.push_back(s);
  }
}

void EvalBlocklist::scan(const std::string& text, const std::function<bool(size_t)>& hit) const {
  const size_t K = kMinSegmentBytes;
  if (text.size() < K || prefix_.empty()) return;
  // Rolling hash over every K-byte window; hash hits are confirmed byte for byte.
  uint64_t pow = 1;
  for (size_t k = 0; k < K; k++) pow *= kBase;  // kBase^K
  uint64_t h = window_hash(text.data(), K);
  for (size_t i = 0;; i++) {
    if (hashes_.count(h)) {
      auto range = prefix_.equal_range(text.substr(i, K));
      for (auto it = range.first; it != range.second; ++it)
        if (text.compare(i, segments_[it->second].size(), segments_[it->second]) == 0 && !hit(it->second)) return;
    }
    if (i + K >= text.size()) break;
    h = h * kBase - (uint64_t)(unsigned char)text[i] * pow + (unsigned char)text[i + K];
  }
}

std::string EvalBlocklist::find_leak(const std::string& text) const {
  for (auto& c : case_numbers_in(text))
    if (case_nos_.count(c)) return "case_no " + c;
  std::string why;
  scan(text, [&](size_t k) {
    if (exempt_.count(k)) return true;
    size_t n = std::min<size_t>(60, segments_[k].size());
    while (n < segments_[k].size() && (static_cast<unsigned char>(segments_[k][n]) & 0xC0) == 0x80) n--;  // whole UTF-8
    why = "text \"" + segments_[k].substr(0, n) + "...\"";
    return false;
  });
  return why;
}

size_t EvalBlocklist::exempt_found_in(const std::string& text) {
  size_t before = exempt_.size();
  scan(text, [&](size_t k) {
    exempt_.insert(k);
    return true;
  });
  return exempt_.size() - before;
}

EvalBlocklist EvalBlocklist::load(const std::string& root) {
  EvalBlocklist b;
  // Precedents TEST split: id, case number(s), 판시사항 and 판결요지.
  std::string prec = root + "/precedents/precedents_sc_850.jsonl";
  for_each_jsonl<json>(prec, [&](const json& j, int line) {
    const std::string w = cat(prec, ":", line);
    if (string_field(j, "split", w) != "test") return;
    b.add_id(string_field(j, "id", w));
    b.add_case_no(string_field(j, "case_no", w));
    b.add_text(string_field(j, "holding_issues", w));
    b.add_text(string_field(j, "holding_summary", w));
  });
  // KoBLEX: question, answer and the scenario (the contexts are statute provisions: training material).
  std::string kob = root + "/eval/koblex/koblex.jsonl";
  for_each_jsonl<json>(kob, [&](const json& j, int line) {
    const std::string w = cat(kob, ":", line);
    b.add_id(string_field(j, "id", w));
    b.add_text(string_field(j, "question", w));
    b.add_text(string_field(j, "answer", w));
    if (j.contains("background") && j["background"].is_string()) b.add_text(j["background"].get<std::string>());
  });
  // KMMLU Criminal-Law test: the question stems and options.
  std::string km = root + "/eval/kmmlu_criminal_law/Criminal-Law-test.csv";
  auto rows = parse_csv(read_file(km), km);
  if (rows.empty()) fail(km, ": empty");
  for (size_t r = 1; r < rows.size(); r++)
    for (size_t c = 0; c < rows[r].size() && c < 6; c++)
      if (c != 1) b.add_text(rows[r][c]);  // column 1 is the answer number
  // NHRCK counsel cases: reserved for the Petition evaluation, every string field.
  std::string nh = root + "/instruct_ko/hrc_nhrck_counsel.jsonl";
  for_each_jsonl<json>(nh, [&](const json& j, int) {
    for (auto& [k, v] : j.items())
      if (v.is_string()) b.add_text(v.get<std::string>());
  });
  return b;
}

}  // namespace beop::corpora
