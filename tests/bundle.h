// Reader for the "beop-reference-bundle" written by tests/reference/bundle.py (format: docs/REFERENCE.md):
// manifest.json + tensors.bin + an "ok" marker written last.
#pragma once
#include <nlohmann/json.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "src/common.h"
#include "src/io.h"

namespace beop::test {

struct Bundle {
  nlohmann::json manifest;
  std::string data;  // tensors.bin

  explicit Bundle(const std::string& dir) {
    BEOP_CHECK(file_exists(dir + "/ok"), "reference bundle ", dir, " is incomplete (no 'ok' marker)");
    manifest = nlohmann::json::parse(read_file(dir + "/manifest.json"));
    BEOP_CHECK(manifest.value("format", "") == "beop-reference-bundle" && manifest.value("version", 0) == 1,
               dir, " is not a version-1 beop reference bundle");
    data = read_file(dir + "/tensors.bin");
  }
  bool has(const std::string& name) const { return manifest["tensors"].contains(name); }
  std::vector<int64_t> shape(const std::string& name) const {
    return manifest["tensors"].at(name).at("shape").get<std::vector<int64_t>>();
  }
  // Any stored dtype converted to T.
  template <typename T>
  std::vector<T> get(const std::string& name) const {
    BEOP_CHECK(has(name), "reference bundle has no tensor '", name, "'");
    const auto& t = manifest["tensors"][name];
    const std::string dt = t["dtype"];
    const size_t off = t["offset"], nbytes = t["nbytes"];
    BEOP_CHECK(off + nbytes <= data.size(), "tensor '", name, "' runs past the end of tensors.bin");
    const char* p = data.data() + off;
    std::vector<T> out;
    auto conv = [&](auto tag) {
      using S = decltype(tag);
      out.resize(nbytes / sizeof(S));
      for (size_t i = 0; i < out.size(); i++) {
        S v;
        std::memcpy(&v, p + i * sizeof(S), sizeof(S));
        out[i] = T(v);
      }
    };
    if (dt == "f32") conv(float{});
    else if (dt == "f64") conv(double{});
    else if (dt == "i32") conv(int32_t{});
    else fail("tensor '", name, "' has unknown dtype ", dt);
    return out;
  }
};

}  // namespace beop::test
