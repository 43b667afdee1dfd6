// Optimizer settings and learning-rate schedules (backend-independent).
#pragma once
#include <string>

namespace beop {

struct AdamWConfig {
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double weight_decay = 0.1;  // decoupled; applied to 2-D weights only (ParamLayout's decay flag)
  double grad_clip = 1.0;     // global L2 norm; <= 0 disables clipping
};

// lr(step) for step = 0, 1, ...: linear warmup from lr/warmup to lr over `warmup` steps, then
//   cosine:   decays to min_lr at total_steps along half a cosine;
//   linear:   decays linearly to min_lr at total_steps;
//   constant: stays at lr.
struct LrSchedule {
  enum Kind { kCosine, kLinear, kConstant } kind = kCosine;
  double lr = 3e-4, min_lr = 3e-5;
  long warmup = 0, total_steps = 1;

  double at(long step) const;
  static Kind parse(const std::string& name);  // "cosine" | "linear" | "constant"; throws Error otherwise
};

}  // namespace beop
