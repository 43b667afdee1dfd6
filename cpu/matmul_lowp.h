// Low-precision inference linear layer: out (M, IC) x W^T with W (OC, IC) held as bf16 or Q8_0 (src/q8_0.h),
// for any number of rows M (1 = decode, T = prefill / score, B = batched decode). `infer --dtype bf16|q8`
// converts the big matmuls at load (cpu/model_cpu.h: make_lm) and CpuOps<float>::linear_forward routes every call
// whose W was converted here: the ONE hook. Training never converts anything.
//
// Numerics (what the kernels compute; tests/test_matmul_lowp.cpp checks them against an fp64 reference):
//   bf16: activations rounded to bf16 (nearest even), products exact in fp32, fp32 accumulation
//         (AVX512-BF16 vdpbf16ps; llama.cpp's BF16 x BF16 dot does the same).
//   q8:   activations quantized per block of 32 to Q8_0 like the weights (fp16 scale), the integer dot of a block
//         exact in int32 (AVX512-VNNI vpdpbusd), scaled by d_w * d_x and accumulated in fp32: llama.cpp's
//         Q8_0 x Q8_0 dot. The weights are kept as q + 128 (uint8, VNNI's unsigned operand); the + 128 is undone
//         by starting each int32 lane at -128 * (the sum of its four activation bytes).
// Kernels are chosen at run time (__builtin_cpu_supports): AVX-512 where the CPU has avx512_bf16 / avx512_vnni,
// else a portable scalar loop over the same layout (with a one-line notice from lowp_notice); the intrinsics are
// compiled with __attribute__((target)) so the build needs no -march. BEOP_LOWP_FALLBACK=1 forces the scalar path.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "cpu/host_memory.h"

namespace beop::cpu {

enum class LowpType { kBf16, kQ8 };
enum class LowpIsa { kAuto, kScalar };  // kAuto: the fastest kernel this CPU runs (unless BEOP_LOWP_FALLBACK=1)

// "fp32" -> false (no conversion), "bf16" / "q8" -> true and *t; anything else an Error naming the flag.
bool parse_lowp_dtype(const std::string& dtype, LowpType* t);
const char* lowp_name(LowpType t);

// One weight matrix W (OC, IC) laid out for the kernels.
class LowpMatrix {
 public:
  // q8 needs IC % 32 == 0: otherwise an Error naming `name` and its shape.
  LowpMatrix(LowpType t, const float* W, int OC, int IC, const std::string& name);
  LowpType type() const { return type_; }
  int rows() const { return OC_; }
  int cols() const { return IC_; }
  float weight(int o, int i) const;  // the dequantized value the kernels multiply with
  size_t bytes() const { return wb_.size() * 2 + wq_.size() + wd_.size() * 2; }

  const uint16_t* bf16_row(int o) const { return wb_.data() + size_t(o) * IC_; }
  const uint8_t* q_row(int o) const { return wq_.data() + size_t(o) * IC_; }  // q + 128
  const uint16_t* d_row(int o) const { return wd_.data() + size_t(o) * (IC_ / 32); }  // fp16 scales

 private:
  LowpType type_;
  int OC_, IC_;
  // Huge pages where large (cpu/host_memory.h): decode streams these once per token.
  std::vector<uint16_t, HostAllocator<uint16_t>> wb_;  // bf16 (OC, IC)
  std::vector<uint8_t, HostAllocator<uint8_t>> wq_;    // Q8_0 values + 128, (OC, IC)
  std::vector<uint16_t, HostAllocator<uint16_t>> wd_;  // Q8_0 fp16 scales, (OC, IC / 32)
};

// out (M, OC) = in (M, IC) @ W^T. Threads split W's rows (OpenMP; serial inside a parallel region).
void lowp_linear(float* out, const float* in, const LowpMatrix& W, int M, LowpIsa isa = LowpIsa::kAuto);

// Whether the AVX-512 kernel for t runs here (CPU support, and BEOP_LOWP_FALLBACK not set).
bool lowp_fast(LowpType t);
// Prints, once per process and type, one line to stderr when t will run the scalar fallback.
void lowp_notice(LowpType t);

// The converted matrices of one model, looked up by the fp32 weight pointer the transformer passes.
struct LowpWeights {
  LowpType type = LowpType::kQ8;
  std::unordered_map<const float*, std::unique_ptr<LowpMatrix>> by_weight;
  const LowpMatrix* find(const float* W) const {
    auto it = by_weight.find(W);
    return it == by_weight.end() ? nullptr : it->second.get();
  }
};

}  // namespace beop::cpu
