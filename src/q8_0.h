// The low-precision weight formats beop shares with GGUF, in one place: Q8_0 (blocks of 32 int8 values with one
// fp16 scale each, exactly ggml's quantize_row_q8_0_ref) and bf16 (round to nearest even, as ggml's
// GGML_FP32_TO_BF16 and the PyPI gguf package). The CPU inference kernels (cpu/matmul_lowp.h) and the GGUF
// writer (src/gguf_writer.h) both quantize through these functions, so `infer --dtype q8` computes with exactly
// the weights `prep export-gguf --dtype q8_0` writes. Tests: tests/test_matmul_lowp.cpp, tests/py/test_gguf_export.py.
#pragma once
#include <cstddef>
#include <cstdint>

namespace beop {

inline constexpr int kQ8Block = 32;  // values per Q8_0 block

// One Q8_0 block as GGUF stores it: 34 bytes, d then qs, no padding.
#pragma pack(push, 1)
struct BlockQ8_0 {
  uint16_t d;  // fp16 scale: value[j] = fp16_to_fp32(d) * qs[j]
  int8_t qs[kQ8Block];
};
#pragma pack(pop)
static_assert(sizeof(BlockQ8_0) == 34, "GGUF's block_q8_0 is 34 bytes");

// IEEE half <-> float, round to nearest even (what F16C's vcvtps2ph with rounding mode 0 and ggml do).
uint16_t fp32_to_fp16(float f);
float fp16_to_fp32(uint16_t h);
// bfloat16: the top 16 bits of the float, rounded to nearest even; NaN stays a (quiet) NaN.
uint16_t fp32_to_bf16(float f);
float bf16_to_fp32(uint16_t b);

// n % kQ8Block == 0 (checked by the callers, which name the tensor). d = amax / 127, q = roundf(x * (1 / d))
// (round half away from zero; d and 1/d in float, as ggml computes them), d stored as fp16.
void q8_0_quantize(BlockQ8_0* out, const float* x, size_t n);
void q8_0_dequantize(float* out, const BlockQ8_0* in, size_t n);
// Round-trips x through the format in place: what a model at that dtype computes with.
void q8_0_round_trip(float* x, size_t n);
void bf16_round_trip(float* x, size_t n);

}  // namespace beop
