#include "src/memory_table.h"

#include <cstdio>
#include <regex>

namespace beop {

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) b /= 1024, u++;
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.2f %s" : "%.0f %s", b, units[u]);
  return buf;
}

void MemoryTable::add(const std::string& name, const std::vector<int64_t>& shape, size_t bytes) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); i++) s += (i ? ", " : "") + std::to_string(shape[i]);
  s += ")";
  rows_.push_back({name, s, bytes, 1});
  total_ += bytes;
}

std::string MemoryTable::str(bool verbose) const {
  std::vector<Row> rows;
  static const std::regex layer_re(R"(^(model\.)?layers\.\d+\.(.*)$)");
  for (const Row& r : rows_) {
    std::smatch m;
    Row row = r;
    if (!verbose && std::regex_match(r.name, m, layer_re)) row.name = "layers.*." + m[2].str();
    bool merged = false;
    for (Row& q : rows)
      if (q.name == row.name && q.shape == row.shape) q.bytes += row.bytes, q.count++, merged = true;
    if (!merged) rows.push_back(row);
  }
  std::string out = "== " + title_ + "\n";
  char line[256];
  std::snprintf(line, sizeof line, "%-48s %-22s %5s %12s\n", "tensor", "shape", "count", "bytes");
  out += line;
  for (const Row& r : rows) {
    std::snprintf(line, sizeof line, "%-48s %-22s %5d %12s\n", r.name.c_str(), r.shape.c_str(), r.count,
                  human_bytes(double(r.bytes)).c_str());
    out += line;
  }
  std::snprintf(line, sizeof line, "%-48s %-22s %5s %12s\n", "total", "", "", human_bytes(double(total_)).c_str());
  return out + line;
}

}  // namespace beop
