// `prep statutes`: parses every statute file, prints per-law counts and the issues, writes the articles JSONL.
#include "data/prep/prep_statutes.h"

#include <cstdio>
#include <filesystem>

#include "legal/statutes.h"
#include "src/common.h"
#include "src/io.h"

namespace beop::statutes {

int prep_statutes_main(int argc, char** argv) {
  std::string out = "data/build/articles.jsonl", data = data_dir();
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if ((a == "--out" || a == "--data") && i + 1 < argc) {
      (a == "--out" ? out : data) = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: prep statutes [--out FILE] [--data DIR]\n"
                   "  parses DIR/statutes/*.md (legalize-kr Markdown) into one JSON article per line in FILE\n"
                   "  (default data/build/articles.jsonl; DIR defaults to $BEOP_DATA or ../shared/data)\n");
      return (a == "--help" || a == "-h") ? 0 : 2;  // prep convention: 2 = usage error
    }
  }
  try {
    std::string dir = data + "/statutes";
    if (!std::filesystem::is_directory(dir)) dir = data;  // --data may name the statutes folder itself
    std::vector<ParsedLaw> laws = parse_statute_dir(dir);
    if (laws.empty()) fail("no *.md statute files in ", dir);
    std::string body;
    size_t n_articles = 0, n_deleted = 0, n_paras = 0, n_items = 0, skipped_files = 0, skipped_lines = 0,
           n_issues = 0;
    std::printf("%8s %8s %8s %8s  %s\n", "articles", "deleted", "paras", "items", "law");
    for (const ParsedLaw& law : laws) {
      for (const Issue& is : law.issues) std::fprintf(stderr, "%s\n", is.str().c_str());
      n_issues += law.issues.size();
      skipped_lines += size_t(law.skipped_lines);
      if (law.skipped) {
        skipped_files++;
        continue;
      }
      size_t del = 0, paras = 0, items = 0;
      for (const Article& a : law.articles) {
        body += article_json_line(a) + "\n";
        del += a.deleted;
        for (const Paragraph& p : a.paragraphs) paras += p.number > 0, items += p.items.size();
      }
      std::printf("%8zu %8zu %8zu %8zu  %s\n", law.articles.size(), del, paras, items, law.info.title.c_str());
      n_articles += law.articles.size();
      n_deleted += del;
      n_paras += paras;
      n_items += items;
    }
    std::string parent = std::filesystem::path(out).parent_path().string();
    if (!parent.empty()) make_dirs(parent);
    write_file_atomic(out, body);
    std::printf("%zu files (%zu skipped), %zu articles (%zu deleted), %zu 항, %zu 호; %zu issues, %zu lines skipped"
                " -> %s\n",
                laws.size(), skipped_files, n_articles, n_deleted, n_paras, n_items, n_issues, skipped_lines,
                out.c_str());
    return 0;
  } catch (const std::exception& e) {  // beop::Error (I/O) or anything unexpected: one line, exit 1
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}

}  // namespace beop::statutes
