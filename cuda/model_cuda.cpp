// Explicit instantiation of CudaModel and CudaBf16Model for the host build (g++ + SIMT), archived into
// build/libbeop.a by cuda/cuda.mk. The nvcc build instantiates the same templates in cuda/backend.cu.
#include "cuda/model_cuda.h"

namespace beop {
template class Model<cuda::CudaOps<float>>;
template class Model<cuda::CudaOpsBf16>;
}  // namespace beop
