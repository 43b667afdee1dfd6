// Every CUDA kernel of the backend (cuda/kernels/*.cuh, the GEMM wrapper cuda/gemm.h), run on the CPU through
// cuda/simt, against its CPU reference (cpu/*.h) on fresh random inputs at several shapes, including odd
// ones (C = 7, T = 13, N not a multiple of any block size, V not a multiple of 128, T > 32 so warp loops
// wrap). Every output buffer starts POISONED (NaN), so an element a kernel forgets to write fails.
// Accumulating outputs (d_emb, dx, dw, dW) start from random values instead: += must be +=, not =.
// Tolerance: tests/cuda_check.h (kTolF32, one place, with its derivation).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "cpu/adamw.h"
#include "cpu/attention.h"
#include "cpu/bias.h"
#include "cpu/cross_entropy.h"
#include "cpu/embedding.h"
#include "cpu/kv_cache.h"
#include "cpu/linear.h"
#include "cpu/residual.h"
#include "cpu/rmsnorm.h"
#include "cpu/rope.h"
#include "cpu/swiglu.h"
#include "cuda/ops_cuda.h"
#include "src/rng.h"
#include "src/rope_tables.h"
#include "tests/cuda_check.h"
#include "tests/cuda_model_check.h"
#include "tests/test_util.h"

using namespace beop;
using beop::cudatest::Dev;
using beop::cudatest::random_ids;
using beop::cudatest::rope_config;
using beop::cudatest::kTolF32;
using beop::cudatest::rel_err;
using beop::test::randn;

namespace {


}  // namespace

TEST_CASE("cuda embedding forward/backward match cpu/embedding.h") {
  struct S { int N, C, V; };
  for (S s : {S{13, 7, 5}, S{37, 33, 128}, S{300, 64, 40}}) {
    CAPTURE(s.N); CAPTURE(s.C);
    const int Vp = (s.V + 127) / 128 * 128;
    auto tok = random_ids(s.N, s.V, 1 + s.N);  // V < N: ids repeat, so rows collect several tokens
    auto emb = randn<float>(size_t(Vp) * s.C, 2);
    Dev<int32_t> dtok(tok);
    Dev<float> demb(emb), dout(size_t(s.N) * s.C);
    cuda::embedding_forward(dout.p, dtok.p, demb.p, s.N, s.C);
    std::vector<float> ref(size_t(s.N) * s.C);
    cpu::embedding_forward(ref.data(), tok.data(), emb.data(), s.N, s.C);
    CHECK(rel_err(dout.get(), ref) == 0.0);  // a gather: exact

    auto g = randn<float>(size_t(s.N) * s.C, 3);
    auto d_emb = randn<float>(size_t(Vp) * s.C, 4);  // accumulates into existing values
    cpu::embedding_backward(d_emb.data(), g.data(), tok.data(), s.N, s.C);
    // one chunk (the default), and chunks of 64 and 7 tokens: runs of one id cross chunk boundaries
    for (int chunk : {0, 64, 7}) {  // 0: the default, the largest chunk
      CAPTURE(chunk);
      Dev<float> dg(g), dd(randn<float>(size_t(Vp) * s.C, 4));
      Dev<uint64_t> keys(size_t(s.N));
      cuda::embedding_backward(dd.p, dg.p, dtok.p, s.N, s.C, keys.p, 0, chunk);
      // Same additions in the same (token) order as the reference: bit-identical, not just close.
      CHECK(rel_err(dd.get(), d_emb) == 0.0);
    }
  }
}

TEST_CASE("cuda embedding backward: skewed ids (one id for half the tokens), sorted keys, bad chunk") {
  const int N = 1000, C = 130, V = 50, Vp = 128;
  auto tok = random_ids(N, V, 9);
  for (int n = 0; n < N; n += 2) tok[size_t(n)] = 3;  // a long run, like a padding or space token
  auto g = randn<float>(size_t(N) * C, 10), d_emb = randn<float>(size_t(Vp) * C, 11);
  Dev<int32_t> dtok(tok);
  Dev<float> dg(g), dd(d_emb);
  Dev<uint64_t> keys{size_t(N)};
  cuda::embedding_backward(dd.p, dg.p, dtok.p, N, C, keys.p, 0, 256);
  cpu::embedding_backward(d_emb.data(), g.data(), tok.data(), N, C);
  CHECK(rel_err(dd.get(), d_emb) == 0.0);
  // the keys: each 256-token chunk sorted by (id, position), and a permutation of its tokens
  const auto k = keys.get();
  for (int n0 = 0; n0 < N; n0 += 256) {
    std::vector<uint64_t> want;
    for (int n = n0; n < std::min(N, n0 + 256); n++) want.push_back(uint64_t(tok[size_t(n)]) << 32 | uint64_t(n));
    std::sort(want.begin(), want.end());
    CHECK(std::equal(want.begin(), want.end(), k.begin() + n0));
  }
  CHECK_THROWS_WITH_AS(cuda::embedding_backward(dd.p, dg.p, dtok.p, N, C, keys.p, 0, -1),
                       doctest::Contains("chunk -1"), beop::Error);
  CHECK_THROWS_WITH_AS(cuda::embedding_backward(dd.p, dg.p, dtok.p, N, C, keys.p, 0, cuda::kEmbeddingSortChunk + 1),
                       doctest::Contains("not in [1, "), beop::Error);
}

TEST_CASE("cuda rmsnorm forward/backward match cpu/rmsnorm.h") {
  struct S { int N, C; };
  for (S s : {S{13, 7}, S{300, 33}, S{4, 512}, S{600, 40}}) {  // N > 256: several dweight chunks
    CAPTURE(s.N); CAPTURE(s.C);
    const size_t NC = size_t(s.N) * s.C;
    auto x = randn<float>(NC, 10 + s.N), w = randn<float>(size_t(s.C), 11);
    Dev<float> dx_(x), dw_(w), dout(NC), drstd(size_t(s.N));
    cuda::rmsnorm_forward(dout.p, drstd.p, dx_.p, dw_.p, s.N, s.C, 1e-5f);
    std::vector<float> out(NC), rstd(size_t(s.N));
    cpu::rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), s.N, s.C, 1e-5f);
    CHECK(rel_err(dout.get(), out) <= kTolF32);
    CHECK(rel_err(drstd.get(), rstd) <= kTolF32);

    auto g = randn<float>(NC, 12), dx = randn<float>(NC, 13), dw = randn<float>(size_t(s.C), 14);
    Dev<float> dg(g), ddx(dx), ddw(dw), drs(rstd), scratch(cuda::rmsnorm_backward_scratch(s.N, s.C));
    cuda::rmsnorm_backward(ddx.p, ddw.p, dg.p, dx_.p, dw_.p, drs.p, s.N, s.C, scratch.p);
    cpu::rmsnorm_backward(dx.data(), dw.data(), g.data(), x.data(), w.data(), rstd.data(), s.N, s.C);
    CHECK(rel_err(ddx.get(), dx) <= kTolF32);
    CHECK(rel_err(ddw.get(), dw) <= kTolF32);
  }
}

TEST_CASE("gemm operand alignment told to cuBLASLt: the largest power of two <= 256 shared by every batch entry") {
  auto at = [](uintptr_t a) { return reinterpret_cast<const void*>(a); };
  CHECK(cuda::operand_alignment(at(0x10000), 0, 1) == 256);      // an allocation: capped at 256
  CHECK(cuda::operand_alignment(at(0x10080), 0, 1) == 128);      // head 1 of qkv at D = 64, bf16 (128 bytes in)
  CHECK(cuda::operand_alignment(at(0x10000 + 6), 0, 1) == 2);    // one bf16 element past a boundary
  CHECK(cuda::operand_alignment(at(0x10000), 96, 4) == 32);      // batch entries 96 bytes apart share 32
  CHECK(cuda::operand_alignment(at(0x10000), 96, 1) == 256);     // ... but a single entry ignores the stride
  CHECK(cuda::operand_alignment(at(0x10040), 1024, 8) == 64);    // the base decides when the stride is wider
}

TEST_CASE("cuda gemm wrapper: linear forward/backward match cpu/linear.h; transposes, batches, beta") {
  struct S { int N, IC, OC; };
  for (S s : {S{13, 7, 5}, S{16, 32, 96}, S{33, 65, 17}}) {
    CAPTURE(s.N); CAPTURE(s.IC); CAPTURE(s.OC);
    auto in = randn<float>(size_t(s.N) * s.IC, 20), W = randn<float>(size_t(s.OC) * s.IC, 21);
    Dev<float> din(in), dW(W), dout(size_t(s.N) * s.OC);
    cuda::linear_forward(dout.p, din.p, dW.p, s.N, s.IC, s.OC);
    std::vector<float> out(size_t(s.N) * s.OC);
    cpu::linear_forward(out.data(), in.data(), W.data(), s.N, s.IC, s.OC);
    CHECK(rel_err(dout.get(), out) <= kTolF32);

    for (bool acc : {false, true}) {
      auto g = randn<float>(size_t(s.N) * s.OC, 22);
      auto dx = randn<float>(size_t(s.N) * s.IC, 23), dw = randn<float>(size_t(s.OC) * s.IC, 24);
      Dev<float> dg(g), ddx(size_t(s.N) * s.IC), ddw(dw);  // d_in poisoned when overwritten
      if (acc) ddx.set(dx);
      cuda::linear_backward(ddx.p, ddw.p, dg.p, din.p, dW.p, s.N, s.IC, s.OC, acc);
      cpu::linear_backward(dx.data(), dw.data(), g.data(), in.data(), W.data(), s.N, s.IC, s.OC, acc);
      CHECK(rel_err(ddx.get(), dx) <= kTolF32);
      CHECK(rel_err(ddw.get(), dw) <= kTolF32);
    }
  }
  // All four transpose combinations, a strided batch with a stride-0 (shared) operand, alpha and beta,
  // against a double triple loop.
  const int M = 5, N = 7, K = 3, batch = 3;
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      CAPTURE(ta); CAPTURE(tb);
      const int lda = (ta ? M : K) + 2, ldb = (tb ? K : N) + 1, ldc = N + 3;
      const int64_t sA = int64_t(ta ? K : M) * lda, sC = int64_t(M) * ldc;
      auto A = randn<float>(size_t(sA) * batch, 30), B = randn<float>(size_t(tb ? N : K) * ldb, 31);
      auto C0 = randn<float>(size_t(sC) * batch, 32);
      Dev<float> dA(A), dB(B), dC(C0);
      cuda::gemm(ta, tb, M, N, K, 0.5f, dA.p, lda, sA, dB.p, ldb, 0, 2.0f, dC.p, ldc, sC, batch);
      std::vector<double> ref(C0.begin(), C0.end());
      for (int i = 0; i < batch; i++)
        for (int m = 0; m < M; m++)
          for (int n = 0; n < N; n++) {
            double s = 0;
            for (int k = 0; k < K; k++)
              s += double(A[i * sA + (ta ? k * lda + m : m * lda + k)]) * double(B[tb ? n * ldb + k : k * ldb + n]);
            double& c = ref[i * sC + m * ldc + n];
            c = 0.5 * s + 2.0 * c;
          }
      CHECK(rel_err(dC.get(), ref) <= kTolF32);
    }
}

#if defined(__CUDACC__)
// GPU only (under SIMT gemm is Eigen and has no plans).
TEST_CASE("cuda gemm plan cache: one cuBLASLt plan per call shape and alignment, reused with identical results") {
  const int M = 33, N = 65, K = 17;
  auto A = randn<float>(size_t(M) * K + 1, 40), B = randn<float>(size_t(K) * N, 41);
  Dev<float> dA(A), dB(B), dC1(size_t(M) * N), dC2(size_t(M) * N);
  const size_t before = cuda::gemm_plan_count();
  cuda::gemm(false, false, M, N, K, 1.0f, dA.p, K, 0, dB.p, N, 0, 0.0f, dC1.p, N, 0);
  CHECK(cuda::gemm_plan_count() == before + 1);
  cuda::gemm(false, false, M, N, K, 1.0f, dA.p, K, 0, dB.p, N, 0, 0.0f, dC2.p, N, 0);  // other C, same alignment
  CHECK(cuda::gemm_plan_count() == before + 1);
  CHECK(dC1.get() == dC2.get());  // the same algorithm on the same inputs
  // A one float in (4-byte aligned): a plan of its own, whose algorithm accepts that alignment
  cuda::gemm(false, false, M, N, K, 1.0f, dA.p + 1, K, 0, dB.p, N, 0, 0.0f, dC2.p, N, 0);
  CHECK(cuda::gemm_plan_count() == before + 2);
  std::vector<double> ref(size_t(M) * N);
  for (int m = 0; m < M; m++)
    for (int n = 0; n < N; n++)
      for (int k = 0; k < K; k++) ref[size_t(m) * N + n] += double(A[1 + size_t(m) * K + k]) * B[size_t(k) * N + n];
  CHECK(rel_err(dC2.get(), ref) <= kTolF32);
}
#endif

TEST_CASE("cuda bias forward/backward match cpu/bias.h") {
  struct S { int N, OC; };
  for (S s : {S{13, 7}, S{300, 33}, S{4, 200}}) {
    CAPTURE(s.N); CAPTURE(s.OC);
    auto out = randn<float>(size_t(s.N) * s.OC, 25), b = randn<float>(size_t(s.OC), 26);
    Dev<float> dout(out), db(b);
    cuda::bias_forward(dout.p, db.p, s.N, s.OC);
    cpu::bias_forward(out.data(), b.data(), s.N, s.OC);
    CHECK(rel_err(dout.get(), out) == 0.0);  // one rounding per element: exact
    auto g = randn<float>(size_t(s.N) * s.OC, 27);
    Dev<float> dg(g);
    cuda::bias_backward(db.p, dg.p, s.N, s.OC);  // accumulates into b's values
    cpu::bias_backward(b.data(), g.data(), s.N, s.OC);
    CHECK(rel_err(db.get(), b) <= kTolF32);
  }
}

TEST_CASE("cuda rope tables, forward and backward match src/rope_tables.h + cpu/rope.h") {
  struct S { int B, T, H, KV, D, pos0; };
  for (S s : {S{2, 13, 4, 2, 8, 3}, S{1, 5, 3, 1, 6, 0}, S{3, 7, 2, 2, 4, 9}}) {
    CAPTURE(s.T); CAPTURE(s.D);
    const ModelConfig cfg = rope_config(s.D, s.pos0 + s.T + 2);
    cuda::CudaOps<float> ops(cfg);
    std::vector<float> cs, sn;
    rope_tables(cfg, cs, sn);
    const size_t tab = cs.size();
    std::vector<float> gcs(tab), gsn(tab);
    ops.download(gcs.data(), ops.rope_cos, tab);
    ops.download(gsn.data(), ops.rope_sin, tab);
    CHECK(rel_err(gcs, cs) <= kTolF32);  // device cos/sin in double, rounded: normally bit-identical
    CHECK(rel_err(gsn, sn) <= kTolF32);

    const size_t n = size_t(s.B) * s.T * (s.H + 2 * s.KV) * s.D;
    auto qkv = randn<float>(n, 40 + s.T);
    Dev<float> d(qkv);
    ops.rope_forward(d.p, s.B, s.T, s.H, s.KV, s.D, s.pos0);
    auto ref = qkv;
    cpu::rope_forward(ref.data(), cs.data(), sn.data(), s.B, s.T, s.H, s.KV, s.D, s.pos0);
    CHECK(rel_err(d.get(), ref) <= kTolF32);
    auto g = randn<float>(n, 41);
    d.set(g);
    ops.rope_backward(d.p, s.B, s.T, s.H, s.KV, s.D, s.pos0);
    cpu::rope_backward(g.data(), cs.data(), sn.data(), s.B, s.T, s.H, s.KV, s.D, s.pos0);
    CHECK(rel_err(d.get(), g) <= kTolF32);
  }
}

TEST_CASE("cuda attention (batched GEMMs + causal softmax kernels) matches cpu/attention.h") {
  struct S { int B, T, H, KV, D; };
  for (S s : {S{2, 13, 4, 2, 8}, S{1, 37, 3, 1, 6}, S{2, 16, 2, 2, 4}, S{1, 5, 6, 3, 2}}) {
    CAPTURE(s.B); CAPTURE(s.T); CAPTURE(s.H); CAPTURE(s.KV); CAPTURE(s.D);
    const size_t nqkv = size_t(s.B) * s.T * (s.H + 2 * s.KV) * s.D, ny = size_t(s.B) * s.T * s.H * s.D;
    const size_t natt = size_t(s.B) * s.H * s.T * s.T;
    auto qkv = randn<float>(nqkv, 50 + s.T);
    Dev<float> dqkv(qkv), dy(ny), datt(natt);
    cuda::attention_forward(dy.p, datt.p, dqkv.p, s.B, s.T, s.H, s.KV, s.D);
    std::vector<float> y(ny), att(natt);
    cpu::attention_forward(y.data(), att.data(), qkv.data(), s.B, s.T, s.H, s.KV, s.D);
    CHECK(rel_err(dy.get(), y) <= kTolF32);
    CHECK(rel_err(datt.get(), att) <= kTolF32);  // includes the zeros above the diagonal

    auto gy = randn<float>(ny, 51);
    Dev<float> dgy(gy), dgqkv(nqkv), dgatt(natt), datt_ref(att);
    cuda::attention_backward(dgqkv.p, dgatt.p, dgy.p, datt_ref.p, dqkv.p, s.B, s.T, s.H, s.KV, s.D);
    std::vector<float> gqkv(nqkv), gatt(natt);
    cpu::attention_backward(gqkv.data(), gatt.data(), gy.data(), att.data(), qkv.data(), s.B, s.T, s.H, s.KV, s.D);
    CHECK(rel_err(dgqkv.get(), gqkv) <= kTolF32);
    CHECK(rel_err(dgatt.get(), gatt) <= kTolF32);
  }
}

TEST_CASE("cuda flash attention forward, kv_store and cached attention match cpu/attention.h, cpu/kv_cache.h") {
  struct S { int B, T, H, KV, D; };
  for (S s : {S{2, 13, 4, 2, 8}, S{1, 37, 3, 1, 6}, S{1, 5, 2, 1, 64}, S{2, 3, 2, 2, 40}, S{1, 41, 2, 1, 200}}) {
    // D = 40, 64, 200: several values per lane (200: > 48 KiB of dynamic shared memory); T = 37, 41: several
    // 32-key tiles and 8-query tiles
    CAPTURE(s.B); CAPTURE(s.T); CAPTURE(s.H); CAPTURE(s.KV); CAPTURE(s.D);
    const size_t nqkv = size_t(s.B) * s.T * (s.H + 2 * s.KV) * s.D, ny = size_t(s.B) * s.T * s.H * s.D;
    auto qkv = randn<float>(nqkv, 55 + s.T);
    Dev<float> dqkv(qkv), dy(ny);
    cuda::attention_forward_flash(dy.p, static_cast<float*>(nullptr), dqkv.p, s.B, s.T, s.H, s.KV, s.D);
    std::vector<float> y(ny), att(size_t(s.B) * s.H * s.T * s.T);
    cpu::attention_forward(y.data(), att.data(), qkv.data(), s.B, s.T, s.H, s.KV, s.D);
    CHECK(rel_err(dy.get(), y) <= kTolF32);

    // Prefill of the first P tokens, then the rest one token at a time, through the cache (Tmax > T).
    const int Tmax = s.T + 3, P = s.T / 2 + 1, W = s.KV * s.D, row = (s.H + 2 * s.KV) * s.D;
    Dev<float> kc(size_t(s.B) * Tmax * W), vc(size_t(s.B) * Tmax * W);
    std::vector<float> kref(size_t(s.B) * Tmax * W, 0.0f), vref = kref;
    for (int pos0 = 0; pos0 < s.T; pos0 += pos0 == 0 ? P : 1) {
      const int Tn = pos0 == 0 ? P : 1;
      std::vector<float> chunk(size_t(s.B) * Tn * row);  // tokens pos0 .. pos0+Tn-1 of every row
      for (int b = 0; b < s.B; b++)
        for (int t = 0; t < Tn; t++)
          for (int i = 0; i < row; i++)
            chunk[(size_t(b) * Tn + t) * row + i] = qkv[(size_t(b) * s.T + pos0 + t) * row + i];
      Dev<float> dchunk(chunk), dyc(size_t(s.B) * Tn * s.H * s.D);
      cuda::kv_store(kc.p, vc.p, dchunk.p, s.B, Tn, s.H, s.KV, s.D, pos0, Tmax);
      cuda::attention_cached(dyc.p, dchunk.p, kc.p, vc.p, s.B, Tn, s.H, s.KV, s.D, pos0, Tmax);
      cpu::kv_store(kref.data(), vref.data(), chunk.data(), s.B, Tn, s.H, s.KV, s.D, pos0, Tmax);
      std::vector<float> yc(size_t(s.B) * Tn * s.H * s.D);
      cpu::attention_cached(yc.data(), chunk.data(), kref.data(), vref.data(), s.B, Tn, s.H, s.KV, s.D, pos0, Tmax);
      CHECK(rel_err(dyc.get(), yc) <= kTolF32);
    }
    // the stored rows (0 .. T-1) equal the reference cache; rows T .. Tmax-1 were never written (still NaN)
    auto kg = kc.get(), vg = vc.get();
    for (int b = 0; b < s.B; b++)
      for (int p = 0; p < Tmax; p++)
        for (int i = 0; i < W; i++) {
          const size_t j = (size_t(b) * Tmax + p) * W + i;
          if (p < s.T) {
            REQUIRE(kg[j] == kref[j]);
            REQUIRE(vg[j] == vref[j]);
          } else {
            REQUIRE(std::isnan(kg[j]));
          }
        }
  }
}

TEST_CASE("cuda flash attention backward (from the saved logsumexp) matches cpu/attention.h") {
  // The training pair: forward saving lse (B, H, T), backward rebuilding P from it. Shapes: GQA 2:1, 3:1,
  // 1:1 and 4:1 (every head of a group adds into one dk/dv), T = 13 (a partial 8-query tile), 37 and 41
  // (several 32-wide tiles in both kernels; key tiles that start mid-way through a query tile), D = 6 (< a
  // warp), 40 (2 values per lane) and 200 (> 48 KiB of dynamic shared memory: the opt-in path).
  struct S { int B, T, H, KV, D; };
  for (S s : {S{2, 13, 4, 2, 8}, S{1, 37, 3, 1, 6}, S{2, 9, 2, 2, 40}, S{1, 41, 4, 1, 200}}) {
    CAPTURE(s.B); CAPTURE(s.T); CAPTURE(s.H); CAPTURE(s.KV); CAPTURE(s.D);
    const size_t nqkv = size_t(s.B) * s.T * (s.H + 2 * s.KV) * s.D, ny = size_t(s.B) * s.T * s.H * s.D;
    const size_t nrow = size_t(s.B) * s.H * s.T, natt = nrow * s.T;
    auto qkv = randn<float>(nqkv, 70 + s.T), gy = randn<float>(ny, 71 + s.T);
    Dev<float> dqkv(qkv), dy(ny), dlse(nrow);
    cuda::attention_forward_flash(dy.p, dlse.p, dqkv.p, s.B, s.T, s.H, s.KV, s.D);
    std::vector<float> y(ny), att(natt);
    cpu::attention_forward(y.data(), att.data(), qkv.data(), s.B, s.T, s.H, s.KV, s.D);
    CHECK(rel_err(dy.get(), y) <= kTolF32);
    // lse = log sum_{s<=t} exp(q_t.k_s / sqrt(D)), computed here in double from its definition
    std::vector<double> lse_ref(nrow);
    const int row = (s.H + 2 * s.KV) * s.D;
    for (int b = 0; b < s.B; b++)
      for (int h = 0; h < s.H; h++)
        for (int t = 0; t < s.T; t++) {
          const float* q = &qkv[(size_t(b) * s.T + t) * row + size_t(h) * s.D];
          const int kvh = h / (s.H / s.KV);
          std::vector<double> sc;
          for (int j = 0; j <= t; j++) {
            const float* k = &qkv[(size_t(b) * s.T + j) * row + size_t(s.H + kvh) * s.D];
            double dot = 0;
            for (int d = 0; d < s.D; d++) dot += double(q[d]) * k[d];
            sc.push_back(dot / std::sqrt(double(s.D)));
          }
          const double mx = *std::max_element(sc.begin(), sc.end());
          double sum = 0;
          for (double x : sc) sum += std::exp(x - mx);
          lse_ref[(size_t(b) * s.H + h) * s.T + t] = mx + std::log(sum);
        }
    CHECK(rel_err(dlse.get(), lse_ref) <= kTolF32);

    Dev<float> dgy(gy), dgqkv(nqkv), ddelta(nrow);
    cuda::attention_backward_flash(dgqkv.p, ddelta.p, dgy.p, dy.p, dlse.p, dqkv.p, s.B, s.T, s.H, s.KV, s.D);
    std::vector<float> gqkv(nqkv), gatt(natt);
    cpu::attention_backward(gqkv.data(), gatt.data(), gy.data(), att.data(), qkv.data(), s.B, s.T, s.H, s.KV, s.D);
    const auto got = dgqkv.get();  // started as NaN: q, k and v slots must all be written
    CHECK(rel_err(got, gqkv) <= kTolF32);
    // and per slot, so a small dq error cannot hide behind larger dk/dv values
    for (int part = 0; part < 3; part++) {
      CAPTURE(part);
      CHECK(rel_err(cudatest::qkv_slot(got, s.H, s.KV, s.D, part), cudatest::qkv_slot(gqkv, s.H, s.KV, s.D, part)) <=
            kTolF32);
    }
  }
}

TEST_CASE("cuda swiglu forward/backward and residual add match cpu/") {
  struct S { int N, F; };
  for (S s : {S{13, 7}, S{5, 300}, S{64, 33}}) {
    CAPTURE(s.N); CAPTURE(s.F);
    const size_t NF = size_t(s.N) * s.F;
    auto gu = randn<float>(2 * NF, 60, 3.0);  // wide range: exp(-g) on both sides of 0
    Dev<float> dgu(gu), dact(NF);
    cuda::swiglu_forward(dact.p, dgu.p, s.N, s.F);
    std::vector<float> act(NF);
    cpu::swiglu_forward(act.data(), gu.data(), s.N, s.F);
    CHECK(rel_err(dact.get(), act) <= kTolF32);
    auto da = randn<float>(NF, 61);
    Dev<float> dda(da), ddgu(2 * NF);
    cuda::swiglu_backward(ddgu.p, dda.p, dgu.p, s.N, s.F);
    std::vector<float> dgu_ref(2 * NF);
    cpu::swiglu_backward(dgu_ref.data(), da.data(), gu.data(), s.N, s.F);
    CHECK(rel_err(ddgu.get(), dgu_ref) <= kTolF32);
  }
  for (int64_t n : {int64_t(1), int64_t(1001), int64_t(70000)}) {
    CAPTURE(n);
    auto a = randn<float>(size_t(n), 62), b = randn<float>(size_t(n), 63);
    Dev<float> da(a), db(b), dout(static_cast<size_t>(n));
    cuda::residual_forward(dout.p, da.p, db.p, n);
    std::vector<float> ref(static_cast<size_t>(n));
    cpu::residual_forward(ref.data(), a.data(), b.data(), n);
    CHECK(rel_err(dout.get(), ref) == 0.0);  // one rounding per element: exact
    cuda::residual_forward(db.p, da.p, db.p, n);  // out aliasing b, as the model uses it
    CHECK(rel_err(db.get(), ref) == 0.0);
  }
}

TEST_CASE("cuda fused classifier (softmax + cross-entropy, mask, padded vocab) matches cpu/cross_entropy.h") {
  struct S { int N, V; bool masked; };
  for (S s : {S{13, 37, true}, S{7, 300, false}, S{5, 1000, true}, S{9, 128, true}}) {
    CAPTURE(s.N); CAPTURE(s.V); CAPTURE(s.masked);
    const int Vp = (s.V + 127) / 128 * 128;
    auto logits = randn<float>(size_t(s.N) * Vp, 70 + s.V, 4.0);
    auto tgt = random_ids(s.N, s.V, 71);
    std::vector<uint8_t> mask(size_t(s.N));
    Rng r(72);
    for (auto& m : mask) m = r.uniform() < 0.7;
    mask[0] = 0, mask[1] = 1;
    const uint8_t* hm = s.masked ? mask.data() : nullptr;
    Dev<float> dl(logits), dloss(size_t(s.N));
    Dev<int32_t> dt(tgt);
    Dev<uint8_t> dm(mask);
    const uint8_t* devm = s.masked ? dm.p : nullptr;
    cuda::cross_entropy_forward(dloss.p, dl.p, dt.p, devm, s.N, s.V, Vp);
    std::vector<float> loss(size_t(s.N));
    cpu::cross_entropy_forward(loss.data(), logits.data(), tgt.data(), hm, s.N, s.V, Vp);
    CHECK(rel_err(dloss.get(), loss) <= kTolF32);

    const float inv_count = 1.0f / 11.0f;
    cuda::cross_entropy_backward(dl.p, dt.p, devm, s.N, s.V, Vp, inv_count);
    cpu::cross_entropy_backward(logits.data(), tgt.data(), hm, s.N, s.V, Vp, inv_count);
    auto got = dl.get();
    CHECK(rel_err(got, logits) <= kTolF32);
    // Independently of the reference: padding columns and masked rows are exactly zero.
    for (int n = 0; n < s.N; n++)
      for (int v = 0; v < Vp; v++)
        if (v >= s.V || (s.masked && !mask[n])) REQUIRE(got[size_t(n) * Vp + v] == 0.0f);
  }
}

TEST_CASE("cuda AdamW, scale, sum and sum_squares match cpu/adamw.h and CpuOps::sum") {
  const ModelConfig cfg = rope_config(4, 4);
  cuda::CudaOps<float> ops(cfg);
  for (size_t n : {size_t(1), size_t(5000), size_t(12289)}) {
    CAPTURE(n);
    auto p = randn<float>(n, 80), m = randn<float>(n, 81, 0.1), v = randn<float>(n, 82, 0.1);
    for (auto& x : v) x = x * x;  // second moment >= 0
    Dev<float> dp(p), dm(m), dv(v), dg(n);
    for (long t = 1; t <= 3; t++) {
      auto g = randn<float>(n, 83 + t);
      dg.set(g);
      ops.adamw_update(dp.p, dg.p, dm.p, dv.p, n, 1e-2, 0.9, 0.95, 1e-8, t == 2 ? 0.0 : 0.1, t);
      cpu::adamw_update(p.data(), g.data(), m.data(), v.data(), n, 1e-2, 0.9, 0.95, 1e-8, t == 2 ? 0.0 : 0.1, t);
    }
    CHECK(rel_err(dp.get(), p) <= kTolF32);
    CHECK(rel_err(dm.get(), m) <= kTolF32);
    CHECK(rel_err(dv.get(), v) <= kTolF32);

    ops.scale(dp.p, n, 0.37);
    cpu::scale_inplace(p.data(), n, 0.37f);
    CHECK(rel_err(dp.get(), p) <= kTolF32);

    // Reductions accumulate fp32 inputs in double on both sides; only the order differs, so the results
    // agree to double rounding (~1e-16 per term): 1e-12 is loose for double and far below any fp32 effect.
    double s_ref = 0;
    for (float x : p) s_ref += double(x);
    CHECK(std::fabs(ops.sum(dp.p, int64_t(n)) - s_ref) <= 1e-12 * std::max(1.0, std::fabs(s_ref)) * double(n));
    const double q_ref = cpu::sum_squares(p.data(), n);
    CHECK(std::fabs(ops.sum_squares(dp.p, n) - q_ref) <= 1e-12 * q_ref);
  }
  CHECK(ops.sum(static_cast<const float*>(nullptr), 0) == 0.0);
}

TEST_CASE("cuda kernels do not depend on the thread schedule (no atomics, fixed reduction order)") {
  // Attention backward (GEMM and flash), rmsnorm backward (two-stage dw), embedding backward, cross-entropy and the sums,
  // run under three SIMT schedules: the results must be bit-identical.
  const int B = 2, T = 13, H = 4, KV = 2, D = 8, C = 7, N = B * T, V = 37, Vp = 128;
  const size_t nqkv = size_t(B) * T * (H + 2 * KV) * D, ny = size_t(B) * T * H * D, natt = size_t(B) * H * T * T;
  auto qkv = randn<float>(nqkv, 90), gy = randn<float>(ny, 91), x = randn<float>(size_t(N) * C, 92);
  auto w = randn<float>(size_t(C), 93), logits = randn<float>(size_t(N) * Vp, 94);
  auto tok = random_ids(N, 5, 95);
  const ModelConfig cfg = rope_config(D, T);
  cuda::CudaOps<float> ops(cfg);
  auto run = [&] {
    Dev<float> dqkv(qkv), dy(ny), datt(natt), dgy(gy), dgqkv(nqkv), dgatt(natt);
    cuda::attention_forward(dy.p, datt.p, dqkv.p, B, T, H, KV, D);
    cuda::attention_backward(dgqkv.p, dgatt.p, dgy.p, datt.p, dqkv.p, B, T, H, KV, D);
    Dev<float> fy(ny), flse(size_t(B) * H * T), fdelta(size_t(B) * H * T), fgqkv(nqkv);
    cuda::attention_forward_flash(fy.p, flse.p, dqkv.p, B, T, H, KV, D);
    cuda::attention_backward_flash(fgqkv.p, fdelta.p, dgy.p, fy.p, flse.p, dqkv.p, B, T, H, KV, D);
    Dev<float> dx(x), dw(w), out(size_t(N) * C), rstd(static_cast<size_t>(N)), ddx(size_t(N) * C), ddw(static_cast<size_t>(C));
    ops.zero(ddx.p, N * C), ops.zero(ddw.p, C);
    ops.rmsnorm_forward(out.p, rstd.p, dx.p, dw.p, N, C, 1e-5f);
    ops.rmsnorm_backward(ddx.p, ddw.p, out.p, dx.p, dw.p, rstd.p, N, C);
    Dev<int32_t> dtok(tok);
    Dev<float> demb(size_t(5) * C);
    ops.zero(demb.p, 5 * C);
    ops.embedding_backward(demb.p, dx.p, dtok.p, N, C);
    Dev<float> dl(logits), dloss(static_cast<size_t>(N));
    ops.cross_entropy_forward(dloss.p, dl.p, dtok.p, nullptr, N, V, Vp);
    ops.cross_entropy_backward(dl.p, dtok.p, nullptr, N, V, Vp, 0.25f);
    std::vector<float> all;
    for (const Dev<float>* d : {&dy, &datt, &dgqkv, &dgatt, &fy, &flse, &fgqkv, &out, &rstd, &ddx, &ddw, &demb, &dloss, &dl}) {
      auto h = d->get();
      all.insert(all.end(), h.begin(), h.end());
    }
    all.push_back(float(ops.sum(dl.p, int64_t(N) * Vp)));
    all.push_back(float(ops.sum_squares(dgqkv.p, nqkv)));
    return all;
  };
  cudatest::ScheduleGuard guard;  // restores the schedule however the test ends
  simt::set_order(simt::Order::Forward, 1);
  auto a = run();
  simt::set_order(simt::Order::Reverse, 1);
  auto b = run();
  simt::set_order(simt::Order::Shuffle, 12345);
  auto c = run();
  REQUIRE(a.size() == b.size());
  CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
  CHECK(std::memcmp(a.data(), c.data(), a.size() * sizeof(float)) == 0);
}
