// The one matrix-multiply entry point of the CUDA backend: every linear layer and every attention GEMM
// goes through gemm() below. Row-major throughout (PyTorch layouts), optional transposes, explicit leading
// dimensions (so callers pass column slices of wider buffers, e.g. one head of the fused qkv buffer) and a
// strided batch (stride 0 = the same matrix for every batch entry).
//
//   for i in [0, batch):  C_i (M, N) = alpha * op(A_i) (M, K) @ op(B_i) (K, N) + beta * C_i
//   A_i = A + i * strideA, op(A) = A (stored M x K, leading dim lda) or A^T (stored K x M); likewise B, C.
//   beta == 0: C is not read (it may hold NaN).
//
// Under nvcc: cuBLASLt (cublasLtMatmul, strided batch through the matrix layouts) with CUBLAS_COMPUTE_32F —
// fp32 (or bf16) inputs, fp32 accumulation, no TF32 — and the heuristic's first algorithm for a 32 MiB workspace;
// cublasGemmStridedBatchedEx (same contract) only where cuBLASLt offers no algorithm. The heuristic is told
// each operand's real alignment (operand_alignment), since callers pass column slices of wider buffers. Both
// are deterministic run to run on one GPU model (cuBLAS's default no-atomics mode; the same shape picks the
// same algorithm). Descriptors and the algorithm are made once per call shape and cached (LtPlan).
// Under g++ (the SIMT CPU build) it is Eigen, like cpu/linear.h: "device" memory is host memory there.
// Reference: cpu/linear.h (linear_forward/backward below); in bf16, cpu/gemm_bf16.h (CPU bf16 training).
// Tests: tests/test_cuda_kernels.cpp, tests/test_cuda_bf16.cpp.
#pragma once
#include <cstdint>

#include "cuda/namespace.h"
#include "cuda/simt/simt.h"
#include "src/common.h"

#if defined(__CUDACC__)
#include <cublasLt.h>
#include <cublas_v2.h>

#include <mutex>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#else
#include <Eigen/Core>
#include <vector>
#endif

BEOP_CUDA_NAMESPACE_BEGIN

// The alignment in bytes (a power of two, at most 256) that every batch entry base + i * stride shares.
// cuBLASLt's heuristic assumes 256-byte aligned operands unless told otherwise, and gemm() is called with
// column slices (one attention head of the fused qkv buffer: a 128-byte offset at D = 64 in bf16), so the
// real alignment goes into the preference and only algorithms that can handle it are offered.
inline uint32_t operand_alignment(const void* p, int64_t stride_bytes, int batch) {
  uint64_t bits = uint64_t(reinterpret_cast<uintptr_t>(p)) | 256u;
  if (batch > 1) bits |= uint64_t(stride_bytes);
  return uint32_t(bits & (~bits + 1));  // lowest set bit
}

#if defined(__CUDACC__)

// Throws beop::Error naming the failed call, cuBLAS's status name and message, and the source location.
#define BEOP_CUBLAS_CHECK(expr)                                                                          \
  do {                                                                                                   \
    cublasStatus_t beop_st_ = (expr);                                                                    \
    if (beop_st_ != CUBLAS_STATUS_SUCCESS)                                                               \
      ::beop::fail("cuBLAS error ", cublasGetStatusName(beop_st_), " (", cublasGetStatusString(beop_st_), \
                   ") in ", #expr, " at ", __FILE__, ":", __LINE__);                                     \
  } while (0)

// A cuBLASLt plan for one call shape: the descriptors and the heuristic's algorithm (or none: use the
// cublasGemmStridedBatchedEx fallback). Built once per shape and kept for the life of the process: a model
// makes the same few dozen GEMM calls every step and every decoded token, and building a plan (descriptor
// creation plus the heuristic query) costs tens of microseconds of host time — at batch-1 decode, more than
// the GPU spends on the GEMM itself.
struct LtPlan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, lc = nullptr;
  cublasLtMatmulAlgo_t algo = {};
  bool has_algo = false;
};

// Everything the plan depends on. The pointers enter only through their alignment (the heuristic's
// preference), so a plan serves every call with the same shape, strides and alignment. (The cache is not
// bounded: training repeats a few dozen shapes; inference adds one per distinct prompt length M, about a
// kilobyte each, for the life of the process.)
struct LtKey {
  cudaDataType_t dtype;
  bool ta, tb;
  int M, N, K, lda, ldb, ldc, batch;
  int64_t strideA, strideB, strideC;  // 0 when batch == 1 (they do not affect a single-matrix plan)
  uint32_t align_a, align_b, align_c;  // bytes, as told to the heuristic (cuBLASLt's A is our B)
  auto fields() const {
    return std::tie(dtype, ta, tb, M, N, K, lda, ldb, ldc, batch, strideA, strideB, strideC, align_a, align_b,
                    align_c);
  }
  bool operator==(const LtKey& o) const { return fields() == o.fields(); }
};
struct LtKeyHash {
  size_t operator()(const LtKey& k) const {
    uint64_t h = 1469598103934665603ull;  // FNV-1a over the fields
    auto mix = [&h](int64_t x) { h = (h ^ uint64_t(x)) * 1099511628211ull; };
    std::apply([&](const auto&... f) { (mix(int64_t(f)), ...); }, k.fields());
    return size_t(h);
  }
};

// One cuBLASLt handle, one workspace and one plan cache per process. beop issues every GEMM on one stream
// (stream 0), which is what makes one workspace and one fallback handle enough: concurrent GEMMs on several
// streams would need one of each per stream. The cache is guarded by a mutex; plans are immutable once made.
struct LtState {
  cublasLtHandle_t lt = nullptr;
  cublasHandle_t blas = nullptr;  // fallback when cuBLASLt's heuristic offers no algorithm
  void* workspace = nullptr;
  size_t workspace_bytes = size_t(32) << 20;
  std::mutex mu;
  std::unordered_map<LtKey, LtPlan, LtKeyHash> plans;
};
inline LtState& lt_state() {
  static LtState* s = [] {
    auto* x = new LtState;  // never destroyed: the CUDA context may be gone at static destruction
    BEOP_CUBLAS_CHECK(cublasLtCreate(&x->lt));
    BEOP_CUBLAS_CHECK(cublasCreate(&x->blas));
    if (cudaMalloc(&x->workspace, x->workspace_bytes) != cudaSuccess)
      ::beop::fail("out of device memory allocating the cuBLASLt workspace (", x->workspace_bytes, " bytes)");
    return x;
  }();
  return *s;
}

// Number of cached GEMM plans (tests: the same call twice makes one plan).
inline size_t gemm_plan_count() {
  LtState& st = lt_state();
  std::lock_guard<std::mutex> lock(st.mu);
  return st.plans.size();
}

template <typename T>
constexpr cudaDataType_t cuda_dtype() {
  return std::is_same<T, float>::value ? CUDA_R_32F : CUDA_R_16BF;
}

// Builds the plan of one call shape (see gemm below for the argument meanings).
inline LtPlan make_lt_plan(LtState& st, cudaDataType_t dt, bool ta, bool tb, int M, int N, int K, int lda,
                           int64_t strideA, int ldb, int64_t strideB, int ldc, int64_t strideC, int batch,
                           uint32_t align_a, uint32_t align_b, uint32_t align_c) {
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: B goes in cuBLASLt's "A" slot and A in
  // its "B" slot, with the same transpose flags; a row-major (r x c) matrix is a column-major (c x r) one.
  const cublasOperation_t op_b = tb ? CUBLAS_OP_T : CUBLAS_OP_N, op_a = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  LtPlan p;
  BEOP_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  BEOP_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_b, sizeof(op_b)));
  BEOP_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_a, sizeof(op_a)));
  BEOP_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.la, dt, tb ? K : N, tb ? N : K, ldb));
  BEOP_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.lb, dt, ta ? M : K, ta ? K : M, lda));
  BEOP_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.lc, dt, N, M, ldc));
  if (batch > 1) {
    const int32_t count = batch;
    const int64_t sa = strideB, sb = strideA, sc = strideC;
    for (auto [l, stride] : {std::pair<cublasLtMatrixLayout_t, int64_t>{p.la, sa}, {p.lb, sb}, {p.lc, sc}}) {
      BEOP_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)));
      BEOP_CUBLAS_CHECK(
          cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)));
    }
  }
  cublasLtMatmulPreference_t pref = nullptr;
  BEOP_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  BEOP_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                         &st.workspace_bytes, sizeof(st.workspace_bytes)));
  const std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t> aligns[] = {
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, align_a}, {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, align_b},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, align_c}, {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, align_c}};
  for (const auto& [attr, value] : aligns)
    BEOP_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, attr, &value, sizeof(value)));
  cublasLtMatmulHeuristicResult_t heur = {};
  int found = 0;
  const cublasStatus_t hs =
      cublasLtMatmulAlgoGetHeuristic(st.lt, p.desc, p.la, p.lb, p.lc, p.lc, pref, 1, &heur, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (hs == CUBLAS_STATUS_SUCCESS && found > 0) {
    p.algo = heur.algo;
    p.has_algo = true;
  }
  return p;
}

// T = float: fp32 in/out. T = __nv_bfloat16: bf16 A, B, C with fp32 accumulation and fp32 alpha/beta (the
// bf16 tensor-core path). CUBLAS_COMPUTE_32F in both cases; it never uses TF32 for fp32 inputs.
template <typename T>
void gemm(bool ta, bool tb, int M, int N, int K, float alpha, const T* A, int lda, int64_t strideA, const T* B,
          int ldb, int64_t strideB, float beta, T* C, int ldc, int64_t strideC, int batch = 1,
          cudaStream_t stream = 0) {
  static_assert(std::is_same<T, float>::value || std::is_same<T, __nv_bfloat16>::value, "gemm: float or bf16");
  LtState& st = lt_state();
  const cudaDataType_t dt = cuda_dtype<T>();
  const uint32_t align_a = operand_alignment(B, strideB * int64_t(sizeof(T)), batch);  // cuBLASLt's A is our B
  const uint32_t align_b = operand_alignment(A, strideA * int64_t(sizeof(T)), batch);
  const uint32_t align_c = operand_alignment(C, strideC * int64_t(sizeof(T)), batch);
  const bool batched = batch > 1;  // strides matter only then (one plan for every single-matrix call shape)
  const LtKey key{dt, ta, tb, M, N, K, lda, ldb, ldc, batch, batched ? strideA : 0, batched ? strideB : 0,
                  batched ? strideC : 0, align_a, align_b, align_c};
  const LtPlan* plan;
  {
    std::lock_guard<std::mutex> lock(st.mu);
    auto it = st.plans.find(key);
    if (it == st.plans.end())
      it = st.plans.emplace(key, make_lt_plan(st, dt, ta, tb, M, N, K, lda, strideA, ldb, strideB, ldc, strideC,
                                              batch, align_a, align_b, align_c))
               .first;
    plan = &it->second;  // unordered_map never moves its elements
  }
  cublasStatus_t rs = CUBLAS_STATUS_NOT_SUPPORTED;
  if (plan->has_algo)
    rs = cublasLtMatmul(st.lt, plan->desc, &alpha, B, plan->la, A, plan->lb, &beta, C, plan->lc, C, plan->lc,
                        &plan->algo, st.workspace, st.workspace_bytes, stream);
  if (rs == CUBLAS_STATUS_SUCCESS) return;
  // No cuBLASLt algorithm for this shape/stride combination: classic cuBLAS, same arithmetic contract.
  const cublasOperation_t op_b = tb ? CUBLAS_OP_T : CUBLAS_OP_N, op_a = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  BEOP_CUBLAS_CHECK(cublasSetStream(st.blas, stream));
  const cublasStatus_t bs = cublasGemmStridedBatchedEx(st.blas, op_b, op_a, N, M, K, &alpha, B, dt, ldb, strideB,
                                                       A, dt, lda, strideA, &beta, C, dt, ldc, strideC, batch,
                                                       CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  if (bs != CUBLAS_STATUS_SUCCESS)
    ::beop::fail("gemm failed: cuBLASLt ", cublasGetStatusName(rs), ", cublasGemmStridedBatchedEx ",
                 cublasGetStatusName(bs), " (", cublasGetStatusString(bs), ") (M=", M, " N=", N, " K=", K,
                 " batch=", batch, ") at ", __FILE__, ":", __LINE__);
}

#else

namespace gemm_detail {
using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Map = Eigen::Map<RowMat, Eigen::Unaligned, Eigen::OuterStride<>>;
using CMap = Eigen::Map<const RowMat, Eigen::Unaligned, Eigen::OuterStride<>>;

template <typename EA, typename EB>
void apply(Map& c, const EA& a, const EB& b, float alpha, float beta) {
  if (beta == 0.0f) {
    if (alpha == 1.0f)
      c.noalias() = a * b;
    else
      c.noalias() = alpha * (a * b);
  } else {
    if (beta != 1.0f) c *= beta;
    if (alpha == 1.0f)
      c.noalias() += a * b;
    else
      c.noalias() += alpha * (a * b);
  }
}
// (rows x cols) block with leading dimension ld, as a contiguous float matrix.
template <typename T>
std::vector<float> widen(const T* p, int rows, int cols, int ld) {
  std::vector<float> out(size_t(rows) * cols);
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < cols; c++) out[size_t(r) * cols + c] = float(p[int64_t(r) * ld + c]);
  return out;
}
}  // namespace gemm_detail

inline void gemm(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda, int64_t strideA,
                 const float* B, int ldb, int64_t strideB, float beta, float* C, int ldc, int64_t strideC,
                 int batch = 1, cudaStream_t stream = 0) {
  using namespace gemm_detail;
  for (int i = 0; i < batch; i++) {
    Map c(C + i * strideC, M, N, Eigen::OuterStride<>(ldc));
    CMap a(A + i * strideA, ta ? K : M, ta ? M : K, Eigen::OuterStride<>(lda));
    CMap b(B + i * strideB, tb ? N : K, tb ? K : N, Eigen::OuterStride<>(ldb));
    if (!ta && !tb) apply(c, a, b, alpha, beta);
    else if (!ta && tb) apply(c, a, b.transpose(), alpha, beta);
    else if (ta && !tb) apply(c, a.transpose(), b, alpha, beta);
    else apply(c, a.transpose(), b.transpose(), alpha, beta);
  }
}

// bf16 under SIMT: the device contract (bf16 operands, fp32 accumulation, one rounding of the result to bf16)
// by widening the operands to float, the fp32 GEMM above, and rounding C once.
inline void gemm(bool ta, bool tb, int M, int N, int K, float alpha, const __nv_bfloat16* A, int lda,
                 int64_t strideA, const __nv_bfloat16* B, int ldb, int64_t strideB, float beta, __nv_bfloat16* C,
                 int ldc, int64_t strideC, int batch = 1, cudaStream_t stream = 0) {
  using namespace gemm_detail;
  for (int i = 0; i < batch; i++) {
    const int ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    std::vector<float> a = widen(A + i * strideA, ar, ac, lda), b = widen(B + i * strideB, br, bc, ldb);
    std::vector<float> c = beta == 0.0f ? std::vector<float>(size_t(M) * N, 0.0f) : widen(C + i * strideC, M, N, ldc);
    gemm(ta, tb, M, N, K, alpha, a.data(), ac, 0, b.data(), bc, 0, beta, c.data(), N, 0, 1, stream);
    for (int r = 0; r < M; r++)
      for (int col = 0; col < N; col++) C[i * strideC + int64_t(r) * ldc + col] = __nv_bfloat16(c[size_t(r) * N + col]);
  }
}

#endif

// Linear layer without bias, weight W (OC, IC) as in PyTorch (same contract as cpu/linear.h):
// out (N, OC) = in (N, IC) @ W^T
template <typename T>
void linear_forward(T* out, const T* in, const T* W, int N, int IC, int OC, cudaStream_t s = 0) {
  gemm(false, true, N, OC, IC, 1.0f, in, IC, 0, W, IC, 0, 0.0f, out, OC, 0, 1, s);
}

// d_in (N, IC) = or += d_out (N, OC) @ W;   d_W (OC, IC) += d_out^T @ in.
template <typename T>
void linear_backward(T* d_in, T* d_W, const T* d_out, const T* in, const T* W, int N, int IC, int OC,
                     bool accumulate_d_in, cudaStream_t s = 0) {
  gemm(false, false, N, IC, OC, 1.0f, d_out, OC, 0, W, IC, 0, accumulate_d_in ? 1.0f : 0.0f, d_in, IC, 0, 1, s);
  gemm(true, false, OC, IC, N, 1.0f, d_out, OC, 0, in, IC, 0, 1.0f, d_W, IC, 0, 1, s);
}

BEOP_CUDA_NAMESPACE_END
