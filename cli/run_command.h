// The programs' exit convention in one place: a command body's return value; a UsageError -> "<name>: <message>"
// on stderr and exit 2; any other exception -> "error: <message>" and exit 1 (docs/INFER.md, "Exit status").
#pragma once
#include <functional>
#include <string>

namespace beop::cli {

int run_command(const std::string& name, const std::function<int()>& body);

}  // namespace beop::cli
