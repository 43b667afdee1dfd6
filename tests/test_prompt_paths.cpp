// The Q + Ref => A prompt is built ONCE (legal/prompt.h, legal/reference_hook.h) and the three paths that use it
// give the model byte-identical input for the same question and reference:
//   IT prep   prep lawqa's qa_ref_in line (lawqa::conversation_json_line) and prep chat --ref auto on plain Q/A,
//             both read back from the packed shards;
//   chat/serve `infer chat --ref auto` (subprocess) and the server's "reference":"auto" (in process), checked by
//             their prompt token counts and greedy answers against the Generator on the expected ids;
//   eval      eval::item_conversation with the same hook.
// Expected text and ids: prompt::user_with_reference spelled out, encoded by the chat template.
#include <doctest/doctest.h>

#include <thread>

#include <nlohmann/json.hpp>

#include "cpu/model_cpu.h"
#include "data/prep/prep_chat.h"
#include "legal/eval/runner.h"
#include "legal/lawqa.h"
#include "legal/prompt.h"
#include "legal/reference_hook.h"
#include "legal/retrieval.h"
#include "legal/serve/httplib_config.h"
#include "legal/serve/server.h"
#include "src/flags.h"
#include "src/io.h"
#include "src/shard.h"
#include "tests/infer_fixture.h"
#include "tests/test_util.h"

using namespace beop;
using json = nlohmann::json;

namespace {

const std::string kDir = "build/test_prompt_paths";
const std::string kQ = "임대차 등기가 없으면 대항력이 있나요?";
const std::string kCite = "주택임대차보호법 제3조";
const std::string kText =
    "임대차는 그 등기가 없는 경우에도 임차인이 주택의 인도와 주민등록을 마친 때에는 그 다음 날부터 제삼자에 대하여 "
    "효력이 생긴다.";

struct Fixture {
  std::string run, index;
  Tokenizer tok;
  std::unique_ptr<CausalLM> lm;
  Fixture() {
    run = test::make_infer_fixture(kDir + "/fixture", 256);
    lm = load_causal_lm(run, &tok);
    // Two articles; the question retrieves kCite first.
    std::vector<retrieval::Doc> docs(2);
    docs[0].law = "주택임대차보호법", docs[0].article_id = "제3조", docs[0].title = "대항력 등";
    docs[0].citation = kCite, docs[0].text = kText;
    docs[1].law = "근로기준법", docs[1].article_id = "제23조", docs[1].title = "해고 등의 제한";
    docs[1].citation = "근로기준법 제23조";
    docs[1].text = "사용자는 근로자에게 정당한 이유 없이 해고, 휴직, 정직, 전직, 감봉, 그 밖의 징벌을 하지 못한다.";
    index = kDir + "/statutes.idx";
    retrieval::RetrievalIndex::build_docs(docs).save(index);
  }
};
Fixture& fx() {
  static Fixture f;
  return f;
}

// The training layout, spelled out (docs/DATA.md), and its ids as a generation prompt.
std::string want_turn() { return "[참조 조문] " + kCite + "\n" + kText + "\n\n[질문] " + kQ; }
std::vector<int32_t> want_ids() { return encode_chat(fx().tok, {{"user", want_turn()}}, true).tokens; }

GenerateResult greedy(const std::vector<int32_t>& ids, int n) {
  Generator g(*fx().lm, fx().tok);
  GenerateOptions o;
  o.sampling.temperature = 0;
  o.max_new_tokens = n;
  return g.generate(ids, o);
}

// `prep chat` on one JSONL file -> the tokens and mask of its (single-conversation) train shard.
void prep_chat(const std::string& jsonl, const std::string& prefix, const std::vector<std::string>& extra,
               std::vector<int32_t>* toks, std::vector<uint8_t>* mask) {
  std::vector<std::string> args = {"chat", "--tokenizer", kDir + "/fixture/tok.json", "--out-prefix", prefix,
                                   "--seq-len", "512", "--val-fraction", "0"};
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back(jsonl);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  REQUIRE(prep::prep_chat_main(int(argv.size()), argv.data()) == 0);
  ShardReader r(prefix + "_train_000.bin");
  toks->resize(size_t(r.n_tokens()));
  mask->resize(size_t(r.n_tokens()));
  r.read_tokens(0, r.n_tokens(), toks->data());
  r.read_mask(0, r.n_tokens(), mask->data());
}

}  // namespace

TEST_CASE("the hook builds the documented layout and names what it cited; no hit or --ref none: the question") {
  const prompt::ReferenceHook hook = prompt::ReferenceHook::make("auto", fx().index, 1);
  std::vector<std::string> cited;
  CHECK(hook.user_turn(kQ, &cited) == want_turn());
  CHECK(cited == std::vector<std::string>{kCite});
  CHECK(prompt::user_with_reference(kCite, kText, kQ) == want_turn());
  CHECK(hook.user_turn("zzz", &cited) == "zzz");  // nothing retrieved: no empty reference header
  CHECK(cited.empty());
  const prompt::ReferenceHook none = prompt::ReferenceHook::make("none", "no/such.idx", 3);
  CHECK(!none);
  CHECK(none.user_turn(kQ) == kQ);
  // One policy for a missing index everywhere: the file and the command that builds it.
  CHECK_THROWS_WITH_AS(prompt::ReferenceHook::make("auto", kDir + "/none.idx", 1),
                       ("--ref auto: statute index " + kDir + "/none.idx not found (build it with: ./prep index --out " +
                        kDir + "/none.idx)").c_str(),
                       Error);
  CHECK_THROWS_AS(prompt::ReferenceHook::make("sometimes", fx().index, 1), UsageError);
  CHECK_THROWS_AS(prompt::ReferenceHook::make("auto", fx().index, 0), UsageError);
}

TEST_CASE("IT prep, chat, serve and eval give the model the same Q + Ref prompt, byte for byte and id for id") {
  const std::vector<int32_t> ids = want_ids();
  REQUIRE(ids.size() > 20);

  // IT prep: prep lawqa's qa_ref_in line, and plain Q/A through prep chat --ref auto: identical shards whose
  // conversation starts with exactly the generation prompt (mask 0: the prompt is not trained on).
  lawqa::QAItem it;
  it.question = kQ, it.answer = "대항력이 있습니다.", it.citation = kCite, it.reference = kText;
  write_file_atomic(kDir + "/ref_in.jsonl", lawqa::conversation_json_line(it, lawqa::Format::RefIn));
  write_file_atomic(kDir + "/plain.jsonl", lawqa::conversation_json_line(it, lawqa::Format::QA));
  std::vector<int32_t> t_lawqa, t_auto;
  std::vector<uint8_t> m_lawqa, m_auto;
  prep_chat(kDir + "/ref_in.jsonl", kDir + "/it_ref_in", {}, &t_lawqa, &m_lawqa);
  prep_chat(kDir + "/plain.jsonl", kDir + "/it_auto", {"--ref", "auto", "--index", fx().index, "--ref-k", "1"}, &t_auto,
            &m_auto);
  CHECK(t_lawqa == t_auto);
  CHECK(m_lawqa == m_auto);
  REQUIRE(t_lawqa.size() > ids.size());
  CHECK(std::vector<int32_t>(t_lawqa.begin(), t_lawqa.begin() + long(ids.size())) == ids);
  CHECK(std::count(m_lawqa.begin(), m_lawqa.begin() + long(ids.size()), 1) == 0);
  CHECK(m_lawqa[ids.size()] == 1);  // the answer's first token is trained

  // Eval: the item's conversation with the same hook (QA takes references; Summary carries its document).
  const prompt::ReferenceHook hook = prompt::ReferenceHook::make("auto", fx().index, 1);
  eval::TaskItem qa;
  qa.task = eval::Task::QA, qa.id = "q", qa.reference = "x", qa.messages = {{"user", kQ}};
  const Conversation ec = eval::item_conversation(qa, "", hook);
  REQUIRE(ec.size() == 1);
  CHECK(ec[0].content == want_turn());
  CHECK(encode_chat(fx().tok, ec, true).tokens == ids);
  eval::TaskItem sum = qa;
  sum.task = eval::Task::Summary;
  CHECK(eval::item_conversation(sum, "", hook)[0].content == kQ);

  // Chat: the Generator's chat prompt of the hooked turn, and `infer chat --ref auto` end to end.
  Generator gen(*fx().lm, fx().tok);
  CHECK(gen.chat_prompt({{"user", hook.user_turn(kQ)}}) == ids);
  const GenerateResult want = greedy(ids, 4);
  const test::ShellResult chat = test::shell(
      "./infer chat --model " + fx().run + " --threads 1 --prompt '" + kQ + "' --system none --temperature 0 "
      "--repeat-penalty 1 --max-tokens 4 --stats --ref auto --ref-k 1 --index " + fx().index, true);
  CAPTURE(chat.out);
  CHECK(chat.rc == 0);
  CHECK(chat.out.find(cat("[prompt ", ids.size(), " tokens")) != std::string::npos);
  CHECK(chat.out.rfind(want.text + "\n", 0) == 0);

  // Serve: "reference":"auto" through the hook infer serve installs.
  ServerOptions so;
  so.default_system = "none";
  so.reference = hook;
  ChatServer server(gen, so);
  const int port = server.bind("127.0.0.1", 0);
  std::thread th([&] { server.run(); });
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(60, 0);
  const json body = {{"messages", {{{"role", "user"}, {"content", kQ}}}}, {"reference", "auto"},
                     {"temperature", 0}, {"max_tokens", 4}};
  for (int i = 0; i < 200; i++) {  // until it answers
    if (auto h = c.Get("/health"); h && h->status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  httplib::Result res = c.Post("/v1/chat/completions", body.dump(), "application/json");
  server.stop();
  th.join();
  REQUIRE(res);
  REQUIRE(res->status == 200);
  const json j = json::parse(res->body);
  CHECK(j["usage"]["prompt_tokens"] == ids.size());
  CHECK(j["choices"][0]["message"]["content"] == want.text);
}
