// Corpus recipes (`prep corpora`): the bundled corpora ($BEOP_DATA, shared/data/README.md) -> the JSONL files the
// rest of the pipeline consumes (docs/DATA.md, "Corpora recipes"):
//   legal_cpt.jsonl      {"text","source","id"}  statute articles, precedents (TRAIN split only) 판시사항/판결요지/
//                                                full text, precedent_summaries_1000, easylaw guide sections
//   general_cpt.jsonl    {"text","source","id"}  movie reviews, UD Korean sentences, Debian FAQ, tinyshakespeare
//   it_legal_precedents.jsonl  conversations: 판시사항 -> 판결요지 (TRAIN split + summaries_1000)
//   it_legal_easylaw.jsonl     conversations: guide section title -> section text
//   it_general_chatbot.jsonl   conversations: songys ChatbotData Q -> A
// (`prep shards` makes the held-out validation split of the CPT files; `prep chat` that of the conversations.)
//
// Evaluation data never reaches these files: the precedents TEST split (id, case_no, 판시사항/판결요지 text),
// KoBLEX questions/answers, KMMLU Criminal-Law test questions/options and every NHRCK counsel case form an
// EvalBlocklist; a training document that contains any blocked case number or text segment is dropped whole.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "legal/eval_blocklist.h"  // EvalBlocklist, case_numbers_in: the recipes' filter

namespace beop::corpora {

struct Stats {
  std::map<std::string, int64_t> docs, chars, dropped;  // by output/source key, e.g. "legal_cpt/precedent"
};

struct Options {
  std::string data_root;  // corpora root ($BEOP_DATA)
  std::string out_dir;    // e.g. data/build
};
// Builds every file above into out_dir (atomically, each), returns the per-source counts.
Stats build_corpora(const Options& opt);

// `prep corpora --out DIR [--data ROOT]`.
int prep_corpora_main(int argc, char** argv);

}  // namespace beop::corpora
