// Where a llama.cpp build is, for the benches that compare against it (bench_infer_dtype, bench_llama_greedy):
// $LLAMA_CPP_BIN (a directory with llama-bench and the shared libraries), else build/llama/*/vendor/llama.cpp/
// build/bin when that exists (bench/llama_cpp_build.sh builds it there, outside git; a symlink build/llama ->
// another checkout's build/llama works too). "" when there is none: the benches then print beop's figures alone.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <string>

#include "src/io.h"

namespace beop::bench {

inline std::string find_llama() {
  if (const char* e = std::getenv("LLAMA_CPP_BIN")) return e;
  std::error_code ec;
  for (const auto& d : std::filesystem::directory_iterator("build/llama", ec)) {
    const std::string bin = d.path().string() + "/vendor/llama.cpp/build/bin";
    if (file_exists(bin + "/llama-bench")) return bin;
  }
  return "";
}

}  // namespace beop::bench
