// The host emulation of the tensor-core primitives of cuda/simt/mma.h (layouts and guarantees documented
// there), on top of the SIMT runtime: each lane deposits its operands in a per-warp exchange, the warp meets at
// a barrier, and each lane assembles its own registers. Compiled into build/libbeop.a with the runtime.
// Tests: tests/test_cuda_mma.cpp.
#include <cstdint>
#include <cstring>

#include "cuda/simt/mma.h"

namespace beop::mma {

namespace {

[[noreturn]] void misuse(const char* what, const char* why, const char* file, int line) {
  beop::fail(what, " at ", file, ":", line, ": ", why);
}
void check_warp(const char* what, const char* file, int line) {
  if (__activemask() != 0xffffffffu) misuse(what, "called with lanes of the warp exited or inactive", file, line);
}
unsigned lane() { return threadIdx.x % 32; }
unsigned warp() { return threadIdx.x / 32 % 32; }
uint16_t lo16(uint32_t r) { return uint16_t(r & 0xffffu); }
uint16_t hi16(uint32_t r) { return uint16_t(r >> 16); }
float bf16_bits_to_float(uint16_t b) { return beop::simt::bf16_to_float(b); }

// One exchange area per warp of the running block (blocks run one at a time per OS thread, and lanes leave
// an exchange only after all 32 have read it: the second barrier of each call).
struct Exchange {
  uint16_t rows[32][32][8];  // ldmatrix: [warp][lane] the 8 bf16 of the row that lane addressed
  uint32_t a[32][32][4];     // mma: [warp][lane] its A registers
  uint32_t b[32][32][2];     //                   its B registers
};
Exchange& exchange() {
  static thread_local Exchange x;
  return x;
}

void ldmatrix(uint32_t (&r)[4], const __nv_bfloat16* p, bool trans, const char* what, const char* file, int line) {
  check_warp(what, file, line);
  const auto* base = static_cast<const unsigned char*>(beop::simt::dynamic_shared());
  const auto* q = reinterpret_cast<const unsigned char*>(p);
  if (reinterpret_cast<uintptr_t>(p) % 16 != 0) misuse(what, "row address not 16-byte aligned", file, line);
  if (q < base || q + 16 > base + beop::simt::dynamic_shared_bytes())
    misuse(what, "row address outside the block's dynamic shared memory", file, line);
  Exchange& x = exchange();
  const unsigned w = warp(), l = lane(), g = l / 4, t = l % 4;
  std::memcpy(x.rows[w][l], p, 16);  // this lane's row, as it is now
  __syncwarp(0xffffffffu, file, line);
  for (int j = 0; j < 4; j++) {
    uint16_t e0, e1;
    if (trans) {  // elements [2t][g], [2t+1][g] of matrix j: its rows 2t, 2t+1 came from lanes 8j+2t, 8j+2t+1
      e0 = x.rows[w][8 * j + 2 * t][g];
      e1 = x.rows[w][8 * j + 2 * t + 1][g];
    } else {  // element [g][2t] and [g][2t+1]: row g was given by lane 8j+g
      e0 = x.rows[w][8 * j + g][2 * t];
      e1 = x.rows[w][8 * j + g][2 * t + 1];
    }
    r[j] = uint32_t(e0) | (uint32_t(e1) << 16);
  }
  __syncwarp(0xffffffffu, file, line);  // everyone has read the exchange before anyone reuses it
}

}  // namespace

void ldmatrix_x4(uint32_t (&r)[4], const __nv_bfloat16* p, const char* file, int line) {
  ldmatrix(r, p, false, "ldmatrix_x4", file, line);
}
void ldmatrix_x4_trans(uint32_t (&r)[4], const __nv_bfloat16* p, const char* file, int line) {
  ldmatrix(r, p, true, "ldmatrix_x4_trans", file, line);
}

// d += A·B, fp32 accumulation, k ascending. A[m][k] lives in lane (m % 8)*4 + (k % 8)/2, register
// (m / 8) + 2*(k / 8), half k % 2; B[k][n] in lane n*4 + (k % 8)/2, register k / 8, half k % 2.
void mma_bf16_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1, const char* file,
                    int line) {
  check_warp("mma_bf16_16816", file, line);
  Exchange& x = exchange();
  const unsigned w = warp(), l = lane(), g = l / 4, t = l % 4;
  for (int i = 0; i < 4; i++) x.a[w][l][i] = a[i];
  x.b[w][l][0] = b0;
  x.b[w][l][1] = b1;
  __syncwarp(0xffffffffu, file, line);
  for (int i = 0; i < 4; i++) {
    const unsigned m = g + 8 * (i / 2), n = 2 * t + i % 2;
    float s = d[i];
    for (unsigned k = 0; k < 16; k++) {
      const uint32_t ra = x.a[w][(m % 8) * 4 + (k % 8) / 2][(m / 8) + 2 * (k / 8)];
      const uint32_t rb = x.b[w][n * 4 + (k % 8) / 2][k / 8];
      s += bf16_bits_to_float(k % 2 ? hi16(ra) : lo16(ra)) * bf16_bits_to_float(k % 2 ? hi16(rb) : lo16(rb));
    }
    d[i] = s;
  }
  __syncwarp(0xffffffffu, file, line);
}

}  // namespace beop::mma
