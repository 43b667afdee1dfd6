// The CPU model: Model<> driven by the reference kernels. CpuModel trains in float; CpuModelF64 runs the
// identical code in double for gradient checks.
#pragma once
#include "cpu/ops.h"
#include "src/model.h"

namespace beop {
using CpuModel = Model<cpu::CpuOps<float>>;
using CpuModelF64 = Model<cpu::CpuOps<double>>;
}  // namespace beop
