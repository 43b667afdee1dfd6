// Character n-gram near-duplicates of evaluation items in training text (train_overlap.h).
#include "legal/eval/train_overlap.h"

#include <unordered_map>

#include "legal/eval/task_split.h"
#include "src/common.h"
#include "src/io.h"
#include "src/utf8.h"

namespace beop::eval {

namespace {

constexpr uint64_t kBase = 1099511628211ull;

// Code points of s with whitespace (and the JSON escapes \n \t \r) collapsed to one space.
std::u32string squeezed(const std::string& s) {
  std::u32string out;
  const std::vector<char32_t> cps = utf8_decode(s, Utf8Bad::kReplace);
  for (size_t i = 0; i < cps.size(); i++) {
    char32_t c = cps[i];
    if (c == U'\\' && i + 1 < cps.size() && (cps[i + 1] == U'n' || cps[i + 1] == U't' || cps[i + 1] == U'r')) {
      c = U' ';
      i++;
    }
    const bool sp = c == U' ' || c == U'\n' || c == U'\t' || c == U'\r' || c == 0x3000 || c == 0xA0;
    if (sp) {
      if (!out.empty() && out.back() != U' ') out.push_back(U' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// Hashes of every n-gram window of s (rolling).
template <class F>
void each_gram(const std::u32string& s, int n, F f) {
  if (s.size() < size_t(n)) return;
  uint64_t pow = 1, h = 0;
  for (int k = 0; k < n; k++) pow *= kBase, h = h * kBase + uint64_t(s[size_t(k)]);
  for (size_t i = 0;; i++) {
    f(h);
    if (i + size_t(n) >= s.size()) break;
    h = h * kBase - uint64_t(s[i]) * pow + uint64_t(s[i + size_t(n)]);
  }
}


// files: the texts are file paths, read one at a time (the training corpora are hundreds of MB).
std::vector<ItemShare> shares(const std::vector<TaskItem>& items, const std::vector<std::string>& texts, bool files,
                              int n) {
  // Every n-gram of the items -> seen in training text?
  std::unordered_map<uint64_t, bool> seen;
  std::vector<std::u32string> refs, inputs;
  for (auto& it : items) {
    refs.push_back(squeezed(it.reference));
    inputs.push_back(squeezed(item_input(it)));
    each_gram(refs.back(), n, [&](uint64_t h) { seen.emplace(h, false); });
    each_gram(inputs.back(), n, [&](uint64_t h) { seen.emplace(h, false); });
  }
  for (auto& t : texts)
    each_gram(squeezed(files ? read_file(t) : t), n, [&](uint64_t h) {
      auto f = seen.find(h);
      if (f != seen.end()) f->second = true;
    });
  auto share = [&](const std::u32string& s) {
    size_t all = 0, hit = 0;
    each_gram(s, n, [&](uint64_t h) { all++, hit += seen[h]; });
    return all == 0 ? 0.0 : double(hit) / double(all);
  };
  std::vector<ItemShare> out;
  for (size_t i = 0; i < items.size(); i++) out.push_back({share(refs[i]), share(inputs[i])});
  return out;
}

}  // namespace

std::vector<ItemShare> item_shares(const std::vector<TaskItem>& items, const std::vector<std::string>& texts, int n) {
  return shares(items, texts, false, n);
}

std::vector<NearDup> near_duplicates(const std::vector<TaskItem>& items, const std::vector<std::string>& files, int n) {
  for (auto& f : files) BEOP_CHECK(file_exists(f), "training file ", f, " does not exist");
  const std::vector<ItemShare> sh = shares(items, files, true, n);
  std::vector<NearDup> rows;
  for (int t = 0; t < kNumTasks; t++) {
    NearDup d;
    d.task = Task(t);
    for (size_t i = 0; i < items.size(); i++) {
      if (items[i].task != d.task) continue;
      d.items++;
      d.ref_half += sh[i].ref > 0.5, d.ref_most += sh[i].ref > 0.9, d.input_half += sh[i].input > 0.5;
      d.mean_ref += sh[i].ref, d.mean_input += sh[i].input;
    }
    if (d.items == 0) continue;
    d.mean_ref /= d.items, d.mean_input /= d.items;
    rows.push_back(d);
  }
  return rows;
}

}  // namespace beop::eval
