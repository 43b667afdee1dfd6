// Explicit instantiations, so the heavy templates compile once into the library.
#include "model_cpu.h"

namespace beop {
template class Model<cpu::CpuOps<float>>;
template class Model<cpu::CpuOps<double>>;
}  // namespace beop
