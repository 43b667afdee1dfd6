// ./prep: data preparation (tokenizer training, token shards, and the corpus-specific subcommands).
// Everything lives in data/prep/prep_*.cpp so the tests can run it in-process; see data/prep/prep_main.h.
#include "data/prep/prep_main.h"

int main(int argc, char** argv) { return beop::prep::prep_main(argc, argv); }
