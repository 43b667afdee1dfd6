// Corpus recipes (data/prep/corpora.*): nothing used for evaluation reaches a training file, the recipes are
// deterministic, and the instruction sets match their sources.
// Oracles, all independent of corpora.cpp: the evaluation files read here with nlohmann-json and Python's csv
// module (/usr/bin/python3: KMMLU test, songys CSV), a sentence splitter and a middle-of-sentence probe scan
// written here, and the raw statute Markdown (not the parser) for the "quotes public law" exemption.
// Run from the repository root; corpora come from beop::data_dir().
#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "legal/corpora.h"
#include "src/common.h"
#include "src/io.h"
#include "tests/test_util.h"

using namespace beop;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

const char* kOut = "build/test_corpora_tmp";
const std::vector<std::string> kFiles = {"legal_cpt.jsonl", "general_cpt.jsonl", "it_legal_precedents.jsonl",
                                         "it_legal_easylaw.jsonl", "it_general_chatbot.jsonl"};

std::vector<json> jsonl(const std::string& path) {
  std::vector<json> v;
  std::string s = read_file(path);
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find('\n', i);
    if (j == std::string::npos) j = s.size();
    if (j > i) v.push_back(json::parse(s.substr(i, j - i)));
    i = j + 1;
  }
  return v;
}

int run_corpora(const std::string& out) {
  std::vector<std::string> args = {"corpora", "--out", out, "--data", data_dir()};
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(&s[0]);
  return corpora::prep_corpora_main(int(argv.size()), argv.data());
}

// Evaluation sentences: split at newlines, "[n]" markers and after "다." (the end of a Korean legal sentence).
void add_sentences(const std::string& t, std::vector<std::string>* out) {
  std::string cur;
  auto flush = [&] {
    size_t a = cur.find_first_not_of(" \t"), b = cur.find_last_not_of(" \t");
    if (a != std::string::npos && b + 1 - a >= 48) out->push_back(cur.substr(a, b + 1 - a));
    cur.clear();
  };
  for (size_t i = 0; i < t.size(); i++) {
    if (t[i] == '\n') { flush(); continue; }
    if (t[i] == '[' && i + 2 < t.size() && isdigit((unsigned char)t[i + 1])) {
      size_t j = i + 1;
      while (j < t.size() && isdigit((unsigned char)t[j])) j++;
      if (t[j] == ']') { flush(); i = j; continue; }
    }
    cur += t[i];
    if (t.compare(i + 1 - std::min<size_t>(i + 1, 4), std::min<size_t>(i + 1, 4), "다.") == 0) flush();
  }
  flush();
}

struct Eval {
  std::set<std::string> ids, case_nos;
  std::vector<std::string> sentences;
  std::string raw_statutes;  // the statute .md files, concatenated
};

const Eval& eval() {
  static Eval e = [] {
    Eval e;
    std::string root = data_dir();
    for (auto& j : jsonl(root + "/precedents/precedents_sc_850.jsonl")) {
      if (j["split"] != "test") continue;
      e.ids.insert(j["id"].get<std::string>());
      std::string cn = j["case_no"];
      size_t i = 0;
      while (i <= cn.size()) {  // "a, b"
        size_t k = cn.find(',', i);
        if (k == std::string::npos) k = cn.size();
        std::string c = cn.substr(i, k - i);
        c.erase(0, c.find_first_not_of(' '));
        // "2001므626, 633" = 2001므626 and 2001므633
        if (!c.empty() && c.find_first_not_of("0123456789") == std::string::npos) {
          std::string first = cn.substr(0, cn.find(','));
          c = first.substr(0, first.find_last_not_of("0123456789") + 1) + c;
        }
        if (!c.empty()) e.case_nos.insert(c);
        i = k + 1;
      }
      add_sentences(j["holding_issues"], &e.sentences);
      add_sentences(j["holding_summary"], &e.sentences);
    }
    for (auto& j : jsonl(root + "/eval/koblex/koblex.jsonl")) {
      e.ids.insert(j["id"].get<std::string>());
      for (auto* k : {"question", "answer", "background"})
        if (j.contains(k)) add_sentences(j[k], &e.sentences);
    }
    for (auto& j : jsonl(root + "/instruct_ko/hrc_nhrck_counsel.jsonl"))
      for (auto& [k, v] : j.items())
        if (v.is_string()) add_sentences(v, &e.sentences);
    // KMMLU test via Python's csv module.
    std::string js = std::string(kOut) + "/kmmlu_test.json";
    make_dirs(kOut);
    std::string cmd = "/usr/bin/python3 -c \"import csv,json,sys; json.dump(list(csv.reader(open(sys.argv[1], "
                      "encoding='utf-8'))), open(sys.argv[2], 'w'), ensure_ascii=False)\" '" + root +
                      "/eval/kmmlu_criminal_law/Criminal-Law-test.csv' " + js;
    REQUIRE_MESSAGE(test::run(cmd) == 0, "python oracle failed: ", cmd);
    json rows = json::parse(read_file(js));
    REQUIRE(rows.size() > 100);
    for (size_t r = 1; r < rows.size(); r++)
      for (size_t c = 0; c < 6; c++)
        if (c != 1) add_sentences(rows[r][c], &e.sentences);
    for (auto& f : fs::directory_iterator(root + "/statutes")) e.raw_statutes += read_file(f.path().string()) + "\n";
    return e;
  }();
  return e;
}

// Every leak in `text`: evaluation case numbers and evaluation sentences (unless the sentence is verbatim
// statute text, which is public law and training material by design).
std::vector<std::string> leaks_in(const std::string& text) {
  const Eval& e = eval();
  std::vector<std::string> out;
  std::set<size_t> lens;
  for (auto& c : e.case_nos) lens.insert(c.size());
  for (size_t i = 0; i < text.size(); i++) {
    if (!isdigit((unsigned char)text[i]) || (i && isdigit((unsigned char)text[i - 1]))) continue;
    for (size_t L : lens)
      if (i + L <= text.size() && e.case_nos.count(text.substr(i, L)) &&
          (i + L == text.size() || !isdigit((unsigned char)text[i + L])))
        out.push_back("case_no " + text.substr(i, L));
  }
  // Probe: 48 bytes from the middle of each sentence (starting on a UTF-8 lead byte).
  static std::unordered_map<std::string, std::vector<std::pair<size_t, size_t>>> probes = [&] {
    std::unordered_map<std::string, std::vector<std::pair<size_t, size_t>>> m;
    for (size_t k = 0; k < e.sentences.size(); k++) {
      const std::string& s = e.sentences[k];
      size_t off = (s.size() - 48) / 2;
      while (off > 0 && (static_cast<unsigned char>(s[off]) & 0xC0) == 0x80) off--;
      m[s.substr(off, 48)].push_back({k, off});
    }
    return m;
  }();
  for (size_t i = 0; i + 48 <= text.size(); i++) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;
    auto it = probes.find(text.substr(i, 48));
    if (it == probes.end()) continue;
    for (auto [k, off] : it->second) {
      const std::string& s = e.sentences[k];
      if (i >= off && text.compare(i - off, s.size(), s) == 0 && e.raw_statutes.find(s) == std::string::npos)
        out.push_back("sentence " + s.substr(0, 60));
    }
  }
  return out;
}

std::string record_text(const json& j) {
  if (j.contains("text")) return j["text"];
  std::string s;
  for (auto& m : j["messages"]) s += m["content"].get<std::string>() + "\n";
  return s;
}

std::string record_id(const json& j) { return j.contains("meta") ? j["meta"]["id"] : j["id"]; }

std::string base_id(std::string id) {  // "prec:123#2" -> "123"
  size_t c = id.find(':');
  if (c != std::string::npos) id = id.substr(c + 1);
  return id.substr(0, id.find('#'));
}

}  // namespace

TEST_CASE("prep corpora is deterministic and writes every file") {
  REQUIRE(run_corpora(std::string(kOut) + "/a") == 0);
  REQUIRE(run_corpora(std::string(kOut) + "/b") == 0);
  for (auto& f : kFiles) {
    std::string a = read_file(std::string(kOut) + "/a/" + f);
    CHECK_MESSAGE(a.size() > 100000, f);
    CHECK_MESSAGE(a == read_file(std::string(kOut) + "/b/" + f), f);
  }
}

TEST_CASE("the leak oracle finds a planted leak (so the checks below can fail)") {
  const Eval& e = eval();
  REQUIRE(e.sentences.size() > 1000);
  REQUIRE(e.case_nos.size() >= 84);
  std::string s;
  for (auto& x : e.sentences)
    if (e.raw_statutes.find(x) == std::string::npos) { s = x; break; }
  CHECK(leaks_in("앞 문장. " + s + " 뒤 문장.").size() == 1);
  CHECK(leaks_in("대법원 " + *e.case_nos.begin() + " 판결").size() == 1);
  CHECK(leaks_in("대법원 " + *e.case_nos.begin() + "1 판결").empty());  // a longer number is another case
  // The raw training sources DO contain evaluation text (train decisions quote test ones), so the filter
  // has real work to do.
  int raw_hits = 0;
  for (auto& j : jsonl(data_dir() + "/precedents/precedents_sc_850.jsonl"))
    if (j["split"] == "train") raw_hits += !leaks_in(j["full_text"].get<std::string>() + "\n" +
                                                      j["holding_summary"].get<std::string>()).empty();
  CHECK(raw_hits >= 5);
}

TEST_CASE("no evaluation id, case number or text appears in any training output") {
  const Eval& e = eval();
  std::string out = std::string(kOut) + "/a/";
  if (!file_exists(out + "legal_cpt.jsonl")) REQUIRE(run_corpora(std::string(kOut) + "/a") == 0);
  size_t records = 0;
  for (auto& f : kFiles) {
    std::string all;
    for (auto& j : jsonl(out + f)) {
      records++;
      std::string id = record_id(j);
      // Ids are namespaced by source ("prec:", "nsmc:", ...): only precedent ids can name a test decision;
      // KoBLEX ids ("qa_19_1hop_28") are unique strings.
      if (id.rfind("prec:", 0) == 0 || id.find(':') == std::string::npos)
        CHECK_MESSAGE(e.ids.count(base_id(id)) == 0, f, ": evaluation id ", id);
      all += record_text(j) + "\n";
    }
    auto l = leaks_in(all);
    CHECK_MESSAGE(l.empty(), f, ": ", l.size(), " leaks, first: ", (l.empty() ? "" : l[0]));
  }
  CHECK(records > 40000);
}

TEST_CASE("precedents: every TRAIN decision is used unless it contains evaluation data; no TEST decision is") {
  std::string out = std::string(kOut) + "/a/";
  if (!file_exists(out + "legal_cpt.jsonl")) REQUIRE(run_corpora(std::string(kOut) + "/a") == 0);
  std::set<std::string> cpt;
  for (auto& j : jsonl(out + "legal_cpt.jsonl"))
    if (j["source"] == "precedent") cpt.insert(base_id(j["id"]));
  int train = 0, expected_dropped = 0;
  for (auto& j : jsonl(data_dir() + "/precedents/precedents_sc_850.jsonl")) {
    std::string id = j["id"];
    if (j["split"] == "test") {
      CHECK(cpt.count(id) == 0);
      continue;
    }
    train++;
    std::string raw = j["case_no"].get<std::string>() + "\n" + j["holding_issues"].get<std::string>() + "\n" +
                      j["holding_summary"].get<std::string>() + "\n" + j["ref_articles"].get<std::string>() + "\n" +
                      j["full_text"].get<std::string>();
    bool leaky = !leaks_in(raw).empty();
    expected_dropped += leaky;
    CHECK_MESSAGE(cpt.count(id) == (leaky ? 0u : 1u), "precedent ", id, leaky ? " leaks but was kept" : " was dropped");
  }
  CHECK(train == 766);
  CHECK((int)cpt.size() == train - expected_dropped);
}

TEST_CASE("instruction sets: chatbot pairs match the CSV; NHRCK stays out") {
  std::string out = std::string(kOut) + "/a/";
  if (!file_exists(out + "it_general_chatbot.jsonl")) REQUIRE(run_corpora(std::string(kOut) + "/a") == 0);
  std::string js = std::string(kOut) + "/chatbot.json";
  std::string cmd = "/usr/bin/python3 -c \"import csv,json,sys; json.dump([r[:2] for r in csv.reader(open(sys.argv[1], "
                    "encoding='utf-8'))][1:], open(sys.argv[2], 'w'), ensure_ascii=False)\" '" + data_dir() +
                    "/instruct_ko/songys_ChatbotData.csv' " + js;
  REQUIRE_MESSAGE(test::run(cmd) == 0, "python oracle failed: ", cmd);
  json rows = json::parse(read_file(js));
  auto conv = jsonl(out + "it_general_chatbot.jsonl");
  REQUIRE(conv.size() == rows.size());
  for (size_t i = 0; i < conv.size(); i++) {
    CHECK(conv[i]["messages"][0]["role"] == "user");
    CHECK(conv[i]["messages"][0]["content"] == rows[i][0]);
    CHECK(conv[i]["messages"][1]["content"] == rows[i][1]);
  }
  // Precedent QA: the answer is the 판결요지 (or its [n] item) of a train/summaries decision.
  std::map<std::string, std::string> summary;
  for (auto* f : {"/precedents/precedents_sc_850.jsonl", "/precedents/precedent_summaries_1000.jsonl"})
    for (auto& j : jsonl(data_dir() + f))
      if (!j.contains("split") || j["split"] == "train") summary[j["id"]] = j["holding_summary"];
  auto pq = jsonl(out + "it_legal_precedents.jsonl");
  CHECK(pq.size() > 1700);
  for (auto& j : pq) {
    std::string id = base_id(j["meta"]["id"]);
    REQUIRE(summary.count(id));
    CHECK(summary[id].find(j["messages"][1]["content"].get<std::string>()) != std::string::npos);
  }
}
