// The whole model on the CUDA backend — CudaModel = Model<cuda::CudaOps<float>>, the one model definition of
// src/transformer.h driven by the CUDA kernels — run on the CPU through cuda/simt, against CpuModel (the
// reference kernels of cpu/) from identical weights and batches: logits, loss and every parameter gradient,
// 10 AdamW steps, KV-cache inference, and bit-for-bit determinism under different thread schedules.
// The activation buffer is POISONED (NaN) before the first forward pass, so any read of an element no kernel
// wrote shows up as NaN in the outputs. Tolerance: tests/cuda_check.h (kTolF32).
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "cpu/model_cpu.h"
#include "cuda/model_cuda.h"
#include "src/rng.h"
#include "tests/cuda_check.h"
#include "tests/cuda_model_check.h"

using namespace beop;
using beop::cudatest::Batch;
using beop::cudatest::kTolF32;
using beop::cudatest::random_batch;
using beop::cudatest::rel_err;
using beop::cudatest::train_step;

namespace {

// Small but not round: V = 300 (padded to 384, not a multiple of 128 itself), F = 40, GQA with 2 query
// heads per KV head, T = 16 (13 for an odd length).
ModelConfig small_config(bool tied, bool attn_bias = false) {
  ModelConfig c;
  c.name = "cuda-test";
  c.vocab_size = 300;
  c.d_model = 32;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 8;
  c.ffn_hidden = 40;
  c.max_seq_len = 16;
  c.tied_embeddings = tied;
  c.attn_bias = attn_bias;
  return c;
}

template <class M>
std::vector<float> host(M& m, const float* p, size_t n) {
  std::vector<float> h(n);
  m.ops().download(h.data(), p, n);
  return h;
}

// Fills the CUDA model's whole activation buffer (the plan for (B, T)) with NaN.
void poison_activations(CudaModel& m, int B, int T) {
  m.reserve(B, T);
  const float* base = m.acts().resid_out - m.plan()->resid_out;  // bind_acts: view = base + offset
  REQUIRE(cudaMemset(const_cast<float*>(base), 0xFF, m.plan()->total * sizeof(float)) == cudaSuccess);
}


}  // namespace

TEST_CASE("CudaModel forward/backward match CpuModel: logits, loss, every gradient") {
  // Llama untied / tied, Qwen2-style q/k/v biases, odd T = 13; training attention: the flash kernels (the
  // default) and the cuBLAS-GEMM + softmax kernels.
  struct V { bool tied, bias; int T; bool flash; };
  for (V v : {V{false, false, 16, true}, V{true, false, 13, true}, V{false, true, 16, true}, V{false, false, 13, false},
              V{true, true, 16, false}}) {
    {
      const bool tied = v.tied;
      const int T = v.T;
      CAPTURE(tied); CAPTURE(v.bias); CAPTURE(T); CAPTURE(v.flash);
      const ModelConfig cfg = small_config(tied, v.bias);
      const int B = 2;
      CpuModel cpu(cfg);
      CudaModel gpu(cfg);
      gpu.ops().flash_attention = v.flash;
      cpu.init_random(7);
      gpu.init_random(7);
      poison_activations(gpu, B, T);
      const Batch b = random_batch(cfg, B, T, 11 + T);

      const LossSum lc = cpu.forward(b.x.data(), b.y.data(), b.mask.data(), B, T);
      const LossSum lg = gpu.forward(b.x.data(), b.y.data(), b.mask.data(), B, T);
      REQUIRE(lg.count == lc.count);
      CHECK(std::isfinite(lg.sum));
      CHECK(std::fabs(lg.mean() - lc.mean()) <= kTolF32 * std::fabs(lc.mean()));
      const size_t nlog = size_t(B) * T * cfg.padded_vocab();
      CHECK(rel_err(host(gpu, gpu.acts().logits, nlog), host(cpu, cpu.acts().logits, nlog)) <= kTolF32);
      const size_t N = size_t(B) * T;
      CHECK(rel_err(host(gpu, gpu.acts().losses, N), host(cpu, cpu.acts().losses, N)) <= kTolF32);

      cpu.zero_grad();
      gpu.zero_grad();
      cpu.backward(1.0 / double(lc.count));
      gpu.backward(1.0 / double(lg.count));
      const auto gc = host(cpu, cpu.grads(), cpu.layout().total);
      const auto gg = host(gpu, gpu.grads(), gpu.layout().total);
      for (const TensorInfo& t : cpu.layout().tensors) {
        CAPTURE(t.name);
        std::vector<float> a(gg.begin() + t.offset, gg.begin() + t.offset + t.numel);
        std::vector<float> r(gc.begin() + t.offset, gc.begin() + t.offset + t.numel);
        double mx = 0;
        for (float x : r) mx = std::max(mx, double(std::fabs(x)));
        CHECK(mx > 0);  // every tensor gets a gradient (a vacuous comparison would pass anything)
        CHECK(rel_err(a, r) <= kTolF32);
      }
      CHECK(std::fabs(gpu.grad_norm() - cpu.grad_norm()) <= kTolF32 * cpu.grad_norm());
    }
  }
}

TEST_CASE("CudaModel: 10 AdamW steps give the same losses and weights as CpuModel") {
  const ModelConfig cfg = small_config(false);
  const int B = 2, T = 16;
  CpuModel cpu(cfg);
  CudaModel gpu(cfg);
  cpu.init_random(3);
  gpu.init_random(3);
  poison_activations(gpu, B, T);
  std::vector<double> lc, lg;
  for (int step = 0; step < 10; step++) {
    const Batch b = random_batch(cfg, B, T, 100 + step % 3);  // 3 batches, revisited: the loss must fall
    lc.push_back(train_step(cpu, b, B, T, 3e-3));
    lg.push_back(train_step(gpu, b, B, T, 3e-3));
    CAPTURE(step);
    CHECK(std::fabs(lg.back() - lc.back()) <= kTolF32 * std::fabs(lc.back()));
  }
  CHECK(lg.back() < lg.front());  // it trains
  // Weights: not held to kTolF32. Adam divides each gradient by its own running RMS, so an element whose
  // gradient is tiny (relative to its tensor) turns a ~1e-6-of-the-tensor-scale reordering difference into
  // an O(1) relative change of its update m/sqrt(v) — whose size is at most about lr. What must hold is that
  // the weights moved identically up to a small fraction of the largest possible total movement, 10 * lr
  // (an error in the update rule itself — bias correction, decay, eps — moves weights by O(lr)).
  const size_t n = cpu.layout().total;
  const auto pg = host(gpu, gpu.params(), n), pc = host(cpu, cpu.params(), n);
  double max_diff = 0;
  for (size_t i = 0; i < n; i++) max_diff = std::max(max_diff, std::fabs(double(pg[i]) - double(pc[i])));
  CHECK(max_diff <= 1e-3 * 10 * 3e-3);
}

// Through the model: cuda/kernels/kv_cache.cuh (kv_store, attention_cached) against cpu/kv_cache.h.
TEST_CASE("CudaModel KV-cache inference (prefill + decode) matches CpuModel") {
  const ModelConfig cfg = small_config(true);
  CpuModel cpu(cfg);
  CudaModel gpu(cfg);
  cpu.init_random(5);
  gpu.init_random(5);
  const int B = 2, Tmax = 12, P = 5;
  cudatest::check_kv_decode(cpu, gpu, cfg, B, Tmax, P, kTolF32);
}

TEST_CASE("CudaModel training is bit-for-bit deterministic, whatever the thread schedule") {
  const ModelConfig cfg = small_config(false);
  const int B = 2, T = 16;
  auto run = [&](simt::Order order, uint64_t seed) {
    simt::set_order(order, seed);
    CudaModel m(cfg);
    m.init_random(9);
    std::vector<double> losses;
    for (int step = 0; step < 3; step++) losses.push_back(train_step(m, random_batch(cfg, B, T, 40 + step), B, T, 1e-2));
    std::vector<float> p = host(m, m.params(), m.layout().total);
    p.insert(p.end(), losses.begin(), losses.end());  // losses rounded to float: compared as bits below too
    std::vector<double> g{m.grad_norm()};
    p.push_back(float(g[0]));
    return std::make_pair(p, losses);
  };
  cudatest::ScheduleGuard guard;  // restores the schedule however the test ends
  auto a = run(simt::Order::Shuffle, 1), b = run(simt::Order::Shuffle, 1), c = run(simt::Order::Reverse, 0);
  REQUIRE(a.first.size() == b.first.size());
  CHECK(std::memcmp(a.first.data(), b.first.data(), a.first.size() * sizeof(float)) == 0);  // same run twice
  CHECK(std::memcmp(a.first.data(), c.first.data(), a.first.size() * sizeof(float)) == 0);  // other schedule
  CHECK(std::memcmp(a.second.data(), c.second.data(), a.second.size() * sizeof(double)) == 0);
}
