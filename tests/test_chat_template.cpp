// Chat template and `prep chat`: the rendered text against the template written out by hand; tokens against the
// Hugging Face `tokenizers` oracle encoding that text (special tokens parsed); the loss mask = exactly the
// assistant contents + <|eot_id|> (checked by decoding the masked runs); user text spelling a special token stays
// text; conversation/CSV readers and every bad-input error; packing against a fixture computed by hand; and
// end to end: `prep chat` shards read back through ShardReader and MixtureLoader give masked targets that are
// exactly the assistant tokens, deterministic across re-runs, with the train/val split by (seed, file, line).
#include <doctest/doctest.h>

#include "tests/prep_runner.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "data/prep/prep_chat.h"
#include "data/prep/prep_main.h"
#include "src/chat_template.h"
#include "src/common.h"
#include "src/io.h"
#include "src/mixture_loader.h"
#include "src/shard.h"
#include "src/tokenizer.h"
#include "tests/test_util.h"

using namespace beop;
namespace fs = std::filesystem;

namespace {

const std::string kDir = "build/test_chat_template_tmp";

using beop::test::error_of;

bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

void write(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}

using Run = beop::test::PrepRun;
using beop::test::run_prep;

// Conversations known by construction (contents start and end with non-space, so the one-string HF encoding
// and beop's piecewise encoding must agree token for token).
std::vector<Conversation> fixture() {
  return {
      {{"system", "당신은 한국 법률 상담 도우미입니다."},
       {"user", "전세 보증금을 못 받았어요. 어떻게 하나요?"},
       {"assistant", "임차권등기명령을 신청한 뒤 보증금반환청구소송을 제기할 수 있습니다."}},
      {{"user", "민법 제1조는?"},
       {"assistant", "민사에 관하여 법률에 규정이 없으면 관습법에 의하고, 관습법이 없으면 조리에 의한다."},
       {"user", "고마워요"},
       {"assistant", "천만에요."}},
      {{"user", "Type <|eot_id|> and <|begin_of_text|> literally."},
       {"assistant", "Done: the text <|eot_id|> is not a special token here."}},
      {{"user", "짧게"}, {"assistant", "네."}},
      {{"user", "상속은 언제 개시되나요? 자세히 설명해 주세요."},
       {"assistant", "상속은 사망으로 인하여 개시된다. 상속인은 상속개시된 때부터 피상속인의 재산에 관한 포괄적 권리의무를 "
                     "승계한다. 다만 일신에 전속한 것은 그러하지 아니하다. 상속재산은 상속인이 여러 명이면 공유로 한다."}},
  };
}

const Tokenizer& tok() {
  static Tokenizer* t = nullptr;
  if (!t) {
    fs::remove_all(kDir);
    make_dirs(kDir);
    std::vector<std::string> texts;
    for (auto& c : fixture())
      for (auto& m : c) texts.push_back(m.content);
    texts.push_back("The quick brown fox jumps over the lazy dog. system user assistant");
    BpeTrainOptions opt;
    opt.vocab_size = 420;
    opt.progress = false;
    opt.threads = 1;
    t = new Tokenizer(Tokenizer::train_from_texts(texts, opt));
    t->save(kDir + "/tok.json");
  }
  return *t;
}

std::string jsonl_line(const Conversation& c) {
  nlohmann::json ms = nlohmann::json::array();
  for (auto& m : c) ms.push_back({{"role", m.role}, {"content", m.content}});
  return nlohmann::json({{"messages", ms}}).dump() + "\n";
}

// The assistant tokens of a conversation, in order (what the masked targets must be).
std::vector<int32_t> assistant_tokens(const EncodedChat& e) {
  std::vector<int32_t> out;
  for (size_t i = 0; i < e.tokens.size(); i++)
    if (e.loss_mask[i]) out.push_back(e.tokens[i]);
  return out;
}

}  // namespace

TEST_CASE("render_chat: the Llama-3 layout, written out by hand") {
  Conversation c = {{"system", "You are a legal assistant."}, {"user", "질문입니다"}, {"assistant", "답변입니다"}};
  const std::string expect =
      "<|begin_of_text|>"
      "<|start_header_id|>system<|end_header_id|>\n\nYou are a legal assistant.<|eot_id|>"
      "<|start_header_id|>user<|end_header_id|>\n\n질문입니다<|eot_id|>"
      "<|start_header_id|>assistant<|end_header_id|>\n\n답변입니다<|eot_id|>";
  CHECK(render_chat(c, false) == expect);
  CHECK(render_chat(c, true) == expect + "<|start_header_id|>assistant<|end_header_id|>\n\n");
  Conversation prompt = {{"user", "안녕"}};
  CHECK(render_chat(prompt, true) ==
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n안녕<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n");
  CHECK(contains(error_of([] { render_chat({{"tool", "x"}}, false); }), "unknown role \"tool\""));
}

TEST_CASE("encode_chat: tokens match HF tokenizers on the rendered text; mask = assistant content + eot") {
  const Tokenizer& t = tok();
  const auto convs = fixture();
  // Oracle: HF tokenizers encodes render_chat(c) (special tokens recognised) -> ids, one line per conversation.
  std::string texts;
  for (auto& c : convs) texts += nlohmann::json(render_chat(c, false)).dump() + "\n";
  for (auto& c : convs) texts += nlohmann::json(render_chat(c, true)).dump() + "\n";
  write(kDir + "/rendered.jsonl", texts);
  std::string cmd = ".venv/bin/python -c \"import json,sys; from tokenizers import Tokenizer; "
                    "t=Tokenizer.from_file(sys.argv[1]); out=open(sys.argv[3],'w'); "
                    "[out.write(json.dumps(t.encode(json.loads(l), add_special_tokens=False).ids)+'\\n') "
                    "for l in open(sys.argv[2])]\" " +
                    kDir + "/tok.json " + kDir + "/rendered.jsonl " + kDir + "/hf_ids.jsonl";
  REQUIRE_MESSAGE(test::run(cmd) == 0, "HF tokenizers oracle failed to run: ", cmd);
  std::istringstream hf(read_file(kDir + "/hf_ids.jsonl"));
  for (int gen = 0; gen < 2; gen++)
    for (size_t i = 0; i < convs.size(); i++) {
      std::string line;
      REQUIRE(std::getline(hf, line));
      const std::vector<int32_t> want = nlohmann::json::parse(line).get<std::vector<int32_t>>();
      EncodedChat e = encode_chat(t, convs[i], gen == 1);
      // Conversation 2 spells special tokens in its text: HF, given the flat string, turns them into special
      // ids, which is exactly what encode_chat must NOT do; there the two must differ.
      if (i == 2)
        CHECK(e.tokens != want);
      else
        CHECK_MESSAGE(e.tokens == want, "conversation ", i, " generation prompt ", gen);
      CHECK(t.decode(e.tokens) == render_chat(convs[i], gen == 1));
    }

  for (size_t i = 0; i < convs.size(); i++) {
    EncodedChat e = encode_chat(t, convs[i], false);
    REQUIRE(e.loss_mask.size() == e.tokens.size());
    CHECK(e.tokens[0] == t.bos_id());
    CHECK(e.loss_mask[0] == 0);
    // Runs of mask=1, decoded, are exactly the assistant contents each followed by <|eot_id|>, in order.
    std::vector<std::string> runs;
    for (size_t k = 0; k < e.tokens.size(); k++) {
      if (!e.loss_mask[k]) continue;
      std::vector<int32_t> run;
      while (k < e.tokens.size() && e.loss_mask[k]) run.push_back(e.tokens[k++]);
      runs.push_back(t.decode(run));
    }
    std::vector<std::string> want;
    for (auto& m : convs[i])
      if (m.role == "assistant") want.push_back(m.content + "<|eot_id|>");
    CHECK_MESSAGE(runs == want, "conversation ", i);
    // Each masked run ends with the eot *id*; the number of eot ids is exactly the number of messages.
    int eots = 0;
    for (int32_t id : e.tokens) eots += id == t.eot_id();
    CHECK(eots == (int)convs[i].size());
  }
  // Literal special-token text in user content is ordinary text: no extra special ids.
  EncodedChat lit = encode_chat(t, convs[2], false);
  int specials = 0;
  for (int32_t id : lit.tokens)
    specials += id == t.bos_id() || id == t.eot_id() || id == t.start_header_id() || id == t.end_header_id();
  CHECK(specials == 1 + 3 * 2);  // one bos, and per message: start_header, end_header, eot
  CHECK(contains(t.decode(lit.tokens), "Type <|eot_id|> and <|begin_of_text|> literally."));
  // A generation prompt is never trained on.
  EncodedChat g = encode_chat(t, {{"user", "안녕"}}, true);
  CHECK(std::all_of(g.loss_mask.begin(), g.loss_mask.end(), [](uint8_t m) { return m == 0; }));
  CHECK(contains(error_of([&] { encode_chat(t, {{"user", std::string("bad \xff byte")}}, false); }),
                 "invalid UTF-8 at byte offset 4"));
}

TEST_CASE("conversation readers: JSONL and CSV, every bad input named by file and line") {
  tok();
  const std::string good = kDir + "/good.jsonl";
  write(good, jsonl_line(fixture()[0]) + "\n" + jsonl_line(fixture()[1]));
  std::vector<int64_t> lines;
  auto cs = read_conversations_jsonl(good, true, &lines);
  REQUIRE(cs.size() == 2);
  CHECK(lines == std::vector<int64_t>{1, 3});  // the blank line 2 is skipped
  CHECK(cs[1][3].content == "천만에요.");

  auto bad = [&](const std::string& line, bool req = true) {
    write(kDir + "/bad.jsonl", jsonl_line(fixture()[0]) + line + "\n");
    return error_of([&] { read_conversations_jsonl(kDir + "/bad.jsonl", req); });
  };
  const std::string at2 = kDir + "/bad.jsonl:2: ";
  CHECK(bad(R"({"messages":[{"role":"robot","content":"x"}]})") ==
        at2 + "message 0 has unknown role \"robot\" (want system, user or assistant)");
  CHECK(bad(R"({"messages":[]})") == at2 + "empty message list");
  CHECK(bad(R"({"messages":[{"role":"user","content":"only a question"}]})") ==
        at2 + "conversation has no assistant turn (nothing to train on)");
  CHECK(bad(R"({"messages":[{"role":"user","content":"q"}]})", false) == "<no error>");
  CHECK(bad(R"({"messages":[{"role":"user","content":42},{"role":"assistant","content":"a"}]})") ==
        at2 + "message 0 content is not a string (number)");
  CHECK(bad(R"({"messages":[{"role":"user"}]})") == at2 + "message 0 has no \"content\"");
  CHECK(bad(R"({"messages":"hello"})") == at2 + "\"messages\" is not an array");
  CHECK(bad(R"({"text":"hello"})") == at2 + "no \"messages\" field");
  CHECK(bad(R"([1,2])") == at2 + "not a JSON object");
  CHECK(contains(bad(R"({"messages":[{"role":"user","content":"x"})"), at2 + "malformed JSON: "));
  CHECK(bad("{\"messages\":[{\"role\":\"user\",\"content\":\"\xC3\x28\"}]}") ==
        at2 + "invalid UTF-8 at byte offset 39 of the line");  // 13 + 15 + 11 bytes precede it
  write(kDir + "/empty.jsonl", "\n\n");
  CHECK(error_of([&] { read_conversations_jsonl(kDir + "/empty.jsonl"); }) == kDir + "/empty.jsonl: no conversations");

  // CSV: quoted fields with commas, "" escapes, an embedded newline, CRLF endings, a BOM.
  const std::string csv = kDir + "/qa.csv";
  write(csv, "\xEF\xBB\xBFQ,A,label\r\n12시 땡!,하루가 또 가네요.,0\r\n\"쉼표, 있음\",\"그는 \"\"네\"\"라고 했다\",1\r\n"
             "\"여러\n줄\",답,2\r\n");
  std::vector<int64_t> cl;
  auto qa = read_qa_csv(csv, "Q", "A", &cl);
  REQUIRE(qa.size() == 3);
  CHECK(cl == std::vector<int64_t>{2, 3, 4});
  CHECK(qa[0][0].role == "user");
  CHECK(qa[0][0].content == "12시 땡!");
  CHECK(qa[0][1].role == "assistant");
  CHECK(qa[0][1].content == "하루가 또 가네요.");
  CHECK(qa[1][0].content == "쉼표, 있음");
  CHECK(qa[1][1].content == "그는 \"네\"라고 했다");
  CHECK(qa[2][0].content == "여러\n줄");
  write(csv, "Q,A,label\nq1,a1,0\nq2,a2\n");
  CHECK(error_of([&] { read_qa_csv(csv); }) == csv + ":3: 2 fields, header has 3");
  write(csv, "Q,A,label\nq1,\"unterminated,0\n");
  CHECK(error_of([&] { read_qa_csv(csv); }) == csv + ":2: unterminated quoted field");
  write(csv, "Question,Answer\nq,a\n");
  CHECK(error_of([&] { read_qa_csv(csv); }) == csv + ":1: header has no 'Q' column");
  write(csv, "Q,A\nq, \n");
  CHECK(error_of([&] { read_qa_csv(csv); }) == csv + ":2: empty answer");

  // Q/A JSONL (--format jsonl-qa).
  const std::string qaj = kDir + "/qa.jsonl";
  write(qaj, "{\"상담 내용\": \"질문 하나\", \"원본 상담 답변\": \"답 하나\", \"id\": 3}\n\n"
             "{\"상담 내용\": \"질문 둘\", \"원본 상담 답변\": \"답 둘\"}\n");
  std::vector<int64_t> ql;
  auto qj = read_qa_jsonl(qaj, "상담 내용", "원본 상담 답변", &ql);
  REQUIRE(qj.size() == 2);
  CHECK(ql == std::vector<int64_t>{1, 3});
  CHECK(qj[1][0].role == "user");
  CHECK(qj[1][0].content == "질문 둘");
  CHECK(qj[1][1].role == "assistant");
  CHECK(qj[1][1].content == "답 둘");
  write(qaj, "{\"상담 내용\": \"질문\"}\n");
  CHECK(error_of([&] { read_qa_jsonl(qaj, "상담 내용", "원본 상담 답변"); }) ==
        qaj + ":1: no string field \"원본 상담 답변\"");
  const std::string nhrck = data_dir() + "/instruct_ko/hrc_nhrck_counsel.jsonl";
  if (file_exists(nhrck)) {
    std::string cmd = "/usr/bin/python3 -c \"import json,sys; r=[json.loads(l) for l in open(sys.argv[1]) if l.strip()];"
                      " open(sys.argv[2],'w').write(str(len(r))+'\\n'+r[-1]['원본 상담 답변'])\" " +
                      nhrck + " " + kDir + "/nhrck.txt";
    REQUIRE_MESSAGE(test::run(cmd) == 0, "python json oracle failed: ", cmd);
    const std::string o = read_file(kDir + "/nhrck.txt");
    const size_t nl = o.find('\n');
    auto rows = read_qa_jsonl(nhrck, "상담 내용", "원본 상담 답변");
    CHECK(rows.size() == std::stoul(o.substr(0, nl)));
    CHECK(rows.back()[1].content == o.substr(nl + 1));
  }

  // The real songys ChatbotData parses completely: row count and last row as Python's csv module reads them.
  const std::string songys = data_dir() + "/instruct_ko/songys_ChatbotData.csv";
  if (file_exists(songys)) {
    // Independent count: Python's csv module.
    std::string cmd = "/usr/bin/python3 -c \"import csv,sys; r=list(csv.reader(open(sys.argv[1],encoding='utf-8-sig')));"
                      " open(sys.argv[2],'w').write(str(len(r)-1)+'\\n'+r[-1][0]+'\\n'+r[-1][1])\" " +
                      songys + " " + kDir + "/songys_count.txt";
    REQUIRE_MESSAGE(test::run(cmd) == 0, "python csv oracle failed: ", cmd);
    std::istringstream o(read_file(kDir + "/songys_count.txt"));
    std::string n, q, a;
    std::getline(o, n);
    std::getline(o, q);
    std::getline(o, a);
    auto rows = read_qa_csv(songys);
    CHECK(rows.size() == std::stoul(n));
    CHECK(rows.back()[0].content == q);
    CHECK(rows.back()[1].content == a);
  }
}

TEST_CASE("pack_conversations: block layout computed by hand") {
  // T = 10, conversation lengths 4 5 3 12 2 10 7 (token value = conversation index + 100, mask = position parity):
  //   block 0: c0 (4) c1 (5) pad 1     block 1: c2 (3) pad 7        block 2: c3[0:10]
  //   block 3: c3[10:12] c4 (2) pad 6  block 4: c5 (10)             block 5: c6 (7) pad 3
  //   -> 6 blocks, 43 tokens, padding 1+7+6+3 = 17, one split conversation.
  const int T = 10;
  const int32_t pad = 7;
  const std::vector<int> lens = {4, 5, 3, 12, 2, 10, 7};
  std::vector<EncodedChat> convs;
  int64_t trained = 0;
  for (size_t c = 0; c < lens.size(); c++) {
    EncodedChat e;
    for (int k = 0; k < lens[c]; k++) {
      e.tokens.push_back(int32_t(100 + c));
      e.loss_mask.push_back(uint8_t(k % 2));
      trained += k % 2;
    }
    convs.push_back(e);
  }
  std::vector<int32_t> toks;
  std::vector<uint8_t> mask;
  prep::PackStats st = prep::pack_conversations(convs, T, pad, toks, mask);
  CHECK(st.conversations == 7);
  CHECK(st.blocks == 6);
  CHECK(st.tokens == 43);
  CHECK(st.padding == 17);
  CHECK(st.split == 1);
  CHECK(st.trained == trained);
  REQUIRE(toks.size() == 60);
  REQUIRE(mask.size() == 60);
  auto block = [&](int b) { return std::vector<int32_t>(toks.begin() + b * T, toks.begin() + (b + 1) * T); };
  using V = std::vector<int32_t>;
  CHECK(block(0) == V{100, 100, 100, 100, 101, 101, 101, 101, 101, 7});
  CHECK(block(1) == V{102, 102, 102, 7, 7, 7, 7, 7, 7, 7});
  CHECK(block(2) == V(10, 103));
  CHECK(block(3) == V{103, 103, 104, 104, 7, 7, 7, 7, 7, 7});
  CHECK(block(4) == V(10, 105));
  CHECK(block(5) == V{106, 106, 106, 106, 106, 106, 106, 7, 7, 7});
  for (size_t i = 0; i < toks.size(); i++)
    if (toks[i] == pad) CHECK(mask[i] == 0);
  // The split conversation's mask continues across the block boundary (positions 10, 11 -> parity 0, 1).
  CHECK(mask[30] == 0);
  CHECK(mask[31] == 1);
}

TEST_CASE("pack_conversations: Overlong::drop leaves out what does not fit T, computed by hand") {
  // The lengths above with drop: c3 (12 > T) is left out, c5 (10 = T) still fits a block of its own:
  //   block 0: c0 (4) c1 (5) pad 1     block 1: c2 (3) c4 (2) pad 5
  //   block 2: c5 (10)                 block 3: c6 (7) pad 3
  //   -> 4 blocks, 31 tokens, padding 1+5+3 = 9, nothing split, one dropped.
  const int T = 10;
  const int32_t pad = 7;
  const std::vector<int> lens = {4, 5, 3, 12, 2, 10, 7};
  std::vector<EncodedChat> convs;
  for (size_t c = 0; c < lens.size(); c++) {
    EncodedChat e;
    e.tokens.assign(size_t(lens[c]), int32_t(100 + c));
    e.loss_mask.assign(size_t(lens[c]), uint8_t(1));
    convs.push_back(e);
  }
  std::vector<int32_t> toks;
  std::vector<uint8_t> mask;
  prep::PackStats st = prep::pack_conversations(convs, T, pad, toks, mask, prep::Overlong::drop);
  CHECK(st.conversations == 6);
  CHECK(st.dropped == 1);
  CHECK(st.split == 0);
  CHECK(st.blocks == 4);
  CHECK(st.tokens == 31);
  CHECK(st.trained == 31);
  CHECK(st.padding == 9);
  REQUIRE(toks.size() == 40);
  using V = std::vector<int32_t>;
  auto block = [&](int b) { return std::vector<int32_t>(toks.begin() + b * T, toks.begin() + (b + 1) * T); };
  CHECK(block(0) == V{100, 100, 100, 100, 101, 101, 101, 101, 101, 7});
  CHECK(block(1) == V{102, 102, 102, 104, 104, 7, 7, 7, 7, 7});
  CHECK(block(2) == V(10, 105));
  CHECK(block(3) == V{106, 106, 106, 106, 106, 106, 106, 7, 7, 7});
}

TEST_CASE("prep chat: packed masked shards whose loader targets are exactly the assistant tokens") {
  const Tokenizer& t = tok();
  const auto convs = fixture();
  const std::string in = kDir + "/convs.jsonl";
  std::string text;
  for (int rep = 0; rep < 6; rep++)  // 30 conversations (each fixture conversation 6 times)
    for (auto& c : convs) text += jsonl_line(c);
  write(in, text);
  std::vector<EncodedChat> enc;
  for (int rep = 0; rep < 6; rep++)
    for (auto& c : convs) enc.push_back(encode_chat(t, c, false));
  int64_t max_len = 0, total = 0;
  for (auto& e : enc) max_len = std::max<int64_t>(max_len, e.tokens.size()), total += e.tokens.size();
  // T chosen below the longest conversation, so some conversations are split across blocks.
  const int T = int(max_len * 3 / 4);
  int64_t n_split = 0;
  for (auto& e : enc) n_split += (int64_t)e.tokens.size() > T;
  REQUIRE(n_split > 0);

  const std::string prefix = kDir + "/out/it";
  Run r = run_prep({"chat", "--tokenizer", kDir + "/tok.json", "--out-prefix", prefix, "--seq-len", std::to_string(T),
                    "--val-fraction", "0", in});
  INFO(r.err);
  REQUIRE(r.rc == 0);
  INFO(r.out);
  // Expected packing, computed independently of pack_conversations from the conversation lengths.
  int64_t blocks = 0, fill = 0, padding = 0;
  for (auto& e : enc) {
    int64_t L = (int64_t)e.tokens.size();
    if (fill + L > T && fill > 0) padding += T - fill, fill = 0;
    blocks += (fill == 0 ? 1 : 0) + (fill + L - 1) / T;  // the block it opens/joins + the blocks it spills into
    fill = (fill + L) % T;
  }
  if (fill > 0) padding += T - fill;
  CHECK(blocks * T == total + padding);
  CHECK(contains(r.out, cat("train: 30 conversations, ", blocks, " blocks, ", total, " tokens")));
  CHECK(contains(r.out, cat(n_split, " split conversations")));
  CHECK(!file_exists(prefix + "_val_000.bin"));  // --val-fraction 0 -> no val shard

  ShardReader sr(prefix + "_train_000.bin", t.vocab_size());
  REQUIRE(sr.has_loss_mask());
  CHECK(sr.n_tokens() == blocks * T + 1);
  CHECK(sr.n_docs() == blocks);
  // Through the loader, in file order: the masked targets, concatenated, are exactly the assistant tokens.
  MixtureLoader loader("it=" + prefix + "_train_*.bin", T, LoaderOptions{});
  CHECK(loader.source_windows(0) == blocks);
  std::vector<int32_t> got;
  int64_t bos_targets = 0;
  loader.for_each_val_batch(0, 3, [&](const Batch& b) {
    for (int i = 0; i < b.B * b.T; i++) {
      if (b.loss_mask[i]) got.push_back(b.targets[i]);
      if (b.targets[i] == t.bos_id()) {
        bos_targets++;
        CHECK(b.loss_mask[i] == 0);
      }
    }
  });
  std::vector<int32_t> want;
  for (auto& e : enc) {
    auto a = assistant_tokens(e);
    want.insert(want.end(), a.begin(), a.end());
  }
  CHECK(got == want);
  CHECK(bos_targets == 30 - 1);  // every conversation's <|begin_of_text|> except the very first token

  // Deterministic: a re-run writes identical bytes.
  const std::string first = read_file(prefix + "_train_000.bin");
  REQUIRE(run_prep({"chat", "--tokenizer", kDir + "/tok.json", "--out-prefix", prefix, "--seq-len", std::to_string(T),
                    "--val-fraction", "0", in})
              .rc == 0);
  CHECK(read_file(prefix + "_train_000.bin") == first);

  // With a val split: train + val conversations = all; same seed -> same split; blocks per shard honoured.
  Run v = run_prep({"chat", "--tokenizer", kDir + "/tok.json", "--out-prefix", prefix, "--seq-len", std::to_string(T),
                    "--val-fraction", "0.4", "--seed", "3", "--shard-tokens", std::to_string(2 * T), in});
  REQUIRE(v.rc == 0);
  int64_t ntrain = -1, nval = -1;
  {
    size_t p = v.out.find("train: "), q = v.out.find("val: ");
    REQUIRE(p != std::string::npos);
    REQUIRE(q != std::string::npos);
    ntrain = std::stoll(v.out.substr(p + 7));
    nval = std::stoll(v.out.substr(q + 5));
  }
  CHECK(ntrain + nval == 30);
  CHECK(ntrain > 0);
  CHECK(nval > 0);
  ShardReader s0(prefix + "_train_000.bin", t.vocab_size());
  CHECK(s0.n_tokens() == 2 * T + 1);  // two blocks per shard + the trailing token
  CHECK(!file_exists(prefix + "_train_999.bin"));
  // Stale shards from the earlier single-shard run were not left with another run's data: every train shard
  // present belongs to this run (count matches the summary's "wrote" lines).
  int wrote = 0;
  for (size_t p = 0; (p = v.out.find("wrote " + prefix + "_train_", p)) != std::string::npos; p++) wrote++;
  int present = 0;
  for (auto& e : fs::directory_iterator(kDir + "/out"))
    present += e.path().filename().string().rfind("it_train_", 0) == 0;
  CHECK(wrote == present);

  // CSV Q/A input.
  const std::string csv = kDir + "/qa.csv";
  write(csv, "Q,A,label\n12시 땡!,하루가 또 가네요.,0\n\"쉼표, 있음\",답변입니다.,1\n");
  Run c = run_prep({"chat", "--tokenizer", kDir + "/tok.json", "--out-prefix", kDir + "/out/qa", "--seq-len", "64",
                    "--val-fraction", "0", "--format", "csv-qa", csv});
  INFO(c.err);
  REQUIRE(c.rc == 0);
  ShardReader qs(kDir + "/out/qa_train_000.bin", t.vocab_size());
  std::vector<int32_t> qt(qs.n_tokens());
  std::vector<uint8_t> qm(qs.n_tokens());
  qs.read_tokens(0, qs.n_tokens(), qt.data());
  qs.read_mask(0, qs.n_tokens(), qm.data());
  std::vector<int32_t> masked;
  for (size_t i = 0; i < qt.size(); i++)
    if (qm[i]) masked.push_back(qt[i]);
  CHECK(t.decode(masked) == "하루가 또 가네요.<|eot_id|>답변입니다.<|eot_id|>");
}

TEST_CASE("prep chat: bad input -> one-line error naming file and line, nothing written") {
  tok();
  const std::string in = kDir + "/bad_in.jsonl";
  write(in, jsonl_line(fixture()[0]) + "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}\n");
  const std::string prefix = kDir + "/badout/x";
  Run r = run_prep({"chat", "--tokenizer", kDir + "/tok.json", "--out-prefix", prefix, "--seq-len", "64", in});
  CHECK(r.rc == 1);
  CHECK(r.err == "error: " + in + ":2: conversation has no assistant turn (nothing to train on)\n");
  CHECK(!fs::exists(kDir + "/badout"));
  r = run_prep({"chat", "--tokenizer", kDir + "/tok.json", "--out-prefix", prefix, "--seq-len", "1", in});
  CHECK(r.rc == 2);
  CHECK(contains(r.err, "--seq-len: 1 outside"));
  r = run_prep({"chat", "--tokenizer", kDir + "/tok.json", "--out-prefix", prefix, "--seq-len", "64", "--format",
                "xml", in});
  CHECK(r.rc == 2);
  CHECK(contains(r.err, "--format: 'xml'"));
  r = run_prep({"chat", "--tokenizer", kDir + "/tok.json", "--out-prefix", prefix, "--seq-len", "64", "--overlong",
                "truncate", in});
  CHECK(r.rc == 2);
  CHECK(contains(r.err, "--overlong: 'truncate' (want split or drop)"));
  // Every conversation longer than T with --overlong drop: an error that says why, not an empty shard.
  const std::string one = kDir + "/one_in.jsonl";
  write(one, jsonl_line(fixture()[0]));
  r = run_prep({"chat", "--tokenizer", kDir + "/tok.json", "--out-prefix", prefix, "--seq-len", "4", "--val-fraction",
                "0", "--overlong", "drop", one});
  CHECK(r.rc == 1);
  CHECK(contains(r.err, "were dropped by --overlong drop; raise --seq-len"));
  r = run_prep({"chat", "--tokenizer", kDir + "/missing.json", "--out-prefix", prefix, "--seq-len", "64", in});
  CHECK(r.rc == 1);
  CHECK(contains(r.err, kDir + "/missing.json"));
  CHECK(!fs::exists(kDir + "/badout"));
}
