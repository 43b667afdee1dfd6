// The namespace of the CUDA backend's kernels, GEMM wrapper and Ops types: beop::cuda, with an INLINE inner
// namespace that differs by compiler — beop::cuda::gpu under nvcc, beop::cuda::sim under g++ (SIMT).
// Code names them as beop::cuda::X either way; only the mangled symbols differ. This matters because the same
// templates are instantiated twice in one program: build/libbeop.a holds the g++/SIMT Model<CudaOps<float>>
// (tests run the kernel source on the CPU), and build/nvcc/libbeop_cuda.a holds the real-GPU one. Template
// instantiations are weak symbols, so without distinct names the linker would keep one of the two at random.
#pragma once

#if defined(__CUDACC__)
#define BEOP_CUDA_NAMESPACE_BEGIN \
  namespace beop::cuda {          \
  inline namespace gpu {
#else
#define BEOP_CUDA_NAMESPACE_BEGIN \
  namespace beop::cuda {          \
  inline namespace sim {
#endif
#define BEOP_CUDA_NAMESPACE_END \
  }                             \
  }
