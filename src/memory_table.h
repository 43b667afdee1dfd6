// The memory table printed when a model is built: one row per tensor (name, shape, bytes) and a total,
// so a user sees where memory goes before a long run starts.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace beop {

class MemoryTable {
 public:
  explicit MemoryTable(std::string title) : title_(std::move(title)) {}
  void add(const std::string& name, const std::vector<int64_t>& shape, size_t bytes);
  size_t total_bytes() const { return total_; }
  // Rows for repeated per-layer tensors ("model.layers.N.") are folded into one row "layers.*.<rest> x L"
  // unless verbose; the total always counts everything.
  std::string str(bool verbose = false) const;

 private:
  struct Row {
    std::string name, shape;
    size_t bytes;
    int count;
  };
  std::string title_;
  std::vector<Row> rows_;
  size_t total_ = 0;
};

std::string human_bytes(double bytes);  // "1.50 MiB"

}  // namespace beop
