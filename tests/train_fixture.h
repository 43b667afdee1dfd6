// The ./train fixture shared by the end-to-end training tests (test_train.cpp, test_train_kill.cpp): a small
// tokenizer (vocab 300) and two sources of token shards whose text is a random walk over a few ids, so the loss
// has something to learn; the command line that trains the tiny preset on them; a run's logged train lines.
// Each test binary writes its fixture into its own directory (tests may run in parallel binaries).
#pragma once
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "src/io.h"
#include "src/rng.h"
#include "src/shard.h"
#include "src/tokenizer.h"

namespace beop::test {

inline void make_train_fixture(const std::string& dir) {
  std::filesystem::remove_all(dir);
  make_dirs(dir);
  BpeTrainOptions bo;
  bo.vocab_size = 300;
  bo.progress = false;
  Tokenizer::train_from_texts({"법원은 판결한다. 임대차는 등기가 없는 경우에도 효력이 있다.", "To be or not to be."}, bo)
      .save(dir + "/tok.json");
  Rng r(3);
  for (const char* src : {"legal", "general"}) {
    for (const char* split : {"train", "val"}) {
      ShardWriter w(dir + "/" + src + "_" + split + "_000.bin", 300);
      for (int d = 0; d < (std::string(split) == "train" ? 40 : 6); d++) {
        std::vector<int32_t> doc;
        int32_t t = int32_t(r.below(50)) + (src[0] == 'l' ? 0 : 100);
        for (int i = 0; i < 200; i++) doc.push_back(t = (t + int32_t(r.below(3))) % 300);
        w.add_document(doc);
      }
      w.finish();
    }
  }
}

// ./train on the fixture in `dir`, writing the run to `out`, with `extra` flags appended.
inline std::string train_command(const std::string& dir, const std::string& out, const std::string& extra = "") {
  return "./train --tokenizer " + dir + "/tok.json --data 'legal=" + dir + "/legal_train_*.bin:0.7,general=" + dir +
         "/general_train_*.bin:0.3' --val 'legal=" + dir + "/legal_val_*.bin,general=" + dir +
         "/general_val_*.bin' --batch 2 --seq 32 --eval-every 5 --val-batches 2 --quiet --threads 2 --out " + out +
         " " + extra;
}

// The "train" lines of RUN/metrics.jsonl without their timing field (tok_s), for exact comparison of runs.
inline std::vector<std::string> logged_train_lines(const std::string& run) {
  std::ifstream in(run + "/metrics.jsonl");
  std::vector<std::string> v;
  std::string line;
  while (std::getline(in, line))
    if (line.find("\"type\":\"train\"") != std::string::npos) {
      const size_t a = line.find(",\"tok_s\":");
      if (a != std::string::npos) line.erase(a, line.find_first_of(",}", a + 1) - a);
      v.push_back(line);
    }
  return v;
}

}  // namespace beop::test
