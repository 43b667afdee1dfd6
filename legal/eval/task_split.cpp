// Keeping the evaluation tasks apart (task_split.h).
#include "legal/eval/task_split.h"

#include <algorithm>
#include <map>
#include <unordered_set>

#include "src/utf8.h"

namespace beop::eval {

namespace {

// Code points with whitespace runs collapsed to one space (so line breaks do not hide a quotation).
std::u32string squeeze(const std::string& s) {
  std::u32string out;
  for (char32_t c : utf8_decode(s, Utf8Bad::kReplace)) {
    const bool sp = c == U' ' || c == U'\n' || c == U'\t' || c == U'\r' || c == 0x3000 || c == 0xA0;
    if (sp) {
      if (!out.empty() && out.back() != U' ') out.push_back(U' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::unordered_set<std::u32string> grams(const std::u32string& s, int n) {
  std::unordered_set<std::u32string> g;
  for (size_t i = 0; i + size_t(n) <= s.size(); i++) g.insert(s.substr(i, size_t(n)));
  return g;
}

bool shares_gram(const std::u32string& s, const std::unordered_set<std::u32string>& g, int n) {
  for (size_t i = 0; i + size_t(n) <= s.size(); i++)
    if (g.count(s.substr(i, size_t(n)))) return true;
  return false;
}

}  // namespace

Task precedent_owner(bool criminal, size_t k) {
  if (criminal) return k % 2 == 0 ? Task::Summary : Task::QA;
  const Task cycle[3] = {Task::Complaint, Task::Summary, Task::QA};
  return cycle[k % 3];
}

double ngram_containment(const std::string& reference, const std::string& text, int n) {
  const auto r = grams(squeeze(reference), n);
  if (r.empty()) return 0;
  const auto t = grams(squeeze(text), n);
  size_t hit = 0;
  for (auto& g : r) hit += t.count(g);
  return double(hit) / double(r.size());
}

std::string strip_quoted_sentences(const std::string& text, const std::string& reference, int n, int* removed) {
  const auto g = grams(squeeze(reference), n);
  std::string out, cur;
  int dropped = 0;
  auto flush = [&](const std::string& sep) {
    if (!cur.empty() && shares_gram(squeeze(cur), g, n)) dropped++;
    else out += cur;
    cur.clear();
    out += sep;
  };
  for (size_t i = 0; i < text.size(); i++) {
    const char c = text[i];
    if (c == '\n') {
      flush("\n");
      continue;
    }
    cur += c;
    if (c == '.' && cur.size() >= 4 && cur.compare(cur.size() - 4, 4, "다.") == 0 &&
        (i + 1 == text.size() || text[i + 1] == ' '))
      flush("");
  }
  flush("");
  // Lines emptied by the removal collapse: at most one blank line in a row.
  std::string tidy;
  int nl = 0;
  for (char c : out) {
    nl = c == '\n' ? nl + 1 : 0;
    if (nl <= 2) tidy += c;
  }
  if (removed) *removed = dropped;
  return tidy;
}

const std::string& item_input(const TaskItem& it) { return it.messages.empty() ? it.prompt : it.messages.back().content; }

TaskAudit audit_tasks(const std::vector<TaskItem>& items, int n) {
  TaskAudit a;
  a.items = int(items.size());
  std::map<std::string, std::vector<Task>> by_ref;
  for (auto& it : items)
    if (it.task != Task::MC) by_ref[it.reference].push_back(it.task);
  double sum = 0;
  for (auto& it : items) {
    const auto& owners = by_ref[it.reference];  // empty for MC
    if (owners.size() > 1) a.shared_references++;
    if (std::any_of(owners.begin(), owners.end(), [&](Task t) { return t != it.task; })) a.cross_task_references++;
    // MC's reference is one option, which its own input lists by design: not a leak.
    const double c = it.task == Task::MC ? 0 : ngram_containment(it.reference, item_input(it), n);
    a.contained += c > kMaxContainment;
    a.max_containment = std::max(a.max_containment, c);
    sum += c;
  }
  a.mean_containment = items.empty() ? 0 : sum / double(items.size());
  return a;
}

}  // namespace beop::eval
