// Compile-only proof that the shared kernel source (cuda/kernels/example_reduce.cuh) builds with nvcc for
// sm_80 and sm_90, host launch code included: both the correct and the planted-bug variant, and one host
// function per kernel launched through BEOP_LAUNCH exactly as CPU code launches it. Built by `make cuda`.
#include "cuda/kernels/example_reduce.cuh"
#define BEOP_EXAMPLE_PLANT_BUGS
#define BEOP_EXAMPLE_NS beop_example_planted
#include "cuda/kernels/example_reduce.cuh"

void beop_example_launch_all(const float* x, int n, float* f, int* i, unsigned* u, __nv_bfloat16* h,
                             cudaStream_t stream) {
  BEOP_LAUNCH(beop_example::block_sum_smem<256>, n / 256 + 1, 256, 0, stream, x, n, f);
  BEOP_LAUNCH(beop_example_planted::block_sum_smem<256>, n / 256 + 1, 256, 0, stream, x, n, f);
  BEOP_LAUNCH(beop_example::warp_sums_xor<float>, 4, 64, 0, stream, x, f);
  BEOP_LAUNCH(beop_example_planted::warp_sums_xor<float>, 4, 64, 0, stream, x, f);
  BEOP_LAUNCH(beop_example::warp_sums_down<int>, 4, 64, 0, stream, i, i);
  BEOP_LAUNCH(beop_example_planted::warp_sums_down<int>, 4, 64, 0, stream, i, i);
  BEOP_LAUNCH(beop_example::sum_all, 8, 128, 4 * sizeof(float), stream, x, n, f);
  BEOP_LAUNCH(beop_example::positive_ballot, 2, 64, 0, stream, x, u);
  BEOP_LAUNCH(beop_example::atomics, 7, 96, 0, stream, i, f, i, i);
  BEOP_LAUNCH(beop_example::saxpy_stride, 3, 96, 0, stream, n, 2.0f, x, f, i);
  BEOP_LAUNCH(beop_example::whoami, dim3(3, 2, 2), dim3(4, 3, 2), 0, stream, u);
  BEOP_LAUNCH(beop_example::smem_fill, 2, 64, 100 * sizeof(float), stream, 100, f, u);
  BEOP_LAUNCH(beop_example::to_bf16, 2, 64, 0, stream, x, n, h, f);
}
