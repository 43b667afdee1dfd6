// libFuzzer harness: Hugging Face tokenizer.json (src/tokenizer.h). The input is the whole file; Tokenizer::load
// reads it from a scratch file on tmpfs (load takes a path). A tokenizer it accepts must then work: encode the
// input's first bytes as text (with and without special tokens), decode them back (== the text, NFC'd for a
// NFC tokenizer), and save/load to the same vocabulary. Only beop::Error may come out.
// fuzz-sources: src/tokenizer.cpp src/unicode.cpp src/utf8.cpp src/nfc.cpp src/io.cpp src/common.cpp src/tokenizer_json.cpp src/bpe_trainer.cpp src/progress.cpp
#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "src/common.h"
#include "src/nfc.h"
#include "src/tokenizer.h"

void beop_fuzz_seeds(const std::string& dir) {
  beop::BpeTrainOptions o;
  o.vocab_size = 300;
  o.threads = 1;
  o.progress = false;
  const beop::Tokenizer tk = beop::Tokenizer::train_from_texts({"abc abc abd 법원 법률 법원 the law, the court."}, o);
  tk.save(dir + "/trained.json");
  // The Qwen2 layout (NFC normalizer, Qwen2 regex): the trained file with those two parts swapped in.
  std::string q = tk.to_json();
  const std::string nfc_norm = "\"normalizer\": {\"type\": \"NFC\"}";
  if (q.find("\"normalizer\": null") != std::string::npos) {
    q.replace(q.find("\"normalizer\": null"), 18, nfc_norm);
    beop_fuzz::seed(dir, "nfc.json", q);
  }
  o.vocab_size = 262;  // bytes + specials + one merge: the smallest useful file
  beop::Tokenizer::train_from_texts({"aaaa"}, o).save(dir + "/tiny.json");
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = beop_fuzz::scratch_dir() + "/tokenizer.json";
  beop_fuzz::put_file(path, data, size);
  beop::Tokenizer tk;
  try {
    tk = beop::Tokenizer::load(path);
  } catch (const beop::Error&) {
    return 0;
  }
  const std::string text(reinterpret_cast<const char*>(data), std::min<size_t>(size, 200));
  for (bool special : {false, true}) {
    try {
      const std::vector<int32_t> ids = tk.encode(text, special);
      for (int32_t id : ids)
        if (id < 0 || id >= tk.vocab_size()) std::abort();
      const std::string back = tk.decode(ids);
      if (back != (tk.normalizes_nfc() ? beop::nfc(text) : text)) std::abort();  // decode(encode(x)) == x
    } catch (const beop::Error&) {  // invalid UTF-8, or a vocabulary without some byte's token
    }
  }
  // save -> load keeps every id
  const std::string again = beop_fuzz::scratch_dir() + "/again.json";
  beop_fuzz::put_file(again, tk.to_json());
  if (beop::Tokenizer::load(again).vocab_size() != tk.vocab_size()) std::abort();
  return 0;
}
