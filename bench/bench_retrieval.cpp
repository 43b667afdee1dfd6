// Statute retrieval: build/search speed and recall@{1,3,5,10} of the gold article (docs/DATA.md, "Retrieval").
//
//   build/bench/bench_retrieval [--holdout L1,L2,..] [--dev] [--strip-particles] [--law-boost X]
//                               [--article-boost X] [--title-repeat N] [--koblex FILE]
//
// The index always holds all 36 statutes (as at inference). Query sets:
//   * law-QA template items (legal/lawqa.h generate_template, seed 1) of the HELD-OUT laws (--holdout; with
//     --dev, of all the other laws instead: the set the boost weight and the particle choice were tuned on):
//       content / cloze / truefalse / mc as generated (each names its citation: tests the law+article boost),
//       title as generated ("<law>에서 '<title>'에 관하여 규정한 조문은 ...": law named, article not),
//       situation questions as generated (a person's situation, the law named, no article number), and
//       citation-free variants: the title question without the law, the cloze text without its
//       "다음은 <citation>의 내용입니다" header, the true/false statement alone, the situation without the law.
//   * KoBLEX (shared/data/eval/koblex/koblex.jsonl): every gold context whose `index` ("상법 814조  제목",
//     "형법 227조 2 제목" = 제227조의2) names a bundled, non-deleted article is one (query, gold) pair; the query is
//     the question alone, or background + question.
// Recall@k = share of (query, gold article) pairs whose gold article is among the top k.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "legal/lawqa.h"
#include "legal/retrieval.h"
#include "legal/statutes.h"
#include "src/common.h"
#include "src/io.h"

using namespace beop;
using Clock = std::chrono::steady_clock;

namespace {

struct Query {
  std::string text, law, article_id;
};

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

std::string norm(const std::string& s) { return lawqa::CitationIndex::normalize(s); }

void report(const retrieval::RetrievalIndex& ix, const std::string& name, const std::vector<Query>& qs) {
  const int ks[] = {1, 3, 5, 10};
  int hit[4] = {0, 0, 0, 0};
  auto t = Clock::now();
  for (auto& q : qs) {
    auto hits = ix.search(q.text, 10);
    for (size_t r = 0; r < hits.size(); r++)
      if (hits[r].law == q.law && hits[r].article_id == q.article_id) {
        for (int i = 0; i < 4; i++)
          if ((int)r < ks[i]) hit[i]++;
        break;
      }
  }
  double per = qs.empty() ? 0 : ms_since(t) / qs.size();
  std::printf("| %-34s | %5zu |", name.c_str(), qs.size());
  for (int i = 0; i < 4; i++) std::printf(" %5.3f |", qs.empty() ? 0.0 : double(hit[i]) / qs.size());
  std::printf(" %6.2f |\n", per);
}

}  // namespace

int main(int argc, char** argv) try {
  std::vector<std::string> holdout = {"주택임대차보호법", "상가건물임대차보호법", "근로기준법", "이자제한법",
                                      "개인정보 보호법", "형사소송법"};
  bool dev = false;
  retrieval::Params p;
  std::string koblex = data_dir() + "/eval/koblex/koblex.jsonl";
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) fail(a, " needs a value");
      return argv[++i];
    };
    if (a == "--holdout") {
      holdout.clear();
      std::string v = val();
      for (size_t s = 0, e; s <= v.size(); s = e + 1) {
        e = v.find(',', s);
        if (e == std::string::npos) e = v.size();
        if (e > s) holdout.push_back(v.substr(s, e - s));
      }
    } else if (a == "--dev") dev = true;
    else if (a == "--strip-particles") p.tok.strip_particles = true;
    else if (a == "--law-boost") p.law_boost = std::stof(val());
    else if (a == "--article-boost") p.article_boost = std::stof(val());
    else if (a == "--koblex") koblex = val();
    else if (a == "--title-repeat") p.title_repeat = (uint32_t)std::stoul(val());
    else fail("unknown flag ", a);
  }

  auto t0 = Clock::now();
  std::vector<statutes::Article> all;
  for (auto& law : statutes::parse_statute_dir(data_dir() + "/statutes"))
    for (auto& a : law.articles) all.push_back(a);
  double parse_ms = ms_since(t0);
  auto t1 = Clock::now();
  retrieval::RetrievalIndex ix = retrieval::RetrievalIndex::build(all, p);
  double build_ms = ms_since(t1);
  make_dirs("build/bench");
  auto t2 = Clock::now();
  ix.save("build/bench/retrieval.idx");
  double save_ms = ms_since(t2);
  auto t3 = Clock::now();
  retrieval::RetrievalIndex ix2 = retrieval::RetrievalIndex::load("build/bench/retrieval.idx");
  double load_ms = ms_since(t3);
  std::printf("statutes: %zu articles parsed in %.0f ms; index: %zu documents, %zu terms, %zu postings, avg %.1f "
              "tokens/doc; build %.0f ms, save %.0f ms, load %.0f ms (%zu bytes)\n",
              all.size(), parse_ms, ix.docs().size(), ix.vocab_size(), ix.postings(), ix.avg_length(), build_ms,
              save_ms, load_ms, read_file("build/bench/retrieval.idx").size());
  std::printf("params: k1 %.2f b %.2f law_boost %.2f article_boost %.2f title_repeat %u strip_particles %d; %s laws: ",
              p.k1, p.b, p.law_boost, p.article_boost, p.title_repeat, (int)p.tok.strip_particles, dev ? "dev (all but held-out)" : "held-out");
  for (auto& h : holdout) std::printf("%s ", h.c_str());
  std::printf("\n\n");

  // --------------------------------------------------------------- law-QA template items
  std::vector<statutes::Article> arts =
      dev ? lawqa::filter_laws(all, {}, holdout) : lawqa::filter_laws(all, holdout, {});
  lawqa::TemplateOptions to;
  to.seed = 1;
  auto items = lawqa::generate_template(arts, to);
  std::map<std::string, std::vector<Query>> sets;
  std::map<std::string, std::string> title_of;  // law + id -> title
  for (auto& a : arts) title_of[a.law + " " + a.id] = a.title;
  for (auto& it : items) {
    Query q{it.question, it.law, it.article_id};
    sets["lawqa " + it.type + " (as generated)"].push_back(q);
    if (it.type == "title") {
      q.text = "'" + title_of[it.law + " " + it.article_id] + "'에 관하여 규정한 조문은?";
      sets["lawqa title, no law named"].push_back(q);
    } else if (it.type == "cloze") {
      size_t nl = it.question.find('\n');
      q.text = it.question.substr(nl + 1);
      sets["lawqa cloze, no citation"].push_back(q);
    } else if (it.type == "truefalse") {
      size_t nl = it.question.find('\n');
      q.text = it.question.substr(nl + 1);
      sets["lawqa statement, no citation"].push_back(q);
    } else if (it.type == "situation") {
      // As a person would ask, without the law's name ("…상 어떻게 되나요?" -> "… 어떻게 되나요?"): the words of
      // the situation alone, as in the demo's 전세 question when the law is not named.
      for (size_t at; (at = q.text.find(it.law)) != std::string::npos;) {
        size_t end = at + it.law.size();
        for (const char* tail : {"상 ", "에 비추어 ", "에 "})
          if (q.text.compare(end, std::strlen(tail), tail) == 0) {
            end += std::strlen(tail);
            break;
          }
        q.text.erase(at, end - at);
      }
      sets["lawqa situation, no law named"].push_back(q);
    }
  }
  std::printf("| query set | pairs | R@1 | R@3 | R@5 | R@10 | ms/query |\n|---|---|---|---|---|---|---|\n");
  for (auto& [name, qs] : sets) report(ix2, name, qs);

  // --------------------------------------------------------------- KoBLEX
  std::map<std::string, std::string> law_by_norm;
  for (auto& t : ix.law_titles()) law_by_norm[norm(t)] = t;
  std::set<std::string> live;  // "law|id" of non-deleted articles
  std::map<std::string, std::string> title_by;
  for (auto& d : ix.docs()) {
    live.insert(d.law + "|" + d.article_id);
    title_by[d.law + "|" + d.article_id] = d.title;
  }
  std::vector<Query> kq, kbq;
  int ctx = 0, bundled_law = 0, mapped = 0, title_agree = 0, questions = 0, qmapped = 0, lines = 0;
  std::string text = read_file(koblex);
  for (size_t s = 0, e; s < text.size(); s = e + 1) {
    e = text.find('\n', s);
    if (e == std::string::npos) e = text.size();
    if (e == s) continue;
    auto j = nlohmann::json::parse(text.substr(s, e - s));
    lines++;
    questions++;
    std::string question = j.value("question", ""), background = j.value("background", "");
    std::set<std::string> golds;
    for (auto& c : j["contexts"]) {
      ctx++;
      // "<law> <N>조 <branch> <title>": the law name may hold spaces; the branch is empty for most articles.
      std::string idx = c.value("index", "");
      size_t jo = std::string::npos;
      for (size_t p2 = idx.find("조 "); p2 != std::string::npos; p2 = idx.find("조 ", p2 + 1)) {
        size_t d = p2;
        while (d > 0 && idx[d - 1] >= '0' && idx[d - 1] <= '9') d--;
        if (d < p2 && d > 0 && idx[d - 1] == ' ') { jo = p2; break; }
      }
      if (jo == std::string::npos) continue;
      size_t d = jo;
      while (d > 0 && idx[d - 1] >= '0' && idx[d - 1] <= '9') d--;
      std::string law = idx.substr(0, d - 1), num = idx.substr(d, jo - d);
      size_t bs = jo + 4;  // after "조 " (3 + 1 bytes)
      size_t be = bs;
      while (be < idx.size() && idx[be] >= '0' && idx[be] <= '9') be++;
      std::string branch = idx.substr(bs, be - bs);
      std::string id = "제" + num + "조" + (branch.empty() ? "" : "의" + branch);
      auto lt = law_by_norm.find(norm(law));
      if (lt == law_by_norm.end()) continue;
      bundled_law++;
      std::string key = lt->second + "|" + id;
      if (!live.count(key)) continue;
      mapped++;
      // KoBLEX content starts "제N조[의M](제목)": does the bundled (possibly newer) text still carry that title?
      std::string content = c.value("content", "");
      if (content.find("(" + title_by[key] + ")") != std::string::npos) title_agree++;
      if (golds.insert(key).second) {
        kq.push_back(Query{question, lt->second, id});
        kbq.push_back(Query{background + "\n" + question, lt->second, id});
      }
    }
    if (!golds.empty()) qmapped++;
  }
  report(ix2, "KoBLEX question", kq);
  report(ix2, "KoBLEX background + question", kbq);
  std::printf("\nKoBLEX: %d questions, %d gold contexts; %d name a bundled law, %d map to a bundled non-deleted article "
              "(%d with the same article title in the bundled text); %d questions with >= 1 mapped gold, %zu distinct "
              "(question, article) pairs\n",
              questions, ctx, bundled_law, mapped, title_agree, qmapped, kq.size());
  (void)lines;
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
