// The wmma emulation of the SIMT runtime (cuda/simt/wmma.h): m16n16k16 bf16 x bf16 + fp32 against a double
// loop for every operand layout; the warp-collective store really leaves other lanes' elements unwritten
// until a __syncwarp (so a kernel that forgets it fails on the CPU as it would race on a GPU); and the
// documented preconditions (32-byte aligned pointers, ldm a multiple of 16 bytes) are enforced.
// Host-only (the GPU has real tensor cores; tests/test_cuda_bf16.cpp runs the attention kernels on both).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "cuda/simt/wmma.h"
#include "src/common.h"
#include "test_util.h"

namespace wmma = nvcuda::wmma;
using bf16 = __nv_bfloat16;

namespace {

template <typename T>
struct Buf {  // "device" memory (host memory under SIMT), 256-byte aligned by cudaMalloc
  T* p = nullptr;
  explicit Buf(size_t n) { REQUIRE(cudaMalloc(&p, n * sizeof(T) + 64) == cudaSuccess); }
  ~Buf() { cudaFree(p); }
};

// D (16 x 16, row-major, ld 16) = A·B + C with A row- or column-major (ld 24) and B row- or column-major
// (ld 24), C loaded as an accumulator (row- or column-major, ld 20).
template <class LA, class LB>
__global__ void mma_kernel(float* d, const bf16* a, const bf16* b, const float* c, int c_col_major) {
  wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, LA> fa;
  wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, LB> fb;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> fc;
  wmma::load_matrix_sync(fa, a, 24);
  wmma::load_matrix_sync(fb, b, 24);
  wmma::load_matrix_sync(fc, c, 20, c_col_major ? wmma::mem_col_major : wmma::mem_row_major);
  wmma::mma_sync(fc, fa, fb, fc);
  wmma::store_matrix_sync(d, fc, 16, wmma::mem_row_major);
}

// Stores a tile of 1s, then every lane sums the whole tile: 256 with the __syncwarp; without it, every lane
// but the last to store sees the tile unwritten (0): the race a GPU has, made certain.
__global__ void store_then_read_kernel(float* out, int sync) {
  __shared__ __align__(32) float tile[16 * 16];
  const int lane = int(threadIdx.x);
  for (int i = lane; i < 256; i += 32) tile[i] = 0.0f;
  __syncwarp();
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> f;
  wmma::fill_fragment(f, 1.0f);
  wmma::store_matrix_sync(tile, f, 16, wmma::mem_row_major);
  if (sync) __syncwarp();
  float s = 0;
  for (int i = 0; i < 256; i++) s += tile[i];
  out[lane] = s;
}

// Each lane writes one row of a bf16 tile in shared memory, then the warp loads it as an A operand and stores
// A·I: with the __syncwarp every lane holds the same fragment; without it the first lanes load a partly
// written tile (static shared memory keeps the previous launch's values, which differ by 100 * sync), and the
// store reports that the lanes disagree.
__global__ void write_then_load_kernel(float* out, int sync) {
  __shared__ __align__(32) bf16 a[16 * 16];
  __shared__ __align__(32) bf16 eye[16 * 16];
  const int lane = int(threadIdx.x);
  if (lane < 16)
    for (int c = 0; c < 16; c++) a[lane * 16 + c] = bf16(float(lane + c + 100 * sync)), eye[lane * 16 + c] = bf16(lane == c);
  if (sync) __syncwarp();
  wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> fa;
  wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> fb;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> fc;
  wmma::fill_fragment(fc, 0.0f);
  wmma::load_matrix_sync(fa, a, 16);
  wmma::load_matrix_sync(fb, eye, 16);
  wmma::mma_sync(fc, fa, fb, fc);
  wmma::store_matrix_sync(out, fc, 16, wmma::mem_row_major);
}

// Lanes 16..31 return, then the rest call wmma: undefined on a GPU, an error here.
__global__ void half_warp_kernel(float* out) {
  if (threadIdx.x >= 16) return;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> fc;
  wmma::fill_fragment(fc, 1.0f);
  wmma::store_matrix_sync(out, fc, 16, wmma::mem_row_major);
}

__global__ void misaligned_kernel(const bf16* a, unsigned ld) {
  wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> fa;
  wmma::load_matrix_sync(fa, a, ld);
}

template <class LA, class LB>
void check_mma(bool a_col, bool b_col, int c_col) {
  CAPTURE(a_col); CAPTURE(b_col); CAPTURE(c_col);
  const std::vector<float> ra = beop::test::randn<float>(16 * 24, 1), rb = beop::test::randn<float>(16 * 24, 2);
  const std::vector<float> rc = beop::test::randn<float>(16 * 20, 3);
  std::vector<bf16> ha(ra.begin(), ra.end()), hb(rb.begin(), rb.end());
  Buf<bf16> a(ha.size()), b(hb.size());
  Buf<float> c(rc.size()), d(256);
  cudaMemcpy(a.p, ha.data(), ha.size() * sizeof(bf16), cudaMemcpyHostToDevice);
  cudaMemcpy(b.p, hb.data(), hb.size() * sizeof(bf16), cudaMemcpyHostToDevice);
  cudaMemcpy(c.p, rc.data(), rc.size() * sizeof(float), cudaMemcpyHostToDevice);
  BEOP_LAUNCH((mma_kernel<LA, LB>), 1, 32, 0, 0, d.p, a.p, b.p, c.p, c_col);
  std::vector<float> got(256);
  cudaMemcpy(got.data(), d.p, 256 * sizeof(float), cudaMemcpyDeviceToHost);
  double worst = 0;
  for (int r = 0; r < 16; r++)
    for (int n = 0; n < 16; n++) {
      double ref = c_col ? rc[n * 20 + r] : rc[r * 20 + n];
      for (int k = 0; k < 16; k++) {
        const double x = float(a_col ? ha[k * 24 + r] : ha[r * 24 + k]);
        const double y = float(b_col ? hb[n * 24 + k] : hb[k * 24 + n]);
        ref += x * y;
      }
      // bf16 products are exact in fp32; the 17 fp32 additions round at most 17 times by 2^-24 of a running
      // sum bounded by sum |terms| <= ~40 here: 1e-4 absolute is far above that and far below an O(1) bug.
      worst = std::max(worst, std::fabs(got[r * 16 + n] - ref));
    }
  CHECK(worst <= 1e-4);
}

}  // namespace

TEST_CASE("wmma m16n16k16: bf16 x bf16 + fp32 matches a double loop for every operand layout") {
  check_mma<wmma::row_major, wmma::row_major>(false, false, 0);
  check_mma<wmma::row_major, wmma::col_major>(false, true, 1);
  check_mma<wmma::col_major, wmma::row_major>(true, false, 1);
  check_mma<wmma::col_major, wmma::col_major>(true, true, 0);
}

TEST_CASE("wmma store: other lanes' elements are visible only after __syncwarp (a missing one fails)") {
  Buf<float> out(32);
  std::vector<float> h(32);
  BEOP_LAUNCH(store_then_read_kernel, 1, 32, 0, 0, out.p, 1);
  cudaMemcpy(h.data(), out.p, 32 * sizeof(float), cudaMemcpyDeviceToHost);
  for (float s : h) CHECK(s == 256.0f);
  BEOP_LAUNCH(store_then_read_kernel, 1, 32, 0, 0, out.p, 0);
  cudaMemcpy(h.data(), out.p, 32 * sizeof(float), cudaMemcpyDeviceToHost);
  int zero = 0, full = 0;
  for (float s : h) zero += s == 0.0f, full += s == 256.0f;
  CHECK(zero == 31);  // so a kernel missing the barrier gets wrong numbers, whatever the schedule
  CHECK(full == 1);
}

TEST_CASE("wmma preconditions: a misaligned pointer or an ldm that is not a multiple of 16 bytes is an error") {
  Buf<bf16> a(16 * 64);
  CHECK_THROWS_WITH_AS(BEOP_LAUNCH(misaligned_kernel, 1, 32, 0, 0, a.p + 8, 16u), doctest::Contains("32-byte"),
                       beop::Error);
  CHECK_THROWS_WITH_AS(BEOP_LAUNCH(misaligned_kernel, 1, 32, 0, 0, a.p, 20u), doctest::Contains("ldm"), beop::Error);
  BEOP_LAUNCH(misaligned_kernel, 1, 32, 0, 0, a.p + 16, 24u);  // 32 bytes in, 48-byte rows: fine
}

TEST_CASE("wmma: a shared-memory write not ordered before a load makes the lanes disagree (an error); lanes exited") {
  Buf<float> out(256);
  BEOP_LAUNCH(write_then_load_kernel, 1, 32, 0, 0, out.p, 1);
  std::vector<float> h(256);
  cudaMemcpy(h.data(), out.p, 256 * sizeof(float), cudaMemcpyDeviceToHost);
  for (int r = 0; r < 16; r++)
    for (int c = 0; c < 16; c++) CHECK(h[r * 16 + c] == float(r + c + 100));  // A·I = A
  CHECK_THROWS_WITH_AS(BEOP_LAUNCH(write_then_load_kernel, 1, 32, 0, 0, out.p, 0),
                       doctest::Contains("hold different fragments"), beop::Error);
  CHECK_THROWS_WITH_AS(BEOP_LAUNCH(half_warp_kernel, 1, 32, 0, 0, out.p), doctest::Contains("exited or inactive"),
                       beop::Error);
  BEOP_LAUNCH(write_then_load_kernel, 1, 32, 0, 0, out.p, 1);  // and the emulation's state is clean afterwards
  cudaMemcpy(h.data(), out.p, 256 * sizeof(float), cudaMemcpyDeviceToHost);
  CHECK(h[17] == 102.0f);
}
