// Runs ./prep's main in-process (no subprocess), capturing what it prints: for the tests of prep subcommands.
#pragma once
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "data/prep/prep_main.h"

namespace beop::test {

struct PrepRun {
  int rc;
  std::string out, err;
};

inline PrepRun run_prep(std::vector<std::string> args) {
  args.insert(args.begin(), "prep");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::ostringstream out, err;
  auto* o = std::cout.rdbuf(out.rdbuf());
  auto* e = std::cerr.rdbuf(err.rdbuf());
  const int rc = beop::prep::prep_main(int(args.size()), argv.data());
  std::cout.rdbuf(o);
  std::cerr.rdbuf(e);
  return {rc, out.str(), err.str()};
}

}  // namespace beop::test
