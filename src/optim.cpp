#include "src/optim.h"

#include <cmath>

#include "src/common.h"

namespace beop {

double LrSchedule::at(long step) const {
  if (step < warmup) return lr * double(step + 1) / double(warmup);
  if (kind == kConstant) return lr;
  const long decay_steps = total_steps - warmup;
  if (decay_steps <= 0) return lr;
  double frac = double(step - warmup) / double(decay_steps);
  if (frac > 1) frac = 1;
  if (kind == kLinear) return lr + (min_lr - lr) * frac;
  return min_lr + 0.5 * (lr - min_lr) * (1.0 + std::cos(M_PI * frac));
}

LrSchedule::Kind LrSchedule::parse(const std::string& name) {
  if (name == "cosine") return kCosine;
  if (name == "linear") return kLinear;
  if (name == "constant") return kConstant;
  fail("unknown learning-rate schedule '", name, "' (known: cosine, linear, constant)");
}

}  // namespace beop
