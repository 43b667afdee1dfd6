// infer: generation, chat, an OpenAI-compatible server and perplexity scoring for beop checkpoints.
//
//   ./infer generate --model runs/base --prompt "민법 제618조는"          raw completion, no template
//   ./infer chat --model runs/it                                         interactive (/reset, /exit)
//   ./infer chat --model runs/it --prompt "전세 보증금을 못 받았어요"      one answer, then exit
//   ./infer serve --model runs/it --port 8080                            /v1/chat/completions, /v1/completions, ...
//   ./infer score --model runs/base --file text.txt [--per-token]        mean loss, perplexity
//   ./infer eval --model runs/it --tasks all --limit 20 [--device cuda]    legal tasks -> report (cli/eval_command.h)
//
// --model is a checkpoint step directory, a run directory (its newest checkpoint) or hf:DIR; --device picks the
// backend (cli/model_loader.h). The library parts are
// src/generator.h (prefill + KV-cache decode), src/sampler.h and legal/serve/server.h; docs/INFER.md has the details.
#include <omp.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/eval_command.h"
#include "cli/model_loader.h"
#include "cli/omp_policy.h"
#include "cli/run_command.h"
#include "legal/reference_hook.h"
#include "legal/serve/server.h"
#include "src/flags.h"
#include "src/generator.h"
#include "src/io.h"

using namespace beop;

namespace {


// --system: legal (the persona file) | none | FILE (its text).
std::string system_from_flag(const std::string& spec) {
  if (spec == "legal") return legal_advisor_prompt();
  if (spec == "none" || spec.empty()) return "";
  BEOP_CHECK(file_exists(spec), "--system ", spec, ": not 'legal', 'none' or an existing file");
  return read_file(spec);
}

// "\n", "\t", "\\" escapes in --stop.
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      const char c = s[++i];
      out += c == 'n' ? '\n' : c == 't' ? '\t' : c;
    } else {
      out += s[i];
    }
  }
  return out;
}

void add_model_flags(Flags& f) {
  f.add("model", "", "checkpoint step directory, a run directory (its newest checkpoint), or hf:DIR", true);
  cli::add_device_flag(f);
  f.add("threads", "0", "OpenMP threads (0 = all cores)");
}
void add_sampling_flags(Flags& f, const GenerateOptions& d) {
  f.add("temperature", cat(d.sampling.temperature), "sampling temperature (0 = greedy)");
  f.add("top-k", cat(d.sampling.top_k), "keep the k most probable tokens (0 = off)");
  f.add("top-p", cat(d.sampling.top_p), "nucleus: smallest set with probability mass >= p (1 = off)");
  f.add("repeat-penalty", cat(d.sampling.repetition_penalty), "repetition penalty over prompt + output (1 = off)");
  f.add("seed", "0", "sampling seed (0 = from the clock)");
  f.add("max-tokens", cat(d.max_new_tokens), "maximum new tokens");
  f.add("stop", "", "stop string (\\n escapes allowed); not included in the output");
}
GenerateOptions read_sampling(const Flags& f) {
  GenerateOptions o;
  o.sampling.temperature = float(f.f64("temperature"));
  o.sampling.top_k = int(f.i64("top-k"));
  o.sampling.top_p = float(f.f64("top-p"));
  o.sampling.repetition_penalty = float(f.f64("repeat-penalty"));
  const int64_t seed = f.i64("seed");
  o.sampling.seed = seed ? uint64_t(seed) : uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
  o.max_new_tokens = int(f.i64("max-tokens"));
  if (o.max_new_tokens <= 0) throw UsageError(cat("--max-tokens must be positive, got ", o.max_new_tokens));
  try {
    validate_sampling(o.sampling);
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  if (!f.str("stop").empty()) o.stop.push_back(unescape(f.str("stop")));
  return o;
}
void apply_threads(const Flags& f) {
  if (f.i64("threads") > 0) omp_set_num_threads(int(f.i64("threads")));
}
void no_positional(const Flags& f) {
  if (!f.positional().empty()) throw UsageError("unexpected argument '" + f.positional()[0] + "'");
}
void print_stats(const GenerateResult& r) {
  std::fprintf(stderr, "[prompt %d tokens in %.3f s (%.1f tok/s), %d new tokens in %.3f s (%.1f tok/s), %s]\n",
               r.prompt_tokens, r.prefill_s, r.prompt_tokens / std::max(r.prefill_s, 1e-9), r.completion_tokens,
               r.decode_s, r.completion_tokens / std::max(r.decode_s, 1e-9), r.finish_reason.c_str());
}
TextCallback to_stdout() {
  return [](const std::string& s) {
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
    return true;
  };
}

void add_ref_flags(Flags& f) {
  f.add("ref", "none", "statute references put before the question: auto (retrieve from --index) | none");
  f.add("index", "data/build/statutes.idx", "statute retrieval index (./prep index) for --ref auto");
  f.add("ref-k", "3", "articles retrieved per question with --ref auto");
}

// The model named by --model on the backend named by --device (cli/model_loader.h).
std::unique_ptr<CausalLM> load_model(const Flags& f, Tokenizer* tok, std::string* dir = nullptr) {
  return cli::load_model(f.str("model"), f.str("device"), tok, dir, f.str("dtype"));
}

int cmd_generate(int argc, char** argv) {
  GenerateOptions d;
  Flags f("infer generate", "--model CKPT --prompt TEXT [flags]",
          "Raw completion of a prompt (no chat template), streamed to stdout.");
  add_model_flags(f);
  f.add("prompt", "", "prompt text");
  f.add("prompt-file", "", "read the prompt from this file instead");
  add_sampling_flags(f, d);
  f.add_bool("stats", "print token counts and speeds to stderr");
  if (!f.parse(argc, argv)) return 0;
  no_positional(f);
  GenerateOptions o = read_sampling(f);
  o.stop_at_eos = true;
  std::string prompt = f.str("prompt-file").empty() ? f.str("prompt") : read_file(f.str("prompt-file"));
  if (prompt.empty()) throw UsageError("--prompt (or --prompt-file) is required and must not be empty");
  apply_threads(f);
  Tokenizer tok;
  auto lm = load_model(f, &tok);
  Generator gen(*lm, tok);
  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  const GenerateResult r = gen.generate(tok.encode(prompt), o, to_stdout());
  std::printf("\n");
  if (f.on("stats")) print_stats(r);
  return 0;
}

int cmd_chat(int argc, char** argv) {
  GenerateOptions d;
  d.max_new_tokens = 512;
  d.sampling.top_p = 0.9f, d.sampling.repetition_penalty = 1.1f;  // small models loop without a penalty
  Flags f("infer chat", "--model CKPT [--prompt TEXT] [flags]",
          "Chat with the model using the training chat template. Without --prompt: an interactive loop on stdin "
          "(one line per turn; /reset starts over, /exit quits).");
  add_model_flags(f);
  f.add("prompt", "", "one-shot: answer this message and exit");
  f.add("system", "legal", "system prompt: legal (prompts/legal_advisor.txt) | none | FILE");
  add_ref_flags(f);
  add_sampling_flags(f, d);
  f.add_bool("stats", "print token counts and speeds to stderr after each answer");
  if (!f.parse(argc, argv)) return 0;
  no_positional(f);
  const GenerateOptions o = read_sampling(f);
  const std::string system = system_from_flag(f.str("system"));
  const prompt::ReferenceHook ref = prompt::ReferenceHook::make(f.str("ref"), f.str("index"), int(f.i64("ref-k")));
  std::vector<std::string> cited;
  apply_threads(f);
  Tokenizer tok;
  auto lm = load_model(f, &tok);
  Generator gen(*lm, tok);
  gen.set_reuse_prefix(true);  // each turn extends the last: prefill only the new tokens
  Conversation conv;
  auto reset = [&] {
    conv.clear();
    if (!system.empty()) conv.push_back({"system", system});
  };
  auto answer = [&](const std::string& user) {
    const std::string turn = ref.user_turn(user, &cited);  // --ref auto: retrieved statutes + "[질문] " + user
    Conversation c = conv;
    c.push_back({"user", turn});
    const std::vector<int32_t> prompt = gen.chat_prompt(c);
    const GenerateResult r = gen.generate(prompt, o, to_stdout());
    std::printf("\n");
    if (!cited.empty()) {  // the statutes the answer was grounded on (given to the model in the input)
      std::string list;
      for (const std::string& c : cited) list += (list.empty() ? "" : "; ") + c;
      std::printf("(검색된 참조 조문: %s)\n", list.c_str());
    }
    std::fflush(stdout);
    if (f.on("stats")) print_stats(r);
    conv.push_back({"user", turn});  // as the model saw it, so the next turn's prefix is already in the KV cache
    conv.push_back({"assistant", r.text});
  };
  reset();
  if (f.given("prompt")) {
    if (f.str("prompt").empty()) throw UsageError("--prompt must not be empty");
    answer(f.str("prompt"));
    return 0;
  }
  const bool tty = isatty(0);
  std::string line;
  while (true) {
    if (tty) std::fprintf(stderr, "> "), std::fflush(stderr);
    if (!std::getline(std::cin, line)) break;
    if (line == "/exit" || line == "/quit") break;
    if (line == "/reset") {
      reset();
      std::printf("[conversation reset]\n");
      std::fflush(stdout);
      continue;
    }
    if (line.empty()) continue;
    try {
      answer(line);
    } catch (const Error& e) {  // e.g. the conversation outgrew the context: say so, keep the session
      std::fprintf(stderr, "error: %s (use /reset to start over)\n", e.what());
    }
  }
  return 0;
}

int cmd_serve(int argc, char** argv) {
  ServerOptions d;
  d.defaults.max_new_tokens = 512;
  d.defaults.sampling.top_p = 0.9f, d.defaults.sampling.repetition_penalty = 1.1f;
  Flags f("infer serve", "--model CKPT [--port P] [flags]",
          "OpenAI-compatible HTTP server: POST /v1/chat/completions, POST /v1/completions, GET /v1/models, "
          "GET /health.");
  add_model_flags(f);
  f.add("host", "127.0.0.1", "address to listen on");
  f.add("port", "8080", "port (0 = any free port; the chosen one is printed)");
  f.add("name", "", "model name reported to clients (empty: the checkpoint directory)");
  f.add("system", d.default_system, "default system prompt: legal | none | FILE");
  f.add("ref", "none", "default \"reference\" of requests: auto | none (the index is loaded when --ref auto or --index is given)");
  f.add("index", "data/build/statutes.idx", "statute retrieval index (./prep index) for \"reference\":\"auto\"");
  f.add("ref-k", "3", "articles retrieved per question");
  f.add("max-batch", cat(d.max_batch), "generations decoded together (continuous batching; each holds a KV cache "
        "of the model's context)");
  f.add("queue", cat(d.queue_limit), "requests that may wait while --max-batch generate (more get 503)");
  f.add("max-body", cat(d.max_body_bytes), "largest request body in bytes (more gets 413)");
  f.add("max-connections", cat(d.max_connections), "open connections (past it the slowest-to-send-headers one is closed)");
  f.add_bool("truncate", "drop the oldest turns of a conversation longer than the context instead of a 400");
  add_sampling_flags(f, d.defaults);
  if (!f.parse(argc, argv)) return 0;
  no_positional(f);
  ServerOptions so;
  so.defaults = read_sampling(f);
  so.queue_limit = int(f.i64("queue"));
  so.max_batch = int(f.i64("max-batch"));
  if (so.max_batch < 1 || so.max_batch > 256) throw UsageError("--max-batch must be in 1..256, got " + f.str("max-batch"));
  so.max_body_bytes = size_t(f.i64("max-body"));
  so.max_connections = int(f.i64("max-connections"));
  if (so.max_connections < 1) throw UsageError("--max-connections must be >= 1");
  so.truncate = f.on("truncate");
  const std::string sys = f.str("system");
  // prompts/legal_advisor.txt is required only by --system legal; otherwise it is loaded when present, so that
  // requests may still ask for "system_prompt":"legal" (without it they get a 400).
  if (sys == "legal") so.legal_system_prompt = legal_advisor_prompt();
  else try {
      so.legal_system_prompt = legal_advisor_prompt();
    } catch (const Error&) {
    }
  so.default_system = sys == "legal" || sys == "none" ? sys : system_from_flag(sys);
  if (f.str("ref") != "auto" && f.str("ref") != "none") throw UsageError("--ref must be auto or none, got '" + f.str("ref") + "'");
  so.default_reference = f.str("ref");
  if (f.str("ref") == "auto" || f.given("index"))  // the index also serves requests that ask for "reference":"auto"
    so.reference = prompt::ReferenceHook::make("auto", f.str("index"), int(f.i64("ref-k")));
  apply_threads(f);
  Tokenizer tok;
  std::string dir;
  auto lm = load_model(f, &tok, &dir);
  so.model_name = f.str("name").empty() ? dir : f.str("name");
  Generator gen(*lm, tok);
  ChatServer server(gen, so);
  const int port = server.bind(f.str("host"), int(f.i64("port")));
  std::printf("serving %s on http://%s:%d (%s)\n", so.model_name.c_str(), f.str("host").c_str(), port,
              lm->config().summary().c_str());
  std::fflush(stdout);
  server.run();
  return 0;
}

int cmd_score(int argc, char** argv) {
  Flags f("infer score", "--model CKPT --file TEXT [--per-token]",
          "Mean loss (nats/token) and perplexity of a UTF-8 text file. The text is preceded by <|end_of_text|> "
          "(the document separator of the training shards), so its first token is predicted too; windows of "
          "max_seq_len tokens overlap by one token.");
  add_model_flags(f);
  f.add("file", "", "UTF-8 text file", true);
  f.add_bool("per-token", "also print each token's text and log-probability (TSV: index, token JSON, logprob)");
  if (!f.parse(argc, argv)) return 0;
  no_positional(f);
  apply_threads(f);
  Tokenizer tok;
  auto lm = load_model(f, &tok);
  const std::string text = read_file(f.str("file"));
  std::vector<int32_t> ids = {tok.eos_id()};
  const std::vector<int32_t> body = tok.encode(text);
  BEOP_CHECK(!body.empty(), f.str("file"), ": no text to score");
  ids.insert(ids.end(), body.begin(), body.end());
  const std::vector<double> lp = score_tokens(*lm, ids);
  double sum = 0;
  for (double x : lp) sum += x;
  if (f.on("per-token"))
    for (size_t i = 0; i < lp.size(); i++)
      std::printf("%zu\t%s\t%.6f\n", i, nlohmann::json(tok.token_text(ids[i + 1])).dump(-1, ' ', false,
                  nlohmann::json::error_handler_t::replace).c_str(), lp[i]);
  const double loss = -sum / double(lp.size());
  std::printf("tokens %zu  loss %.6f  perplexity %.4f\n", lp.size(), loss, std::exp(loss));
  return 0;
}

const char* kUsage =
    "usage: infer <command> [flags]   (infer <command> --help lists every flag)\n"
    "  generate   raw completion of --prompt\n"
    "  chat       chat with the chat template (interactive, or one-shot --prompt)\n"
    "  serve      OpenAI-compatible HTTP server\n"
    "  score      loss and perplexity of a text file\n"
    "  eval       the legal evaluation tasks (ROUGE-L, MC accuracy): report.md / report.json\n"
    "--model (every command) is a checkpoint step directory, a run directory (its newest checkpoint) or hf:DIR\n"
    "(a Hugging Face model directory); --device cpu | cuda | cuda-bf16 | cuda-fp32 picks the backend.\n";

}  // namespace

int main(int argc, char** argv) {
  cli::default_omp_wait_policy(argv);  // before any OpenMP use (may re-execute this program once)
  return cli::run_command("infer", [&] {
    const std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "--help" || cmd == "-h" || cmd == "help") return std::printf("%s", kUsage), 0;
    if (cmd == "generate") return cmd_generate(argc - 1, argv + 1);
    if (cmd == "chat") return cmd_chat(argc - 1, argv + 1);
    if (cmd == "serve") return cmd_serve(argc - 1, argv + 1);
    if (cmd == "score") return cmd_score(argc - 1, argv + 1);
    if (cmd == "eval") return cli::eval_main(argc - 1, argv + 1);  // cli/eval_command.h
    throw UsageError(cmd.empty() ? "missing command\n" + std::string(kUsage) : "unknown command '" + cmd + "'\n" + kUsage);
  });
}
