// Command-line plumbing shared by the programs (train, infer, prep and its subcommands): a small flag parser
// whose --help lists every flag with its default, the usage-error type (exit status 2), and (src/progress.h,
// included here for the programs) a stderr progress bar.
//
//   Flags f("prep shards", "[flags] FILES...", "Encodes text into token shards.");
//   f.add("out-prefix", "", "output prefix", /*required=*/true);
//   f.add("seed", "1", "train/val split seed");
//   f.add_bool("quiet", "no progress bar");
//   if (!f.parse(argc, argv)) return 0;   // --help was printed
//   int64_t seed = f.i64("seed");
//
// Flags are "--name VALUE" or "--name=VALUE"; "--" ends the flags. Unknown flag, missing value, missing
// required flag, or a value that does not parse -> UsageError (one line; prep_main prints it, exits 2).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "src/common.h"
#include "src/progress.h"

namespace beop {

struct UsageError : Error {
  using Error::Error;
};

class Flags {
 public:
  Flags(std::string command, std::string usage, std::string description);
  void add(const std::string& name, const std::string& default_value, const std::string& help,
           bool required = false);
  void add_bool(const std::string& name, const std::string& help);  // default off; "--name" turns it on

  // argv[0] is the subcommand name. Returns false when --help/-h was given (help printed to stdout).
  bool parse(int argc, char** argv);

  std::string str(const std::string& name) const;
  int64_t i64(const std::string& name) const;   // UsageError if not an integer
  double f64(const std::string& name) const;    // UsageError if not a finite number
  bool on(const std::string& name) const;
  bool given(const std::string& name) const;    // set on the command line (vs. its default)
  const std::vector<std::string>& positional() const { return positional_; }
  std::string help() const;

 private:
  struct Flag {
    std::string name, value, def, help;
    bool is_bool = false, required = false, given = false;
  };
  const Flag& get(const std::string& name) const;
  Flag* find(const std::string& name);
  std::string command_, usage_, description_;
  std::vector<Flag> flags_;
  std::vector<std::string> positional_;
};

}  // namespace beop
