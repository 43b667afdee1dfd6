// Explicit instantiation of CudaModel for the host build (g++ + SIMT), archived into build/libbeop.a by
// cuda/cuda.mk. The nvcc build instantiates the same template in cuda/model_cuda_check.cu.
#include "model_cuda.h"

namespace beop {
template class Model<cuda::CudaOps<float>>;
}  // namespace beop
