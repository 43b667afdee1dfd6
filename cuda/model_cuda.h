// The CUDA models: the one model definition (src/transformer.h, src/model.h) driven by the CUDA backend
// (cuda/ops_cuda.h) — CudaModel in fp32, CudaBf16Model in bf16 mixed precision (fp32 master weights and AdamW
// moments, bf16 working weights / gradients / activations). Under g++ this is the same kernel source run on
// the CPU through cuda/simt, which is how tests/test_cuda_model.cpp and tests/test_cuda_bf16.cpp check them
// against CpuModel without a GPU. (Under nvcc the types live in beop::cuda::gpu, under g++ in
// beop::cuda::sim — cuda/namespace.h — so both instantiations can sit in one program.)
#pragma once
#include "cuda/ops_cuda.h"
#include "src/model.h"

namespace beop {
using CudaModel = Model<cuda::CudaOps<float>>;
using CudaBf16Model = Model<cuda::CudaOpsBf16>;
}  // namespace beop
