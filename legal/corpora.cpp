// Corpus recipes: bundled corpora -> CPT JSONL and instruction conversations, with evaluation data blocked.
#include "legal/corpora.h"

#include <dirent.h>

#include <algorithm>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>

#include "legal/eval_blocklist.h"
#include "legal/statutes.h"
#include "src/common.h"
#include "src/csv.h"
#include "src/flags.h"
#include "src/io.h"
#include "src/jsonl.h"
#include "src/text.h"
#include "src/utf8.h"

namespace beop::corpora {

using json = nlohmann::ordered_json;

namespace {

std::string dump(const json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict) + "\n"; }

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

}  // namespace

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
  for (auto& l : split_lines(text)) {
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
  for_each_jsonl<json>(prec, [&](const json& j, int line) {
    const std::string w = cat(prec, ":", line);
    if (string_field(j, "split", w) != "train") return;
    Prec p{string_field(j, "id", w), string_field(j, "case_no", w), "", string_field(j, "holding_issues", w),
           string_field(j, "holding_summary", w)};
    p.head = string_field(j, "case_name", w) + "\n" + string_field(j, "court", w) + " " + string_field(j, "date", w) +
             " 선고 " + p.case_no + " 판결";
    std::string text = p.head + "\n\n【판시사항】\n" + p.issues + "\n\n【판결요지】\n" + p.summary + "\n\n【참조조문】\n" +
                       string_field(j, "ref_articles", w) + "\n\n【판례내용】\n" + string_field(j, "full_text", w);
    B.text_doc("legal_cpt.jsonl", "precedent", "prec:" + p.id, text);
    qa_src.push_back(p);
  });
  for_each_jsonl<json>(summ, [&](const json& j, int line) {
    const std::string w = cat(summ, ":", line);
    Prec p{string_field(j, "id", w), string_field(j, "case_no", w), "", string_field(j, "holding_issues", w),
           string_field(j, "holding_summary", w)};
    p.head = string_field(j, "case_name", w) + "\n" + string_field(j, "court", w) + " " + string_field(j, "date", w) +
             " 선고 " + p.case_no + " 판결";
    B.text_doc("legal_cpt.jsonl", "precedent_summary", "prec:" + p.id,
               p.head + "\n\n【판시사항】\n" + p.issues + "\n\n【판결요지】\n" + p.summary);
    qa_src.push_back(p);
  });
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
    auto ls = split_lines(read_file(gko + "/nsmc_like_20k.tsv"));
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
    auto ls = split_lines(read_file(gko + "/ud_ko_kaist_sentences.txt"));
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
    for (auto& l : split_lines(read_file(gko + "/debian_faq_ko.txt"))) {
      if (l.rfind("### ", 0) == 0) { flush(); name = trim(l.substr(4)); continue; }
      d += l + "\n";
    }
    flush();
  }
  {
    std::string chunk, block;
    int n = 0;
    auto flush = [&] { B.text_doc("general_cpt.jsonl", "tinyshakespeare", "shakespeare:" + std::to_string(n++), chunk); chunk.clear(); };
    auto ls = split_lines(read_file(root + "/general_en/tinyshakespeare.txt"));
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
