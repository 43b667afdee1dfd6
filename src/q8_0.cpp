#include "src/q8_0.h"

#include <cmath>
#include <cstring>

namespace beop {

uint16_t fp32_to_fp16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) return uint16_t(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0u));  // inf / NaN
  if (ax >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // rounds to >= 65520: overflow to inf
  if (ax < 0x38800000u) {  // below 2^-14: a subnormal half (or zero); round the scaled value to nearest even
    const float mag = std::fabs(f) * 16777216.0f;  // * 2^24: half subnormal units; exact (power of two)
    return uint16_t(sign | uint32_t(std::nearbyint(mag)));
  }
  // normal: rebias the exponent, round the 13 dropped mantissa bits to nearest even (a carry may bump the exponent)
  const uint32_t r = ax + 0x00000fffu + ((ax >> 13) & 1u);
  return uint16_t(sign | (((r - 0x38000000u) >> 13) & 0x7fffu));
}

float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  uint32_t x;
  if (e == 0) {
    const float v = std::ldexp(float(m), -24);  // subnormal (or zero)
    std::memcpy(&x, &v, 4);
    x |= sign;
  } else if (e == 31) {
    x = sign | 0x7f800000u | (m << 13);
  } else {
    x = sign | ((e + 112u) << 23) | (m << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

uint16_t fp32_to_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 64u);  // NaN: keep it quiet
  return uint16_t((uint64_t(x) + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

float bf16_to_fp32(uint16_t b) {
  const uint32_t x = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

void q8_0_quantize(BlockQ8_0* out, const float* x, size_t n) {
  for (size_t b = 0; b < n / kQ8Block; b++) {
    const float* v = x + b * kQ8Block;
    float amax = 0;
    for (int j = 0; j < kQ8Block; j++) amax = std::fmax(amax, std::fabs(v[j]));
    const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
    out[b].d = fp32_to_fp16(d);
    for (int j = 0; j < kQ8Block; j++) out[b].qs[j] = int8_t(std::roundf(v[j] * id));
  }
}

void q8_0_dequantize(float* out, const BlockQ8_0* in, size_t n) {
  for (size_t b = 0; b < n / kQ8Block; b++) {
    const float d = fp16_to_fp32(in[b].d);
    for (int j = 0; j < kQ8Block; j++) out[b * kQ8Block + j] = d * float(in[b].qs[j]);
  }
}

void q8_0_round_trip(float* x, size_t n) {
  BlockQ8_0 blk;
  for (size_t b = 0; b < n / kQ8Block; b++) {
    q8_0_quantize(&blk, x + b * kQ8Block, kQ8Block);
    q8_0_dequantize(x + b * kQ8Block, &blk, kQ8Block);
  }
}

void bf16_round_trip(float* x, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] = bf16_to_fp32(fp32_to_bf16(x[i]));
}

}  // namespace beop
