// report.md / report.json of `infer eval` (the functions are declared in legal/eval/runner.h; this header holds
// the shared formatting helper).
#pragma once
#include <string>

#include "legal/eval/bootstrap.h"

namespace beop::eval {

std::string fmt_pct(double x);       // 0.1234 -> "12.34"
std::string fmt_ci(const Interval& c);  // "[10.20, 14.50]" (×100)

}  // namespace beop::eval
