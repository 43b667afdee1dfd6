// Linear layer without bias, PyTorch/Hugging Face weight layout W (OC, IC):  out = in @ W^T.
// All three GEMMs go through Eigen (multi-threaded with OpenMP; serial when called inside a parallel
// region). Row-major maps with explicit leading dimensions let callers pass column slices of wider buffers.
// This is the reference (double) and fallback path: CpuOps<float> (cpu/ops.h) runs training-sized fp32 GEMMs on
// the faster packed kernel of cpu/gemm_f32.h where the CPU has AVX-512F, and a few rows on cpu/matmul_smallm.h.
// CUDA: cuda/gemm.h (cuBLASLt). Tests: tests/test_ops.cpp, tests/test_cuda_kernels.cpp, tests/test_cuda_bf16.cpp.
#pragma once
#include <Eigen/Core>
#include <algorithm>
#include <cstdint>

namespace beop::cpu {

template <typename T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using MatMap = Eigen::Map<RowMat<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <typename T>
using ConstMatMap = Eigen::Map<const RowMat<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

// out (N, OC) = in (N, IC) @ W^T          W (OC, IC)
template <typename T>
void linear_forward(T* out, const T* in, const T* W, int N, int IC, int OC) {
  MatMap<T> o(out, N, OC, Eigen::OuterStride<>(OC));
  ConstMatMap<T> x(in, N, IC, Eigen::OuterStride<>(IC));
  ConstMatMap<T> w(W, OC, IC, Eigen::OuterStride<>(IC));
  if (N > 4) {
    o.noalias() = x * w.transpose();
    return;
  }
  // Decoding (a few rows): Eigen runs matrix-vector products on one thread, and reading W is the whole cost,
  // so threads split W's rows (output columns) to use every core's memory bandwidth.
  constexpr int kRows = 64;
  const int chunks = (OC + kRows - 1) / kRows;
#pragma omp parallel for schedule(static)
  for (int c = 0; c < chunks; c++) {
    const int r0 = c * kRows, r = std::min(kRows, OC - r0);
    o.middleCols(r0, r).noalias() = x * w.middleRows(r0, r).transpose();
  }
}

// d_in (N, IC) = or += d_out (N, OC) @ W        (accumulate: several projections share one input)
// d_W  (OC, IC) += d_out^T @ in                 (always accumulates: gradient accumulation)
template <typename T>
void linear_backward(T* d_in, T* d_W, const T* d_out, const T* in, const T* W, int N, int IC, int OC,
                     bool accumulate_d_in) {
  ConstMatMap<T> dy(d_out, N, OC, Eigen::OuterStride<>(OC));
  ConstMatMap<T> x(in, N, IC, Eigen::OuterStride<>(IC));
  ConstMatMap<T> w(W, OC, IC, Eigen::OuterStride<>(IC));
  MatMap<T> dx(d_in, N, IC, Eigen::OuterStride<>(IC));
  MatMap<T> dw(d_W, OC, IC, Eigen::OuterStride<>(IC));
  if (accumulate_d_in)
    dx.noalias() += dy * w;
  else
    dx.noalias() = dy * w;
  dw.noalias() += dy.transpose() * x;
}

}  // namespace beop::cpu
