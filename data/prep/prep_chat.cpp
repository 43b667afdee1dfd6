// `prep chat`: conversations -> chat-template tokens + loss masks -> packed blocks of T -> masked token shards.
#include "data/prep/prep_chat.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <iostream>
#include <memory>

#include "data/prep/prep_main.h"
#include "legal/reference_hook.h"
#include "src/common.h"
#include "src/flags.h"
#include "src/io.h"
#include "src/rng.h"
#include "src/shard.h"
#include "src/tokenizer.h"

namespace beop::prep {

namespace {

std::string base_name(const std::string& p) {
  size_t s = p.find_last_of('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}

}  // namespace

PackStats pack_conversations(const std::vector<EncodedChat>& convs, int T, int32_t pad, std::vector<int32_t>& tokens,
                             std::vector<uint8_t>& mask, Overlong overlong) {
  BEOP_CHECK(T >= 1, "pack_conversations: T = ", T);
  PackStats st;
  int64_t fill = 0;  // tokens in the open block; 0 = no open block
  auto close_block = [&]() {
    if (fill == 0) return;
    st.padding += T - fill;
    tokens.insert(tokens.end(), size_t(T - fill), pad);
    mask.insert(mask.end(), size_t(T - fill), uint8_t(0));
    fill = 0;
  };
  for (const EncodedChat& c : convs) {
    BEOP_CHECK(c.tokens.size() == c.loss_mask.size(), "pack_conversations: tokens/mask size mismatch");
    const int64_t L = (int64_t)c.tokens.size();
    if (L == 0) continue;
    if (L > T && overlong == Overlong::drop) {
      st.dropped++;
      continue;
    }
    st.conversations++;
    st.tokens += L;
    for (uint8_t m : c.loss_mask) st.trained += m != 0;
    if (fill + L > T) close_block();  // does not fit in the open block: it starts a fresh one
    if (L > T) st.split++;
    // Append (possibly across several blocks: a conversation longer than T continues in the next block).
    for (int64_t p = 0; p < L;) {
      if (fill == 0) st.blocks++;
      const int64_t take = std::min<int64_t>(L - p, T - fill);
      tokens.insert(tokens.end(), c.tokens.begin() + p, c.tokens.begin() + p + take);
      mask.insert(mask.end(), c.loss_mask.begin() + p, c.loss_mask.begin() + p + take);
      p += take;
      fill += take;
      if (fill == T) fill = 0;  // block full
    }
  }
  close_block();
  return st;
}

int prep_chat_main(int argc, char** argv) {
  Flags f("prep chat", "--tokenizer tok.json --out-prefix PREFIX --seq-len T [flags] FILES...",
          "Encodes conversations with beop's chat template (loss mask 1 on assistant content + <|eot_id|>), assigns\n"
          "each to train or val by a hash of (seed, file name, line), packs each split into blocks of exactly T\n"
          "tokens (padding <|end_of_text|>, mask 0) and writes masked shards PREFIX_train_NNN.bin /\n"
          "PREFIX_val_NNN.bin for the mixture loader (docs/FORMATS.md, \"Conversations\"). Nothing is written\n"
          "unless every input is valid.");
  f.add("tokenizer", "", "tokenizer.json to encode with", true);
  f.add("out-prefix", "", "output prefix, e.g. data/build/it_legal", true);
  f.add("seq-len", "", "T: the training sequence length (block size)", true);
  f.add("val-fraction", "0.05", "fraction of conversations (in expectation) that go to validation, in [0, 1)");
  f.add("seed", "1", "seed of the train/val assignment");
  f.add("format", "jsonl",
        "jsonl ({\"messages\":[...]} per line), csv-qa (CSV, Q/A columns) or jsonl-qa (JSONL, Q/A string fields)");
  f.add("q-column", "Q", "csv-qa: question column name");
  f.add("a-column", "A", "csv-qa: answer column name");
  f.add("q-field", "상담 내용", "jsonl-qa: question field (default: the NHRCK counsel cases')");
  f.add("a-field", "원본 상담 답변", "jsonl-qa: answer field");
  f.add("shard-tokens", "100000000", "start a new shard once one holds this many tokens (rounded to blocks)");
  f.add("overlong", "split",
        "a conversation longer than T: split (continue it in the next block; its answer may then be trained "
        "without its question in view) | drop (leave it out; counted in the summary)");
  f.add("ref", "none", "auto: every user turn gets its retrieved statutes in front (Q + Ref => A, the layout infer chat "
        "--ref auto asks in) | none");
  f.add("index", "data/build/statutes.idx", "statute retrieval index (./prep index) for --ref auto");
  f.add("ref-k", "3", "articles retrieved per user turn with --ref auto");
  if (!f.parse(argc, argv)) return 0;
  const auto& files = f.positional();
  if (files.empty()) throw UsageError("no input FILES (see prep chat --help)");
  const int64_t T = f.i64("seq-len");
  if (T < 2 || T > (1 << 24)) throw UsageError(cat("--seq-len: ", T, " outside [2, 16777216]"));
  const double val_fraction = f.f64("val-fraction");
  if (!(val_fraction >= 0 && val_fraction < 1)) throw UsageError(cat("--val-fraction: ", val_fraction, " outside [0, 1)"));
  const int64_t seed = f.i64("seed");
  const std::string format = f.str("format");
  if (format != "jsonl" && format != "csv-qa" && format != "jsonl-qa")
    throw UsageError(cat("--format: '", format, "' (want jsonl, csv-qa or jsonl-qa)"));
  const int64_t shard_tokens = f.i64("shard-tokens");
  if (shard_tokens <= 0) throw UsageError(cat("--shard-tokens: ", shard_tokens, " must be positive"));
  const int64_t blocks_per_shard = std::max<int64_t>(1, shard_tokens / T);
  const std::string tok_path = f.str("tokenizer"), prefix = f.str("out-prefix");
  const std::string overlong_s = f.str("overlong");
  if (overlong_s != "split" && overlong_s != "drop")
    throw UsageError(cat("--overlong: '", overlong_s, "' (want split or drop)"));
  const Overlong overlong = overlong_s == "drop" ? Overlong::drop : Overlong::split;

  const prompt::ReferenceHook ref = prompt::ReferenceHook::make(f.str("ref"), f.str("index"), int(f.i64("ref-k")));

  // 1. Read, validate, encode everything before writing anything.
  Tokenizer tok = Tokenizer::load(tok_path);
  const int32_t pad = tok.eos_id();
  if (pad < 0) fail(tok_path, ": tokenizer has no ", kEndOfText, " or ", kEndOfTextQwen, " token (the padding token)");
  const int64_t vocab = tok.vocab_size();
  std::vector<EncodedChat> enc[2];  // train, val
  std::vector<std::array<int64_t, 3>> per_file(files.size(), {0, 0, 0});  // train, val, longer than T
  for (size_t fi = 0; fi < files.size(); fi++) {
    std::vector<int64_t> lines;
    std::vector<Conversation> convs =
        format == "jsonl"    ? read_conversations_jsonl(files[fi], /*require_assistant=*/true, &lines)
        : format == "csv-qa" ? read_qa_csv(files[fi], f.str("q-column"), f.str("a-column"), &lines)
                             : read_qa_jsonl(files[fi], f.str("q-field"), f.str("a-field"), &lines);
    const uint64_t name_key = mix64((uint64_t)seed ^ fnv1a64(base_name(files[fi])));
    for (size_t i = 0; i < convs.size(); i++) {
      const uint64_t h = mix64(name_key ^ mix64((uint64_t)lines[i]));
      const bool val = (double)(h >> 11) * 0x1.0p-53 < val_fraction;
      for (ChatMessage& m : convs[i])  // legal/reference_hook.h: the user turn exactly as chat/serve/eval build it
        if (ref && m.role == "user") m.content = ref.user_turn(m.content);
      try {
        enc[val].push_back(encode_chat(tok, convs[i], /*add_generation_prompt=*/false));
      } catch (const Error& e) {
        fail(files[fi], ":", lines[i], ": ", e.what());
      }
      per_file[fi][val]++;
      per_file[fi][2] += (int64_t)enc[val].back().tokens.size() > T;
    }
  }

  // 2. Pack each split and cut it into shards of whole blocks (+1 trailing padding token each).
  const char* split_name[2] = {"train", "val"};
  auto shard_name = [&](int s, size_t k) {
    char num[16];
    std::snprintf(num, sizeof num, "%03zu", k);
    return prefix + "_" + split_name[s] + "_" + num + ".bin";
  };
  PackStats st[2];
  std::vector<std::unique_ptr<ShardWriter>> writers[2];
  for (int s = 0; s < 2; s++) {
    std::vector<int32_t> toks;
    std::vector<uint8_t> mask;
    st[s] = pack_conversations(enc[s], (int)T, pad, toks, mask, overlong);
    std::vector<EncodedChat>().swap(enc[s]);
    for (int64_t b0 = 0; b0 < st[s].blocks; b0 += blocks_per_shard) {
      const int64_t b1 = std::min(st[s].blocks, b0 + blocks_per_shard);
      auto w = std::make_unique<ShardWriter>(shard_name(s, writers[s].size()), vocab, /*with_loss_mask=*/true);
      for (int64_t b = b0; b < b1; b++) {  // one document per block; the last one carries the trailing token
        std::vector<int32_t> bt(toks.begin() + b * T, toks.begin() + (b + 1) * T);
        std::vector<uint8_t> bm(mask.begin() + b * T, mask.begin() + (b + 1) * T);
        if (b + 1 == b1) bt.push_back(pad), bm.push_back(0);
        w->add_document(bt, bm);
      }
      writers[s].push_back(std::move(w));
    }
  }
  if (st[0].blocks == 0)
    fail(st[0].dropped ? cat("no training conversations (", st[0].dropped, " longer than T = ", T,
                             " were dropped by --overlong drop; raise --seq-len)")
                       : cat("no training conversations (all ", st[1].conversations, " fell into val)"));
  if (val_fraction > 0 && writers[1].empty())  // an empty val shard keeps the layout predictable
    writers[1].push_back(std::make_unique<ShardWriter>(shard_name(1, 0), vocab, true));
  size_t slash = prefix.find_last_of('/');
  if (slash != std::string::npos && slash > 0) make_dirs(prefix.substr(0, slash));
  for (auto& ws : writers)
    for (auto& w : ws) w->finish();
  std::vector<std::string> removed;  // stale shards of an earlier run with more shards (a glob would mix them in)
  for (int s = 0; s < 2; s++)
    for (size_t k = writers[s].size(); file_exists(shard_name(s, k)); k++) {
      const std::string stale = shard_name(s, k);
      if (std::remove(stale.c_str()) != 0) fail("cannot remove stale shard ", stale);
      removed.push_back(stale);
    }

  // 3. Summary.
  std::cout << "prep chat: tokenizer " << tok_path << " (vocab " << vocab << "), T " << T << ", seed " << seed
            << ", val fraction " << val_fraction << ", format " << format << "\n";
  for (size_t fi = 0; fi < files.size(); fi++)
    std::cout << "  " << files[fi] << ": " << per_file[fi][0] + per_file[fi][1] << " conversations ("
              << per_file[fi][0] << " train, " << per_file[fi][1] << " val; " << per_file[fi][2] << " longer than T, "
              << (overlong == Overlong::drop ? "dropped" : "split") << ")\n";
  for (int s = 0; s < 2; s++) {
    const PackStats& p = st[s];
    const double pad_frac = p.blocks ? double(p.padding) / double(p.blocks * T) : 0.0;
    char pf[32];
    std::snprintf(pf, sizeof pf, "%.4f", pad_frac);
    std::cout << split_name[s] << ": " << p.conversations << " conversations, " << p.blocks << " blocks, " << p.tokens
              << " tokens, " << p.trained << " trained (mask=1), padding fraction " << pf << ", " << p.split
              << " split conversations";
    if (overlong == Overlong::drop) std::cout << ", " << p.dropped << " longer than T dropped";
    std::cout << "\n";
  }
  for (auto& ws : writers)
    for (auto& w : ws)
      std::cout << "wrote " << w->path() << ": " << w->n_docs() << " blocks, " << w->n_tokens() << " tokens\n";
  for (auto& r : removed) std::cout << "removed stale " << r << "\n";
  if (val_fraction > 0 && st[1].conversations == 0)
    std::cerr << "warning: no conversation fell into val; " << shard_name(1, 0) << " is empty\n";
  return 0;
}

}  // namespace beop::prep
