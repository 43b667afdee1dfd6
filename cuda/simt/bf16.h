// bf16 on the CPU: the part of cuda_bf16.h that kernels use (__nv_bfloat16, its conversions and arithmetic),
// for the SIMT runtime. Included by cuda/simt/simt_cpu.h; kernel files include cuda/simt/simt.h, which under
// nvcc takes the real cuda_bf16.h instead.
#pragma once
#include <cstdint>
#include <cstring>

// 1 sign, 8 exponent, 7 mantissa bits: the top half of a float. Conversions from float round to nearest,
// ties to even, like the device's cvt.rn.bf16.f32; NaN becomes the canonical 0x7FFF as in cuda_bf16.hpp.
namespace beop::simt {
inline unsigned short float_to_bf16_rn(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fff;
  // Adding 0x7FFF rounds up exactly when the low 16 bits exceed half (0x8000); the kept LSB adds one more
  // so that an exact half rounds up only when that makes the result even.
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<unsigned short>(u >> 16);
}
inline float bf16_to_float(unsigned short h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
}  // namespace beop::simt

struct __nv_bfloat16 {
  unsigned short __x;
  __nv_bfloat16() = default;
  __nv_bfloat16(float f) : __x(beop::simt::float_to_bf16_rn(f)) {}
  operator float() const { return beop::simt::bf16_to_float(__x); }
  __nv_bfloat16& operator=(float f) {
    __x = beop::simt::float_to_bf16_rn(f);
    return *this;
  }
};
struct __nv_bfloat162 {
  __nv_bfloat16 x, y;
};
using nv_bfloat16 = __nv_bfloat16;
using nv_bfloat162 = __nv_bfloat162;

inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short u) {
  __nv_bfloat16 h;
  h.__x = u;
  return h;
}
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return h.__x; }
inline __nv_bfloat16 __float2bfloat16(float f) { return __ushort_as_bfloat16(beop::simt::float_to_bf16_rn(f)); }
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __float2bfloat16(f); }
inline __nv_bfloat16 __float2bfloat16_rz(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return __ushort_as_bfloat16(0x7fff);
  return __ushort_as_bfloat16(static_cast<unsigned short>(u >> 16));
}
inline float __bfloat162float(__nv_bfloat16 h) { return beop::simt::bf16_to_float(h.__x); }
inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) { return {__float2bfloat16(a), __float2bfloat16(b)}; }
inline float __low2float(__nv_bfloat162 h) { return __bfloat162float(h.x); }
inline float __high2float(__nv_bfloat162 h) { return __bfloat162float(h.y); }
// Arithmetic: one float operation, rounded once to bf16. Sums, differences and products of two bf16 values
// are exact in float (8-bit significands), so these are correctly rounded; __hdiv may differ by double
// rounding in rare cases, like the device's own float-based emulation before sm_80.
inline __nv_bfloat16 __hadd(__nv_bfloat16 a, __nv_bfloat16 b) { return __float2bfloat16(float(a) + float(b)); }
inline __nv_bfloat16 __hsub(__nv_bfloat16 a, __nv_bfloat16 b) { return __float2bfloat16(float(a) - float(b)); }
inline __nv_bfloat16 __hmul(__nv_bfloat16 a, __nv_bfloat16 b) { return __float2bfloat16(float(a) * float(b)); }
inline __nv_bfloat16 __hdiv(__nv_bfloat16 a, __nv_bfloat16 b) { return __float2bfloat16(float(a) / float(b)); }
