// NCCL for src/comm.h: the collectives of a data-parallel run over GPU buffers (--device cuda on several ranks),
// on the CUDA toolkit's NCCL. Plain C++ (no CUDA headers); implemented in cuda/comm_nccl.cu, built only where
// nvcc is (cuda/cuda.mk puts it in build/nvcc/libbeop_cuda.a and links -lnccl).
#pragma once
#include <memory>

#include "src/comm.h"

namespace beop::cuda_backend {

// A communicator over the same ranks as `host` (MPI; or a SingleComm: one rank) on this process's current GPU:
// rank 0 makes NCCL's unique id and `host` broadcasts it, so NCCL needs no bootstrap of its own. Every buffer
// passed to its collectives is device memory (device_buffers() is true); barrier() and rank/size are host's.
// Collectives run on the legacy default stream, in order with the CUDA backend's kernels, and return when done.
// Sums are NCCL's: deterministic for a given N, GPU topology and NCCL version (no atomics), not a rank-order fold.
std::unique_ptr<Comm> open_nccl_comm(Comm& host);

}  // namespace beop::cuda_backend
