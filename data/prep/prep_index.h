// `prep index`: parses the statutes (legal/statutes.h) and saves the BM25 retrieval index (legal/retrieval.h)
// that `infer chat --ref auto` searches. Format and design: docs/DATA.md, "Retrieval".
#pragma once

namespace beop::retrieval {

// `prep index --out FILE [--data DIR] [--only-laws L,..] [--exclude-laws L,..] [--strip-particles]`: argv[0] is the
// subcommand name. Exit status (prep convention): 0 written, 1 failure (no statutes, unwritable output), 2 usage.
int prep_index_main(int argc, char** argv);

}  // namespace beop::retrieval
