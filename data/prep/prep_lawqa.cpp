// `prep lawqa`: statutes -> law-QA conversation JSONL (template or endpoint generator, three formats).
#include <sys/stat.h>

#include <cstdlib>
#include <iostream>
#include <set>

#include "legal/lawqa.h"
#include "legal/lawqa_client.h"
#include "src/common.h"
#include "src/flags.h"
#include "src/io.h"
#include "src/text.h"
#include "src/rng.h"

namespace beop::lawqa {

namespace {

// DIR may be the corpora root (holding statutes/) or the statutes folder itself, as for `prep statutes`.
std::string statutes_dir_of(const std::string& root) {
  struct stat st;
  std::string sub = root + "/statutes";
  return ::stat(sub.c_str(), &st) == 0 && S_ISDIR(st.st_mode) ? sub : root;
}

}  // namespace

int prep_lawqa_main(int argc, char** argv) {
  Flags f("prep lawqa", "--out-prefix PREFIX [flags]",
                "Generates statute-grounded law QA from the parsed statutes and writes conversation JSONL\n"
                "PREFIX_<format>.jsonl (docs/DATA.md, \"Law QA\"). The endpoint generator also writes the rejected\n"
                "and failed requests to --log.");
  f.add("out-prefix", "", "output prefix, e.g. data/build/lawqa -> data/build/lawqa_qa_ref_in.jsonl", true);
  f.add("data", "", "corpora root holding statutes/ (or the statutes folder); default $BEOP_DATA or ../shared/data");
  f.add("format", "all", "qa | qa_ref_out | qa_ref_in | all (all three files)");
  f.add("generator", "template", "template | endpoint");
  f.add("seed", "1", "seed of the random choices (template) / of the unit order (endpoint)");
  f.add("types", "situation,content,title,cloze,truefalse,mc", "template: question types");
  f.add("as-of", "", "template: YYYY-MM-DD; answers of laws in force only later state their 시행일 (default: the\n"
                     "latest 공포일자 of the parsed statutes, i.e. the date of the bundled texts)");
  f.add("only-laws", "", "comma-separated law names (or file stems): use only these");
  f.add("exclude-laws", "", "comma-separated law names (or file stems): hold these out");
  f.add("url", "", "endpoint: http(s)://host[:port][/v1] of an OpenAI-compatible chat-completions server");
  f.add("model", "", "endpoint: model name");
  f.add("timeout", "60", "endpoint: seconds per attempt (connect + send + receive)");
  f.add("max-items", "0", "endpoint: request at most this many units (0 = all), chosen by --seed");
  f.add("concurrency", "4", "endpoint: requests in flight");
  f.add("max-attempts", "5", "endpoint: attempts per unit (retries on 429, 5xx, timeouts, connection failures)");
  f.add("retry-base", "1", "endpoint: backoff seconds before the first retry (doubles each retry, with jitter)");
  f.add("retry-max", "60", "endpoint: longest wait before one retry, Retry-After included");
  f.add("ca-cert", "", "endpoint: PEM file of a CA to trust for https (a private endpoint); certificates are always verified");
  f.add_bool("no-key", "endpoint: send no API key (a server that needs none; local URLs never need one)");
  f.add_bool("resume", "endpoint: continue from PREFIX_endpoint.jsonl and the --log file, skipping answered units");
  f.add("dedup", "0.8", "endpoint: drop a question whose character 3-gram Jaccard with a kept one is >= this (1.01 = off)");
  f.add("price-in", "0", "endpoint: USD per 1M prompt tokens, for the cost estimate");
  f.add("price-out", "0", "endpoint: USD per 1M completion tokens, for the cost estimate");
  f.add("min-rouge", "0.3", "minimum ROUGE-L F (character tokens) of an answer against the cited text, unless half\n"
                           "of its content bigrams are in the text (the fact check, template and endpoint items)");
  f.add("log", "", "endpoint: rejected/failed units JSONL (default PREFIX_rejected.jsonl)");
  if (!f.parse(argc, argv)) return 0;

  std::vector<Format> formats;
  std::string fmt = f.str("format");
  if (fmt == "all") formats = {Format::QA, Format::RefOut, Format::RefIn};
  else try { formats = {parse_format(fmt)}; } catch (const Error& e) { throw UsageError(cat("--format: ", e.what())); }
  std::string gen = f.str("generator");
  if (gen != "template" && gen != "endpoint") throw UsageError(cat("--generator: '", gen, "' (want template or endpoint)"));
  int64_t seed = f.i64("seed");
  const int64_t concurrency = f.i64("concurrency"), max_attempts = f.i64("max-attempts");
  if (concurrency < 1 || concurrency > 256) throw UsageError(cat("--concurrency: ", concurrency, " (want 1..256)"));
  if (max_attempts < 1 || max_attempts > 100) throw UsageError(cat("--max-attempts: ", max_attempts, " (want 1..100)"));
  const double retry_base = f.f64("retry-base"), retry_max = f.f64("retry-max"), dedup = f.f64("dedup");
  const double price_in = f.f64("price-in"), price_out = f.f64("price-out");
  if (retry_base < 0 || retry_max < 0) throw UsageError("--retry-base / --retry-max: must be >= 0");
  if (price_in < 0 || price_out < 0) throw UsageError("--price-in / --price-out: must be >= 0");
  if (!(dedup > 0)) throw UsageError(cat("--dedup: ", dedup, " must be > 0 (above 1 turns dedup off)"));
  double timeout = f.f64("timeout"), min_rouge = f.f64("min-rouge");
  if (!(timeout > 0)) throw UsageError(cat("--timeout: ", timeout, " must be positive"));
  int64_t max_items = f.i64("max-items");
  if (max_items < 0) throw UsageError(cat("--max-items: ", max_items, " must be >= 0"));
  if (gen == "endpoint" && (f.str("url").empty() || f.str("model").empty()))
    throw UsageError("--generator endpoint needs --url and --model");

  std::string root = f.given("data") ? f.str("data") : data_dir();
  std::string dir = statutes_dir_of(root);
  std::vector<statutes::Article> all;
  std::string latest;  // the bundled texts' date: the latest 공포일자
  for (auto& law : statutes::parse_statute_dir(dir)) {
    latest = std::max(latest, law.info.promulgation_date);
    for (auto& a : law.articles) all.push_back(a);
  }
  if (all.empty()) fail("no statute articles under ", dir);
  CitationIndex index(all);  // every parsed law resolves, held-out ones included (they exist in the statutes)
  std::vector<statutes::Article> arts;
  try {
    arts = filter_laws(all, split(f.str("only-laws"), ','), split(f.str("exclude-laws"), ','));
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  std::set<std::string> laws;
  for (auto& a : arts) laws.insert(a.law);

  std::vector<QAItem> items;
  EndpointRun run;
  if (gen == "template") {
    TemplateOptions o;
    o.seed = (uint64_t)seed;
    o.types = split(f.str("types"), ',');
    o.as_of = f.given("as-of") ? f.str("as-of") : latest;
    VerifyReport vr;
    items = verify_items(index, generate_template(arts, o), min_rouge, &vr);
    std::cout << "fact check: " << vr.checked << " generated, " << vr.kept << " kept, " << vr.checked - vr.kept
              << " rejected";
    for (auto& [reason, n] : vr.by_reason) std::cout << "; " << reason << " " << n;
    std::cout << "\n";
    for (auto& e : vr.examples) std::cout << "  e.g. " << e << "\n";
  } else {
    std::vector<Unit> units;
    for (auto& a : arts)
      for (auto& u : units_of(a)) units.push_back(u);
    // Deterministic subset: Fisher-Yates with the seed, then the first max-items.
    Rng r((uint64_t)seed);
    for (size_t i = units.size(); i > 1; i--) std::swap(units[i - 1], units[(size_t)(r.uniform() * (double)i)]);
    if (max_items > 0 && (size_t)max_items < units.size()) units.resize((size_t)max_items);
    EndpointOptions o;
    o.url = f.str("url");
    o.model = f.str("model");
    o.timeout_s = timeout;
    o.min_rouge = min_rouge;
    o.concurrency = (int)concurrency;
    o.max_attempts = (int)max_attempts;
    o.retry_base_s = retry_base;
    o.retry_max_s = retry_max;
    o.dedup_threshold = dedup;
    o.price_in = price_in;
    o.price_out = price_out;
    o.ca_cert = f.str("ca-cert");
    o.seed = (uint64_t)seed;
    o.resume = f.on("resume");
    o.progress = true;
    try {
      lawqa::client::chat_completions_url(o.url);
    } catch (const Error& e) {
      throw UsageError(e.what());
    }
    if (!o.ca_cert.empty() && !file_exists(o.ca_cert)) throw UsageError(cat("--ca-cert ", o.ca_cert, ": no such file"));
    // The key: $BEOP_API_KEY, else $OPENAI_API_KEY. A remote endpoint without one would answer 401 to every
    // request, so that is a one-line error up front (--no-key for a server that wants none).
    for (const char* var : {"BEOP_API_KEY", "OPENAI_API_KEY"}) {
      const char* k = std::getenv(var);
      if (o.api_key.empty() && k && *k) o.api_key = k;
    }
    if (f.on("no-key")) o.api_key.clear();
    else if (o.api_key.empty() && !lawqa::client::is_local_url(o.url))
      throw UsageError(cat("--url ", o.url, ": no API key: set BEOP_API_KEY (or OPENAI_API_KEY), or pass --no-key"));
    const std::string prefix = f.str("out-prefix");
    size_t slash = prefix.find_last_of('/');
    if (slash != std::string::npos && slash > 0) make_dirs(prefix.substr(0, slash));
    o.items_path = prefix + "_endpoint.jsonl";
    o.log_path = f.str("log").empty() ? prefix + "_rejected.jsonl" : f.str("log");
    run = generate_endpoint(units, index, o);
    items = run.kept;
    std::cout << "endpoint " << o.url << " model " << o.model << ": " << endpoint_summary(run, units.size()) << "\n"
              << "wrote " << o.items_path << " (" << run.kept.size() << " kept items) and " << o.log_path << " (+"
              << run.log.size() << " lines)\n";
    if (!run.fatal.empty()) {
      // The files hold everything finished so far; the format files are not rewritten from a stopped run.
      std::cerr << "error: " << run.fatal << " (stopped; rerun with --resume to continue)\n";
      return 1;
    }
  }

  std::map<std::string, int> by_type, by_style;
  int with_distractor = 0;
  for (auto& it : items) by_type[it.type]++, by_style[it.style.empty() ? "endpoint" : it.style]++;
  for (auto& it : items) with_distractor += it.refs_in.size() > 1;
  std::cout << "prep lawqa: " << gen << " generator, seed " << seed << ", " << laws.size() << " laws, " << arts.size()
            << " articles -> " << items.size() << " items";
  for (auto& [t, n] : by_type) std::cout << "; " << t << " " << n;
  std::cout << "\nquestion style:";
  for (auto& [t, n] : by_style) std::cout << " " << t << " " << n;
  std::cout << "; qa_ref_in inputs with a distractor article: " << with_distractor << "\n";
  for (Format fm : formats) {
    std::string text;
    for (auto& it : items) text += conversation_json_line(it, fm);
    std::string path = f.str("out-prefix") + "_" + format_name(fm) + ".jsonl";
    size_t slash = path.find_last_of('/');
    if (slash != std::string::npos && slash > 0) make_dirs(path.substr(0, slash));
    write_file_atomic(path, text);
    std::cout << "wrote " << path << ": " << items.size() << " conversations, " << text.size() << " bytes\n";
  }
  return 0;
}

}  // namespace beop::lawqa
