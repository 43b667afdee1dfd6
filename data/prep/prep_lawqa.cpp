// `prep lawqa`: statutes -> law-QA conversation JSONL (template or endpoint generator, three formats).
#include <sys/stat.h>

#include <cstdlib>
#include <iostream>
#include <set>

#include "legal/lawqa.h"
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
  f.add("url", "", "endpoint: http://host:port[/v1] of an OpenAI-compatible server");
  f.add("model", "", "endpoint: model name");
  f.add("timeout", "60", "endpoint: seconds per request (connect, read, write)");
  f.add("max-items", "0", "endpoint: request at most this many units (0 = all), chosen by --seed");
  f.add("concurrency", "1", "endpoint: requests in flight (only 1 is implemented)");
  f.add("min-rouge", "0.3", "minimum ROUGE-L F (character tokens) of an answer against the cited text, unless half\n"
                           "of its content bigrams are in the text (the fact check, template and endpoint items)");
  f.add("log", "", "endpoint: rejected/failed requests JSONL (default PREFIX_rejected.jsonl)");
  if (!f.parse(argc, argv)) return 0;

  std::vector<Format> formats;
  std::string fmt = f.str("format");
  if (fmt == "all") formats = {Format::QA, Format::RefOut, Format::RefIn};
  else try { formats = {parse_format(fmt)}; } catch (const Error& e) { throw UsageError(cat("--format: ", e.what())); }
  std::string gen = f.str("generator");
  if (gen != "template" && gen != "endpoint") throw UsageError(cat("--generator: '", gen, "' (want template or endpoint)"));
  int64_t seed = f.i64("seed");
  if (f.i64("concurrency") != 1) throw UsageError("--concurrency: only 1 is implemented");
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
    const char* k = std::getenv("BEOP_ENDPOINT_KEY");
    if (!k || !*k) k = std::getenv("OPENAI_API_KEY");
    if (k) o.api_key = k;
    run = generate_endpoint(units, index, o);
    items = run.kept;
    std::string log = f.str("log").empty() ? f.str("out-prefix") + "_rejected.jsonl" : f.str("log");
    std::string text;
    for (auto& l : run.log) {
      text += l + "\n";
      std::cerr << "lawqa: " << l << "\n";
    }
    write_file_atomic(log, text);
    std::cout << "endpoint " << o.url << " model " << o.model << ": " << run.requested << " requested, "
              << run.kept_n << " kept, " << run.rejected << " rejected, " << run.failed << " failed";
    for (auto& [reason, n] : run.by_reason) std::cout << "; " << reason << " " << n;
    std::cout << "\nwrote " << log << " (" << run.log.size() << " lines)\n";
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
