#include "src/flags.h"


#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>

namespace beop {

Flags::Flags(std::string command, std::string usage, std::string description)
    : command_(std::move(command)), usage_(std::move(usage)), description_(std::move(description)) {}

void Flags::add(const std::string& name, const std::string& def, const std::string& help, bool required) {
  flags_.push_back({name, def, def, help, false, required, false});
}

void Flags::add_bool(const std::string& name, const std::string& help) {
  flags_.push_back({name, "0", "off", help, true, false, false});
}

Flags::Flag* Flags::find(const std::string& name) {
  for (auto& f : flags_)
    if (f.name == name) return &f;
  return nullptr;
}

const Flags::Flag& Flags::get(const std::string& name) const {
  for (auto& f : flags_)
    if (f.name == name) return f;
  fail("internal: ", command_, " has no flag --", name);
}

bool Flags::parse(int argc, char** argv) {
  bool flags_done = false;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (flags_done || a.size() < 2 || a[0] != '-' || a == "-") {
      positional_.push_back(a);
      continue;
    }
    if (a == "--") {
      flags_done = true;
      continue;
    }
    if (a == "--help" || a == "-h") {
      std::cout << help();
      return false;
    }
    if (a.rfind("--", 0) != 0) throw UsageError(cat("unknown flag ", a, " (see ", command_, " --help)"));
    std::string name = a.substr(2), value;
    bool has_value = false;
    size_t eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    Flag* f = find(name);
    if (!f) throw UsageError(cat("unknown flag --", name, " (see ", command_, " --help)"));
    if (f->is_bool) {
      if (has_value) throw UsageError(cat("--", name, " takes no value"));
      f->value = "1";
    } else {
      if (!has_value) {
        if (i + 1 >= argc) throw UsageError(cat("--", name, " needs a value"));
        value = argv[++i];
      }
      f->value = value;
    }
    f->given = true;
  }
  for (auto& f : flags_)
    if (f.required && !f.given) throw UsageError(cat("missing --", f.name, " (see ", command_, " --help)"));
  return true;
}

std::string Flags::str(const std::string& name) const { return get(name).value; }

int64_t Flags::i64(const std::string& name) const {
  const std::string& v = get(name).value;
  char* end = nullptr;
  errno = 0;
  long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno == ERANGE) throw UsageError(cat("--", name, ": '", v, "' is not an integer"));
  return x;
}

double Flags::f64(const std::string& name) const {
  const std::string& v = get(name).value;
  char* end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || !std::isfinite(x)) throw UsageError(cat("--", name, ": '", v, "' is not a number"));
  return x;
}

bool Flags::on(const std::string& name) const { return get(name).value == "1"; }
bool Flags::given(const std::string& name) const { return get(name).given; }

std::string Flags::help() const {
  std::string h = "usage: " + command_ + " " + usage_ + "\n" + description_ + "\n\nflags:\n";
  for (auto& f : flags_) {
    std::string left = "  --" + f.name + (f.is_bool ? "" : " VALUE");
    if (left.size() < 24) left.resize(24, ' ');
    std::string def = f.required ? "required" : f.is_bool ? "default off" : "default \"" + f.def + "\"";
    h += left + " " + f.help + " (" + def + ")\n";
  }
  h += "  --help                 this text\n";
  return h;
}

}  // namespace beop
