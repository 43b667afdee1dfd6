// bf16 mixed precision of the CUDA backend (cuda::CudaOpsBf16 / CudaBf16Model), run on the CPU through
// cuda/simt: every kernel instantiated for __nv_bfloat16 against its fp32 CPU reference (cpu/*.h) on the same
// bf16 values widened to fp32; the mixed AdamW step (fp32 master + moments, stochastically rounded bf16 copy);
// stochastic rounding's unbiasedness; the whole bf16 model against the fp32 CpuModel (loss, logits, KV-cache
// decode) and 10 training steps. Outputs start POISONED (bf16 0xFFFF = NaN). Tolerance: kTolBf16 in
// tests/cuda_check.h (one place, with its derivation).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cpu/adamw.h"
#include "cpu/attention.h"
#include "cpu/bias.h"
#include "cpu/cross_entropy.h"
#include "cpu/embedding.h"
#include "cpu/kv_cache.h"
#include "cpu/linear.h"
#include "cpu/model_cpu.h"
#include "cpu/residual.h"
#include "cpu/rmsnorm.h"
#include "cpu/rope.h"
#include "cpu/swiglu.h"
#include "cuda/model_cuda.h"
#include "cuda/simt/cp_async.h"
#include "src/rng.h"
#include "src/rope_tables.h"
#include "tests/cuda_check.h"
#include "tests/cuda_model_check.h"
#include "tests/test_util.h"

using namespace beop;
using beop::cudatest::Batch;
using beop::cudatest::Dev;
using beop::cudatest::random_batch;
using beop::cudatest::random_ids;
using beop::cudatest::rope_config;
using beop::cudatest::train_step;
using beop::cudatest::kTolBf16;
using beop::cudatest::kTolF32;
using beop::cudatest::rel_err;
using bf16 = __nv_bfloat16;

namespace {

// Random normal values rounded to bf16, and the same values widened back to fp32 (exactly).
struct Pair {
  std::vector<bf16> b;
  std::vector<float> f;
};
Pair rand_pair(size_t n, uint64_t seed, double std = 1.0) {
  Pair p;
  for (float x : test::randn<float>(n, seed, std)) {
    p.b.push_back(bf16(x));
    p.f.push_back(float(p.b.back()));
  }
  return p;
}
std::vector<float> widen(const std::vector<bf16>& v) { return std::vector<float>(v.begin(), v.end()); }


}  // namespace

TEST_CASE("bf16 embedding, rmsnorm, bias, swiglu, residual match the fp32 cpu/ references") {
  const int N = 37, C = 33, V = 20, Vp = 128, F = 24;
  auto tok = random_ids(N, V, 1);
  auto emb = rand_pair(size_t(Vp) * C, 2);
  Dev<int32_t> dtok(tok);
  Dev<bf16> demb(emb.b), dout(size_t(N) * C);
  cuda::embedding_forward(dout.p, dtok.p, demb.p, N, C);
  std::vector<float> ref(size_t(N) * C);
  cpu::embedding_forward(ref.data(), tok.data(), emb.f.data(), N, C);
  CHECK(rel_err(dout.get(), ref) == 0.0);  // a gather of bf16 values: exact
  auto g = rand_pair(size_t(N) * C, 3), de = rand_pair(size_t(Vp) * C, 4);
  Dev<bf16> dg(g.b);
  Dev<uint64_t> keys(static_cast<size_t>(N));
  cpu::embedding_backward(de.f.data(), g.f.data(), tok.data(), N, C);
  for (int chunk : {0, 7}) {  // one chunk; chunks of 7 (runs split across chunks: one bf16 rounding per chunk)
    CAPTURE(chunk);
    Dev<bf16> dde_c(de.b);
    cuda::embedding_backward(dde_c.p, dg.p, dtok.p, N, C, keys.p, 0, chunk);
    CHECK(rel_err(dde_c.get(), de.f) <= kTolBf16);
  }

  auto x = rand_pair(size_t(N) * C, 5), w = rand_pair(size_t(C), 6);
  Dev<bf16> dx(x.b), dw(w.b), dy(size_t(N) * C), drstd(static_cast<size_t>(N));
  cuda::rmsnorm_forward(dy.p, drstd.p, dx.p, dw.p, N, C, 1e-5f);
  std::vector<float> y(size_t(N) * C), rstd(static_cast<size_t>(N));
  cpu::rmsnorm_forward(y.data(), rstd.data(), x.f.data(), w.f.data(), N, C, 1e-5f);
  CHECK(rel_err(dy.get(), y) <= kTolBf16);
  CHECK(rel_err(drstd.get(), rstd) <= kTolBf16);
  auto ddx0 = rand_pair(size_t(N) * C, 7), ddw0 = rand_pair(size_t(C), 8);
  const std::vector<float> rstd_b = widen(drstd.get());  // the reference uses the rstd the kernel saved
  Dev<bf16> ddx(ddx0.b), ddw(ddw0.b);
  Dev<float> scratch(cuda::rmsnorm_backward_scratch(N, C));
  cuda::rmsnorm_backward(ddx.p, ddw.p, dg.p, dx.p, dw.p, drstd.p, N, C, scratch.p);
  cpu::rmsnorm_backward(ddx0.f.data(), ddw0.f.data(), g.f.data(), x.f.data(), w.f.data(), rstd_b.data(), N, C);
  CHECK(rel_err(ddx.get(), ddx0.f) <= kTolBf16);
  CHECK(rel_err(ddw.get(), ddw0.f) <= kTolBf16);

  auto o = rand_pair(size_t(N) * C, 9), b = rand_pair(size_t(C), 10);
  Dev<bf16> dob(o.b), db(b.b);
  cuda::bias_forward(dob.p, db.p, N, C);
  cpu::bias_forward(o.f.data(), b.f.data(), N, C);
  CHECK(rel_err(dob.get(), o.f) <= kTolBf16);
  cuda::bias_backward(db.p, dg.p, N, C);
  cpu::bias_backward(b.f.data(), g.f.data(), N, C);
  CHECK(rel_err(db.get(), b.f) <= kTolBf16);

  auto gu = rand_pair(size_t(N) * 2 * F, 11), da = rand_pair(size_t(N) * F, 12);
  Dev<bf16> dgu(gu.b), dact(size_t(N) * F), dda(da.b), ddgu(size_t(N) * 2 * F);
  cuda::swiglu_forward(dact.p, dgu.p, N, F);
  std::vector<float> act(size_t(N) * F), dgu_ref(size_t(N) * 2 * F);
  cpu::swiglu_forward(act.data(), gu.f.data(), N, F);
  CHECK(rel_err(dact.get(), act) <= kTolBf16);
  cuda::swiglu_backward(ddgu.p, dda.p, dgu.p, N, F);
  cpu::swiglu_backward(dgu_ref.data(), da.f.data(), gu.f.data(), N, F);
  CHECK(rel_err(ddgu.get(), dgu_ref) <= kTolBf16);

  Dev<bf16> dr(size_t(N) * C);
  cuda::residual_forward(dr.p, dx.p, dg.p, int64_t(N) * C);
  std::vector<float> r(size_t(N) * C);
  cpu::residual_forward(r.data(), x.f.data(), g.f.data(), int64_t(N) * C);
  CHECK(rel_err(dr.get(), r) <= kTolBf16);
}

TEST_CASE("bf16 GEMMs (linear forward/backward, batched with strides) match cpu/linear.h") {
  struct S { int N, IC, OC; };
  for (S s : {S{13, 7, 5}, S{33, 65, 17}}) {
    CAPTURE(s.N); CAPTURE(s.IC);
    auto in = rand_pair(size_t(s.N) * s.IC, 20), W = rand_pair(size_t(s.OC) * s.IC, 21);
    Dev<bf16> din(in.b), dW(W.b), dout(size_t(s.N) * s.OC);
    cuda::linear_forward(dout.p, din.p, dW.p, s.N, s.IC, s.OC);
    std::vector<float> out(size_t(s.N) * s.OC);
    cpu::linear_forward(out.data(), in.f.data(), W.f.data(), s.N, s.IC, s.OC);
    CHECK(rel_err(dout.get(), out) <= kTolBf16);
    auto g = rand_pair(size_t(s.N) * s.OC, 22), dw = rand_pair(size_t(s.OC) * s.IC, 24);
    Dev<bf16> dg(g.b), ddx(size_t(s.N) * s.IC), ddw(dw.b);
    cuda::linear_backward(ddx.p, ddw.p, dg.p, din.p, dW.p, s.N, s.IC, s.OC, false);
    std::vector<float> dx(size_t(s.N) * s.IC);
    cpu::linear_backward(dx.data(), dw.f.data(), g.f.data(), in.f.data(), W.f.data(), s.N, s.IC, s.OC, false);
    CHECK(rel_err(ddx.get(), dx) <= kTolBf16);
    CHECK(rel_err(ddw.get(), dw.f) <= kTolBf16);
  }
}

TEST_CASE("bf16 rope, attention (GEMM + softmax) and flash / KV-cache attention match cpu/ references") {
  const int B = 2, T = 37, H = 4, KV = 2, D = 8;
  const ModelConfig cfg = rope_config(D, T + 4);
  cuda::CudaOpsBf16 ops(cfg);
  std::vector<float> cs, sn;
  rope_tables(cfg, cs, sn);
  const size_t nqkv = size_t(B) * T * (H + 2 * KV) * D, ny = size_t(B) * T * H * D, natt = size_t(B) * H * T * T;
  auto qkv = rand_pair(nqkv, 30);
  Dev<bf16> d(qkv.b);
  ops.rope_forward(d.p, B, T, H, KV, D, 2);
  auto ref = qkv.f;
  cpu::rope_forward(ref.data(), cs.data(), sn.data(), B, T, H, KV, D, 2);
  CHECK(rel_err(d.get(), ref) <= kTolBf16);
  d.set(qkv.b);
  ops.rope_backward(d.p, B, T, H, KV, D, 2);
  ref = qkv.f;
  cpu::rope_backward(ref.data(), cs.data(), sn.data(), B, T, H, KV, D, 2);
  CHECK(rel_err(d.get(), ref) <= kTolBf16);

  Dev<bf16> dq(qkv.b), dy(ny), datt(natt);
  cuda::attention_forward(dy.p, datt.p, dq.p, B, T, H, KV, D);
  std::vector<float> y(ny), att(natt);
  cpu::attention_forward(y.data(), att.data(), qkv.f.data(), B, T, H, KV, D);
  CHECK(rel_err(dy.get(), y) <= kTolBf16);
  CHECK(rel_err(datt.get(), att) <= kTolBf16);
  auto gy = rand_pair(ny, 31);
  const std::vector<float> att_b = widen(datt.get());  // the backward reads the probabilities the forward saved
  Dev<bf16> dgy(gy.b), dgq(nqkv), dgatt(natt);
  cuda::attention_backward(dgq.p, dgatt.p, dgy.p, datt.p, dq.p, B, T, H, KV, D);
  std::vector<float> gq(nqkv), gatt(natt);
  cpu::attention_backward(gq.data(), gatt.data(), gy.f.data(), att_b.data(), qkv.f.data(), B, T, H, KV, D);
  CHECK(rel_err(dgq.get(), gq) <= kTolBf16);

  // flash forward (saving the fp32 logsumexp) and backward: the gradient reference is the CPU backward on the
  // exact probabilities, since the flash backward rebuilds P in fp32 from bf16 q, k and the fp32 lse
  Dev<bf16> dyf(ny), dgqf(nqkv);
  Dev<float> lse(size_t(B) * H * T), delta(size_t(B) * H * T);
  cuda::attention_forward_flash(dyf.p, lse.p, dq.p, B, T, H, KV, D);
  CHECK(rel_err(dyf.get(), y) <= kTolBf16);
  cuda::attention_backward_flash(dgqf.p, delta.p, dgy.p, dyf.p, lse.p, dq.p, B, T, H, KV, D);
  std::vector<float> gqf(nqkv), gattf(natt);
  cpu::attention_backward(gqf.data(), gattf.data(), gy.f.data(), att.data(), qkv.f.data(), B, T, H, KV, D);
  CHECK(rel_err(dgqf.get(), gqf) <= kTolBf16);
  // prefill 20 tokens, then 3 single-token steps through the cache
  const int Tmax = T, W = KV * D, row = (H + 2 * KV) * D;
  Dev<bf16> kc(size_t(B) * Tmax * W), vc(size_t(B) * Tmax * W);
  std::vector<float> kref(size_t(B) * Tmax * W, 0.0f), vref = kref;
  for (int pos0 = 0; pos0 < 23; pos0 += pos0 == 0 ? 20 : 1) {
    const int Tn = pos0 == 0 ? 20 : 1;
    std::vector<bf16> cb;
    std::vector<float> cf;
    for (int b = 0; b < B; b++)
      for (int t = 0; t < Tn; t++)
        for (int i = 0; i < row; i++) {
          cb.push_back(qkv.b[(size_t(b) * T + pos0 + t) * row + i]);
          cf.push_back(qkv.f[(size_t(b) * T + pos0 + t) * row + i]);
        }
    Dev<bf16> dc(cb), dyc(size_t(B) * Tn * H * D);
    cuda::kv_store(kc.p, vc.p, dc.p, B, Tn, H, KV, D, pos0, Tmax);
    cuda::attention_cached(dyc.p, dc.p, kc.p, vc.p, B, Tn, H, KV, D, pos0, Tmax);
    cpu::kv_store(kref.data(), vref.data(), cf.data(), B, Tn, H, KV, D, pos0, Tmax);
    std::vector<float> yc(size_t(B) * Tn * H * D);
    cpu::attention_cached(yc.data(), cf.data(), kref.data(), vref.data(), B, Tn, H, KV, D, pos0, Tmax);
    CAPTURE(pos0);
    CHECK(rel_err(dyc.get(), yc) <= kTolBf16);
  }
}

TEST_CASE("bf16 tensor-core flash attention (mma.sync) forward, backward and cached prefill match cpu/attention.h") {
  // D = 16, 32, 64, 128 (every width the dispatch serves); T = 16 (one partial 64-row tile), 70, 80, 96 and 130
  // (tiles that straddle the causal diagonal and the end); GQA 2:1, 1:1 and 4:1.
  // T = 200 at D = 64 (the 1b preset's head dim): several dq key tiles and dk/dv query tiles per block.
  // Under SIMT, twice: with the cp.async copies landing at the wait and at the issue (cuda/simt/cp_async.h), so
  // that both a missing wait and a buffer refilled before every warp has read it give wrong results (once on a
  // GPU, where the hardware decides).
  struct S { int B, T, H, KV, D; };
  cudatest::ScheduleGuard guard;
#if defined(__CUDACC__)
  const simt::CopyLanding landings[] = {simt::CopyLanding::AtWait};
#else
  const simt::CopyLanding landings[] = {simt::CopyLanding::AtWait, simt::CopyLanding::AtIssue};
#endif
  for (auto landing : landings)
  for (S s : {S{1, 16, 2, 1, 16}, S{1, 96, 2, 1, 16}, S{2, 80, 4, 2, 64}, S{1, 200, 2, 1, 64}, S{1, 130, 2, 2, 128},
              S{1, 70, 4, 1, 32}}) {
    simt::set_copy_landing(landing);
    CAPTURE(int(landing));
    CAPTURE(s.B); CAPTURE(s.T); CAPTURE(s.H); CAPTURE(s.KV); CAPTURE(s.D);
    REQUIRE(cuda::flash_tc_eligible<bf16>(s.D, s.T));
    // every sm_80+ device holds the tiles (at most 85 KiB: the forward at D = 128, within sm_86/sm_89's 99
    // KiB); a device limited to 48 KiB would hold only D <= 32's, and the scalar kernels would take over there
    CHECK(cuda::flash_tc_eligible<bf16>(s.D, s.T, 99 * 1024));
    CHECK(cuda::flash_tc_eligible<bf16>(s.D, s.T, 48 * 1024) == (s.D <= 32));
    const size_t nqkv = size_t(s.B) * s.T * (s.H + 2 * s.KV) * s.D, ny = size_t(s.B) * s.T * s.H * s.D;
    const size_t nrow = size_t(s.B) * s.H * s.T, natt = nrow * s.T;
    auto qkv = rand_pair(nqkv, 80 + s.D), gy = rand_pair(ny, 81 + s.D);
    Dev<bf16> dq(qkv.b), dy(ny), dgy(gy.b), dgq(nqkv);
    Dev<float> lse(nrow), delta(nrow);
    cuda::attention_forward_flash(dy.p, lse.p, dq.p, s.B, s.T, s.H, s.KV, s.D);
#if !defined(__CUDACC__)  // the tensor-core kernel ran: 64-query blocks, not the scalar kernel's 8
    CHECK(simt::last_launch_stats().blocks == uint64_t((s.T + 63) / 64) * s.H * s.B);
#endif
    std::vector<float> y(ny), att(natt);
    cpu::attention_forward(y.data(), att.data(), qkv.f.data(), s.B, s.T, s.H, s.KV, s.D);
    CHECK(rel_err(dy.get(), y) <= kTolBf16);
    cuda::attention_backward_flash(dgq.p, delta.p, dgy.p, dy.p, lse.p, dq.p, s.B, s.T, s.H, s.KV, s.D);
#if !defined(__CUDACC__)  // the last launch is the dk/dv kernel: 64-key blocks per kv head
    CHECK(simt::last_launch_stats().blocks == uint64_t((s.T + 63) / 64) * s.KV * s.B);
#endif
    std::vector<float> gq(nqkv), gatt(natt);
    cpu::attention_backward(gq.data(), gatt.data(), gy.f.data(), att.data(), qkv.f.data(), s.B, s.T, s.H, s.KV, s.D);
    const auto got = widen(dgq.get());  // poisoned: the q, k and v slots must all be written
    const int row = (s.H + 2 * s.KV) * s.D;
    for (int part = 0; part < 3; part++) {  // dq, dk, dv each against its own scale
      CAPTURE(part);
      CHECK(rel_err(cudatest::qkv_slot(got, s.H, s.KV, s.D, part), cudatest::qkv_slot(gq, s.H, s.KV, s.D, part)) <=
            kTolBf16);
    }

    // KV-cache prefill of the last Tn >= 16 tokens after a cached prefix of P (tensor cores with pos0 = P)
    const int P = s.T / 3, Tn = s.T - P, W = s.KV * s.D;
    if (!cuda::flash_tc_eligible<bf16>(s.D, Tn)) continue;
    std::vector<bf16> kc_h(size_t(s.B) * s.T * W), vc_h(kc_h.size());
    std::vector<float> kc_f(kc_h.size()), vc_f(kc_h.size());
    for (int b = 0; b < s.B; b++)
      for (int t = 0; t < s.T; t++)
        for (int i = 0; i < W; i++) {
          const size_t src = (size_t(b) * s.T + t) * row, dst = (size_t(b) * s.T + t) * W + i;
          kc_h[dst] = qkv.b[src + s.H * s.D + i], vc_h[dst] = qkv.b[src + (s.H + s.KV) * s.D + i];
          kc_f[dst] = qkv.f[src + s.H * s.D + i], vc_f[dst] = qkv.f[src + (s.H + s.KV) * s.D + i];
        }
    std::vector<bf16> chunk_b;
    std::vector<float> chunk_f;
    for (int b = 0; b < s.B; b++)
      for (int t = P; t < s.T; t++)
        for (int i = 0; i < row; i++) {
          chunk_b.push_back(qkv.b[(size_t(b) * s.T + t) * row + i]);
          chunk_f.push_back(qkv.f[(size_t(b) * s.T + t) * row + i]);
        }
    Dev<bf16> dkc(kc_h), dvc(vc_h), dchunk(chunk_b), dyc(size_t(s.B) * Tn * s.H * s.D);
    cuda::attention_cached(dyc.p, dchunk.p, dkc.p, dvc.p, s.B, Tn, s.H, s.KV, s.D, P, s.T);
    std::vector<float> yc(size_t(s.B) * Tn * s.H * s.D);
    cpu::attention_cached(yc.data(), chunk_f.data(), kc_f.data(), vc_f.data(), s.B, Tn, s.H, s.KV, s.D, P, s.T);
    CHECK(rel_err(dyc.get(), yc) <= kTolBf16);
  }
}

TEST_CASE("bf16 tensor-core flash attention: misaligned q, k, v, y or d_qkv are refused by name") {
  const int B = 1, T = 16, H = 2, KV = 1, D = 16, row = (H + 2 * KV) * D;
  Dev<bf16> qkv(size_t(B) * T * row + 8), y(size_t(B) * T * H * D + 8), dy(size_t(B) * T * H * D);
  Dev<float> lse(size_t(B) * H * T), delta(size_t(B) * H * T);
  const int64_t bs = int64_t(T) * row;
  auto fwd = [&](const bf16* q, bf16* out) {
    cuda::flash_tc_forward(out, lse.p, q, bs, row, q + H * D, q + (H + KV) * D, bs, row, B, T, H, KV, D, 0, 0);
  };
  fwd(qkv.p, y.p);  // aligned: fine
  CHECK_THROWS_WITH_AS(fwd(qkv.p + 1, y.p), doctest::Contains("q is not 16-byte aligned"), beop::Error);
  CHECK_THROWS_WITH_AS(fwd(qkv.p, y.p + 1), doctest::Contains("y is not 4-byte aligned"), beop::Error);
  CHECK_THROWS_WITH_AS(cuda::flash_tc_backward(qkv.p + 1, delta.p, dy.p, lse.p, qkv.p, B, T, H, KV, D, 0),
                       doctest::Contains("d_qkv is not 4-byte aligned"), beop::Error);
  CHECK_THROWS_WITH_AS(cuda::flash_tc_backward(qkv.p, delta.p, dy.p, lse.p, qkv.p + 4, B, T, H, KV, D, 0),
                       doctest::Contains("qkv is not 16-byte aligned"), beop::Error);
}

TEST_CASE("bf16 fused classifier matches cpu/cross_entropy.h; padding and masked rows exactly 0") {
  const int N = 13, V = 300, Vp = 384;
  auto logits = rand_pair(size_t(N) * Vp, 40, 4.0);
  auto tgt = random_ids(N, V, 41);
  std::vector<uint8_t> mask(size_t(N), 1);
  mask[2] = mask[7] = 0;
  Dev<bf16> dl(logits.b), dloss(static_cast<size_t>(N));
  Dev<int32_t> dt(tgt);
  Dev<uint8_t> dm(mask);
  cuda::cross_entropy_forward(dloss.p, dl.p, dt.p, dm.p, N, V, Vp);
  std::vector<float> loss(static_cast<size_t>(N));
  cpu::cross_entropy_forward(loss.data(), logits.f.data(), tgt.data(), mask.data(), N, V, Vp);
  CHECK(rel_err(dloss.get(), loss) <= kTolBf16);
  cuda::cross_entropy_backward(dl.p, dt.p, dm.p, N, V, Vp, 1.0f / 11.0f);
  cpu::cross_entropy_backward(logits.f.data(), tgt.data(), mask.data(), N, V, Vp, 1.0f / 11.0f);
  auto got = dl.get();
  CHECK(rel_err(got, logits.f) <= kTolBf16);
  for (int n = 0; n < N; n++)
    for (int v = 0; v < Vp; v++)
      if (v >= V || !mask[n]) REQUIRE(float(got[size_t(n) * Vp + v]) == 0.0f);
}

TEST_CASE("bf16 mixed AdamW: fp32 master and moments as cpu/adamw.h, bf16 copy within one ulp of the master") {
  const ModelConfig cfg = rope_config(4, 4);
  cuda::CudaOpsBf16 ops(cfg);
  const size_t n = 5000;
  auto p = test::randn<float>(n, 50), m = test::randn<float>(n, 51, 0.1), v = test::randn<float>(n, 52, 0.1);
  for (auto& x : v) x = x * x;
  Dev<float> dp(p), dm(m), dv(v);
  Dev<bf16> dwork(n), dg(n);
  for (long t = 1; t <= 3; t++) {
    auto g = rand_pair(n, 53 + t);
    dg.set(g.b);
    ops.adamw_update_mixed(dp.p, dwork.p, dg.p, dm.p, dv.p, n, 1e-2, 0.9, 0.95, 1e-8, 0.1, t, 7, 1000);
    cpu::adamw_update(p.data(), g.f.data(), m.data(), v.data(), n, 1e-2, 0.9, 0.95, 1e-8, 0.1, t);
  }
  // master and moments: fp32 arithmetic on the same (bf16-valued) gradients as the reference
  CHECK(rel_err(dp.get(), p) <= kTolF32);
  CHECK(rel_err(dm.get(), m) <= kTolF32);
  CHECK(rel_err(dv.get(), v) <= kTolF32);
  // working copy: one of the two bf16 neighbours of the master value (|diff| < one ulp = 2^-7 relative)
  auto w = dwork.get();
  auto master = dp.get();
  int up = 0;
  for (size_t i = 0; i < n; i++) {
    const double diff = std::fabs(double(float(w[i])) - double(master[i]));
    REQUIRE(diff <= std::ldexp(std::fabs(double(master[i])), -7));
    up += std::fabs(double(float(w[i]))) > std::fabs(double(master[i]));
  }
  CHECK(up > int(n) / 4);  // stochastic: a fair share rounds away from zero (nearest would pick by position)
  CHECK(up < 3 * int(n) / 4);
  // deterministic per (seed, step, element): a second run gives the same bits; another seed does not
  Dev<float> dp2(p), dm2(m), dv2(v);
  Dev<bf16> dw2(n), dw3(n);
  ops.adamw_update_mixed(dp2.p, dw2.p, dg.p, dm2.p, dv2.p, n, 1e-2, 0.9, 0.95, 1e-8, 0.1, 4, 7, 1000);
  Dev<float> dp3(p), dm3(m), dv3(v);
  ops.adamw_update_mixed(dp3.p, dw3.p, dg.p, dm3.p, dv3.p, n, 1e-2, 0.9, 0.95, 1e-8, 0.1, 4, 7, 1000);
  auto a = dw2.get(), b = dw3.get();
  CHECK(std::memcmp(a.data(), b.data(), n * sizeof(bf16)) == 0);
  Dev<float> dp4(p), dm4(m), dv4(v);
  Dev<bf16> dw4(n);
  ops.adamw_update_mixed(dp4.p, dw4.p, dg.p, dm4.p, dv4.p, n, 1e-2, 0.9, 0.95, 1e-8, 0.1, 4, 8, 1000);
  auto c = dw4.get();
  CHECK(std::memcmp(a.data(), c.data(), n * sizeof(bf16)) != 0);
}

TEST_CASE("stochastic rounding to bf16 is unbiased") {
  // x halfway between the bf16 neighbours 1 and 1 + 2^-7, and a quarter of the way. Each sample is lo or hi;
  // the mean of n samples has standard deviation gap * sqrt(q (1 - q) / n); it must be within 4 sigma of x.
  const int64_t n = 200000;
  const double lo = 1.0, gap = std::ldexp(1.0, -7);
  for (double q : {0.5, 0.25}) {
    CAPTURE(q);
    const float x = float(lo + q * gap);
    Dev<bf16> d(static_cast<size_t>(n));
    BEOP_LAUNCH(cuda::sr_sample_kernel<0>, 256, 256, 0, 0, d.p, x, n, uint64_t(123));
    double sum = 0;
    for (bf16 v : d.get()) {
      const double f = float(v);
      REQUIRE((f == lo || f == lo + gap));
      sum += f;
    }
    const double mean = sum / double(n), sigma = gap * std::sqrt(q * (1 - q) / double(n));
    CHECK(std::fabs(mean - double(x)) <= 4 * sigma);
    CHECK(float(bf16(x)) != x);  // (x itself is not representable: the test is not vacuous)
  }
}

namespace {

// head_dim 8: the scalar flash kernels; 16: the tensor-core ones (attention_flash_tc.cuh, at T >= 16).
ModelConfig small_config(bool tied, int head_dim = 8) {
  ModelConfig c;
  c.name = "cuda-bf16-test";
  c.vocab_size = 300, c.d_model = 32, c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = 2, c.head_dim = head_dim;
  c.ffn_hidden = 40, c.max_seq_len = 16, c.tied_embeddings = tied;
  return c;
}

}  // namespace

TEST_CASE("CudaBf16Model: loss and logits within kTolBf16 of the fp32 CpuModel; gradients close") {
  struct V { bool tied; int D; };
  for (V v : {V{false, 8}, V{true, 8}, V{false, 16}}) {
    const bool tied = v.tied;
    CAPTURE(tied); CAPTURE(v.D);
    const ModelConfig cfg = small_config(tied, v.D);
    const int B = 2, T = 16;
    CpuModel cpu(cfg);
    CudaBf16Model gpu(cfg);
    cpu.init_random(7);
    gpu.init_random(7);
    const Batch b = random_batch(cfg, B, T, 11);
    const LossSum lc = cpu.forward(b.x.data(), b.y.data(), b.mask.data(), B, T);
    const LossSum lg = gpu.forward(b.x.data(), b.y.data(), b.mask.data(), B, T);
    REQUIRE(lg.count == lc.count);
    CHECK(std::fabs(lg.mean() - lc.mean()) <= kTolBf16 * std::fabs(lc.mean()));
    const size_t nlog = size_t(B) * T * cfg.padded_vocab();
    std::vector<bf16> lgb(nlog);
    std::vector<float> lcf(nlog);
    gpu.ops().download(lgb.data(), gpu.acts().logits, nlog);
    cpu.ops().download(lcf.data(), cpu.acts().logits, nlog);
    CHECK(rel_err(lgb, lcf) <= kTolBf16);
    // gradients: bf16 gradients of a bf16 forward; compared through the global norm (a mean over many
    // elements, like the loss)
    cpu.zero_grad();
    gpu.zero_grad();
    cpu.backward(1.0 / double(lc.count));
    gpu.backward(1.0 / double(lg.count));
    CHECK(std::fabs(gpu.grad_norm() - cpu.grad_norm()) <= kTolBf16 * cpu.grad_norm());
  }
}

TEST_CASE("CudaBf16Model: 10 training steps lower the loss and track the fp32 CpuModel") {
  const ModelConfig cfg = small_config(false);
  const int B = 2, T = 16;
  CpuModel cpu(cfg);
  CudaBf16Model gpu(cfg);
  cpu.init_random(3);
  gpu.init_random(3);
  std::vector<double> lc, lg;
  for (int step = 0; step < 10; step++) {
    const Batch b = random_batch(cfg, B, T, 100 + step % 3);
    lc.push_back(train_step(cpu, b, B, T, 3e-3));
    lg.push_back(train_step(gpu, b, B, T, 3e-3));
    CAPTURE(step);
    CHECK(std::fabs(lg.back() - lc.back()) <= kTolBf16 * std::fabs(lc.back()));
  }
  CHECK(lg.back() < lg.front() - 0.05);  // it trains (fp32 drops by ~0.3 here)
  // master weights were updated in fp32 by AdamW and the working copy follows them within one bf16 ulp
  const size_t n = gpu.layout().total;
  std::vector<float> master(n);
  std::vector<bf16> work(n);
  gpu.ops().download(work.data(), gpu.work_params(), n);
  gpu.ops().download(master.data(), gpu.params(), n);
  for (size_t i = 0; i < n; i++)
    REQUIRE(std::fabs(double(float(work[i])) - double(master[i])) <= std::ldexp(std::fabs(double(master[i])), -7));
}

TEST_CASE("CudaBf16Model KV-cache decode matches CpuModel; training is schedule-independent") {
  const ModelConfig cfg = small_config(true);
  CpuModel cpu(cfg);
  CudaBf16Model gpu(cfg);
  cpu.init_random(5);
  gpu.init_random(5);
  const int B = 2, Tmax = 12, P = 5;
  cudatest::check_kv_decode(cpu, gpu, cfg, B, Tmax, P, kTolBf16);

  auto run = [&](simt::Order order, uint64_t seed) {
    simt::set_order(order, seed);
    CudaBf16Model m(small_config(false));
    m.init_random(9);
    m.set_rounding_seed(17);
    for (int step = 0; step < 3; step++) train_step(m, random_batch(m.config(), 2, 16, 40 + step), 2, 16, 1e-2);
    std::vector<float> p(m.layout().total);
    m.ops().download(p.data(), m.params(), p.size());
    return p;
  };
  cudatest::ScheduleGuard guard;  // restores the schedule however the test ends
  auto x = run(simt::Order::Shuffle, 1), y = run(simt::Order::Reverse, 0);
  CHECK(std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0);
}
