// ./prep, run in-process through prep_main on a small fixture this test writes into build/test_prep_tmp:
// summary counts vs. the fixture's known documents, shard contents decode back to exactly the fixture's
// documents (each followed by one <|end_of_text|>), token ids vs. the Hugging Face `tokenizers` oracle,
// byte-identical re-runs (and across thread counts), and every bad-input path: one-line error, exit status,
// no output written.
#include <doctest/doctest.h>

#include "tests/prep_runner.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "data/prep/prep_docs.h"
#include "data/prep/prep_main.h"
#include "src/common.h"
#include "src/io.h"
#include "src/shard.h"
#include "src/tokenizer.h"

using namespace beop;
namespace fs = std::filesystem;

namespace {

const std::string kDir = "build/test_prep_tmp";

using Run = beop::test::PrepRun;
using beop::test::run_prep;

void write(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}

// The fixture: documents known by construction.
//   a.txt  (--doc-split blank): 5 blocks
//   b.jsonl: 4 records (+ a blank line), one spelling a special token as plain text
//   c.tsv  (--column 1 --tsv-header): 3 rows
std::vector<std::string> a_docs() {
  return {"민법 제1조 (법원)\n민사에 관하여 법률에 규정이 없으면 관습법에 의하고 관습법이 없으면 조리에 의한다.",
          "주택임대차보호법 제3조 (대항력 등)\n임대차는 그 등기가 없는 경우에도 임차인이 주택의 인도와 주민등록을 마친 때에는 "
          "그 다음 날부터 제삼자에 대하여 효력이 생긴다.",
          "The quick brown fox jumps over the lazy dog.",
          "상속은 사망으로 인하여 개시된다.\n상속인은 상속개시된 때부터 피상속인의 재산에 관한 포괄적 권리의무를 승계한다.",
          "근로기준법은 헌법에 따라 근로조건의 기준을 정함으로써 근로자의 기본적 생활을 보장, 향상시키며 균형 있는 국민경제의 "
          "발전을 꾀하는 것을 목적으로 한다."};
}
std::vector<std::string> b_docs() {
  return {"판시사항: 임대차 종료 후 보증금 반환 의무와 목적물 반환 의무는 동시이행 관계에 있다.",
          "질문: 전세 계약이 끝났는데 집주인이 보증금을 돌려주지 않아요.\n답변: 임차권등기명령을 신청할 수 있습니다.",
          "literal <|end_of_text|> inside a document is text, not a special token",
          "형법 제250조 (살인, 존속살해) 사람을 살해한 자는 사형, 무기 또는 5년 이상의 징역에 처한다."};
}
std::vector<std::string> c_docs() {
  return {"이 영화 정말 재밌어요 강력 추천합니다", "지루하고 뻔한 전개였다", "배우들의 연기가 훌륭했다 ㅎㅎ"};
}

void write_fixture() {
  static bool done = false;
  if (done) return;
  fs::remove_all(kDir);
  make_dirs(kDir);
  std::string a;
  for (auto& d : a_docs()) a += d + "\n\n  \n";  // blocks separated by a blank and a whitespace-only line
  write(kDir + "/a.txt", a);
  std::string b;
  for (auto& d : b_docs()) b += nlohmann::json({{"id", 1}, {"text", d}}).dump() + "\n";
  b += "\n";
  write(kDir + "/b.jsonl", b);
  std::string c = "id\tdocument\tlabel\n";
  int i = 0;
  for (auto& d : c_docs()) c += std::to_string(++i) + "\t" + d + "\t1\n";
  write(kDir + "/c.tsv", c);
  done = true;
}

std::vector<std::string> shard_args(const std::string& prefix, const std::string& seed = "7") {
  return {"shards", "--tokenizer", kDir + "/tok.json", "--out-prefix", prefix, "--val-fraction", "0.3", "--seed",
          seed, "--doc-split", "blank", "--column", "1", "--tsv-header", kDir + "/a.txt", kDir + "/b.jsonl",
          kDir + "/c.tsv"};
}

void ensure_tokenizer() {
  write_fixture();
  if (file_exists(kDir + "/tok.json")) return;
  Run r = run_prep({"tokenizer", "--vocab", "400", "--out", kDir + "/tok.json", "--doc-split", "blank", "--column", "1",
                "--tsv-header", kDir + "/a.txt", kDir + "/b.jsonl", kDir + "/c.tsv"});
  INFO(r.err);
  REQUIRE(r.rc == 0);
}

std::vector<std::string> listing(const std::string& dir) {
  std::vector<std::string> v;
  for (auto& e : fs::directory_iterator(dir)) v.push_back(e.path().filename().string());
  std::sort(v.begin(), v.end());
  return v;
}

// "N documents (T train, V val), M tokens (X train, Y val)" after `label`.
std::array<long, 6> parse_counts(const std::string& out, const std::string& label) {
  std::regex re(std::regex_replace(label, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
                R"(: (\d+) documents \((\d+) train, (\d+) val\), (\d+) tokens \((\d+) train, (\d+) val\))");
  std::smatch m;
  std::array<long, 6> v{-1, -1, -1, -1, -1, -1};
  if (std::regex_search(out, m, re))
    for (int i = 0; i < 6; i++) v[i] = std::stol(m[i + 1]);
  return v;
}

}  // namespace

TEST_CASE("prep tokenizer trains a loadable tokenizer of the requested size") {
  ensure_tokenizer();
  Tokenizer t = Tokenizer::load(kDir + "/tok.json");
  CHECK(t.vocab_size() == 400);
  CHECK(t.eos_id() >= 0);
}

TEST_CASE("prep tokenizer --out creates missing parent directories; the file is the one stdout names") {
  write_fixture();
  const std::string nested = kDir + "/new_a/b/c";
  fs::remove_all(kDir + "/new_a");
  Run r = run_prep({"tokenizer", "--vocab", "300", "--quiet", "--out", nested + "/tokenizer.json", "--doc-split", "blank",
                    kDir + "/a.txt"});
  INFO(r.out, r.err);
  REQUIRE(r.rc == 0);
  CHECK(Tokenizer::load(nested + "/tokenizer.json").vocab_size() == 300);
  CHECK(listing(nested) == std::vector<std::string>{"tokenizer.json"});  // no temporary file left behind
  // a parent that cannot be a directory (it is a file): one line naming it, exit 1, nothing written
  r = run_prep({"tokenizer", "--vocab", "300", "--quiet", "--out", kDir + "/a.txt/x/tokenizer.json", "--doc-split",
                "blank", kDir + "/a.txt"});
  CHECK(r.rc == 1);
  CHECK(r.err.find(kDir + "/a.txt/x") != std::string::npos);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
}

TEST_CASE("prep shards: summary counts, shard contents and determinism") {
  ensure_tokenizer();
  Tokenizer tok = Tokenizer::load(kDir + "/tok.json");
  const std::string prefix = kDir + "/out/legal";
  Run r = run_prep(shard_args(prefix));
  INFO(r.out, r.err);
  REQUIRE(r.rc == 0);

  // Documents per file are known from the fixture; train + val must add up.
  auto a = parse_counts(r.out, kDir + "/a.txt"), b = parse_counts(r.out, kDir + "/b.jsonl"),
       c = parse_counts(r.out, kDir + "/c.tsv"), tot = parse_counts(r.out, "total");
  CHECK(a[0] == 5);
  CHECK(b[0] == 4);
  CHECK(c[0] == 3);
  CHECK(tot[0] == 12);
  for (auto* v : {&a, &b, &c, &tot}) {
    CHECK((*v)[0] == (*v)[1] + (*v)[2]);
    CHECK((*v)[3] == (*v)[4] + (*v)[5]);
  }
  CHECK(tot[1] == a[1] + b[1] + c[1]);
  CHECK(tot[3] == a[3] + b[3] + c[3]);

  // The shards hold exactly the fixture's documents, each encoded once with one <|end_of_text|> at its end.
  ShardReader tr(prefix + "_train_000.bin", tok.vocab_size()), va(prefix + "_val_000.bin", tok.vocab_size());
  CHECK(tr.n_docs() == tot[1]);
  CHECK(va.n_docs() == tot[2]);
  CHECK(tr.n_tokens() == tot[4]);
  CHECK(va.n_tokens() == tot[5]);
  CHECK(tr.bytes_per_token() == 2);
  CHECK(tr.vocab_size() == 400);
  CHECK(tot[2] > 0);  // with 12 documents and val fraction 0.3, seed 7 puts some in val (fixed, not random)
  std::vector<std::string> want;
  for (auto& d : a_docs()) want.push_back(d);
  for (auto& d : b_docs()) want.push_back(d);
  for (auto& d : c_docs()) want.push_back(d);
  std::vector<std::string> got;
  std::map<std::string, std::vector<int32_t>> ids_of;
  for (ShardReader* s : {&tr, &va})
    for (int64_t d = 0; d < s->n_docs(); d++) {
      auto ids = s->document(d);
      REQUIRE(!ids.empty());
      CHECK(ids.back() == tok.eos_id());
      CHECK(std::count(ids.begin(), ids.end(), tok.eos_id()) == 1);  // literal "<|end_of_text|>" is plain text
      ids.pop_back();
      got.push_back(tok.decode(ids));
      ids_of[got.back()] = ids;
    }
  std::sort(want.begin(), want.end());
  std::sort(got.begin(), got.end());
  CHECK(got == want);

  // Re-running gives byte-identical shards, also with a different thread count.
  Run r2 = run_prep([&] {
    auto v = shard_args(kDir + "/out2/legal");
    v.insert(v.begin() + 1, {"--threads", "1"});
    return v;
  }());
  REQUIRE(r2.rc == 0);
  CHECK(read_file(prefix + "_train_000.bin") == read_file(kDir + "/out2/legal_train_000.bin"));
  CHECK(read_file(prefix + "_val_000.bin") == read_file(kDir + "/out2/legal_val_000.bin"));
  // A different seed changes the train/val assignment.
  Run r3 = run_prep(shard_args(kDir + "/out3/legal", "8"));
  REQUIRE(r3.rc == 0);
  CHECK(read_file(prefix + "_val_000.bin") != read_file(kDir + "/out3/legal_val_000.bin"));
  CHECK(parse_counts(r3.out, "total")[0] == 12);

  // Oracle: the Hugging Face `tokenizers` library encodes each document (without the special-token spelling,
  // which HF always treats as special) to the same ids.
  nlohmann::json texts = nlohmann::json::array();
  for (auto& w : want)
    if (w.find("<|") == std::string::npos) texts.push_back(w);
  write(kDir + "/oracle_in.json", texts.dump());
  std::string cmd = ".venv/bin/python -c \"import json,sys; from tokenizers import Tokenizer; "
                    "t=Tokenizer.from_file('" + kDir + "/tok.json'); "
                    "xs=json.load(open('" + kDir + "/oracle_in.json')); "
                    "json.dump([t.encode(x, add_special_tokens=False).ids for x in xs], open('" + kDir +
                    "/oracle_out.json','w'))\"";
  REQUIRE_MESSAGE(std::system(cmd.c_str()) == 0, "HF tokenizers oracle failed to run: ", cmd);
  auto hf = nlohmann::json::parse(read_file(kDir + "/oracle_out.json"));
  REQUIRE(hf.size() == texts.size());
  for (size_t i = 0; i < texts.size(); i++) {
    INFO("document: ", texts[i].get<std::string>());
    CHECK(ids_of[texts[i].get<std::string>()] == hf[i].get<std::vector<int32_t>>());
  }
}

TEST_CASE("prep shards rolls over to a new shard at --shard-tokens") {
  ensure_tokenizer();
  Run r = run_prep({"shards", "--tokenizer", kDir + "/tok.json", "--out-prefix", kDir + "/roll/x", "--val-fraction", "0",
                "--shard-tokens", "40", "--doc-split", "blank", kDir + "/a.txt"});
  INFO(r.out, r.err);
  REQUIRE(r.rc == 0);
  auto files = listing(kDir + "/roll");
  CHECK(files.size() >= 2);  // 5 documents of well over 40 tokens each -> one per shard
  int64_t docs = 0, tokens = 0;
  for (auto& f : files) {
    CHECK(f.rfind("x_train_", 0) == 0);
    ShardReader s(kDir + "/roll/" + f);
    docs += s.n_docs();
    tokens += s.n_tokens();
  }
  auto tot = parse_counts(r.out, "total");
  CHECK(docs == 5);
  CHECK(tokens == tot[3]);
  // Re-running into the same prefix with one big shard removes the now-stale _001.. files (a loader glob
  // would otherwise mix old and new data).
  Run r2 = run_prep({"shards", "--tokenizer", kDir + "/tok.json", "--out-prefix", kDir + "/roll/x", "--val-fraction",
                     "0", "--doc-split", "blank", kDir + "/a.txt"});
  REQUIRE(r2.rc == 0);
  CHECK(listing(kDir + "/roll") == std::vector<std::string>{"x_train_000.bin"});
  CHECK(r2.out.find("removed stale " + kDir + "/roll/x_train_001.bin") != std::string::npos);
  ShardReader one(kDir + "/roll/x_train_000.bin");
  CHECK(one.n_tokens() == tokens);
}

TEST_CASE("prep: bad input gives a one-line error, the right exit status, and no output") {
  ensure_tokenizer();
  const std::string out = kDir + "/bad";
  make_dirs(out);
  write(out + "/legal_train_000.bin", "OLD");  // a previous run's file must survive a failed run untouched
  write(kDir + "/bad_utf8.txt", std::string("정상 텍스트\n\nabc") + "\xff" + "def\n");
  write(kDir + "/empty.txt", "  \n\n \n");
  write(kDir + "/nofield.jsonl", "{\"text\": \"ok\"}\n{\"body\": \"no text field\"}\n");
  write(kDir + "/notjson.jsonl", "{\"text\": \"ok\"}\n{oops\n");
  write(kDir + "/short.tsv", "a\tb\nonly-one-column\n");
  write(kDir + "/x.csv", "a,b\n");
  auto shards = [&](std::vector<std::string> extra) {
    std::vector<std::string> v = {"shards", "--tokenizer", kDir + "/tok.json", "--out-prefix", out + "/legal"};
    v.insert(v.end(), extra.begin(), extra.end());
    return run_prep(v);
  };
  auto one_line = [](const Run& r) {
    return std::count(r.err.begin(), r.err.end(), '\n') == 1 && r.err.rfind("error: ", 0) == 0;
  };
  struct Case {
    std::vector<std::string> args;
    int rc;
    std::string err;
  };
  // Byte offset of 0xFF in bad_utf8.txt: "정상 텍스트" is 5 Hangul x 3 bytes + 1 space = 16, "\n\n" 2, "abc" 3.
  std::vector<Case> cases = {
      {{kDir + "/a.txt", kDir + "/bad_utf8.txt"}, 1,
       "error: " + kDir + "/bad_utf8.txt: invalid UTF-8 at byte offset 21 (byte 0xFF)\n"},
      {{kDir + "/empty.txt"}, 1, "error: " + kDir + "/empty.txt: no documents (empty source)\n"},
      {{kDir + "/missing.txt"}, 1, "error: cannot read " + kDir + "/missing.txt: No such file or directory\n"},
      {{kDir + "/nofield.jsonl"}, 1, "error: " + kDir + "/nofield.jsonl:2: no field 'text'\n"},
      {{kDir + "/short.tsv", "--column", "1"}, 1,
       "error: " + kDir + "/short.tsv:2: 1 column(s), --column 1 asked (0-based)\n"},
      {{kDir + "/x.csv"}, 1, "error: " + kDir + "/x.csv: unknown input type '.csv' (want .txt, .md, .jsonl or .tsv)\n"},
      {{"--bogus", kDir + "/a.txt"}, 2, "error: unknown flag --bogus (see prep shards --help)\n"},
      {{"--val-fraction", "1.5", kDir + "/a.txt"}, 2, "error: --val-fraction: 1.5 outside [0, 1)\n"},
      {{"--seed", "x", kDir + "/a.txt"}, 2, "error: --seed: 'x' is not an integer\n"},
      {{"--doc-split", "para", kDir + "/a.txt"}, 2, "error: --doc-split: 'para' (want file, blank or line)\n"},
      {{}, 2, "error: no input FILES (see prep shards --help)\n"},
  };
  for (auto& c : cases) {
    Run r = shards(c.args);
    INFO("args: ", c.args.empty() ? "" : c.args[0], " err: ", r.err);
    CHECK(r.rc == c.rc);
    CHECK(r.err == c.err);
    CHECK(one_line(r));
    CHECK(r.out.empty());
    CHECK(listing(out) == std::vector<std::string>{"legal_train_000.bin"});
    CHECK(read_file(out + "/legal_train_000.bin") == "OLD");
  }
  Run nj = shards({kDir + "/notjson.jsonl"});
  CHECK(nj.rc == 1);
  CHECK(nj.err.rfind("error: " + kDir + "/notjson.jsonl:2: malformed JSON: ", 0) == 0);
  CHECK(one_line(nj));
  CHECK(listing(out) == std::vector<std::string>{"legal_train_000.bin"});

  Run miss = run_prep({"shards", "--out-prefix", out + "/legal", kDir + "/a.txt"});
  CHECK(miss.rc == 2);
  CHECK(miss.err == "error: missing --tokenizer (see prep shards --help)\n");
  Run unk = run_prep({"frobnicate"});
  CHECK(unk.rc == 2);
  CHECK(unk.err == "error: unknown subcommand 'frobnicate' (see prep --help)\n");
  Run tokbad = run_prep({"tokenizer", "--out", out + "/t.json", kDir + "/bad_utf8.txt"});
  CHECK(tokbad.rc == 1);
  CHECK(tokbad.err == "error: " + kDir + "/bad_utf8.txt: invalid UTF-8 at byte offset 21 (byte 0xFF)\n");
  CHECK(!file_exists(out + "/t.json"));
}

TEST_CASE("prep --help lists every flag with its default") {
  for (const char* sub : {"shards", "tokenizer"}) {
    Run r = run_prep({sub, "--help"});
    CHECK(r.rc == 0);
    int flags = 0, described = 0;
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);)
      if (line.rfind("  --", 0) == 0 && line.rfind("  --help", 0) != 0) {
        flags++;
        described += line.find("(default") != std::string::npos || line.find("(required)") != std::string::npos;
      }
    CHECK(flags >= 6);
    CHECK(described == flags);
  }
  CHECK(run_prep({"shards", "--help"}).out.find("--val-fraction VALUE") != std::string::npos);
  CHECK(run_prep({"shards", "--help"}).out.find("(default \"0.05\")") != std::string::npos);
  Run top = run_prep({"--help"});
  CHECK(top.rc == 0);
  CHECK(top.out.find("shards") != std::string::npos);
  CHECK(top.out.find("tokenizer") != std::string::npos);
}

TEST_CASE("document splitting and the UTF-8 validator") {
  write_fixture();
  beop::prep::DocOptions o;
  o.doc_split = "blank";
  CHECK(beop::prep::read_documents(kDir + "/a.txt", o) == a_docs());
  o.doc_split = "file";
  auto whole = beop::prep::read_documents(kDir + "/a.txt", o);
  REQUIRE(whole.size() == 1);
  CHECK(whole[0] == read_file(kDir + "/a.txt"));
  CHECK(beop::prep::read_documents(kDir + "/b.jsonl", o) == b_docs());
  o.column = 1;
  o.tsv_header = true;
  CHECK(beop::prep::read_documents(kDir + "/c.tsv", o) == c_docs());
  // The validator itself (src/utf8.h) is tested in test_utf8.cpp.
}
