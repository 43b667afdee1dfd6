// `prep index`: statutes -> retrieval index file.
#include "data/prep/prep_index.h"

#include <sys/stat.h>

#include <chrono>
#include <iostream>

#include "legal/lawqa.h"
#include "legal/retrieval.h"
#include "legal/statutes.h"
#include "src/common.h"
#include "src/flags.h"
#include "src/io.h"
#include "src/text.h"

namespace beop::retrieval {

int prep_index_main(int argc, char** argv) {
  Flags f("prep index", "--out FILE [flags]",
                "Builds the BM25 statute retrieval index (one document per non-deleted article) and saves it\n"
                "atomically (docs/DATA.md, \"Retrieval\").");
  f.add("out", "data/build/statutes.idx", "output index file");
  f.add("data", "", "corpora root holding statutes/ (or the statutes folder); default $BEOP_DATA or ../shared/data");
  f.add("only-laws", "", "comma-separated law names (or file stems): index only these");
  f.add("exclude-laws", "", "comma-separated law names (or file stems): leave these out");
  f.add("k1", "1.2", "BM25 k1");
  f.add("b", "0.75", "BM25 b");
  f.add("law-boost", "0.5", "boost of a named law, as a fraction of the query's best BM25 score");
  f.add("article-boost", "1.0", "boost of a named article number, as a fraction of the query's best BM25 score");
  f.add("title-repeat", "3", "index each article title this many times before its text (field weight), 0..16");
  f.add_bool("strip-particles", "strip one trailing particle from Hangul words of >= 3 syllables (off: no recall gain)");
  if (!f.parse(argc, argv)) return 0;
  if (!f.positional().empty()) throw UsageError(cat("unexpected argument '", f.positional()[0], "'"));
  Params p;
  p.k1 = (float)f.f64("k1");
  p.b = (float)f.f64("b");
  p.law_boost = (float)f.f64("law-boost");
  p.article_boost = (float)f.f64("article-boost");
  p.tok.strip_particles = f.on("strip-particles");
  int64_t tr = f.i64("title-repeat");
  if (tr < 0 || tr > 16) throw UsageError(cat("--title-repeat: ", tr, " outside [0, 16]"));
  p.title_repeat = (uint32_t)tr;
  if (!(p.k1 >= 0)) throw UsageError(cat("--k1: ", p.k1, " must be >= 0"));
  if (!(p.b >= 0 && p.b <= 1)) throw UsageError(cat("--b: ", p.b, " outside [0, 1]"));
  if (f.str("out").empty()) throw UsageError("--out: empty");

  auto t0 = std::chrono::steady_clock::now();
  std::string root = f.given("data") ? f.str("data") : data_dir();
  struct stat st;
  std::string dir = ::stat((root + "/statutes").c_str(), &st) == 0 && S_ISDIR(st.st_mode) ? root + "/statutes" : root;
  std::vector<statutes::Article> all;
  for (auto& law : statutes::parse_statute_dir(dir))
    for (auto& a : law.articles) all.push_back(a);
  if (all.empty()) fail("no statute articles under ", dir);
  std::vector<statutes::Article> arts;
  try {
    arts = lawqa::filter_laws(all, split(f.str("only-laws"), ','), split(f.str("exclude-laws"), ','));
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  auto t1 = std::chrono::steady_clock::now();
  RetrievalIndex ix = RetrievalIndex::build(arts, p);
  auto t2 = std::chrono::steady_clock::now();
  std::string out = f.str("out");
  size_t slash = out.find_last_of('/');
  if (slash != std::string::npos && slash > 0) make_dirs(out.substr(0, slash));
  ix.save(out);
  auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
  std::cout << "prep index: " << ix.law_titles().size() << " laws, " << ix.docs().size() << " articles (of "
            << arts.size() << ", deleted left out), " << ix.vocab_size() << " terms, " << ix.postings()
            << " postings, avg " << ix.avg_length() << " tokens/article; parse " << ms(t0, t1) << " ms, build "
            << ms(t1, t2) << " ms -> " << out << "\n";
  return 0;
}

}  // namespace beop::retrieval
