#include "data/prep/prep_main.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <thread>

#include "data/prep/prep_chat.h"
#include "data/prep/prep_docs.h"
#include "data/prep/prep_hf.h"
#include "data/prep/prep_index.h"
#include "data/prep/prep_statutes.h"
#include "data/prep/prep_tasks.h"
#include "legal/corpora.h"
#include "legal/lawqa.h"
#include "legal/statutes.h"
#include "src/common.h"
#include "src/flags.h"
#include "src/io.h"
#include "src/text.h"
#include "src/rng.h"
#include "src/shard.h"
#include "src/tokenizer.h"

namespace beop::prep {

namespace {

struct Subcommand {
  const char* name;
  const char* summary;
  int (*fn)(int argc, char** argv);
};

// The dispatch table. New subcommands (e.g. statutes, lawqa) slot in as one row each.
const Subcommand kSubcommands[] = {
    {"tokenizer", "train a byte-level BPE tokenizer (tokenizer.json) on text/Markdown/JSONL/TSV", prep_tokenizer_main},
    {"shards", "encode text/Markdown/JSONL/TSV into train/val token shards", prep_shards_main},
    {"statutes", "parse legalize-kr statute Markdown into an articles JSONL", beop::statutes::prep_statutes_main},
    {"chat", "encode conversations (JSONL / Q,A CSV) with the chat template into packed, masked shards", prep_chat_main},
    {"lawqa", "statute-grounded law QA (template or endpoint generator) as conversation JSONL", beop::lawqa::prep_lawqa_main},
    {"corpora", "build the CPT text corpora and instruction sets from the bundled corpora (no eval leakage)", beop::corpora::prep_corpora_main},
    {"index", "build the BM25 statute retrieval index (for infer chat --ref auto)", beop::retrieval::prep_index_main},
    {"tasks", "build the evaluation task files (complaint, summary, petition, qa, mrc) for infer eval", beop::eval::prep_tasks_main},
    {"export-hf", "export a checkpoint as a Hugging Face model directory (safetensors)", prep_export_hf_main},
    {"export-gguf", "export a checkpoint as a GGUF file for llama.cpp / Ollama (f32, bf16 or q8_0)", prep_export_gguf_main},
    {"import-hf", "import a Hugging Face Llama/Qwen2 model directory as a beop checkpoint", prep_import_hf_main},
    {"hf-memory", "memory table for training a Hugging Face / preset model (no allocation)", prep_hf_memory_main},
};

std::string top_help() {
  std::string h = "usage: prep <subcommand> [flags] [FILES...]\n\nsubcommands:\n";
  for (auto& s : kSubcommands) {
    std::string n = std::string("  ") + s.name;
    n.resize(std::max<size_t>(n.size() + 1, 14), ' ');
    h += n + s.summary + "\n";
  }
  h += "\n`prep <subcommand> --help` lists that subcommand's flags and defaults.\n";
  return h;
}

std::string basename_of(const std::string& p) {
  size_t s = p.find_last_of('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}

// Flags shared by every subcommand that reads corpus files.
void add_doc_flags(Flags& f) {
  f.add("doc-split", "file", ".txt/.md: 'file' = one document per file, 'blank' = per blank-line-separated block, 'line' = per line");
  f.add("field", "text", ".jsonl: field holding the text (comma-separated list: joined with a blank line)");
  f.add("column", "0", ".tsv: 0-based column holding the text");
  f.add_bool("tsv-header", ".tsv: the first line is a header (skipped)");
}

DocOptions doc_options(const Flags& f) {
  DocOptions o;
  o.doc_split = f.str("doc-split");
  if (o.doc_split != "file" && o.doc_split != "blank" && o.doc_split != "line")
    throw UsageError(cat("--doc-split: '", o.doc_split, "' (want file, blank or line)"));
  o.fields = split(f.str("field"), ',');
  if (o.fields.empty()) throw UsageError("--field: empty");
  int64_t c = f.i64("column");
  if (c < 0 || c > 1000000) throw UsageError(cat("--column: ", c, " out of range"));
  o.column = (int)c;
  o.tsv_header = f.on("tsv-header");
  return o;
}

int threads_from(const Flags& f) {
  int64_t t = f.i64("threads");
  if (t < 0) throw UsageError(cat("--threads: ", t, " must be >= 0"));
  if (t == 0) t = std::max(1u, std::thread::hardware_concurrency());
  return (int)std::min<int64_t>(t, 256);
}

std::string counts(uint64_t docs, uint64_t dtrain, uint64_t dval, uint64_t toks, uint64_t ttrain, uint64_t tval) {
  return cat(docs, " documents (", dtrain, " train, ", dval, " val), ", toks, " tokens (", ttrain, " train, ", tval,
             " val)");
}

}  // namespace

// ------------------------------------------------------------------------------------------------ tokenizer

int prep_tokenizer_main(int argc, char** argv) {
  Flags f("prep tokenizer", "--vocab N --out tok.json [flags] FILES...",
          "Trains a byte-level BPE tokenizer (Hugging Face tokenizer.json) on the documents of FILES.");
  f.add("vocab", "8192", "total vocabulary size, including the 256 byte tokens and the special tokens");
  f.add("out", "", "output tokenizer.json (written atomically)", true);
  f.add("threads", "0", "training threads; 0 = all cores");
  add_doc_flags(f);
  f.add_bool("quiet", "no progress bar");
  if (!f.parse(argc, argv)) return 0;
  if (f.positional().empty()) throw UsageError("no input FILES (see prep tokenizer --help)");
  int64_t vocab = f.i64("vocab");
  if (vocab < 300 || vocab > (1 << 24)) throw UsageError(cat("--vocab: ", vocab, " outside [300, 16777216]"));
  // --out a/b/tok.json: create a/b now (mkdir -p), so a bad path fails before minutes of training.
  const std::string out = f.str("out");
  if (const size_t slash = out.find_last_of('/'); slash != std::string::npos && slash > 0) make_dirs(out.substr(0, slash));
  DocOptions dopt = doc_options(f);
  std::vector<std::string> texts;
  uint64_t bytes = 0;
  for (auto& file : f.positional()) {
    auto docs = read_documents(file, dopt);
    for (auto& d : docs) {
      bytes += d.size();
      texts.push_back(std::move(d));
    }
  }
  BpeTrainOptions opt;
  opt.vocab_size = (int)vocab;
  opt.threads = threads_from(f);
  opt.progress = !f.on("quiet") && ::isatty(2);
  Tokenizer tok = Tokenizer::train_from_texts(texts, opt);
  tok.save(f.str("out"));
  std::cout << "prep tokenizer: " << f.positional().size() << " files, " << texts.size() << " documents, " << bytes
            << " bytes -> " << f.str("out") << " (vocab " << tok.vocab_size() << ")\n";
  return 0;
}

// ------------------------------------------------------------------------------------------------ shards

int prep_shards_main(int argc, char** argv) {
  Flags f("prep shards", "--tokenizer tok.json --out-prefix PREFIX [flags] FILES...",
          "Splits FILES into documents, assigns each to train or val by a hash of (seed, file name, document\n"
          "index in its file), encodes it with <|end_of_text|> (Qwen2: <|endoftext|>) appended, and writes PREFIX_train_NNN.bin and\n"
          "PREFIX_val_NNN.bin token shards (docs/FORMATS.md). Nothing is written unless every input is valid.");
  f.add("tokenizer", "", "tokenizer.json to encode with", true);
  f.add("out-prefix", "", "output prefix, e.g. data/build/legal", true);
  f.add("val-fraction", "0.05", "fraction of documents (in expectation) that go to validation, in [0, 1)");
  f.add("seed", "1", "seed of the train/val assignment");
  f.add("shard-tokens", "100000000", "start a new shard once one holds this many tokens");
  f.add("threads", "0", "encoding threads; 0 = all cores");
  add_doc_flags(f);
  f.add_bool("quiet", "no progress bar");
  if (!f.parse(argc, argv)) return 0;
  const auto& files = f.positional();
  if (files.empty()) throw UsageError("no input FILES (see prep shards --help)");
  double val_fraction = f.f64("val-fraction");
  if (!(val_fraction >= 0 && val_fraction < 1)) throw UsageError(cat("--val-fraction: ", val_fraction, " outside [0, 1)"));
  int64_t seed = f.i64("seed");
  int64_t shard_tokens = f.i64("shard-tokens");
  if (shard_tokens <= 0) throw UsageError(cat("--shard-tokens: ", shard_tokens, " must be positive"));
  int threads = threads_from(f);
  DocOptions dopt = doc_options(f);
  const std::string tok_path = f.str("tokenizer"), prefix = f.str("out-prefix");

  // 1. Read and validate every input before encoding or writing anything.
  struct Doc {
    int file;
    bool val;
    std::string text;
    std::vector<int32_t> ids;
  };
  std::vector<Doc> docs;
  uint64_t total_bytes = 0;
  for (int fi = 0; fi < (int)files.size(); fi++) {
    auto texts = read_documents(files[fi], dopt);
    uint64_t name_hash = fnv1a64(basename_of(files[fi]));
    for (size_t di = 0; di < texts.size(); di++) {
      uint64_t h = mix64(mix64((uint64_t)seed ^ name_hash) ^ mix64(di));
      bool val = (double)(h >> 11) * 0x1.0p-53 < val_fraction;
      total_bytes += texts[di].size();
      docs.push_back({fi, val, std::move(texts[di]), {}});
    }
  }

  // 2. Encode in parallel; each thread has its own tokenizer so nothing shared is mutated.
  Tokenizer tok0 = Tokenizer::load(tok_path);
  const int32_t eos = tok0.eos_id();
  if (eos < 0) fail(tok_path, ": tokenizer has no end-of-document token (", kEndOfText, " or ", kEndOfTextQwen, ")");
  const int64_t vocab = tok0.vocab_size();
  threads = (int)std::min<size_t>((size_t)threads, std::max<size_t>(1, docs.size() / 4));
  std::vector<std::unique_ptr<Tokenizer>> toks;
  toks.push_back(std::make_unique<Tokenizer>(std::move(tok0)));
  for (int t = 1; t < threads; t++) toks.push_back(std::make_unique<Tokenizer>(Tokenizer::load(tok_path)));
  Progress bar("encoding " + std::to_string(docs.size()) + " documents", total_bytes, !f.on("quiet"));
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> done_bytes{0};
  std::vector<std::string> errors(threads);
  auto work = [&](int t) {
    try {
      for (size_t i; (i = next.fetch_add(1)) < docs.size();) {
        docs[i].ids = toks[t]->encode(docs[i].text, /*allow_special=*/false);
        docs[i].ids.push_back(eos);
        done_bytes += docs[i].text.size();
        std::string().swap(docs[i].text);
        if (t == 0) bar.update(done_bytes);
      }
    } catch (const std::exception& e) {
      errors[t] = e.what();
      next = docs.size();  // stop the others
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; t++) pool.emplace_back(work, t);
  work(0);
  for (auto& th : pool) th.join();
  for (auto& e : errors)
    if (!e.empty()) fail(e);
  bar.finish();

  // 3. Pack documents into shards in input order (all in memory), then commit them.
  struct Split {
    std::string name;
    std::vector<std::unique_ptr<ShardWriter>> writers;
    uint64_t docs = 0, tokens = 0;
  };
  Split split[2] = {{"train", {}, 0, 0}, {"val", {}, 0, 0}};
  std::vector<std::array<uint64_t, 4>> per_file(files.size(), {0, 0, 0, 0});  // docs train/val, tokens train/val
  auto shard_name = [&](const std::string& s, size_t k) {
    char num[16];
    std::snprintf(num, sizeof num, "%03zu", k);
    return prefix + "_" + s + "_" + num + ".bin";
  };
  for (auto& d : docs) {
    Split& s = split[d.val];
    if (s.writers.empty() || (s.writers.back()->n_tokens() > 0 &&
                              s.writers.back()->n_tokens() + d.ids.size() > (uint64_t)shard_tokens))
      s.writers.push_back(std::make_unique<ShardWriter>(shard_name(s.name, s.writers.size()), vocab));
    s.writers.back()->add_document(d.ids);
    s.docs++;
    s.tokens += d.ids.size();
    per_file[d.file][d.val]++;
    per_file[d.file][2 + d.val] += d.ids.size();
  }
  if (val_fraction > 0 && split[1].writers.empty())  // write an empty val shard: the layout stays predictable
    split[1].writers.push_back(std::make_unique<ShardWriter>(shard_name("val", 0), vocab));
  size_t slash = prefix.find_last_of('/');
  if (slash != std::string::npos && slash > 0) make_dirs(prefix.substr(0, slash));
  for (auto& s : split)
    for (auto& w : s.writers) w->finish();
  // A previous run into the same prefix may have written more shards; a loader glob would pick them up, so
  // remove PREFIX_<split>_NNN.bin beyond the ones just written.
  std::vector<std::string> removed;
  for (auto& s : split)
    for (size_t k = s.writers.size(); file_exists(shard_name(s.name, k)); k++) {
      std::string stale = shard_name(s.name, k);
      if (std::remove(stale.c_str()) != 0) fail("cannot remove stale shard ", stale);
      removed.push_back(stale);
    }

  std::cout << "prep shards: tokenizer " << tok_path << " (vocab " << vocab << "), seed " << seed
            << ", val fraction " << val_fraction << "\n";
  for (size_t fi = 0; fi < files.size(); fi++) {
    auto& c = per_file[fi];
    std::cout << "  " << files[fi] << ": " << counts(c[0] + c[1], c[0], c[1], c[2] + c[3], c[2], c[3]) << "\n";
  }
  std::cout << "total: "
            << counts(split[0].docs + split[1].docs, split[0].docs, split[1].docs, split[0].tokens + split[1].tokens,
                      split[0].tokens, split[1].tokens)
            << "\n";
  for (auto& s : split)
    for (auto& w : s.writers)
      std::cout << "wrote " << w->path() << ": " << w->n_docs() << " documents, " << w->n_tokens() << " tokens\n";
  for (auto& r : removed) std::cout << "removed stale " << r << "\n";
  if (val_fraction > 0 && split[1].docs == 0)
    std::cerr << "warning: no document fell into val (" << docs.size() << " documents, val fraction " << val_fraction
              << "); " << shard_name("val", 0) << " is empty\n";
  return 0;
}

// ------------------------------------------------------------------------------------------------ dispatch

int prep_main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << top_help();
    return 2;
  }
  std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::cout << top_help();
    return 0;
  }
  try {
    for (auto& s : kSubcommands)
      if (cmd == s.name) {
        int rc = s.fn(argc - 1, argv + 1);
        std::cout.flush();
        return rc;
      }
    throw UsageError(cat("unknown subcommand '", cmd, "' (see prep --help)"));
  } catch (const UsageError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace beop::prep
