// A llama.cpp build for the benches that compare against it (bench_infer_dtype: decode speed, bench_llama_greedy:
// greedy ids). find_llama: $LLAMA_CPP_BIN (the build's bin/ directory, holding libllama.so), else
// build/llama/*/vendor/llama.cpp/build/bin when that holds libllama.so (bench/llama_cpp_build.sh builds it there,
// outside git; a symlink build/llama -> another checkout's build/llama works too); "" when there is none, and the
// benches then print beop's figures alone. Only the library is needed: llama_client compiles
// bench/llama_greedy_client.cc against it (the llama.cpp API, one prompt batch then one token per llama_decode, the
// same loop as beop's decode), so the comparison runs before llama-bench / llama-cli are built.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "src/common.h"
#include "src/io.h"
#include "tests/test_util.h"

namespace beop::bench {

inline std::string find_llama() {
  if (const char* e = std::getenv("LLAMA_CPP_BIN")) return e;
  std::error_code ec;
  for (const auto& d : std::filesystem::directory_iterator("build/llama", ec)) {
    const std::string bin = d.path().string() + "/vendor/llama.cpp/build/bin";
    if (file_exists(bin + "/libllama.so")) return bin;
  }
  return "";
}

// Compiles the client into work/llama_greedy_client; its path, or "" (with the compiler's output on stderr).
inline std::string llama_client(const std::string& bin, const std::string& work) {
  make_dirs(work);
  const std::string src = bin + "/../..", out = work + "/llama_greedy_client";  // vendor/llama.cpp
  const test::ShellResult r = test::shell(cat("g++ -O2 -std=c++17 bench/llama_greedy_client.cc -I", src, "/include -I",
                                              src, "/ggml/include -L", bin, " -lllama -Wl,-rpath,",
                                              std::filesystem::absolute(bin).string(), " -o ", out));
  if (r.rc != 0) {
    std::fprintf(stderr, "compiling bench/llama_greedy_client.cc against %s failed:\n%s", bin.c_str(), r.out.c_str());
    return "";
  }
  return out;
}

}  // namespace beop::bench
