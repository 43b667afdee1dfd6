// Corpus recipes: bundled corpora -> CPT JSONL and instruction conversations, with evaluation data blocked.
#include "legal/corpora.h"

#include <dirent.h>

#include <algorithm>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>

#include "legal/metrics/rouge.h"
#include "legal/statutes.h"
#include "src/common.h"
#include "src/flags.h"
#include "src/io.h"

namespace beop::corpora {

using json = nlohmann::ordered_json;

namespace {

std::string dump(const json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict) + "\n"; }

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r\n"), b = s.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= text.size()) {
    size_t j = text.find('\n', i);
    if (j == std::string::npos) j = text.size();
    std::string l = text.substr(i, j - i);
    if (!l.empty() && l.back() == '\r') l.pop_back();
    out.push_back(l);
    i = j + 1;
  }
  if (!out.empty() && out.back().empty()) out.pop_back();
  return out;
}

std::vector<json> read_jsonl(const std::string& path) {
  std::vector<json> out;
  auto ls = lines_of(read_file(path));
  for (size_t i = 0; i < ls.size(); i++) {
    if (trim(ls[i]).empty()) continue;
    try {
      out.push_back(json::parse(ls[i]));
    } catch (const std::exception& e) {
      fail(path, ":", i + 1, ": bad JSON: ", e.what());
    }
  }
  return out;
}

std::string sfield(const json& j, const char* k, const std::string& where) {
  auto it = j.find(k);
  if (it == j.end() || !it->is_string()) fail(where, ": missing string field '", k, "'");
  return it->get<std::string>();
}

std::vector<std::string> list_dir(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (!d) fail("cannot open directory ", dir);
  while (auto* e = readdir(d)) {
    std::string n = e->d_name;
    if (n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0) out.push_back(n);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool hangul_at(const std::string& s, size_t i) {  // a Hangul syllable (U+AC00..U+D7A3) starts at byte i
  if (i + 3 > s.size()) return false;
  unsigned c0 = (unsigned char)s[i], c1 = (unsigned char)s[i + 1], c2 = (unsigned char)s[i + 2];
  if ((c0 & 0xF0) != 0xE0 || (c1 & 0xC0) != 0x80 || (c2 & 0xC0) != 0x80) return false;
  unsigned cp = ((c0 & 0x0F) << 12) | ((c1 & 0x3F) << 6) | (c2 & 0x3F);
  return cp >= 0xAC00 && cp <= 0xD7A3;
}

constexpr uint64_t kBase = 1099511628211ull;  // rolling-hash base (odd, so powers never vanish mod 2^64)

uint64_t window_hash(const char* p, size_t n) {
  uint64_t h = 0;
  for (size_t k = 0; k < n; k++) h = h * kBase + (unsigned char)p[k];
  return h;
}

}  // namespace

// ------------------------------------------------------------------------------------------- blocklist

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
  for (auto& c : split_list(case_no)) {
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
  for (auto& j : read_jsonl(prec)) {
    if (sfield(j, "split", prec) != "test") continue;
    b.add_id(sfield(j, "id", prec));
    b.add_case_no(sfield(j, "case_no", prec));
    b.add_text(sfield(j, "holding_issues", prec));
    b.add_text(sfield(j, "holding_summary", prec));
  }
  // KoBLEX: question, answer and the scenario (the contexts are statute provisions: training material).
  std::string kob = root + "/eval/koblex/koblex.jsonl";
  for (auto& j : read_jsonl(kob)) {
    b.add_id(sfield(j, "id", kob));
    b.add_text(sfield(j, "question", kob));
    b.add_text(sfield(j, "answer", kob));
    if (j.contains("background") && j["background"].is_string()) b.add_text(j["background"].get<std::string>());
  }
  // KMMLU Criminal-Law test: the question stems and options.
  std::string km = root + "/eval/kmmlu_criminal_law/Criminal-Law-test.csv";
  auto rows = parse_csv(read_file(km), km);
  if (rows.empty()) fail(km, ": empty");
  for (size_t r = 1; r < rows.size(); r++)
    for (size_t c = 0; c < rows[r].size() && c < 6; c++)
      if (c != 1) b.add_text(rows[r][c]);  // column 1 is the answer number
  // NHRCK counsel cases: reserved for the Petition evaluation, every string field.
  std::string nh = root + "/instruct_ko/hrc_nhrck_counsel.jsonl";
  for (auto& j : read_jsonl(nh))
    for (auto& [k, v] : j.items())
      if (v.is_string()) b.add_text(v.get<std::string>());
  return b;
}

std::vector<std::vector<std::string>> parse_csv(const std::string& text, const std::string& file) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, any = false;
  int line = 1, quote_line = 0;
  for (size_t i = 0; i < text.size(); i++) {
    char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') { field += '"'; i++; }
        else quoted = false;
      } else {
        if (c == '\n') line++;
        field += c;
      }
      continue;
    }
    if (c == '"' && field.empty()) { quoted = true; quote_line = line; any = true; continue; }
    if (c == ',') { row.push_back(field); field.clear(); any = true; continue; }
    if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;
    if (c == '\n') {
      line++;
      if (any || !field.empty()) { row.push_back(field); rows.push_back(row); }
      row.clear(); field.clear(); any = false;
      continue;
    }
    field += c;
    any = true;
  }
  if (quoted) fail(file, ":", quote_line, ": unterminated quoted CSV field");
  if (any || !field.empty()) { row.push_back(field); rows.push_back(row); }
  return rows;
}

// ------------------------------------------------------------------------------------------- recipes

namespace {

struct Sink {
  std::string path, key, bytes;
  int64_t docs = 0, chars = 0;
};

class Builder {
 public:
  Builder(const Options& o, const EvalBlocklist& b) : opt_(o), block_(b) {}

  // Adds a CPT document unless it leaks evaluation data. `key` = "<file>/<source>".
  void text_doc(const std::string& file, const std::string& source, const std::string& id, const std::string& text) {
    if (trim(text).empty()) return;
    if (leak(file + "/" + source, id, text)) return;
    json j;
    j["text"] = text;
    j["source"] = source;
    j["id"] = id;
    emit(file, source, dump(j), text);
  }

  void conversation(const std::string& file, const std::string& source, const std::string& id,
                    const std::string& user, const std::string& assistant) {
    if (trim(user).empty() || trim(assistant).empty()) return;
    if (leak(file + "/" + source, id, user + "\n" + assistant)) return;
    json j;
    j["messages"] = json::array({json{{"role", "user"}, {"content", user}}, json{{"role", "assistant"}, {"content", assistant}}});
    j["meta"] = json{{"source", source}, {"id", id}};
    emit(file, source, dump(j), user + assistant);
  }

  void commit(Stats* st) {
    make_dirs(opt_.out_dir);
    for (auto& [name, s] : files_) write_file_atomic(opt_.out_dir + "/" + name, s);
    st->docs = docs_;
    st->chars = chars_;
    st->dropped = dropped_;
  }

  std::map<std::string, std::string> leaks;  // key/id -> what matched (reported by prep corpora)

 private:
  bool leak(const std::string& key, const std::string& id, const std::string& text) {
    std::string why = block_.blocked_id(id) ? "evaluation id " + id : block_.find_leak(text);
    if (why.empty()) return false;
    dropped_[key]++;
    leaks[key + " " + id] = why;
    return true;
  }
  void emit(const std::string& file, const std::string& source, const std::string& line, const std::string& text) {
    files_[file] += line;
    std::string key = file + "/" + source;
    docs_[key]++;
    chars_[key] += (int64_t)utf8_decode(text).size();
  }
  const Options& opt_;
  const EvalBlocklist& block_;
  std::map<std::string, std::string> files_;
  std::map<std::string, int64_t> docs_, chars_, dropped_;
};

// easylaw guides: a heading is a short line that does not end a sentence; a section is a heading and the
// body lines up to the next heading.
struct Section {
  std::string heading, body;
};

bool is_heading(const std::string& l) {
  std::string t = trim(l);
  if (t.empty()) return false;
  size_t cps = utf8_decode(t).size();
  if (cps > 40) return false;
  const std::string tail = t.substr(t.size() - 1);
  if (tail == "." || tail == ":" || tail == "?" || t.compare(0, 3, "※") == 0 || is_digit(t[0]) || t[0] == '-' ||
      t[0] == '<' || t[0] == '(')
    return false;
  if (t.size() >= 3 && t.compare(t.size() - 3, 3, "다") == 0) return false;
  return true;
}

std::vector<Section> easylaw_sections(const std::string& text) {
  std::vector<Section> out;
  for (auto& l : lines_of(text)) {
    if (trim(l).empty()) continue;
    if (is_heading(l)) {
      out.push_back({trim(l), ""});
    } else {
      if (out.empty()) out.push_back({"", ""});
      if (!out.back().body.empty()) out.back().body += "\n";
      out.back().body += trim(l);
    }
  }
  return out;
}

std::string stem_of(const std::string& file) {
  std::string s = file.substr(0, file.rfind('.'));
  if (s.rfind("easylaw_", 0) == 0) s = s.substr(8);
  std::replace(s.begin(), s.end(), '_', ' ');
  return s;
}

// Aligned "[1] … [2] …" items of 판시사항 and 판결요지; empty when they do not align one to one.
std::vector<std::string> numbered_items(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (int n = 1;; n++) {
    std::string m = "[" + std::to_string(n) + "]", next = "[" + std::to_string(n + 1) + "]";
    size_t a = s.find(m, pos);
    if (a == std::string::npos) break;
    size_t b = s.find(next, a);
    out.push_back(trim(s.substr(a + m.size(), b == std::string::npos ? std::string::npos : b - a - m.size())));
    if (b == std::string::npos) break;
    pos = b;
  }
  return out;
}

}  // namespace

Stats build_corpora(const Options& opt) {
  const std::string& root = opt.data_root;
  EvalBlocklist block = EvalBlocklist::load(root);
  // Statute text is training material by design; eval items that quote it verbatim (a KMMLU option citing a
  // penalty clause, a 판결요지 quoting an article) do not make the statute a leak.
  auto laws = statutes::parse_statute_dir(root + "/statutes");
  std::string all_statutes;
  for (auto& law : laws)
    for (auto& a : law.articles) all_statutes += a.text + "\n";
  size_t exempt = block.exempt_found_in(all_statutes);
  std::cerr << "corpora: blocklist " << block.n_ids() << " ids, " << block.n_case_nos() << " case numbers, "
            << block.n_segments() << " text segments (" << exempt << " exempt: verbatim statute text)\n";
  Builder B(opt, block);

  // --- legal CPT: statutes, one document per article.
  for (auto& law : laws)
    for (auto& a : law.articles) {
      if (a.deleted) continue;
      std::string head = a.law + " " + a.id + (a.title.empty() ? "" : "(" + a.title + ")");
      B.text_doc("legal_cpt.jsonl", "statutes", statutes::citation(a.law, a.id), head + "\n" + a.text);
    }

  // --- precedents: TRAIN split full decisions, and the summaries file.
  std::string prec = root + "/precedents/precedents_sc_850.jsonl";
  std::string summ = root + "/precedents/precedent_summaries_1000.jsonl";
  struct Prec {
    std::string id, case_no, head, issues, summary;
  };
  std::vector<Prec> qa_src;
  for (auto& j : read_jsonl(prec)) {
    if (sfield(j, "split", prec) != "train") continue;
    Prec p{sfield(j, "id", prec), sfield(j, "case_no", prec), "", sfield(j, "holding_issues", prec),
           sfield(j, "holding_summary", prec)};
    p.head = sfield(j, "case_name", prec) + "\n" + sfield(j, "court", prec) + " " + sfield(j, "date", prec) + " 선고 " +
             p.case_no + " 판결";
    std::string text = p.head + "\n\n【판시사항】\n" + p.issues + "\n\n【판결요지】\n" + p.summary + "\n\n【참조조문】\n" +
                       sfield(j, "ref_articles", prec) + "\n\n【판례내용】\n" + sfield(j, "full_text", prec);
    B.text_doc("legal_cpt.jsonl", "precedent", "prec:" + p.id, text);
    qa_src.push_back(p);
  }
  for (auto& j : read_jsonl(summ)) {
    Prec p{sfield(j, "id", summ), sfield(j, "case_no", summ), "", sfield(j, "holding_issues", summ),
           sfield(j, "holding_summary", summ)};
    p.head = sfield(j, "case_name", summ) + "\n" + sfield(j, "court", summ) + " " + sfield(j, "date", summ) + " 선고 " +
             p.case_no + " 판결";
    B.text_doc("legal_cpt.jsonl", "precedent_summary", "prec:" + p.id,
               p.head + "\n\n【판시사항】\n" + p.issues + "\n\n【판결요지】\n" + p.summary);
    qa_src.push_back(p);
  }
  // IT: 판시사항 -> 판결요지, per aligned [n] item when the decision has several issues.
  for (auto& p : qa_src) {
    auto is = numbered_items(p.issues), ss = numbered_items(p.summary);
    const std::string ask = "다음 쟁점에 관한 대법원 판결(" + p.case_no + ")의 판결요지를 설명해 주세요.\n\n";
    if (is.size() > 1 && is.size() == ss.size()) {
      for (size_t k = 0; k < is.size(); k++)
        B.conversation("it_legal_precedents.jsonl", "precedent", "prec:" + p.id + "#" + std::to_string(k + 1),
                       ask + is[k], ss[k]);
    } else {
      B.conversation("it_legal_precedents.jsonl", "precedent", "prec:" + p.id, ask + p.issues, p.summary);
    }
  }

  // --- easylaw guides: CPT chunks of whole sections (<= ~3000 characters), IT section title -> text.
  std::string easy = root + "/legal_plain_ko";
  for (auto& f : list_dir(easy, ".txt")) {
    std::string topic = stem_of(f);
    auto secs = easylaw_sections(read_file(easy + "/" + f));
    std::string chunk;
    int nchunk = 0;
    auto flush = [&] {
      if (!chunk.empty()) B.text_doc("legal_cpt.jsonl", "easylaw", "easylaw:" + topic + "#" + std::to_string(nchunk++), chunk);
      chunk.clear();
    };
    std::set<std::string> asked;
    for (size_t i = 0; i < secs.size(); i++) {
      const Section& s = secs[i];
      std::string block = s.heading.empty() ? s.body : s.body.empty() ? s.heading : s.heading + "\n" + s.body;
      if (!chunk.empty() && utf8_decode(chunk).size() + utf8_decode(block).size() > 3000) flush();
      chunk += (chunk.empty() ? "" : "\n") + block;
      size_t n = utf8_decode(s.body).size();
      if (!s.heading.empty() && n >= 80 && n <= 1500 && asked.insert(s.heading).second)
        B.conversation("it_legal_easylaw.jsonl", "easylaw", "easylaw:" + topic + "#s" + std::to_string(i),
                       "'" + topic + "'에 관한 생활법령 안내에서 '" + s.heading + "'에 대해 설명해 주세요.", s.body);
    }
    flush();
  }

  // --- general CPT.
  std::string gko = root + "/general_ko";
  {
    auto ls = lines_of(read_file(gko + "/nsmc_like_20k.tsv"));
    for (size_t i = 1; i < ls.size(); i++) {  // line 0: id, document, label
      size_t a = ls[i].find('\t'), b = ls[i].rfind('\t');
      if (a == std::string::npos || b == a || std::count(ls[i].begin(), ls[i].end(), '\t') != 2) {
        // 3 of the 20,001 lines are fragments of a review broken by a raw newline: skipped, reported.
        std::cerr << "corpora: " << gko << "/nsmc_like_20k.tsv:" << i + 1 << ": not 3 tab-separated columns, skipped\n";
        continue;
      }
      B.text_doc("general_cpt.jsonl", "nsmc", "nsmc:" + ls[i].substr(0, a), ls[i].substr(a + 1, b - a - 1));
    }
  }
  {
    auto ls = lines_of(read_file(gko + "/ud_ko_kaist_sentences.txt"));
    for (size_t i = 0; i < ls.size(); i += 20) {  // 20 consecutive sentences per document
      std::string d;
      for (size_t k = i; k < std::min(ls.size(), i + 20); k++)
        if (!trim(ls[k]).empty()) d += (d.empty() ? "" : "\n") + ls[k];
      B.text_doc("general_cpt.jsonl", "ud_ko_kaist", "ud:" + std::to_string(i / 20), d);
    }
  }
  {
    std::string d, name;
    auto flush = [&] { B.text_doc("general_cpt.jsonl", "debian_faq", "debian:" + name, trim(d)); d.clear(); };
    for (auto& l : lines_of(read_file(gko + "/debian_faq_ko.txt"))) {
      if (l.rfind("### ", 0) == 0) { flush(); name = trim(l.substr(4)); continue; }
      d += l + "\n";
    }
    flush();
  }
  {
    std::string chunk, block;
    int n = 0;
    auto flush = [&] { B.text_doc("general_cpt.jsonl", "tinyshakespeare", "shakespeare:" + std::to_string(n++), chunk); chunk.clear(); };
    auto ls = lines_of(read_file(root + "/general_en/tinyshakespeare.txt"));
    for (size_t i = 0; i <= ls.size(); i++) {
      if (i < ls.size() && !trim(ls[i]).empty()) { block += ls[i] + "\n"; continue; }
      if (block.empty()) continue;
      if (!chunk.empty() && chunk.size() + block.size() > 2000) flush();
      chunk += (chunk.empty() ? "" : "\n") + block;
      block.clear();
    }
    flush();
  }

  // --- IT general: songys ChatbotData (Q, A, label). NHRCK counsel cases are evaluation-only: not read here.
  {
    std::string p = root + "/instruct_ko/songys_ChatbotData.csv";
    auto rows = parse_csv(read_file(p), p);
    if (rows.empty() || rows[0].size() < 2 || rows[0][0] != "Q" || rows[0][1] != "A") fail(p, ": header is not Q,A,...");
    for (size_t r = 1; r < rows.size(); r++) {
      if (rows[r].size() < 2) fail(p, ": row ", r + 1, " has ", rows[r].size(), " fields");
      B.conversation("it_general_chatbot.jsonl", "chatbot", "chatbot:" + std::to_string(r), rows[r][0], rows[r][1]);
    }
  }

  Stats st;
  B.commit(&st);
  for (auto& [k, why] : B.leaks) std::cerr << "corpora: dropped " << k << ": contains evaluation " << why << "\n";
  return st;
}

int prep_corpora_main(int argc, char** argv) {
  Flags f("prep corpora", "--out DIR [--data ROOT]",
                "Builds legal_cpt.jsonl, general_cpt.jsonl, it_legal_precedents.jsonl, it_legal_easylaw.jsonl and\n"
                "it_general_chatbot.jsonl in DIR from the bundled corpora (docs/DATA.md, \"Corpora recipes\").\n"
                "Documents containing evaluation data (precedent test split, KoBLEX, KMMLU test, NHRCK) are dropped.");
  f.add("out", "data/build", "output folder");
  f.add("data", "", "corpora root; default $BEOP_DATA or ../shared/data");
  if (!f.parse(argc, argv)) return 0;
  Options o;
  o.data_root = f.given("data") ? f.str("data") : data_dir();
  o.out_dir = f.str("out");
  Stats st = build_corpora(o);
  std::cout << "prep corpora: " << o.data_root << " -> " << o.out_dir << "\n";
  std::cout << "  file/source                                     docs      chars  dropped(eval)\n";
  for (auto& [k, n] : st.docs) {
    std::string name = k;
    name.resize(std::max<size_t>(name.size(), 44), ' ');
    std::cout << "  " << name << " " << std::string(std::max(0, 8 - (int)std::to_string(n).size()), ' ') << n << " "
              << std::string(std::max(0, 10 - (int)std::to_string(st.chars[k]).size()), ' ') << st.chars[k] << " "
              << std::string(std::max(0, 8 - (int)std::to_string(st.dropped[k]).size()), ' ') << st.dropped[k] << "\n";
  }
  for (auto& [k, n] : st.dropped)
    if (!st.docs.count(k)) std::cout << "  " << k << ": 0 docs, " << n << " dropped\n";
  return 0;
}

}  // namespace beop::corpora
