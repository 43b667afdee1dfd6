// nvcc build of the CUDA backend (`make cuda`, sm_80 + sm_90): instantiates CudaModel — so every kernel the
// model launches, the cuBLAS GEMM wrapper and the host code around them compile for the device — exactly
// the source that tests/test_cuda_model.cpp runs on the CPU through cuda/simt. Compile-only (no link).
#include "cuda/model_cuda.h"

namespace beop {
template class Model<cuda::CudaOps<float>>;
}  // namespace beop

// Kernels the model does not launch (yet): the full-sequence flash forward.
template void beop::cuda::attention_forward_flash<float>(float*, const float*, int, int, int, int, int, cudaStream_t);
