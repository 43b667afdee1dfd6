// The CUDA model: the one model definition (src/transformer.h, src/model.h) driven by the CUDA backend
// (cuda/ops_cuda.h). Under g++ this is the same kernel source run on the CPU through cuda/simt, which is how
// tests/test_cuda_model.cpp checks it against CpuModel without a GPU.
#pragma once
#include "cuda/ops_cuda.h"
#include "src/model.h"

namespace beop {
using CudaModel = Model<cuda::CudaOps<float>>;
}  // namespace beop
