// `prep statutes`: legalize-kr statute Markdown (legal/statutes.h parses it) -> the articles JSONL.
#pragma once

namespace beop::statutes {

// `prep statutes --out FILE [--data DIR]`: argv[0] is the subcommand name ("statutes"), options follow.
// DIR is the corpora root (default beop::data_dir()) holding statutes/, or the statutes folder itself.
// Writes FILE atomically (default data/build/articles.jsonl), prints per-law counts and a summary with the
// skipped files/lines to stdout and the issues (file:line: message) to stderr. Exit status (prep convention,
// data/prep/prep_main.h): 0 written (even when some files/lines were skipped: they are listed on stderr);
// 1 failure (no statute files, unreadable input, unwritable output; the output file is left untouched);
// 2 usage error. Register it in prep's kSubcommands as {"statutes", ..., beop::statutes::prep_statutes_main}.
int prep_statutes_main(int argc, char** argv);

}  // namespace beop::statutes
