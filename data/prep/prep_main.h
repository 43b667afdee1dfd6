// `prep`: the data-preparation program (data/prep.cpp is just `return prep_main(argc, argv);`, so tests can
// run it in-process). main() is a dispatch table: `prep <subcommand> [flags] ...`, each subcommand an
// `int fn(int argc, char** argv)` with argv[0] = the subcommand name, returning the exit status. To add one,
// write it in data/prep/prep_<name>.cpp and add a row to kSubcommands in prep_main.cpp.
//
// Exit status: 0 ok; 1 bad input or failure ("error: <one line>" on stderr, no output files touched);
// 2 usage error (unknown subcommand or flag, missing/bad flag value).
//
//   prep tokenizer --vocab N --out tok.json FILES...        train a byte-level BPE tokenizer
//   prep shards --tokenizer tok.json --out-prefix P FILES...  encode documents into P_train_NNN.bin / P_val_NNN.bin
#pragma once

namespace beop::prep {

int prep_main(int argc, char** argv);

int prep_tokenizer_main(int argc, char** argv);
int prep_shards_main(int argc, char** argv);

}  // namespace beop::prep
