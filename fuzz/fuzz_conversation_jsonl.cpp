// libFuzzer harness: the conversation readers of `prep chat` (src/chat_template.h). The first input byte picks
// the reader, the rest is the file (written to a scratch file on tmpfs: the readers take a path):
//   0 read_conversations_jsonl ({"messages": [...]} per line)   1 the same, assistant turn not required
//   2 read_qa_jsonl (Q/A string fields)                           3 read_qa_csv (RFC 4180, Q/A columns)
// Every conversation a reader accepts is then encoded with the chat template: tokens and loss mask have the same
// length, and decode(tokens) == render_chat(conversation) (the template's documented contract). Only
// beop::Error may come out.
// fuzz-sources: src/chat_template.cpp src/csv.cpp src/jsonl.cpp src/text.cpp src/tokenizer.cpp src/unicode.cpp src/utf8.cpp src/nfc.cpp src/io.cpp src/common.cpp src/tokenizer_json.cpp src/bpe_trainer.cpp src/progress.cpp
#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "src/chat_template.h"
#include "src/common.h"
#include "src/tokenizer.h"

namespace {

const beop::Tokenizer& chat_tokenizer() {  // byte-level BPE with the template's special tokens
  static const beop::Tokenizer tk = [] {
    beop::BpeTrainOptions o;
    o.vocab_size = 320;
    o.threads = 1;
    o.progress = false;
    return beop::Tokenizer::train_from_texts({"user assistant system 법원 판결 the court\n\n"}, o);
  }();
  return tk;
}

}  // namespace

void beop_fuzz_seeds(const std::string& dir) {
  const std::string jsonl =
      "{\"messages\":[{\"role\":\"system\",\"content\":\"법률 상담\"},{\"role\":\"user\",\"content\":\"질문?\"},"
      "{\"role\":\"assistant\",\"content\":\"답변 <|eot_id|> 입니다.\"}]}\r\n\n"
      "{\"messages\":[{\"role\":\"user\",\"content\":\"a\\u0000b\"},{\"role\":\"assistant\",\"content\":\"\"}]}\n";
  beop_fuzz::seed(dir, "jsonl", std::string(1, '\0') + jsonl);
  beop_fuzz::seed(dir, "jsonl_no_assistant",
                  std::string(1, '\1') + "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}\n");
  beop_fuzz::seed(dir, "qa_jsonl", std::string(1, '\2') + "{\"Q\": \"질문\", \"A\": \"답\"}\n{\"Q\": \"q2\", \"A\": \"a2\", \"x\": 1}\n");
  beop_fuzz::seed(dir, "qa_csv", std::string(1, '\3') + "Q,A,label\n\"a, \"\"quoted\"\"\nline\",answer,0\n질문,답,1\n");
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int mode = data[0] % 4;
  const std::string path = beop_fuzz::scratch_dir() + "/conversations";
  beop_fuzz::put_file(path, data + 1, size - 1);
  std::vector<beop::Conversation> convs;
  std::vector<int64_t> lines;
  try {
    if (mode <= 1) convs = beop::read_conversations_jsonl(path, mode == 0, &lines);
    else if (mode == 2) convs = beop::read_qa_jsonl(path, "Q", "A", &lines);
    else convs = beop::read_qa_csv(path, "Q", "A", &lines);
  } catch (const beop::Error&) {
    return 0;
  }
  if (lines.size() != convs.size()) std::abort();
  for (size_t i = 0; i < convs.size() && i < 16; i++) {
    for (bool gen : {false, true}) {
      const beop::EncodedChat e = beop::encode_chat(chat_tokenizer(), convs[i], gen);  // accepted: must encode
      if (e.tokens.size() != e.loss_mask.size()) std::abort();
      if (chat_tokenizer().decode(e.tokens) != beop::render_chat(convs[i], gen)) std::abort();
    }
  }
  return 0;
}
