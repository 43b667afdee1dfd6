// GGUF v3 files, the container llama.cpp / Ollama load: header, key-value metadata, tensor infos, then the tensor
// data, each tensor aligned to 32 bytes. Little-endian, as ggml writes it. The file is written atomically
// (AtomicFile, src/io.h). What goes into it for a beop model: src/gguf_export.h. Tests: tests/test_gguf_export.cpp
// (read back by the PyPI gguf package, tests/reference/gguf_oracle.py).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace beop {

enum class GgmlType : uint32_t { F32 = 0, F16 = 1, Q8_0 = 8, BF16 = 30 };

class GgufWriter {
 public:
  void add_u32(const std::string& key, uint32_t v);
  void add_i32(const std::string& key, int32_t v);
  void add_f32(const std::string& key, float v);
  void add_bool(const std::string& key, bool v);
  void add_string(const std::string& key, const std::string& v);
  void add_strings(const std::string& key, const std::vector<std::string>& v);
  void add_i32s(const std::string& key, const std::vector<int32_t>& v);
  void add_f32s(const std::string& key, const std::vector<float>& v);
  // ne: the dimensions innermost first (ggml's order: a row-major (rows, cols) matrix is {cols, rows}); data: the
  // bytes in ggml's layout for `type` (checked against ne).
  void add_tensor(const std::string& name, const std::vector<int64_t>& ne, GgmlType type, std::string data);
  void write(const std::string& path) const;

 private:
  std::string kv_;  // the encoded key-value pairs
  uint64_t n_kv_ = 0;
  struct Tensor {
    std::string name;
    std::vector<int64_t> ne;
    GgmlType type;
    std::string data;
  };
  std::vector<Tensor> tensors_;
  void key(const std::string& k, uint32_t type);
};

}  // namespace beop
